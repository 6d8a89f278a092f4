/* Who the signed-in key is and what its role may do (GET /api/v1/me).
 *
 * ctx.me is the server's answer (null before sign-in); ctx.may('PATCH /api/v1/customers/{account_no}/contact')
 * tells whether an action should be offered at all. The list comes from the routes' own role checks, so the
 * page offers what the server accepts; a 403 is still handled where an action is sent (settings can change).
 * Emits 'me' once loaded.
 */

export function mayFrom(me, op) {
  return !!(me && Array.isArray(me.operations) && me.operations.includes(op));
}

export function installMe(ctx) {
  ctx.me = null;
  ctx.may = (op) => mayFrom(ctx.me, op);
  ctx.loadMe = async () => {
    ctx.me = await ctx.api.json('/me');
    if (ctx.ga) ctx.ga.me = ctx.me;
    ctx.emit('me', ctx.me);
    return ctx.me;
  };
}
