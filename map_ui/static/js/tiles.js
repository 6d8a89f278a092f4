/* Pure helpers of the map (no DOM, no Leaflet): tile addressing, zoom bands, feeder colours.
 * Unit-tested with node's own test runner (map_ui/tests/*.test.mjs). */

export const CITY_MAX_ZOOM = 14;      // ≤ 14: substations + feeder trunks
export const STREET_MIN_ZOOM = 17;    // ≥ 17: + LV lines and meter boxes; between: district
export const MAX_TILE_ZOOM = 22;

// Feeder colours: a fixed palette without the reserved hues (red = tie switches / outage,
// magenta = sensitive customers, yellow = supply path, grey = LV).
export const PALETTE = ['#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#17becf', '#8c564b',
  '#bcbd22', '#0b6e4f', '#b25d00', '#3f4fb5', '#6a994e', '#7f3c8d'];

/** A feeder's colour from its id: the trailing number picks the palette entry, else an FNV-1a hash. */
export function feederColor(id) {
  if (!id) return '#555';
  const m = /(\d+)$/.exec(String(id));
  let k;
  if (m) {
    k = parseInt(m[1], 10) - 1;
  } else {
    k = 2166136261;
    const s = String(id);
    for (let i = 0; i < s.length; i++) { k ^= s.charCodeAt(i); k = Math.imul(k, 16777619) >>> 0; }
  }
  return PALETTE[((k % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/** 'city' | 'district' | 'street' for a tile zoom. */
export function bandOf(z) {
  if (z <= CITY_MAX_ZOOM) return 'city';
  return z >= STREET_MIN_ZOOM ? 'street' : 'district';
}

/** The tile zoom that serves a (fractional) map zoom. */
export function tileZoom(mapZoom) {
  return Math.max(0, Math.min(MAX_TILE_ZOOM, Math.floor(mapZoom)));
}

/** The 512-px tile that serves a map zoom: {z: its address zoom, lod: the zoom whose content it holds}.
 * A 512-px tile z/x/y covers 256-px tile z/x/y's area with zoom z + 1's content (GET /tiles/grid512/…). */
export function tile512(mapZoom) {
  const lod = Math.max(1, tileZoom(mapZoom));
  return { z: lod - 1, lod };
}

/** Fractional Web Mercator tile column / row of a lon / lat at zoom z. */
export function lonToTileX(lon, z) { return (lon + 180) / 360 * (1 << z); }
export function latToTileY(lat, z) {
  const r = lat * Math.PI / 180;
  return (1 - Math.asinh(Math.tan(r)) / Math.PI) / 2 * (1 << z);
}

/** The tiles (z/x/y, key 'z/x/y') covering a lon/lat box at zoom z, clamped to the world; centre first. */
export function tilesCovering(west, south, east, north, z) {
  const n = 1 << z;
  const clamp = (v) => Math.max(0, Math.min(n - 1, Math.floor(v)));
  const maxLat = 85.0511287798;
  const x0 = clamp(lonToTileX(Math.max(-180, west), z)), x1 = clamp(lonToTileX(Math.min(180, east) - 1e-12, z));
  const y0 = clamp(latToTileY(Math.min(maxLat, north), z)), y1 = clamp(latToTileY(Math.max(-maxLat, south), z));
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const out = [];
  for (let x = x0; x <= x1; x++) {
    for (let y = y0; y <= y1; y++) out.push({ z, x, y, key: z + '/' + x + '/' + y });
  }
  out.sort((a, b) => ((a.x - cx) ** 2 + (a.y - cy) ** 2) - ((b.x - cx) ** 2 + (b.y - cy) ** 2));
  return out;
}

/** Feeder ids of the features whose geometry touches a lon/lat box (the legend lists the feeders in view). */
export function feedersInView(features, west, south, east, north) {
  const seen = new Set();
  for (const f of features) {
    const fid = f.properties && f.properties.feeder_id;
    if (!fid || seen.has(fid)) continue;
    const g = f.geometry;
    const coords = g.type === 'Point' ? [g.coordinates] : g.coordinates;
    for (const c of coords) {
      if (c[0] >= west && c[0] <= east && c[1] >= south && c[1] <= north) { seen.add(fid); break; }
    }
  }
  return Array.from(seen).sort();
}

/** A least-recently-used map with a size bound (tiles kept in the page). */
export class Lru {
  constructor(max) { this.max = max; this.map = new Map(); }
  get(key) {
    if (!this.map.has(key)) return undefined;
    const v = this.map.get(key);
    this.map.delete(key); this.map.set(key, v);
    return v;
  }
  set(key, value, onEvict) {
    this.map.delete(key); this.map.set(key, value);
    while (this.map.size > this.max) {
      const [k, v] = this.map.entries().next().value;
      this.map.delete(k);
      if (onEvict) onEvict(k, v);
    }
  }
  has(key) { return this.map.has(key); }
  get size() { return this.map.size; }
}
