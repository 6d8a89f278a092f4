/* Point symbols: canvas paths for the many (switches, 台区, meter boxes, customers: no DOM element
 * each), DOM icons for the few (substations, sensitive customers, clusters, highlight rings). */

import { esc } from '../dom.js';
import { feederColor } from '../tiles.js';
import { SENSITIVITY_GLYPH, LV_COLOR } from '../labels.js';

/** A canvas square centred on its lon/lat (`radius` = half the side), hit-tested like a circle. */
export const SquareMarker = L.CircleMarker.extend({
  _updatePath() { this._renderer._updateGaSquare(this); }
});
L.Canvas.include({
  _updateGaSquare(layer) {
    if (!this._drawing || layer._empty()) return;
    const p = layer._point, ctx = this._ctx, r = Math.max(Math.round(layer._radius), 1);
    ctx.beginPath();
    ctx.rect(p.x - r, p.y - r, r * 2, r * 2);
    this._fillStroke(ctx, layer);
  }
});

const SWITCH_STYLE = {
  breaker: { shape: 'square', radius: 4.5, fillColor: '#111', color: '#111', weight: 1.5 },
  load_switch: { shape: 'circle', radius: 4.5, fillColor: '#111', color: '#111', weight: 1.5 },
  disconnector: { shape: 'circle', radius: 4.5, fillColor: '#fff', color: '#111', weight: 2 },
  fuse: { shape: 'square', radius: 3.5, fillColor: '#fff', color: '#111', weight: 1.5 },
  tie: { shape: 'circle', radius: 6.5, fillColor: '#d7261e', color: '#d7261e', weight: 3 }
};

export function switchMarker(latlng, p, renderer) {
  const st = Object.assign({}, SWITCH_STYLE[p.kind] || SWITCH_STYLE.load_switch);
  if (p.normal_open) st.fillColor = '#fff';
  const Cls = st.shape === 'square' ? SquareMarker : L.CircleMarker;
  return new Cls(latlng, { renderer, radius: st.radius, color: st.color, weight: st.weight, fillColor: st.fillColor,
                           fillOpacity: 1, opacity: 1 });
}

export function transformerMarker(latlng, p, renderer) {
  return new SquareMarker(latlng, { renderer, radius: 6, color: '#1d2733', weight: 2, opacity: 1,
                                    fillColor: feederColor(p.feeder_id), fillOpacity: 1 });
}

export function meterBoxMarker(latlng, renderer) {
  return new SquareMarker(latlng, { renderer, radius: 2.5, color: '#fff', weight: 1, opacity: 1, fillColor: '#7d8b99', fillOpacity: 1 });
}

export function customerMarker(latlng, renderer) {
  return L.circleMarker(latlng, { renderer, radius: 4, color: '#fff', weight: 1.5, opacity: 1, fillColor: '#34495e', fillOpacity: 1 });
}

export function segmentStyle(p) {
  if (p.in_service === false) return { color: '#b5b5b5', weight: 2, opacity: 0.9, dashArray: '2 5' };
  if (p.kind === 'lv_cable') return { color: LV_COLOR, weight: 1.5, opacity: 0.9 };
  const st = { color: feederColor(p.feeder_id), weight: 3.5, opacity: 0.95, lineCap: 'butt' };
  if (p.kind === 'cable') st.dashArray = '8 4';
  return st;
}

const iconCache = new Map();
export function symIcon(key, cls, size, html, style) {
  let icon = iconCache.get(key);
  if (!icon) {
    icon = L.divIcon({
      className: 'ga-icon',
      html: '<div class="ga-sym ' + cls + '"' + (style ? ' style="' + style + '"' : '') + '>' + (html || '') + '</div>',
      iconSize: [size, size], iconAnchor: [size / 2, size / 2], popupAnchor: [0, -size / 2], tooltipAnchor: [size / 2, 0]
    });
    iconCache.set(key, icon);
  }
  return icon;
}
export function substationIcon() { return symIcon('sub', 'ga-sub', 28); }
export function sensitiveIcon(kind) {
  const glyph = SENSITIVITY_GLYPH[kind] || String(kind).charAt(0);
  return symIcon('sens:' + kind, 'ga-sens', 22, '<span>' + esc(glyph) + '</span>');
}
export function ringIcon(lost) { return symIcon(lost ? 'ring:lost' : 'ring', 'ga-ring' + (lost ? ' ga-lost' : ''), 28); }

export function clusterIcon(n, sensitive, sensitiveTitle) {
  const size = n < 20 ? 22 : n < 100 ? 27 : n < 500 ? 33 : n < 5000 ? 40 : 48;
  const label = n < 10000 ? String(n) : Math.round(n / 1000) + 'k';
  const badge = sensitive ? '<span class="ga-cluster-sens" title="' + esc(sensitiveTitle || '') + '">' + sensitive + '</span>' : '';
  return L.divIcon({ html: '<div>' + label + '</div>' + badge, className: 'ga-cluster', iconSize: [size, size] });
}
