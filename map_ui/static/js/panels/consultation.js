/* The planner's consultation loop for one plan (issue 16), beside the plan editor (panels/plan.js):
 *
 * - the screening lists (consult / notify only / call by phone): counts, each customer with the rules that put
 *   them there and the channel, paged by the server (GET /plans/{id}/screening?limit=&offset=; no contacts);
 * - "send consultation": candidate windows, channel, reason → a dry run (POST …/consultation?dry_run=true) shows
 *   how many messages will go out → confirm → the same body for real (the screening's consult list in one call);
 * - replies per candidate window, live: the `consultations` channel of the event stream says a reply was
 *   recorded, the panel re-reads GET …/consultation (the tally, objections masked per role) and the ranking;
 * - the recommendation (GET …/recommendation): every (alternative, window) pair ranked with why, and Adopt
 *   (PUT the plan with If-Match: the pair's steps and window; the replaced steps kept as an alternative);
 * - a list of plans to open (an approver opens the plan to approve it; status buttons stay in panels/plan.js).
 *
 * Actions are offered by ctx.may (GET /me); the server still decides (a 403/409/412 is shown in the panel). */

import { el, fmt } from '../dom.js';
import { localToIso } from '../plan_state.js';
import { LISTS, adoption, confirmSummary, isoToLocal, pageOf, sendBody, windowProblems, windowText } from '../consult_state.js';

const PAGE = 20;
const SEND = 'POST /api/v1/plans/{plan_id}/consultation';
const EDIT = 'PUT /api/v1/plans/{plan_id}';

