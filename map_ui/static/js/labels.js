/* Labels of the domain's codes (bilingual: the map is used by Chinese and English speakers alike;
 * the interface chrome is switched by i18n.js). */

export const SWITCH_KINDS = {
  breaker: '断路器 Breaker',
  load_switch: '负荷开关 Load switch',
  disconnector: '刀闸 Disconnector',
  fuse: '熔断器 Fuse',
  tie: '联络开关 Tie switch'
};
export const SEGMENT_KINDS = { overhead: '架空线 Overhead', cable: '电缆 Cable', lv_cable: '低压电缆 LV cable' };
export const SENSITIVITY_GLYPH = { '医院': '医', '生命支持': '命', '政府': '政', '重要客户': '重', '大客户': '大' };
export const SENSITIVITY_EN = { '医院': 'hospital', '生命支持': 'life support', '政府': 'government', '重要客户': 'key account', '大客户': 'large account' };
export const PATH_KINDS = {
  customer: '客户 customer', meter_box: '表箱 meter box', segment: '线路段 segment',
  transformer: '配变 transformer', switch: '开关 switch', node: '母线 bus', substation: '变电站 substation'
};
export const LOCATION_QUALITY = { surveyed: '实测 surveyed', meter_box: '按表箱 at meter box', transformer: '按台区 at transformer', geocoded: '地址匹配 geocoded' };
export const EMOTION = { calm: '平静 calm', concerned: '关注 concerned', angry: '激动 angry' };
export const LV_COLOR = '#9aa0a6';
