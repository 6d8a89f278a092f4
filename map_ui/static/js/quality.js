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

/** The path of /data-quality/viewport for a bbox (array of 4 strings or numbers), zoom and filter. */
export function qualityPath(bbox, zoom, filter) {
  const f = normalizeFilter(filter && filter.rule, filter && filter.field);
  let q = '/data-quality/viewport?bbox=' + encodeURIComponent(bbox.join(',')) + '&zoom=' + zoom;
  if (f.rule) q += '&rule=' + f.rule;
  if (f.field) q += '&field=' + f.field;
  return q;
}

/** The customers a body counts: the flagged customers of the view (the sum over clusters, or the points). */
export function flaggedCount(body) {
  if (!body) return 0;
  if (body.mode === 'clusters') return body.clusters.reduce((s, c) => s + c.count, 0);
  return body.points.length;
}