export function installConsultation(ctx) {
  const t = ctx.t;
  const aside = el('aside', { class: 'ga-box ga-consult', 'aria-label': t('cs_title') });
  aside.hidden = true;
  L.DomEvent.disableClickPropagation(aside);
  L.DomEvent.disableScrollPropagation(aside);
  ctx.map.getContainer().appendChild(aside);
  aside.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') close(); });

  let S = null;                 // the open plan's state; null: the list of plans (or closed)
  let plans = null;             // the list of plans when no plan is open
  let seq = 0;                  // a newer load supersedes an older answer
  const ga = ctx.ga.consultation = { repliesShownAt: null, refreshes: 0, open, close, state: () => S, openList };

  const opener = el('button', { class: 'ga-btn ga-secondary ga-consult-open', type: 'button' }, t('cs_open'));
  opener.addEventListener('click', () => {
    const p = ctx.ga.plan && ctx.ga.plan.state();
    (p && p.id !== null ? open(p.id) : openList()).catch(ctx.report);
  });
  ctx.headerActions && ctx.headerActions.appendChild(opener);

  // ------------------------------------------------------------------ data
  async function open(planId) {
    const my = ++seq;
    const prev = S && S.planId === planId ? S : null;
    const next = { planId, plan: null, etag: null, list: prev ? prev.list : 'consult', offset: prev ? prev.offset : 0,
                   screening: null, state: null, rec: null, recError: '', alts: null, msg: '', confirm: null,
                   form: prev ? prev.form : null };
    const resp = await ctx.api.raw('/plans/' + planId);
    next.plan = await resp.json();
    next.etag = resp.headers.get('ETag');
    await Promise.all([loadScreening(next), loadState(next), loadRecommendation(next), loadAlternatives(next)]);
    if (my !== seq) return S;
    if (!next.form) next.form = defaultForm(next);
    S = next;
    plans = null;
    render();
    const first = aside.querySelector('button, input, select');
    if (first && !aside.contains(document.activeElement)) first.focus({ preventScroll: true });
    return S;
  }

  function defaultForm(s) {
    const stored = (s.alts && s.alts.windows) || [];
    const windows = stored.length ? stored.map((w) => ({ start: isoToLocal(w.start), end: isoToLocal(w.end) }))
      : (s.plan.window_start ? [{ start: isoToLocal(s.plan.window_start), end: isoToLocal(s.plan.window_end) }] : [{ start: '', end: '' }]);
    return { windows, fixed: stored.length > 0 && s.state && s.state.consulted > 0, channel: 'auto', reason: s.plan.title || '' };
  }

  async function loadScreening(s) {
    s.screening = await ctx.api.json('/plans/' + s.planId + '/screening?limit=' + PAGE + '&offset=' + s.offset);
  }
  async function loadState(s) { s.state = await ctx.api.json('/plans/' + s.planId + '/consultation'); }
  async function loadAlternatives(s) { s.alts = await ctx.api.json('/plans/' + s.planId + '/alternatives'); }
  async function loadRecommendation(s) {
    try {
      s.rec = await ctx.api.json('/plans/' + s.planId + '/recommendation');
      s.recError = '';
    } catch (e) {
      if (e.status !== 422) throw e;            // a plan without any window has nothing to rank
      s.rec = null;
      s.recError = e.message;
    }
  }

  /** A reply was recorded (live event): the tally and the ranking again. */
  async function refreshReplies() {
    if (!S) return;
    const s = S;
    await Promise.all([loadState(s), loadRecommendation(s)]);
    if (S !== s) return;
    ga.refreshes += 1;
    render();
    ga.repliesShownAt = performance.timeOrigin + performance.now();
    aside.dataset.repliesShownAt = String(ga.repliesShownAt);
  }

  async function page(list, offset) {
    S.list = list;
    S.offset = offset;
    await loadScreening(S);
    render();
  }

  async function openList() {
    const my = ++seq;
    const head = await ctx.api.json('/plans?limit=1');
    const offset = Math.max(0, head.count - 30);
    const body = await ctx.api.json('/plans?limit=30&offset=' + offset);
    if (my !== seq) return null;
    S = null;
    plans = body.data.slice().reverse();
    render();
    return plans;
  }

  function close() { S = null; plans = null; seq += 1; aside.hidden = true; }

  // ------------------------------------------------------------------ actions
  function windowsTyped() { return S.form.windows.filter((w) => w.start || w.end); }

  async function dryRun() {
    const problems = windowProblems(windowsTyped());
    if (!S.form.reason.trim()) problems.push('reason');
    if (problems.length) { S.msg = t('cs_fix') + ' ' + problems.join(', '); render(); return null; }
    const body = sendBody({ windows: S.form.fixed ? [] : windowsTyped(), reason: S.form.reason, channel: S.form.channel }, localToIso);
    try {
      const dry = await ctx.api.post('/plans/' + S.planId + '/consultation?dry_run=true', body);
      S.confirm = { body, dry, summary: confirmSummary(dry) };
      S.msg = '';
    } catch (e) {
      S.confirm = null;
      S.msg = e.message;
    }
    render();
    return S.confirm;
  }

  async function send() {
    if (!S.confirm) return null;
    const { body } = S.confirm;
    try {
      const sent = await ctx.api.post('/plans/' + S.planId + '/consultation', body);
      const c = confirmSummary(sent);
      S.msg = t('cs_sent') + ' ' + fmt(c.total) + ' (' + t('cs_wechat') + ' ' + fmt(c.wechat) + ' · ' + t('cs_sms') + ' ' + fmt(c.sms) + ')';
      S.confirm = null;
      ga.lastSent = sent;
      await Promise.all([loadState(S), loadAlternatives(S), loadRecommendation(S)]);
      S.form.fixed = true;
    } catch (e) {
      S.msg = e.message;
    }
    render();
  }

  async function adopt(row) {
    const planId = S.planId;
    try {
      const resp = await ctx.api.raw('/plans/' + planId);
      const plan = await resp.json();
      const etag = resp.headers.get('ETag');
      const alts = await ctx.api.json('/plans/' + planId + '/alternatives');
      const change = adoption(plan, alts, row);
      if (change.alternatives) {        // first keep the current steps as an alternative: nothing is lost
        await ctx.api.raw('/plans/' + planId + '/alternatives', { method: 'PUT', body: JSON.stringify(change.alternatives),
          headers: { 'Content-Type': 'application/json' } });
      }
      await ctx.api.raw('/plans/' + planId, { method: 'PUT', body: JSON.stringify(change.plan),
        headers: { 'Content-Type': 'application/json', 'If-Match': etag } });
      const editor = ctx.ga.plan && ctx.ga.plan.state();
      if (editor && editor.id === planId) await ctx.ga.plan.load(planId);
      await open(planId);
      S.msg = t('cs_adopted') + ' ' + row.title + ' · ' + windowText(row.window);
      render();
    } catch (e) {
      if (S) { S.msg = e.status === 412 ? t('cs_conflict') : e.message; render(); }
      else throw e;
    }
  }

  // ------------------------------------------------------------------ view
  function btn(label, onClick, attrs) {
    const b = el('button', Object.assign({ class: 'ga-btn ga-secondary', type: 'button' }, attrs || {}), label);
    b.addEventListener('click', (ev) => { ev.preventDefault(); Promise.resolve(onClick()).catch(ctx.report); });
    return b;
  }

  function head(title) {
    const closeBtn = el('button', { class: 'ga-close', type: 'button', 'aria-label': t('close') }, '×');
    closeBtn.addEventListener('click', close);
    return [closeBtn, el('h3', {}, title)];
  }

  function render() {
    aside.innerHTML = '';
    if (!S && !plans) { aside.hidden = true; return; }
    aside.hidden = false;
    if (!S) { renderList(); return; }
    const p = S.plan;
    head([t('cs_title') + ' ', el('span', { class: 'ga-chip', text: '#' + p.id + ' v' + p.version }), ' ',
          el('span', { class: 'ga-tag ga-cs-status', 'data-status': p.status, text: t('status_' + p.status) })]).forEach((n) => aside.appendChild(n));
    aside.appendChild(el('div', { class: 'ga-subtitle ga-cs-plan-title', text: p.title }));
    aside.appendChild(btn(t('cs_all_plans'), () => openList(), { class: 'ga-btn ga-secondary ga-mini ga-cs-list' }));
    renderScreening();
    renderSend();
    renderReplies();
    renderRecommendation();
    if (S.msg) aside.appendChild(el('div', { class: 'ga-subtitle ga-cs-message', role: 'status', text: S.msg }));
  }

  function renderList() {
    head(t('cs_plans')).forEach((n) => aside.appendChild(n));
    if (!plans.length) aside.appendChild(el('div', { class: 'ga-subtitle', text: t('none') }));
    const ul = el('ul', { class: 'ga-cs-plans' });
    plans.forEach((p) => ul.appendChild(el('li', { 'data-plan-id': String(p.id) }, [
      btn('#' + p.id + ' ' + p.title, async () => {
        if (ctx.ga.plan) await ctx.ga.plan.load(p.id);
        await open(p.id);
      }, { class: 'ga-btn ga-secondary ga-cs-pick' }),
      ' ', el('span', { class: 'ga-tag', 'data-status': p.status, text: t('status_' + p.status) })])));
    aside.appendChild(ul);
  }

  function renderScreening() {
    const sc = S.screening;
    const box = el('section', { class: 'ga-cs-screening' }, [el('h4', { text: t('cs_screening') })]);
    const tabs = el('div', { class: 'ga-cs-tabs', role: 'tablist' });
    LISTS.forEach((name) => {
      const b = btn([t('cs_list_' + name) + ' ', el('b', { class: 'ga-cs-count', 'data-list': name, text: fmt(sc.counts[name]) })],
        () => page(name, 0), { class: 'ga-btn ga-secondary ga-mini ga-cs-tab' + (S.list === name ? ' ga-active' : ''),
                                role: 'tab', 'aria-selected': S.list === name ? 'true' : 'false', 'data-list': name });
      tabs.appendChild(b);
    });
    box.appendChild(tabs);
    const rows = sc[S.list] || [];
    const tbl = el('table', { class: 'ga-cs-customers', 'data-list': S.list }, [
      el('tr', {}, [el('th', { text: t('account') }), el('th', { text: t('cs_channel') }), el('th', { text: t('cs_rules') })]),
      ...rows.map((c) => el('tr', { 'data-account': c.account_no }, [
        el('td', { class: 'ga-cs-acct', text: c.account_no }),
        el('td', { class: 'ga-cs-channel', text: c.channel ? t('cs_' + c.channel) : '—' }),
        el('td', { class: 'ga-cs-rules' }, c.rules.map((r) => el('span', { class: 'ga-chip ga-cs-rule', 'data-rule': r.rule, title: r.reason, text: r.reason })))
      ]))]);
    box.appendChild(tbl);
    const pg = pageOf(sc.counts[S.list], S.offset, PAGE);
    box.appendChild(el('div', { class: 'ga-cs-pager' }, [
      btn('‹', () => page(S.list, pg.prev), { class: 'ga-btn ga-secondary ga-mini ga-cs-prev', 'aria-label': t('cs_prev'), disabled: pg.prev === null ? '' : null }),
      el('span', { class: 'ga-cs-range', text: ' ' + fmt(pg.from) + '–' + fmt(pg.to) + ' / ' + fmt(pg.total) + ' ' }),
      btn('›', () => page(S.list, pg.next), { class: 'ga-btn ga-secondary ga-mini ga-cs-next', 'aria-label': t('cs_next'), disabled: pg.next === null ? '' : null })
    ]));
    aside.appendChild(box);
  }

  function renderSend() {
    if (!ctx.may(SEND) || S.plan.status !== 'consulting') {
      if (S.plan.status === 'draft' && ctx.may(SEND)) aside.appendChild(el('div', { class: 'ga-subtitle ga-cs-hint', text: t('cs_draft_hint') }));
      return;
    }
    const f = S.form;
    const box = el('section', { class: 'ga-cs-send' }, [el('h4', { text: t('cs_send_title') })]);
    const list = el('div', { class: 'ga-cs-windows' });
    f.windows.forEach((w, i) => {
      const a = el('input', { type: 'datetime-local', class: 'ga-cs-start', value: w.start, 'aria-label': t('cs_start') + ' ' + (i + 1) });
      const b = el('input', { type: 'datetime-local', class: 'ga-cs-end', value: w.end, 'aria-label': t('cs_end') + ' ' + (i + 1) });
      if (f.fixed) { a.disabled = true; b.disabled = true; }
      a.addEventListener('change', () => { w.start = a.value; S.confirm = null; });
      b.addEventListener('change', () => { w.end = b.value; S.confirm = null; });
      list.appendChild(el('div', { class: 'ga-cs-window', 'data-seq': String(i) }, [el('small', { text: '#' + i + ' ' }), a, ' ~ ', b,
        !f.fixed && f.windows.length > 1 ? btn('×', () => { f.windows.splice(i, 1); S.confirm = null; render(); }, { class: 'ga-btn ga-secondary ga-mini', 'aria-label': t('cs_remove_window') }) : null]));
    });
    box.appendChild(list);
    if (!f.fixed && f.windows.length < 10) box.appendChild(btn(t('cs_add_window'), () => { f.windows.push({ start: '', end: '' }); render(); }, { class: 'ga-btn ga-secondary ga-mini ga-cs-add-window' }));
    if (f.fixed) box.appendChild(el('div', { class: 'ga-subtitle', text: t('cs_windows_fixed') }));
    const channel = el('select', { class: 'ga-cs-channel-choice', 'aria-label': t('cs_channel') }, [
      el('option', { value: 'auto', text: t('cs_channel_auto') }), el('option', { value: 'sms', text: t('cs_channel_sms') })]);
    channel.value = f.channel;
    channel.addEventListener('change', () => { f.channel = channel.value; S.confirm = null; });
    const reason = el('input', { type: 'text', class: 'ga-cs-reason', value: f.reason, maxlength: '200', 'aria-label': t('cs_reason'), placeholder: t('cs_reason') });
    reason.addEventListener('change', () => { f.reason = reason.value; S.confirm = null; });
    box.appendChild(el('div', { class: 'ga-cs-fields' }, [el('label', {}, [t('cs_channel') + ' ', channel]), el('label', {}, [t('cs_reason') + ' ', reason])]));
    if (S.confirm) {
      const c = S.confirm.summary;
      box.appendChild(el('div', { class: 'ga-cs-confirm', role: 'alertdialog', 'aria-label': t('cs_confirm_title') }, [
        el('p', {}, [t('cs_will_send') + ' ', el('b', { class: 'ga-cs-confirm-total', text: fmt(c.total) }), ' ' + t('cs_messages') + ' (' + t('cs_wechat') + ' ',
          el('span', { class: 'ga-cs-confirm-wechat', text: fmt(c.wechat) }), ' · ' + t('cs_sms') + ' ', el('span', { class: 'ga-cs-confirm-sms', text: fmt(c.sms) }),
          ') · ' + t('cs_windows_n') + ' ' + c.windows + (c.skipped ? ' · ' + t('cs_skipped') + ' ' + fmt(c.skipped) : '')]),
        btn(t('cs_confirm'), () => send(), { class: 'ga-btn ga-cs-confirm-send' }),
        btn(t('contact_cancel'), () => { S.confirm = null; render(); }, { class: 'ga-btn ga-secondary ga-cs-confirm-cancel' })]));
    } else {
      box.appendChild(btn(t('cs_send'), () => dryRun(), { class: 'ga-btn ga-cs-send-btn' }));
    }
    aside.appendChild(box);
  }

  function renderReplies() {
    const st = S.state;
    const box = el('section', { class: 'ga-cs-replies' }, [el('h4', { text: t('cs_replies') })]);
    box.appendChild(el('div', { class: 'ga-subtitle' }, [t('cs_consulted') + ' ', el('b', { class: 'ga-cs-consulted', text: fmt(st.consulted) }),
      ' · ' + t('cs_replied') + ' ', el('b', { class: 'ga-cs-replied', text: fmt(st.replied) }),
      ' · ' + t('cs_outbox') + ' ' + Object.entries(st.messages || {}).map(([k, v]) => k + ' ' + v).join(', ')]));
    if (st.windows.length) {
      box.appendChild(el('table', { class: 'ga-cs-tally' }, [
        el('tr', {}, [el('th', { text: t('cs_window') }), el('th', { text: t('cs_accept') }), el('th', { text: t('cs_prefer_other') }), el('th', { text: t('cs_object') })]),
        ...st.windows.map((w) => el('tr', { 'data-seq': String(w.seq) }, [
          el('td', { text: '#' + w.seq + ' ' + windowText(w) }),
          el('td', { class: 'ga-cs-accept', text: fmt(w.accept) }), el('td', { class: 'ga-cs-prefer', text: fmt(w.prefer_other) }),
          el('td', { class: 'ga-cs-object', text: fmt(w.object) })]))]));
    }
    if (st.objections.length) {
      box.appendChild(el('ul', { class: 'ga-cs-objections' }, st.objections.slice(0, 20).map((o) =>
        el('li', {}, [el('span', { class: 'ga-chip', text: o.account_no }), ' ', o.reason || '']))));
    }
    aside.appendChild(box);
  }

  function renderRecommendation() {
    const box = el('section', { class: 'ga-cs-recommendation' }, [el('h4', { text: t('cs_recommendation') })]);
    if (!S.rec) { box.appendChild(el('div', { class: 'ga-subtitle', text: S.recError || t('none') })); aside.appendChild(box); return; }
    const canAdopt = ctx.may(EDIT) && (S.plan.status === 'draft' || S.plan.status === 'consulting');
    const rows = S.rec.ranking.slice(0, 12);
    box.appendChild(el('table', { class: 'ga-cs-ranking' }, [
      el('tr', {}, [el('th', { text: '#' }), el('th', { text: t('cs_alternative') }), el('th', { text: t('cs_window') }),
        el('th', { text: t('customers') }), el('th', { text: t('sensitive') }), el('th', { text: t('cs_object') }), el('th', { text: t('cs_prefer_other') }),
        el('th', { text: t('cs_cmin') }), el('th', {})]),
      ...rows.map((r) => el('tr', { class: 'ga-cs-rank' + (r.rank === 1 ? ' ga-cs-best' : ''), 'data-rank': String(r.rank),
                                    'data-alternative': String(r.alternative), 'data-window': String(r.window.seq), title: r.why }, [
        el('td', { text: String(r.rank) }), el('td', { text: r.alternative + ' ' + r.title }), el('td', { text: '#' + r.window.seq + ' ' + windowText(r.window) }),
        el('td', { text: fmt(r.customers) }), el('td', { text: fmt(r.sensitive_customers) }), el('td', { text: fmt(r.objections) }),
        el('td', { text: fmt(r.prefer_other) }), el('td', { text: fmt(Math.round(r.customer_minutes)) }),
        el('td', {}, canAdopt && !isCurrent(r) ? btn(t('cs_adopt'), () => adopt(r), { class: 'ga-btn ga-secondary ga-mini ga-cs-adopt' }) : null)]))]));
    box.appendChild(el('div', { class: 'ga-subtitle ga-cs-why', text: S.rec.recommended.why }));
    aside.appendChild(box);
  }

  /** Whether a ranked pair is what the plan is now (its own steps in its own window). */
  function isCurrent(r) {
    return r.alternative === 0 && S.plan.window_start && Date.parse(S.plan.window_start) === Date.parse(r.window.start) &&
      Date.parse(S.plan.window_end) === Date.parse(r.window.end);
  }

  ctx.live.on('consultations', (payload) => { if (S && payload.plan_id === S.planId) refreshReplies().catch(ctx.report); });
  ctx.on('plan-status', (plan) => { if (S && plan && plan.id === S.planId) open(plan.id).catch(ctx.report); });
  ctx.openConsultation = (planId) => open(planId);
  return ga;
}
