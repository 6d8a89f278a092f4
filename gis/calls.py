"""Incoming calls (来电弹屏): resolve the caller, flag key customers, store the call, close it.

The telephony system announces a call with the caller's number, the agent it rings and its
own call id. :func:`resolve_caller` looks the number up exactly (the in-memory caller index
with its contact overlay when given, else the store's ``customer_keys``): one customer, several
candidates, or nobody — then, when the telephony system passed the address the caller gave,
the best address matches as suggestions. :func:`record_call` stores it (a retried announcement
of the same call id returns the stored call). :func:`close_call` records the call as an
interaction in the ``interactions`` table (the one place interaction history is read from).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, text, update
from sqlalchemy.engine import Connection

from gis.customer_records import read_customer
from gis.errors import Conflict, InvalidInput, NotFound
from gis.models import INTERACTION_KINDS, Base
from gis.search import search_customers

__all__ = ["Resolution", "KeyRules", "resolve_caller", "agent_exists", "record_call", "read_call", "close_call",
           "CALL_CHANNEL", "MAX_CANDIDATES"]

#: The interaction channel a closed call is recorded under.
CALL_CHANNEL = "95598电话"
#: At most this many candidates (several customers share the number) or suggestions are kept.
MAX_CANDIDATES = 10
_AGENT_ROLES = ("agent", "dispatcher", "admin")


class _PhoneIndex(Protocol):
    def phone(self, digits: str, limit: int) -> list[tuple[str, str]]: ...


def _t(name: str):
    return Base.metadata.tables[name]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class KeyRules:
    """Which customers are key customers (大客户 / sensitive): by 敏感等级 and by 用电类别."""

    sensitivities: tuple[str, ...]
    categories: tuple[str, ...]

    def flags(self, record: Mapping[str, Any]) -> list[str]:
        out = []
        if record.get("sensitivity") in self.sensitivities:
            out.append(str(record["sensitivity"]))
        if record.get("category") in self.categories:
            out.append(str(record["category"]))
        return out


@dataclass(frozen=True)
class Resolution:
    """How a caller number resolved: ``customer`` (one), ``candidates`` (several) or ``unknown``."""

    kind: str
    account_no: str | None
    candidates: tuple[str, ...]  # several customers sharing the number, or address suggestions when unknown
    flags: tuple[str, ...]  # key-customer flags of the customer (or of any candidate)


def agent_exists(conn: Connection, agent_id: str) -> bool:
    """Whether an active API key of an agent (or dispatcher, admin) is named ``agent_id``: the key the
    agent's map signs in with."""
    keys = _t("api_keys")
    q = (select(keys.c.id).where(keys.c.name == agent_id, keys.c.revoked_at.is_(None), keys.c.role.in_(_AGENT_ROLES))
         .limit(1))
    return conn.execute(q).first() is not None


def _store_phone(conn: Connection, digits: str, limit: int) -> list[str]:
    sql = "SELECT account_no FROM customer_keys WHERE kind = 'phone' AND key = :k ORDER BY account_no LIMIT :n"
    return list(conn.execute(text(sql), {"k": digits, "n": limit}).scalars())


def resolve_caller(conn: Connection, digits: str, *, rules: KeyRules, index: _PhoneIndex | None = None,
                   address: str | None = None) -> Resolution:
    """Resolve the normalized caller number ``digits`` (see the module docstring)."""
    if index is not None:
        accounts = [a for _, a in index.phone(digits, MAX_CANDIDATES)]
    else:
        accounts = _store_phone(conn, digits, MAX_CANDIDATES)
    if len(accounts) == 1:
        record = read_customer(conn, accounts[0])
        return Resolution("customer", accounts[0], (), tuple(rules.flags(record or {})))
    if accounts:
        flags = sorted({f for a in accounts for f in rules.flags(read_customer(conn, a) or {})})
        return Resolution("candidates", None, tuple(accounts), tuple(flags))
    suggestions: tuple[str, ...] = ()
    if address and address.strip():
        found = search_customers(conn, address.strip(), limit=MAX_CANDIDATES, index=index)  # type: ignore[arg-type]
        suggestions = tuple(dict.fromkeys([i["account_no"] for i in found.data] + [i["account_no"] for i in found.suggestions]))
    return Resolution("unknown", None, suggestions[:MAX_CANDIDATES], ())


