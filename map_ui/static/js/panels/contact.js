/* Confirm / correct a customer's contact from the customer view, and its history (issue 18).
 *
 * `GET /customers/{a}/contact` gives the values (masked per role) and the ETag; the form sends
 * `PATCH` with `If-Match: <that ETag>` — `{"confirm": true}` or only the fields changed — and the view
 * reloads on success. 412 (changed meanwhile) never overwrites: it offers a Reload; 422 names the field
 * next to its input; 403 says the role may not change contacts. Strings in the chosen language (ctx.t). */

import { el } from '../dom.js';

/** The operation GET /api/v1/me lists when the caller's role may change contacts (the server's
 * GRIDATLAS_CONTACT_EDITOR_ROLES, whatever they are): the form is offered exactly then. A 403 is still
 * shown in the form (the setting may change while the page is open). */
export const EDIT_CONTACT = 'PATCH /api/v1/customers/{account_no}/contact';
export const CONTACT_FIELDS = ['name', 'phone', 'phone_alt', 'wechat_openid', 'address'];
export const TOUCHPOINTS = ['call_centre', 'counter', 'field', 'wechat', 'import'];

/** The fields of `values` that differ from `initial` ('' is null); the name is never cleared. */
export function changedFields(initial, values) {
  const out = {};
  for (const f of CONTACT_FIELDS) {
    if (!(f in values)) continue;
    const v = (values[f] || '').trim() || null;
    const before = (initial[f] === undefined || initial[f] === '') ? null : initial[f];
    if (v === before) continue;
    if (f === 'name' && v === null) continue;
    out[f] = v;
  }
  return out;
}

/** The field a problem+json names ("body.phone" → "phone"), or null. */
export function problemField(pb) {
  if (!pb) return null;
  const f = pb.field || (pb.errors && pb.errors[0] && pb.errors[0].field) || null;
  return f ? String(f).split('.').pop() : null;
}

