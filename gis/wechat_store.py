"""WeChat messages in the store: the customer an openid names, retry deduplication, the interaction row.

WeChat delivers a message again when it got no answer within five seconds (up to three
tries): :func:`claim_message` remembers each ``MsgId`` in the transaction that records the
message, so of concurrent or repeated deliveries exactly one records it.
(The interactions ingest of issue 14 will take over :func:`record_interaction`.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from gis.models import Customer, Interaction, WechatMessage

__all__ = ["customer_by_openid", "claim_message", "record_interaction"]

_C = Customer.__table__
_I = Interaction.__table__
_W = WechatMessage.__table__


def customer_by_openid(conn: Connection, openid: str) -> str | None:
    """The 户号 of the customer bound to ``openid`` (the first by 户号 if several are)."""
    return conn.execute(select(_C.c.account_no).where(_C.c.wechat_openid == openid)
                        .order_by(_C.c.account_no).limit(1)).scalar()


def claim_message(conn: Connection, msg_id: str, interaction_id: str) -> bool:
    """Remember ``msg_id``; False when it was already received (then record nothing)."""
    insert = (postgresql.insert(_W) if conn.dialect.name == "postgresql" else sqlite.insert(_W))
    done = conn.execute(insert.values(msg_id=msg_id, interaction_id=interaction_id,
                                      received_at=dt.datetime.now(dt.timezone.utc))
                        .on_conflict_do_nothing(index_elements=["msg_id"]).returning(_W.c.msg_id))
    return done.first() is not None


def record_interaction(conn: Connection, row: Mapping[str, Any]) -> None:
    """Insert one interaction row (id, account_no, channel, kind, occurred_at, text, caller_phone)."""
    at = row["occurred_at"]
    at = at.replace(tzinfo=dt.timezone.utc) if at.tzinfo is None else at.astimezone(dt.timezone.utc)
    conn.execute(_I.insert().values(id=row["id"], account_no=row.get("account_no"), channel=row["channel"],
                                    kind=row["kind"], occurred_at=at, text=row.get("text"),
                                    caller_phone=row.get("caller_phone")))
