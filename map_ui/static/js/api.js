/* The API client: the one place that adds the key, reads problem+json and reports errors.
 *
 * The key lives in sessionStorage (this tab only); `takeKeyFromHash` moves a demo link's
 * `#key=…` there and removes it from the address bar. A 401 clears nothing by itself: it calls
 * `onUnauthorized(error)` so the sign-in panel can come back with the server's message. */

export const KEY_STORE = 'gridatlas.apiKey';

export class ApiError extends Error {
  constructor(message, url, status, problem) {
    super(message);
    this.name = 'ApiError';
    this.url = url;
    this.status = status;
    this.problem = problem || null;
  }
}

/** The one-line message of a problem+json document (RFC 9457), naming field and value when given. */
export function problemMessage(status, statusText, pb) {
  if (!pb || typeof pb !== 'object') return 'HTTP ' + status + (statusText ? ' ' + statusText : '');
  let msg = (pb.status || status) + ' ' + (pb.title || statusText || '') + (pb.detail ? ': ' + pb.detail : '');
  const field = pb.field || (pb.errors && pb.errors[0] && pb.errors[0].field);
  if (field && !(pb.detail || '').includes(field)) msg += ' (' + field + ')';
  return msg.trim();
}

/** Move `#key=…` of the address into storage and strip it from the address bar; returns the key or null. */
export function takeKeyFromHash(loc, hist, storage) {
  const m = /(?:^|[#&])key=([^&]+)/.exec(loc.hash || '');
  if (!m) return null;
  const key = decodeURIComponent(m[1]);
  storage.setItem(KEY_STORE, key);
  hist.replaceState(null, '', loc.pathname + loc.search);
  return key;
}

export function createApi({ base = '/api/v1', storage, onUnauthorized, onRequest, fetchImpl, t = (k) => k } = {}) {
  const doFetch = fetchImpl || ((u, i) => fetch(u, i));

  function key() { return storage.getItem(KEY_STORE); }
  function setKey(k) { storage.setItem(KEY_STORE, k); }
  function clearKey() { storage.removeItem(KEY_STORE); }

  function url(pathOrUrl) {
    if (/^https?:/.test(pathOrUrl)) {       // an API link: always to this origin (the map and the API are one app)
      const u = new URL(pathOrUrl, location.href);
      return location.origin + u.pathname + u.search;
    }
    return pathOrUrl.startsWith('/api/') ? pathOrUrl : base + pathOrUrl;
  }

  /** fetch with the key; resolves the Response (ok), rejects an ApiError with the problem's message. */
  async function raw(pathOrUrl, options) {
    const target = url(pathOrUrl);
    const init = Object.assign({}, options || {});
    const headers = Object.assign({ Accept: 'application/geo+json, application/json, application/problem+json' }, init.headers || {});
    const k = key();
    if (k) headers.Authorization = 'Bearer ' + k;
    init.headers = headers;
    if (onRequest) onRequest(target);
    let resp;
    try {
      resp = await doFetch(target, init);
    } catch (e) {
      throw new ApiError(t('network_error') + e.message, target, 0);
    }
    if (resp.ok || resp.status === 304) return resp;
    let pb = null, msg;
    const type = resp.headers.get('content-type') || '';
    try {
      if (type.includes('json')) pb = await resp.json();
      else {
        const text = (await resp.text()).slice(0, 200);
        msg = 'HTTP ' + resp.status + ' ' + resp.statusText + (text ? ': ' + text : '');
      }
    } catch (e) { /* keep the status line */ }
    if (!msg) msg = problemMessage(resp.status, resp.statusText, pb);
    const err = new ApiError(msg, target, resp.status, pb);
    if (resp.status === 401 && onUnauthorized) onUnauthorized(err);
    throw err;
  }

  async function json(pathOrUrl, options) {
    const resp = await raw(pathOrUrl, options);
    return resp.json();
  }

  async function post(path, body, options) {
    return json(path, Object.assign({ method: 'POST', body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' } }, options || {}));
  }

  return { json, post, raw, key, setKey, clearKey, url };
}
