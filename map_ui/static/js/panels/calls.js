/* The incoming-call pop-up (来电弹屏, issue 18): a `calls` event (sent only to the maps signed in
 * with the agent's key) opens the caller at once: one customer -> the unified view and the map on
 * the customer; several -> a pick list; unknown -> the suggestions. A form closes the call. */

import { label } from '../labels.js';
import { el } from '../dom.js';

const KINDS = ['咨询', '投诉', '报修', '意见', '表扬'];

export function installCalls(ctx) {
  const t = ctx.t;
  const panel = el('aside', { class: 'ga-box ga-call', role: 'dialog', 'aria-label': t('call_title') });
  panel.hidden = true;
  L.DomEvent.disableClickPropagation(panel);
  L.DomEvent.disableScrollPropagation(panel);
  ctx.map.getContainer().appendChild(panel);
  panel.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') hide(); });
  let current = null, chosen = null;

  function hide() { panel.hidden = true; ctx.ga.call = null; }

  /** The view at once and the map on the customer (its coordinates come with the call: no wait for a marker,
   * which the view's supply-path highlight may move the map away from). */
  function show(c) {
    ctx.openView(c.account_no).then(() => {
      panel.dataset.viewAt = String(performance.timeOrigin + performance.now());
      // then the map (its tile requests would otherwise queue before the view's)
      if (c.lat !== null && c.lat !== undefined && c.lon !== null && c.lon !== undefined) {
        ctx.map.setView(L.latLng(c.lat, c.lon), Math.max(ctx.map.getZoom(), 18), { animate: false });
      }
    }).catch(ctx.report);
  }

  function pick(account) {
    chosen = account;
    panel.querySelectorAll('.ga-cand').forEach((b) => b.classList.toggle('ga-chosen', b.dataset.account === account));
    const c = (current.candidates || []).find((x) => x.account_no === account);
    if (c) show(c);
  }

  function candidateList(list, title) {
    return el('div', { class: 'ga-call-cands' }, [el('h4', { text: title }), el('ul', {}, list.map((c) =>
      el('li', {}, el('button', { type: 'button', class: 'ga-cand', 'data-account': c.account_no, onclick: () => pick(c.account_no) },
        [el('span', { class: 'ga-chip', text: c.account_no }), ' ', c.name || '', c.address ? ' · ' + c.address : '']))))]);
  }

  function render(call) {
    panel.innerHTML = '';
    panel.dataset.callId = call.call_id;
    panel.dataset.resolution = call.resolution;
    panel.classList.toggle('ga-key-customer', !!call.key_customer);
    const close = el('button', { class: 'ga-close', type: 'button', title: t('close'), 'aria-label': t('close'), onclick: hide }, '×');
    panel.appendChild(close);
    panel.appendChild(el('h3', {}, [t('call_title') + ' ', el('span', { class: 'ga-caller', text: call.caller_number || '—' })]));
    if (call.key_customer) {
      panel.appendChild(el('div', { class: 'ga-key-flag', role: 'alert', text: '★ ' + t('call_key_customer') +
        (call.flags && call.flags.length ? ': ' + call.flags.join(', ') : '') }));
    }
    if (call.resolution === 'customer' && call.customer) {
      panel.appendChild(el('div', { class: 'ga-call-customer' }, [t('account') + ' ', el('span', { class: 'ga-chip ga-call-acct', text: call.customer.account_no }),
        call.customer.name ? ' ' + call.customer.name : '']));
    } else if (call.resolution === 'candidates') {
      panel.appendChild(candidateList(call.candidates, t('call_candidates') + ' (' + call.candidates.length + ')'));
    } else {
      panel.appendChild(el('div', { class: 'ga-call-unknown', text: t('call_unknown') }));
      if (call.candidates.length) panel.appendChild(candidateList(call.candidates, t('call_suggestions')));
    }
    if (call.status === 'closed' || call.closed_at) {
      panel.appendChild(el('div', { class: 'ga-call-closed', text: t('call_closed') }));
      return;
    }
    const kind = el('select', { class: 'ga-call-kind', 'aria-label': t('call_kind') }, KINDS.map((k) => el('option', { value: k, text: label(t, 'interaction_kind', k) })));
    const text = el('textarea', { class: 'ga-call-text', rows: '2', placeholder: t('call_text'), 'aria-label': t('call_text') });
    const msg = el('div', { class: 'ga-call-msg', role: 'alert' });
    const form = el('form', { class: 'ga-call-form' }, [
      el('label', { text: t('call_kind') }), kind, text,
      el('button', { type: 'submit', class: 'ga-btn ga-call-submit' }, t('call_close')), msg
    ]);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { kind: kind.value };
      if (text.value.trim()) body.text = text.value.trim();
      if (chosen && chosen !== (call.customer && call.customer.account_no)) body.account_no = chosen;
      try {
        current = await ctx.api.post('/calls/' + encodeURIComponent(call.call_id) + '/close', body);
        ctx.ga.call = current;
        render(current);
      } catch (e) {
        msg.textContent = e.message;
      }
    });
    panel.appendChild(form);
  }

  async function open(callId) {
    const call = await ctx.api.json('/calls/' + encodeURIComponent(callId));
    current = call;
    chosen = call.customer ? call.customer.account_no : null;
    ctx.ga.call = call;
    render(call);
    panel.hidden = false;
    if (call.customer) show(call.customer);
    const first = panel.querySelector('.ga-cand, select');
    if (first) first.focus();
    return call;
  }

  ctx.live.on('calls', (payload) => { if (payload && payload.call_id) open(payload.call_id).catch(ctx.report); });
  ctx.ga.openCall = open;
}
