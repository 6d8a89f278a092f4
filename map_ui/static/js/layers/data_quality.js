/* Data-quality layer (issue 18): the customers whose contact data is stale, missing, invalid or
 * conflicting, from GET /api/v1/data-quality/viewport — server-side clusters with counts when many,
 * single customers (canvas rings coloured by their most serious finding) when few. A filter box
 * (rule, field) shows while the layer is on; a ring's click opens the customer's view, whose contact
 * form corrects the record (panels/contact.js). Off by default: a layer the user turns on.
 *
 * The box's mode "share verified per 台区 | per feeder" draws instead every area's outline (its customers'
 * hull, the heat layer's shapes, from GET /api/v1/data-quality?format=geojson) filled by the share of its
 * customers verified within the period (fixed classes, legend in the box); the period select applies to both
 * modes. A click on an area opens a side box with its figures and its stalest records (GET /data-quality with
 * transformer_id / feeder_id: ids and dates only, no personal data); an account there opens its view. */

import { el, box, fmt } from '../dom.js';
import { areaShape } from '../area_shape.js';
import { simplifyFor } from '../heat_style.js';
import {
  QUALITY_RULES, RULE_COLORS, fieldsFor, findingColor, flaggedCount, normalizeFilter, qualityPath, QUALITY_MODES,
  QUALITY_PERIODS, shareClass, shareColour, shareLegendRows, percent, areasPath, areaStalestPath
} from '../quality.js';

const MAX_SIMPLIFY = 0.01;       // the API's bound on the outline tolerance (degrees)
const STALEST = 20;              // stalest records listed for an area
export const SELECTED_COLOUR = '#1f5fa8';   // the outline of the area whose box is open

