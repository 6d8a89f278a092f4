/* The heat layer (issue 14): where contacts and complaints concentrate, relative to the customers there.
 *
 * One overlay ("热力 Heat" in the layer control, offered when the role may read GET /api/v1/heat) with a
 * panel of filters: time range (presets or from/to), channels and kinds (the API's vocabulary, GET
 * /heat/vocabulary), and the view:
 *   - heat: Leaflet.heat over the H3 cells of the view (intensity from the cells' counts; the API picks
 *     the resolution from the zoom), each cell also an invisible hexagon that a click hits;
 *   - 台区 / feeder choropleth: each area's customer hull filled by its rate per 1,000 customers (class
 *     breaks of the whole city for the filters, from the API, shown in the legend; areas with customers and no
 *     contact drawn as 0).
 * Hotspots (GET /hotspots, city-wide Gi* with the FDR cut, one request per filter set, cached) are outlined:
 * hot red, cold blue. A click on an area lists its interactions (GET /heat/areas/{by}/{id}/interactions,
 * paged, masked by the server per role). Everything is drawn on canvases: the areas on the shared
 * ctx.canvas under the grid, the outlines and the heat on canvases of their own panes that take no clicks.
 * Reloads on moveend (debounced) and on every filter change; a newer load aborts the older requests.
 */

import { el, box, fmt } from '../dom.js';
import { areaShape } from '../area_shape.js';
import {
  DEFAULT_PRESET, PRESETS, HEAT_GRADIENT, HOT_COLOUR, COLD_COLOUR, ZERO_COLOUR, todayIn, presetRange, rangeProblem,
  resolutionFor, simplifyFor, heatQuery, classBreaks, classOf, colourOf, legendRows, heatPoints, pageLabel, localTime
} from '../heat_style.js';

const PAGE = 20;                 // interactions per page of the side list
const DEBOUNCE_MS = 250;
const NO_CUSTOMERS_COLOUR = '#c7cdd4';

