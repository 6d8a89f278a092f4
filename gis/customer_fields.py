"""The field catalogue of the unified customer view: zh/en labels and synonyms, and the finder.

Typing ``容量`` or ``capacity`` in the view's field finder lists the fields whose key, labels
or synonyms contain the query (case-insensitive, NFKC-normalized), in catalogue order, with
the customer's value as the view holds it (masked values stay masked; fields of panels the
role does not see are absent from the view and so never found).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["FieldInfo", "FIELD_CATALOGUE", "find_fields"]


@dataclass(frozen=True)
class FieldInfo:
    key: str
    zh: str
    en: str
    synonyms: tuple[str, ...] = ()

    def terms(self) -> tuple[str, ...]:
        return tuple(_norm(t) for t in (self.key, self.zh, self.en, *self.synonyms))


FIELD_CATALOGUE: tuple[FieldInfo, ...] = (
    FieldInfo("account_no", "户号", "Account number", ("用户编号", "账号", "account", "acct", "户")),
    FieldInfo("name", "户名", "Account name", ("姓名", "名字", "客户名称", "name", "customer")),
    FieldInfo("address", "用电地址", "Supply address", ("地址", "住址", "address", "location")),
    FieldInfo("phone", "联系电话", "Phone", ("电话", "手机", "号码", "mobile", "tel", "contact")),
    FieldInfo("phone_alt", "备用电话", "Alternate phone", ("电话", "手机", "mobile", "tel", "contact")),
    FieldInfo("wechat_openid", "微信 OpenID", "WeChat OpenID", ("微信", "wechat", "openid")),
    FieldInfo("id_number", "证件号码", "ID number", ("身份证", "证件", "identity", "id card")),
    FieldInfo("category", "用电类别", "Customer category", ("类别", "类型", "居民", "type", "class")),
    FieldInfo("contract_kva", "合同容量", "Contract capacity (kVA)", ("容量", "报装容量", "kva", "contract", "capacity")),
    FieldInfo("sensitivity", "敏感等级", "Sensitivity", ("敏感", "重要", "保电", "sensitive", "priority")),
    FieldInfo("location_quality", "坐标质量", "Location quality", ("坐标", "定位", "位置", "coordinates", "location")),
    FieldInfo("contact_verified_at", "联系方式核实日期", "Contact verified on", ("核实", "核对", "verified", "contact")),
    FieldInfo("substation_id", "变电站", "Substation", ("站", "substation")),
    FieldInfo("feeder_id", "馈线", "Feeder", ("线路", "10kV", "feeder", "line")),
    FieldInfo("transformer_id", "台区 (配变)", "Transformer area", ("台区", "配变", "变压器", "transformer", "area")),
    FieldInfo("transformer_kva", "配变容量", "Transformer capacity (kVA)", ("容量", "kva", "rating", "capacity")),
    FieldInfo("meter_box_id", "表箱", "Meter box", ("表", "电表", "meter")),
    FieldInfo("energized", "当前是否有电", "Energized now", ("供电", "停电", "有电", "power", "outage")),
    FieldInfo("outage_count", "停电计划", "Current and planned outages", ("停电", "计划", "outage", "plan")),
    FieldInfo("interaction_count", "交互次数", "Interactions", ("来电", "联系", "工单", "contacts", "calls")),
    FieldInfo("complaint_count", "投诉次数", "Complaints", ("投诉", "complaint")),
    FieldInfo("emotion", "情绪", "Emotion", ("情绪", "态度", "mood", "emotion")),
)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def find_fields(query: str, values: Mapping[str, object]) -> list[dict[str, object]]:
    """Catalogue fields matching ``query`` that ``values`` holds: [{field, label_zh, label_en, value}]."""
    q = _norm(query)
    if not q:
        return []
    return [
        {"field": f.key, "label_zh": f.zh, "label_en": f.en, "value": values[f.key]}
        for f in FIELD_CATALOGUE
        if f.key in values and any(q in term for term in f.terms())
    ]
