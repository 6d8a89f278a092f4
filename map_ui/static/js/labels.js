/* Labels of the domain's codes in the chosen language. The strings live in i18n.js under
 * 'group.code' keys (both languages, checked by a node test); a code with no label is shown as it is
 * (a new sensitivity class in the data must not blank the cell). */

export const SENSITIVITY_GLYPH = { '医院': '医', '生命支持': '命', '政府': '政', '重要客户': '重', '大客户': '大' };
export const SWITCH_KIND_CODES = ['breaker', 'load_switch', 'disconnector', 'fuse', 'tie'];
export const LV_COLOR = '#9aa0a6';

/** The label of `code` in `group` (switch_kind, segment_kind, sensitivity, category, path_kind,
 * location_quality, emotion, channel, interaction_kind, plan_status, step_action, severity)
 * with the translator `t`; the code itself when there is none. */
export function label(t, group, code) {
  if (code === null || code === undefined || code === '') return code;
  const key = group + '.' + code;
  const s = t(key);
  return s === key ? String(code) : s;
}

/** A translated pair the server sends as {zh, en} (emotion reasons, stale prompts, field labels). */
export function pick(lang, zh, en) {
  return lang === 'zh' ? (zh || en) : (en || zh);
}
