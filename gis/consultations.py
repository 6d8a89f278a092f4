"""Consultations, candidate windows and alternative step sets of a plan, in the store.

:func:`start_consultation` writes, in ONE transaction, the plan's candidate windows (the
first time), its consultation round (reason and area), one ``consultations`` row per newly
consulted customer and the outbox messages the caller builds for them from the customer
records' contacts (``make_messages``): the consultation and its notices commit together or
not at all. Replies are recorded while the plan is ``consulting``; a later reply replaces
an earlier one (the customer changed their mind). Times are stored in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from gis import events
from gis.errors import Conflict, InvalidInput, NotFound
from gis.models import (
    Consultation,
    Customer,
    OutboxMessage,
    PlanAlternative,
    PlanConsultation,
    PlanWindow,
    SwitchingPlan,
)
from gis.outbox import NewMessage, enqueue

__all__ = [
    "ConsultationRecord", "ContactRow", "StartResult", "WindowRow", "start_consultation", "get_consultation",
    "consultation_by_key", "plan_windows", "set_plan_windows", "round_of", "record_reply", "replies_of",
    "set_alternatives", "alternatives_of", "CONSULTING", "REPLY_CHANNEL",
]

CONSULTING = "consulting"
#: The live-event channel a recorded reply is published on (references only: plan, reply, window).
REPLY_CHANNEL = "consultations"

_C = Consultation.__table__
_W = PlanWindow.__table__
_A = PlanAlternative.__table__
_R = PlanConsultation.__table__
_P = SwitchingPlan.__table__
_CUST = Customer.__table__
_O = OutboxMessage.__table__


@dataclass(frozen=True, slots=True)
class WindowRow:
    seq: int
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True, slots=True)
class ContactRow:
    """A newly consulted customer: the consultation's id and the contacts on the customer record."""

    consultation_id: int
    account_no: str
    phone: str | None
    phone_alt: str | None
    wechat_openid: str | None


@dataclass(frozen=True, slots=True)
class ConsultationRecord:
    id: int
    plan_id: int
    account_no: str
    channel: str
    sent_at: dt.datetime | None
    expires_at: dt.datetime | None
    reply: str | None
    preferred_window: int | None
    reason: str | None
    replied_at: dt.datetime | None
    reply_via: str | None


@dataclass(frozen=True, slots=True)
class StartResult:
    consulted: int
    already: list[str]
    messages: dict[str, int]
    windows: list[WindowRow]


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.timezone.utc)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc)


def _record(row: Any) -> ConsultationRecord:
    m = row._mapping
    return ConsultationRecord(id=m["id"], plan_id=m["plan_id"], account_no=m["account_no"], channel=m["channel"],
                              sent_at=_aware(m["sent_at"]), expires_at=_aware(m["expires_at"]), reply=m["reply"],
                              preferred_window=m["preferred_window"], reason=m["reason"],
                              replied_at=_aware(m["replied_at"]), reply_via=m["reply_via"])


def _plan_status(conn: Connection, plan_id: int) -> Any:
    row = conn.execute(select(_P.c.status, _P.c.title, _P.c.window_start, _P.c.window_end)
                       .where(_P.c.id == plan_id)).first()
    if row is None:
        raise NotFound(f"no switching plan {plan_id}", field="plan_id", value=plan_id)
    return row


def plan_windows(conn: Connection, plan_id: int) -> list[WindowRow]:
    rows = conn.execute(select(_W.c.seq, _W.c.window_start, _W.c.window_end).where(_W.c.plan_id == plan_id)
                        .order_by(_W.c.seq))
    return [WindowRow(s, _aware(a), _aware(b)) for s, a, b in rows]


def _check_windows(windows: Sequence[tuple[dt.datetime, dt.datetime]]) -> None:
    if not windows:
        raise InvalidInput("give at least one candidate window", field="windows")
    if len(windows) > 10:
        raise InvalidInput("at most 10 candidate windows", field="windows", value=len(windows))
    for i, (start, end) in enumerate(windows):
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidInput("a window needs a time zone (e.g. +08:00)", field=f"windows[{i}]")
        if end <= start:
            raise InvalidInput("a window must end after it starts", field=f"windows[{i}].end", value=end.isoformat())


def _write_windows(conn: Connection, plan_id: int, windows: Sequence[tuple[dt.datetime, dt.datetime]]) -> None:
    conn.execute(delete(_W).where(_W.c.plan_id == plan_id))
    conn.execute(insert(_W), [{"plan_id": plan_id, "seq": i, "window_start": _utc(a), "window_end": _utc(b)}
                              for i, (a, b) in enumerate(windows)])


def set_plan_windows(engine: Engine, plan_id: int, windows: Sequence[tuple[dt.datetime, dt.datetime]]) -> list[WindowRow]:
    """Replace the plan's candidate windows; refused once customers have been consulted on them."""
    _check_windows(windows)
    with engine.begin() as conn:
        status = _plan_status(conn, plan_id).status
        if status not in ("draft", CONSULTING):
            raise Conflict(f"plan {plan_id} is {status!r}: its windows are fixed", field="status", value=status)
        if conn.execute(select(func.count()).select_from(_C).where(_C.c.plan_id == plan_id)).scalar_one():
            raise Conflict(f"customers of plan {plan_id} were consulted on its windows: they can no longer change",
                           field="windows")
        _write_windows(conn, plan_id, windows)
        return plan_windows(conn, plan_id)


