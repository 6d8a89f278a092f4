/* Interface strings in Chinese and English. The language: ?lang=zh|en, else the last choice of the
 * switch (localStorage), else zh when the browser asks for Chinese, English otherwise. The domain's
 * own labels (labels.js: switch kinds, 台区, sensitivity…) stay bilingual in popups and the customer view. */

export const STRINGS = {
  zh: {
    title: 'GridAtlas 电网一张图', subtitle: '调度地图',
    search_placeholder: '电话 / 户号 / 户名 / 地址', search_label: '搜索客户', locate: '定位', results: '搜索结果',
    no_match: '无匹配', suggestions: '附近建议：', matched: '匹配',
    sign_out: '退出', sign_in: '登录', sign_in_title: 'GridAtlas 登录', api_key: 'API 密钥',
    sign_in_help: '输入您的 API 密钥（管理员用 gridatlas keys create 生成）。密钥只保存在本标签页。',
    key_refused: '密钥被拒绝：', enter_key: '请输入密钥。', checking: '验证中…', please_sign_in: '请登录',
    loading: '加载中…', loaded: '已加载', partly_loaded: '部分加载', features: '要素', customers: '客户',
    sensitive: '敏感', feeders_in_view: '条馈线在视图内', error: '错误：', dismiss: '点击清除',
    legend: '图例', feeders: '10kV 馈线', in_view: '视图内', zoom_in_more: '放大查看更多', none: '无',
    lines: '线路', switches: '开关', hollow_open: '空心 = 常开', equipment: '设备', customers_h: '客户', highlight: '高亮',
    layer_substations: '变电站', layer_trunks: '馈线主干', layer_mv: '10kV 馈线', layer_lv: '低压线路', layer_switches: '开关',
    layer_transformers: '配变 台区', layer_meter_boxes: '表箱', layer_customers: '用电客户', layer_sensitive: '敏感客户',
    layer_highlight: '高亮', language: 'English', language_title: 'Switch to English', no_grid: '没有电网数据：请先运行 gridatlas import city',
    zoom_in: '放大', zoom_out: '缩小',
    contact_confirm_or_correct: '核实/更正', contact_form: '核实联系方式', contact_confirm_unchanged: '确认无误', contact_save: '保存',
    contact_cancel: '取消', contact_touchpoint: '触点', contact_note: '备注', contact_reload: '重新加载',
    contact_conflict: '联系方式已被他人修改，未保存任何内容：请重新加载后再核对。', contact_forbidden: '您的角色无权修改联系方式。',
    contact_nothing_changed: '没有更改：如信息无误请点"确认无误"。', contact_confirmed: '已确认无误', contact_changed: '已更改',
    contact_no_history: '暂无记录',
    contact_f_name: '户名', contact_f_phone: '电话', contact_f_phone_alt: '备用电话', contact_f_wechat_openid: '微信 OpenID', contact_f_address: '地址',
    touchpoint_call_centre: '呼叫中心', touchpoint_counter: '营业厅', touchpoint_field: '现场', touchpoint_wechat: '微信', touchpoint_import: '导入',
    alerts_title: '实时告警', dismiss_notice: '关闭提醒', account: '户号', alert_state: '状态',
    state_new: '新告警', state_acknowledged: '已确认', state_resolved: '已处理', state_false_positive: '误报',
    alert_words_count: '敏感词', alert_messages: '条消息', alert_ack: '确认', alert_resolve: '处理完成',
    alert_false_positive: '误报', alert_note: '处理说明', alert_note_needed: '处理完成需填写处理说明。',
    call_title: '来电', call_key_customer: '重点客户', call_candidates: '多个客户使用此号码，请选择',
    call_unknown: '未知来电', call_suggestions: '地址建议', call_closed: '已结束并记录', call_kind: '类型',
    call_text: '通话摘要（可选）', call_close: '结束来电', close: '关闭',
    // heat layer (layers/heat.js, issue 14); heat_channel_* / heat_kind_* label the API's vocabulary
    layer_heat: '投诉热力', heat_title: '客户诉求热力', heat_mode: '显示', heat_mode_heat: '热力图（H3 网格）',
    heat_mode_transformer: '台区 每千户', heat_mode_feeder: '馈线 每千户', heat_period: '时间', heat_preset_7d: '近 7 天',
    heat_preset_30d: '近 30 天', heat_preset_3m: '近 3 个月', heat_preset_custom: '自定义', heat_from: '开始日期', heat_to: '结束日期',
    heat_channels: '渠道', heat_kinds: '类型', heat_hotspots: '热点 / 冷点（Gi*，FDR 校正）', heat_hot: '热点', heat_cold: '冷点',
    heat_rate_legend: '每千户诉求数', heat_per_cell: '每格诉求数', heat_areas: '个区域', heat_contacts: '次诉求', heat_per_1000: '次/千户',
    heat_pick_one: '请至少选择一个渠道和一个类型。', heat_bad_range: '日期范围无效', heat_list_title: '区域诉求明细',
    heat_by_cell: 'H3 网格', heat_by_transformer: '台区', heat_by_feeder: '馈线', heat_all_kinds: '全部类型', heat_interactions: '条记录',
    heat_texts_hidden: '您的角色不显示诉求内容，电话已脱敏。', heat_time: '时间', heat_channel: '渠道', heat_kind: '类型', heat_phone: '来电号码',
    heat_text: '内容', heat_prev: '上一页', heat_next: '下一页', heat_top: '视图内最高的区域',
    'heat_channel_95598电话': '95598电话', heat_channel_微信: '微信', heat_channel_微博: '微博', heat_channel_掌上电力: '掌上电力',
    heat_channel_网上国网: '网上国网', heat_channel_营业厅: '营业厅',
    heat_kind_咨询: '咨询', heat_kind_投诉: '投诉', heat_kind_报修: '报修', heat_kind_意见: '意见', heat_kind_表扬: '表扬'
  },
  en: {
    title: 'GridAtlas', subtitle: 'Dispatcher grid map',
    search_placeholder: 'Phone, account, name, address', search_label: 'Search customers', locate: 'Locate', results: 'Search results',
    no_match: 'No match', suggestions: 'suggestions:', matched: 'matched',
    sign_out: 'Sign out', sign_in: 'Sign in', sign_in_title: 'Sign in to GridAtlas', api_key: 'API key',
    sign_in_help: 'Enter your API key (an administrator creates one with `gridatlas keys create`). It is kept in this tab only.',
    key_refused: 'The key was refused: ', enter_key: 'Please enter a key.', checking: 'Checking…', please_sign_in: 'Please sign in',
    loading: 'Loading…', loaded: 'Loaded', partly_loaded: 'Partly loaded', features: 'features', customers: 'customers',
    sensitive: 'sensitive', feeders_in_view: 'feeders in view', error: 'Error: ', dismiss: 'Click to dismiss',
    legend: 'Legend', feeders: '10 kV feeders', in_view: 'in view', zoom_in_more: 'zoom in for more', none: 'none',
    lines: 'Lines', switches: 'Switches', hollow_open: 'hollow = normally open', equipment: 'Equipment', customers_h: 'Customers', highlight: 'Highlight',
    layer_substations: 'Substations', layer_trunks: 'Feeder trunks', layer_mv: '10 kV feeders', layer_lv: 'LV lines', layer_switches: 'Switches',
    layer_transformers: 'Transformers (台区)', layer_meter_boxes: 'Meter boxes', layer_customers: 'Customers', layer_sensitive: 'Sensitive customers',
    layer_highlight: 'Highlight', language: '中文', language_title: '切换到中文', no_grid: 'no grid data: run `gridatlas import city` first',
    zoom_in: 'Zoom in', zoom_out: 'Zoom out',
    contact_confirm_or_correct: 'Confirm or correct', contact_form: 'Confirm the contact', contact_confirm_unchanged: 'Confirm unchanged', contact_save: 'Save changes',
    contact_cancel: 'Cancel', contact_touchpoint: 'Touchpoint', contact_note: 'Note', contact_reload: 'Reload',
    contact_conflict: 'The contact was changed meanwhile; nothing was saved: reload and check again.', contact_forbidden: 'Your role may not change contacts.',
    contact_nothing_changed: 'Nothing changed: use "Confirm unchanged" if the details are right.', contact_confirmed: 'confirmed unchanged', contact_changed: 'changed',
    contact_no_history: 'no entries yet',
    contact_f_name: 'Name', contact_f_phone: 'Phone', contact_f_phone_alt: 'Alt. phone', contact_f_wechat_openid: 'WeChat OpenID', contact_f_address: 'Address',
    touchpoint_call_centre: 'call centre', touchpoint_counter: 'counter', touchpoint_field: 'field', touchpoint_wechat: 'WeChat', touchpoint_import: 'import',
    alerts_title: 'Live alerts', dismiss_notice: 'Dismiss', account: 'Account', alert_state: 'State',
    state_new: 'new', state_acknowledged: 'acknowledged', state_resolved: 'resolved', state_false_positive: 'false positive',
    alert_words_count: 'Matched words', alert_messages: 'messages', alert_ack: 'Ack', alert_resolve: 'Resolve',
    alert_false_positive: 'False positive', alert_note: 'What was done', alert_note_needed: 'Resolving needs a note.',
    call_title: 'Incoming call', call_key_customer: 'Key customer', call_candidates: 'Several customers share this number: pick one',
    call_unknown: 'Unknown caller', call_suggestions: 'Suggestions by address', call_closed: 'Closed and recorded', call_kind: 'Kind',
    call_text: 'Summary (optional)', call_close: 'Close call', close: 'Close',
    // heat layer (layers/heat.js, issue 14)
    layer_heat: 'Complaint heat', heat_title: 'Contacts and complaints', heat_mode: 'Show', heat_mode_heat: 'Heat (H3 cells)',
    heat_mode_transformer: '台区 rate per 1,000', heat_mode_feeder: 'Feeder rate per 1,000', heat_period: 'Period', heat_preset_7d: 'Last 7 days',
    heat_preset_30d: 'Last 30 days', heat_preset_3m: 'Last 3 months', heat_preset_custom: 'Custom', heat_from: 'From', heat_to: 'To',
    heat_channels: 'Channels', heat_kinds: 'Kinds', heat_hotspots: 'Hot / cold spots (Gi*, FDR-corrected)', heat_hot: 'hot spot', heat_cold: 'cold spot',
    heat_rate_legend: 'Contacts per 1,000 customers', heat_per_cell: 'Contacts per cell', heat_areas: 'areas', heat_contacts: 'contacts', heat_per_1000: 'per 1,000 customers',
    heat_pick_one: 'Pick at least one channel and one kind.', heat_bad_range: 'Invalid period', heat_list_title: 'Interactions of the area',
    heat_by_cell: 'H3 cell', heat_by_transformer: '台区 Transformer area', heat_by_feeder: 'Feeder', heat_all_kinds: 'all kinds', heat_interactions: 'interactions',
    heat_texts_hidden: 'Your role sees no message texts; phones are masked.', heat_time: 'Time', heat_channel: 'Channel', heat_kind: 'Kind', heat_phone: 'Caller',
    heat_text: 'Text', heat_prev: 'Previous', heat_next: 'Next', heat_top: 'Highest in view',
    'heat_channel_95598电话': '95598 hotline', heat_channel_微信: 'WeChat', heat_channel_微博: 'Weibo', heat_channel_掌上电力: 'Power app (掌上电力)',
    heat_channel_网上国网: 'State Grid online (网上国网)', heat_channel_营业厅: 'Service hall',
    heat_kind_咨询: 'Enquiry', heat_kind_投诉: 'Complaint', heat_kind_报修: 'Repair call', heat_kind_意见: 'Suggestion', heat_kind_表扬: 'Praise'
  }
};

export const LANG_STORE = 'gridatlas.lang';

/** 'zh' or 'en' from an explicit choice, else the browser's languages. */
export function pickLanguage(search, stored, languages) {
  const m = /[?&]lang=(zh|en)\b/.exec(search || '');
  if (m) return m[1];
  if (stored === 'zh' || stored === 'en') return stored;
  return (languages || []).some((l) => /^zh\b/i.test(l)) ? 'zh' : 'en';
}

/** A translator for `lang`: t('loaded') → string; a missing key falls back to English, then to the key. */
export function translator(lang) {
  const table = STRINGS[lang] || STRINGS.en;
  return (key) => (key in table ? table[key] : (key in STRINGS.en ? STRINGS.en[key] : key));
}
