import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adoption, confirmSummary, isoToLocal, pageOf, sendBody, windowProblems, windowText } from '../static/js/consult_state.js';
import { localToIso } from '../static/js/plan_state.js';

test('window times are shown in UTC+8 whatever the offset they were written with', () => {
  assert.equal(isoToLocal('2026-12-01T01:00:00+00:00'), '2026-12-01T09:00');
  assert.equal(windowText({ start: '2026-12-01T09:00:00+08:00', end: '2026-12-01T15:00:00+08:00' }), '2026-12-01 09:00~15:00');
  assert.equal(windowText({ start: '2026-12-01T22:00:00+08:00', end: '2026-12-02T02:00:00+08:00' }), '2026-12-01 22:00~12-02 02:00');
  assert.equal(isoToLocal(null), '');
});

test('the send body consults the screening list in one call; windows need both ends in order', () => {
  const body = sendBody({ windows: [{ start: '2026-12-01T09:00', end: '2026-12-01T15:00' }], reason: ' 检修 ', channel: 'sms' }, localToIso);
  assert.deepEqual(body, { from_screening: true, reason: '检修', channel: 'sms',
    windows: [{ start: '2026-12-01T09:00:00+08:00', end: '2026-12-01T15:00:00+08:00' }] });
  assert.equal(sendBody({ windows: [], reason: 'x', channel: 'other' }, localToIso).channel, 'auto');
  assert.equal('windows' in sendBody({ windows: [], reason: 'x' }, localToIso), false);
  assert.deepEqual(windowProblems([{ start: '2026-12-01T09:00', end: '2026-12-01T08:00' }, { start: '', end: '' }]), ['windows[0].end', 'windows[1]']);
  assert.deepEqual(windowProblems([]), ['windows']);
});

test('the confirmation counts what the dry run would write', () => {
  const c = confirmSummary({ consulted: 5, messages: { wechat: 3, sms: 2 }, already_consulted: ['a'], windows: [{}, {}] });
  assert.deepEqual(c, { total: 5, wechat: 3, sms: 2, customers: 5, skipped: 1, windows: 2 });
});

test('pages of a list', () => {
  assert.deepEqual(pageOf(45, 0, 20), { from: 1, to: 20, total: 45, prev: null, next: 20 });
  assert.deepEqual(pageOf(45, 40, 20), { from: 41, to: 45, total: 45, prev: 20, next: null });
  assert.deepEqual(pageOf(0, 0, 20), { from: 0, to: 0, total: 0, prev: null, next: null });
});

test('adopting another alternative swaps it with the plan steps: no step set is lost', () => {
  const plan = { title: 'P', steps: [{ action: 'open', element: 'S1' }] };
  const alts = { alternatives: [{ alternative: 0, title: 'P', steps: plan.steps },
    { alternative: 1, title: 'A1', steps: [{ action: 'open', element: 'S2' }] },
    { alternative: 2, title: 'A2', steps: [{ action: 'open', element: 'S3' }] }] };
  const w = { seq: 1, start: '2026-12-02T09:00:00+08:00', end: '2026-12-02T15:00:00+08:00' };
  const own = adoption(plan, alts, { alternative: 0, window: w });
  assert.equal(own.alternatives, null);
  assert.deepEqual(own.plan, { title: 'P', steps: [{ action: 'open', element: 'S1' }], window_start: w.start, window_end: w.end });
  const other = adoption(plan, alts, { alternative: 1, window: w });
  assert.deepEqual(other.plan.steps, [{ action: 'open', element: 'S2' }]);
  assert.deepEqual(other.alternatives.alternatives.map((a) => a.steps[0].element), ['S1', 'S3']);
  assert.throws(() => adoption(plan, alts, { alternative: 9, window: w }), /no longer stored/);
});
