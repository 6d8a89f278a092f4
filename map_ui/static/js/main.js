/* GridAtlas map: the composition root of the page (native ES modules, no build step).
 *
 * Leaflet is a classic script served by the app from its installed package (/vendor/...); there
 * is no basemap. The grid comes as level-of-detail tiles (layers/grid.js), customers from the
 * viewport (layers/customers.js); panels: sign-in, search, status, legend, trace, customer view.
 * Every module gets the shared `ctx` (map, api client, store, layers) and adds what it offers.
 *
 * Test hooks: window.gridatlas = {map, layers, ready, counts, features(), highlight, openCustomer,
 * openFeature, showUpstream, showDownstream, clearHighlight, highlightedSegmentIds,
 * highlightedTransformerIds, errors, openView, view, viewport, viewportBody, viewportMarkers,
 * loadViewport, search, clickAt, grid, fitExtent, live (the stream's state), notices (alert id -> notice),
 * showAlert(id), call (the open incoming call), openCall(id), me (GET /me once loaded), troubleCalls (the
 * trouble-call layer: state, open(), load(), setWindow(preset, custom), focusDevice(id)), loadQuality,
 * setQualityFilter(rule, field), qualityMarkers (account -> ring), qualityClusters, quality, qualityBody,
 * consultation (the planner's consultation panel: open(planId), openList(), state(), repliesShownAt),
 * heat (layers/heat.js)}.
 */

import { createApi, takeKeyFromHash } from './api.js';
import { createStore } from './store.js';
import { fmt } from './dom.js';
import { LV_COLOR } from './labels.js';
import { installStatus } from './panels/status.js';
import { installPopups } from './panels/popup.js';
import { installGrid } from './layers/grid.js';
import { installSearch } from './panels/search.js';
import { installTrace } from './panels/trace.js';
import { installCustomers } from './layers/customers.js';
import { installView } from './panels/view.js';
import { installContact } from './panels/contact.js';
import { installLegend } from './panels/legend.js';
import { installHeat } from './layers/heat.js';
import { installSignIn } from './panels/signin.js';
import { installPlan } from './panels/plan.js';
import { installLive } from './live.js';
import { installAlerts } from './panels/alerts.js';
import { installCalls } from './panels/calls.js';
import { installTroubleCalls } from './layers/trouble_calls.js';
import { installConsultation } from './panels/consultation.js';
import { installMe } from './me.js';
import { installDataQuality } from './layers/data_quality.js';
import { pickLanguage, translator, LANG_STORE } from './i18n.js';

const store = createStore({});
const ctx = { store, on: store.on, emit: store.emit, counts: {} };
ctx.lang = pickLanguage(location.search, localStorage.getItem(LANG_STORE), navigator.languages || [navigator.language]);
ctx.t = translator(ctx.lang);
document.documentElement.lang = ctx.lang === 'zh' ? 'zh-CN' : 'en';
ctx.switchLanguage = (lang) => {
  localStorage.setItem(LANG_STORE, lang);
  location.replace(location.pathname + location.search.replace(/[?&]lang=(zh|en)\b/, ''));   // the key stays in sessionStorage
};
const t = ctx.t;
ctx.api = createApi({ storage: sessionStorage, t, onUnauthorized: (e) => ctx.showSignIn(e.problem && e.problem.detail ? e.problem.detail : e.message) });

// ------------------------------------------------------------------ the map
const map = ctx.map = L.map('map', {
  zoomControl: false, minZoom: 3, maxZoom: 20, zoomSnap: 0.5, wheelPxPerZoomLevel: 90,
  center: [30, 110], zoom: 4                    // until the data extent is known
});
map.attributionControl.setPrefix('Leaflet · GridAtlas');
map.createPane('gaHighlight').style.zIndex = 450;    // above the grid canvas, below DOM symbols
map.createPane('gaRings').style.zIndex = 640;        // rings above the symbols
map.getPane('gaRings').style.pointerEvents = 'none';
ctx.canvas = L.canvas({ padding: 0.2, tolerance: 3 });   // one canvas for grid and customers: clicks reach every path

const layers = ctx.layers = {
  trunks: L.featureGroup(),
  mv_lines: L.featureGroup(),
  lv_lines: L.featureGroup(),
  substations: L.featureGroup(),
  switches: L.featureGroup(),
  transformers: L.featureGroup(),
  meter_boxes: L.featureGroup(),
  customers: L.featureGroup(),      // single customers (canvas) and server-side clusters of the viewport
  sensitive_customers: L.featureGroup(),
  highlight: L.featureGroup(),
  trouble_calls: L.featureGroup(),  // probable failed devices of the repair calls (issue 15): drawn when its panel opens
  data_quality: L.featureGroup()    // customers with stale / missing / invalid / conflicting contact data (off until chosen)
};
const OFF_AT_START = new Set(['trouble_calls', 'data_quality']);
Object.entries(layers).forEach(([name, g]) => { if (!OFF_AT_START.has(name)) g.addTo(map); });

