/* Trouble calls (故障研判, issue 15): the probable failed devices of a time window's repair calls (报修).
 *
 * A panel picks the window (last hour by default; 1 h / 4 h / 24 h; or a custom from–to) and lists the
 * predictions (device, kind, calls, customers affected); a click flies to the device and the extent of the
 * customers it feeds and opens its popup. On the map: each predicted device a numbered marker (size and label
 * = its calls), its affected area (one hull per 台区, as a plan's impact), the calls it explains linked to it
 * by thin lines, and the calls no device explains hollow and grey. Calls are where the server puts them:
 * at the caller for roles that see personal data, at the caller's 台区 for the others.
 * When an ingest writes repair calls the server announces them on the `trouble_calls` live channel and an
 * open panel reloads. Pure helpers (window, marker size, list rows) are tested by map_ui/tests/trouble_calls.test.mjs. */

import { el, fmt } from '../dom.js';
import { label } from '../labels.js';

export const PRESET_HOURS = { '1h': 1, '4h': 4, '24h': 24 };
const PALETTE = ['#c0392b', '#8e44ad', '#d35400', '#16a085', '#2c3e50', '#b8860b'];

/** The {from, to} of a window as ISO 8601 UTC strings: a preset ending at `now`, or a custom from–to
 * (values of datetime-local inputs, the browser's local time). Throws a message key when custom is bad. */
export function windowFor(preset, now, custom) {
  if (preset in PRESET_HOURS) {
    return { from: new Date(now.getTime() - PRESET_HOURS[preset] * 3600e3).toISOString(), to: now.toISOString() };
  }
  const from = custom && custom.from ? new Date(custom.from) : null;
  const to = custom && custom.to ? new Date(custom.to) : null;
  if (!from || !to || isNaN(from.getTime()) || isNaN(to.getTime())) throw new Error('tc_bad_window');
  if (to <= from) throw new Error('tc_bad_order');
  return { from: from.toISOString(), to: to.toISOString() };
}

/** The device marker's diameter in px for `calls` calls: 22 px for the threshold's few, up to 46. */
export function markerSize(calls) {
  return Math.round(Math.min(46, 18 + 6 * Math.sqrt(Math.max(1, calls))));
}

/** One row per prediction, in the server's order (most calls first). */
export function predictionRows(body) {
  return ((body && body.predictions) || []).map((p) => ({
    device: p.device, name: p.name || null, kind: p.kind, calls: p.calls.length,
    customers: p.customers_affected, absorbed: p.absorbed || []
  }));
}

/** The device kind in the chosen language (`t` from i18n.js): a transformer is its 台区. */
export function kindLabel(t, kind) {
  return kind === 'transformer' ? label(t, 'path_kind', 'transformer') : label(t, 'switch_kind', kind);
}

