"""The unified customer view: one call assembling profile, supply path, outages, contacts, emotion.

Composition only: store reads come from :mod:`gis.customer_records`, the supply path from the
engine's trace (:func:`topology.upstream_path`, names from the snapshot's assets), outages from
:func:`outage_impact.plan_impact` on the snapshot's index, the emotion label from
:mod:`interactions.emotion`. Which panels a role receives is ``Settings.customer_view_panels``.

Rules stated once:

* **Outages affecting the customer**: the rule is :func:`outage_impact.lifecycle.customer_outages`
  (live plans whose final-state impact contains the customer; *current* or *planned*).
* **Energized now**: supplied in the normal state (the engine's upstream trace reaches a
  substation) and in the impact of no current plan. Current plans are evaluated one by one
  against the normal state (plans that overlap in time are not combined).
* Impacts are cached per (plan id, plan version, data version): a plan edit bumps its version,
  a new load a new data version, so a cached impact is never stale.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from api.auth import Principal
from api.masking import mask_customer, mask_history_entry
from api.settings import Settings
from api.state import GridSnapshot
from gis.contacts import ContactState, StaleRules, read_contact, read_history, stale_fields
from gis.customer_fields import find_fields
from gis.customer_records import interaction_counts, read_customer, read_interactions, read_live_plans
from gis.errors import GridAtlasError, NotFound
from interactions.emotion import COMPLAINT, EmotionRules, emotion_label
from interactions.sensitive_words import WordMatcher
from outage_impact import SwitchingPlan, plan_impact
from outage_impact.lifecycle import LIVE_STATUSES, customer_outages
from topology import UnknownElement, supply_area, upstream_path

__all__ = ["ViewCaches", "customer_view", "view_fields", "stale_rules", "RECENT_ITEMS"]

RECENT_ITEMS = 10
_PROFILE = ("account_no", "category", "contract_kva", "sensitivity", "location_quality", "contact_verified_at",
            "meter_box_id", "transformer_id", "lon", "lat")
_CONTACT = ("name", "address", "phone", "phone_alt", "wechat_openid", "id_number")


@dataclass(frozen=True)
class _Names:
    version: int
    substations: dict[str, str]
    feeders: dict[str, tuple[str, str | None]]
    switches: dict[str, tuple[str | None, str]]
    transformers: dict[str, tuple[str, float | None]]


def _clean(value: Any) -> Any:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


class ViewCaches:
    """Per data version: asset names; per (plan id, plan version, data version): affected accounts."""

    def __init__(self, max_plans: int = 512) -> None:
        self._lock = threading.Lock()
        self._names: _Names | None = None
        self._plans: OrderedDict[tuple[int, int, int], frozenset[str] | str] = OrderedDict()
        self._max = max_plans
        self.matcher_words: tuple[str, ...] | None = None
        self._matcher: WordMatcher | None = None

    def matcher(self, words: tuple[str, ...]) -> WordMatcher:
        if self._matcher is None or self.matcher_words != words:
            self._matcher, self.matcher_words = WordMatcher(words), words
        return self._matcher

    def names(self, snapshot: GridSnapshot) -> _Names:
        names = self._names
        if names is not None and names.version == snapshot.version:
            return names
        a = snapshot.assets
        names = _Names(
            snapshot.version,
            dict(zip(a.substations["id"].tolist(), a.substations["name"].tolist())),
            dict(zip(a.feeders["id"].tolist(), zip(a.feeders["name"].tolist(), a.feeders["substation_id"].tolist()))),
            dict(zip(a.switches["id"].tolist(), zip(a.switches["name"].tolist(), a.switches["kind"].tolist()))),
            dict(zip(a.transformers["id"].tolist(), zip(a.transformers["name"].tolist(), a.transformers["rated_kva"].tolist()))),
        )
        self._names = names
        return names

    def plan_affected(self, snapshot: GridSnapshot, plan: Mapping[str, Any]) -> frozenset[str] | str:
        """Accounts in the plan's final-state impact, or the error message when it cannot be evaluated."""
        key = (int(plan["id"]), int(plan["version"]), snapshot.version)
        with self._lock:
            hit = self._plans.get(key)
            if hit is not None:
                self._plans.move_to_end(key)
                return hit
        try:
            parsed = SwitchingPlan.from_dict({
                "id": int(plan["id"]), "title": plan["title"],
                "steps": [{"action": a, "element": e} for _, a, e in plan["steps"]],
                "window_start": plan["window_start"], "window_end": plan["window_end"],
            })
            value: frozenset[str] | str = frozenset(plan_impact(snapshot.index, parsed).customers)
        except GridAtlasError as exc:
            value = str(exc)
        with self._lock:
            self._plans[key] = value
            while len(self._plans) > self._max:
                self._plans.popitem(last=False)
        return value


