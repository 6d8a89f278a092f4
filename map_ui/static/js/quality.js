/* Pure helpers of the data-quality layer (issue 18): the filter's choices, the query, the colours.
 * No DOM, no Leaflet: unit-tested with node (map_ui/tests/quality.test.mjs). */

/** Rules and the fields each applies to, as the server's /data-quality/viewport takes them. */
export const QUALITY_RULES = ['stale', 'missing', 'invalid', 'conflicting'];
export const QUALITY_FIELDS = ['phone', 'address', 'name', 'wechat_openid'];
export const RULE_FIELDS = {
  stale: QUALITY_FIELDS,                        // the record's verification date: any field
  missing: ['phone', 'address', 'name'],
  invalid: ['phone', 'wechat_openid'],
  conflicting: ['phone']
};

/** Colour of a customer's mark: its most serious finding (conflicting > invalid > missing > stale). */
export const RULE_COLORS = { conflicting: '#d7261e', invalid: '#8e44ad', missing: '#e67e22', stale: '#d4a017' };
const ORDER = ['conflicting', 'invalid', 'missing', 'stale'];

export function findingColor(findings) {
  const rules = (findings || []).map((f) => String(f).split(':')[0]);
  for (const r of ORDER) if (rules.indexOf(r) >= 0) return RULE_COLORS[r];
  return '#7f8c8d';
}

/** The fields a rule may be combined with ('' rule: every field). */
export function fieldsFor(rule) {
  return rule ? RULE_FIELDS[rule] || [] : QUALITY_FIELDS;
}

/** A filter made consistent: a field the rule does not apply to is dropped. */
export function normalizeFilter(rule, field) {
  rule = QUALITY_RULES.indexOf(rule) >= 0 ? rule : '';
  field = fieldsFor(rule).indexOf(field) >= 0 ? field : '';
  return { rule, field };
}

/** The path of /data-quality/viewport for a bbox (array of 4 strings or numbers), zoom and filter; the period
 * (days) when one is chosen (none: the server's default). */
export function qualityPath(bbox, zoom, filter, periodDays) {
  const f = normalizeFilter(filter && filter.rule, filter && filter.field);
  let q = '/data-quality/viewport?bbox=' + encodeURIComponent(bbox.join(',')) + '&zoom=' + zoom;
  if (f.rule) q += '&rule=' + f.rule;
  if (f.field) q += '&field=' + f.field;
  if (periodDays) q += '&period_days=' + periodDays;
  return q;
}

/** The customers a body counts: the flagged customers of the view (the sum over clusters, or the points). */
export function flaggedCount(body) {
  if (!body) return 0;
  if (body.mode === 'clusters') return body.clusters.reduce((s, c) => s + c.count, 0);
  return body.points.length;
}

// ---------------------------------------------------------------- the area layer: share verified per 台区 / feeder
/** The layer's modes: flagged customers (rings / clusters), or areas filled by their share verified. */
export const QUALITY_MODES = ['customers', 'transformer', 'feeder'];
/** The periods offered (days); none chosen: the server's default (its answer names it). */
export const QUALITY_PERIODS = [30, 90, 180, 365, 730];

/** Upper bounds (exclusive) of the share classes: the same fixed classes in every view and period, so that
 * two maps compare; a utility's target for verified contact data is high, hence the fine classes at the top. */
export const SHARE_BREAKS = [0.5, 0.7, 0.85, 0.95];
/** Red (few verified: act here) to green (ColorBrewer RdYlGn, 5 classes), one per class. */
export const SHARE_RAMP = ['#d7191c', '#fdae61', '#ffffbf', '#a6d96a', '#1a9641'];

/** Class 0..SHARE_BREAKS.length of a share in 0..1; null when there is none (no customers). */
export function shareClass(share) {
  if (typeof share !== 'number' || !Number.isFinite(share)) return null;
  let k = 0;
  while (k < SHARE_BREAKS.length && share >= SHARE_BREAKS[k]) k += 1;
  return k;
}

/** Fill colour of a share, or null without one. */
export function shareColour(share) {
  const k = shareClass(share);
  return k === null ? null : SHARE_RAMP[k];
}

/** '87.5%' of a share in 0..1 (one decimal at most; 1 → '100%'). */
export function percent(share) {
  if (typeof share !== 'number' || !Number.isFinite(share)) return '—';
  return String(Math.round(share * 1000) / 10) + '%';
}

/** Legend rows [{cls, colour, label}], the lowest share first: '< 50%', '50% – 70%', …, '≥ 95%'. */
export function shareLegendRows() {
  return SHARE_RAMP.map((colour, k) => {
    const lo = k ? SHARE_BREAKS[k - 1] : null, hi = k < SHARE_BREAKS.length ? SHARE_BREAKS[k] : null;
    const label = lo === null ? '< ' + percent(hi) : hi === null ? '≥ ' + percent(lo) : percent(lo) + ' – ' + percent(hi);
    return { cls: k, colour, label };
  });
}

function query(params) {
  return params.filter((p) => p[1] !== null && p[1] !== undefined && p[1] !== '')
    .map((p) => encodeURIComponent(p[0]) + '=' + encodeURIComponent(p[1])).join('&');
}

/** The path of every area's figures and outline: /data-quality?format=geojson for `by` (transformer | feeder). */
export function areasPath(by, periodDays, simplify) {
  return '/data-quality?' + query([['group_by', by], ['period_days', periodDays || null], ['format', 'geojson'],
    ['simplify', simplify]]);
}

/** The path of one area's stalest records (`stalest` of them; its figures are the layer's already). */
export function areaStalestPath(by, id, periodDays, stalest = 20) {
  return '/data-quality?' + query([['group_by', by], [by === 'feeder' ? 'feeder_id' : 'transformer_id', id],
    ['period_days', periodDays || null], ['stalest', stalest], ['limit', 1]]);
}
