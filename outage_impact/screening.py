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


_CHANNELS = (None, "wechat", "sms")      # channel codes 0, 1, 2
_LIST_CODES = {name: code for code, name in enumerate(LISTS)}


class ScreeningResult:
    """The lists, held as arrays (one entry per screened customer, sorted by account): which list,
    which channel, which rules matched and the values they matched on. Counts and account lists
    are array operations; a customer's explained rules are worded only when asked for (a page of
    a list, or the whole list through :attr:`consult` / :attr:`notify` / :attr:`phone`)."""

    __slots__ = ("rules", "as_of", "_accounts", "_list", "_channel", "_bits", "_no_channel", "_sens", "_kva",
                 "_inter", "_compl", "_index", "_cache")

    def __init__(self, *, rules: ScreeningRules, as_of: dt.datetime, accounts: np.ndarray, lists: np.ndarray,
                 channels: np.ndarray, bits: np.ndarray, no_channel: np.ndarray, sens: np.ndarray, kva: np.ndarray,
                 inter: np.ndarray, compl: np.ndarray) -> None:
        self.rules, self.as_of = rules, as_of
        self._accounts, self._list, self._channel, self._bits = accounts, lists, channels, bits
        self._no_channel, self._sens, self._kva, self._inter, self._compl = no_channel, sens, kva, inter, compl
        self._index = {name: np.flatnonzero(lists == code) for name, code in _LIST_CODES.items()}
        self._cache: dict[str, tuple[ScreenedCustomer, ...]] = {}

    # -- lists
    def count(self, name: str) -> int:
        return int(len(self._index[name]))

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in LISTS}

    def accounts(self, name: str) -> list[str]:
        """The accounts on list ``name`` (consult / notify / phone), sorted."""
        return self._accounts[self._index[name]].tolist()

    def customers(self, name: str, offset: int = 0, limit: int | None = None) -> list[ScreenedCustomer]:
        """A page of list ``name``: each customer with their channel and the rules that put them there."""
        idx = self._index[name]
        idx = idx[offset:] if limit is None else idx[offset:offset + limit]
        # plain Python values once per page (indexing numpy arrays element by element is slow)
        cols = zip(self._accounts[idx].tolist(), self._channel[idx].tolist(), self._bits[idx].tolist(),
                   self._no_channel[idx].tolist(), self._sens[idx].tolist(), self._kva[idx].tolist(),
                   self._inter[idx].tolist(), self._compl[idx].tolist())
        memo: dict[tuple, tuple[dict[str, str], ...]] = {}   # customers alike share one explanation
        out = []
        for account, *facts in cols:
            # a customer no rule matched is explained by the list and the channel alone
            key = tuple(facts) if facts[1] else (facts[0], 0, facts[2])
            why = memo.get(key)
            if why is None:
                why = memo[key] = self._why(name, *facts) if facts[1] else self._why(name, *key, "", 0.0, 0, 0)
            out.append(ScreenedCustomer(account, _CHANNELS[facts[0]], why))
        return out

    def _whole(self, name: str) -> tuple[ScreenedCustomer, ...]:
        if name not in self._cache:
            self._cache[name] = tuple(self.customers(name))
        return self._cache[name]

    @property
    def consult(self) -> tuple[ScreenedCustomer, ...]:
        return self._whole("consult")

    @property
    def notify(self) -> tuple[ScreenedCustomer, ...]:
        return self._whole("notify")

    @property
    def phone(self) -> tuple[ScreenedCustomer, ...]:
        return self._whole("phone")

    def _why(self, name: str, channel_code: int, bits: int, no_channel: bool, sens: str, kva: float, inter: int,
             compl: int) -> tuple[dict[str, str], ...]:
        channel = _CHANNELS[channel_code]
        why = [{"rule": rule, "action": self.rules.action(rule),
                "reason": _reason(rule, sens, kva, inter, compl, self.rules)}
               for k, rule in enumerate(RULES) if bits >> k & 1] if bits else []
        if name == "phone":
            if no_channel:
                why.append(_NO_CHANNEL)
        elif name == "consult":
            why.append(_channel_reason(channel))
        else:
            why.append(_AFFECTED)
            if channel is not None:
                why.append(_channel_reason(channel))
        return tuple(why)

    def to_dict(self, *, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """JSON-ready: the rules, the counts and each list (or the page ``offset``/``limit`` of each list)."""
        out: dict[str, Any] = {"as_of": self.as_of.isoformat(), "rules": self.rules.to_dict(), "counts": self.counts()}
        if limit is not None or offset:
            out["page"] = {"offset": offset, "limit": limit}
        out.update({name: [c.to_dict() for c in self.customers(name, offset, limit)] for name in LISTS})
        return out


class ScreeningFacts(Protocol):
    """What the rules read about customers (``gis.customer_records.SqlScreeningFacts``)."""

    def facts(self, accounts: Sequence[str], *, interrupted_since: dt.datetime,
              complaints_since: dt.datetime) -> pd.DataFrame:
        """One row per known account: the columns of :data:`FACT_COLUMNS`."""
        ...


def _text(values: pd.Series) -> np.ndarray:
    return values.where(values.notna(), "").astype(str).str.strip().to_numpy(dtype=object)


def _is_mobile(values: pd.Series) -> np.ndarray:
    return values.astype("string").str.strip().str.fullmatch(_MOBILE.pattern).fillna(False).to_numpy(dtype=bool)


def screen(facts: pd.DataFrame, rules: ScreeningRules, *, as_of: dt.datetime) -> ScreeningResult:
    """Apply ``rules`` to ``facts`` (one row per affected customer, columns :data:`FACT_COLUMNS`).

    Vectorized: every rule is one array comparison over all customers; the lists follow from
    the masks (phone ‹ consult with a channel ‹ notify). O(n log n) for the sort by account.
    """
    missing = [c for c in FACT_COLUMNS if c not in facts.columns]
    if missing:
        raise InvalidInput(f"screening facts lack column(s) {', '.join(missing)}", field=missing[0])
    facts = facts.sort_values("account_no", kind="stable")
    accounts = facts["account_no"].astype(str).to_numpy(dtype=object)
    sens_series = facts["sensitivity"].astype("string").str.strip().fillna("")
    sens = sens_series.to_numpy(dtype=object)
    kva = pd.to_numeric(facts["contract_kva"], errors="coerce").to_numpy(dtype=np.float64)
    inter = facts["interruptions"].fillna(0).to_numpy(dtype=np.int64)
    compl = facts["complaints"].fillna(0).to_numpy(dtype=np.int64)
    wechat = (facts["wechat_openid"].astype("string").str.strip().fillna("") != "").to_numpy(dtype=bool)
    has_mobile = _is_mobile(facts["phone"]) | _is_mobile(facts["phone_alt"])

    matched = {
        "sensitive_phone": sens_series.isin(list(rules.phone_sensitivities)).to_numpy(dtype=bool),
        "sensitive_consult": sens_series.isin(list(rules.consult_sensitivities)).to_numpy(dtype=bool),
        "big_customer": np.nan_to_num(kva, nan=-1.0) >= rules.big_kva,
        "repeat_interrupted": inter >= rules.repeat_count,
        "complained": compl >= 1,
    }
    n = len(accounts)
    bits = np.zeros(n, dtype=np.int64)
    wants_phone = np.zeros(n, dtype=bool)
    wants_consult = np.zeros(n, dtype=bool)
    for k, rule in enumerate(RULES):
        mask = matched[rule]
        bits |= mask.astype(np.int64) << k
        action = rules.action(rule)
        if action == "phone":
            wants_phone |= mask
        elif action == "consult":
            wants_consult |= mask
    channel = np.where(wechat, 1, np.where(has_mobile, 2, 0)).astype(np.int8)
    no_channel = ~wants_phone & wants_consult & (channel == 0)
    lists = np.where(wants_phone | no_channel, _LIST_CODES["phone"],
                     np.where(wants_consult, _LIST_CODES["consult"], _LIST_CODES["notify"])).astype(np.int8)
    return ScreeningResult(rules=rules, as_of=as_of, accounts=accounts, lists=lists, channels=channel, bits=bits,
                           no_channel=no_channel, sens=sens, kva=kva, inter=inter, compl=compl)


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
