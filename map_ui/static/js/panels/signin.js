/* Sign-in: an API key typed in (kept in sessionStorage: this tab only; sign-out clears it), or
 * taken from a demo link's #key=… (then removed from the address bar). A 401 from any call brings
 * the panel back with the server's reason. */

import { el } from '../dom.js';

export function installSignIn(ctx, { onSignedIn }) {
  const t = ctx.t;
  const input = el('input', { type: 'password', id: 'ga-key', autocomplete: 'off', spellcheck: 'false',
                              placeholder: 'ga_…', 'aria-describedby': 'ga-signin-msg' });
  const msg = el('div', { class: 'ga-signin-msg', id: 'ga-signin-msg', role: 'alert' });
  const form = el('form', { class: 'ga-signin-form' }, [
    el('label', { for: 'ga-key', text: t('api_key') }), input,
    el('button', { class: 'ga-btn', type: 'submit' }, t('sign_in'))
  ]);
  const panel = el('aside', { class: 'ga-box ga-signin', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'ga-signin-title' }, [
    el('h2', { id: 'ga-signin-title', text: t('sign_in_title') }),
    el('p', { class: 'ga-subtitle', text: t('sign_in_help') }),
    form, msg
  ]);
  panel.hidden = true;
  L.DomEvent.disableClickPropagation(panel);
  L.DomEvent.disableScrollPropagation(panel);
  document.body.appendChild(panel);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) { msg.textContent = t('enter_key'); return; }
    ctx.api.setKey(key);
    msg.textContent = t('checking');
    try {
      await ctx.api.json('/tiles/grid');
    } catch (e) {
      if (e.status !== 401) msg.textContent = e.message;   // a 401 has called show() with its reason
      return;
    }
    msg.textContent = '';
    input.value = '';
    panel.hidden = true;
    ctx.ga.signedIn = true;
    onSignedIn();
  });

  function show(reason) {
    ctx.api.clearKey();
    ctx.ga.signedIn = false;
    msg.textContent = reason ? t('key_refused') + reason : '';
    panel.hidden = false;
    input.focus();
  }

  ctx.showSignIn = show;
  ctx.signOut = function () {
    ctx.api.clearKey();
    location.reload();                 // nothing of the previous session stays in the page
  };
  return { show, panel };
}
