/* The planner's switching-plan editor over the existing API:
 * start a plan → click switches (open/close) and segments / 台区 (out of service) on the map →
 * ordered steps (reorder, remove) → after every edit the impact (POST /impact: per step and final,
 * customers, sensitive, customer-minutes, by feeder and 台区, the area shaded on the map) →
 * isolation (POST /isolation: ranked alternatives, adopt one) → save (POST /plans, PUT with If-Match:
 * a 412 is shown with a reload, never overwritten) → status → export (CSV/XLSX with the key in a
 * header) → the static report (GET /plans/{id}/report.html, built by the lead's map_ui/report.py).
 * The editing state is pure (plan_state.js); this module is its view. */

import { el, fmt, box } from '../dom.js';
import * as P from '../plan_state.js';
import { label } from '../labels.js';

export function installPlan(ctx) {
  const { map, t } = ctx;
  const statusLabel = (s) => label(t, 'plan_status', s);
  let plan = null;               // P.* state; null: no plan open
  let mode = 'steps';            // 'steps': clicks add steps; 'isolate': the next click asks for isolation
  let impact = null, impactSeq = 0, alternatives = null, conflict = null, message = '';
  const area = L.featureGroup().addTo(map);
  let div;

  box('ga-plan', (d) => { div = d; d.hidden = true; d.setAttribute('aria-label', t('switching_plan')); }, { position: 'bottomleft' }).addTo(map);
  const open = el('button', { class: 'ga-btn ga-secondary ga-plan-open', type: 'button' }, t('plan'));
  open.addEventListener('click', () => start());
  open.hidden = true;                    // offered once GET /me says the role may create plans
  ctx.headerActions && ctx.headerActions.appendChild(open);
  ctx.on('me', () => { open.hidden = !ctx.may('POST /api/v1/plans'); if (plan) render(); });

  function start(title) {
    plan = P.emptyPlan(title || '');
    impact = null; alternatives = null; conflict = null; message = '';
    area.clearLayers();
    ctx.pick = pick;
    render();
  }

  function close() {
    plan = null;
    ctx.pick = null;
    area.clearLayers();
    div.hidden = true;
  }

  function pick(kind, feature) {
    if (!plan) return false;
    const p = feature.properties, id = String(feature.id);
    if (mode === 'isolate') {
      if (!['switch', 'segment', 'transformer'].includes(kind)) return false;
      mode = 'steps';
      isolate(kind, id).catch(ctx.report);
      return true;
    }
    if (kind === 'switch') edit(P.toggleSwitch(plan, id, !!p.normal_open));
    else if (kind === 'segment' || kind === 'transformer') edit(P.takeOut(plan, id));
    else return false;
    return true;
  }

  function edit(next) {
    if (next === plan) return;
    plan = next;
    conflict = null;
    render();
    refreshImpact().catch(ctx.report);
  }

  /** POST /impact for the current steps; a newer edit supersedes an older answer. */
  async function refreshImpact() {
    const body = P.impactBody(plan);
    const my = ++impactSeq;
    if (!body) { impact = null; area.clearLayers(); render(); return null; }
    const t0 = performance.now();
    const result = await ctx.api.post('/impact?limit=20&steps=true&area=true', body);
    if (my !== impactSeq) return null;
    ctx.ga.timings.impact_ms = performance.now() - t0;
    impact = result;
    area.clearLayers();
    if (result.area) {
      area.addLayer(L.geoJSON(result.area, { pane: 'gaHighlight', interactive: false,
        style: { color: '#b3140b', weight: 1.5, fillColor: '#eb3b30', fillOpacity: 0.25, className: 'ga-plan-area' } }));
    }
    ctx.ga.planImpact = result;
    render();
    return result;
  }

  async function isolate(kind, id) {
    const body = { element: id, kind, max_alternatives: 6 };
    if (plan.window_start && plan.window_end) { body.window_start = plan.window_start; body.window_end = plan.window_end; }
    alternatives = { element: id, kind, result: await ctx.api.post('/isolation', body) };
    ctx.ga.isolation = alternatives.result;
    render();
  }

  async function save() {
    const problems = P.saveProblems(plan);
    if (problems.length) { message = t('cannot_save') + problems.join(', '); render(); return null; }
    const body = P.planBody(plan);
    let resp;
    try {
      if (plan.id === null) {
        resp = await ctx.api.raw('/plans', { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
      } else {
        resp = await ctx.api.raw('/plans/' + plan.id, { method: 'PUT', body: JSON.stringify(body),
          headers: { 'Content-Type': 'application/json', 'If-Match': '"' + plan.version + '"' } });
      }
    } catch (e) {
      if (e.status === 412) {
        conflict = t('plan_conflict');
        render();
        return null;
      }
      message = e.message;
      render();
      throw e;
    }
    plan = P.fromStored(await resp.json(), resp.headers.get('ETag'));
    message = t('saved') + ' · #' + plan.id + ' v' + plan.version;
    render();
    return plan;
  }

  async function load(id) {
    const resp = await ctx.api.raw('/plans/' + encodeURIComponent(id));
    plan = P.fromStored(await resp.json(), resp.headers.get('ETag'));
    conflict = null; alternatives = null; message = t('loaded') + ' #' + plan.id + ' v' + plan.version;
    ctx.pick = pick;
    render();
    await refreshImpact();
    return plan;
  }

  async function setStatus(status) {
    try {
      const resp = await ctx.api.raw('/plans/' + plan.id + '/status', { method: 'POST', body: JSON.stringify({ status }),
        headers: { 'Content-Type': 'application/json', 'If-Match': '"' + plan.version + '"' } });
      plan = P.fromStored(await resp.json(), resp.headers.get('ETag'));
      message = t('status') + statusLabel(plan.status);
      ctx.emit('plan-status', plan);
    } catch (e) {
      message = e.message;
    }
    render();
  }

  /** Download with the key in the Authorization header (never in the URL), as a file. */
  async function download(path, filename, options) {
    const resp = await ctx.api.raw(path, options);
    const blob = await resp.blob();
    const a = el('a', { href: URL.createObjectURL(blob), download: filename });
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    return blob.size;
  }

  function exportList(format) {
    if (plan.id !== null) return download('/plans/' + plan.id + '/impact/customers.' + format, 'plan-' + plan.id + '-impact.' + format);
    const body = P.impactBody(plan);
    if (!body) return Promise.resolve(0);
    return download('/impact/export?format=' + format, 'impact.' + format,
      { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  }

  // ------------------------------------------------------------------ view
  function btn(label, onClick, attrs) {
    const b = el('button', Object.assign({ class: 'ga-btn ga-secondary', type: 'button' }, attrs || {}), label);
    b.addEventListener('click', (ev) => { ev.preventDefault(); Promise.resolve(onClick()).catch(ctx.report); });
    return b;
  }

  function render() {
    if (!plan) { div.hidden = true; return; }
    div.hidden = false;
    div.innerHTML = '';
    const closeBtn = el('button', { class: 'ga-close', type: 'button', 'aria-label': t('close') }, '×');
    closeBtn.addEventListener('click', close);
    div.appendChild(closeBtn);
    div.appendChild(el('h3', {}, [t('switching_plan') + ' ', plan.id !== null ? el('span', { class: 'ga-chip', text: '#' + plan.id + ' v' + plan.version }) : null,
      ' ', el('span', { class: 'ga-tag ga-plan-status', 'data-status': plan.status, text: statusLabel(plan.status) })]));
    const title = el('input', { class: 'ga-plan-title', type: 'text', value: plan.title, placeholder: t('plan_title'), 'aria-label': t('plan_title') });
    title.addEventListener('change', () => { plan = P.setTitle(plan, title.value); });
    const ws = el('input', { class: 'ga-plan-start', type: 'datetime-local', 'aria-label': t('window_start') + ' (UTC+8)', value: (plan.window_start || '').slice(0, 16) });
    const we = el('input', { class: 'ga-plan-end', type: 'datetime-local', 'aria-label': t('window_end') + ' (UTC+8)', value: (plan.window_end || '').slice(0, 16) });
    const onWindow = () => { plan = P.setWindow(plan, P.localToIso(ws.value), P.localToIso(we.value)); refreshImpact().catch(ctx.report); };
    ws.addEventListener('change', onWindow);
    we.addEventListener('change', onWindow);
    div.appendChild(el('div', { class: 'ga-plan-fields' }, [title, el('label', {}, [t('window_start') + ' ', ws]), el('label', {}, [t('window_end') + ' ', we])]));
    div.appendChild(el('div', { class: 'ga-subtitle', text: mode === 'isolate'
      ? t('click_equipment') : t('click_to_edit') }));

    const ol = el('ol', { class: 'ga-plan-steps' });
    plan.steps.forEach((s, i) => {
      const n = impact && impact.steps && impact.steps[i] ? impact.steps[i].count : null;
      ol.appendChild(el('li', { 'data-element': s.element, 'data-action': s.action }, [
        el('span', { text: label(t, 'step_action', s.action) + ' ' }), el('span', { class: 'ga-chip', text: s.element }),
        n !== null ? el('small', { class: 'ga-step-count', text: ' · ' + fmt(n) + ' ' + t('households') }) : null,
        btn('↑', () => edit(P.moveStep(plan, i, i - 1)), { 'aria-label': t('move_up'), class: 'ga-btn ga-secondary ga-mini ga-step-up' }),
        btn('↓', () => edit(P.moveStep(plan, i, i + 1)), { 'aria-label': t('move_down'), class: 'ga-btn ga-secondary ga-mini ga-step-down' }),
        btn('×', () => edit(P.removeStep(plan, i)), { 'aria-label': t('remove'), class: 'ga-btn ga-secondary ga-mini ga-step-remove' })
      ]));
    });
    if (!plan.steps.length) ol.appendChild(el('li', { class: 'ga-subtitle', text: t('no_steps') }));
    div.appendChild(ol);

    if (impact) {
      const rows = [[t('plan_customers'), el('b', { class: 'ga-plan-count', text: fmt(impact.count) })],
                    [t('plan_sensitive'), el('span', { class: 'ga-plan-sensitive', text: fmt(impact.sensitive_count) })],
                    [t('customer_minutes'), impact.customer_minutes === null ? '— (' + t('no_window') + ')' : fmt(impact.customer_minutes)],
                    [t('transient'), fmt(impact.transient_count || 0)]];
      const tbl = el('table', { class: 'ga-plan-impact' }, rows.map((r) => el('tr', {}, [el('th', { text: r[0] }), el('td', {}, r[1])])));
      div.appendChild(tbl);
      const groups = (title2, counts) => el('div', { class: 'ga-plan-groups' }, [el('small', { text: title2 + ': ' }),
        ...P.topCounts(counts, 6).map(([k, v]) => el('span', { class: 'ga-chip', text: k + ' ' + fmt(v) }))]);
      div.appendChild(groups(t('by_feeder'), impact.by_feeder));
      div.appendChild(groups(t('by_transformer'), impact.by_transformer));
    }

    if (alternatives) {
      const alts = alternatives.result.alternatives || [];
      const list = el('ol', { class: 'ga-plan-alts' }, alts.map((a, i) => el('li', { 'data-rank': String(i + 1) }, [
        el('b', { text: a.name + ' ' }), el('small', { text: fmt(a.impact.count) + ' ' + t('households') + ' · ' + t('sensitive') + ' ' + a.impact.sensitive_count +
          (a.impact.customer_minutes !== null ? ' · ' + fmt(a.impact.customer_minutes) + ' ' + t('customer_minutes') : '') }),
        btn(t('adopt'), () => { alternatives = null; edit(P.adopt(plan, a)); }, { class: 'ga-btn ga-secondary ga-mini ga-adopt' })
      ])));
      div.appendChild(el('div', { class: 'ga-plan-isolation' }, [el('h4', { text: t('work_on') + ' ' + alternatives.element + ' · ' + t('alternatives') }), list]));
    }

    if (conflict) {
      div.appendChild(el('div', { class: 'ga-errors ga-plan-conflict', role: 'alert' }, [conflict, ' ', btn(t('reload'), () => load(plan.id))]));
    }
    if (message) div.appendChild(el('div', { class: 'ga-subtitle ga-plan-message', role: 'status', text: message }));

    const actions = [
      btn(mode === 'isolate' ? t('cancel_isolation') : t('isolate'), () => { mode = mode === 'isolate' ? 'steps' : 'isolate'; render(); }, { class: 'ga-btn ga-secondary ga-isolate' }),
      btn('CSV', () => exportList('csv'), { class: 'ga-btn ga-secondary ga-export-csv' }),
      btn('XLSX', () => exportList('xlsx'), { class: 'ga-btn ga-secondary ga-export-xlsx' })
    ];
    // what the role may do (GET /me) and, for the status, the moves the server offers this caller (next_statuses)
    if (ctx.may(plan.id === null ? 'POST /api/v1/plans' : 'PUT /api/v1/plans/{plan_id}')) {
      actions.splice(1, 0, btn(t('save'), () => save(), { class: 'ga-btn ga-plan-save' }));
    }
    if (plan.id !== null) {
      actions.push(btn(t('report'), () => download('/plans/' + plan.id + '/report.html', 'plan-' + plan.id + '.html'), { class: 'ga-btn ga-secondary ga-report' }));
      if (ctx.openConsultation) actions.push(btn(t('cs_open'), () => ctx.openConsultation(plan.id), { class: 'ga-btn ga-secondary ga-plan-consult' }));
      P.nextStatuses(plan).forEach((s) => actions.push(btn('→ ' + statusLabel(s), () => setStatus(s), { class: 'ga-btn ga-secondary ga-to-' + s })));
    }
    div.appendChild(el('div', { class: 'ga-actions ga-plan-actions' }, actions));
  }

  Object.assign(ctx.ga, {
    plan: {
      start, close, load, save, refreshImpact, exportList, setStatus,
      state: () => plan, impact: () => impact,
      pick: (kind, id) => {                      // what a click on the element does (tests, keyboard users)
        const coll = { switch: 'switches', segment: 'segments', transformer: 'transformers' }[kind];
        const f = ctx.gridFeatures()[coll].get(String(id));
        if (!f) throw new Error('not on the map: ' + kind + ' ' + id);
        return pick(kind, f);
      }
    }
  });
}
