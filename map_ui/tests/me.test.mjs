import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mayFrom, installMe } from '../static/js/me.js';

test('mayFrom answers from the operations list only', () => {
  const me = { role: 'agent', operations: ['GET /api/v1/me', 'PATCH /api/v1/customers/{account_no}/contact'] };
  assert.equal(mayFrom(me, 'PATCH /api/v1/customers/{account_no}/contact'), true);
  assert.equal(mayFrom(me, 'PUT /api/v1/plans/{plan_id}'), false);
  assert.equal(mayFrom(null, 'GET /api/v1/me'), false);
  assert.equal(mayFrom({ role: 'x' }, 'GET /api/v1/me'), false);
});

test('installMe loads /me, sets ctx.me and emits', async () => {
  const seen = [];
  const ctx = { api: { json: async (p) => { seen.push(p); return { role: 'planner', operations: ['PUT /api/v1/plans/{plan_id}'] }; } },
    emit: (name, v) => seen.push(name + ':' + v.role) };
  installMe(ctx);
  assert.equal(ctx.may('PUT /api/v1/plans/{plan_id}'), false);
  await ctx.loadMe();
  assert.deepEqual(seen, ['/me', 'me:planner']);
  assert.equal(ctx.may('PUT /api/v1/plans/{plan_id}'), true);
});
