/* Live events (GET /api/v1/events, Server-Sent Events) read with fetch + a stream reader, so the
 * key goes in the Authorization header (never in a URL, as EventSource would need).
 *
 * `installLive(ctx)` adds `ctx.live`: `on(channel, fn, {check})` registers a handler (an optional
 * async `check()` that resolves false drops the channel), `off(channel)` stops following one,
 * `start()` opens one stream for every channel asked for (called after sign-in; channels the role
 * may not follow are skipped by the server), `stop()` closes it (sign-out, a 401). After a drop
 * it reconnects with `Last-Event-ID` and a growing backoff.
 * `createSseParser` is pure (no DOM): tested by map_ui/tests/live.test.mjs. */

/** A parser of an SSE byte stream's text: `push(chunk)` returns the complete messages it held,
 * each {event, data, id, retry} (event defaults to 'message'; comments are skipped). */
export function createSseParser() {
  let buf = '';
  let data = [], event = '', id = null, retry = null, hasData = false;
  function dispatch(out) {
    if (hasData) out.push({ event: event || 'message', data: data.join('\n'), id, retry });
    else if (retry !== null) out.push({ event: '', data: '', id, retry });
    data = []; event = ''; id = null; retry = null; hasData = false;
  }
  function line(l, out) {
    if (l === '') { dispatch(out); return; }
    if (l[0] === ':') return;
    const i = l.indexOf(':');
    const name = i < 0 ? l : l.slice(0, i);
    let value = i < 0 ? '' : l.slice(i + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (name === 'data') { data.push(value); hasData = true; }
    else if (name === 'event') event = value;
    else if (name === 'id') { if (!value.includes('\0')) id = value; }
    else if (name === 'retry') { if (/^\d+$/.test(value)) retry = Number(value); }
  }
  return {
    push(chunk) {
      const out = [];
      buf += chunk;
      let m;
      while ((m = /\r\n|\r|\n/.exec(buf)) !== null) {
        if (m[0] === '\r' && m.index === buf.length - 1) break;     // maybe the first half of \r\n
        line(buf.slice(0, m.index), out);
        buf = buf.slice(m.index + m[0].length);
      }
      return out;
    }
  };
}

/** The next wait before reconnecting: 1 s, 2 s, 4 s … up to `max` ms. */
export function backoff(attempt, base = 1000, max = 30000) {
  return Math.min(max, base * Math.pow(2, Math.max(0, attempt)));
}

export function installLive(ctx) {
  const handlers = new Map();          // channel -> [fn]
  const checks = new Map();            // channel -> [async () => bool]
  const state = { status: 'idle', lastId: null, channels: [], received: 0, connects: 0 };
  let controller = null, timer = null, attempt = 0, running = false, channels = [];

  function on(channel, fn, opts) {
    if (!handlers.has(channel)) handlers.set(channel, []);
    handlers.get(channel).push(fn);
    if (opts && opts.check) {
      if (!checks.has(channel)) checks.set(channel, []);
      checks.get(channel).push(opts.check);
    }
  }

  function deliver(msg) {
    if (msg.id !== null && msg.id !== undefined && msg.id !== '') state.lastId = msg.id;
    if (msg.event === 'ready') {
      attempt = 0;
      state.status = 'open';
      try {
        const d = JSON.parse(msg.data);
        if (state.lastId === null && d.after !== null && d.after !== undefined) state.lastId = String(d.after);
        if (Array.isArray(d.channels)) state.channels = d.channels;
      } catch (e) { /* keep */ }
      return;
    }
    if (msg.event === 'lagged') {
      try { state.lastId = String(JSON.parse(msg.data).resume_after); } catch (e) { /* keep */ }
      return;
    }
    const fns = handlers.get(msg.event);
    if (!fns) return;
    let body;
    try { body = JSON.parse(msg.data); } catch (e) { return; }
    state.received += 1;
    fns.forEach((fn) => { try { fn(body.payload || {}, body); } catch (e) { ctx.report(e); } });
  }

  async function connect() {
    if (!running || !channels.length) return;
    controller = new AbortController();
    const headers = { Accept: 'text/event-stream' };
    if (state.lastId !== null) headers['Last-Event-ID'] = state.lastId;
    state.status = 'connecting';
    state.connects += 1;
    try {
      // skip_refused: a role that may not follow a channel (calls: a planner) gets the others, not a 403
      const resp = await ctx.api.raw('/events?skip_refused=true&channels=' + encodeURIComponent(channels.join(',')),
        { headers, signal: controller.signal, cache: 'no-store' });
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      const parser = createSseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(decoder.decode(value, { stream: true })).forEach(deliver);
      }
    } catch (e) {
      if (!running) return;
      if (e.status === 401) { stop(); return; }
      if (e.status && e.status >= 400 && e.status < 500) { stop(); ctx.report(e); return; }
    }
    if (!running) return;
    state.status = 'waiting';
    timer = setTimeout(connect, backoff(attempt));
    attempt += 1;
  }

  async function start() {
    if (running) return;
    running = true;
    const wanted = [];
    for (const ch of handlers.keys()) {
      const cs = checks.get(ch) || [];
      let ok = true;
      for (const c of cs) { try { if (!(await c())) ok = false; } catch (e) { ok = false; } }
      if (ok) wanted.push(ch);
    }
    channels = wanted;
    state.channels = channels.slice();
    if (running) connect();
  }

  /** Stop following a channel (e.g. its details are refused to this role): the stream reopens without it. */
  function off(channel) {
    handlers.delete(channel);
    if (!channels.includes(channel)) return;
    channels = channels.filter((c) => c !== channel);
    state.channels = channels.slice();
    if (!running) return;
    if (!channels.length) { stop(); return; }
    clearTimeout(timer);
    attempt = 0;
    if (controller) controller.abort();           // the read loop ends and reconnects with the channels left
  }

  function stop() {
    running = false;
    state.status = 'closed';
    clearTimeout(timer);
    if (controller) controller.abort();
    controller = null;
  }

  ctx.live = { on, off, start, stop, state, drop: () => { if (controller) controller.abort(); } };
  // drop() aborts the current request only: `running` stays true, so it reconnects (a test hook)
  return ctx.live;
}