def start_consultation(engine: Engine, plan_id: int, *, accounts: Sequence[str],
                       windows: Sequence[tuple[dt.datetime, dt.datetime]] | None, reason: str,
                       area_names: Sequence[str], sent_by: str | None, expires_at: dt.datetime,
                       make_messages: Callable[[list[ContactRow], list[WindowRow]], list[NewMessage]],
                       now: dt.datetime | None = None, channel: str = "auto",
                       dry_run: bool = False) -> StartResult:
    """Consult ``accounts`` about plan ``plan_id``: windows, rows and outbox messages in one transaction.

    ``channel``: ``auto`` (WeChat when the record has an openid, else SMS) or ``sms`` (SMS to
    every customer; the caller's ``make_messages`` words it so). ``dry_run`` runs the whole
    transaction and rolls it back: the result says exactly what sending would write.
    Customers already consulted on this plan are skipped (listed in ``already``). Raises
    :class:`Conflict` unless the plan is ``consulting`` or when ``windows`` differ from the
    stored candidates, :class:`InvalidInput` naming ``accounts[i]`` for an unknown customer.
    """
    now = _utc(now or dt.datetime.now(dt.timezone.utc))
    if not accounts:
        raise InvalidInput("give the accounts to consult", field="accounts")
    seen: set[str] = set()
    for i, account in enumerate(accounts):
        if account in seen:
            raise InvalidInput(f"account {account} is listed twice", field=f"accounts[{i}]", value=account)
        seen.add(account)
    if windows is not None:
        _check_windows(windows)
    if channel not in ("auto", "sms"):
        raise InvalidInput("channel must be auto or sms", field="channel", value=channel)
    try:
        # SQLite: the write lock at BEGIN. A deferred transaction that has read can no longer write
        # once another connection commits ("database is locked" at once, no busy wait): the outbox
        # worker, an audit row or a heat ingest committing between this one's reads and writes.
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
            tx = conn.begin()
            try:
                out = _start(conn, plan_id, accounts, windows, reason, area_names, sent_by, expires_at,
                             make_messages, now, channel)
            except BaseException:
                tx.rollback()
                raise
            if dry_run:
                tx.rollback()
            else:
                tx.commit()
            return out
    except IntegrityError as exc:  # another consultation of the same plan committed in between
        raise Conflict(f"plan {plan_id} was consulted by another request at the same time; send again "
                       "(customers already consulted are skipped)", field="plan_id", value=plan_id) from exc


def _start(conn: Connection, plan_id: int, accounts: Sequence[str], windows, reason: str,
           area_names: Sequence[str], sent_by: str | None, expires_at: dt.datetime, make_messages, now: dt.datetime,
           channel_choice: str) -> StartResult:
    """The consultation's writes on ``conn``, inside the caller's transaction."""
    plan = _plan_status(conn, plan_id)
    if plan.status != CONSULTING:
        raise Conflict(f"plan {plan_id} is {plan.status!r}: customers are consulted while it is 'consulting'",
                       field="status", value=plan.status)
    stored = plan_windows(conn, plan_id)
    if not stored:
        if windows is None:
            if plan.window_start is None:
                raise InvalidInput(f"plan {plan_id} has no window: give the candidate windows", field="windows")
            windows = [(_aware(plan.window_start), _aware(plan.window_end))]
        _write_windows(conn, plan_id, windows)
        stored = plan_windows(conn, plan_id)
    elif windows is not None and [(_utc(a), _utc(b)) for a, b in windows] != [(w.start, w.end) for w in stored]:
        raise Conflict(f"plan {plan_id} was already consulted on other candidate windows", field="windows")
    found = {r.account_no: r for r in conn.execute(
        select(_CUST.c.account_no, _CUST.c.phone, _CUST.c.phone_alt, _CUST.c.wechat_openid)
        .where(_CUST.c.account_no.in_(list(accounts))))}
    for i, account in enumerate(accounts):
        if account not in found:
            raise InvalidInput(f"no customer {account}", field=f"accounts[{i}]", value=account)
    already = set(conn.execute(select(_C.c.account_no).where(_C.c.plan_id == plan_id,
                                                               _C.c.account_no.in_(list(accounts)))).scalars())
    fresh = [a for a in accounts if a not in already]
    if conn.execute(select(func.count()).select_from(_R).where(_R.c.plan_id == plan_id)).scalar_one() == 0:
        conn.execute(insert(_R).values(plan_id=plan_id, reason=reason, area_names=list(area_names),
                                       sent_by=sent_by, sent_at=now))
    contacts: list[ContactRow] = []
    for i, account in enumerate(fresh):
        c = found[account]
        if channel_choice == "sms":
            channel = "sms" if (c.phone or c.phone_alt) else None
        else:
            channel = "wechat" if c.wechat_openid else "sms" if (c.phone or c.phone_alt) else None
        if channel is None:
            needs = "a phone" if channel_choice == "sms" else "a WeChat openid nor a phone"
            raise InvalidInput(f"customer {account} has neither {needs} on record",
                               field=f"accounts[{accounts.index(account)}]", value=account)
        cid = conn.execute(insert(_C).values(plan_id=plan_id, account_no=account, channel=channel, sent_at=now,
                                             expires_at=_utc(expires_at)).returning(_C.c.id)).scalar_one()
        contacts.append(ContactRow(cid, account, c.phone, c.phone_alt, c.wechat_openid))
    messages = make_messages(contacts, stored) if contacts else []
    enqueue(conn, messages, now=now)
    counts = {"wechat": 0, "sms": 0}
    for m in messages:
        counts[m.channel] += 1
    return StartResult(consulted=len(contacts), already=sorted(already), messages=counts, windows=stored)


