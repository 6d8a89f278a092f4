"""Store reads behind the unified customer view: one customer, their interactions, live plans.

Plain dicts out (no ORM rows); times are timezone-aware UTC on both stores (SQLite hands
back naive UTC values, which are marked as such here). Every query uses an index: the
customers' primary key, ``ix_interactions_account`` (a customer's few dozen contacts, sorted
here by the query), and the plans table (small).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import pandas as pd
import shapely
from sqlalchemy import DateTime, and_, bindparam, func, or_, select, text
from sqlalchemy.engine import Connection

from gis.models import Base

__all__ = ["read_customer", "read_interactions", "interaction_counts", "read_live_plans", "LIVE_PLAN_STATUSES",
           "SqlScreeningFacts"]

#: Plans that can still cut a customer's supply (drafts are not plans yet, cancelled ones never will).
LIVE_PLAN_STATUSES = ("consulting", "approved", "executed")

_CUSTOMER_COLUMNS = ("account_no", "name", "address", "phone", "phone_alt", "wechat_openid", "id_number", "category",
                     "contract_kva", "sensitivity", "meter_box_id", "transformer_id", "supply_node",
                     "location_quality", "contact_verified_at")


def _t(name: str):
    return Base.metadata.tables[name]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def read_customer(conn: Connection, account_no: str) -> dict[str, Any] | None:
    """The customer record with ``lon``/``lat``; None when the account is unknown."""
    tbl = _t("customers")
    row = conn.execute(select(*[tbl.c[c] for c in _CUSTOMER_COLUMNS], tbl.c.geom)
                       .where(tbl.c.account_no == account_no)).first()
    if row is None:
        return None
    out = dict(row._mapping)
    geom = out.pop("geom")
    if geom is not None and not shapely.is_empty(geom):
        out["lon"], out["lat"] = float(geom.x), float(geom.y)
    else:
        out["lon"] = out["lat"] = None
    return out


def read_interactions(conn: Connection, account_no: str, *, since: dt.datetime | None = None,
                      limit: int | None = None) -> list[dict[str, Any]]:
    """The customer's interactions, newest first (only those after ``since``; at most ``limit``)."""
    tbl = _t("interactions")
    q = (select(tbl.c.id, tbl.c.channel, tbl.c.kind, tbl.c.occurred_at, tbl.c.text)
         .where(tbl.c.account_no == account_no).order_by(tbl.c.occurred_at.desc(), tbl.c.id.desc()))
    if since is not None:
        q = q.where(tbl.c.occurred_at > since.astimezone(dt.timezone.utc))
    if limit is not None:
        q = q.limit(limit)
    out = []
    for row in conn.execute(q):
        rec = dict(row._mapping)
        rec["occurred_at"] = _utc(rec["occurred_at"])
        out.append(rec)
    return out


def interaction_counts(conn: Connection, account_no: str) -> list[tuple[str, str, int]]:
    """``(channel, kind, count)`` of all the customer's interactions, sorted."""
    tbl = _t("interactions")
    q = (select(tbl.c.channel, tbl.c.kind, func.count()).where(tbl.c.account_no == account_no)
         .group_by(tbl.c.channel, tbl.c.kind).order_by(tbl.c.channel, tbl.c.kind))
    return [(str(c), str(k), int(n)) for c, k, n in conn.execute(q)]


def read_live_plans(conn: Connection, *, now: dt.datetime,
                    statuses: Iterable[str] = LIVE_PLAN_STATUSES) -> list[dict[str, Any]]:
    """Plans of ``statuses`` whose window has not ended at ``now`` (or that have no window), with steps.

    Each plan: id, title, status, version, window_start, window_end, steps [(seq, action, element)].
    """
    plans, steps = _t("switching_plans"), _t("plan_steps")
    now = now.astimezone(dt.timezone.utc)
    q = (select(plans.c.id, plans.c.title, plans.c.status, plans.c.version, plans.c.window_start, plans.c.window_end)
         .where(plans.c.status.in_(tuple(statuses)))
         .where(or_(plans.c.window_end.is_(None), plans.c.window_end > now))
         .order_by(plans.c.window_start, plans.c.id))
    out = [dict(r._mapping) for r in conn.execute(q)]
    if not out:
        return []
    by_id = {p["id"]: p for p in out}
    for p in out:
        p["window_start"], p["window_end"] = _utc(p["window_start"]), _utc(p["window_end"])
        p["steps"] = []
    rows = conn.execute(select(steps.c.plan_id, steps.c.seq, steps.c.action, steps.c.element_id)
                        .where(and_(steps.c.plan_id.in_(list(by_id)))).order_by(steps.c.plan_id, steps.c.seq))
    for plan_id, seq, action, element in rows:
        by_id[plan_id]["steps"].append((int(seq), str(action), str(element)))
    return out


# -- screening facts (issue 16)
def _account_set(conn: Connection) -> tuple[str, Any]:
    """SQL for "account_no in the bound list :accounts" as one parameter, and how to bind it
    (PostgreSQL: an array; SQLite: a JSON array read by json_each): one short statement for
    10,000 accounts instead of thousands of bound parameters."""
    if conn.dialect.name == "postgresql":
        return "= ANY(:accounts)", list
    return "IN (SELECT value FROM json_each(:accounts))", (lambda values: json.dumps(list(values)))


class SqlScreeningFacts:
    """:class:`outage_impact.screening.ScreeningFacts` over an engine: the customers' sensitivity,
    capacity and contacts, their recorded interruptions and complaints (投诉) since given times.

    Two statements on one connection: the customers by primary key, then the complaint and
    interruption counts together, from the indexes alone (``ix_interactions_complaints_account_time``,
    ``ix_outage_records_account_start_outage``), for the listed accounts bound as one array / JSON parameter.
    """

    def __init__(self, engine) -> None:
        self._engine = engine

    def facts(self, accounts, *, interrupted_since: dt.datetime, complaints_since: dt.datetime) -> pd.DataFrame:
        wanted = sorted(set(accounts))
        cols = ["account_no", "sensitivity", "contract_kva", "phone", "phone_alt", "wechat_openid"]
        with self._engine.connect() as conn:
            member, bind = _account_set(conn)
            params = {"accounts": bind(wanted)}
            since = bindparam("since", type_=DateTime(timezone=True))
            rows = conn.execute(text(f"SELECT {', '.join(cols)} FROM customers WHERE account_no {member}"),
                                params).fetchall()
            # the complaint and the repeat-interruption rules' counts in one statement (one round trip)
            since_i = bindparam("since_i", type_=DateTime(timezone=True))
            counts = conn.execute(
                text(f"SELECT 0, account_no, count(*) FROM interactions WHERE account_no {member} "
                     "AND kind = '投诉' AND occurred_at >= :since GROUP BY account_no "
                     "UNION ALL "
                     f"SELECT 1, account_no, count(DISTINCT outage_id) FROM outage_records WHERE account_no {member} "
                     "AND start_at >= :since_i GROUP BY account_no").bindparams(since, since_i),
                {**params, "since": complaints_since.astimezone(dt.timezone.utc),
                 "since_i": interrupted_since.astimezone(dt.timezone.utc)}).fetchall()
        complaints = {a: n for k, a, n in counts if k == 0}
        interrupted = {a: n for k, a, n in counts if k == 1}
        frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=cols)
        frame["interruptions"] = frame["account_no"].map(interrupted).fillna(0).astype("int64")
        frame["complaints"] = frame["account_no"].map(complaints).fillna(0).astype("int64")
        return frame
