/* A small state store: `get()`, `set(patch)` (shallow merge), `subscribe(fn)` -> unsubscribe,
 * and named events (`on(name, fn)`, `emit(name, value)`) for things that are not state. */

export function createStore(initial) {
  let state = Object.assign({}, initial || {});
  const subs = new Set();
  const events = new Map();
  return {
    get() { return state; },
    set(patch) {
      const prev = state;
      state = Object.assign({}, state, patch);
      for (const fn of Array.from(subs)) fn(state, prev);
      return state;
    },
    subscribe(fn) { subs.add(fn); return () => subs.delete(fn); },
    on(name, fn) {
      if (!events.has(name)) events.set(name, new Set());
      events.get(name).add(fn);
      return () => events.get(name).delete(fn);
    },
    emit(name, value) { for (const fn of Array.from(events.get(name) || [])) fn(value); }
  };
}
