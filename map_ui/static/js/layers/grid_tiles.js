/* The grid drawn from level-of-detail tiles (GET /api/v1/tiles/grid512/{z}/{x}/{y}: 512 px, so a view
 * costs 6–12 requests rather than 20–30; tile z/x/y holds zoom z + 1's content).
 *
 * On every view change the layer asks for the tiles covering the view at the map's tile zoom
 * (what a tile holds depends on its zoom band: city = substations + feeder trunks, district =
 * MV lines, switches, 台区, street = + LV lines and meter boxes), draws their features with
 * the caller's `makeLayer(feature)` (canvas paths: no DOM element per feature) into the group
 * of its `properties.layer`, and removes the tiles that left the view (their Leaflet layers are
 * dropped: the heap holds only the view's). Tile bodies stay in an LRU in the page; a tile is
 * fetched once at a time; the browser revalidates them with the server's ETag (data version). */

import { Lru, tile512, tilesCovering, bandOf } from '../tiles.js';

export function createGridLayer(map, { api, groups, makeLayer, onChange, keep = 64 }) {
  const cache = new Lru(keep);          // key -> tile body (features); Leaflet layers exist only while shown
  const shown = new Map();              // key -> {features, layers: [[group, layer]]} on the map
  const inflight = new Map();           // key -> promise of the body: a tile is fetched once at a time
  let wanted = new Set();
  let seq = 0;
  let band = null;

  function show(key, body) {
    if (shown.has(key)) return;
    const entry = build(body);
    shown.set(key, entry);
    for (const [group, layer] of entry.layers) groups[group].addLayer(layer);
  }
  function hide(key) {
    const entry = shown.get(key);
    if (!entry) return;
    shown.delete(key);
    for (const [group, layer] of entry.layers) groups[group].removeLayer(layer);
  }

  function build(body) {
    const layers = [];
    for (const f of body.features) {
      const group = f.properties.layer;
      if (!groups[group]) continue;
      const layer = makeLayer(f);
      if (layer) layers.push([group, layer]);
    }
    return { features: body.features, layers, feeders: body.feeders || [], band: body.band, version: body.data_version };
  }

  /** Bring the drawn tiles in line with the view; resolves when every wanted tile is drawn. */
  async function update() {
    const my = ++seq;
    const { z, lod } = tile512(map.getZoom());
    const b = map.getBounds().pad(0.05);
    const tiles = tilesCovering(b.getWest(), b.getSouth(), b.getEast(), b.getNorth(), z);
    wanted = new Set(tiles.map((t) => t.key));
    band = bandOf(lod);
    for (const key of Array.from(shown.keys())) if (!wanted.has(key)) hide(key);
    const loads = tiles.map(async (t) => {
      let body = cache.get(t.key);
      if (!body) {
        let p = inflight.get(t.key);
        if (!p) {
          p = api.json('/tiles/grid512/' + t.key).finally(() => inflight.delete(t.key));
          inflight.set(t.key, p);
        }
        body = await p;
        cache.set(t.key, body);
      }
      if (wanted.has(t.key)) show(t.key, body);
    });
    const results = await Promise.allSettled(loads);
    if (my === seq && onChange) onChange();
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length) throw failed[0].reason;
    return shown.size;
  }

  /** Every feature of the tiles on the map (a segment cut by tile edges appears once per piece). */
  function features() {
    const out = [];
    for (const entry of shown.values()) for (const f of entry.features) out.push(f);
    return out;
  }

  /** Leaflet layers on the map drawn for one element (layer name, id). */
  function layersOf(layerName, id) {
    const out = [];
    for (const entry of shown.values()) {
      for (const [group, layer] of entry.layers) {
        if (group === layerName && String(layer.feature.id) === String(id)) out.push(layer);
      }
    }
    return out;
  }

  return { update, features, layersOf, shownTiles: () => Array.from(shown.keys()), band: () => band };
}
