import { test } from 'node:test';
import assert from 'node:assert/strict';
import { windowFor, markerSize, predictionRows, kindLabel } from '../static/js/layers/trouble_calls.js';
import { translator } from '../static/js/i18n.js';

test('a preset window ends now and spans its hours', () => {
  const now = new Date('2026-12-06T10:00:00Z');
  assert.deepEqual(windowFor('1h', now), { from: '2026-12-06T09:00:00.000Z', to: '2026-12-06T10:00:00.000Z' });
  assert.deepEqual(windowFor('24h', now), { from: '2026-12-05T10:00:00.000Z', to: '2026-12-06T10:00:00.000Z' });
});

test('a custom window needs both ends in order', () => {
  const now = new Date();
  const w = windowFor('custom', now, { from: '2026-12-06T08:00', to: '2026-12-06T09:30' });
  assert.equal(new Date(w.to) - new Date(w.from), 90 * 60e3);
  assert.throws(() => windowFor('custom', now, { from: '', to: '2026-12-06T09:30' }), /tc_bad_window/);
  assert.throws(() => windowFor('custom', now, { from: '2026-12-06T09:30', to: '2026-12-06T09:00' }), /tc_bad_order/);
});

test('the marker grows with the calls, within bounds', () => {
  assert.ok(markerSize(3) < markerSize(12));
  assert.ok(markerSize(1) >= 18 && markerSize(10000) === 46);
});

test('one list row per prediction, in order', () => {
  const rows = predictionRows({ predictions: [
    { device: 'LS1', name: '1号负荷开关', kind: 'load_switch', calls: ['a', 'b', 'c', 'd', 'e', 'f'], customers_affected: 30, absorbed: ['FU1'] },
    { device: 'T7', kind: 'transformer', calls: ['g', 'h', 'i'], customers_affected: 12 }] });
  assert.deepEqual(rows.map((r) => [r.device, r.calls, r.customers, r.name]), [['LS1', 6, 30, '1号负荷开关'], ['T7', 3, 12, null]]);
  assert.deepEqual(predictionRows(null), []);
  const en = translator('en'), zh = translator('zh');
  assert.equal(kindLabel(en, 'fuse'), 'Fuse');
  assert.equal(kindLabel(zh, 'fuse'), '熔断器');
  assert.equal(kindLabel(zh, 'transformer'), '配变');
  assert.equal(kindLabel(en, 'new_kind'), 'new_kind');
});
