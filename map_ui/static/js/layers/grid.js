/* The grid layers: level-of-detail tiles drawn on one canvas (see grid_tiles.js), popups bound. */

import { createGridLayer } from './grid_tiles.js';
import { feederColor } from '../tiles.js';
import { esc } from '../dom.js';
import { segmentStyle, switchMarker, transformerMarker, meterBoxMarker, substationIcon } from './symbols.js';

const KIND_OF = { mv: 'segment', lv: 'segment', switch: 'switch', transformer: 'transformer', meter_box: 'meter_box', substation: 'substation' };

export function installGrid(ctx) {
  const { layers, canvas } = ctx;

  function makeLayer(f) {
    const p = f.properties;
    const g = f.geometry;
    let layer;
    if (g.type === 'LineString') {
      const latlngs = g.coordinates.map((c) => [c[1], c[0]]);
      if (p.layer === 'trunk') {
        layer = L.polyline(latlngs, { renderer: canvas, color: feederColor(p.feeder_id), weight: 2.5, opacity: 0.9, interactive: false });
      } else {
        layer = L.polyline(latlngs, Object.assign({ renderer: canvas }, segmentStyle(p)));
      }
    } else {
      const ll = L.latLng(g.coordinates[1], g.coordinates[0]);
      if (p.layer === 'substation') {
        layer = L.marker(ll, { icon: substationIcon(), zIndexOffset: 1000, title: p.name || f.id });
        layer.bindTooltip(esc(p.name || f.id), { permanent: true, direction: 'right', offset: [14, 0], className: 'ga-sub-label' });
      } else if (p.layer === 'switch') {
        layer = switchMarker(ll, p, canvas);
        layer.bindTooltip(esc((p.name || f.id) + (p.normal_open ? ' · ' + ctx.t('n_o') : '')), { className: 'ga-tip', direction: 'top' });
      } else if (p.layer === 'transformer') {
        layer = transformerMarker(ll, p, canvas);
        layer.bindTooltip(esc((p.name || f.id) + (p.rated_kva ? ' · ' + p.rated_kva + ' kVA' : '')), { className: 'ga-tip', direction: 'top' });
      } else if (p.layer === 'meter_box') {
        layer = meterBoxMarker(ll, canvas);
      }
    }
    if (!layer) return null;
    layer.feature = f;
    if (KIND_OF[p.layer]) ctx.bindFeature(layer, KIND_OF[p.layer], f);
    return layer;
  }

  const groups = { trunk: layers.trunks, mv: layers.mv_lines, lv: layers.lv_lines, substation: layers.substations,
                   switch: layers.switches, transformer: layers.transformers, meter_box: layers.meter_boxes };
  ctx.grid = createGridLayer(ctx.map, { api: ctx.api, groups, makeLayer, onChange: () => ctx.emit('grid') });

  /** Features of the tiles on the map, one per element, by layer name (the old per-layer registries). */
  ctx.gridFeatures = function () {
    const out = { substations: new Map(), segments: new Map(), switches: new Map(), transformers: new Map(), meter_boxes: new Map(), trunks: new Map() };
    const coll = { substation: 'substations', mv: 'segments', lv: 'segments', switch: 'switches', transformer: 'transformers', meter_box: 'meter_boxes', trunk: 'trunks' };
    for (const f of ctx.grid.features()) {
      const c = coll[f.properties.layer];
      if (c && !out[c].has(String(f.id))) out[c].set(String(f.id), f);
    }
    return out;
  };
}
