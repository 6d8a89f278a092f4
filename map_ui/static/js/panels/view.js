/* The unified customer view (GET /api/v1/customers/{account}): profile, contact (masked per role),
 * supply chain, outages, interactions, emotion, stale prompts and the field finder. */

import { el, table } from '../dom.js';
import { SENSITIVITY_EN, PATH_KINDS, LOCATION_QUALITY, EMOTION } from '../labels.js';

export function installView(ctx) {
  var viewDiv = el('aside', { class: 'ga-box ga-view', role: 'dialog', 'aria-label': '客户视图 Customer view' });
  viewDiv.hidden = true;
  L.DomEvent.disableClickPropagation(viewDiv);
  L.DomEvent.disableScrollPropagation(viewDiv);
  ctx.map.getContainer().appendChild(viewDiv);


  function section(title, body) {
    return el('section', { class: 'ga-view-sec' }, [el('h4', { text: title })].concat(body));
  }

  async function openView(acct, nearest) {
    acct = String(acct);
    var v = await ctx.api.json('/customers/' + encodeURIComponent(acct));
    ctx.ga.view = v;
    renderView(v, nearest);
    if (v.supply && v.supply.path && v.supply.path.length) {
      ctx.showUpstream('customer', acct).catch(ctx.report);       // highlight the supply path on the map
    }
    return v;
  }

  function renderView(v, nearest) {
    viewDiv.innerHTML = '';
    viewDiv.setAttribute('data-account', v.account_no);
    var close = el('button', { class: 'ga-close', type: 'button', title: '关闭 Close', 'aria-label': '关闭 Close' }, '×');
    close.addEventListener('click', function () { viewDiv.hidden = true; ctx.ga.view = null; });
    viewDiv.appendChild(close);
    var name = v.contact ? v.contact.name : null;
    viewDiv.appendChild(el('h3', {}, ['客户视图 Customer ', el('span', { class: 'ga-chip', text: v.account_no }), name ? ' ' + name : '']));
    if (nearest && nearest.customers && nearest.customers.length) {
      viewDiv.appendChild(el('div', { class: 'ga-subtitle', text: '点击处最近客户 nearest to the click: ' +
        nearest.customers[0].distance_m + ' m' + (nearest.transformer_area ? ' · 台区 ' + nearest.transformer_area.transformer_id : '') }));
    }
    if (v.emotion) {
      var em = el('div', { class: 'ga-emotion ga-emo-' + v.emotion.label }, [el('b', { text: '情绪 Emotion: ' + (EMOTION[v.emotion.label] || v.emotion.label) })]);
      var ul = el('ul', {});
      v.emotion.reasons.forEach(function (r) { ul.appendChild(el('li', { 'data-code': r.code, text: r.zh + ' · ' + r.en })); });
      if (v.emotion.reasons.length) em.appendChild(ul);
      viewDiv.appendChild(em);
    }
    var editable = ctx.contactCanEdit(v), buttonShown = false;
    if (v.stale && v.stale.length) {
      var staleDiv = el('div', { class: 'ga-stale' }, v.stale.map(function (p) {
        return el('div', { 'data-code': p.code, text: '⚠ ' + p.zh + ' · ' + p.en });
      }));
      viewDiv.appendChild(staleDiv);
      if (editable && v.stale.some(function (p) { return p.code === 'contact_unverified'; })) {
        staleDiv.appendChild(ctx.contactButton(v, staleDiv));   // issue 18: confirm or correct from the prompt
        buttonShown = true;
      }
    }
    var prof = v.profile || {};
    var c = v.contact || {};
    if (v.profile || v.contact) {
      viewDiv.appendChild(section('档案 Profile' + (v.pii_masked ? ' (已脱敏 masked)' : ''), [table([
        v.contact ? ['户名 Name', c.name] : null,
        v.contact ? ['电话 Phone', [c.phone, c.phone_alt].filter(Boolean).join(' / ')] : null,
        v.contact ? ['地址 Address', c.address] : null,
        v.profile ? ['类别 Category', prof.category] : null,
        v.profile ? ['合同容量 Capacity', prof.contract_kva !== null && prof.contract_kva !== undefined ? prof.contract_kva + ' kVA' : null] : null,
        v.profile ? ['敏感 Sensitivity', prof.sensitivity ? el('span', { class: 'ga-tag', text: prof.sensitivity + ' ' + (SENSITIVITY_EN[prof.sensitivity] || '') }) : '否 no'] : null,
        v.profile ? ['定位 Location', LOCATION_QUALITY[prof.location_quality] || prof.location_quality] : null,
        v.profile ? ['核实 Verified', prof.contact_verified_at] : null
      ])]));
      if (editable && !buttonShown) {
        var anchor = el('div', { class: 'ga-contact-anchor' });
        anchor.appendChild(ctx.contactButton(v, anchor));
        viewDiv.appendChild(anchor);
      }
    }
    if (v.contact_history) {
      viewDiv.appendChild(section('联系方式记录 Contact history', ctx.contactHistory(v.contact_history)));
    }
    if (v.supply) {
      var s = v.supply, ch = s.chain || {};
      var energ = s.energized
        ? el('span', { class: 'ga-tag ga-closed ga-energized', text: '有电 energized' })
        : el('span', { class: 'ga-tag ga-deenergized', text: '停电 not energized' });
      var steps = [];
      if (ch.substation) steps.push(['substation', ch.substation.id, ch.substation.name]);
      if (ch.feeder) steps.push(['feeder', ch.feeder.id, ch.feeder.name]);
      (ch.switches || []).forEach(function (w) { steps.push(['switch', w.id, w.name]); });
      if (ch.transformer) steps.push(['transformer', ch.transformer.id, ch.transformer.name]);
      if (ch.meter_box) steps.push(['meter_box', ch.meter_box.id, null]);
      var ol = el('ol', { class: 'ga-chain' });
      steps.forEach(function (st) {
        ol.appendChild(el('li', { 'data-kind': st[0], 'data-id': st[1] }, [el('span', { class: 'ga-kind', text: st[0] === 'feeder' ? '馈线 feeder' : (PATH_KINDS[st[0]] || st[0]) }), st[1] + (st[2] ? ' ' + st[2] : '')]));
      });
      var hl = el('button', { class: 'ga-btn ga-secondary', type: 'button' }, '高亮路径 Highlight path');
      hl.addEventListener('click', function () { ctx.showUpstream('customer', v.account_no).catch(ctx.report); });
      viewDiv.appendChild(section('供电 Supply ', [el('div', {}, ['当前 Now: ', energ]), ol, s.note ? el('div', { class: 'ga-subtitle', text: s.note }) : null, hl]));
    }
    if (v.outages) {
      var o = v.outages;
      var rows = o.current.map(function (p) { return ['current', p]; }).concat(o.planned.map(function (p) { return ['planned', p]; }));
      viewDiv.appendChild(section('停电 Outages', rows.length ? rows.map(function (r) {
        var p = r[1];
        return el('div', { class: 'ga-outage ga-' + r[0], 'data-plan': p.plan_id }, [
          el('b', { text: (r[0] === 'current' ? '进行中 current' : '计划 planned') + ' #' + p.plan_id + ' ' + (p.title || '') }),
          el('div', { class: 'ga-subtitle', text: (p.window_start || '?') + ' → ' + (p.window_end || '?') + ' · ' + p.status })
        ]);
      }) : [el('div', { class: 'ga-subtitle', text: '无 none' })]));
    }
    if (v.interactions) {
      var it = v.interactions;
      var chips = Object.keys(it.by_channel).map(function (k) { return el('span', { class: 'ga-chip', text: k + ' ' + it.by_channel[k] }); });
      var recent = el('ul', { class: 'ga-recent' }, it.recent.map(function (r) {
        return el('li', {}, [el('small', { text: r.occurred_at.slice(0, 16).replace('T', ' ') + ' · ' + r.channel + ' · ' + r.kind }),
                             r.text ? el('div', { text: r.text }) : null]);
      }));
      viewDiv.appendChild(section('交互 Interactions · ' + it.total + ' 次 · 投诉 complaints ' + it.complaint_count, [el('div', {}, chips), recent]));
    }
    var finder = el('input', { type: 'search', class: 'ga-finder', placeholder: '查字段 Find a field: 容量 / capacity', 'aria-label': '查字段 Field finder' });
    var found = el('div', { class: 'ga-found' });
    var fseq = 0;
    finder.addEventListener('input', function () {
      var q = finder.value.trim();
      var my = ++fseq;
      if (!q) { found.innerHTML = ''; return; }
      ctx.api.json('/customers/' + encodeURIComponent(v.account_no) + '/fields?q=' + encodeURIComponent(q)).then(function (b) {
        if (my !== fseq) return;
        found.innerHTML = '';
        if (!b.data.length) found.appendChild(el('div', { class: 'ga-subtitle', text: '无匹配字段 no matching field' }));
        found.appendChild(table(b.data.map(function (f) {
          var val = f.value === true ? '是 yes' : f.value === false ? '否 no' : f.value;
          return [f.label_zh + ' ' + f.label_en, val === null || val === undefined ? null : String(val)];
        })));
        found.setAttribute('data-fields', b.data.map(function (f) { return f.field; }).join(','));
      }).catch(ctx.report);
    });
    viewDiv.appendChild(section('查字段 Field finder', [finder, found]));
    viewDiv.hidden = false;
  }

  ctx.openView = openView;
}