const OVERLAYS = [
  ['substations', '<span class="ga-lc">■</span>' + t('layer_substations')],
  ['trunks', '<span class="ga-lc" style="color:#1f77b4">━</span>' + t('layer_trunks')],
  ['mv_lines', '<span class="ga-lc" style="color:#1f77b4">━</span>' + t('layer_mv')],
  ['lv_lines', '<span class="ga-lc" style="color:' + LV_COLOR + '">─</span>' + t('layer_lv')],
  ['switches', '<span class="ga-lc">●</span>' + t('layer_switches')],
  ['transformers', '<span class="ga-lc">▪</span>' + t('layer_transformers')],
  ['meter_boxes', '<span class="ga-lc" style="color:#7d8b99">▪</span>' + t('layer_meter_boxes')],
  ['customers', '<span class="ga-lc" style="color:#34495e">◉</span>' + t('layer_customers')],
  ['sensitive_customers', '<span class="ga-lc" style="color:#c2185b">◆</span>' + t('layer_sensitive')],
  ['highlight', '<span class="ga-lc" style="color:#e0b800">━</span>' + t('layer_highlight')],
  ['trouble_calls', '<span class="ga-lc" style="color:#c0392b">⬤</span>' + t('layer_trouble_calls')],
  ['data_quality', '<span class="ga-lc" style="color:#d7261e">◎</span>' + t('layer_data_quality')]
];
const layerControl = L.control.layers(null, null, { collapsed: false, position: 'topright' }).addTo(map);
OVERLAYS.forEach((o) => layerControl.addOverlay(layers[o[0]], o[1]));
ctx.layerControl = layerControl;                          // layers offered by role add their rows (heat)
ctx.rightPanelsWidth = () => Math.max(ctx.legendDiv ? ctx.legendDiv.offsetWidth : 0, layerControl.getContainer().offsetWidth);

function relabelOverlays() {
  const n = {
    substations: ctx.counts.substations, switches: ctx.counts.switches, transformers: ctx.counts.transformers,
    meter_boxes: ctx.counts.meter_boxes, trunks: ctx.counts.trunks, customers: ctx.counts.customers,
    mv_lines: ctx.counts.mv_segments, lv_lines: ctx.counts.lv_segments
  };
  layerControl.getContainer().querySelectorAll('.leaflet-control-layers-overlays label').forEach((label, i) => {
    const key = OVERLAYS[i] && OVERLAYS[i][0];
    const span = label.querySelector('span > span') || label.querySelector('span');
    if (!key || !span) return;
    let small = span.querySelector('small.ga-count');
    if (n[key] === undefined) { if (small) small.remove(); return; }
    if (!small) { small = document.createElement('small'); small.className = 'ga-count'; span.appendChild(small); }
    small.textContent = ' (' + fmt(n[key]) + ')';
  });
}

// ------------------------------------------------------------------ modules
installStatus(ctx);
installMe(ctx);
installPopups(ctx);
installGrid(ctx);
installSearch(ctx);
L.control.zoom({ position: 'topleft', zoomInTitle: t('zoom_in'), zoomOutTitle: t('zoom_out') }).addTo(map);
L.control.scale({ imperial: false, position: 'bottomleft', maxWidth: 160 }).addTo(map);
installTrace(ctx);
installCustomers(ctx);
installContact(ctx);
installView(ctx);
installLegend(ctx);
installDataQuality(ctx);

function countGrid() {
  const f = ctx.gridFeatures();
  ctx.counts.substations = f.substations.size;
  ctx.counts.switches = f.switches.size;
  ctx.counts.transformers = f.transformers.size;
  ctx.counts.meter_boxes = f.meter_boxes.size;
  ctx.counts.trunks = f.trunks.size;
  let mv = 0, lv = 0;
  f.segments.forEach((s) => { if (s.properties.layer === 'lv') lv += 1; else mv += 1; });
  ctx.counts.segments = mv + lv;
  ctx.counts.mv_segments = mv;
  ctx.counts.lv_segments = lv;
}
ctx.on('grid', () => { countGrid(); relabelOverlays(); });
ctx.on('viewport', relabelOverlays);

