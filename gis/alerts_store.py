"""Sensitive-word alerts in the store: alerts, their messages (hits), escalations, state changes.

The rules (what folds into what, when an escalation is raised, which state changes are
allowed) belong to ``interactions.alerts``; this module only reads and writes rows, in the
caller's transaction. Times are stored in UTC and returned time-zone aware.

Folding is race-free on both stores: the alert that takes the folds of a customer and category
holds ``open_fold_key`` under a unique partial index, and a new alert is inserted with ``ON
CONFLICT DO NOTHING`` — of two screeners opening the same one at once, the second inserts
nothing and folds into the first one's (PostgreSQL waits for the first to commit; SQLite's
ingest holds the write lock from its ``BEGIN IMMEDIATE``).

State workflow: ``new → acknowledged → resolved`` (with a note), and ``false_positive`` from
``new`` or ``acknowledged``. A state change is one ``UPDATE … WHERE id = ? AND state = ?``:
of two concurrent changes exactly one wins, the other gets :class:`~gis.errors.Conflict`
naming the state it found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from gis.errors import Conflict, InvalidInput, NotFound
from gis.models import (
    ALERT_STATES,
    Alert,
    AlertEscalation,
    AlertHit,
    Customer,
    Interaction,
    Transformer,
)

__all__ = [
    "TRANSITIONS", "OPEN_STATES", "utc", "customer_places", "screened_interactions", "fold_holder",
    "release_fold", "insert_alert", "fold_into", "insert_hit", "hits_in_area", "escalated_since", "insert_escalation",
    "list_alerts", "get_alert", "alert_hits", "set_state", "list_escalations",
]

#: state -> the states it may move to.
TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "new": ("acknowledged", "false_positive"),
    "acknowledged": ("resolved", "false_positive"),
    "resolved": (),
    "false_positive": (),
}
#: states in which an alert still takes repeated hits.
OPEN_STATES = ("new", "acknowledged")

_A = Alert.__table__
_H = AlertHit.__table__
_E = AlertEscalation.__table__
_C = Customer.__table__
_T = Transformer.__table__
_I = Interaction.__table__


def utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC; a naive value is taken as UTC (SQLite hands back naive UTC times)."""
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _row(mapping: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(mapping)
    for key, value in out.items():
        if isinstance(value, dt.datetime):
            out[key] = utc(value)
    return out


def customer_places(conn: Connection, accounts: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
    """户号 → (台区 transformer id, feeder id) of the known customers among ``accounts``."""
    wanted = sorted(set(accounts))
    out: dict[str, tuple[str | None, str | None]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        query = (select(_C.c.account_no, _C.c.transformer_id, _T.c.feeder_id)
                 .select_from(_C.outerjoin(_T, _T.c.id == _C.c.transformer_id))
                 .where(_C.c.account_no.in_(chunk)))
        for account, transformer, feeder in conn.execute(query):
            out[account] = (transformer, feeder)
    return out


def screened_interactions(conn: Connection, interaction_ids: Iterable[str]) -> set[str]:
    """Those of ``interaction_ids`` that already have a hit (screening is idempotent)."""
    wanted = sorted(set(interaction_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        found.update(conn.execute(select(_H.c.interaction_id).where(_H.c.interaction_id.in_(chunk))).scalars())
    return found


def fold_holder(conn: Connection, open_key: str) -> dict[str, Any] | None:
    """The alert that takes the folds of ``open_key`` (``"<fold_key>|<category>"``), if any (locked on
    PostgreSQL until the caller's transaction ends, so a concurrent screener waits for this one)."""
    query = select(_A).where(_A.c.open_fold_key == open_key)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return _row(row) if row is not None else None


def release_fold(conn: Connection, alert_id: int, open_key: str) -> None:
    """``alert_id`` stops taking the folds of ``open_key`` (a newer alert is about to take over)."""
    conn.execute(update(_A).where(_A.c.id == alert_id, _A.c.open_fold_key == open_key).values(open_fold_key=None))


def insert_alert(conn: Connection, **values: Any) -> int | None:
    """A new alert; its id, or None when ``open_fold_key`` is given and another alert holds it
    (a concurrent screener opened it first: fold into that one instead)."""
    now = dt.datetime.now(dt.timezone.utc)
    values = {**values, "first_at": utc(values["first_at"]), "last_at": utc(values["last_at"])}
    row = {"state": "new", "count": 1, "created_at": now, "updated_at": now, **values}
    if not values.get("open_fold_key"):
        return int(conn.execute(_A.insert().values(**row).returning(_A.c.id)).scalar_one())
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = (dialect_insert(_A).values(**row)
            .on_conflict_do_nothing(index_elements=[_A.c.open_fold_key], index_where=_A.c.open_fold_key.isnot(None))
            .returning(_A.c.id))
    found = conn.execute(stmt).scalar_one_or_none()
    return int(found) if found is not None else None


def fold_into(conn: Connection, alert_id: int, *, occurred_at: dt.datetime, severity: str) -> int:
    """One more hit on an alert: count + 1, last hit time and severity raised; returns the count."""
    at = utc(occurred_at)
    current = conn.execute(select(_A.c.last_at).where(_A.c.id == alert_id)).scalar_one()
    last = max(utc(current), at)
    return int(conn.execute(update(_A).where(_A.c.id == alert_id)
                            .values(count=_A.c.count + 1, last_at=last, severity=severity,
                                    updated_at=dt.datetime.now(dt.timezone.utc))
                            .returning(_A.c.count)).scalar_one())


def insert_hit(conn: Connection, *, alert_id: int, interaction_id: str, occurred_at: dt.datetime,
               transformer_id: str | None, matches: Sequence[Mapping[str, Any]]) -> None:
    conn.execute(_H.insert().values(alert_id=alert_id, interaction_id=interaction_id, occurred_at=utc(occurred_at),
                                    transformer_id=transformer_id, matches=[dict(m) for m in matches]))


def hits_in_area(conn: Connection, transformer_id: str, since: dt.datetime, until: dt.datetime) -> tuple[int, list[int]]:
    """Messages with sensitive words in one 台区 with ``since < occurred_at <= until``, and their alerts."""
    rows = conn.execute(select(_H.c.interaction_id, _H.c.alert_id)
                        .where(_H.c.transformer_id == transformer_id, _H.c.occurred_at > utc(since),
                               _H.c.occurred_at <= utc(until))).all()
    return len({r[0] for r in rows}), sorted({int(r[1]) for r in rows})


def escalated_since(conn: Connection, transformer_id: str, since: dt.datetime) -> bool:
    """Whether an escalation of this 台区 has a window ending after ``since``."""
    return conn.execute(select(func.count()).select_from(_E)
                        .where(_E.c.transformer_id == transformer_id, _E.c.window_end > utc(since))).scalar_one() > 0


def insert_escalation(conn: Connection, *, transformer_id: str, feeder_id: str | None, hits: int,
                      window_start: dt.datetime, window_end: dt.datetime, alert_ids: Sequence[int]) -> int:
    return int(conn.execute(_E.insert().values(
        transformer_id=transformer_id, feeder_id=feeder_id, hits=hits, window_start=utc(window_start),
        window_end=utc(window_end), raised_at=dt.datetime.now(dt.timezone.utc), alert_ids=list(alert_ids))
        .returning(_E.c.id)).scalar_one())


_FILTERS = ("state", "category", "severity", "account_no", "transformer_id", "feeder_id")


def list_alerts(conn: Connection, *, limit: int, offset: int = 0, since: dt.datetime | None = None,
                until: dt.datetime | None = None, **filters: str | None) -> list[dict[str, Any]]:
    """Alerts matching every given filter, the most recent hit first."""
    unknown = set(filters) - set(_FILTERS)
    if unknown:
        raise InvalidInput(f"unknown alert filter(s) {sorted(unknown)}", field=sorted(unknown)[0])
    if filters.get("state") is not None and filters["state"] not in ALERT_STATES:
        raise InvalidInput(f"state must be one of {', '.join(ALERT_STATES)}", field="state", value=filters["state"])
    query = select(_A)
    for name, value in filters.items():
        if value is not None:
            query = query.where(_A.c[name] == value)
    if since is not None:
        query = query.where(_A.c.last_at >= utc(since))
    if until is not None:
        query = query.where(_A.c.last_at < utc(until))
    query = query.order_by(_A.c.last_at.desc(), _A.c.id.desc()).limit(limit).offset(offset)
    return [_row(r) for r in conn.execute(query).mappings()]


def get_alert(conn: Connection, alert_id: int) -> dict[str, Any]:
    row = conn.execute(select(_A).where(_A.c.id == alert_id)).mappings().first()
    if row is None:
        raise NotFound(f"unknown alert {alert_id}", field="alert_id", value=alert_id)
    return _row(row)


def alert_hits(conn: Connection, alert_id: int) -> list[dict[str, Any]]:
    """The messages of an alert (oldest first) with their text, channel and the words matched."""
    query = (select(_H.c.interaction_id, _H.c.occurred_at, _H.c.matches, _I.c.text, _I.c.channel, _I.c.kind)
             .select_from(_H.outerjoin(_I, _I.c.id == _H.c.interaction_id))
             .where(_H.c.alert_id == alert_id).order_by(_H.c.occurred_at, _H.c.id))
    return [_row(r) for r in conn.execute(query).mappings()]


def set_state(conn: Connection, alert_id: int, *, to: str, actor: str, note: str | None) -> dict[str, Any]:
    """Move an alert to ``to``; :class:`Conflict` naming ``from`` and ``to`` when not allowed."""
    if to not in ALERT_STATES:
        raise InvalidInput(f"state must be one of {', '.join(ALERT_STATES)}", field="state", value=to)
    current = get_alert(conn, alert_id)
    frm = current["state"]
    if to not in TRANSITIONS[frm]:
        allowed = ", ".join(TRANSITIONS[frm]) or "none: it is closed"
        raise Conflict(f"alert {alert_id} cannot go from {frm} to {to} (allowed from {frm}: {allowed})",
                       field="state", value=f"{frm}->{to}")
    now = dt.datetime.now(dt.timezone.utc)
    values: dict[str, Any] = {"state": to, "state_by": actor[:100], "updated_at": now}
    if to not in OPEN_STATES:
        values["open_fold_key"] = None  # a closed alert takes no more folds: the next hit opens a new one
    if note is not None:
        values["note"] = note
    done = conn.execute(update(_A).where(and_(_A.c.id == alert_id, _A.c.state == frm)).values(**values))
    if done.rowcount != 1:  # another change won between the read and the update
        latest = get_alert(conn, alert_id)["state"]
        raise Conflict(f"alert {alert_id} cannot go from {latest} to {to}: it changed meanwhile",
                       field="state", value=f"{latest}->{to}")
    return {**current, **values, "from": frm}


def list_escalations(conn: Connection, *, limit: int, offset: int = 0,
                     transformer_id: str | None = None) -> list[dict[str, Any]]:
    query = select(_E)
    if transformer_id is not None:
        query = query.where(_E.c.transformer_id == transformer_id)
    query = query.order_by(_E.c.raised_at.desc(), _E.c.id.desc()).limit(limit).offset(offset)
    return [_row(r) for r in conn.execute(query).mappings()]
