/* Live alert notices (issue 15): each new alert on the `alerts` channel becomes a notice in a
 * stack at the bottom-right corner (severity, category, customer, 台区). A click opens the
 * message (the text with the matched words highlighted when the role sees texts, else the
 * count) and flies the map to the customer (or the 台区); buttons move the alert's state. */

import { el } from '../dom.js';
import { label } from '../labels.js';


/** The text cut into plain and highlighted parts: [{text, hit}] (pure). */
export function highlightParts(text, highlights) {
  const hs = (highlights || []).filter((h) => h.end > h.start).sort((a, b) => a.start - b.start);
  const out = [];
  let at = 0;
  for (const h of hs) {
    if (h.start < at) continue;
    if (h.start > at) out.push({ text: text.slice(at, h.start), hit: false });
    out.push({ text: text.slice(h.start, h.end), hit: true });
    at = h.end;
  }
  if (at < text.length) out.push({ text: text.slice(at), hit: false });
  return out;
}

export function installAlerts(ctx) {
  const t = ctx.t;
  const stack = el('div', { class: 'ga-notices', role: 'log', 'aria-live': 'polite', 'aria-label': t('alerts_title') });
  L.DomEvent.disableClickPropagation(stack);
  L.DomEvent.disableScrollPropagation(stack);
  ctx.map.getContainer().appendChild(stack);
  const notices = new Map();           // alert id -> {div, alert}
  ctx.ga.notices = notices;

  // A live update (the alert's state moved, by this user or another) rebuilds its notice: the keyboard
  // stays on the control it was on (else the notice's head) and a note being typed is kept, so an
  // update arriving between two keys neither takes the user out of the notice nor loses their words.
  const KEEPS_FOCUS = ['ga-note', 'ga-resolve', 'ga-ack', 'ga-fp', 'ga-close', 'ga-notice-head'];
  function render(n) {
    const active = n.div.contains(document.activeElement) ? document.activeElement : null;
    const where = active && KEEPS_FOCUS.find((c) => active.classList.contains(c));
    build(n);
    if (!active) return;
    const again = (where && n.div.querySelector('.' + where)) || n.div.querySelector('.ga-notice-head');
    if (again) again.focus();
  }

  function build(n) {
    const a = n.alert;
    const div = n.div;
    div.innerHTML = '';
    div.className = 'ga-notice ga-sev-' + a.severity + ' ga-state-' + a.state + (n.open ? ' ga-open' : '');
    div.dataset.alertId = String(a.id);
    div.dataset.state = a.state;
    const head = el('button', { type: 'button', class: 'ga-notice-head', 'aria-expanded': n.open ? 'true' : 'false' }, [
      el('span', { class: 'ga-sev', text: label(t, 'severity', a.severity) }), ' ',
      el('b', { class: 'ga-cat', text: a.category }),
      a.count > 1 ? el('span', { class: 'ga-count', text: ' ×' + a.count }) : null
    ]);
    head.addEventListener('click', () => toggle(n));
    const close = el('button', { type: 'button', class: 'ga-close', title: t('dismiss_notice'), 'aria-label': t('dismiss_notice') }, '×');
    close.addEventListener('click', () => dismiss(n));
    div.appendChild(close);
    div.appendChild(head);
    div.appendChild(el('div', { class: 'ga-notice-where' }, [
      t('account') + ' ', el('span', { class: 'ga-acct', text: a.account_no || '—' }),
      ' · ' + t('f_transformer') + ' ', el('span', { class: 'ga-ta', text: a.transformer_id || '—' })
    ]));
    div.appendChild(el('div', { class: 'ga-notice-state', text: t('alert_state') + ': ' + t('state_' + a.state) }));
    if (!n.open) return;
    const body = el('div', { class: 'ga-notice-body' });
    if (a.text_visible) {
      (a.messages || []).forEach((m) => {
        body.appendChild(el('p', { class: 'ga-msg' }, highlightParts(m.text || '', m.highlights).map((p) =>
          p.hit ? el('mark', { text: p.text }) : p.text)));
      });
    } else {
      body.appendChild(el('p', { class: 'ga-msg ga-masked', text: t('alert_words_count') + ' ' +
        (a.messages || []).reduce((s, m) => s + (m.words || 0), 0) + ' · ' + t('alert_messages') + ' ' + a.count }));
    }
    const actions = el('div', { class: 'ga-notice-actions' });
    // only what the caller's role may do (GET /me); the server still answers 403/409 when that changed
    const may = (op) => ctx.may('POST /api/v1/alerts/{alert_id}/' + op);
    const open = a.state === 'new' || a.state === 'acknowledged';
    if (a.state === 'new' && may('ack')) actions.appendChild(el('button', { type: 'button', class: 'ga-btn ga-ack', onclick: () => move(n, 'ack') }, t('alert_ack')));
    if (open && may('resolve') && (a.state === 'acknowledged' || may('ack'))) {
      const note = el('input', { type: 'text', class: 'ga-note', placeholder: t('alert_note'), 'aria-label': t('alert_note') });
      note.value = n.note || '';
      note.addEventListener('input', () => { n.note = note.value; });
      const resolve = el('button', { type: 'submit', class: 'ga-btn ga-resolve' }, t('alert_resolve'));
      const form = el('form', { class: 'ga-resolve-form' }, [note, resolve]);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const text = note.value.trim();
        if (!text) { n.msg = t('alert_note_needed'); render(n); return; }
        move(n, 'resolve', text);
      });
      actions.appendChild(form);
    }
    if (open && may('false-positive')) {
      actions.appendChild(el('button', { type: 'button', class: 'ga-btn ga-fp', onclick: () => move(n, 'false-positive') }, t('alert_false_positive')));
    }
    body.appendChild(actions);
    if (n.msg) body.appendChild(el('div', { class: 'ga-notice-msg', role: 'alert', text: n.msg }));
    div.appendChild(body);
  }

  function dismiss(n) {
    const hadFocus = n.div.contains(document.activeElement);
    n.div.remove();
    notices.delete(n.alert.id);
    if (hadFocus) ctx.map.getContainer().focus();
  }

  // Escape closes the notice the keyboard is in (a Leaflet popup it opened closes with the map's own Escape)
  stack.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    const div = ev.target.closest && ev.target.closest('.ga-notice');
    const n = div && notices.get(Number(div.dataset.alertId));
    if (!n) return;
    ev.preventDefault();
    ev.stopPropagation();
    dismiss(n);
  });

  async function move(n, action, note) {
    const path = '/alerts/' + n.alert.id + '/';
    try {
      if (action === 'resolve' && n.alert.state === 'new') n.alert = await ctx.api.post(path + 'ack', {});
      n.alert = await ctx.api.post(path + action, note ? { note } : {});
      n.msg = '';
      n.note = '';
    } catch (e) {
      n.msg = e.message;
    }
    render(n);
  }

  function toggle(n) {
    n.open = !n.open;
    render(n);
    if (!n.open) return;
    const a = n.alert;
    const fly = a.account_no ? ctx.openCustomer(a.account_no) : (a.transformer_id ? ctx.openFeature('transformers', a.transformer_id) : null);
    if (fly) fly.catch(ctx.report);
  }

  async function show(payload) {
    if (!payload || !payload.alert_id) return;
    const id = payload.alert_id;
    const known = notices.get(id);
    if (payload.type === 'alert.state' && !known) return;
    let a;
    try {
      a = await ctx.api.json('/alerts/' + id);
    } catch (e) {
      if (e.status === 403) { ctx.live.off('alerts'); return; }     // a role that may not read alerts (a planner)
      throw e;
    }
    if (known) { known.alert = a; render(known); return; }
    const n = { div: el('div', {}), alert: a, open: false, msg: '' };
    notices.set(id, n);
    render(n);
    n.div.dataset.shownAt = String(performance.timeOrigin + performance.now());
    stack.insertBefore(n.div, stack.firstChild);
    while (stack.children.length > 6) { const last = stack.lastChild; notices.delete(Number(last.dataset.alertId)); last.remove(); }
  }

  ctx.live.on('alerts', (payload) => { show(payload).catch(ctx.report); });
  ctx.on('me', () => notices.forEach(render));          // the actions offered follow the role once it is known
  ctx.ga.showAlert = (id) => show({ type: 'alert.new', alert_id: id });
}
