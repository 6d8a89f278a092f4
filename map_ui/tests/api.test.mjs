import test from 'node:test';
import assert from 'node:assert/strict';
import { createApi, problemMessage, takeKeyFromHash, ApiError, KEY_STORE } from '../static/js/api.js';

function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
}

function response(status, body, type = 'application/json') {
  return {
    ok: status >= 200 && status < 300, status, statusText: status === 401 ? 'Unauthorized' : 'X',
    headers: { get: (h) => (h.toLowerCase() === 'content-type' ? type : null) },
    json: async () => body, text: async () => String(body)
  };
}

test('a problem document becomes one message naming the field', () => {
  assert.equal(problemMessage(422, 'Unprocessable', { status: 422, title: 'Invalid input', detail: 'bad', field: 'bbox' }),
    '422 Invalid input: bad (bbox)');
  assert.equal(problemMessage(500, 'Internal Server Error', null), 'HTTP 500 Internal Server Error');
});

test('the key from #key= goes to storage and leaves the address bar', () => {
  const storage = memoryStorage();
  const calls = [];
  const key = takeKeyFromHash({ hash: '#key=ga_abc%2B1', pathname: '/map/', search: '' }, { replaceState: (...a) => calls.push(a) }, storage);
  assert.equal(key, 'ga_abc+1');
  assert.equal(storage.getItem(KEY_STORE), 'ga_abc+1');
  assert.deepEqual(calls, [[null, '', '/map/']]);
  assert.equal(takeKeyFromHash({ hash: '', pathname: '/map/', search: '' }, { replaceState: () => assert.fail() }, storage), null);
});

test('requests carry the key; a 401 calls onUnauthorized with the problem', async () => {
  const storage = memoryStorage();
  storage.setItem(KEY_STORE, 'ga_k');
  const seen = [];
  let unauthorized = null;
  const api = createApi({
    storage, onUnauthorized: (e) => { unauthorized = e; },
    fetchImpl: async (url, init) => {
      seen.push([url, init.headers.Authorization]);
      return url.endsWith('/ok') ? response(200, { fine: true }) :
        response(401, { status: 401, title: 'Unauthorized', detail: 'unknown or revoked API key' }, 'application/problem+json');
    }
  });
  assert.deepEqual(await api.json('/ok'), { fine: true });
  assert.deepEqual(seen[0], ['/api/v1/ok', 'Bearer ga_k']);
  await assert.rejects(api.json('/nope'), (e) => e instanceof ApiError && e.status === 401 && /revoked/.test(e.message));
  assert.ok(unauthorized && unauthorized.problem.detail === 'unknown or revoked API key');
  api.clearKey();
  assert.equal(api.key(), null);
});

test('a network failure is an ApiError with status 0', async () => {
  const api = createApi({ storage: memoryStorage(), fetchImpl: async () => { throw new Error('connection refused'); } });
  await assert.rejects(api.json('/x'), (e) => e instanceof ApiError && e.status === 0 && /connection refused/.test(e.message));
});
