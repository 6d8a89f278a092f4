import test from 'node:test';
import assert from 'node:assert/strict';
import {
  findingColor, RULE_COLORS, normalizeFilter, qualityPath, flaggedCount, fieldsFor, shareClass, shareColour, percent,
  shareLegendRows, SHARE_RAMP, SHARE_BREAKS, areasPath, areaStalestPath
} from '../static/js/quality.js';

test('the most serious finding gives the colour', () => {
  assert.equal(findingColor(['stale', 'conflicting:phone']), RULE_COLORS.conflicting);
  assert.equal(findingColor(['stale']), RULE_COLORS.stale);
  assert.equal(findingColor(['missing:address', 'stale']), RULE_COLORS.missing);
  assert.equal(findingColor([]), '#7f8c8d');
});

test('a field the rule does not apply to is dropped; unknown rules too', () => {
  assert.deepEqual(normalizeFilter('conflicting', 'address'), { rule: 'conflicting', field: '' });
  assert.deepEqual(normalizeFilter('invalid', 'wechat_openid'), { rule: 'invalid', field: 'wechat_openid' });
  assert.deepEqual(normalizeFilter('bogus', 'phone'), { rule: '', field: 'phone' });
  assert.deepEqual(fieldsFor('conflicting'), ['phone']);
});

test('the query names bbox, zoom and only the filter given', () => {
  assert.equal(qualityPath(['1', '2', '3', '4'], 16, { rule: '', field: '' }), '/data-quality/viewport?bbox=1%2C2%2C3%2C4&zoom=16');
  assert.equal(qualityPath([1, 2, 3, 4], 15.5, { rule: 'stale', field: 'phone' }),
    '/data-quality/viewport?bbox=1%2C2%2C3%2C4&zoom=15.5&rule=stale&field=phone');
});

test('the flagged count is the clusters\' sum or the points', () => {
  assert.equal(flaggedCount({ mode: 'clusters', clusters: [{ count: 3 }, { count: 4 }] }), 7);
  assert.equal(flaggedCount({ mode: 'points', points: [{}, {}] }), 2);
  assert.equal(flaggedCount(null), 0);
});

test('the period is sent only when chosen', () => {
  assert.equal(qualityPath([1, 2, 3, 4], 12, { rule: 'stale' }, 90), '/data-quality/viewport?bbox=1%2C2%2C3%2C4&zoom=12&rule=stale&period_days=90');
  assert.equal(qualityPath([1, 2, 3, 4], 12, {}, null), '/data-quality/viewport?bbox=1%2C2%2C3%2C4&zoom=12');
});

test('a share falls in the class its legend row names, bounds included above', () => {
  assert.equal(shareClass(0), 0);
  assert.equal(shareClass(0.4999), 0);
  assert.equal(shareClass(0.5), 1);
  assert.equal(shareClass(0.8499), 2);
  assert.equal(shareClass(0.85), 3);
  assert.equal(shareClass(0.95), 4);
  assert.equal(shareClass(1), 4);
  assert.equal(shareClass(null), null);
  assert.equal(shareClass(NaN), null);
  assert.equal(shareColour(0.2), SHARE_RAMP[0]);
  assert.equal(shareColour(1), SHARE_RAMP[SHARE_RAMP.length - 1]);
  assert.equal(shareColour(undefined), null);
  assert.deepEqual(shareLegendRows().map((r) => r.label), ['< 50%', '50% – 70%', '70% – 85%', '85% – 95%', '≥ 95%']);
  assert.deepEqual(shareLegendRows().map((r) => r.colour), SHARE_RAMP);
  assert.equal(SHARE_RAMP.length, SHARE_BREAKS.length + 1);
});

test('percent keeps one decimal', () => {
  assert.equal(percent(0.8754), '87.5%');
  assert.equal(percent(1), '100%');
  assert.equal(percent(0), '0%');
  assert.equal(percent(null), '—');
});

test('the area queries name the grouping, the period when chosen, the outline tolerance', () => {
  assert.equal(areasPath('transformer', null, null), '/data-quality?group_by=transformer&format=geojson');
  assert.equal(areasPath('feeder', 90, 0.00137), '/data-quality?group_by=feeder&period_days=90&format=geojson&simplify=0.00137');
  assert.equal(areaStalestPath('transformer', 'T 1/台', 180), '/data-quality?group_by=transformer&transformer_id=T%201%2F%E5%8F%B0&period_days=180&stalest=20&limit=1');
  assert.equal(areaStalestPath('feeder', 'F1', null, 5), '/data-quality?group_by=feeder&feeder_id=F1&stalest=5&limit=1');
});
