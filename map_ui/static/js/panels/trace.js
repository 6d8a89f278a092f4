/* Supply path (upstream) and downstream highlights, and the side panel listing their elements.
 *
 * Segments of a path are drawn from their whole geometries (POST /tiles/grid/segments), so a path
 * is complete even where the tiles on the map do not hold it (city zoom, or beyond the view). */

import { el, fmt, box } from '../dom.js';
import { label } from '../labels.js';
import { ringIcon } from '../layers/symbols.js';

export function installTrace(ctx) {
  const { map, layers, t } = ctx;
  const kindLabel = (kind) => label(t, 'path_kind', kind);
  let panelDiv;
  box('ga-panel', (d) => { panelDiv = d; d.hidden = true; }, { position: 'topleft' }).addTo(map);
  const lines = new Map();          // highlighted segment id -> latlngs

  function clearHighlight() {
    layers.highlight.clearLayers();
    lines.clear();
    ctx.ga.highlight = null;
    panelDiv.hidden = true;
    panelDiv.innerHTML = '';
  }

  function locationOf(kind, id) {
    if (kind === 'customer') return ctx.customerLocation(id);
    const coll = { meter_box: 'meter_boxes', transformer: 'transformers', switch: 'switches', substation: 'substations' }[kind];
    if (coll) {
      const f = ctx.gridFeatures()[coll].get(String(id));
      return f ? L.latLng(f.geometry.coordinates[1], f.geometry.coordinates[0]) : null;
    }
    if (kind === 'segment' && lines.has(String(id))) return L.latLngBounds(lines.get(String(id))).getCenter();
    return null;
  }

  function ring(kind, id, lost) {
    const ll = locationOf(kind, id);
    if (!ll) return false;
    const m = L.marker(ll, { icon: ringIcon(lost), pane: 'gaRings', interactive: false, keyboard: false });
    m.options.gaKind = kind;
    m.options.gaId = String(id);
    layers.highlight.addLayer(m);
    return true;
  }

  function highlightSegment(id, latlngs, lost) {
    lines.set(String(id), latlngs);
    const halo = L.polyline(latlngs, {
      pane: 'gaHighlight', interactive: false, lineCap: 'round', lineJoin: 'round',
      color: lost ? '#eb3b30' : '#ffd400', weight: lost ? 9 : 11, opacity: lost ? 0.45 : 0.85,
      className: lost ? 'ga-hl-lost-halo' : 'ga-hl-halo'
    });
    const core = L.polyline(latlngs, {
      pane: 'gaHighlight', interactive: false, color: lost ? '#b3140b' : '#111',
      weight: lost ? 2 : 3, opacity: 1, dashArray: lost ? '4 4' : null,
      className: lost ? 'ga-hl-lost' : 'ga-hl-seg'
    });
    core.options.segmentId = String(id);
    core.options.gaRole = lost ? 'lost' : 'path';
    layers.highlight.addLayer(halo);
    layers.highlight.addLayer(core);
  }

  /** Whole geometries of segments by id: {id: latlngs}, and the ids the server does not know. */
  async function segmentGeometries(ids) {
    if (!ids.length) return { found: new Map(), missing: [] };
    const body = await ctx.api.post('/tiles/grid/segments', { ids });
    const found = new Map();
    for (const f of body.features) found.set(String(f.id), f.geometry.coordinates.map((c) => [c[1], c[0]]));
    return { found, missing: body.missing || [] };
  }

  function highlightedSegmentIds() {
    const ids = [];
    layers.highlight.eachLayer((l) => { if (l.options.segmentId && l.options.gaRole === 'path') ids.push(l.options.segmentId); });
    return ids;
  }
  function highlightedTransformerIds() {
    const ids = [];
    layers.highlight.eachLayer((l) => { if (l.options.gaKind === 'transformer') ids.push(l.options.gaId); });
    return ids;
  }

  function zoomToHighlight() {
    const b = layers.highlight.getBounds();
    const pad = sidePadding();
    if (b.isValid()) map.fitBounds(b, { paddingTopLeft: pad[0], paddingBottomRight: pad[1], maxZoom: 19 });
  }

  /** Room taken by the panels on the left (trace panel) and right (legend, layers). */
  function sidePadding() {
    if (map.getSize().x < 900) return [L.point(20, 20), L.point(20, 20)];
    return [L.point(300, 40), L.point(ctx.rightPanelsWidth() + 30, 40)];
  }

  /** Show the whole highlight when part of it is off screen (keeps the view otherwise). */
  function fitIfOutside() {
    const b = layers.highlight.getBounds();
    if (!b.isValid()) return;
    const pad = sidePadding();
    const view = L.latLngBounds(map.containerPointToLatLng(pad[0]), map.containerPointToLatLng(map.getSize().subtract(pad[1])));
    if (!view.contains(b)) map.fitBounds(b, { paddingTopLeft: pad[0], paddingBottomRight: pad[1], maxZoom: 18 });
  }

  function zoomTo(kind, id) {
    if (kind === 'segment' && lines.has(String(id))) { map.fitBounds(L.latLngBounds(lines.get(String(id))), { maxZoom: 20, padding: [80, 80] }); return; }
    if (kind === 'customer') { ctx.openCustomer(id).catch(ctx.report); return; }
    const ll = locationOf(kind, id);
    if (ll) map.setView(ll, Math.max(map.getZoom(), 18));
  }

  function showPanel(title, sub, items, note) {
    panelDiv.innerHTML = '';
    const close = el('button', { class: 'ga-close', type: 'button', title: t('clear'), 'aria-label': t('clear') }, '×');
    close.addEventListener('click', clearHighlight);
    panelDiv.appendChild(close);
    panelDiv.appendChild(el('h3', { text: title }));
    if (sub) panelDiv.appendChild(el('div', { class: 'ga-subtitle', text: sub }));
    const zoom = el('button', { class: 'ga-btn ga-secondary', type: 'button' }, t('zoom_to'));
    zoom.addEventListener('click', zoomToHighlight);
    panelDiv.appendChild(el('div', { class: 'ga-actions' }, zoom));
    if (note) panelDiv.appendChild(el('div', { class: 'ga-subtitle', text: note }));
    const ol = el('ol', { class: 'ga-path' });
    items.forEach((r) => {
      const name = r.name || ctx.featureName(r.kind, r.id);
      const a = el('a', { 'data-kind': r.kind, 'data-id': r.id, href: '#', onclick: (ev) => { ev.preventDefault(); zoomTo(r.kind, r.id); } },
        [el('span', { class: 'ga-kind', text: kindLabel(r.kind) }), r.id + (name ? ' ' + name : '')]);
      ol.appendChild(el('li', {}, a));
    });
    panelDiv.appendChild(ol);
    panelDiv.hidden = false;
  }

  async function showUpstream(kind, id) {
    const body = await ctx.api.json('/trace/' + encodeURIComponent(kind) + '/' + encodeURIComponent(id) + '/upstream');
    const path = body.path || [];
    const segIds = path.filter((r) => r.kind === 'segment').map((r) => String(r.id));
    const geoms = await segmentGeometries(segIds);
    clearHighlight();
    const segments = [];
    const missing = geoms.missing.map((s) => 'segment ' + s);
    for (const sid of segIds) {
      if (geoms.found.has(sid)) { highlightSegment(sid, geoms.found.get(sid), false); segments.push(sid); }
    }
    path.forEach((r) => { if (r.kind !== 'segment' && r.kind !== 'node') ring(r.kind, r.id, false); });
    const sub = path.filter((r) => r.kind === 'substation')[0];
    const h = {
      kind: 'supply-path', element: { kind, id: String(id) }, path, segments,
      supplied: !!sub, substation: sub ? (ctx.featureName('substation', sub.id) || sub.id) : null,
      missing, data_version: body.data_version
    };
    ctx.ga.highlight = h;
    fitIfOutside();
    showPanel(t('supply_path') + ' · ' + kindLabel(kind) + ' ' + id,
      sub ? segments.length + ' ' + t('segments_n') + ' → ' + h.substation : t('not_supplied_normal'),
      path, missing.length ? t('not_on_map') + missing.join(', ') : null);
    return h;
  }

  async function showDownstream(kind, id) {
    const body = await ctx.api.json('/trace/' + encodeURIComponent(kind) + '/' + encodeURIComponent(id) + '/downstream');
    clearHighlight();
    const nodes = new Set(body.nodes || []);
    const lostSegments = [];
    ctx.gridFeatures().segments.forEach((f, sid) => {
      if (nodes.has(f.properties.node_a) && nodes.has(f.properties.node_b)) lostSegments.push(sid);
    });
    const geoms = await segmentGeometries(lostSegments);
    geoms.found.forEach((latlngs, sid) => highlightSegment(sid, latlngs, true));
    const transformers = (body.transformers || []).map(String);
    transformers.forEach((t) => ring('transformer', t, true));
    const customers = (body.customers || []).map(String);
    const sensitive = customers.filter((c) => ctx.isSensitive(c));
    sensitive.forEach((c) => ring('customer', c, true));
    const h = {
      kind: 'downstream', element: { kind, id: String(id) }, transformers,
      customers, sensitive, segments: lostSegments, data_version: body.data_version
    };
    ctx.ga.highlight = h;
    fitIfOutside();
    const items = transformers.map((t) => ({ kind: 'transformer', id: t }))
      .concat(sensitive.map((c) => ({ kind: 'customer', id: c, name: ctx.customerSensitivity(c) })));
    showPanel(t('downstream') + ' · ' + kindLabel(kind) + ' ' + id,
      transformers.length + ' ' + t('transformers_n') + ' · ' + fmt(customers.length) + ' ' + t('customers') + ' · ' + sensitive.length + ' ' + t('sensitive'),
      items, customers.length ? null : t('nothing_downstream'));
    return h;
  }

  Object.assign(ctx, { clearHighlight, showUpstream, showDownstream, highlightedSegmentIds, highlightedTransformerIds, zoomToHighlight });
}
