/* Customers of the view (GET /api/v1/viewport): single customers on the canvas (sensitive ones as
 * DOM diamonds, few), server-side clusters above the server's threshold; a map click opens the
 * nearest customer (GET /api/v1/nearest). Also opening a customer or a grid element by id. */

import { ApiError } from '../api.js';
import { customerMarker, sensitiveIcon, clusterIcon } from './symbols.js';

const CLICK_RADIUS_PX = 24;           // a map click looks for customers within this many screen pixels
export const CUSTOMER_MIN_ZOOM = 15;  // the district band: below it the map shows the grid's trunks only

export function installCustomers(ctx) {
  const { map, layers } = ctx;
  const features = new Map();         // account -> feature of the customers drawn
  const markers = new Map();          // account -> marker
  const sensitive = new Set();
  const vp = { seq: 0, key: null, pending: null, clusters: [] };

  function viewportBox() {
    const b = map.getBounds().pad(0.05);
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)]
      .map((v) => v.toFixed(6));
  }

  /** Load the customers of the visible bbox (deduplicated; a newer load supersedes an older one).
   * At city zoom (below CUSTOMER_MIN_ZOOM) none are drawn: substations and feeder trunks only. */
  function loadViewport() {
    const zoom = map.getZoom();
    if (zoom < CUSTOMER_MIN_ZOOM) {
      ++vp.seq;
      vp.key = null;
      draw({ mode: 'none', count: null, sensitive_count: null, zoom, points: [], clusters: [], max_points: null });
      return Promise.resolve(ctx.ga.viewportBody);
    }
    const key = viewportBox().join(',') + '@' + zoom;
    if (vp.pending && vp.key === key) return vp.pending;
    const seq = ++vp.seq;
    vp.key = key;
    const p = ctx.api.json('/viewport?bbox=' + encodeURIComponent(viewportBox().join(',')) + '&zoom=' + zoom).then((body) => {
      if (seq === vp.seq) draw(body);
      return body;
    });
    vp.pending = p;
    p.then(() => { if (vp.pending === p) vp.pending = null; }, () => { if (vp.pending === p) vp.pending = null; });
    return p;
  }

  function addCustomer(pt) {
    const acct = String(pt.account_no);
    const f = { type: 'Feature', id: acct, geometry: { type: 'Point', coordinates: [pt.lon, pt.lat] }, properties: pt };
    const ll = L.latLng(pt.lat, pt.lon);
    let m;
    if (pt.sensitivity) {
      sensitive.add(acct);
      m = L.marker(ll, { icon: sensitiveIcon(pt.sensitivity), zIndexOffset: 800, title: acct + ' · ' + pt.sensitivity });
      layers.sensitive_customers.addLayer(m);
    } else {
      m = customerMarker(ll, ctx.canvas);
      layers.customers.addLayer(m);
    }
    ctx.bindFeature(m, 'customer', f);
    features.set(acct, f);
    markers.set(acct, m);
  }

  function draw(body) {
    vp.clusters.forEach((m) => layers.customers.removeLayer(m));
    vp.clusters.length = 0;
    ctx.ga.viewportBody = body;
    const keep = new Set();
    if (body.mode === 'points') {
      body.points.forEach((pt) => {
        const acct = String(pt.account_no);
        keep.add(acct);
        if (!markers.has(acct)) addCustomer(pt);
      });
    }
    markers.forEach((m, acct) => {
      if (keep.has(acct)) return;
      layers.customers.removeLayer(m);
      layers.sensitive_customers.removeLayer(m);
      markers.delete(acct);
      features.delete(acct);
      sensitive.delete(acct);
    });
    if (body.mode === 'clusters') {
      body.clusters.forEach((c) => {
        const m = L.marker([c.lat, c.lon], { icon: clusterIcon(c.count, c.sensitive_count, ctx.t('plan_sensitive')), keyboard: false,
          title: c.count + ' ' + ctx.t('customers') + (c.sensitive_count ? ' · ' + c.sensitive_count + ' ' + ctx.t('sensitive') : '') });
        m.options.gaCount = c.count;
        m.on('click', () => map.setView(m.getLatLng(), Math.min(map.getZoom() + 2, 20)));
        vp.clusters.push(m);
        layers.customers.addLayer(m);
      });
    }
    ctx.counts.customers = body.count === null ? undefined : body.count;
    ctx.sensitiveInView = body.sensitive_count;
    ctx.ga.viewport = { mode: body.mode, count: body.count, sensitive_count: body.sensitive_count, zoom: body.zoom,
      clusters: body.mode === 'clusters' ? body.clusters.length : 0,
      points: body.mode === 'points' ? body.points.length : 0, max_points: body.max_points };
    ctx.emit('viewport', body);
  }

  /**
   * Fly to a customer and open its popup. A customer not drawn yet is looked up
   * (/customers/{acct}: its coordinates), the map zooms there and the viewport is reloaded.
   */
  async function openCustomer(acct) {
    acct = String(acct);
    let m = markers.get(acct);
    if (!m || !map.getBounds().contains(m.getLatLng())) {
      let ll = m ? m.getLatLng() : null;
      if (!ll) {
        const v = await ctx.api.json('/customers/' + encodeURIComponent(acct));
        const prof = v.profile || {};
        if (prof.lon === null || prof.lon === undefined) throw new ApiError(ctx.t('no_coordinates') + acct, null, 404);
        ll = L.latLng(prof.lat, prof.lon);
      }
      map.setView(ll, Math.max(map.getZoom(), 19), { animate: false });
      await Promise.all([loadViewport(), ctx.grid.update().catch(ctx.report)]);   // the customer even if a tile failed
      m = markers.get(acct);
      if (!m) throw new ApiError(ctx.t('account_not_on_map') + acct, null, 404);
    }
    const layer = sensitive.has(acct) ? layers.sensitive_customers : layers.customers;
    if (!map.hasLayer(layer)) map.addLayer(layer);
    m.openPopup();
    return m;
  }

  /** Open a grid element's popup (it must be in the tiles on the map). */
  async function openFeature(layerName, id) {
    if (layerName === 'customers') return openCustomer(id);
    const group = { segments: null, switches: 'switch', transformers: 'transformer', meter_boxes: 'meter_box', substations: 'substation' }[layerName];
    let target = (layerName === 'segments'
      ? ctx.grid.layersOf('mv', id).concat(ctx.grid.layersOf('lv', id))
      : ctx.grid.layersOf(group, id))[0];
    if (!target) throw new ApiError('not on the map: ' + layerName + ' ' + id, null, 404);
    const lg = layerName === 'segments' ? (target.feature.properties.layer === 'lv' ? layers.lv_lines : layers.mv_lines) : layers[layerName];
    if (lg && !map.hasLayer(lg)) map.addLayer(lg);
    if (target.getLatLng) {
      const ll = target.getLatLng();
      map.setView(ll, Math.max(map.getZoom(), 18), { animate: false });
      await ctx.grid.update();
      target = (layerName === 'segments' ? [target] : ctx.grid.layersOf(group, id))[0] || target;
    } else {
      map.fitBounds(target.getBounds(), { maxZoom: 19, padding: [80, 80] });
    }
    target.openPopup();
    return target;
  }

  function onMapClick(e) {
    const t = e.originalEvent && e.originalEvent.target;
    if (t && t.classList && t.classList.contains('leaflet-interactive') && t.tagName !== 'CANVAS') return;   // a DOM element's own popup
    clickAt(e.latlng.lng, e.latlng.lat).catch(ctx.report);
  }

  async function clickAt(lon, lat) {
    const ll = L.latLng(lat, lon);
    const p = map.latLngToContainerPoint(ll);
    const radius = Math.min(5000, Math.max(5, ll.distanceTo(map.containerPointToLatLng(p.add([CLICK_RADIUS_PX, 0])))));
    const body = await ctx.api.json('/nearest?lon=' + lon.toFixed(7) + '&lat=' + lat.toFixed(7) + '&radius_m=' + radius.toFixed(1) + '&k=5');
    ctx.ga.nearest = body;
    if (!body.customers.length) {
      ctx.setStatus(ctx.t('no_customer_within') + Math.round(radius) +
        (body.transformer_area ? ' · ' + ctx.t('f_transformer') + ' ' + body.transformer_area.transformer_id : ''), true);
      return null;
    }
    return ctx.openView(body.customers[0].account_no, body);
  }

  map.on('click', onMapClick);
  Object.assign(ctx, {
    loadViewport, openCustomer, openFeature, clickAt,
    customerLocation: (acct) => (markers.has(String(acct)) ? markers.get(String(acct)).getLatLng() : null),
    isSensitive: (acct) => sensitive.has(String(acct)),
    customerSensitivity: (acct) => { const f = features.get(String(acct)); return f ? f.properties.sensitivity : null; },
    customerFeatures: features, customerMarkers: markers, viewportMarkers: vp.clusters
  });
}