export function installHeat(ctx) {
  const { map, t } = ctx;
  map.createPane('gaHeat').style.zIndex = 350;               // under the grid canvas (overlayPane, 400)
  map.getPane('gaHeat').style.pointerEvents = 'none';
  map.createPane('gaHeatOutline').style.zIndex = 455;        // above the grid and highlights, below DOM symbols
  map.getPane('gaHeatOutline').style.pointerEvents = 'none';
  const outlineRenderer = L.canvas({ pane: 'gaHeatOutline', padding: 0.2 });

  const group = L.layerGroup();                              // the overlay the layer control toggles
  const areas = L.featureGroup().addTo(group);               // choropleth / hit hexagons on ctx.canvas
  const outlines = L.featureGroup().addTo(group);
  const heat = L.heatLayer([], { pane: 'gaHeat', radius: 22, blur: 16, maxZoom: 0, max: 1, minOpacity: 0.25,
    gradient: HEAT_GRADIENT }).addTo(group);

  const st = { mode: 'heat', preset: DEFAULT_PRESET, from: null, to: null, channels: [], kinds: [], hotspots: true };
  let vocab = null;
  let panel = null, legendDiv = null, summaryDiv = null, msgDiv = null, topDiv = null;
  let seq = 0, areasAbort = null, hotInflight = null, timer = null;
  const hotCache = new Map();                                // filter key -> Promise of the hotspots GeoJSON
  const hook = ctx.ga.heat = { state: st, drawn: [], outlines: [], body: null, hotspots: null, breaks: [], list: null,
    timings: {}, loads: 0, query: null };

  const byOf = (mode) => (mode === 'heat' ? 'cell' : mode);
  const label = (kind, v) => { const k = 'heat_' + kind + '_' + v, s = t(k); return s === k ? v : s; };

  // ---------------------------------------------------------------- the overlay in the layer control
  let offered = false;
  function offer() {
    if (offered || !ctx.layerControl || !ctx.may('GET /api/v1/heat')) return;
    offered = true;
    ctx.layerControl.addOverlay(group, '<span class="ga-lc" style="color:#f03b20">▦</span>' + t('layer_heat'));
  }
  ctx.on('me', offer);
  offer();

  // The panel sits under the header, search results and buttons of the top-left corner, whose height changes
  // (a result list opens): its height follows so it never runs under the scale and status line at the bottom.
  const corners = ['.leaflet-top.leaflet-left', '.leaflet-bottom.leaflet-left'].map((q) => map.getContainer().querySelector(q));
  function fitPanel() {
    if (!panel || !panel.getContainer() || !panel.getContainer().isConnected) return;
    const c = panel.getContainer();
    const mapTop = map.getContainer().getBoundingClientRect().top;
    const top = c.getBoundingClientRect().top - mapTop;
    const shown = corners[1] ? [...corners[1].children].map((e) => e.getBoundingClientRect()).filter((r) => r.height > 0) : [];
    const below = shown.length ? Math.min(...shown.map((r) => r.top)) - mapTop : map.getSize().y - 70;
    c.style.maxHeight = Math.max(160, below - top - 8) + 'px';
  }
  if (typeof ResizeObserver !== 'undefined') corners.forEach((el) => el && new ResizeObserver(fitPanel).observe(el));
  map.on('resize', fitPanel);

  let firstLoad = null;
  group.on('add', () => {
    if (!panel) panel = box('ga-heat', buildPanel, { position: 'topleft' });
    panel.addTo(map);
    fitPanel();
    firstLoad = loadVocabulary().then(reload);
    firstLoad.catch(ctx.report);
  });
  group.on('remove', () => {
    if (panel) panel.remove();
    abortAll();
    if (hotInflight) hotInflight.ctrl.abort();
    closeList();
  });

  async function loadVocabulary() {
    if (vocab) return vocab;
    vocab = await ctx.api.json('/heat/vocabulary');
    st.channels = vocab.channels.slice();
    st.kinds = vocab.kinds.slice();
    setPreset(st.preset);
    renderFilters();
    return vocab;
  }

  function setPreset(preset) {
    st.preset = preset;
    const r = presetRange(preset, todayIn(vocab ? vocab.timezone : 'Asia/Shanghai'));
    if (r) { st.from = r.from; st.to = r.to; }
  }

  // ---------------------------------------------------------------- the panel
  let filtersDiv = null;
  function buildPanel(div) {
    div.setAttribute('role', 'region');
    div.setAttribute('aria-label', t('heat_title'));
    div.appendChild(el('h3', { text: t('heat_title') }));
    filtersDiv = el('div', { class: 'ga-heat-filters' });
    div.appendChild(filtersDiv);
    msgDiv = el('div', { class: 'ga-heat-msg', role: 'status' });
    summaryDiv = el('div', { class: 'ga-heat-summary' });
    legendDiv = el('div', { class: 'ga-heat-legend' });
    topDiv = el('div', { class: 'ga-heat-top' });
    div.append(msgDiv, summaryDiv, legendDiv, topDiv);
    renderFilters();
  }

  function renderFilters() {
    if (!filtersDiv) return;
    filtersDiv.innerHTML = '';
    const mode = el('select', { class: 'ga-heat-mode', 'aria-label': t('heat_mode') },
      ['heat', 'transformer', 'feeder'].map((m) => el('option', { value: m, text: t('heat_mode_' + m) })));
    mode.value = st.mode;
    mode.addEventListener('change', () => { st.mode = mode.value; closeList(); reload(); });
    filtersDiv.appendChild(el('label', { class: 'ga-heat-row' }, [el('span', { text: t('heat_mode') }), mode]));

    const preset = el('select', { class: 'ga-heat-preset', 'aria-label': t('heat_period') },
      PRESETS.map((p) => el('option', { value: p, text: t('heat_preset_' + p) })));
    preset.value = st.preset;
    const from = el('input', { type: 'date', class: 'ga-heat-from', 'aria-label': t('heat_from'), value: st.from || '' });
    const to = el('input', { type: 'date', class: 'ga-heat-to', 'aria-label': t('heat_to'), value: st.to || '' });
    preset.addEventListener('change', () => {
      setPreset(preset.value);
      from.value = st.from || ''; to.value = st.to || '';
      reload();
    });
    const typed = () => { st.preset = 'custom'; preset.value = 'custom'; st.from = from.value; st.to = to.value; reload(); };
    from.addEventListener('change', typed);
    to.addEventListener('change', typed);
    filtersDiv.appendChild(el('div', { class: 'ga-heat-row' }, [el('span', { text: t('heat_period') }), preset]));
    filtersDiv.appendChild(el('div', { class: 'ga-heat-row ga-heat-dates' }, [from, el('span', { text: '–' }), to]));
    if (!vocab) return;
    filtersDiv.appendChild(checks('channel', t('heat_channels'), vocab.channels, st.channels));
    filtersDiv.appendChild(checks('kind', t('heat_kinds'), vocab.kinds, st.kinds));
    const hot = el('input', { type: 'checkbox', class: 'ga-heat-hotspots' });
    hot.checked = st.hotspots;
    hot.addEventListener('change', () => { st.hotspots = hot.checked; reload(); });
    filtersDiv.appendChild(el('label', { class: 'ga-heat-check ga-heat-hot-toggle' }, [hot, ' ' + t('heat_hotspots')]));
  }

  function checks(kind, title, values, selected) {
    const fs = el('fieldset', { class: 'ga-heat-' + kind + 's' }, [el('legend', { text: title })]);
    values.forEach((v) => {
      const box_ = el('input', { type: 'checkbox', value: v, 'data-value': v });
      box_.checked = selected.includes(v);
      box_.addEventListener('change', () => {
        const list = kind === 'channel' ? st.channels : st.kinds;
        const i = list.indexOf(v);
        if (box_.checked && i < 0) list.push(v);
        if (!box_.checked && i >= 0) list.splice(i, 1);
        reload();
      });
      fs.appendChild(el('label', { class: 'ga-heat-check' }, [box_, ' ' + label(kind, v)]));
    });
    return fs;
  }

  /** Set filters from code (tests, links): {mode, preset, from, to, channels, kinds, hotspots}; returns the load. */
  async function setFilters(f) {
    await loadVocabulary();
    if (f.mode) st.mode = f.mode;
    if (f.preset) setPreset(f.preset);
    if (f.from) { st.from = f.from; st.preset = 'custom'; }
    if (f.to) { st.to = f.to; st.preset = 'custom'; }
    if (f.channels) st.channels = f.channels.slice();
    if (f.kinds) st.kinds = f.kinds.slice();
    if (f.hotspots !== undefined) st.hotspots = !!f.hotspots;
    renderFilters();
    return reload();
  }

  // ---------------------------------------------------------------- loading
  /** Supersede the current load: its heat request is aborted (a hotspot request is kept: another view of the
   * same filters needs the same answer; loadHotspots aborts it when the filters change). */
  function abortAll() {
    seq += 1;
    clearTimeout(timer);
    if (areasAbort) areasAbort.abort();
    areasAbort = null;
  }

  function bboxParam() {
    const b = map.getBounds().pad(0.25);
    const c = (v, lo, hi) => Math.min(hi, Math.max(lo, v)).toFixed(6);
    return [c(b.getWest(), -180, 180), c(b.getSouth(), -90, 90), c(b.getEast(), -180, 180), c(b.getNorth(), -90, 90)].join(',');
  }

  function filters() {
    return { by: byOf(st.mode), from: st.from, to: st.to, channels: st.channels, kinds: st.kinds };
  }

  function message(text) {
    if (msgDiv) msgDiv.textContent = text || '';
  }

  function clearDrawing() {
    areas.clearLayers();
    outlines.clearLayers();
    heat.setLatLngs([]);
    hook.drawn = [];
    hook.outlines = [];
    if (legendDiv) legendDiv.innerHTML = '';
    if (summaryDiv) summaryDiv.textContent = '';
    if (topDiv) topDiv.innerHTML = '';
  }

  /** Load and draw what the filters and the view ask for; resolves when drawn (or superseded). */
  async function reload() {
    if (!map.hasLayer(group) || !vocab) return null;
    abortAll();
    const mine = seq;
    const f = filters();
    const bad = rangeProblem(st.from, st.to);
    if (bad) { clearDrawing(); message(t('heat_bad_range') + ' (' + t('heat_' + bad) + ')'); return null; }
    const zoom = map.getZoom();
    const q = heatQuery(f, vocab, { bbox: bboxParam(), zoom: f.by === 'cell' ? zoom : null, format: 'geojson',
      simplify: f.by === 'cell' ? null : simplifyFor(zoom) });            // 12,404 台区 hulls at a city view
    if (q === null) { clearDrawing(); message(t('heat_pick_one')); return null; }
    message(t('loading'));
    hook.query = q;
    const ctrl = areasAbort = new AbortController();
    const t0 = performance.now();
    const jobs = [ctx.api.json('/heat?' + q, { signal: ctrl.signal }).then((body) => {
      hook.timings.heat_ms = performance.now() - t0;
      if (mine !== seq) return;
      drawAreas(body, f.by);
    })];
    if (st.hotspots) jobs.push(loadHotspots(f, zoom, mine));
    else { outlines.clearLayers(); hook.outlines = []; hook.hotspots = null; }
    try {
      await Promise.all(jobs);
    } catch (e) {
      if (mine !== seq || (e && e.name === 'AbortError') || ctrl.signal.aborted) return null;   // superseded
      message('');
      throw e;
    }
    if (mine !== seq) return null;
    message('');
    hook.loads += 1;
    renderSummary();
    ctx.emit('heat', hook);
    return hook;
  }

  function loadHotspots(f, zoom, mine) {
    const res = f.by === 'cell' ? resolutionFor(zoom) : null;
    const q = heatQuery(f, vocab, { zoom: res === null ? null : zoom, format: 'geojson' });
    const key = q.replace(/&zoom=[^&]*/, '') + '|' + res;
    let p = hotCache.get(key);
    if (!p) {
      if (hotInflight && hotInflight.key !== key) hotInflight.ctrl.abort();   // filters changed: its answer is stale
      const ctrl = new AbortController();
      const inflight = hotInflight = { key, ctrl };
      const t0 = performance.now();
      p = ctx.api.json('/hotspots?' + q, { signal: ctrl.signal }).then((body) => {
        hook.timings.hotspots_ms = performance.now() - t0;
        return body;
      });
      hotCache.set(key, p);
      p.catch(() => hotCache.delete(key))                    // aborted or failed: ask again next time
        .finally(() => { if (hotInflight === inflight) hotInflight = null; });
      if (hotCache.size > 24) hotCache.delete(hotCache.keys().next().value);
    }
    // an aborted request belongs to filters an older load asked for: only the current load reports errors
    return p.then((body) => { if (mine === seq) drawOutlines(body); }, (e) => { if (mine === seq) throw e; });
  }

  // ---------------------------------------------------------------- drawing
  const shape = (feature, style, renderer = ctx.canvas, interactive = true) => areaShape(feature, style, renderer, interactive);

  function drawAreas(body, by) {
    hook.body = body;
    areas.clearLayers();
    const props = body.features.map((f) => f.properties);
    const drawn = [];
    if (by === 'cell') {
      heat.setLatLngs(heatPoints(props));
      hook.breaks = [];
      body.features.forEach((f) => {
        if (!f.geometry) return;
        const layer = shape(f, { stroke: false, fill: true, fillOpacity: 0 });
        layer.on('click', () => openList('cell', f.id, f.properties).catch(ctx.report));
        areas.addLayer(layer);
        drawn.push({ id: f.id, count: f.properties.count, customers: f.properties.customers, rate: f.properties.rate });
      });
      renderHeatLegend(props);
    } else {
      heat.setLatLngs([]);
      // the API's breaks are the whole city's (same filters): a district is coloured on the city's scale
      const breaks = hook.breaks = Array.isArray(body.breaks) ? body.breaks : classBreaks(props.map((p) => p.rate));
      body.features.forEach((f) => {
        if (!f.geometry) return;                              // an area without customers has no hull
        const p = f.properties;
        const colour = colourOf(p.rate, breaks) || NO_CUSTOMERS_COLOUR;
        const layer = shape(f, { color: '#5b6776', weight: 0.7, opacity: 0.8, fill: true, fillColor: colour, fillOpacity: 0.6 });
        layer.on('click', () => openList(by, f.id, p).catch(ctx.report));
        areas.addLayer(layer);
        drawn.push({ id: f.id, count: p.count, customers: p.customers, rate: p.rate, cls: classOf(p.rate, breaks), colour });
      });
      renderChoroplethLegend(breaks);
    }
    areas.eachLayer((l) => l.bringToBack());                 // the grid and customers stay on top, and clickable
    hook.drawn = drawn;
  }

  function drawOutlines(body) {
    hook.hotspots = body;
    outlines.clearLayers();
    const out = [];
    body.features.forEach((f) => {
      if (!f.geometry || f.properties.hot === null) return;
      const colour = f.properties.hot ? HOT_COLOUR : COLD_COLOUR;
      const layer = shape(f, { color: colour, weight: 3, opacity: 1, fill: false, lineJoin: 'round' }, outlineRenderer, false);
      outlines.addLayer(layer);
      out.push({ id: f.id, hot: f.properties.hot, z: f.properties.z, p: f.properties.p, geometry: f.geometry });
    });
    hook.outlines = out;
  }

  // ---------------------------------------------------------------- legend and summary
  function swatch(colour, cls) {
    return el('span', { class: 'ga-heat-swatch' + (cls ? ' ' + cls : ''), style: 'background:' + colour });
  }

  function hotspotRows() {
    if (!st.hotspots) return [];
    return [el('div', { class: 'ga-heat-lrow' }, [el('span', { class: 'ga-heat-swatch ga-heat-outline', style: 'border-color:' + HOT_COLOUR }), t('heat_hot')]),
      el('div', { class: 'ga-heat-lrow' }, [el('span', { class: 'ga-heat-swatch ga-heat-outline', style: 'border-color:' + COLD_COLOUR }), t('heat_cold')])];
  }

  function renderChoroplethLegend(breaks) {
    if (!legendDiv) return;
    legendDiv.innerHTML = '';
    legendDiv.appendChild(el('h4', { text: t('heat_rate_legend') }));
    legendRows(breaks).forEach((r) => {
      legendDiv.appendChild(el('div', { class: 'ga-heat-lrow', 'data-cls': String(r.cls) },
        [swatch(r.colour, r.colour === ZERO_COLOUR ? 'ga-heat-zero' : ''), el('span', { class: 'ga-heat-range', text: r.label })]));
    });
    legendDiv.append(...hotspotRows());
  }

  function renderHeatLegend(props) {
    if (!legendDiv) return;
    let max = 0;
    props.forEach((p) => { if (p.count > max) max = p.count; });
    legendDiv.innerHTML = '';
    legendDiv.appendChild(el('h4', { text: t('heat_per_cell') }));
    const stops = Object.keys(HEAT_GRADIENT).sort((a, b) => a - b)          // '1' would come first: an integer key
      .map((k) => HEAT_GRADIENT[k] + ' ' + Math.round(k * 100) + '%').join(',');
    legendDiv.appendChild(el('div', { class: 'ga-heat-ramp', style: 'background:linear-gradient(to right,' + stops + ')' }));
    legendDiv.appendChild(el('div', { class: 'ga-heat-ramp-labels' }, [el('span', { text: '1' }), el('span', { class: 'ga-heat-max', text: fmt(max) })]));
    legendDiv.append(...hotspotRows());
  }

  function renderSummary() {
    if (!summaryDiv || !hook.body) return;
    const tot = hook.body.totals || {};
    const parts = [fmt(hook.drawn.length) + ' ' + t('heat_areas'), fmt(tot.count || 0) + ' ' + t('heat_contacts')];
    if (tot.rate !== null && tot.rate !== undefined) parts.push(fmt(tot.rate) + ' ' + t('heat_per_1000'));
    if (st.hotspots && hook.hotspots) parts.push(t('heat_hot') + ' ' + hook.hotspots.hot + ' · ' + t('heat_cold') + ' ' + hook.hotspots.cold);
    summaryDiv.textContent = parts.join(' · ');
    renderTop();
  }

  /** The areas in view with the highest rate (cells: the most contacts) as buttons that open their list:
   * what a manager reads first, and the keyboard's way to an area (the canvas takes clicks only). */
  function renderTop() {
    if (!topDiv) return;
    topDiv.innerHTML = '';
    const by = byOf(st.mode);
    const key = by === 'cell' ? (a) => a.count : (a) => (a.rate === null ? -1 : a.rate);
    const top = hook.drawn.filter((a) => a.count > 0).sort((a, b) => key(b) - key(a) || (a.id < b.id ? -1 : 1)).slice(0, 5);
    if (!top.length) return;
    topDiv.appendChild(el('h4', { text: t('heat_top') }));
    const ol = el('ol', {});
    top.forEach((a) => {
      const text = (by === 'cell' ? '' : a.id + ' · ') + fmt(a.count) + ' ' + t('heat_contacts') +
        (a.rate !== null && a.rate !== undefined ? ' · ' + fmt(a.rate) + ' ' + t('heat_per_1000') : '');
      const b = el('button', { type: 'button', class: 'ga-heat-top-item', 'data-id': a.id, text });
      b.addEventListener('click', () => openList(by, a.id, a).catch(ctx.report));
      ol.appendChild(el('li', {}, b));
    });
    topDiv.appendChild(ol);
  }

  // ---------------------------------------------------------------- the side list of an area's interactions
  const listDiv = el('aside', { class: 'ga-box ga-heat-list', role: 'dialog', 'aria-label': t('heat_list_title'), tabindex: '-1' });
  listDiv.hidden = true;
  L.DomEvent.disableClickPropagation(listDiv);
  L.DomEvent.disableScrollPropagation(listDiv);
  map.getContainer().appendChild(listDiv);
  listDiv.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.stopPropagation(); closeList(); } });
  let listCtrl = null;

  function closeList() {
    if (listCtrl) listCtrl.abort();
    listDiv.hidden = true;
    hook.list = null;
  }

  /** Open the side list of area `id` (by cell | transformer | feeder) at `offset`, with the panel's filters. */
  async function openList(by, id, area, offset = 0) {
    if (listCtrl) listCtrl.abort();
    const ctrl = listCtrl = new AbortController();
    const f = Object.assign(filters(), { by });
    const q = heatQuery(f, vocab, { limit: PAGE, offset });
    if (q === null) return null;
    const path = '/heat/areas/' + encodeURIComponent(by) + '/' + encodeURIComponent(id) + '/interactions?' +
      q.replace(/^by=[^&]*&/, '');
    let body;
    try {
      body = await ctx.api.json(path, { signal: ctrl.signal });
    } catch (e) {
      if (ctrl.signal.aborted) return null;
      throw e;
    }
    renderList(body, by, id, area || {});
    return body;
  }

  function renderList(body, by, id, area) {
    hook.list = body;
    listDiv.innerHTML = '';
    listDiv.dataset.by = by;
    listDiv.dataset.id = id;
    listDiv.dataset.count = String(body.count);
    listDiv.dataset.texts = String(body.texts);
    const close = el('button', { class: 'ga-close', type: 'button', title: t('close'), 'aria-label': t('close') }, '×');
    close.addEventListener('click', closeList);
    listDiv.appendChild(close);
    listDiv.appendChild(el('h3', {}, [t('heat_by_' + by) + ' ', el('span', { class: 'ga-chip ga-heat-area-id', text: id })]));
    const sub = [st.kinds.length === vocab.kinds.length ? t('heat_all_kinds') : st.kinds.map((k) => label('kind', k)).join('、'),
      body.from + ' – ' + body.to];
    if (area.customers !== undefined) {
      sub.push(fmt(area.count) + ' / ' + fmt(area.customers) + ' ' + t('customers') +
        (area.rate !== null && area.rate !== undefined ? ' = ' + fmt(area.rate) + ' ' + t('heat_per_1000') : ''));
    }
    listDiv.appendChild(el('div', { class: 'ga-subtitle', text: sub.join(' · ') }));
    listDiv.appendChild(el('div', { class: 'ga-heat-total' }, [el('b', { class: 'ga-heat-count', text: fmt(body.count) }), ' ' + t('heat_interactions')]));
    if (!body.texts) listDiv.appendChild(el('div', { class: 'ga-heat-masked', text: t('heat_texts_hidden') }));
    const head = [t('heat_time'), t('heat_channel'), t('heat_kind'), t('account'), t('heat_phone')].concat(body.texts ? [t('heat_text')] : []);
    const rows = body.data.map((r) => el('tr', { 'data-id': r.id }, [
      el('td', { class: 'ga-heat-when', text: localTime(r.occurred_at, vocab.timezone) }),
      el('td', { text: label('channel', r.channel) }),
      el('td', { text: label('kind', r.kind) }),
      el('td', { class: 'ga-heat-acct', text: r.account_no || '—' }),
      el('td', { class: 'ga-heat-phone', text: r.caller_phone || '—' })
    ].concat(body.texts ? [el('td', { class: 'ga-heat-text', text: r.text || '' })] : [])));
    listDiv.appendChild(el('table', { class: 'ga-heat-rows' }, [
      el('thead', {}, el('tr', {}, head.map((h) => el('th', { text: h })))), el('tbody', {}, rows)]));
    const prev = el('button', { type: 'button', class: 'ga-btn ga-secondary ga-heat-prev', text: t('heat_prev') });
    const next = el('button', { type: 'button', class: 'ga-btn ga-secondary ga-heat-next', text: t('heat_next') });
    prev.disabled = body.offset <= 0;
    next.disabled = body.offset + body.data.length >= body.count;
    prev.addEventListener('click', () => openList(by, id, area, Math.max(0, body.offset - PAGE)).catch(ctx.report));
    next.addEventListener('click', () => openList(by, id, area, body.offset + PAGE).catch(ctx.report));
    listDiv.appendChild(el('div', { class: 'ga-heat-pager' }, [prev, el('span', { class: 'ga-heat-page', text: pageLabel(body.offset, body.data.length, body.count) }), next]));
    listDiv.hidden = false;
    close.focus();
  }

  // ---------------------------------------------------------------- reload on move
  map.on('moveend', () => {
    if (!map.hasLayer(group)) return;
    clearTimeout(timer);
    timer = setTimeout(() => reload().catch(ctx.report), DEBOUNCE_MS);
  });

  Object.assign(hook, {
    group, show: () => { offer(); if (map.hasLayer(group)) return Promise.resolve(hook); map.addLayer(group); return firstLoad; },
    hide: () => map.removeLayer(group), setFilters, reload: () => reload(), openList, closeList,
    heatCanvas: () => heat._canvas || null
  });
  ctx.heat = hook;
}
