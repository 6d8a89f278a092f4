/* Popups of the map's elements: a table of the element's properties and its actions
 * (supply path, downstream, customer view). */

import { el, fmt, table } from '../dom.js';
import { SWITCH_KINDS, SEGMENT_KINDS, SENSITIVITY_EN, PATH_KINDS, LOCATION_QUALITY } from '../labels.js';

export function installPopups(ctx) {
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
    var up = el('button', { class: 'ga-btn ga-btn-path', type: 'button', 'data-kind': kind, 'data-id': id }, '供电路径 Supply path');
    up.addEventListener('click', function () {
      up.disabled = true;
      ctx.showUpstream(kind, id).then(function (h) { renderResult(result, h); })
        .catch(function (e) { result.textContent = '失败 failed: ' + e.message; ctx.report(e); })
        .then(function () { up.disabled = false; });
    });
    buttons.push(up);
    if (opts.downstream) {
      var down = el('button', { class: 'ga-btn ga-secondary ga-btn-down', type: 'button', 'data-kind': kind, 'data-id': id }, '下游 Downstream');
      down.addEventListener('click', function () {
        down.disabled = true;
        ctx.showDownstream(kind, id).then(function (h) { renderResult(result, h); })
          .catch(function (e) { result.textContent = '失败 failed: ' + e.message; ctx.report(e); })
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
        ? '供电路径 ' + h.segments.length + ' 段 segments → ' + (h.substation || '') + ' (' + h.path.length + ' 元素 elements):'
        : '无供电路径 Not supplied in the normal state:'));
      h.path.forEach(function (r) { div.appendChild(el('span', { class: 'ga-chip', title: PATH_KINDS[r.kind] || r.kind, text: r.id })); });
    } else {
      div.appendChild(el('div', {}, '下游 Downstream: ' + h.transformers.length + ' 台区 transformers, ' + fmt(h.customers.length) +
        ' 客户 customers, ' + h.sensitive.length + ' 敏感 sensitive'));
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
        feederCell.textContent = a.feeder_id || '无 none (not supplied)';
        if (a.transformer_id && a.transformer_id !== p.transformer_id) {
          trCell.textContent = a.transformer_id + ' (档案 record: ' + p.transformer_id + ')';
        }
      }).catch(function (e) { feederCell.textContent = '?'; ctx.report(e); });
      box.appendChild(el('h3', {}, ['用电客户 Customer ', p.account_no]));
      box.appendChild(table([
        ['户号 Account', p.account_no],
        ['类别 Category', p.category],
        ['敏感 Sensitivity', p.sensitivity ? el('span', { class: 'ga-tag', text: p.sensitivity + ' ' + (SENSITIVITY_EN[p.sensitivity] || '') }) : '否 no'],
        ['台区 Transformer', trCell],
        ['馈线 Feeder', feederCell],
        ['表箱 Meter box', p.meter_box_id],
        ['定位 Location', LOCATION_QUALITY[p.location_quality] || p.location_quality]
      ]));
      var actions = actionButtons('customer', p.account_no, result, { downstream: false });
      var viewBtn = el('button', { class: 'ga-btn ga-secondary ga-btn-view', type: 'button' }, '客户视图 Customer view');
      viewBtn.addEventListener('click', function () { ctx.openView(p.account_no).catch(ctx.report); });
      actions.appendChild(viewBtn);
      box.appendChild(actions);
    } else if (kind === 'switch') {
      box.appendChild(el('h3', {}, [SWITCH_KINDS[p.kind] || p.kind, ' ', f.id]));
      box.appendChild(table([
        ['名称 Name', p.name],
        ['类型 Kind', SWITCH_KINDS[p.kind] || p.kind],
        ['常态 Normal state', p.normal_open
          ? el('span', { class: 'ga-tag ga-open', text: '常开 normally open' })
          : el('span', { class: 'ga-tag ga-closed', text: '常闭 normally closed' })],
        ['馈线 Feeder', p.feeder_id],
        ['两端 Nodes', (p.node_a || '?') + ' – ' + (p.node_b || '?')]
      ]));
      if (p.normal_open) box.appendChild(el('div', { class: 'ga-result', style: 'display:block', text: '常开开关在正常方式下不带负荷 A normally-open switch supplies nothing in the normal state.' }));
      box.appendChild(actionButtons('switch', String(f.id), result, { downstream: true }));
    } else if (kind === 'transformer') {
      box.appendChild(el('h3', {}, ['配变 台区 Transformer ', f.id]));
      box.appendChild(table([
        ['名称 Name', p.name],
        ['容量 Rating', p.rated_kva ? p.rated_kva + ' kVA' : null],
        ['馈线 Feeder', p.feeder_id],
        ['运行 In service', p.in_service === false ? '停运 out of service' : '是 yes']
      ]));
      box.appendChild(actionButtons('transformer', String(f.id), result, { downstream: true }));
    } else if (kind === 'segment') {
      box.appendChild(el('h3', {}, ['线路段 Segment ', f.id]));
      box.appendChild(table([
        ['类型 Kind', SEGMENT_KINDS[p.kind] || p.kind],
        ['长度 Length', p.length_m !== null && p.length_m !== undefined ? fmt(Math.round(p.length_m)) + ' m' : null],
        ['馈线 Feeder', p.feeder_id],
        ['运行 In service', p.in_service === false ? '停运 out of service' : '是 yes'],
        ['两端 Nodes', (p.node_a || '?') + ' – ' + (p.node_b || '?')]
      ]));
      box.appendChild(actionButtons('segment', String(f.id), result, { downstream: true }));
    } else if (kind === 'substation') {
      box.appendChild(el('h3', {}, ['变电站 Substation ', p.name || f.id]));
      box.appendChild(table([['编号 Id', f.id], ['电压 Voltage', p.voltage_kv ? p.voltage_kv + ' kV' : null], ['母线 Bus', p.bus_node]]));
    } else if (kind === 'meter_box') {
      box.appendChild(el('h3', {}, ['表箱 Meter box ', f.id]));
      box.appendChild(table([['台区 Transformer', p.transformer_id], ['节点 Node', p.node]]));
      box.appendChild(actionButtons('meter_box', String(f.id), result, { downstream: false }));
    }
    box.appendChild(result);
    return box;
  }
}
