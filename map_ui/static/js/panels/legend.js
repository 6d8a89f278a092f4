/* The legend: the feeders in view (not all of them: a city has hundreds) and the symbols. */

import { esc, box } from '../dom.js';
import { feederColor, feedersInView } from '../tiles.js';
import { SWITCH_KINDS, SENSITIVITY_GLYPH, SENSITIVITY_EN } from '../labels.js';

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
      row(keyLine('', 'border-top-color:#555'), '架空线 Overhead'),
      row(keyLine('ga-cable', 'border-top-color:#555'), '电缆 Cable'),
      row(keyLine('ga-lv'), '低压线 LV cable'),
      row(keyLine('ga-out'), '停运 Out of service'));
    h.push('</div><h4>' + esc(t('switches')) + ' <small>(' + esc(t('hollow_open')) + ')</small></h4><div class="ga-grid">',
      row(keySym('ga-sw ga-breaker'), SWITCH_KINDS.breaker),
      row(keySym('ga-sw ga-load_switch'), SWITCH_KINDS.load_switch),
      row(keySym('ga-sw ga-disconnector'), SWITCH_KINDS.disconnector),
      row(keySym('ga-sw ga-fuse'), SWITCH_KINDS.fuse),
      row(keySym('ga-sw ga-tie ga-nopen'), '联络 常开 Tie, N.O.'),
      row(keySym('ga-sw ga-tie'), '联络 常闭 Tie, closed'));
    h.push('</div><h4>' + esc(t('equipment')) + '</h4><div class="ga-grid">',
      row(keySym('ga-sub', 'transform:scale(.75)'), '变电站 Substation'),
      row(keySym('ga-tr', 'background:#bbb'), '配变 台区 Transformer'),
      row(keySym('ga-mb'), '表箱 Meter box'));
    h.push('</div><h4>' + esc(t('customers_h')) + '</h4><div class="ga-grid">',
      row(keySym('ga-cu'), '用电客户 Customer'),
      row('<span class="ga-key"><span class="ga-cluster" style="display:inline-block;width:20px;height:20px"><div style="font-size:9px">n</div></span></span>', '客户群 Cluster'));
    Object.keys(SENSITIVITY_GLYPH).forEach((k) => {
      h.push(row(keySym('ga-sens', '', '<span>' + SENSITIVITY_GLYPH[k] + '</span>'), k + ' <small>' + SENSITIVITY_EN[k] + '</small>'));
    });
    h.push('</div><h4>' + esc(t('highlight')) + '</h4><div class="ga-grid">',
      row(keyLine('ga-path'), '供电路径 Supply path'),
      row(keyLine('ga-lost'), '下游 Downstream'));
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