export function installDataQuality(ctx) {
  const { map, t } = ctx;
  const group = ctx.layers.data_quality;
  const state = { seq: 0, filter: { rule: '', field: '' }, body: null, markers: new Map(), clusters: [],
                  mode: 'customers', period: null, areasKey: null };
  const areaGroup = L.featureGroup();                       // the area outlines, on the shared canvas under the grid
  map.createPane('gaDqSelected').style.zIndex = 455;         // the open area's outline: above the grid, takes no clicks
  map.getPane('gaDqSelected').style.pointerEvents = 'none';
  const selected = L.featureGroup().addTo(group);
  const selectedRenderer = L.canvas({ pane: 'gaDqSelected', padding: 0.2 });
  const hook = ctx.qualityAreas = { by: null, body: null, drawn: [], list: null, loads: 0 };
  let ui = null;

  const control = box('ga-dq', (div) => {
    const mode = el('select', { id: 'ga-dq-mode', 'aria-label': t('dq_mode') },
      QUALITY_MODES.map((m) => el('option', { value: m, text: t('dq_mode_' + m) })));
    const period = el('select', { id: 'ga-dq-period', 'aria-label': t('dq_period') }, [el('option', { value: '', text: t('dq_period_default') })]
      .concat(QUALITY_PERIODS.map((d) => el('option', { value: String(d), text: fmt(d) + ' ' + t('dq_days') }))));
    const rule = el('select', { id: 'ga-dq-rule', 'aria-label': t('dq_rule') }, [el('option', { value: '', text: t('dq_any_rule') })]
      .concat(QUALITY_RULES.map((r) => el('option', { value: r, text: t('dq_rule_' + r) }))));
    const field = el('select', { id: 'ga-dq-field', 'aria-label': t('dq_field') });
    const count = el('div', { class: 'ga-dq-count', role: 'status', 'aria-live': 'polite' });
    const legend = el('div', { class: 'ga-dq-legend' }, QUALITY_RULES.slice().reverse().map((r) =>
      el('span', { class: 'ga-dq-key', 'data-rule': r }, [el('i', { style: 'border-color:' + RULE_COLORS[r] }), t('dq_rule_' + r)])));
    const areaLegend = el('div', { class: 'ga-dq-area-legend' }, [el('div', { class: 'ga-dq-lhead', text: t('dq_share_legend') })]
      .concat(shareLegendRows().map((r) => el('div', { class: 'ga-dq-lrow', 'data-cls': String(r.cls) },
        [el('span', { class: 'ga-dq-swatch', style: 'background:' + r.colour }), el('span', { text: r.label })]))));
    const ruleRows = el('div', { class: 'ga-dq-filters ga-dq-rule-filters' }, [
      el('label', { for: 'ga-dq-rule', text: t('dq_rule') }), rule, el('label', { for: 'ga-dq-field', text: t('dq_field') }), field]);
    div.appendChild(el('h4', { text: t('dq_title') }));
    div.appendChild(el('div', { class: 'ga-dq-filters' }, [
      el('label', { for: 'ga-dq-mode', text: t('dq_mode') }), mode, el('label', { for: 'ga-dq-period', text: t('dq_period') }), period]));
    div.appendChild(ruleRows);
    div.appendChild(count);
    div.appendChild(legend);
    div.appendChild(areaLegend);
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
    mode.addEventListener('change', () => { setMode(mode.value).catch(ctx.report); });
    period.addEventListener('change', () => { setPeriod(period.value ? Number(period.value) : null).catch(ctx.report); });
    ui = { rule, field, count, mode, period, legend, areaLegend, ruleRows };
    showMode();
  }, { position: 'bottomright' });

  /** The box shows what the mode uses: the rule filters and ring legend, or the share classes. */
  function showMode() {
    if (!ui) return;
    const areasMode = state.mode !== 'customers';
    ui.mode.value = state.mode;
    ui.period.value = state.period ? String(state.period) : '';
    ui.ruleRows.hidden = ui.legend.hidden = areasMode;
    ui.areaLegend.hidden = !areasMode;
  }

  /** The default period's option names the server's default once an answer told it. */
  function knowDefault(days) {
    if (ui && days) ui.period.options[0].textContent = t('dq_period_default') + ' (' + fmt(days) + ' ' + t('dq_days') + ')';
  }

  function viewportBox() {
    const b = map.getBounds().pad(0.05);
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)]
      .map((v) => v.toFixed(6));
  }

  function clear() {
    selected.clearLayers();
    areaGroup.clearLayers();
    group.removeLayer(areaGroup);
    state.areasKey = null;
    hook.drawn = [];
    hook.body = null;
    state.clusters.forEach((m) => group.removeLayer(m));
    state.clusters.length = 0;
    state.markers.forEach((m) => group.removeLayer(m));
    state.markers.clear();
  }

  function draw(body) {
    clear();
    state.body = ctx.ga.qualityBody = body;
    knowDefault(body.period_days);
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

  // ---------------------------------------------------------------- areas: share verified per 台区 / feeder
  function drawAreas(body, by, key) {
    clear();
    state.body = ctx.ga.qualityBody = null;
    state.areasKey = key;
    knowDefault(body.period_days);
    const drawn = [];
    body.features.forEach((f) => {
      if (!f.geometry) return;                               // the customers without a 台区 / feeder: no outline
      const p = f.properties;
      const colour = shareColour(p.share);
      const layer = areaShape(f, { color: '#5b6776', weight: 0.7, opacity: 0.8, fill: true, fillColor: colour, fillOpacity: 0.6 },
        ctx.canvas);
      layer.on('click', () => openArea(by, f.id, p, f).catch(ctx.report));
      layer.bindTooltip(f.id + ' · ' + percent(p.share) + ' ' + t('dq_share'), { sticky: true });
      areaGroup.addLayer(layer);
      drawn.push({ id: f.id, customers: p.customers, verified: p.verified, share: p.share, cls: shareClass(p.share), colour });
    });
    group.addLayer(areaGroup);
    areaGroup.eachLayer((l) => l.bringToBack());              // the grid and customers stay on top, and clickable
    Object.assign(hook, { by, body, drawn, period_days: body.period_days, simplify: key.split('|')[2] || null });
    if (hook.list && hook.list.by === by) {                    // the open area's box stays: its outline at the new tolerance
      const f = body.features.find((x) => x.id === hook.list.id);
      if (f) markSelected(f);
    }
    hook.loads += 1;
    if (ui) {
      const tot = body.totals || {};
      ui.count.textContent = fmt(drawn.length) + ' ' + t('dq_areas') + ' · ' + fmt(tot.verified || 0) + ' / ' +
        fmt(tot.customers || 0) + ' ' + t('dq_verified') + ' = ' + percent(tot.share);
      ui.count.setAttribute('data-count', String(drawn.length));
    }
  }

  function loadAreas() {
    const by = state.mode;
    const s = simplifyFor(map.getZoom());
    const simplify = s === null ? null : Math.min(s, MAX_SIMPLIFY);
    const key = [by, state.period || '', simplify === null ? '' : simplify].join('|');
    if (key === state.areasKey) return Promise.resolve(hook);   // the same outlines: nothing to ask
    const seq = ++state.seq;
    return ctx.api.json(areasPath(by, state.period, simplify)).then((body) => {
      if (seq === state.seq && map.hasLayer(group)) drawAreas(body, by, key);
      return hook;
    });
  }

  /** Load what the mode shows: the flagged customers of the view, or every area's share (a newer load supersedes
   * an older one); nothing while the layer is off. */
  function load() {
    if (!map.hasLayer(group)) return Promise.resolve(null);
    if (state.mode !== 'customers') return loadAreas();
    const seq = ++state.seq;
    return ctx.api.json(qualityPath(viewportBox(), map.getZoom(), state.filter, state.period)).then((body) => {
      if (seq === state.seq && map.hasLayer(group)) draw(body);
      return body;
    });
  }

  function setFilter(rule, field) {
    state.filter = normalizeFilter(rule, field);
    if (ui) { ui.rule.value = state.filter.rule; ui.field.value = state.filter.field; }
    return load();
  }

  function setMode(mode) {
    state.mode = QUALITY_MODES.indexOf(mode) >= 0 ? mode : 'customers';
    state.areasKey = null;
    showMode();
    closeArea();
    return load();
  }

  function setPeriod(days) {
    state.period = QUALITY_PERIODS.indexOf(days) >= 0 ? days : null;
    state.areasKey = null;
    showMode();
    closeArea();
    return load();
  }

  // ---------------------------------------------------------------- an area's figures and stalest records
  const areaDiv = el('aside', { class: 'ga-box ga-dq-area', role: 'dialog', 'aria-label': t('dq_area_title'), tabindex: '-1' });
  areaDiv.hidden = true;
  L.DomEvent.disableClickPropagation(areaDiv);
  L.DomEvent.disableScrollPropagation(areaDiv);
  map.getContainer().appendChild(areaDiv);
  areaDiv.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.stopPropagation(); closeArea(); } });
  let areaSeq = 0;

  function closeArea() {
    areaSeq += 1;
    areaDiv.hidden = true;
    selected.clearLayers();
    hook.list = null;
  }

  /** Open area `id`'s box: its figures (from the layer's answer) and its stalest records (asked now); its
   * outline (`feature`, default: the drawn one) is marked while the box is open. */
  async function openArea(by, id, figures, feature) {
    const mine = ++areaSeq;
    const f = feature || (hook.body && hook.body.features.find((x) => x.id === id));
    const p = figures || (f && f.properties);
    const body = await ctx.api.json(areaStalestPath(by, id, state.period, STALEST));
    if (mine !== areaSeq) return null;
    if (f) markSelected(f);
    renderArea(by, id, p || {}, body);
    return body;
  }

  function markSelected(f) {
    selected.clearLayers();
    if (!f.geometry) return;
    selected.addLayer(areaShape(f, { color: SELECTED_COLOUR, weight: 3, opacity: 1, fill: false, lineJoin: 'round' },
      selectedRenderer, false));
  }

  function renderArea(by, id, p, body) {
    hook.list = { by, id, figures: p, stalest: body.stalest };
    areaDiv.innerHTML = '';
    areaDiv.dataset.by = by;
    areaDiv.dataset.id = id;
    const close = el('button', { class: 'ga-close', type: 'button', title: t('close'), 'aria-label': t('close') }, '×');
    close.addEventListener('click', closeArea);
    areaDiv.appendChild(close);
    areaDiv.appendChild(el('h3', {}, [t('dq_by_' + by) + ' ', el('span', { class: 'ga-chip ga-dq-area-id', text: id })]));
    areaDiv.appendChild(el('div', { class: 'ga-subtitle', text: t('dq_period') + ' ' + fmt(body.period_days) + ' ' + t('dq_days') +
      ' (' + body.since + ' – ' + body.as_of + ')' }));
    areaDiv.appendChild(el('dl', { class: 'ga-dq-figures' }, [
      el('dt', { text: t('customers') }), el('dd', { class: 'ga-dq-customers', 'data-value': String(p.customers), text: fmt(p.customers) }),
      el('dt', { text: t('dq_verified') }), el('dd', { class: 'ga-dq-verified', 'data-value': String(p.verified), text: fmt(p.verified) }),
      el('dt', { text: t('dq_share') }), el('dd', { class: 'ga-dq-share', 'data-value': String(p.share), text: percent(p.share) })]));
    areaDiv.appendChild(el('h4', { text: t('dq_stalest') }));
    const rows = body.stalest.map((r) => {
      const acct = el('button', { type: 'button', class: 'ga-link ga-dq-acct', text: r.account_no });
      acct.addEventListener('click', () => ctx.openView(r.account_no).catch(ctx.report));
      return el('tr', { 'data-account': r.account_no }, [
        el('td', {}, acct),
        el('td', { class: 'ga-dq-when', text: r.contact_verified_at || t('dq_never') }),
        el('td', { class: 'ga-dq-days', text: r.days === null ? '—' : fmt(r.days) + ' ' + t('dq_days') })]);
    });
    areaDiv.appendChild(el('table', { class: 'ga-dq-stalest' }, [
      el('thead', {}, el('tr', {}, [t('account'), t('dq_verified_on'), t('dq_since')].map((h) => el('th', { text: h })))),
      el('tbody', {}, rows)]));
    areaDiv.hidden = false;
    close.focus();
  }

  group.on('add', () => { control.addTo(map); showMode(); load().catch(ctx.report); });
  group.on('remove', () => { control.remove(); clear(); closeArea(); ++state.seq; state.body = ctx.ga.qualityBody = null; });
  map.on('moveend', () => { load().catch(ctx.report); });
  // the customers' canvas marks are redrawn on every viewport change: keep the rings on top (and first to a click)
  ctx.on('viewport', () => state.markers.forEach((m) => m.bringToFront()));

  ctx.loadQuality = load;
  ctx.setQualityFilter = setFilter;
  ctx.setQualityMode = setMode;
  ctx.setQualityPeriod = setPeriod;
  ctx.openQualityArea = openArea;
  ctx.qualityMarkers = state.markers;
  ctx.qualityClusters = state.clusters;
}
