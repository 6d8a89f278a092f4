/* The unified customer view (GET /api/v1/customers/{account}): profile, contact (masked per role),
 * supply chain, outages, interactions, emotion, stale prompts and the field finder. */

import { el, table } from '../dom.js';
import { label, pick } from '../labels.js';

export function installView(ctx) {
  var t = ctx.t;
  var L_ = function (group, code) { return label(t, group, code); };
  var viewDiv = el('aside', { class: 'ga-box ga-view', role: 'dialog', 'aria-label': t('customer_view') });
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
    var close = el('button', { class: 'ga-close', type: 'button', title: t('close'), 'aria-label': t('close') }, '×');
    close.addEventListener('click', function () { viewDiv.hidden = true; ctx.ga.view = null; });
    viewDiv.appendChild(close);
    var name = v.contact ? v.contact.name : null;
    viewDiv.appendChild(el('h3', {}, [t('customer_h') + ' ', el('span', { class: 'ga-chip', text: v.account_no }), name ? ' ' + name : '']));
    if (nearest && nearest.customers && nearest.customers.length) {
      viewDiv.appendChild(el('div', { class: 'ga-subtitle', text: t('nearest_to_click') +
        nearest.customers[0].distance_m + ' m' + (nearest.transformer_area ? ' · ' + t('f_transformer') + ' ' + nearest.transformer_area.transformer_id : '') }));
    }
    if (v.emotion) {
      var em = el('div', { class: 'ga-emotion ga-emo-' + v.emotion.label }, [el('b', { text: t('emotion') + L_('emotion', v.emotion.label) })]);
      var ul = el('ul', {});
      v.emotion.reasons.forEach(function (r) { ul.appendChild(el('li', { 'data-code': r.code, text: pick(ctx.lang, r.zh, r.en) })); });
      if (v.emotion.reasons.length) em.appendChild(ul);
      viewDiv.appendChild(em);
    }
    var editable = ctx.contactCanEdit(v), buttonShown = false;
    if (v.stale && v.stale.length) {
      var staleDiv = el('div', { class: 'ga-stale' }, v.stale.map(function (p) {
        return el('div', { 'data-code': p.code, text: '⚠ ' + pick(ctx.lang, p.zh, p.en) });
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
      viewDiv.appendChild(section(t('profile') + (v.pii_masked ? t('masked') : ''), [table([
        v.contact ? [t('f_account_name'), c.name] : null,
        v.contact ? [t('f_phone'), [c.phone, c.phone_alt].filter(Boolean).join(' / ')] : null,
        v.contact ? [t('f_address'), c.address] : null,
        v.profile ? [t('f_category'), L_('category', prof.category)] : null,
        v.profile ? [t('f_capacity'), prof.contract_kva !== null && prof.contract_kva !== undefined ? prof.contract_kva + ' kVA' : null] : null,
        v.profile ? [t('f_sensitivity'), prof.sensitivity ? el('span', { class: 'ga-tag', text: L_('sensitivity', prof.sensitivity) }) : t('no')] : null,
        v.profile ? [t('f_location'), L_('location_quality', prof.location_quality)] : null,
        v.profile ? [t('f_verified'), prof.contact_verified_at] : null
      ])]));
      if (editable && !buttonShown) {
        var anchor = el('div', { class: 'ga-contact-anchor' });
        anchor.appendChild(ctx.contactButton(v, anchor));
        viewDiv.appendChild(anchor);
      }
    }
    if (v.contact_history) {
      viewDiv.appendChild(section(t('contact_history'), ctx.contactHistory(v.contact_history)));
    }
    if (v.supply) {
      var s = v.supply, ch = s.chain || {};
      var energ = s.energized
        ? el('span', { class: 'ga-tag ga-closed ga-energized', text: t('energized') })
        : el('span', { class: 'ga-tag ga-deenergized', text: t('not_energized') });
      var steps = [];
      if (ch.substation) steps.push(['substation', ch.substation.id, ch.substation.name]);
      if (ch.feeder) steps.push(['feeder', ch.feeder.id, ch.feeder.name]);
      (ch.switches || []).forEach(function (w) { steps.push(['switch', w.id, w.name]); });
      if (ch.transformer) steps.push(['transformer', ch.transformer.id, ch.transformer.name]);
      if (ch.meter_box) steps.push(['meter_box', ch.meter_box.id, null]);
      var ol = el('ol', { class: 'ga-chain' });
      steps.forEach(function (st) {
        ol.appendChild(el('li', { 'data-kind': st[0], 'data-id': st[1] }, [el('span', { class: 'ga-kind', text: L_('path_kind', st[0]) }), st[1] + (st[2] ? ' ' + st[2] : '')]));
      });
      var hl = el('button', { class: 'ga-btn ga-secondary', type: 'button' }, t('highlight_path'));
      hl.addEventListener('click', function () { ctx.showUpstream('customer', v.account_no).catch(ctx.report); });
      viewDiv.appendChild(section(t('supply'), [el('div', {}, [t('now'), energ]), ol, s.note ? el('div', { class: 'ga-subtitle', text: s.note }) : null, hl]));
    }
    if (v.outages) {
      var o = v.outages;
      var rows = o.current.map(function (p) { return ['current', p]; }).concat(o.planned.map(function (p) { return ['planned', p]; }));
      viewDiv.appendChild(section(t('outages'), rows.length ? rows.map(function (r) {
        var p = r[1];
        return el('div', { class: 'ga-outage ga-' + r[0], 'data-plan': p.plan_id }, [
          el('b', { text: (r[0] === 'current' ? t('outage_current') : t('outage_planned')) + ' #' + p.plan_id + ' ' + (p.title || '') }),
          el('div', { class: 'ga-subtitle', text: (p.window_start || '?') + ' → ' + (p.window_end || '?') + ' · ' + L_('plan_status', p.status) })
        ]);
      }) : [el('div', { class: 'ga-subtitle', text: t('none') })]));
    }
    if (v.interactions) {
      var it = v.interactions;
      var chips = Object.keys(it.by_channel).map(function (k) { return el('span', { class: 'ga-chip', text: L_('channel', k) + ' ' + it.by_channel[k] }); });
      var recent = el('ul', { class: 'ga-recent' }, it.recent.map(function (r) {
        return el('li', {}, [el('small', { text: r.occurred_at.slice(0, 16).replace('T', ' ') + ' · ' + L_('channel', r.channel) + ' · ' + L_('interaction_kind', r.kind) }),
                             r.text ? el('div', { text: r.text }) : null]);
      }));
      viewDiv.appendChild(section(t('interactions') + ' · ' + it.total + ' ' + t('times') + ' · ' + t('complaints') + ' ' + it.complaint_count, [el('div', {}, chips), recent]));
    }
    var finder = el('input', { type: 'search', class: 'ga-finder', placeholder: t('field_finder_placeholder'), 'aria-label': t('field_finder') });
    var found = el('div', { class: 'ga-found' });
    var fseq = 0;
    finder.addEventListener('input', function () {
      var q = finder.value.trim();
      var my = ++fseq;
      if (!q) { found.innerHTML = ''; return; }
      ctx.api.json('/customers/' + encodeURIComponent(v.account_no) + '/fields?q=' + encodeURIComponent(q)).then(function (b) {
        if (my !== fseq) return;
        found.innerHTML = '';
        if (!b.data.length) found.appendChild(el('div', { class: 'ga-subtitle', text: t('no_matching_field') }));
        found.appendChild(table(b.data.map(function (f) {
          var val = f.value === true ? t('yes') : f.value === false ? t('no') : f.value;
          return [pick(ctx.lang, f.label_zh, f.label_en), val === null || val === undefined ? null : String(val)];
        })));
        found.setAttribute('data-fields', b.data.map(function (f) { return f.field; }).join(','));
      }).catch(ctx.report);
    });
    viewDiv.appendChild(section(t('field_finder'), [finder, found]));
    viewDiv.hidden = false;
  }

  ctx.openView = openView;
}
