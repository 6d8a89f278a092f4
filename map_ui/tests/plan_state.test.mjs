import test from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../static/js/plan_state.js';

test('clicking a switch toggles it against its state after the steps', () => {
  let p = P.emptyPlan('检修');
  p = P.toggleSwitch(p, 'SW1', false);               // normally closed -> open
  p = P.toggleSwitch(p, 'SW2', true);                // normally open (tie) -> close
  p = P.toggleSwitch(p, 'SW1', false);               // open now -> close again
  assert.deepEqual(p.steps, [{ action: 'open', element: 'SW1' }, { action: 'close', element: 'SW2' }, { action: 'close', element: 'SW1' }]);
  assert.equal(P.switchOpenAfter(p, 'SW1', false), false);
  assert.equal(P.switchOpenAfter(p, 'SW2', true), false);
});

test('edits return new plans: take out of service once, remove, reorder (clamped)', () => {
  const p0 = P.emptyPlan('x');
  const p1 = P.takeOut(P.takeOut(p0, 'SEG1'), 'SEG1');
  assert.equal(p0.steps.length, 0);
  assert.deepEqual(p1.steps, [{ action: 'out_of_service', element: 'SEG1' }]);
  let p = P.addStep(P.addStep(p1, { action: 'open', element: 'A' }), { action: 'close', element: 'B' });
  p = P.moveStep(p, 2, 0);
  assert.deepEqual(p.steps.map((s) => s.element), ['B', 'SEG1', 'A']);
  assert.equal(P.moveStep(p, 0, -5).steps[0].element, 'B');
  assert.deepEqual(P.moveStep(p, 0, 99).steps.map((s) => s.element), ['SEG1', 'A', 'B']);
  assert.deepEqual(P.removeStep(p, 1).steps.map((s) => s.element), ['B', 'A']);
  assert.equal(P.removeStep(p, 7), p);
});

test('isolation alternatives are adopted in either plan form, lists expanded make-before-break', () => {
  const p = P.adopt(P.emptyPlan('x'), { plan: { open: ['SW3', { element: 'SW4', kind: 'switch' }], close: ['TIE1'] } });
  assert.deepEqual(p.steps, [{ action: 'close', element: 'TIE1' }, { action: 'open', element: 'SW3' }, { action: 'open', element: 'SW4' }]);
  const q = P.adopt(p, { plan: { steps: [{ action: 'out_of_service', element: 'T1', kind: 'transformer' }] } });
  assert.deepEqual(q.steps, [{ action: 'out_of_service', element: 'T1' }]);
});

test('request bodies: impact needs a step, a window goes as a pair', () => {
  assert.equal(P.impactBody(P.emptyPlan('x')), null);
  let p = P.toggleSwitch(P.emptyPlan('t'), 'SW1', false);
  assert.deepEqual(P.impactBody(p), { steps: [{ action: 'open', element: 'SW1' }], title: 't' });
  p = P.setWindow(p, P.localToIso('2026-12-01T09:00'), P.localToIso('2026-12-01T15:00'));
  assert.deepEqual(P.planBody(p), { title: 't', steps: [{ action: 'open', element: 'SW1' }],
    window_start: '2026-12-01T09:00:00+08:00', window_end: '2026-12-01T15:00:00+08:00' });
});

test('a plan is saved only with a title, a step and a sound window', () => {
  assert.deepEqual(P.saveProblems(P.emptyPlan('')), ['title', 'steps']);
  const p = P.toggleSwitch(P.emptyPlan('t'), 'SW1', false);
  assert.deepEqual(P.saveProblems(p), []);
  assert.deepEqual(P.saveProblems(P.setWindow(p, '2026-12-01T09:00:00+08:00', null)), ['window']);
  assert.deepEqual(P.saveProblems(P.setWindow(p, '2026-12-01T15:00:00+08:00', '2026-12-01T09:00:00+08:00')), ['window']);
});

test('stored plans: the version from the ETag; the statuses offered are the server\'s next_statuses', () => {
  const rec = { id: 4, version: 2, status: 'draft', created_by: 'alice', title: 't', window_start: null, window_end: null,
                steps: [{ action: 'open', element: 'SW1' }], next_statuses: ['consulting', 'cancelled'] };
  const p = P.fromStored(rec, '"3"');
  assert.equal(p.version, 3);
  assert.deepEqual(P.nextStatuses(p), ['consulting', 'cancelled']);
  assert.deepEqual(P.nextStatuses(P.fromStored(Object.assign({}, rec, { next_statuses: [] }))), []);
  assert.deepEqual(P.nextStatuses(P.fromStored(Object.assign({}, rec, { next_statuses: undefined }))), []);
  assert.deepEqual(P.nextStatuses(P.toggleSwitch(p, 'SW2', false)), ['consulting', 'cancelled']);   // edits keep the stored offer
  assert.deepEqual(P.nextStatuses(P.emptyPlan('x')), []);
});

test('top counts: largest first, ties by id, at most n', () => {
  assert.deepEqual(P.topCounts({ F2: 5, F1: 5, F3: 9, F4: 1 }, 3), [['F3', 9], ['F1', 5], ['F2', 5]]);
});
