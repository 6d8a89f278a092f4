/* The switching-plan editor's state, pure (no DOM, no Leaflet, no fetch): every edit returns a new
 * plan object. Unit-tested with node (map_ui/tests/plan_state.test.mjs).
 *
 * A plan: {id, version, status, created_by, title, window_start, window_end, steps: [{action, element}]}
 * (id/version null until saved). Window times are ISO strings with a time zone, as the API takes them. */

export const LIST_ORDER = ['close', 'in_service', 'open', 'out_of_service'];   // the API's make-before-break order

export function emptyPlan(title) {
  return { id: null, version: null, status: 'draft', created_by: null, title: title || '', window_start: null, window_end: null, steps: [] };
}

/** A stored plan (GET /plans/{id}) as editor state; the version comes from its ETag ("3" or W/"3"). */
export function fromStored(record, etag) {
  const v = etag ? Number(String(etag).replace(/^W\//, '').replace(/"/g, '')) : record.version;
  return { id: record.id, version: Number.isFinite(v) ? v : record.version, status: record.status, created_by: record.created_by,
           title: record.title || '', window_start: record.window_start, window_end: record.window_end,
           steps: record.steps.map((s) => ({ action: s.action, element: s.element })),
           next_statuses: Array.isArray(record.next_statuses) ? record.next_statuses.slice() : [] };
}

/** Whether a switch is open after all of the plan's steps (its normal state otherwise). */
export function switchOpenAfter(plan, switchId, normallyOpen) {
  let open = !!normallyOpen;
  for (const s of plan.steps) {
    if (s.element !== switchId) continue;
    if (s.action === 'open') open = true;
    if (s.action === 'close') open = false;
  }
  return open;
}

/** A click on a switch toggles it: the next step opens a closed switch and closes an open one. */
export function toggleSwitch(plan, switchId, normallyOpen) {
  const action = switchOpenAfter(plan, switchId, normallyOpen) ? 'close' : 'open';
  return addStep(plan, { action, element: switchId });
}

/** Take a segment or transformer out of service (again: nothing changes). */
export function takeOut(plan, elementId) {
  const last = [...plan.steps].reverse().find((s) => s.element === elementId);
  if (last && last.action === 'out_of_service') return plan;
  return addStep(plan, { action: 'out_of_service', element: elementId });
}

export function addStep(plan, step) {
  return Object.assign({}, plan, { steps: plan.steps.concat([{ action: step.action, element: step.element }]) });
}

export function removeStep(plan, index) {
  if (index < 0 || index >= plan.steps.length) return plan;
  return Object.assign({}, plan, { steps: plan.steps.filter((_, i) => i !== index) });
}

/** Move step `from` to position `to` (clamped). */
export function moveStep(plan, from, to) {
  if (from < 0 || from >= plan.steps.length) return plan;
  const target = Math.max(0, Math.min(plan.steps.length - 1, to));
  if (target === from) return plan;
  const steps = plan.steps.slice();
  const [s] = steps.splice(from, 1);
  steps.splice(target, 0, s);
  return Object.assign({}, plan, { steps });
}

/** Steps of an API plan dict in either form ({steps} or the lists open/close/…), as the API expands them. */
export function stepsOf(apiPlan) {
  if (Array.isArray(apiPlan.steps)) return apiPlan.steps.map((s) => ({ action: s.action, element: s.element }));
  const out = [];
  for (const action of LIST_ORDER) {
    for (const item of apiPlan[action] || []) out.push({ action, element: typeof item === 'string' ? item : item.element });
  }
  return out;
}

/** Adopt an isolation alternative (POST /isolation → alternatives[i]): its steps replace the plan's. */
export function adopt(plan, alternative) {
  return Object.assign({}, plan, { steps: stepsOf(alternative.plan) });
}

export function setWindow(plan, start, end) {
  return Object.assign({}, plan, { window_start: start || null, window_end: end || null });
}

export function setTitle(plan, title) { return Object.assign({}, plan, { title }); }

/** The body of POST /impact for the plan (null while it has no step). */
export function impactBody(plan) {
  if (!plan.steps.length) return null;
  const body = { steps: plan.steps.map((s) => ({ action: s.action, element: s.element })) };
  if (plan.title) body.title = plan.title;
  if (plan.window_start && plan.window_end) { body.window_start = plan.window_start; body.window_end = plan.window_end; }
  return body;
}

/** The body of POST /plans and PUT /plans/{id}. */
export function planBody(plan) {
  const body = { title: plan.title || '', steps: plan.steps.map((s) => ({ action: s.action, element: s.element })) };
  if (plan.window_start && plan.window_end) { body.window_start = plan.window_start; body.window_end = plan.window_end; }
  return body;
}

/** Problems that keep a plan from being saved (empty list: it may be saved). */
export function saveProblems(plan) {
  const out = [];
  if (!plan.title || !plan.title.trim()) out.push('title');
  if (!plan.steps.length) out.push('steps');
  if (!!plan.window_start !== !!plan.window_end) out.push('window');
  if (plan.window_start && plan.window_end && Date.parse(plan.window_end) <= Date.parse(plan.window_start)) out.push('window');
  return out;
}

/** The statuses the signed-in caller may move a stored plan to now: the server's `next_statuses`
 * (GET /plans/{id}, computed by the lifecycle: transitions, ownership, four eyes); none for an unsaved plan. */
export function nextStatuses(plan) {
  if (plan.id === null) return [];
  return (plan.next_statuses || []).slice();
}

/** A datetime-local value ("2026-12-01T09:00") in UTC+8 as the API's ISO string with its offset. */
export function localToIso(value, offset = '+08:00') {
  if (!value) return null;
  return (value.length === 16 ? value + ':00' : value) + offset;
}

/** Rows of a by-feeder / by-台区 count map, largest first (ties by id), at most `n`. */
export function topCounts(counts, n) {
  return Object.entries(counts || {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n);
}
