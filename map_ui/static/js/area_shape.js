/* One canvas path for an area feature (a 台区 / feeder hull, an H3 cell), shared by the heat layer and the
 * data-quality area layer: no L.geoJSON group per area (thousands of 台区 at a city view), never a DOM marker. */

export function areaShape(feature, style, renderer, interactive = true) {
  const opts = Object.assign({ renderer, interactive, bubblingMouseEvents: false }, style);
  opts.pointToLayer = (_, ll) => L.circleMarker(ll, Object.assign({ radius: 4 }, opts));
  return L.GeoJSON.geometryToLayer(feature, opts);
}
