// Unit tests of the map's pure modules with node's own test runner: node --test map_ui/tests/
import test from 'node:test';
import assert from 'node:assert/strict';
import { bandOf, tileZoom, tile512, tilesCovering, lonToTileX, latToTileY, feederColor, PALETTE, feedersInView, Lru } from '../static/js/tiles.js';

test('zoom bands match the server (city ≤ 14, district 15–16, street ≥ 17)', () => {
  assert.equal(bandOf(0), 'city');
  assert.equal(bandOf(14), 'city');
  assert.equal(bandOf(15), 'district');
  assert.equal(bandOf(16), 'district');
  assert.equal(bandOf(17), 'street');
  assert.equal(bandOf(22), 'street');
});

test('tile zoom floors the map zoom and stays within 0..22', () => {
  assert.equal(tileZoom(14.5), 14);
  assert.equal(tileZoom(-1), 0);
  assert.equal(tileZoom(25), 22);
});

test('tile coordinates follow the XYZ scheme', () => {
  assert.equal(lonToTileX(-180, 3), 0);
  assert.equal(lonToTileX(180, 3), 8);
  assert.ok(Math.abs(latToTileY(0, 4) - 8) < 1e-9);
  // Foshan at zoom 15 (python: int((113.12 + 180) / 360 * 2**15), the Mercator row likewise)
  assert.equal(Math.floor(lonToTileX(113.12, 15)), 26680);
  assert.equal(Math.floor(latToTileY(23.01, 15)), 14230);
});

test('tiles covering a box: every tile once, centre first, clamped to the world', () => {
  const tiles = tilesCovering(113.10, 23.00, 113.14, 23.02, 15);
  const keys = tiles.map((t) => t.key);
  assert.equal(new Set(keys).size, keys.length);
  const xs = tiles.map((t) => t.x), ys = tiles.map((t) => t.y);
  assert.equal(Math.min(...xs), Math.floor(lonToTileX(113.10, 15)));
  assert.equal(Math.max(...xs), Math.floor(lonToTileX(113.14, 15)));
  assert.equal(Math.min(...ys), Math.floor(latToTileY(23.02, 15)));
  assert.equal(Math.max(...ys), Math.floor(latToTileY(23.00, 15)));
  assert.equal(tiles.length, (Math.max(...xs) - Math.min(...xs) + 1) * (Math.max(...ys) - Math.min(...ys) + 1));
  const cx = (Math.min(...xs) + Math.max(...xs)) / 2, cy = (Math.min(...ys) + Math.max(...ys)) / 2;
  const d = (t) => (t.x - cx) ** 2 + (t.y - cy) ** 2;
  assert.ok(d(tiles[0]) <= d(tiles[tiles.length - 1]));
  const world = tilesCovering(-200, -90, 200, 90, 1);
  assert.deepEqual(world.map((t) => t.key).sort(), ['1/0/0', '1/0/1', '1/1/0', '1/1/1']);
});

test('feeder colours: stable, from the palette, by the trailing number', () => {
  assert.equal(feederColor('F001'), PALETTE[0]);
  assert.equal(feederColor('F013'), PALETTE[0]);
  assert.equal(feederColor('F002'), PALETTE[1]);
  assert.equal(feederColor('north-a'), feederColor('north-a'));
  assert.ok(PALETTE.includes(feederColor('north-a')));
  assert.equal(feederColor(null), '#555');
});

test('feeders in view: only features with a vertex inside the box, sorted, once each', () => {
  const pt = (id, lon, lat) => ({ geometry: { type: 'Point', coordinates: [lon, lat] }, properties: { feeder_id: id } });
  const line = (id, coords) => ({ geometry: { type: 'LineString', coordinates: coords }, properties: { feeder_id: id } });
  const got = feedersInView([pt('F2', 1, 1), pt('F1', 5, 5), line('F3', [[9, 9], [1.5, 1.5]]), pt('F2', 1.2, 1.2), pt(null, 1, 1)], 0, 0, 2, 2);
  assert.deepEqual(got, ['F2', 'F3']);
});

test('LRU keeps the most recently used and reports evictions', () => {
  const evicted = [];
  const lru = new Lru(2);
  lru.set('a', 1); lru.set('b', 2);
  assert.equal(lru.get('a'), 1);           // a is now the most recent
  lru.set('c', 3, (k) => evicted.push(k));
  assert.deepEqual(evicted, ['b']);
  assert.ok(lru.has('a') && lru.has('c') && !lru.has('b'));
  assert.equal(lru.size, 2);
});

test('512-px tiles: one zoom up in address, the map zoom\'s content', () => {
  assert.deepEqual(tile512(15.5), { z: 14, lod: 15 });
  assert.deepEqual(tile512(0), { z: 0, lod: 1 });
  assert.deepEqual(tile512(30), { z: 21, lod: 22 });
  // a 1280×800 view at zoom 16 needs a third of the 256-px tiles' requests or fewer
  const w = 1280 / 256 / (1 << 16) * 360, lon = 113.1;
  const small = tilesCovering(lon, 23.0, lon + w, 23.02, 16).length, big = tilesCovering(lon, 23.0, lon + w, 23.02, 15).length;
  assert.ok(big * 2 <= small, big + ' vs ' + small);
});
