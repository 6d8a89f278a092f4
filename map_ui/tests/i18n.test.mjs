import test from 'node:test';
import assert from 'node:assert/strict';
import { pickLanguage, translator, STRINGS } from '../static/js/i18n.js';

test('zh when the browser asks for Chinese, English otherwise; ?lang= and the switch win', () => {
  assert.equal(pickLanguage('', null, ['zh-CN', 'en']), 'zh');
  assert.equal(pickLanguage('', null, ['en-US', 'zh-TW']), 'zh');
  assert.equal(pickLanguage('', null, ['en-US']), 'en');
  assert.equal(pickLanguage('', null, []), 'en');
  assert.equal(pickLanguage('', 'en', ['zh-CN']), 'en');
  assert.equal(pickLanguage('?lang=zh', 'en', ['en-US']), 'zh');
  assert.equal(pickLanguage('?x=1&lang=en', null, ['zh-CN']), 'en');
});

test('every string exists in both languages', () => {
  assert.deepEqual(Object.keys(STRINGS.zh).sort(), Object.keys(STRINGS.en).sort());
  const t = translator('zh');
  assert.equal(t('loaded'), '已加载');
  assert.equal(translator('en')('loaded'), 'Loaded');
  assert.equal(t('no_such_key'), 'no_such_key');
});
