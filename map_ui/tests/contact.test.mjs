import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changedFields, problemField } from '../static/js/panels/contact.js';

test('only changed fields are sent; empty is null; the name is never cleared', () => {
  const initial = { name: '周家帆', phone: '13126282696', phone_alt: null, wechat_openid: null, address: 'a' };
  assert.deepEqual(changedFields(initial, { name: '周家帆', phone: '13126282696', phone_alt: '', wechat_openid: '', address: 'a' }), {});
  assert.deepEqual(changedFields(initial, { name: '', phone: ' 13900001234 ', phone_alt: '', wechat_openid: '', address: '' }),
    { phone: '13900001234', address: null });
});

test('the field a problem names', () => {
  assert.equal(problemField({ field: 'phone' }), 'phone');
  assert.equal(problemField({ errors: [{ field: 'body.phone_alt' }] }), 'phone_alt');
  assert.equal(problemField(null), null);
});
