/* The header: title, the caller search box (GET /api/v1/search) and sign-out.
 * Keyboard: "/" focuses the box, Enter searches, ↓/↑ move through the results, Enter opens one,
 * Escape closes the list and returns to the box. */

import { el, box } from '../dom.js';

export function installSearch(ctx) {
  let input, results;
  box('ga-header', (div) => {
    const t = ctx.t;
    input = el('input', { type: 'search', placeholder: t('search_placeholder'),
                          'aria-label': t('search_label'), autocomplete: 'off', 'aria-controls': 'ga-results' });
    const form = el('form', { class: 'ga-search', role: 'search' }, [input, el('button', { class: 'ga-btn', type: 'submit' }, t('locate'))]);
    results = el('div', { class: 'ga-results', id: 'ga-results', role: 'listbox', 'aria-label': t('results') });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const q = input.value.trim();
      if (q) search(q).catch(ctx.report);
    });
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowDown') { const first = results.querySelector('.ga-result-item'); if (first) { ev.preventDefault(); first.focus(); } }
      if (ev.key === 'Escape') { results.innerHTML = ''; }
    });
    results.addEventListener('keydown', (ev) => {
      const items = Array.from(results.querySelectorAll('.ga-result-item'));
      const i = items.indexOf(document.activeElement);
      if (ev.key === 'ArrowDown' && i >= 0 && i < items.length - 1) { ev.preventDefault(); items[i + 1].focus(); }
      if (ev.key === 'ArrowUp') { ev.preventDefault(); if (i > 0) items[i - 1].focus(); else input.focus(); }
      if (ev.key === 'Escape') { results.innerHTML = ''; input.focus(); }
    });
    const signOut = el('button', { class: 'ga-btn ga-secondary ga-signout', type: 'button' }, t('sign_out'));
    signOut.addEventListener('click', () => ctx.signOut());
    const lang = el('button', { class: 'ga-btn ga-secondary ga-lang', type: 'button', title: t('language_title'), lang: ctx.lang === 'zh' ? 'en' : 'zh' }, t('language'));
    lang.addEventListener('click', () => ctx.switchLanguage(ctx.lang === 'zh' ? 'en' : 'zh'));
    div.appendChild(el('div', { class: 'ga-title' }, [t('title'), el('small', { text: t('subtitle') }), signOut, lang]));
    ctx.headerActions = el('div', { class: 'ga-header-actions' });
    div.appendChild(form);
    div.appendChild(results);
    div.appendChild(ctx.headerActions);
  }, { position: 'topleft' }).addTo(ctx.map);

  document.addEventListener('keydown', (ev) => {
    if (ev.key === '/' && !/^(INPUT|TEXTAREA|SELECT)$/.test((document.activeElement || {}).tagName || '')) { ev.preventDefault(); input.focus(); }
  });

  async function search(q) {
    results.innerHTML = '';
    const body = await ctx.api.json('/search?q=' + encodeURIComponent(q) + '&limit=10');
    const items = body.data || [];
    const list = items.length ? items : (body.suggestions || []);
    if (!items.length) {
      results.appendChild(el('div', { class: 'ga-subtitle', text: ctx.t('no_match') + (list.length ? ' · ' + ctx.t('suggestions') : '') }));
    }
    list.forEach((r) => {
      const a = el('a', { class: 'ga-result-item', role: 'option', 'data-account': r.account_no, tabindex: '0' }, [
        el('b', { text: r.name || r.account_no }), ' ', el('span', { class: 'ga-chip', text: r.account_no }),
        r.sensitivity ? el('span', { class: 'ga-tag', text: r.sensitivity }) : null,
        el('div', { class: 'ga-subtitle', text: (r.address || '') + (r.matched ? ' · ' + ctx.t('matched') + ': ' + [].concat(r.matched).join(', ') : '') })
      ]);
      // stop the click here: the item is removed at once, and Leaflet would take a detached target for a map click
      const pick = (ev) => { if (ev) { ev.stopPropagation(); ev.preventDefault(); } pickResult(r).catch(ctx.report); };
      a.addEventListener('click', pick);
      a.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') pick(ev); });
      results.appendChild(a);
    });
    ctx.ga.searchResults = list.map((r) => r.account_no);
    return body;
  }

  async function pickResult(r) {
    results.innerHTML = '';
    if (typeof r.lon === 'number' && typeof r.lat === 'number') {
      ctx.map.setView([r.lat, r.lon], Math.max(ctx.map.getZoom(), 19), { animate: false });
    }
    await ctx.openCustomer(r.account_no);
    return ctx.openView(r.account_no);
  }

  ctx.search = search;
  ctx.searchInput = () => input;
}
