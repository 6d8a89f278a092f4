import test from 'node:test';
import assert from 'node:assert/strict';
import { createSseParser, backoff } from '../static/js/live.js';
import { highlightParts } from '../static/js/panels/alerts.js';

test('the ready frame, an event with id, and a keep-alive comment', () => {
  const p = createSseParser();
  const out = p.push('retry: 2000\nevent: ready\ndata: {"after":7}\n\n: keep-alive\n\nid: 8\nevent: alerts\ndata: {"id":8}\n\n');
  assert.deepEqual(out, [
    { event: 'ready', data: '{"after":7}', id: null, retry: 2000 },
    { event: 'alerts', data: '{"id":8}', id: '8', retry: null }
  ]);
});

test('frames split across chunks (even inside a line and a CRLF) come out whole, once', () => {
  const p = createSseParser();
  assert.deepEqual(p.push('id: 12\r'), []);
  assert.deepEqual(p.push('\nevent: ca'), []);
  assert.deepEqual(p.push('lls\r\ndata: {"call_id":'), []);
  const out = p.push('"c-1"}\r\n\r\n');
  assert.deepEqual(out, [{ event: 'calls', data: '{"call_id":"c-1"}', id: '12', retry: null }]);
  assert.deepEqual(p.push('\n'), []);             // an empty line alone dispatches nothing
});

test('multi-line data is joined with newlines; no event name means message; one leading space only', () => {
  const p = createSseParser();
  assert.deepEqual(p.push('data:a\ndata:  b\n\n'), [{ event: 'message', data: 'a\n b', id: null, retry: null }]);
  assert.deepEqual(p.push('event: x\n\n'), []);   // no data: nothing to dispatch
  assert.deepEqual(p.push('retry: soon\ndata: y\n\n'), [{ event: 'message', data: 'y', id: null, retry: null }]);
});

test('the reconnect backoff grows and is capped', () => {
  assert.deepEqual([0, 1, 2, 3].map((a) => backoff(a)), [1000, 2000, 4000, 8000]);
  assert.equal(backoff(20), 30000);
});

test('matched words are cut out of the text in order, overlaps skipped', () => {
  assert.deepEqual(highlightParts('我要找记者曝光你们', [{ start: 5, end: 7 }, { start: 3, end: 5 }, { start: 4, end: 6 }]), [
    { text: '我要找', hit: false }, { text: '记者', hit: true }, { text: '曝光', hit: true }, { text: '你们', hit: false }
  ]);
  assert.deepEqual(highlightParts('abc', null), [{ text: 'abc', hit: false }]);
});