def get_consultation(conn: Connection, consultation_id: int) -> ConsultationRecord:
    row = conn.execute(select(_C).where(_C.c.id == consultation_id)).first()
    if row is None:
        raise NotFound(f"no consultation {consultation_id}", field="consultation", value=consultation_id)
    return _record(row)


def consultation_by_key(conn: Connection, key: str) -> ConsultationRecord:
    """The consultation a notice's idempotency key (WeChat ``client_msg_id``) belongs to."""
    msg = conn.execute(select(_O.c.plan_id, _O.c.account_no).where(_O.c.idempotency_key == key)).first()
    row = None if msg is None else conn.execute(
        select(_C).where(_C.c.plan_id == msg.plan_id, _C.c.account_no == msg.account_no)).first()
    if row is None:
        raise NotFound("no consultation notice has this key", field="key", value=key)
    return _record(row)


def round_of(conn: Connection, plan_id: int) -> dict[str, Any] | None:
    """The plan's consultation round: title, status, reason, area names (None before one was sent)."""
    plan = _plan_status(conn, plan_id)
    row = conn.execute(select(_R).where(_R.c.plan_id == plan_id)).first()
    if row is None:
        return None
    return {"plan_id": plan_id, "title": plan.title, "status": plan.status, "reason": row.reason,
            "area_names": list(row.area_names), "sent_by": row.sent_by, "sent_at": _aware(row.sent_at)}


def record_reply(engine: Engine, consultation_id: int, *, reply: str, preferred_window: int | None,
                 reason: str | None, via: str, now: dt.datetime | None = None) -> ConsultationRecord:
    """Store the customer's reply (replacing an earlier one) while the plan is still ``consulting``."""
    now = _utc(now or dt.datetime.now(dt.timezone.utc))
    with engine.begin() as conn:
        current = get_consultation(conn, consultation_id)
        status = _plan_status(conn, current.plan_id).status
        if status != CONSULTING:
            raise Conflict(f"the consultation on plan {current.plan_id} is closed (the plan is {status!r})",
                           field="status", value=status)
        conn.execute(update(_C).where(_C.c.id == consultation_id)
                     .values(reply=reply, preferred_window=preferred_window, reason=(reason or None),
                             replied_at=now, reply_via=via))
        # in the reply's own transaction: a map following the plan re-reads its tally when this commits
        events.publish(conn, REPLY_CHANNEL, {"type": "consultation.reply", "plan_id": current.plan_id,
                                             "consultation": consultation_id, "reply": reply,
                                             "window": preferred_window, "replaced": current.reply is not None})
        return get_consultation(conn, consultation_id)


def replies_of(conn: Connection, plan_id: int) -> list[ConsultationRecord]:
    """Every consultation of the plan (replied or not), by account number."""
    _plan_status(conn, plan_id)
    return [_record(r) for r in conn.execute(select(_C).where(_C.c.plan_id == plan_id).order_by(_C.c.account_no))]


def set_alternatives(engine: Engine, plan_id: int, alternatives: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> None:
    """Replace the plan's alternative step sets (numbered from 1; the plan's own steps are 0)."""
    with engine.begin() as conn:
        status = _plan_status(conn, plan_id).status
        if status not in ("draft", CONSULTING):
            raise Conflict(f"plan {plan_id} is {status!r}: its alternatives are fixed", field="status", value=status)
        conn.execute(delete(_A).where(_A.c.plan_id == plan_id))
        if alternatives:
            conn.execute(insert(_A), [{"plan_id": plan_id, "seq": i + 1, "title": title,
                                       "steps": [list(s) for s in steps]}
                                      for i, (title, steps) in enumerate(alternatives)])


def alternatives_of(conn: Connection, plan_id: int) -> list[tuple[int, str, list[tuple[str, str]]]]:
    _plan_status(conn, plan_id)
    rows = conn.execute(select(_A.c.seq, _A.c.title, _A.c.steps).where(_A.c.plan_id == plan_id).order_by(_A.c.seq))
    return [(seq, title, [(a, e) for a, e in steps]) for seq, title, steps in rows]