# ------------------------------------------------------------------ panels
def _supply(snapshot: GridSnapshot, names: _Names, account_no: str) -> dict[str, Any]:
    try:
        path = upstream_path(snapshot.index, "customer", account_no)
        feeder, transformer = supply_area(snapshot.index, account_no)
    except UnknownElement:
        return {"path": [], "chain": None, "normally_supplied": False, "feeder_id": None, "transformer_id": None,
                "substation_id": None, "note": f"customer {account_no} is not in the grid of data version "
                                               f"{snapshot.version} (loaded after it?)"}
    out_path = []
    for kind, eid in path:
        item: dict[str, Any] = {"kind": kind, "id": eid}
        if kind == "substation":
            item["name"] = _clean(names.substations.get(eid))
        elif kind == "switch" and eid in names.switches:
            item["name"], item["switch_kind"] = map(_clean, names.switches[eid])
        elif kind == "transformer" and eid in names.transformers:
            item["name"], item["rated_kva"] = map(_clean, names.transformers[eid])
        out_path.append(item)
    substation = next((p for p in out_path if p["kind"] == "substation"), None)
    meter_box = next((p for p in out_path if p["kind"] == "meter_box"), None)
    tr = next((p for p in out_path if p["kind"] == "transformer"), None)
    chain = {
        "substation": substation,
        "feeder": {"id": feeder, "name": _clean(names.feeders.get(feeder, (None, None))[0])} if feeder else None,
        "switches": [p for p in reversed(out_path) if p["kind"] == "switch"],
        "transformer": tr or ({"kind": "transformer", "id": transformer,
                               "name": _clean(names.transformers.get(transformer, (None, None))[0]),
                               "rated_kva": _clean(names.transformers.get(transformer, (None, None))[1])}
                              if transformer else None),
        "meter_box": meter_box,
    }
    return {"path": out_path, "chain": chain, "normally_supplied": substation is not None,
            "substation_id": substation["id"] if substation else None, "feeder_id": feeder,
            "transformer_id": transformer}


def _outages(conn: Connection, snapshot: GridSnapshot, caches: ViewCaches, account_no: str,
             now: dt.datetime) -> dict[str, Any]:
    return customer_outages(read_live_plans(conn, now=now, statuses=LIVE_STATUSES),
                            lambda plan: caches.plan_affected(snapshot, plan), account_no, now)


def _interactions(conn: Connection, account_no: str, with_texts: bool) -> dict[str, Any]:
    counts = interaction_counts(conn, account_no)
    by_channel: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    for channel, kind, n in counts:
        by_channel[channel] = by_channel.get(channel, 0) + n
        by_kind[kind] = by_kind.get(kind, 0) + n
    recent = []
    for r in read_interactions(conn, account_no, limit=RECENT_ITEMS):
        item = {"id": r["id"], "channel": r["channel"], "kind": r["kind"], "occurred_at": r["occurred_at"].isoformat()}
        if with_texts:
            item["text"] = r["text"]
        recent.append(item)
    return {"total": sum(by_channel.values()), "by_channel": by_channel, "by_kind": by_kind,
            "complaint_count": by_kind.get(COMPLAINT, 0), "recent": recent}


def stale_rules(settings: Settings) -> StaleRules:
    """The stale-data rules of ``settings`` (per field and customer category)."""
    return StaleRules(default_days=settings.contact_stale_days, max_age_days=settings.contact_max_age_days)


def _stale(record: Mapping[str, Any], contact: ContactState, now: dt.datetime, rules: StaleRules) -> list[dict[str, Any]]:
    prompts = []
    fields = stale_fields(contact, rules, now)
    if fields:
        names = [f["field"] for f in fields]
        ages = [f["days"] for f in fields if f["days"] is not None]
        listed = ", ".join(names)
        if len(ages) < len(fields):
            prompts.append({"code": "contact_unverified", "days": None, "fields": fields,
                            "zh": f"联系方式从未核实，请与客户核对：{listed}",
                            "en": f"contact details were never verified: confirm them with the customer ({listed})"})
        else:
            days, limit = max(ages), min(f["max_days"] for f in fields)
            prompts.append({"code": "contact_unverified", "days": days, "fields": fields,
                            "zh": f"联系方式已 {days} 天未核实（超过 {limit} 天），请与客户核对：{listed}",
                            "en": f"contact details not verified for {days} days (more than {limit}): confirm them ({listed})"})
    quality = record.get("location_quality")
    if quality != "surveyed":
        prompts.append({"code": "location_approximate", "quality": quality,
                        "zh": f"坐标为近似位置（{quality}），非实测",
                        "en": f"coordinates are approximate ({quality}), not surveyed"})
    return prompts


