/* Popups of the map's elements: a table of the element's properties and its actions
 * (supply path, downstream, customer view). */

import { el, fmt, table } from '../dom.js';
import { label } from '../labels.js';

export function installPopups(ctx) {
  const t = ctx.t;
  const L_ = (group, code) => label(t, group, code);
  // keep popups clear of the layer control and legend on the right
  const POPUP_OPTIONS = window.innerWidth > 900
    ? { maxWidth: 360, minWidth: 220, autoPanPaddingTopLeft: [60, 100], autoPanPaddingBottomRight: [380, 40] }
    : { maxWidth: 300, minWidth: 200, autoPanPadding: [20, 20] };

  ctx.pick = null;          // set by a panel that picks elements on the map (the plan editor): (kind, feature) -> consumed?
  ctx.bindFeature = function (layer, kind, feature) {
    layer.feature = feature;
    layer.bindPopup(() => popupFor(kind, feature), POPUP_OPTIONS);
    layer.off('click', layer._openPopup, layer);       // a picking panel sees the click first
    layer.on('click', (e) => {
      if (ctx.pick && ctx.pick(kind, feature)) { L.DomEvent.stop(e); return; }
      layer._openPopup(e);
    });
  };
  ctx.featureName = featureName;

  function featureName(kind, id) {
    var coll = { transformer: 'transformers', 'switch': 'switches', substation: 'substations' }[kind];
    var f = coll && ctx.gridFeatures()[coll].get(String(id));
    return f && f.properties.name ? f.properties.name : null;
  }

  function actionButtons(kind, id, result, opts) {
    var buttons = [];
    var up = el('button', { class: 'ga-btn ga-btn-path', type: 'button', 'data-kind': kind, 'data-id': id }, t('supply_path'));
    up.addEventListener('click', function () {
      up.disabled = true;
      ctx.showUpstream(kind, id).then(function (h) { renderResult(result, h); })
        .catch(function (e) { result.textContent = t('failed') + e.message; ctx.report(e); })
        .then(function () { up.disabled = false; });
    });
    buttons.push(up);
    if (opts.downstream) {
      var down = el('button', { class: 'ga-btn ga-secondary ga-btn-down', type: 'button', 'data-kind': kind, 'data-id': id }, t('downstream'));
      down.addEventListener('click', function () {
        down.disabled = true;
        ctx.showDownstream(kind, id).then(function (h) { renderResult(result, h); })
          .catch(function (e) { result.textContent = t('failed') + e.message; ctx.report(e); })
          .then(function () { down.disabled = false; });
      });
      buttons.push(down);
    }
    return el('div', { class: 'ga-actions' }, buttons);
  }

  function renderResult(div, h) {
    div.innerHTML = '';
    if (h.kind === 'supply-path') {
      div.appendChild(el('div', {}, h.supplied
        ? t('supply_path') + ' ' + h.segments.length + ' ' + t('segments_n') + ' → ' + (h.substation || '') + ' (' + h.path.length + ' ' + t('elements_n') + '):'
        : t('not_supplied_normal') + ':'));
      h.path.forEach(function (r) { div.appendChild(el('span', { class: 'ga-chip', title: L_('path_kind', r.kind), text: r.id })); });
    } else {
      div.appendChild(el('div', {}, t('downstream') + ': ' + h.transformers.length + ' ' + t('transformers_n') + ', ' + fmt(h.customers.length) +
        ' ' + t('customers') + ', ' + h.sensitive.length + ' ' + t('sensitive')));
      h.transformers.forEach(function (t) { div.appendChild(el('span', { class: 'ga-chip', text: t })); });
    }
  }

  function popupFor(kind, f) {
    var p = f.properties;
    var result = el('div', { class: 'ga-result' });
    var box = el('div', { class: 'ga-pop', 'data-kind': kind, 'data-id': String(kind === 'customer' ? p.account_no : f.id) });
    if (kind === 'customer') {
      var tr = ctx.gridFeatures().transformers.get(String(p.transformer_id));
      var trCell = el('span', { text: p.transformer_id ? p.transformer_id + (tr && tr.properties.name ? ' ' + tr.properties.name : '') : '—' });
      var feederCell = el('span', { class: 'ga-feeder', text: '…' });
      ctx.api.json('/customers/' + encodeURIComponent(p.account_no) + '/supply-area').then(function (a) {
        feederCell.textContent = a.feeder_id || t('none_not_supplied');
        if (a.transformer_id && a.transformer_id !== p.transformer_id) {
          trCell.textContent = a.transformer_id + ' (' + t('record') + ': ' + p.transformer_id + ')';
        }
      }).catch(function (e) { feederCell.textContent = '?'; ctx.report(e); });
      box.appendChild(el('h3', {}, [t('customer') + ' ', p.account_no]));
      box.appendChild(table([
        [t('f_account'), p.account_no],
        [t('f_category'), L_('category', p.category)],
        [t('f_sensitivity'), p.sensitivity ? el('span', { class: 'ga-tag', text: L_('sensitivity', p.sensitivity) }) : t('no')],
        [t('f_transformer'), trCell],
        [t('f_feeder'), feederCell],
        [t('f_meter_box'), p.meter_box_id],
        [t('f_location'), L_('location_quality', p.location_quality)]
      ]));
      var actions = actionButtons('customer', p.account_no, result, { downstream: false });
      var viewBtn = el('button', { class: 'ga-btn ga-secondary ga-btn-view', type: 'button' }, t('customer_view'));
      viewBtn.addEventListener('click', function () { ctx.openView(p.account_no).catch(ctx.report); });
      actions.appendChild(viewBtn);
      box.appendChild(actions);
    } else if (kind === 'switch') {
      box.appendChild(el('h3', {}, [L_('switch_kind', p.kind), ' ', f.id]));
      box.appendChild(table([
        [t('f_name'), p.name],
        [t('f_kind'), L_('switch_kind', p.kind)],
        [t('f_normal_state'), p.normal_open
          ? el('span', { class: 'ga-tag ga-open', text: t('normally_open') })
          : el('span', { class: 'ga-tag ga-closed', text: t('normally_closed') })],
        [t('f_feeder'), p.feeder_id],
        [t('f_nodes'), (p.node_a || '?') + ' – ' + (p.node_b || '?')]
      ]));
      if (p.normal_open) box.appendChild(el('div', { class: 'ga-result', style: 'display:block', text: t('no_load_when_open') }));
      box.appendChild(actionButtons('switch', String(f.id), result, { downstream: true }));
    } else if (kind === 'transformer') {
      box.appendChild(el('h3', {}, [t('transformer_h') + ' ', f.id]));
      box.appendChild(table([
        [t('f_name'), p.name],
        [t('f_rating'), p.rated_kva ? p.rated_kva + ' kVA' : null],
        [t('f_feeder'), p.feeder_id],
        [t('f_in_service'), p.in_service === false ? t('out_of_service') : t('yes')]
      ]));
      box.appendChild(actionButtons('transformer', String(f.id), result, { downstream: true }));
    } else if (kind === 'segment') {
      box.appendChild(el('h3', {}, [t('segment_h') + ' ', f.id]));
      box.appendChild(table([
        [t('f_kind'), L_('segment_kind', p.kind)],
        [t('f_length'), p.length_m !== null && p.length_m !== undefined ? fmt(Math.round(p.length_m)) + ' m' : null],
        [t('f_feeder'), p.feeder_id],
        [t('f_in_service'), p.in_service === false ? t('out_of_service') : t('yes')],
        [t('f_nodes'), (p.node_a || '?') + ' – ' + (p.node_b || '?')]
      ]));
      box.appendChild(actionButtons('segment', String(f.id), result, { downstream: true }));
    } else if (kind === 'substation') {
      box.appendChild(el('h3', {}, [t('substation_h') + ' ', p.name || f.id]));
      box.appendChild(table([[t('f_id'), f.id], [t('f_voltage'), p.voltage_kv ? p.voltage_kv + ' kV' : null], [t('f_bus'), p.bus_node]]));
    } else if (kind === 'meter_box') {
      box.appendChild(el('h3', {}, [t('meter_box_h') + ' ', f.id]));
      box.appendChild(table([[t('f_transformer'), p.transformer_id], [t('f_node'), p.node]]));
      box.appendChild(actionButtons('meter_box', String(f.id), result, { downstream: false }));
    }
    box.appendChild(result);
    return box;
  }
}