def _row(row) -> dict[str, Any]:
    rec = dict(row._mapping)
    for k in ("received_at", "closed_at"):
        rec[k] = _utc(rec[k])
    rec["candidates"] = list(rec["candidates"] or [])
    rec["flags"] = list(rec["flags"] or [])
    return rec


def read_call(conn: Connection, call_id: str) -> dict[str, Any]:
    """The stored call; :class:`NotFound` (field ``call_id``) when unknown."""
    calls = _t("calls")
    row = conn.execute(select(calls).where(calls.c.call_id == call_id)).first()
    if row is None:
        raise NotFound(f"no call with id {call_id!r}", field="call_id", value=call_id)
    return _row(row)


def record_call(conn: Connection, *, call_id: str, caller_number: str, agent_id: str, resolution: Resolution,
                caller_address: str | None, now: dt.datetime) -> tuple[dict[str, Any], bool]:
    """Store the call; returns (call, created). The same call announced again returns the stored one
    (created False); the same id with another number or agent is a :class:`Conflict`."""
    calls = _t("calls")
    existing = conn.execute(select(calls).where(calls.c.call_id == call_id)).first()
    if existing is not None:
        call = _row(existing)
        if (call["caller_number"], call["agent_id"]) != (caller_number, agent_id):
            raise Conflict(f"call {call_id} was announced before with another number or agent", field="call_id",
                           value=call_id)
        return call, False
    values = {"call_id": call_id, "caller_number": caller_number, "agent_id": agent_id,
              "received_at": now.astimezone(dt.timezone.utc), "status": "open", "resolution": resolution.kind,
              "account_no": resolution.account_no, "candidates": list(resolution.candidates),
              "caller_address": caller_address, "flags": list(resolution.flags)}
    conn.execute(calls.insert().values(**values))
    return read_call(conn, call_id), True


def close_call(conn: Connection, call_id: str, *, actor: str, kind: str, text_: str | None, account_no: str | None,
               now: dt.datetime, record_interaction: Callable[[Connection, dict[str, Any]], None],
               stale: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Close the call and record it as an interaction (channel :data:`CALL_CHANNEL`).

    ``record_interaction(conn, record)`` writes the interaction in this transaction: the API passes
    the interactions ingest, so the call is placed, counted in the heat rollups and screened like
    any other contact (this package may not import it).

    ``account_no``: the customer the agent identified (defaults to the resolved one; any existing
    customer: a candidate, a suggestion, or whoever the caller turned out to be).
    ``stale``: when given and not empty, the stale-contact rule applies and the call cannot
    be closed (:class:`Conflict` naming the fields to confirm first).
    """
    if kind not in INTERACTION_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(INTERACTION_KINDS)}", field="kind", value=kind)
    calls = _t("calls")
    q = select(calls).where(calls.c.call_id == call_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"no call with id {call_id!r}", field="call_id", value=call_id)
    call = _row(row)
    if call["status"] == "closed":
        raise Conflict(f"call {call_id} was closed already (interaction {call['interaction_id']})", field="call_id",
                       value=call_id)
    account = account_no or call["account_no"]
    record = None
    if account is not None:
        record = read_customer(conn, account)
        if record is None:
            raise NotFound(f"no customer with account number {account!r}", field="account_no", value=account)
    if stale:
        names = ", ".join(f["field"] for f in stale)
        raise Conflict(f"the contact of {account} must be confirmed before the call is closed (stale: {names}); "
                       f"PATCH /api/v1/customers/{account}/contact first", field="contact", value=names)
    interaction_id = f"call:{call_id}"
    record_interaction(conn, {"id": interaction_id, "account_no": account, "channel": CALL_CHANNEL, "kind": kind,
                              "occurred_at": call["received_at"], "text": text_, "caller_phone": call["caller_number"]})
    conn.execute(update(calls).where(calls.c.call_id == call_id).values(
        status="closed", closed_at=now.astimezone(dt.timezone.utc), closed_by=actor, interaction_id=interaction_id,
        account_no=account))
    return read_call(conn, call_id)