# ------------------------------------------------------------------ the view
def customer_view(conn: Connection, snapshot: GridSnapshot, caches: ViewCaches, settings: Settings,
                  principal: Principal, account_no: str, now: dt.datetime) -> dict[str, Any]:
    """The view of ``account_no`` for ``principal``'s role as of ``now`` (see the module docstring)."""
    record = read_customer(conn, account_no)
    if record is None:
        raise NotFound(f"no customer with account number {account_no!r}", field="account_no", value=account_no)
    panels = settings.customer_view_panels.get(principal.role, ())
    masked = mask_customer(record, sees_pii=principal.sees_pii)
    view: dict[str, Any] = {"account_no": account_no, "data_version": snapshot.version, "as_of": now.isoformat(),
                            "role": principal.role, "pii_masked": not principal.sees_pii, "panels": list(panels)}
    if "profile" in panels:
        view["profile"] = {k: _json(masked.get(k)) for k in _PROFILE}
    if "contact" in panels:
        view["contact"] = {k: masked.get(k) for k in _CONTACT}
    if "supply" in panels or "outages" in panels:
        supply = _supply(snapshot, caches.names(snapshot), account_no)
        outages = _outages(conn, snapshot, caches, account_no, now)
        supply["energized"] = supply["normally_supplied"] and not outages["current"]
        if "supply" in panels:
            view["supply"] = supply
        if "outages" in panels:
            view["outages"] = outages
    if "interactions" in panels:
        view["interactions"] = _interactions(conn, account_no, "interaction_texts" in panels)
    if "emotion" in panels:
        rules = EmotionRules(angry_complaints_30d=settings.emotion_angry_complaints_30d,
                             repeat_min=settings.emotion_repeat_min, repeat_days=settings.emotion_repeat_days)
        recent = read_interactions(conn, account_no, since=now - dt.timedelta(days=rules.long_days))
        view["emotion"] = emotion_label(recent, now=now, matcher=caches.matcher(settings.sensitive_words),
                                        rules=rules, name_words="interaction_texts" in panels).to_dict()
    if "stale" in panels or "contact" in panels:
        contact = read_contact(conn, account_no)
        if "contact" in panels:  # what a correction needs: the ETag to send as If-Match, and where values came from
            view["contact_record"] = {"etag": contact.etag, "version": contact.version, "sources": contact.sources()}
        if "stale" in panels:
            view["stale"] = _stale(record, contact, now, stale_rules(settings))
    if "contact_history" in panels:
        view["contact_history"] = [mask_history_entry(e, sees_pii=principal.sees_pii, shows_contact="contact" in panels)
                                   for e in read_history(conn, account_no, limit=RECENT_ITEMS)]
    return view


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def view_fields(view: Mapping[str, Any], query: str) -> list[dict[str, Any]]:
    """The field finder over an assembled view (only what the role's panels hold)."""
    flat: dict[str, Any] = {}
    flat.update(view.get("profile") or {})
    flat.update(view.get("contact") or {})
    supply = view.get("supply")
    if supply:
        chain = supply.get("chain") or {}
        flat.update({"substation_id": supply["substation_id"], "feeder_id": supply["feeder_id"],
                     "transformer_id": supply["transformer_id"] or flat.get("transformer_id"),
                     "energized": supply["energized"]})
        if chain.get("transformer"):
            flat["transformer_kva"] = chain["transformer"].get("rated_kva")
        if chain.get("meter_box"):
            flat["meter_box_id"] = chain["meter_box"]["id"]
    if view.get("outages") is not None:
        flat["outage_count"] = len(view["outages"]["current"]) + len(view["outages"]["planned"])
    if view.get("interactions") is not None:
        flat["interaction_count"] = view["interactions"]["total"]
        flat["complaint_count"] = view["interactions"]["complaint_count"]
    if view.get("emotion") is not None:
        flat["emotion"] = view["emotion"]["label"]
    return find_fields(query, flat)
