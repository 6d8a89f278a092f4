import test from 'node:test';
import assert from 'node:assert/strict';
import { findingColor, RULE_COLORS, normalizeFilter, qualityPath, flaggedCount, fieldsFor } from '../static/js/quality.js';

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
