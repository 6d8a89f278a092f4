"""Screening the customers of a planned outage by rules they can read (先算后停).

Each affected customer is checked against the rules below; each rule asks for an action
(configurable, ``ScreeningRules.actions``): ``phone`` (call them), ``consult`` (ask about the
window) or ``notify`` (tell them). Defaults:

=====================  ===========================================================  ========
rule                   matches                                                      action
=====================  ===========================================================  ========
sensitive_phone        sensitivity in ``phone_sensitivities`` (生命支持, 医院)         phone
sensitive_consult      sensitivity in ``consult_sensitivities`` (政府, 重要客户, 大客户)  consult
big_customer           ``contract_kva ≥ big_kva`` (315 kVA)                          consult
repeat_interrupted     ≥ ``repeat_count`` recorded outages in ``repeat_days``        consult
complained             a complaint (投诉) in ``complaint_days``                       consult
=====================  ===========================================================  ========

Then the lists, each customer in exactly one, with the rules that put them there:

* **phone** — a rule asks for a call; or a rule asks to consult and the customer has neither
  WeChat nor a mobile number on record (``no_channel``).
* **consult** — a rule asks to consult and the customer is reachable by WeChat (``wechat``,
  preferred) or else by SMS to a mobile number (``sms``).
* **notify** — every other affected customer (``affected``), with the channel they can be
  told on (``wechat`` / ``sms`` / none).

The result names contact *channels* only, never the numbers or the openid: the contacts are
read from the customer record when a message is sent (one source of contacts).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from gis.errors import InvalidInput

__all__ = ["RULES", "LISTS", "ScreeningRules", "ScreenedCustomer", "ScreeningResult", "ScreeningFacts", "screen",
           "screen_accounts"]

RULES = ("sensitive_phone", "sensitive_consult", "big_customer", "repeat_interrupted", "complained")
LISTS = ("consult", "notify", "phone")
_ACTIONS = ("phone", "consult", "notify")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
FACT_COLUMNS = ("account_no", "sensitivity", "contract_kva", "phone", "phone_alt", "wechat_openid",
                "interruptions", "complaints")


@dataclass(frozen=True)
class ScreeningRules:
    phone_sensitivities: tuple[str, ...] = ("生命支持", "医院")
    consult_sensitivities: tuple[str, ...] = ("政府", "重要客户", "大客户")
    big_kva: float = 315.0
    repeat_count: int = 2
    repeat_days: int = 90
    complaint_days: int = 90
    actions: Mapping[str, str] = field(default_factory=lambda: {
        "sensitive_phone": "phone", "sensitive_consult": "consult", "big_customer": "consult",
        "repeat_interrupted": "consult", "complained": "consult"})

    def __post_init__(self) -> None:
        for rule, action in self.actions.items():
            if rule not in RULES:
                raise InvalidInput(f"unknown screening rule {rule!r}; rules: {', '.join(RULES)}", field="rule",
                                   value=rule)
            if action not in _ACTIONS:
                raise InvalidInput(f"rule {rule}: action must be one of {', '.join(_ACTIONS)}", field=rule,
                                   value=action)

    def action(self, rule: str) -> str:
        return self.actions.get(rule, "consult")

    def to_dict(self) -> dict[str, Any]:
        return {"phone_sensitivities": list(self.phone_sensitivities),
                "consult_sensitivities": list(self.consult_sensitivities), "big_kva": self.big_kva,
                "repeat_count": self.repeat_count, "repeat_days": self.repeat_days,
                "complaint_days": self.complaint_days, "actions": {r: self.action(r) for r in RULES}}


@dataclass(frozen=True, slots=True)
class ScreenedCustomer:
    account_no: str
    channel: str | None            # wechat / sms / None
    rules: tuple[dict[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"account_no": self.account_no, "channel": self.channel, "rules": list(self.rules)}


@dataclass(frozen=True)
class ScreeningResult:
    consult: tuple[ScreenedCustomer, ...]
    notify: tuple[ScreenedCustomer, ...]
    phone: tuple[ScreenedCustomer, ...]
    rules: ScreeningRules
    as_of: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "rules": self.rules.to_dict(),
                "counts": {name: len(getattr(self, name)) for name in LISTS},
                **{name: [c.to_dict() for c in getattr(self, name)] for name in LISTS}}


class ScreeningFacts(Protocol):
    """What the rules read about customers (``gis.customer_records.SqlScreeningFacts``)."""

    def facts(self, accounts: Sequence[str], *, interrupted_since: dt.datetime,
              complaints_since: dt.datetime) -> pd.DataFrame:
        """One row per known account: the columns of :data:`FACT_COLUMNS`."""
        ...


def _text(values: pd.Series) -> np.ndarray:
    return values.where(values.notna(), "").astype(str).str.strip().to_numpy(dtype=object)


def screen(facts: pd.DataFrame, rules: ScreeningRules, *, as_of: dt.datetime) -> ScreeningResult:
    """Apply ``rules`` to ``facts`` (one row per affected customer, columns :data:`FACT_COLUMNS`)."""
    missing = [c for c in FACT_COLUMNS if c not in facts.columns]
    if missing:
        raise InvalidInput(f"screening facts lack column(s) {', '.join(missing)}", field=missing[0])
    facts = facts.sort_values("account_no", kind="stable")
    accounts = facts["account_no"].to_numpy(dtype=object)
    sens = _text(facts["sensitivity"])
    kva = pd.to_numeric(facts["contract_kva"], errors="coerce").to_numpy(dtype=np.float64)
    inter = facts["interruptions"].fillna(0).to_numpy(dtype=np.int64)
    compl = facts["complaints"].fillna(0).to_numpy(dtype=np.int64)
    wechat = np.array([bool(v) for v in _text(facts["wechat_openid"])], dtype=bool)
    mobile = (_text(facts["phone"]).astype(str).tolist(), _text(facts["phone_alt"]).astype(str).tolist())
    has_mobile = np.array([bool(_MOBILE.match(a) or _MOBILE.match(b)) for a, b in zip(*mobile)], dtype=bool)

    matched = {
        "sensitive_phone": np.isin(sens, list(rules.phone_sensitivities)),
        "sensitive_consult": np.isin(sens, list(rules.consult_sensitivities)),
        "big_customer": np.nan_to_num(kva, nan=-1.0) >= rules.big_kva,
        "repeat_interrupted": inter >= rules.repeat_count,
        "complained": compl >= 1,
    }
    wants_phone = np.zeros(len(accounts), dtype=bool)
    wants_consult = np.zeros(len(accounts), dtype=bool)
    for rule, mask in matched.items():
        action = rules.action(rule)
        if action == "phone":
            wants_phone |= mask
        elif action == "consult":
            wants_consult |= mask
    any_rule = np.zeros(len(accounts), dtype=bool)
    for mask in matched.values():
        any_rule |= mask

    lists: dict[str, list[ScreenedCustomer]] = {name: [] for name in LISTS}
    idx_rules = np.flatnonzero(any_rule)
    explained: dict[int, list[dict[str, str]]] = {int(i): [] for i in idx_rules}
    for rule, mask in matched.items():
        for i in np.flatnonzero(mask).tolist():
            explained[i].append({"rule": rule, "action": rules.action(rule),
                                 "reason": _reason(rule, sens[i], kva[i], inter[i], compl[i], rules)})
    for i in range(len(accounts)):
        channel = "wechat" if wechat[i] else ("sms" if has_mobile[i] else None)
        why = explained.get(i, [])
        if wants_phone[i]:
            target = "phone"
        elif wants_consult[i]:
            if channel is None:
                target = "phone"
                why = why + [_NO_CHANNEL]
            else:
                target = "consult"
                why = why + [_channel_reason(channel)]
        else:
            target = "notify"
            why = why + [_AFFECTED]
            if channel is not None:
                why.append(_channel_reason(channel))
        lists[target].append(ScreenedCustomer(str(accounts[i]), channel, tuple(why)))
    return ScreeningResult(consult=tuple(lists["consult"]), notify=tuple(lists["notify"]), phone=tuple(lists["phone"]),
                           rules=rules, as_of=as_of)


_CHANNEL_REASONS = {
    "wechat": {"rule": "wechat", "action": "channel", "reason": "reachable by WeChat (openid on record)"},
    "sms": {"rule": "sms", "action": "channel", "reason": "no WeChat; a mobile number is on record (SMS)"},
}
_AFFECTED = {"rule": "affected", "action": "notify", "reason": "in the plan's impact; no rule asks more"}
_NO_CHANNEL = {"rule": "no_channel", "action": "phone",
               "reason": "to consult, but neither WeChat nor a mobile number is on record"}


def _channel_reason(channel: str) -> dict[str, str]:
    return _CHANNEL_REASONS[channel]


def _reason(rule: str, sens: str, kva: float, inter: int, compl: int, rules: ScreeningRules) -> str:
    if rule in ("sensitive_phone", "sensitive_consult"):
        return f"sensitive customer: {sens}"
    if rule == "big_customer":
        return f"contract {kva:g} kVA ≥ {rules.big_kva:g} kVA"
    if rule == "repeat_interrupted":
        return f"interrupted {inter} times in the last {rules.repeat_days} days (≥ {rules.repeat_count})"
    return f"{compl} complaint(s) (投诉) in the last {rules.complaint_days} days"


def screen_accounts(accounts: Sequence[str], source: ScreeningFacts, rules: ScreeningRules, *,
                    now: dt.datetime) -> ScreeningResult:
    """Screen ``accounts`` (e.g. a plan's impact) with facts read from ``source`` as of ``now``.

    The entry point for consultation: ``result.consult`` are the customers to ask, each with
    its channel and the rules that chose it.
    """
    if now.tzinfo is None:
        raise InvalidInput("screening needs an aware 'now'", field="now", value=now.isoformat())
    facts = source.facts(accounts, interrupted_since=now - dt.timedelta(days=rules.repeat_days),
                         complaints_since=now - dt.timedelta(days=rules.complaint_days))
    return screen(facts, rules, as_of=now)
