/* Data-quality layer (issue 18): the customers whose contact data is stale, missing, invalid or
 * conflicting, from GET /api/v1/data-quality/viewport — server-side clusters with counts when many,
 * single customers (canvas rings coloured by their most serious finding) when few. A filter box
 * (rule, field) shows while the layer is on; a ring's click opens the customer's view, whose contact
 * form corrects the record (panels/contact.js). Off by default: a layer the user turns on. */

import { el, box, fmt } from '../dom.js';
import { QUALITY_RULES, RULE_COLORS, fieldsFor, findingColor, flaggedCount, normalizeFilter, qualityPath } from '../quality.js';

export function installDataQuality(ctx) {
  const { map, t } = ctx;
  const group = ctx.layers.data_quality;
  const state = { seq: 0, filter: { rule: '', field: '' }, body: null, markers: new Map(), clusters: [] };
  let ui = null;

  const control = box('ga-dq', (div) => {
    const rule = el('select', { id: 'ga-dq-rule', 'aria-label': t('dq_rule') }, [el('option', { value: '', text: t('dq_any_rule') })]
      .concat(QUALITY_RULES.map((r) => el('option', { value: r, text: t('dq_rule_' + r) }))));
    const field = el('select', { id: 'ga-dq-field', 'aria-label': t('dq_field') });
    const count = el('div', { class: 'ga-dq-count', role: 'status', 'aria-live': 'polite' });
    const legend = el('div', { class: 'ga-dq-legend' }, QUALITY_RULES.slice().reverse().map((r) =>
      el('span', { class: 'ga-dq-key', 'data-rule': r }, [el('i', { style: 'border-color:' + RULE_COLORS[r] }), t('dq_rule_' + r)])));
    div.appendChild(el('h4', { text: t('dq_title') }));
    div.appendChild(el('div', { class: 'ga-dq-filters' }, [
      el('label', { for: 'ga-dq-rule', text: t('dq_rule') }), rule, el('label', { for: 'ga-dq-field', text: t('dq_field') }), field]));
    div.appendChild(count);
    div.appendChild(legend);
    function fillFields() {
      const keep = field.value;
      field.innerHTML = '';
      field.appendChild(el('option', { value: '', text: t('dq_any_field') }));
      fieldsFor(rule.value).forEach((f) => field.appendChild(el('option', { value: f, text: t('dq_field_' + f) })));
      field.value = fieldsFor(rule.value).indexOf(keep) >= 0 ? keep : '';
    }
    fillFields();
    rule.addEventListener('change', () => { fillFields(); setFilter(rule.value, field.value); });
    field.addEventListener('change', () => setFilter(rule.value, field.value));
    ui = { rule, field, count };
  }, { position: 'bottomright' });

  function viewportBox() {
    const b = map.getBounds().pad(0.05);
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)]
      .map((v) => v.toFixed(6));
  }

  function clear() {
    state.clusters.forEach((m) => group.removeLayer(m));
    state.clusters.length = 0;
    state.markers.forEach((m) => group.removeLayer(m));
    state.markers.clear();
  }

  function draw(body) {
    clear();
    state.body = ctx.ga.qualityBody = body;
    if (body.mode === 'clusters') {
      body.clusters.forEach((c) => {
        const size = c.count >= 1000 ? 44 : c.count >= 100 ? 38 : 32;
        const icon = L.divIcon({ className: 'ga-dq-cluster', iconSize: [size, size],
                                 html: '<div>' + fmt(c.count) + '</div>' });
        const m = L.marker([c.lat, c.lon], { icon, keyboard: false, zIndexOffset: 900, title: c.count + ' ' + t('dq_flagged') });
        m.options.gaCount = c.count;
        m.on('click', () => map.setView(m.getLatLng(), Math.min(map.getZoom() + 2, 20)));
        state.clusters.push(m);
        group.addLayer(m);
      });
    } else {
      body.points.forEach((p) => {
        const m = L.circleMarker([p.lat, p.lon], { renderer: ctx.canvas, radius: 7, weight: 3, color: findingColor(p.findings),
                                                    opacity: 1, fillColor: '#fff', fillOpacity: 0.15 });
        m.options.gaAccount = p.account_no;
        m.bindTooltip(p.account_no + ' · ' + p.findings.map((f) => t('dq_finding_' + f.replace(':', '_'))).join(', '), { direction: 'top' });
        m.on('click', (e) => {
          L.DomEvent.stop(e);                    // the map's own click (nearest customer) stays out
          ctx.openView(p.account_no).catch(ctx.report);
        });
        state.markers.set(p.account_no, m);
        group.addLayer(m);
      });
    }
    if (ui) {
      ui.count.textContent = fmt(flaggedCount(body)) + ' ' + t('dq_flagged') + ' / ' + fmt(body.customers) + ' ' + t('dq_in_view');
      ui.count.setAttribute('data-count', String(flaggedCount(body)));
    }
    ctx.ga.quality = { mode: body.mode, count: body.count, customers: body.customers,
      clusters: body.mode === 'clusters' ? body.clusters.length : 0, points: body.mode === 'points' ? body.points.length : 0 };
  }

  /** Load the flagged customers of the view (a newer load supersedes an older one); nothing while the layer is off. */
  function load() {
    if (!map.hasLayer(group)) return Promise.resolve(null);
    const seq = ++state.seq;
    return ctx.api.json(qualityPath(viewportBox(), map.getZoom(), state.filter)).then((body) => {
      if (seq === state.seq && map.hasLayer(group)) draw(body);
      return body;
    });
  }

  function setFilter(rule, field) {
    state.filter = normalizeFilter(rule, field);
    if (ui) { ui.rule.value = state.filter.rule; ui.field.value = state.filter.field; }
    return load();
  }

  group.on('add', () => { control.addTo(map); load().catch(ctx.report); });
  group.on('remove', () => { control.remove(); clear(); ++state.seq; state.body = ctx.ga.qualityBody = null; });
  map.on('moveend', () => { load().catch(ctx.report); });
  // the customers' canvas marks are redrawn on every viewport change: keep the rings on top (and first to a click)
  ctx.on('viewport', () => state.markers.forEach((m) => m.bringToFront()));

  ctx.loadQuality = load;
  ctx.setQualityFilter = setFilter;
  ctx.qualityMarkers = state.markers;
  ctx.qualityClusters = state.clusters;
}