export function installContact(ctx) {
  const t = ctx.t;
  function canEdit(v) {
    return Boolean(v && v.contact_record && ctx.may(EDIT_CONTACT));
  }

  // a view opened before /me answered is drawn again once it has (the button appears if the role may edit)
  ctx.on('me', () => {
    const v = ctx.ga && ctx.ga.view;
    const panel = document.querySelector('.ga-view');
    if (v && v.account_no && panel && !panel.hidden && !panel.querySelector('.ga-contact-form')) ctx.openView(v.account_no).catch(ctx.report);
  });

  /** The "confirm or correct" button; opens the form after `anchor`. */
  function contactButton(v, anchor) {
    const b = el('button', { class: 'ga-btn ga-contact-open', type: 'button' }, t('contact_confirm_or_correct'));
    b.addEventListener('click', function () {
      openForm(v, anchor).catch(ctx.report);
    });
    return b;
  }

  async function openForm(v, anchor) {
    const acct = v.account_no;
    const parent = anchor.parentNode;
    const old = parent.querySelector('.ga-contact-form');
    if (old) old.remove();
    const path = '/customers/' + encodeURIComponent(acct) + '/contact';
    const resp = await ctx.api.raw(path);
    const etag = resp.headers.get('ETag');
    const body = await resp.json();
    const initial = body.contact || {};
    const form = el('form', { class: 'ga-contact-form', 'data-account': acct, 'aria-label': t('contact_form') });
    const inputs = {};
    const errors = {};
    const rows = CONTACT_FIELDS.map(function (f) {
      const id = 'ga-contact-' + f;
      const input = el('input', { id: id, name: f, type: f.indexOf('phone') === 0 ? 'tel' : 'text', value: initial[f] || '',
                                  autocomplete: 'off' });
      inputs[f] = input;
      errors[f] = el('span', { class: 'ga-field-error', 'data-field': f, role: 'alert' });
      return el('div', { class: 'ga-contact-row' }, [el('label', { for: id, text: t('contact_f_' + f) }), input, errors[f]]);
    });
    const tp = el('select', { id: 'ga-contact-touchpoint', name: 'touchpoint' }, TOUCHPOINTS.map(function (tp) {
      return el('option', { value: tp, text: t('touchpoint_' + tp) });
    }));
    tp.value = 'call_centre';
    const note = el('textarea', { id: 'ga-contact-note', name: 'note', rows: '2', maxlength: '1000' });
    const msg = el('div', { class: 'ga-contact-msg', role: 'status' });
    const confirmBtn = el('button', { class: 'ga-btn ga-contact-confirm', type: 'button' }, t('contact_confirm_unchanged'));
    const saveBtn = el('button', { class: 'ga-btn ga-contact-save', type: 'submit' }, t('contact_save'));
    const cancelBtn = el('button', { class: 'ga-btn ga-secondary ga-contact-cancel', type: 'button' }, t('contact_cancel'));
    form.appendChild(el('h4', { text: t('contact_form') }));
    rows.forEach(function (r) { form.appendChild(r); });
    form.appendChild(el('div', { class: 'ga-contact-row' }, [el('label', { for: 'ga-contact-touchpoint', text: t('contact_touchpoint') }), tp]));
    form.appendChild(el('div', { class: 'ga-contact-row' }, [el('label', { for: 'ga-contact-note', text: t('contact_note') }), note]));
    form.appendChild(msg);
    form.appendChild(el('div', { class: 'ga-contact-actions' }, [confirmBtn, saveBtn, cancelBtn]));

    function close() { form.remove(); }
    function clearErrors() {
      msg.textContent = ''; msg.className = 'ga-contact-msg';
      CONTACT_FIELDS.forEach(function (f) { errors[f].textContent = ''; inputs[f].removeAttribute('aria-invalid'); });
    }
    function busy(on) { [confirmBtn, saveBtn].forEach(function (b) { b.disabled = on; }); }

    async function send(payload) {
      clearErrors();
      payload.touchpoint = tp.value;
      const n = note.value.trim();
      if (n) payload.note = n;
      busy(true);
      try {
        await ctx.api.raw(path, { method: 'PATCH', body: JSON.stringify(payload),
                                  headers: { 'Content-Type': 'application/json', 'If-Match': etag } });
      } catch (err) {
        busy(false);
        showError(err);
        return;
      }
      ctx.ga.contactSaved = (ctx.ga.contactSaved || 0) + 1;
      await ctx.openView(acct);
    }

    function showError(err) {
      const status = err && err.status;
      if (status === 412 || status === 428) {
        msg.className = 'ga-contact-msg ga-contact-conflict';
        const reload = el('button', { class: 'ga-btn ga-contact-reload', type: 'button' }, t('contact_reload'));
        reload.addEventListener('click', function () {
          ctx.openView(acct).then(function () {
            const b = document.querySelector('.ga-view .ga-contact-open');
            if (b) b.click();
          }).catch(ctx.report);
        });
        msg.appendChild(el('div', { text: t('contact_conflict') }));
        msg.appendChild(reload);
        reload.focus();
        return;
      }
      if (status === 403) {
        msg.className = 'ga-contact-msg ga-contact-forbidden';
        msg.textContent = t('contact_forbidden') + ' (' + err.message + ')';
        return;
      }
      if (status === 422 || status === 400) {
        const f = problemField(err.problem);
        const detail = (err.problem && err.problem.detail) || err.message;
        if (f && errors[f]) {
          const own = detail.indexOf(f + ': ') === 0 ? detail.slice(f.length + 2) : detail;   // "phone: not a …"
          errors[f].textContent = t('contact_f_' + f) + ': ' + own;
          inputs[f].setAttribute('aria-invalid', 'true');
          inputs[f].focus();
          return;
        }
        msg.className = 'ga-contact-msg ga-contact-error';
        msg.textContent = detail;
        return;
      }
      msg.className = 'ga-contact-msg ga-contact-error';
      msg.textContent = err && err.message ? err.message : String(err);
    }

    confirmBtn.addEventListener('click', function () { send({ confirm: true }).catch(ctx.report); });
    cancelBtn.addEventListener('click', close);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      const values = {};
      CONTACT_FIELDS.forEach(function (f) { values[f] = inputs[f].value; });
      const changes = changedFields(initial, values);
      if (!Object.keys(changes).length) {
        clearErrors();
        msg.className = 'ga-contact-msg ga-contact-error';
        msg.textContent = t('contact_nothing_changed');
        return;
      }
      send(changes).catch(ctx.report);
    });
    form.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); close(); anchor.querySelector('.ga-contact-open') && anchor.querySelector('.ga-contact-open').focus(); }
    });
    parent.insertBefore(form, anchor.nextSibling);
    ctx.ga.contactEtag = etag;
    inputs.name.focus();
    return form;
  }

  /** The history timeline, newest first, as the API returns it (masked per role). */
  function historySection(entries) {
    const ol = el('ol', { class: 'ga-contact-history' });
    entries.forEach(function (e) {
      const fields = Object.keys(e.changes || {});
      const head = (e.at || '').slice(0, 16).replace('T', ' ') + ' · ' + e.actor + ' · ' + e.role + ' · ' + t('touchpoint_' + e.touchpoint);
      const li = el('li', { 'data-id': e.id, 'data-confirmed': e.confirmed ? 'true' : 'false', 'data-fields': fields.join(',') },
                    [el('small', { text: head })]);
      if (e.confirmed) li.appendChild(el('div', { class: 'ga-contact-confirmed', text: '✓ ' + t('contact_confirmed') }));
      fields.forEach(function (f) {
        const c = e.changes[f] || {};
        const shown = 'old' in c || 'new' in c;
        li.appendChild(el('div', { class: 'ga-contact-change', 'data-field': f, text: t('contact_f_' + f) + ': ' +
          (shown ? (c.old || '—') + ' → ' + (c.new || '—') : t('contact_changed')) }));
      });
      if (e.note) li.appendChild(el('div', { class: 'ga-subtitle', text: e.note }));
      ol.appendChild(li);
    });
    if (!entries.length) return [el('div', { class: 'ga-subtitle', text: t('contact_no_history') })];
    return [ol];
  }

  /** Test hook: the form for the open view whatever the role (the server's 403 is then shown in it). */
  ctx.openContactForm = function () {
    const view = document.querySelector('.ga-view');
    const anchor = view.querySelector('.ga-stale') || view.appendChild(el('div', { class: 'ga-contact-anchor' }));
    return openForm(ctx.ga.view, anchor).then(function () { return true; });
  };
  ctx.contactCanEdit = canEdit;
  ctx.contactButton = contactButton;
  ctx.contactHistory = historySection;
}
