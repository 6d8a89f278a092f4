/* The legend: the feeders in view (not all of them: a city has hundreds) and the symbols. */

import { esc, box } from '../dom.js';
import { feederColor, feedersInView } from '../tiles.js';
import { SENSITIVITY_GLYPH, SWITCH_KIND_CODES, label } from '../labels.js';

const MAX_FEEDERS = 40;

function keySym(cls, style, html) {
  return '<span class="ga-key"><span class="ga-sym ' + cls + '"' + (style ? ' style="' + style + '"' : '') + '>' + (html || '') + '</span></span>';
}
function keyLine(cls, style) {
  return '<span class="ga-key"><span class="ga-line ' + cls + '"' + (style ? ' style="' + style + '"' : '') + '></span></span>';
}
function row(key, label) { return '<div class="ga-row">' + key + '<span>' + label + '</span></div>'; }

export function installLegend(ctx) {
  let div;
  box('ga-legend', (d) => { div = d; }, { position: 'topright' }).addTo(ctx.map);
  if (window.innerWidth < 700 || window.innerHeight < 560) div.classList.add('ga-collapsed');

  function render() {
    const b = ctx.map.getBounds();
    const feeders = feedersInView(ctx.grid.features(), b.getWest(), b.getSouth(), b.getEast(), b.getNorth());
    ctx.feedersInView = feeders;
    const t = ctx.t;
    const h = ['<button type="button" class="ga-legend-toggle" aria-expanded="true">' + esc(t('legend')) + '</button>',
      '<div class="ga-legend-body"><h4>' + esc(t('feeders')) + ' <small>(' + esc(t('in_view')) + ': ' + feeders.length + ')</small></h4><div class="ga-grid ga-feeders">'];
    feeders.slice(0, MAX_FEEDERS).forEach((f) => {
      h.push(row(keyLine('', 'border-top-color:' + feederColor(f)), '<span data-feeder="' + esc(f) + '">' + esc(f) + '</span>'));
    });
    if (feeders.length > MAX_FEEDERS) h.push('<div class="ga-row"><small>… +' + (feeders.length - MAX_FEEDERS) + ' (' + esc(t('zoom_in_more')) + ')</small></div>');
    if (!feeders.length) h.push('<div class="ga-row"><small>' + esc(t('none')) + '</small></div>');
    h.push('</div><h4>' + esc(t('lines')) + '</h4><div class="ga-grid">',
      row(keyLine('', 'border-top-color:#555'), esc(label(t, 'segment_kind', 'overhead'))),
      row(keyLine('ga-cable', 'border-top-color:#555'), esc(label(t, 'segment_kind', 'cable'))),
      row(keyLine('ga-lv'), esc(label(t, 'segment_kind', 'lv_cable'))),
      row(keyLine('ga-out'), esc(t('legend_out_of_service'))));
    h.push('</div><h4>' + esc(t('switches')) + ' <small>(' + esc(t('hollow_open')) + ')</small></h4><div class="ga-grid">',
      ...SWITCH_KIND_CODES.filter((k) => k !== 'tie').map((k) => row(keySym('ga-sw ga-' + k), esc(label(t, 'switch_kind', k)))),
      row(keySym('ga-sw ga-tie ga-nopen'), esc(t('legend_tie_open'))),
      row(keySym('ga-sw ga-tie'), esc(t('legend_tie_closed'))));
    h.push('</div><h4>' + esc(t('equipment')) + '</h4><div class="ga-grid">',
      row(keySym('ga-sub', 'transform:scale(.75)'), esc(t('substation_h'))),
      row(keySym('ga-tr', 'background:#bbb'), esc(t('transformer_h'))),
      row(keySym('ga-mb'), esc(t('meter_box_h'))));
    h.push('</div><h4>' + esc(t('customers_h')) + '</h4><div class="ga-grid">',
      row(keySym('ga-cu'), esc(t('customer'))),
      row('<span class="ga-key"><span class="ga-cluster" style="display:inline-block;width:20px;height:20px"><div style="font-size:9px">n</div></span></span>', esc(t('legend_cluster'))));
    Object.keys(SENSITIVITY_GLYPH).forEach((k) => {
      h.push(row(keySym('ga-sens', '', '<span>' + SENSITIVITY_GLYPH[k] + '</span>'), esc(label(t, 'sensitivity', k))));
    });
    h.push('</div><h4>' + esc(t('highlight')) + '</h4><div class="ga-grid">',
      row(keyLine('ga-path'), esc(t('supply_path'))),
      row(keyLine('ga-lost'), esc(t('downstream'))));
    h.push('</div></div>');
    div.innerHTML = h.join('');
    const toggle = div.querySelector('.ga-legend-toggle');
    toggle.setAttribute('aria-expanded', String(!div.classList.contains('ga-collapsed')));
    toggle.addEventListener('click', () => {
      div.classList.toggle('ga-collapsed');
      toggle.setAttribute('aria-expanded', String(!div.classList.contains('ga-collapsed')));
    });
    fit();
  }

  /** The legend sits under the layer control: give it the height that is left, scrolling beyond. */
  function fit() {
    const top = div.getBoundingClientRect().top - ctx.map.getContainer().getBoundingClientRect().top;
    div.style.maxHeight = Math.max(120, ctx.map.getSize().y - top - 28) + 'px';
  }
  ctx.map.on('resize', fit);
  ctx.on('grid', render);
  ctx.legendDiv = div;
  ctx.renderLegend = render;
  render();
}
