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

const STATUS = { draft: '草稿 draft', consulting: '征询 consulting', approved: '批准 approved', executed: '执行 executed', cancelled: '取消 cancelled' };
const ACTION = { open: '拉开 open', close: '合上 close', out_of_service: '停运 out of service', in_service: '投运 in service' };

export function installPlan(ctx) {
  const { map } = ctx;
  let plan = null;               // P.* state; null: no plan open
  let mode = 'steps';            // 'steps': clicks add steps; 'isolate': the next click asks for isolation
  let impact = null, impactSeq = 0, alternatives = null, conflict = null, message = '';
  const area = L.featureGroup().addTo(map);
  let div;

  box('ga-plan', (d) => { div = d; d.hidden = true; d.setAttribute('aria-label', '停电计划 Switching plan'); }, { position: 'bottomleft' }).addTo(map);
  const open = el('button', { class: 'ga-btn ga-secondary ga-plan-open', type: 'button' }, '停电计划 Plan');
  open.addEventListener('click', () => start());
  ctx.headerActions && ctx.headerActions.appendChild(open);

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
    if (problems.length) { message = '不能保存 Cannot save: ' + problems.join(', '); render(); return null; }
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
        conflict = '计划已被他人修改，未覆盖 The plan was changed by someone else since you read it; nothing was overwritten. ' +
                   '重新加载 Reload to see their version.';
        render();
        return null;
      }
      message = e.message;
      render();
      throw e;
    }
    plan = P.fromStored(await resp.json(), resp.headers.get('ETag'));
    message = '已保存 Saved · #' + plan.id + ' v' + plan.version;
    render();
    return plan;
  }

  async function load(id) {
    const resp = await ctx.api.raw('/plans/' + encodeURIComponent(id));
    plan = P.fromStored(await resp.json(), resp.headers.get('ETag'));
    conflict = null; alternatives = null; message = '已加载 Loaded #' + plan.id + ' v' + plan.version;
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
      message = '状态 Status: ' + (STATUS[plan.status] || plan.status);
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
    const closeBtn = el('button', { class: 'ga-close', type: 'button', 'aria-label': '关闭 Close' }, '×');
    closeBtn.addEventListener('click', close);
    div.appendChild(closeBtn);
    div.appendChild(el('h3', {}, ['停电计划 Switching plan ', plan.id !== null ? el('span', { class: 'ga-chip', text: '#' + plan.id + ' v' + plan.version }) : null,
      ' ', el('span', { class: 'ga-tag ga-plan-status', 'data-status': plan.status, text: STATUS[plan.status] || plan.status })]));
    const title = el('input', { class: 'ga-plan-title', type: 'text', value: plan.title, placeholder: '标题 Title', 'aria-label': '标题 Title' });
    title.addEventListener('change', () => { plan = P.setTitle(plan, title.value); });
    const ws = el('input', { class: 'ga-plan-start', type: 'datetime-local', 'aria-label': '开始 Start (UTC+8)', value: (plan.window_start || '').slice(0, 16) });
    const we = el('input', { class: 'ga-plan-end', type: 'datetime-local', 'aria-label': '结束 End (UTC+8)', value: (plan.window_end || '').slice(0, 16) });
    const onWindow = () => { plan = P.setWindow(plan, P.localToIso(ws.value), P.localToIso(we.value)); refreshImpact().catch(ctx.report); };
    ws.addEventListener('change', onWindow);
    we.addEventListener('change', onWindow);
    div.appendChild(el('div', { class: 'ga-plan-fields' }, [title, el('label', {}, ['开始 Start ', ws]), el('label', {}, ['结束 End ', we])]));
    div.appendChild(el('div', { class: 'ga-subtitle', text: mode === 'isolate'
      ? '点击要检修的设备 Click the equipment to work on'
      : '点击开关 拉开/合上，点击线路段/台区 停运 · Click switches to open/close, segments / 台区 to take out of service' }));

    const ol = el('ol', { class: 'ga-plan-steps' });
    plan.steps.forEach((s, i) => {
      const n = impact && impact.steps && impact.steps[i] ? impact.steps[i].count : null;
      ol.appendChild(el('li', { 'data-element': s.element, 'data-action': s.action }, [
        el('span', { text: (ACTION[s.action] || s.action) + ' ' }), el('span', { class: 'ga-chip', text: s.element }),
        n !== null ? el('small', { class: 'ga-step-count', text: ' · ' + fmt(n) + ' 户' }) : null,
        btn('↑', () => edit(P.moveStep(plan, i, i - 1)), { 'aria-label': '上移 Move up', class: 'ga-btn ga-secondary ga-mini ga-step-up' }),
        btn('↓', () => edit(P.moveStep(plan, i, i + 1)), { 'aria-label': '下移 Move down', class: 'ga-btn ga-secondary ga-mini ga-step-down' }),
        btn('×', () => edit(P.removeStep(plan, i)), { 'aria-label': '删除 Remove', class: 'ga-btn ga-secondary ga-mini ga-step-remove' })
      ]));
    });
    if (!plan.steps.length) ol.appendChild(el('li', { class: 'ga-subtitle', text: '无步骤 no steps yet' }));
    div.appendChild(ol);

    if (impact) {
      const rows = [['停电客户 Customers', el('b', { class: 'ga-plan-count', text: fmt(impact.count) })],
                    ['敏感客户 Sensitive', el('span', { class: 'ga-plan-sensitive', text: fmt(impact.sensitive_count) })],
                    ['户·分钟 Customer-minutes', impact.customer_minutes === null ? '— (无窗口 no window)' : fmt(impact.customer_minutes)],
                    ['过渡停电 Transient', fmt(impact.transient_count || 0)]];
      const tbl = el('table', { class: 'ga-plan-impact' }, rows.map((r) => el('tr', {}, [el('th', { text: r[0] }), el('td', {}, r[1])])));
      div.appendChild(tbl);
      const groups = (title2, counts) => el('div', { class: 'ga-plan-groups' }, [el('small', { text: title2 + ': ' }),
        ...P.topCounts(counts, 6).map(([k, v]) => el('span', { class: 'ga-chip', text: k + ' ' + fmt(v) }))]);
      div.appendChild(groups('馈线 by feeder', impact.by_feeder));
      div.appendChild(groups('台区 by transformer', impact.by_transformer));
    }

    if (alternatives) {
      const alts = alternatives.result.alternatives || [];
      const list = el('ol', { class: 'ga-plan-alts' }, alts.map((a, i) => el('li', { 'data-rank': String(i + 1) }, [
        el('b', { text: a.name + ' ' }), el('small', { text: fmt(a.impact.count) + ' 户 · 敏感 ' + a.impact.sensitive_count +
          (a.impact.customer_minutes !== null ? ' · ' + fmt(a.impact.customer_minutes) + ' 户·分' : '') }),
        btn('采用 Adopt', () => { alternatives = null; edit(P.adopt(plan, a)); }, { class: 'ga-btn ga-secondary ga-mini ga-adopt' })
      ])));
      div.appendChild(el('div', { class: 'ga-plan-isolation' }, [el('h4', { text: '检修 ' + alternatives.element + ' · 方案 alternatives' }), list]));
    }

    if (conflict) {
      div.appendChild(el('div', { class: 'ga-errors ga-plan-conflict', role: 'alert' }, [conflict, ' ', btn('重新加载 Reload', () => load(plan.id))]));
    }
    if (message) div.appendChild(el('div', { class: 'ga-subtitle ga-plan-message', role: 'status', text: message }));

    const actions = [
      btn(mode === 'isolate' ? '取消检修 Cancel' : '检修隔离 Isolate…', () => { mode = mode === 'isolate' ? 'steps' : 'isolate'; render(); }, { class: 'ga-btn ga-secondary ga-isolate' }),
      btn('保存 Save', () => save(), { class: 'ga-btn ga-plan-save' }),
      btn('CSV', () => exportList('csv'), { class: 'ga-btn ga-secondary ga-export-csv' }),
      btn('XLSX', () => exportList('xlsx'), { class: 'ga-btn ga-secondary ga-export-xlsx' })
    ];
    if (plan.id !== null) {
      actions.push(btn('报告 Report', () => download('/plans/' + plan.id + '/report.html', 'plan-' + plan.id + '.html'), { class: 'ga-btn ga-secondary ga-report' }));
      if (ctx.openConsultation) actions.push(btn('征询 Consultation', () => ctx.openConsultation(plan.id), { class: 'ga-btn ga-secondary ga-plan-consult' }));
      P.nextStatuses(plan, null, null).forEach((s) => actions.push(btn('→ ' + (STATUS[s] || s), () => setStatus(s), { class: 'ga-btn ga-secondary ga-to-' + s })));
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
