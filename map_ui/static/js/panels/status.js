/* The status box: what is drawn, and every API error as a clear message (never a blank map). */

import { el, box } from '../dom.js';

export function installStatus(ctx) {
  let line, errorsDiv, div;
  box('ga-status', (d) => {
    div = d;
    d.setAttribute('role', 'status');
    d.setAttribute('aria-live', 'polite');
    line = el('div', { class: 'ga-status-line', text: ctx.t('loading') });
    errorsDiv = el('div', { class: 'ga-errors', role: 'alert', title: ctx.t('dismiss') });
    errorsDiv.addEventListener('click', () => { errorsDiv.innerHTML = ''; });
    d.appendChild(line);
    d.appendChild(el('div', { class: 'ga-progress' }, el('div')));
    d.appendChild(errorsDiv);
  }, { position: 'bottomleft' }).addTo(ctx.map);

  ctx.errors = [];
  ctx.report = function (err) {
    const msg = err && err.message ? err.message : String(err);
    const where = err && err.url ? ' (' + err.url.replace(location.origin, '') + ')' : '';
    ctx.errors.push({ message: msg, url: err && err.url, status: err && err.status });
    errorsDiv.appendChild(el('div', {}, [el('b', { text: ctx.t('error') }), msg + where]));
    div.classList.add('ga-has-error');
    if (window.console) console.error('GridAtlas:', msg + where);
  };
  ctx.setStatus = function (text, done) {
    line.textContent = text;
    div.classList.toggle('ga-done', !!done);
  };
  ctx.clearErrors = function () { errorsDiv.innerHTML = ''; };
}
