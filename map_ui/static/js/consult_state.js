/* The consultation panel's pure parts (no DOM, no Leaflet, no fetch): the send body, the
 * confirmation's numbers, window texts, paging, adopting a ranked (alternative, window) pair.
 * Unit-tested with node (map_ui/tests/consult_state.test.mjs). */

export const LISTS = ['consult', 'notify', 'phone'];

/** "2026-12-01T09:00:00+08:00" → "2026-12-01T09:00" in UTC+8 (a datetime-local value). */
export function isoToLocal(iso, offsetMinutes = 480) {
  if (!iso) return '';
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return '';
  return new Date(ms + offsetMinutes * 60000).toISOString().slice(0, 16);
}

/** A window as customers read it, in UTC+8: "2026-12-01 09:00~15:00" (the end's date when it differs). */
export function windowText(w) {
  const a = isoToLocal(w.start), b = isoToLocal(w.end);
  if (!a || !b) return '—';
  return a.replace('T', ' ') + '~' + (a.slice(0, 10) === b.slice(0, 10) ? b.slice(11) : b.slice(5).replace('T', ' '));
}

/** Problems of the candidate windows typed ([{start, end}] datetime-local values): [] when they may be sent. */
export function windowProblems(rows) {
  const out = [];
  if (!rows.length) out.push('windows');
  rows.forEach((r, i) => {
    if (!r.start || !r.end) out.push('windows[' + i + ']');
    else if (Date.parse(r.end) <= Date.parse(r.start)) out.push('windows[' + i + '].end');
  });
  return out;
}

/** The body of POST /plans/{id}/consultation: the screening's consult list in one call. */
export function sendBody({ windows, reason, channel }, toIso) {
  const body = { from_screening: true, reason: (reason || '').trim(), channel: channel === 'sms' ? 'sms' : 'auto' };
  if (windows && windows.length) body.windows = windows.map((w) => ({ start: toIso(w.start), end: toIso(w.end) }));
  return body;
}

/** The confirmation's numbers from a dry run (ConsultationSent with dry_run=true). */
export function confirmSummary(dry) {
  const m = dry.messages || {};
  const wechat = m.wechat || 0, sms = m.sms || 0;
  return { total: wechat + sms, wechat, sms, customers: dry.consulted, skipped: (dry.already_consulted || []).length,
           windows: (dry.windows || []).length };
}

/** Paging of one list: {from, to, total, prev, next} (from/to 1-based for display; prev/next offsets or null). */
export function pageOf(total, offset, size) {
  const from = total ? offset + 1 : 0;
  const to = Math.min(total, offset + size);
  return { from, to, total, prev: offset > 0 ? Math.max(0, offset - size) : null, next: offset + size < total ? offset + size : null };
}

/** What adopting a ranked pair changes: the plan body (PUT /plans/{id}) and, for another alternative, the
 * alternatives with the plan's current steps in the adopted one's place (PUT /plans/{id}/alternatives), so no
 * step set is lost. `plan` is GET /plans/{id}, `alts` GET /plans/{id}/alternatives, `row` a ranking entry. */
export function adoption(plan, alts, row) {
  const body = { title: plan.title, steps: plan.steps.map((s) => ({ action: s.action, element: s.element })),
                 window_start: row.window.start, window_end: row.window.end };
  if (row.alternative === 0) return { plan: body, alternatives: null };
  const chosen = alts.alternatives.find((a) => a.alternative === row.alternative);
  if (!chosen) throw new Error('alternative ' + row.alternative + ' is no longer stored');
  body.steps = chosen.steps.map((s) => ({ action: s.action, element: s.element }));
  const alternatives = alts.alternatives.filter((a) => a.alternative !== 0).map((a) => (a.alternative === row.alternative
    ? { title: ('原方案 previous: ' + plan.title).slice(0, 300), steps: plan.steps.map((s) => ({ action: s.action, element: s.element })) }
    : { title: a.title, steps: a.steps.map((s) => ({ action: s.action, element: s.element })) }));
  return { plan: body, alternatives: { alternatives } };
}
