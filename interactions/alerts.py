"""Sensitive-word alerts (敏感词预警): screen incoming texts, fold repeats, escalate per 台区.

:class:`AlertScreener` is an ingest *screener*: ``screener(conn, rows)`` runs inside the
transaction that wrote the interaction rows, so an alert stands or falls with the message
that raised it. Each row is a mapping with ``id``, ``account_no``, ``channel``, ``kind``,
``occurred_at``, ``text``, ``caller_phone`` and, when the caller knows them, the customer's
``transformer_id`` and ``feeder_id`` (looked up in the store otherwise).

For every message with lexicon words (after the allow-list):

* one alert per category the words fall in; a repeated hit of the same customer (or, for an
  unknown customer, the same caller phone) and category whose previous hit is at most
  ``fold_window`` older, while that alert is still open (new / acknowledged), folds into it:
  its ``count`` grows, its severity rises to the highest seen;
* every message is kept as an alert hit with its words and their offsets in the text;
* when the hits of one 台区 within ``escalation_window`` reach ``escalation_hits``, an
  escalation is raised (one per 台区 per window).

Screening the same interaction twice adds nothing (the ingest may retry a batch). Each new,
folded or escalated alert (and each state change) is published on the live event bus
(:func:`gis.events.publish`, channel ``alerts``) in the same transaction, with references and
a non-personal summary only: maps fetch the message through the role-masked routes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from gis import alerts_store as store
from gis.audit import record_event
from gis import events
from gis.errors import Conflict, InvalidInput
from interactions.lexicon import LexiconCache
from interactions.matching import Match, severity_max

__all__ = ["AlertRules", "AlertEvent", "AlertScreener", "change_state", "rules_from", "CHANNEL"]

#: The bus channel alerts are published on.
CHANNEL = "alerts"

Publish = Callable[[Connection, str, dict[str, Any]], object]


@dataclass(frozen=True)
class AlertRules:
    fold_window: dt.timedelta = dt.timedelta(hours=24)
    escalation_hits: int = 5
    escalation_window: dt.timedelta = dt.timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """What screening did: ``kind`` is ``new``, ``folded`` or ``escalated``."""

    kind: str
    alert_id: int | None
    category: str | None
    severity: str | None
    transformer_id: str | None
    feeder_id: str | None
    count: int = 1
    escalation_id: int | None = None
    interaction_id: str | None = None

    def payload(self) -> dict[str, Any]:
        """The bus payload: ids and a summary, no personal data (clients fetch the rest by role)."""
        out = {"type": f"alert.{self.kind}", "alert_id": self.alert_id, "category": self.category,
               "severity": self.severity, "transformer_id": self.transformer_id, "feeder_id": self.feeder_id,
               "count": self.count}
        if self.escalation_id is not None:
            out["escalation_id"] = self.escalation_id
        return out


def _aware(value: Any) -> dt.datetime:
    try:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("occurred_at is not an ISO 8601 time", field="occurred_at", value=value) from None
    if not isinstance(value, dt.datetime):
        raise InvalidInput("occurred_at must be a time", field="occurred_at", value=value)
    return store.utc(value)


class AlertScreener:
    """The screener the ingest calls: ``screener(conn, rows) -> list[AlertEvent]``."""

    def __init__(self, lexicon: LexiconCache, rules: AlertRules | None = None, *,
                 publish: Publish | None = events.publish) -> None:
        self.lexicon = lexicon
        self.rules = rules if rules is not None else AlertRules()
        self._publish = publish

    def __call__(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[AlertEvent]:
        return self.screen(conn, rows)

    def screen(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[AlertEvent]:
        """Match every row's text; record alerts, hits and escalations in ``conn``'s transaction."""
        if not rows:
            return []
        matcher = self.lexicon.matcher(conn)  # the lexicon version of this very transaction
        found = [(row, hits) for row in rows if (hits := matcher.find(row.get("text")))]
        if not found:
            return []
        done = store.screened_interactions(conn, (str(row["id"]) for row, _ in found))
        found = [(row, hits) for row, hits in found if str(row["id"]) not in done]
        if not found:
            return []
        places = store.customer_places(conn, {row["account_no"] for row, _ in found if row.get("account_no")
                                              and not row.get("transformer_id")})
        events: list[AlertEvent] = []
        areas: dict[str, tuple[dt.datetime, str | None]] = {}
        for row, hits in sorted(found, key=lambda item: _aware(item[0]["occurred_at"])):
            at = _aware(row["occurred_at"])
            account = row.get("account_no") or None
            transformer, feeder = row.get("transformer_id"), row.get("feeder_id")
            if account and not transformer:
                transformer, feeder = places.get(account, (None, None))
            events.extend(self._record(conn, row, hits, at, account, transformer, feeder))
            if transformer:
                latest = areas.get(transformer)
                if latest is None or at > latest[0]:
                    areas[transformer] = (at, feeder)
        for transformer, (at, feeder) in sorted(areas.items()):
            escalation = self._escalate(conn, transformer, feeder, at)
            if escalation is not None:
                events.append(escalation)
        if self._publish is not None:
            for event in events:
                self._publish(conn, CHANNEL, event.payload())
        return events

    def _record(self, conn: Connection, row: Mapping[str, Any], hits: list[Match], at: dt.datetime,
                account: str | None, transformer: str | None, feeder: str | None) -> list[AlertEvent]:
        phone = row.get("caller_phone") or None
        fold_key = f"a:{account}" if account else (f"p:{phone}" if phone else None)
        by_category: dict[str, list[Match]] = {}
        for hit in hits:
            by_category.setdefault(hit.category, []).append(hit)
        events = []
        interaction_id = str(row["id"])
        for category, matches in sorted(by_category.items()):
            severity = severity_max(m.severity for m in matches)
            alert_id, count, kind = self._open_or_fold(conn, fold_key, category, severity, at, dict(
                account_no=account, transformer_id=transformer, feeder_id=feeder, channel=row.get("channel"),
                interaction_id=interaction_id))
            store.insert_hit(conn, alert_id=alert_id, interaction_id=interaction_id, occurred_at=at,
                             transformer_id=transformer, matches=[m.to_dict() for m in matches])
            events.append(AlertEvent(kind, alert_id, category, severity, transformer, feeder, count,
                                     interaction_id=interaction_id))
        return events

    def _open_or_fold(self, conn: Connection, fold_key: str | None, category: str, severity: str, at: dt.datetime,
                      fields: dict[str, Any]) -> tuple[int, int, str]:
        """Fold the hit into the open alert of ``fold_key`` and ``category`` whose last hit is within the
        fold window, else open one: ``(alert id, count, "folded" | "new")``.

        The open alert of a key is the one holding ``open_fold_key``; one older than the window hands
        it over to the new alert. When a concurrent screener opens the alert first, the insert does
        nothing and the next round folds into that alert.
        """
        open_key = f"{fold_key}|{category}" if fold_key else None
        for _ in range(3):
            holder = store.fold_holder(conn, open_key) if open_key else None
            if holder is not None and holder["last_at"] >= at - self.rules.fold_window:
                count = store.fold_into(conn, int(holder["id"]), occurred_at=at,
                                        severity=severity_max((severity, holder["severity"])))
                return int(holder["id"]), count, "folded"
            if holder is not None:
                store.release_fold(conn, int(holder["id"]), open_key)
            alert_id = store.insert_alert(conn, category=category, severity=severity, fold_key=fold_key,
                                          open_fold_key=open_key, first_at=at, last_at=at, **fields)
            if alert_id is not None:
                return alert_id, 1, "new"
        raise Conflict(f"alert for {category} kept changing while this message was screened; retry",
                       field="category", value=category)

    def _escalate(self, conn: Connection, transformer: str, feeder: str | None, at: dt.datetime) -> AlertEvent | None:
        since = at - self.rules.escalation_window
        hits, alert_ids = store.hits_in_area(conn, transformer, since, at)
        if hits < self.rules.escalation_hits or store.escalated_since(conn, transformer, since):
            return None
        escalation_id = store.insert_escalation(conn, transformer_id=transformer, feeder_id=feeder, hits=hits,
                                                window_start=since, window_end=at, alert_ids=alert_ids)
        return AlertEvent("escalated", None, None, "high", transformer, feeder, hits, escalation_id)


def change_state(conn: Connection, alert_id: int, to: str, *, actor: str, role: str, note: str | None = None,
                 publish: Publish | None = events.publish) -> dict[str, Any]:
    """Move an alert along its workflow, audited in ``conn``'s transaction.

    Resolving needs a note (what was done); the others take one optionally.
    """
    if to == "resolved" and not (note and note.strip()):
        raise InvalidInput("resolving an alert needs a note saying what was done", field="note", value=note)
    alert = store.set_state(conn, alert_id, to=to, actor=actor, note=note.strip() if note else None)
    record_event(conn, actor=actor, role=role, action=f"alert.{_ACTION[to]}", object_kind="alert",
                 object_id=str(alert_id), details={"from": alert["from"], "to": to, "note": bool(note)})
    if publish is not None:
        publish(conn, CHANNEL, {"type": "alert.state", "alert_id": alert_id, "state": to,
                                "category": alert["category"], "transformer_id": alert["transformer_id"]})
    return alert


_ACTION = {"acknowledged": "ack", "resolved": "resolve", "false_positive": "false_positive", "new": "new"}


def rules_from(fold_window_s: float, escalation_hits: int, escalation_window_s: float) -> AlertRules:
    """:class:`AlertRules` from plain settings values."""
    return AlertRules(dt.timedelta(seconds=fold_window_s), escalation_hits, dt.timedelta(seconds=escalation_window_s))