export function installTroubleCalls(ctx) {
  const t = ctx.t;
  const map = ctx.map;
  const group = ctx.layers.trouble_calls;
  map.createPane('gaTrouble').style.zIndex = 455;            // above the grid canvas and the highlight
  const renderer = L.canvas({ pane: 'gaTrouble', padding: 0.2 });
  const state = { open: false, preset: '1h', custom: { from: '', to: '' }, body: null, loads: 0, loading: null,
                  markers: new Map(), window: null, error: null };
  let timer = null;
  let panel, body, summary, list, note, customBox, fromInput, toInput, select, head;

  function build(div) {
    panel = div;
    div.hidden = true;                                       // until GET /me says the role may read it
    head = el('button', { type: 'button', class: 'ga-tc-head', 'aria-expanded': 'false' }, t('tc_title'));
    head.addEventListener('click', () => (state.open ? close() : open()));
    select = el('select', { class: 'ga-tc-window', 'aria-label': t('tc_window') },
      [['1h', t('tc_1h')], ['4h', t('tc_4h')], ['24h', t('tc_24h')], ['custom', t('tc_custom')]].map((o) =>
        el('option', { value: o[0] }, o[1])));
    select.addEventListener('change', () => {
      state.preset = select.value;
      customBox.hidden = state.preset !== 'custom';
      if (state.preset !== 'custom') load().catch(ctx.report);
      else fromInput.focus();
    });
    fromInput = el('input', { type: 'datetime-local', class: 'ga-tc-from', 'aria-label': t('tc_from') });
    toInput = el('input', { type: 'datetime-local', class: 'ga-tc-to', 'aria-label': t('tc_to') });
    const apply = el('button', { type: 'submit', class: 'ga-btn ga-tc-apply' }, t('tc_apply'));
    customBox = el('form', { class: 'ga-tc-custom' }, [
      el('label', {}, [t('tc_from') + ' ', fromInput]), el('label', {}, [t('tc_to') + ' ', toInput]), apply]);
    customBox.hidden = true;
    customBox.addEventListener('submit', (ev) => {
      ev.preventDefault();
      state.custom = { from: fromInput.value, to: toInput.value };
      load().catch(ctx.report);
    });
    const refresh = el('button', { type: 'button', class: 'ga-btn ga-tc-refresh' }, t('tc_refresh'));
    refresh.addEventListener('click', () => load().catch(ctx.report));
    summary = el('div', { class: 'ga-tc-summary', role: 'status' });
    note = el('div', { class: 'ga-tc-note' });
    list = el('ol', { class: 'ga-tc-list' });
    body = el('div', { class: 'ga-tc-body' }, [
      el('div', { class: 'ga-tc-controls' }, [el('label', {}, [t('tc_window') + ' ', select]), refresh]),
      customBox, summary, list, note]);
    body.hidden = true;
    body.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.stopPropagation(); close(); head.focus(); } });
    div.appendChild(head);
    div.appendChild(body);
  }

  function open() {
    state.open = true;
    body.hidden = false;
    head.setAttribute('aria-expanded', 'true');
    if (!map.hasLayer(group)) map.addLayer(group);
    select.focus();
    return load();
  }

  function close() {
    state.open = false;
    body.hidden = true;
    head.setAttribute('aria-expanded', 'false');
  }

  async function load() {
    let win;
    try {
      win = windowFor(state.preset, new Date(), state.custom);
    } catch (e) {
      state.error = t(e.message);
      summary.textContent = state.error;
      return null;
    }
    state.error = null;
    summary.textContent = t('loading');
    const q = new URLSearchParams({ from: win.from, to: win.to, format: 'json' });
    const run = ctx.api.json('/trouble-calls?' + q.toString());
    state.loading = run;
    let data;
    try {
      data = await run;
    } catch (e) {
      if (state.loading === run) { summary.textContent = e.message; state.loading = null; }
      throw e;
    }
    if (state.loading !== run) return state.body;           // a newer load superseded this one
    state.loading = null;
    state.window = win;
    state.body = data;
    state.loads += 1;
    draw(data);
    renderList(data);
    ctx.emit('trouble_calls', data);
    return data;
  }

  function deviceLatLng(p) {
    return p.location ? L.latLng(p.location.lat, p.location.lon) : null;
  }

  function popupFor(p) {
    const row = predictionRows({ predictions: [p] })[0];
    return el('div', { class: 'ga-tc-popup' }, [
      el('b', { text: p.device }), p.name ? ' ' + p.name : '', el('br'),
      kindLabel(t, p.kind), el('br'),
      t('tc_calls_h') + ': ' + row.calls + ' · ' + t('tc_customers_h') + ': ' + fmt(row.customers),
      row.absorbed.length ? el('div', { class: 'ga-tc-absorbed', text: t('tc_absorbed') + ' ' + row.absorbed.join(', ') }) : null
    ]);
  }

  function draw(data) {
    group.clearLayers();
    state.markers = new Map();
    const color = new Map();
    data.predictions.forEach((p, i) => color.set(p.device, PALETTE[i % PALETTE.length]));
    data.predictions.forEach((p) => {
      if (p.area) {
        L.geoJSON(p.area, { pane: 'gaTrouble', renderer, interactive: false,
          style: { color: color.get(p.device), weight: 1.5, dashArray: '5 4', fillOpacity: 0.08 } }).addTo(group);
      }
    });
    const devices = new Map(data.predictions.map((p) => [p.device, deviceLatLng(p)]));
    data.located_calls.forEach((c) => {
      const ll = L.latLng(c.lat, c.lon);
      const at = c.device ? devices.get(c.device) : null;
      if (at) {
        L.polyline([ll, at], { pane: 'gaTrouble', renderer, interactive: false, color: color.get(c.device),
          weight: 1.5, opacity: 0.7 }).addTo(group);
      }
      const style = c.device
        ? { radius: 5, color: '#fff', weight: 1, fillColor: color.get(c.device), fillOpacity: 0.95 }
        : { radius: 5, color: '#6b7280', weight: 2, dashArray: '2 2', fill: false };
      const m = L.circleMarker(ll, Object.assign({ pane: 'gaTrouble', renderer }, style));
      m.bindTooltip((c.device ? c.device : t('tc_unexplained_one') + ' (' + t('tc_reason_' + c.reason) + ')') +
        ' · ' + (c.precision === 'customer' ? c.account_no : t('f_transformer') + ' ' + (c.transformer_id || '—')));
      m.addTo(group);
    });
    data.predictions.forEach((p) => {
      const ll = devices.get(p.device);
      if (!ll) return;
      const n = p.calls.length;
      const s = markerSize(n);
      const icon = L.divIcon({ className: 'ga-tc-device', iconSize: [s, s], iconAnchor: [s / 2, s / 2],
        html: '<span>' + n + '</span>' });
      const marker = L.marker(ll, { icon, zIndexOffset: 1000, title: p.device + ' · ' + n + ' ' + t('tc_calls_h'),
        alt: p.device, keyboard: true });
      marker.bindPopup(() => popupFor(p), { maxWidth: 320 });
      marker.addTo(group);
      const elem = marker.getElement();
      if (elem) { elem.dataset.device = p.device; elem.style.setProperty('--tc-color', color.get(p.device)); }
      state.markers.set(p.device, marker);
    });
  }

  function renderList(data) {
    const rows = predictionRows(data);
    list.innerHTML = '';
    const unexplained = data.unexplained.length;
    summary.textContent = fmt(data.calls) + ' ' + t('tc_calls_in_window') + ' · ' + rows.length + ' ' + t('tc_predictions') +
      ' · ' + unexplained + ' ' + t('tc_unexplained');
    rows.forEach((r) => {
      const btn = el('button', { type: 'button', class: 'ga-tc-row', 'data-device': r.device }, [
        el('b', { class: 'ga-tc-dev', text: r.device }), r.name ? el('span', { class: 'ga-tc-name', text: ' ' + r.name }) : null,
        el('span', { class: 'ga-tc-kind', text: ' · ' + kindLabel(t, r.kind) }), el('br'),
        el('span', { class: 'ga-tc-calls', text: String(r.calls) }), ' ' + t('tc_calls_h') + ' · ',
        el('span', { class: 'ga-tc-cust', text: fmt(r.customers) }), ' ' + t('tc_customers_h')
      ]);
      btn.addEventListener('click', () => focusDevice(r.device));
      list.appendChild(el('li', {}, btn));
    });
    if (!rows.length) list.appendChild(el('li', { class: 'ga-tc-empty', text: t('tc_none') }));
    note.textContent = data.call_points === 'customer' ? '' : t('tc_masked');
  }

  /** Fly to the device and the extent of the customers it feeds; open its popup. */
  function focusDevice(device) {
    const data = state.body;
    const p = data && data.predictions.find((x) => x.device === device);
    if (!p) return null;
    const ll = deviceLatLng(p);
    let bounds = p.area ? L.geoJSON(p.area).getBounds() : null;
    if (ll) bounds = bounds ? bounds.extend(ll) : L.latLngBounds(ll, ll);
    if (bounds) map.fitBounds(bounds.pad(0.15), { maxZoom: 18, animate: false });
    const marker = state.markers.get(device);
    if (marker) marker.openPopup();
    return marker || null;
  }

  function scheduleLoad() {
    clearTimeout(timer);
    timer = setTimeout(() => { load().catch(ctx.report); }, 250);
  }

  const control = ctx.troubleControl = L.Control.extend({
    onAdd() {
      const div = el('div', { class: 'leaflet-control ga-box ga-trouble' });
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      build(div);
      return div;
    }
  });
  new control({ position: 'topleft' }).addTo(map);

  ctx.on('me', () => { panel.hidden = !ctx.may('GET /api/v1/trouble-calls'); if (panel.hidden) close(); });
  // a new repair call anywhere: an open panel asks again (the window "last hour" moves with it)
  ctx.live.on('trouble_calls', () => { if (state.open) scheduleLoad(); });

  ctx.ga.troubleCalls = {
    state, open, close, load, focusDevice,
    setWindow: (preset, custom) => { state.preset = preset; if (custom) state.custom = custom; select.value = preset; customBox.hidden = preset !== 'custom'; return load(); },
    markerPoints: () => Array.from(state.markers.entries()).map(([device, m]) => {
      const r = m.getElement().getBoundingClientRect();
      const box = map.getContainer().getBoundingClientRect();
      const ll = m.getLatLng();
      const want = map.latLngToContainerPoint(ll);
      return { device, x: r.left + r.width / 2 - box.left, y: r.top + r.height / 2 - box.top, want_x: want.x, want_y: want.y,
               lon: ll.lng, lat: ll.lat };
    })
  };
}
