"""Repair calls (报修) of a time window, as the trouble-call analysis reads them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import literal_column, select
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput
from gis.models import Interaction

__all__ = ["repair_calls", "REPAIR_KIND"]

REPAIR_KIND = "报修"
_I = Interaction.__table__


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def repair_calls(conn: Connection, since: dt.datetime, until: dt.datetime, *, limit: int) -> list[dict[str, Any]]:
    """Repair calls with ``since <= occurred_at < until`` (id, account_no, occurred_at), oldest first;
    :class:`InvalidInput` when the window holds more than ``limit``."""
    if until <= since:
        raise InvalidInput("the window must end after it starts", field="to", value=until.isoformat())
    rows = conn.execute(select(_I.c.id, _I.c.account_no, _I.c.occurred_at)
                        # the kind as a literal: it is what the partial index ix_interactions_repairs_time
                        # names, and a bound parameter may be planned without it (a generic plan)
                        .where(_I.c.kind == literal_column("'" + REPAIR_KIND + "'"), _I.c.occurred_at >= _utc(since), _I.c.occurred_at < _utc(until))
                        .order_by(_I.c.occurred_at, _I.c.id).limit(limit + 1)).mappings().all()
    if len(rows) > limit:
        raise InvalidInput(f"the window holds more than {limit} repair calls; ask for a shorter one", field="from",
                           value=since.isoformat())
    return [{"id": r["id"], "account_no": r["account_no"], "occurred_at": _utc(r["occurred_at"])} for r in rows]
