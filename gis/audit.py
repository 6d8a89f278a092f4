"""The append-only audit trail: who (key and role) did what to which object, and when.

Every read of a customer's personal data, every export, every plan change and every alert
action is recorded here by the API. Rows are only ever inserted; the store itself refuses
UPDATE and DELETE on ``audit_events`` (triggers of migration 0004 on both backends), so a
bug or a compromised process cannot rewrite history through this table.

``details`` is a small JSON object describing *what* was done (e.g. which fields were shown
unmasked, how many rows an export held), never secrets or the personal data itself.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput
from gis.models import AuditEvent

__all__ = ["record_event", "query_events", "AUDIT_ACTIONS", "MAX_DETAILS_CHARS"]

_TABLE = AuditEvent.__table__

#: Actions the API records (others may be added; the names are lower-case dotted words).
AUDIT_ACTIONS = (
    "customer.pii_read",
    "export",
    "import",
    "plan.create",
    "plan.update",
    "plan.status",
    "alert.ack",
    "key.create",
    "key.revoke",
)

#: Upper bound on the serialized size of ``details`` (an audit row is a note, not a payload).
MAX_DETAILS_CHARS = 4000


def _utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC; a naive value is taken as UTC (SQLite hands back naive UTC times)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def record_event(
    conn: Connection,
    *,
    actor: str,
    role: str,
    action: str,
    object_kind: str,
    object_id: str | None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one event in ``conn``'s transaction (commit is the caller's: the event then
    stands or falls with the change it records)."""
    for name, value, limit in (("actor", actor, 100), ("role", role, 32), ("action", action, 64),
                               ("object_kind", object_kind, 32)):
        if not value or len(value) > limit:
            raise InvalidInput(f"audit {name} must be 1–{limit} characters", field=name, value=value)
    if object_id is not None and len(object_id) > 100:
        raise InvalidInput("audit object_id must be at most 100 characters", field="object_id", value=object_id)
    body = dict(details or {})
    if len(json.dumps(body, default=str, ensure_ascii=False)) > MAX_DETAILS_CHARS:
        raise InvalidInput(f"audit details must serialize to at most {MAX_DETAILS_CHARS} characters",
                           field="details")
    conn.execute(_TABLE.insert().values(
        actor=actor, role=role, action=action, object_kind=object_kind, object_id=object_id,
        at=dt.datetime.now(dt.timezone.utc), details=json.loads(json.dumps(body, default=str)),
    ))


def query_events(
    conn: Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_kind: str | None = None,
    object_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Events matching every given filter, newest first (``since`` inclusive, ``until`` exclusive)."""
    if limit < 1:
        raise InvalidInput("limit must be at least 1", field="limit", value=limit)
    if offset < 0:
        raise InvalidInput("offset must not be negative", field="offset", value=offset)
    query = select(_TABLE)
    for column, value in (("actor", actor), ("action", action), ("object_kind", object_kind),
                          ("object_id", object_id)):
        if value is not None:
            query = query.where(_TABLE.c[column] == value)
    if since is not None:
        query = query.where(_TABLE.c.at >= _utc(since))
    if until is not None:
        query = query.where(_TABLE.c.at < _utc(until))
    query = query.order_by(_TABLE.c.at.desc(), _TABLE.c.id.desc()).limit(limit).offset(offset)
    out = []
    for row in conn.execute(query):
        event = dict(row._mapping)
        event["at"] = _utc(event["at"]) if event["at"] is not None else None
        out.append(event)
    return out