// ------------------------------------------------------------------ test hooks and start
const ga = ctx.ga = window.gridatlas = {
  map, layers, counts: ctx.counts, highlight: null, errors: ctx.errors, feederColor: null,
  features: () => ctx.gridFeatures(), grid: null, view: null, viewport: null, viewportBody: null, nearest: null,
  viewportMarkers: ctx.viewportMarkers, customerMarkers: ctx.customerMarkers, customerFeatures: ctx.customerFeatures,
  openCustomer: ctx.openCustomer, openFeature: ctx.openFeature, showUpstream: ctx.showUpstream,
  showDownstream: ctx.showDownstream, clearHighlight: ctx.clearHighlight,
  highlightedSegmentIds: ctx.highlightedSegmentIds, highlightedTransformerIds: ctx.highlightedTransformerIds,
  zoomToHighlight: ctx.zoomToHighlight, fitExtent, openView: ctx.openView, loadViewport: ctx.loadViewport,
  search: ctx.search, clickAt: ctx.clickAt, openContactForm: ctx.openContactForm, signedIn: false, timings: {},
  loadQuality: ctx.loadQuality, setQualityFilter: ctx.setQualityFilter, qualityMarkers: ctx.qualityMarkers,
  qualityClusters: ctx.qualityClusters, quality: null, qualityBody: null,
  qualityAreas: ctx.qualityAreas, setQualityMode: ctx.setQualityMode, setQualityPeriod: ctx.setQualityPeriod
};
ga.grid = ctx.grid;
installHeat(ctx);                   // issue 14: heat / choropleth overlay, offered once /me allows GET /heat
ctx.on('me', relabelOverlays);      // a row added by role re-renders the layer control: put the counts back
installPlan(ctx);
installLive(ctx);
installAlerts(ctx);
installCalls(ctx);
installTroubleCalls(ctx);
installConsultation(ctx);
ga.live = ctx.live.state;
ga.liveControl = ctx.live;

let extent = null;
function fitExtent() {
  if (!extent) return false;
  const size = map.getSize();
  const wide = size.x > 900;
  map.fitBounds(extent, {
    paddingTopLeft: [wide ? 40 : 10, wide ? 30 : 10],
    paddingBottomRight: [wide ? ctx.rightPanelsWidth() + 20 : 10, wide ? 30 : 10],
    maxZoom: 19, animate: false
  });
  return true;
}

let moveTimer = null;
function onMove() {
  clearTimeout(moveTimer);
  moveTimer = setTimeout(() => {
    ctx.grid.update().catch(ctx.report);
    ctx.loadViewport().catch(ctx.report);
  }, 60);
}

async function start() {
  const t0 = performance.now();
  const info = await ctx.api.json('/tiles/grid');
  if (!info.bounds) throw new Error(t('no_grid'));
  extent = L.latLngBounds([info.bounds[1], info.bounds[0]], [info.bounds[3], info.bounds[2]]);
  fitExtent();
  const jobs = [ctx.grid.update(), ctx.loadViewport()];
  const results = await Promise.allSettled(jobs);
  map.on('moveend', onMove);
  ga.timings.ready_ms = performance.now() - t0;
  const failures = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
  failures.forEach((e) => ctx.report(e));
  countGrid();
  relabelOverlays();
  ctx.renderLegend();
  const total = ['substations', 'segments', 'switches', 'transformers', 'meter_boxes'].reduce((s, k) => s + (ctx.counts[k] || 0), 0) + (ctx.counts.trunks || 0);
  ctx.setStatus((failures.length ? t('partly_loaded') : t('loaded')) + ' ' + fmt(total) + ' ' + t('features') + ' · ' +
    (ctx.counts.customers !== undefined ? fmt(ctx.counts.customers) + ' ' + t('customers') + ' (' + fmt(ctx.sensitiveInView || 0) + ' ' + t('sensitive') + ') · ' : '') +
    (ctx.feedersInView || []).length + ' ' + t('feeders_in_view'), true);
  if (failures.length) throw new Error('the map failed to load: ' + failures.map((e) => e.message).join('; '));
  return ctx.counts;
}

let resolveSignedIn;
const signedIn = new Promise((resolve) => { resolveSignedIn = resolve; });
let started = false;
installSignIn(ctx, { onSignedIn: () => {
  if (started) ctx.loadMe().catch((e) => { if (e && e.status !== 401) ctx.report(e); });   // another key: what it may do
  resolveSignedIn();
} });
const showSignIn = ctx.showSignIn;
ctx.showSignIn = (reason) => {      // a 401 or sign-out ends the live stream and forgets what the key may do
  ctx.live.stop(); ctx.me = null; ctx.ga.me = null; showSignIn(reason);
};
signedIn.then(() => ctx.live.start());
takeKeyFromHash(location, history, sessionStorage);
if (ctx.api.key()) { ga.signedIn = true; resolveSignedIn(); } else { ctx.setStatus(t('please_sign_in'), true); ctx.showSignIn(null); }

// who the key is (what to offer) loads beside the map, not before it
ga.ready = signedIn.then(() => {
  started = true;
  const me = ctx.loadMe().catch((e) => { if (e && e.status !== 401) ctx.report(e); });
  return start().then(async (counts) => { await me; return counts; });
});
ga.ready.catch((e) => { if (e && e.status !== 401) ctx.report(e); });
