import test from 'node:test';
import assert from 'node:assert/strict';
import { createStore } from '../static/js/store.js';

test('set merges, subscribers see new and previous state, unsubscribe stops them', () => {
  const store = createStore({ a: 1 });
  const seen = [];
  const off = store.subscribe((s, prev) => seen.push([s.a, s.b, prev.b]));
  store.set({ b: 2 });
  assert.deepEqual(store.get(), { a: 1, b: 2 });
  off();
  store.set({ b: 3 });
  assert.deepEqual(seen, [[1, 2, undefined]]);
});

test('named events reach their listeners only', () => {
  const store = createStore();
  const got = [];
  store.on('grid', (v) => got.push(['grid', v]));
  const off = store.on('viewport', (v) => got.push(['viewport', v]));
  store.emit('grid', 1);
  off();
  store.emit('viewport', 2);
  store.emit('nobody', 3);
  assert.deepEqual(got, [['grid', 1]]);
});
