/* Small DOM helpers shared by the panels. */

export function el(tag, attrs, children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const k of Object.keys(attrs)) {
      const v = attrs[k];
      if (v === null || v === undefined) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
  }
  for (const c of [].concat(children === undefined ? [] : children)) {
    if (c === null || c === undefined || c === false) continue;
    node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return node;
}

export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

export function fmt(n) { return Number(n).toLocaleString('en-US'); }

/** A two-column table of [label, value] rows (null rows skipped, empty values as —). */
export function table(rows) {
  return el('table', {}, rows.filter(Boolean).map((r) =>
    el('tr', {}, [el('th', { text: r[0] }), el('td', {}, r[1] === null || r[1] === undefined || r[1] === '' ? '—' : r[1])])));
}

/** A Leaflet control box built by `build(div)`; clicks and wheel do not reach the map. */
export function box(cls, build, options) {
  const Box = L.Control.extend({
    onAdd() {
      const div = el('div', { class: 'leaflet-control ga-box ' + cls });
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      build(div);
      return div;
    }
  });
  return new Box(options);
}
