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
    layer_data_quality: '客户数据质量', dq_title: '客户数据质量', dq_rule: '规则', dq_field: '字段', dq_any_rule: '全部规则',
    dq_any_field: '全部字段', dq_rule_stale: '未及时核实', dq_rule_missing: '缺失', dq_rule_invalid: '无效', dq_rule_conflicting: '冲突',
    dq_field_phone: '电话', dq_field_address: '地址', dq_field_name: '户名', dq_field_wechat_openid: '微信绑定',
    dq_flagged: '户有问题', dq_in_view: '户在视图内', dq_finding_stale: '未及时核实', dq_finding_missing_phone: '缺电话',
    dq_finding_invalid_phone: '电话无效', dq_finding_conflicting_phone: '电话与他人户名冲突', dq_finding_missing_address: '缺地址',
    dq_finding_missing_name: '缺户名', dq_finding_invalid_wechat_openid: '微信绑定无效',
    layer_highlight: '高亮', language: 'English', language_title: 'Switch to English', no_grid: '没有电网数据：请先运行 gridatlas import city',
    zoom_in: '放大', zoom_out: '缩小',
    contact_confirm_or_correct: '核实/更正', contact_form: '核实联系方式', contact_confirm_unchanged: '确认无误', contact_save: '保存',
    contact_cancel: '取消', contact_touchpoint: '触点', contact_note: '备注', contact_reload: '重新加载',
    contact_conflict: '联系方式已被他人修改，未保存任何内容：请重新加载后再核对。', contact_forbidden: '您的角色无权修改联系方式。',
    contact_nothing_changed: '没有更改：如信息无误请点"确认无误"。', contact_confirmed: '已确认无误', contact_changed: '已更改',
    contact_no_history: '暂无记录',
    contact_f_name: '户名', contact_f_phone: '电话', contact_f_phone_alt: '备用电话', contact_f_wechat_openid: '微信 OpenID', contact_f_address: '地址',
    touchpoint_call_centre: '呼叫中心', touchpoint_counter: '营业厅', touchpoint_field: '现场', touchpoint_wechat: '微信', touchpoint_import: '导入',
    tc_title: '故障研判', layer_trouble_calls: '故障研判', tc_window: '时间窗', tc_1h: '近 1 小时', tc_4h: '近 4 小时',
    tc_24h: '近 24 小时', tc_custom: '自定义', tc_from: '从', tc_to: '至', tc_apply: '查询', tc_refresh: '刷新',
    tc_bad_window: '请填写起止时间。', tc_bad_order: '结束时间须晚于开始时间。', tc_calls_in_window: '条报修',
    tc_predictions: '个研判设备', tc_unexplained: '条未解释', tc_unexplained_one: '未解释报修', tc_calls_h: '报修',
    tc_customers_h: '户受影响', tc_none: '该时间窗内无研判设备', tc_absorbed: '含下级：',
    tc_masked: '报修按台区位置显示（您的角色不查看个人信息）。',
    tc_reason_below_threshold: '未达阈值', tc_reason_not_supplied: '无供电路径', tc_reason_no_device: '无保护设备',
    tc_reason_unknown_customer: '未知客户', tc_reason_no_customer: '无客户',
    alerts_title: '实时告警', dismiss_notice: '关闭提醒', account: '户号', alert_state: '状态',
    state_new: '新告警', state_acknowledged: '已确认', state_resolved: '已处理', state_false_positive: '误报',
    alert_words_count: '敏感词', alert_messages: '条消息', alert_ack: '确认', alert_resolve: '处理完成',
    alert_false_positive: '误报', alert_note: '处理说明', alert_note_needed: '处理完成需填写处理说明。',
    call_title: '来电', call_key_customer: '重点客户', call_candidates: '多个客户使用此号码，请选择',
    call_unknown: '未知来电', call_suggestions: '地址建议', call_closed: '已结束并记录', call_kind: '类型',
    call_text: '通话摘要（可选）', call_close: '结束来电', close: '关闭',
    cs_open: '征询', cs_title: '停电征询', cs_plans: '停电计划', cs_all_plans: '全部计划', cs_screening: '客户筛选',
    cs_list_consult: '征询', cs_list_notify: '仅通知', cs_list_phone: '电话联系', cs_channel: '渠道', cs_rules: '规则',
    cs_wechat: '微信', cs_sms: '短信', cs_prev: '上一页', cs_next: '下一页', cs_draft_hint: '计划转为"征询"后可发送征询。',
    cs_send_title: '发送征询', cs_start: '开始', cs_end: '结束', cs_remove_window: '删除时段', cs_add_window: '+ 备选时段',
    cs_windows_fixed: '已按这些时段征询，时段不再更改。', cs_channel_auto: '自动（有微信用微信，否则短信）', cs_channel_sms: '全部短信',
    cs_reason: '停电原因', cs_fix: '请检查：', cs_send: '发送征询…', cs_confirm_title: '确认发送', cs_will_send: '将发送',
    cs_messages: '条消息', cs_windows_n: '备选时段', cs_skipped: '已征询跳过', cs_confirm: '确认发送', cs_sent: '已发送',
    cs_replies: '回复（按时段）', cs_consulted: '已征询', cs_replied: '已回复', cs_outbox: '消息', cs_window: '时段',
    cs_accept: '同意', cs_prefer_other: '希望其他时段', cs_object: '反对', cs_recommendation: '推荐方案', cs_alternative: '方案',
    cs_cmin: '户·分钟', cs_adopt: '采用', cs_adopted: '已采用', cs_conflict: '计划已被修改，未保存：请重新打开后再采用。',
    status_draft: '草稿', status_consulting: '征询中', status_approved: '已批准', status_executed: '已执行', status_cancelled: '已取消'
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
    layer_data_quality: 'Customer data quality', dq_title: 'Customer data quality', dq_rule: 'Rule', dq_field: 'Field', dq_any_rule: 'any rule',
    dq_any_field: 'any field', dq_rule_stale: 'stale', dq_rule_missing: 'missing', dq_rule_invalid: 'invalid', dq_rule_conflicting: 'conflicting',
    dq_field_phone: 'phone', dq_field_address: 'address', dq_field_name: 'name', dq_field_wechat_openid: 'WeChat binding',
    dq_flagged: 'flagged', dq_in_view: 'customers in view', dq_finding_stale: 'not verified in the period', dq_finding_missing_phone: 'no phone',
    dq_finding_invalid_phone: 'invalid phone', dq_finding_conflicting_phone: 'phone shared with another name', dq_finding_missing_address: 'no address',
    dq_finding_missing_name: 'no name', dq_finding_invalid_wechat_openid: 'invalid WeChat binding',
    layer_highlight: 'Highlight', language: '中文', language_title: '切换到中文', no_grid: 'no grid data: run `gridatlas import city` first',
    zoom_in: 'Zoom in', zoom_out: 'Zoom out',
    contact_confirm_or_correct: 'Confirm or correct', contact_form: 'Confirm the contact', contact_confirm_unchanged: 'Confirm unchanged', contact_save: 'Save changes',
    contact_cancel: 'Cancel', contact_touchpoint: 'Touchpoint', contact_note: 'Note', contact_reload: 'Reload',
    contact_conflict: 'The contact was changed meanwhile; nothing was saved: reload and check again.', contact_forbidden: 'Your role may not change contacts.',
    contact_nothing_changed: 'Nothing changed: use "Confirm unchanged" if the details are right.', contact_confirmed: 'confirmed unchanged', contact_changed: 'changed',
    contact_no_history: 'no entries yet',
    contact_f_name: 'Name', contact_f_phone: 'Phone', contact_f_phone_alt: 'Alt. phone', contact_f_wechat_openid: 'WeChat OpenID', contact_f_address: 'Address',
    touchpoint_call_centre: 'call centre', touchpoint_counter: 'counter', touchpoint_field: 'field', touchpoint_wechat: 'WeChat', touchpoint_import: 'import',
    tc_title: 'Trouble calls', layer_trouble_calls: 'Trouble calls', tc_window: 'Window', tc_1h: 'Last hour', tc_4h: 'Last 4 hours',
    tc_24h: 'Last 24 hours', tc_custom: 'Custom', tc_from: 'From', tc_to: 'To', tc_apply: 'Show', tc_refresh: 'Refresh',
    tc_bad_window: 'Give a start and an end.', tc_bad_order: 'The end must come after the start.', tc_calls_in_window: 'repair calls',
    tc_predictions: 'probable devices', tc_unexplained: 'unexplained', tc_unexplained_one: 'Unexplained call', tc_calls_h: 'calls',
    tc_customers_h: 'customers affected', tc_none: 'No probable device in this window', tc_absorbed: 'Includes:',
    tc_masked: 'Calls are shown at their 台区 (your role does not see personal data).',
    tc_reason_below_threshold: 'below threshold', tc_reason_not_supplied: 'not supplied', tc_reason_no_device: 'no protective device',
    tc_reason_unknown_customer: 'unknown customer', tc_reason_no_customer: 'no customer',
    alerts_title: 'Live alerts', dismiss_notice: 'Dismiss', account: 'Account', alert_state: 'State',
    state_new: 'new', state_acknowledged: 'acknowledged', state_resolved: 'resolved', state_false_positive: 'false positive',
    alert_words_count: 'Matched words', alert_messages: 'messages', alert_ack: 'Ack', alert_resolve: 'Resolve',
    alert_false_positive: 'False positive', alert_note: 'What was done', alert_note_needed: 'Resolving needs a note.',
    call_title: 'Incoming call', call_key_customer: 'Key customer', call_candidates: 'Several customers share this number: pick one',
    call_unknown: 'Unknown caller', call_suggestions: 'Suggestions by address', call_closed: 'Closed and recorded', call_kind: 'Kind',
    call_text: 'Summary (optional)', call_close: 'Close call', close: 'Close',
    cs_open: 'Consultation', cs_title: 'Consultation', cs_plans: 'Switching plans', cs_all_plans: 'All plans', cs_screening: 'Screening',
    cs_list_consult: 'Consult', cs_list_notify: 'Notify only', cs_list_phone: 'Call by phone', cs_channel: 'Channel', cs_rules: 'Rules',
    cs_wechat: 'WeChat', cs_sms: 'SMS', cs_prev: 'Previous page', cs_next: 'Next page', cs_draft_hint: 'Move the plan to "consulting" to send the consultation.',
    cs_send_title: 'Send the consultation', cs_start: 'Start', cs_end: 'End', cs_remove_window: 'Remove window', cs_add_window: '+ candidate window',
    cs_windows_fixed: 'Customers were consulted on these windows: they are fixed.', cs_channel_auto: 'Auto (WeChat, else SMS)', cs_channel_sms: 'SMS to all',
    cs_reason: 'Reason', cs_fix: 'Please check:', cs_send: 'Send consultation…', cs_confirm_title: 'Confirm sending', cs_will_send: 'This sends',
    cs_messages: 'messages', cs_windows_n: 'candidate windows', cs_skipped: 'already consulted, skipped', cs_confirm: 'Send now', cs_sent: 'Sent',
    cs_replies: 'Replies per window', cs_consulted: 'Consulted', cs_replied: 'replied', cs_outbox: 'messages', cs_window: 'Window',
    cs_accept: 'Accept', cs_prefer_other: 'Prefer another', cs_object: 'Object', cs_recommendation: 'Recommendation', cs_alternative: 'Alternative',
    cs_cmin: 'Cust.-min', cs_adopt: 'Adopt', cs_adopted: 'Adopted', cs_conflict: 'The plan changed meanwhile; nothing was saved: open it again and adopt.',
    status_draft: 'draft', status_consulting: 'consulting', status_approved: 'approved', status_executed: 'executed', status_cancelled: 'cancelled'
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
