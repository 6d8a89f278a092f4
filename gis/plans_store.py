"""Switching plans (停电计划) in the store: create, read, list, update, status changes, delete.

Concurrency is optimistic: every change is one ``UPDATE … WHERE id = ? AND version = ?``
that also bumps ``version`` (the same column SQLAlchemy's ``version_id_col`` guards for ORM
users). A change based on a version that is no longer stored updates no row and is refused
with :class:`~gis.errors.PreconditionFailed` (HTTP 412), so no update is ever lost. The
guarded ``UPDATE`` is the first statement of its transaction: on PostGIS a concurrent
writer blocks on the row lock and then re-checks the version; on SQLite the writer lock is
taken before anything is read, so a deferred transaction never has to upgrade a stale read
lock. Steps are replaced as a whole in the same transaction, so a reader sees the old plan
or the new one, never a mix.

Status workflow (DESIGN.md): ``draft → consulting → approved → executed``, and
``cancelled`` from any state before ``executed``. Title, window and steps may change only
while the plan is ``draft`` or ``consulting`` (customers' replies may move the window);
an approved plan is frozen. Only drafts may be deleted. Times are stored in UTC and
returned time-zone aware.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from gis.audit import record_event
from gis.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from gis.models import PLAN_STATUSES, STEP_ACTIONS, Customer, PlanStep, PlanTransition, SwitchingPlan
from gis.outbox import enqueue
from gis.outages_store import InterruptionRow, insert_interruptions

__all__ = [
    "TRANSITIONS",
    "EDITABLE_STATUSES",
    "PlanRecord",
    "PlanPage",
    "create_plan",
    "get_plan",
    "list_plans",
    "update_plan",
    "change_status",
    "delete_plan",
    "SqlPlanStore",
    "unpack_accounts",
]

#: status -> the statuses it may move to.
TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "draft": ("consulting", "cancelled"),
    "consulting": ("approved", "cancelled"),
    "approved": ("executed", "cancelled"),
    "executed": (),
    "cancelled": (),
}
#: statuses in which title, window and steps may still change.
EDITABLE_STATUSES: tuple[str, ...] = ("draft", "consulting")

_PLANS = SwitchingPlan.__table__
_STEPS = PlanStep.__table__


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """One stored plan with its ordered steps ``((action, element_id), …)``."""

    id: int
    title: str
    status: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    version: int
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    steps: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class PlanPage:
    items: list[PlanRecord]
    total: int
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        nxt = self.offset + len(self.items)
        return nxt if nxt < self.total else None


def _utc(value: dt.datetime | None, field: str) -> dt.datetime | None:
    """Aware UTC for storage; a time without a zone is refused (it would be ambiguous)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(f"{field} needs a time zone (e.g. +08:00)", field=field, value=value.isoformat())
    return value.astimezone(dt.timezone.utc)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back the stored UTC wall time without its zone.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.timezone.utc)


def _check(title: str, window_start: dt.datetime | None, window_end: dt.datetime | None,
           steps: Sequence[tuple[str, str]]) -> tuple[dt.datetime | None, dt.datetime | None]:
    if not title or not title.strip() or len(title) > 300:
        raise InvalidInput("a plan needs a title of 1–300 characters", field="title", value=title)
    if not steps:
        raise InvalidInput("a plan needs at least one step", field="steps")
    for i, (action, element) in enumerate(steps):
        if action not in STEP_ACTIONS:
            raise InvalidInput(f"step {i}: unknown action {action!r}", field=f"steps[{i}].action", value=action)
        if not element or len(element) > 64:
            raise InvalidInput(f"step {i}: element id must be 1–64 characters", field=f"steps[{i}].element",
                               value=element)
    start, end = _utc(window_start, "window_start"), _utc(window_end, "window_end")
    if (start is None) != (end is None):
        raise InvalidInput("give both window_start and window_end, or neither",
                           field="window_end" if end is None else "window_start")
    if start is not None and end <= start:
        raise InvalidInput("window_end must be after window_start", field="window_end", value=window_end.isoformat())
    return start, end


def _insert_steps(conn: Connection, plan_id: int, steps: Sequence[tuple[str, str]]) -> None:
    conn.execute(insert(_STEPS), [{"plan_id": plan_id, "seq": i, "action": a, "element_id": e}
                                  for i, (a, e) in enumerate(steps)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def create_plan(engine: Engine, *, title: str, steps: Sequence[tuple[str, str]],
                window_start: dt.datetime | None = None, window_end: dt.datetime | None = None,
                created_by: str | None = None) -> PlanRecord:
    """Store a new ``draft`` plan (version 1) with its steps, atomically."""
    start, end = _check(title, window_start, window_end, steps)
    now = _now()
    with engine.begin() as conn:
        plan_id = conn.execute(
            insert(_PLANS).values(title=title, status="draft", window_start=start, window_end=end, version=1,
                                  created_by=created_by, created_at=now, updated_at=now).returning(_PLANS.c.id)
        ).scalar_one()
        _insert_steps(conn, plan_id, steps)
        return get_plan(conn, plan_id)


def _record(row, steps: tuple[tuple[str, str], ...]) -> PlanRecord:
    m = row._mapping
    return PlanRecord(id=m["id"], title=m["title"], status=m["status"], window_start=_aware(m["window_start"]),
                      window_end=_aware(m["window_end"]), version=m["version"], created_by=m["created_by"],
                      created_at=_aware(m["created_at"]), updated_at=_aware(m["updated_at"]), steps=steps)


def _steps_of(conn: Connection, plan_ids: Sequence[int]) -> dict[int, tuple[tuple[str, str], ...]]:
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in plan_ids}
    if plan_ids:
        q = (select(_STEPS.c.plan_id, _STEPS.c.action, _STEPS.c.element_id)
             .where(_STEPS.c.plan_id.in_(list(plan_ids))).order_by(_STEPS.c.plan_id, _STEPS.c.seq))
        for plan_id, action, element in conn.execute(q):
            out[plan_id].append((action, element))
    return {k: tuple(v) for k, v in out.items()}


def get_plan(conn: Connection, plan_id: int) -> PlanRecord:
    """The plan ``plan_id`` with its steps; :class:`NotFound` when there is none."""
    row = conn.execute(select(_PLANS).where(_PLANS.c.id == plan_id)).first()
    if row is None:
        raise NotFound(f"no switching plan {plan_id}", field="plan_id", value=plan_id)
    return _record(row, _steps_of(conn, [plan_id])[plan_id])


def list_plans(conn: Connection, *, status: str | None = None, created_by: str | None = None,
               window_from: dt.datetime | None = None, window_to: dt.datetime | None = None,
               limit: int = 100, offset: int = 0) -> PlanPage:
    """Plans by id, filtered by status, creator and window overlap with ``[window_from, window_to)``."""
    if status is not None and status not in PLAN_STATUSES:
        raise InvalidInput(f"unknown status {status!r}; one of {', '.join(PLAN_STATUSES)}", field="status", value=status)
    lo, hi = _utc(window_from, "window_from"), _utc(window_to, "window_to")
    if lo is not None and hi is not None and hi <= lo:
        raise InvalidInput("window_to must be after window_from", field="window_to", value=window_to.isoformat())
    where = []
    if status is not None:
        where.append(_PLANS.c.status == status)
    if created_by is not None:
        where.append(_PLANS.c.created_by == created_by)
    if lo is not None:
        where.append(_PLANS.c.window_end > lo)
    if hi is not None:
        where.append(_PLANS.c.window_start < hi)
    cond = and_(True, *where)
    total = conn.execute(select(func.count()).select_from(_PLANS).where(cond)).scalar_one()
    rows = conn.execute(select(_PLANS).where(cond).order_by(_PLANS.c.id).limit(limit).offset(offset)).fetchall()
    steps = _steps_of(conn, [r.id for r in rows])
    return PlanPage([_record(r, steps[r.id]) for r in rows], total, offset, limit)


def _refuse(conn: Connection, plan_id: int, expected_version: int | None, *, allowed: Sequence[str], doing: str,
            to_status: str | None = None) -> None:
    """Say why a guarded write touched no row (missing, stale version, or wrong status)."""
    row = conn.execute(select(_PLANS.c.version, _PLANS.c.status).where(_PLANS.c.id == plan_id)).first()
    if row is None:
        raise NotFound(f"no switching plan {plan_id}", field="plan_id", value=plan_id)
    if expected_version is not None and row.version != expected_version:
        raise PreconditionFailed(
            f"plan {plan_id} is at version {row.version}, not {expected_version}: it changed since you read it; "
            "read it again and re-apply your change", field="If-Match", value=expected_version)
    if to_status is not None:
        raise Conflict(f"plan {plan_id} cannot move from {row.status!r} to {to_status!r} "
                       f"(allowed from {row.status!r}: {', '.join(TRANSITIONS[row.status]) or 'none'})",
                       field="status", value=to_status)
    raise Conflict(f"plan {plan_id} is {row.status!r}: only a plan that is {' or '.join(allowed)} may be {doing}",
                   field="status", value=row.status)


def update_plan(engine: Engine, plan_id: int, *, expected_version: int, title: str,
                steps: Sequence[tuple[str, str]], window_start: dt.datetime | None = None,
                window_end: dt.datetime | None = None) -> PlanRecord:
    """Replace title, window and steps if the stored version is ``expected_version``; returns the new plan.

    Raises :class:`PreconditionFailed` for a stale version, :class:`Conflict` for a plan no
    longer editable, :class:`NotFound` for no plan. Nothing is written unless all is well.
    """
    start, end = _check(title, window_start, window_end, steps)
    with engine.begin() as conn:
        done = conn.execute(
            update(_PLANS)
            .where(_PLANS.c.id == plan_id, _PLANS.c.version == expected_version,
                   _PLANS.c.status.in_(EDITABLE_STATUSES))
            .values(title=title, window_start=start, window_end=end, version=_PLANS.c.version + 1,
                    updated_at=_now())
            .returning(_PLANS.c.id)
        ).first()
        if done is None:
            _refuse(conn, plan_id, expected_version, allowed=EDITABLE_STATUSES, doing="edited")
        conn.execute(delete(_STEPS).where(_STEPS.c.plan_id == plan_id))
        _insert_steps(conn, plan_id, steps)
        return get_plan(conn, plan_id)


def change_status(engine: Engine, plan_id: int, to_status: str, *, expected_version: int | None = None) -> PlanRecord:
    """Move the plan to ``to_status`` along :data:`TRANSITIONS` (bumps the version).

    An invalid transition raises :class:`Conflict` naming from and to; with
    ``expected_version`` a stale version raises :class:`PreconditionFailed`.
    """
    if to_status not in PLAN_STATUSES:
        raise InvalidInput(f"unknown status {to_status!r}; one of {', '.join(PLAN_STATUSES)}",
                           field="status", value=to_status)
    sources = [s for s, targets in TRANSITIONS.items() if to_status in targets]
    cond = [_PLANS.c.id == plan_id, _PLANS.c.status.in_(sources)]
    if expected_version is not None:
        cond.append(_PLANS.c.version == expected_version)
    with engine.begin() as conn:
        done = conn.execute(
            update(_PLANS).where(*cond)
            .values(status=to_status, version=_PLANS.c.version + 1, updated_at=_now()).returning(_PLANS.c.id)
        ).first()
        if done is None:
            _refuse(conn, plan_id, expected_version, allowed=sources, doing="moved", to_status=to_status)
        return get_plan(conn, plan_id)


def delete_plan(engine: Engine, plan_id: int, *, expected_version: int | None = None) -> None:
    """Delete a ``draft`` plan and its steps; any other status raises :class:`Conflict`."""
    cond = [_PLANS.c.id == plan_id, _PLANS.c.status == "draft"]
    if expected_version is not None:
        cond.append(_PLANS.c.version == expected_version)
    with engine.begin() as conn:
        done = conn.execute(delete(_PLANS).where(*cond).returning(_PLANS.c.id)).first()
        if done is None:
            _refuse(conn, plan_id, expected_version, allowed=("draft",), doing="deleted")
        conn.execute(delete(_STEPS).where(_STEPS.c.plan_id == plan_id))


# -- plan lifecycle store (issue 16): the store interface outage_impact.lifecycle.PlanLifecycle uses
_TRANSITIONS_T = PlanTransition.__table__


def _pack_accounts(accounts: Sequence[str]) -> bytes:
    return zlib.compress("\n".join(accounts).encode("utf-8"), 6)


def unpack_accounts(blob: bytes | None) -> tuple[str, ...]:
    """The accounts of a transition's snapshot (``customers_z``)."""
    if not blob:
        return ()
    text = zlib.decompress(blob).decode("utf-8")
    return tuple(text.split("\n")) if text else ()


class SqlPlanStore:
    """:class:`outage_impact.lifecycle.PlanStore` over an engine (both stores); one transaction per call.

    Actors, snapshots and executions are read by attribute (``name``/``role``;
    ``data_version``, ``count``, …, ``customers``, ``error``; ``actual_start``/``actual_end``),
    so this package needs nothing from the domain layer.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, plan_id: int) -> PlanRecord:
        with self._engine.connect() as conn:
            return get_plan(conn, plan_id)

    def create(self, *, title, steps, window_start, window_end, created_by) -> PlanRecord:
        return create_plan(self._engine, title=title, steps=steps, window_start=window_start,
                           window_end=window_end, created_by=created_by)

    def update(self, plan_id, *, expected_version, title, steps, window_start, window_end) -> PlanRecord:
        return update_plan(self._engine, plan_id, expected_version=expected_version, title=title, steps=steps,
                           window_start=window_start, window_end=window_end)

    def delete(self, plan_id, *, expected_version) -> None:
        delete_plan(self._engine, plan_id, expected_version=expected_version)

    def transition(self, plan_id, *, from_status, to_status, expected_version, actor, snapshot, execution,
                   notices=None) -> PlanRecord:
        cond = [_PLANS.c.id == plan_id, _PLANS.c.status == from_status]
        if expected_version is not None:
            cond.append(_PLANS.c.version == expected_version)
        now = _now()
        with self._engine.begin() as conn:
            done = conn.execute(update(_PLANS).where(*cond)
                                .values(status=to_status, version=_PLANS.c.version + 1, updated_at=now)
                                .returning(_PLANS.c.version)).first()
            if done is None:
                _refuse(conn, plan_id, expected_version, allowed=(from_status,), doing="moved", to_status=to_status)
            start = _utc(getattr(execution, "actual_start", None), "actual_start")
            end = _utc(getattr(execution, "actual_end", None), "actual_end")
            conn.execute(insert(_TRANSITIONS_T).values(
                plan_id=plan_id, plan_version=done.version, from_status=from_status, to_status=to_status,
                actor=actor.name, role=actor.role, at=now, data_version=snapshot.data_version,
                affected_count=snapshot.count, sensitive_count=snapshot.sensitive_count,
                customer_minutes=snapshot.customer_minutes,
                groups={"by_feeder": dict(snapshot.by_feeder), "by_transformer": dict(snapshot.by_transformer)},
                customers_z=None if snapshot.error else _pack_accounts(snapshot.customers),
                impact_error=snapshot.error, actual_start=start, actual_end=end))
            details = {"from": from_status, "to": to_status, "version": done.version,
                       "data_version": snapshot.data_version, "affected": snapshot.count}
            if snapshot.error:
                details["impact_error"] = snapshot.error[:500]
            if execution is not None:
                written = _record_plan_outage(conn, plan_id, start, end, snapshot.customers)
                details.update(actual_start=start.isoformat(), actual_end=end.isoformat(), outage_records=written)
            if notices is not None:
                details["notices"] = _enqueue_notices(conn, notices, now)
            record_event(conn, actor=actor.name, role=actor.role, action="plan.status", object_kind="plan",
                         object_id=str(plan_id), details=details)
            return get_plan(conn, plan_id)

    def executed_customers(self, plan_id: int) -> tuple[str, ...] | None:
        with self._engine.connect() as conn:
            blob = conn.execute(select(_TRANSITIONS_T.c.customers_z)
                                .where(_TRANSITIONS_T.c.plan_id == plan_id, _TRANSITIONS_T.c.to_status == "executed")
                                .order_by(_TRANSITIONS_T.c.id.desc()).limit(1)).first()
        return None if blob is None else unpack_accounts(blob[0])

    def record_execution(self, plan_id, *, actor, execution, customers) -> int:
        start = _utc(execution.actual_start, "actual_start")
        end = _utc(execution.actual_end, "actual_end")
        with self._engine.begin() as conn:
            written = _record_plan_outage(conn, plan_id, start, end, customers)
            # the execution's times on the executed transition (set once; equal times again are a no-op)
            last = conn.execute(select(_TRANSITIONS_T.c.id, _TRANSITIONS_T.c.actual_start, _TRANSITIONS_T.c.actual_end)
                                .where(_TRANSITIONS_T.c.plan_id == plan_id, _TRANSITIONS_T.c.to_status == "executed")
                                .order_by(_TRANSITIONS_T.c.id.desc()).limit(1)).first()
            if last is not None and last.actual_start is None:
                conn.execute(update(_TRANSITIONS_T).where(_TRANSITIONS_T.c.id == last.id)
                             .values(actual_start=start, actual_end=end))
            record_event(conn, actor=actor.name, role=actor.role, action="plan.execution", object_kind="plan",
                         object_id=str(plan_id), details={"actual_start": start.isoformat(),
                                                          "actual_end": end.isoformat(), "outage_records": written})
            return written

    def transitions(self, plan_id: int) -> list[dict]:
        t = _TRANSITIONS_T
        with self._engine.connect() as conn:
            rows = conn.execute(select(t.c.plan_version, t.c.from_status, t.c.to_status, t.c.actor, t.c.role, t.c.at,
                                       t.c.data_version, t.c.affected_count, t.c.sensitive_count,
                                       t.c.customer_minutes, t.c.groups, t.c.impact_error, t.c.actual_start,
                                       t.c.actual_end)
                                .where(t.c.plan_id == plan_id).order_by(t.c.id)).fetchall()
        out = []
        for r in rows:
            m = dict(r._mapping)
            for key in ("at", "actual_start", "actual_end"):
                m[key] = _aware(m[key]).isoformat() if m[key] is not None else None
            out.append(m)
        return out


def _enqueue_notices(conn: Connection, notices, now: dt.datetime) -> dict[str, object]:
    """The transition's notices into the outbox, worded from the customer records read here; counts."""
    if notices.skipped or not notices.accounts or notices.make is None:
        return {"queued": 0, "skipped": notices.skipped}
    cust = Customer.__table__
    contacts = []
    wanted = list(notices.accounts)
    for i in range(0, len(wanted), 500):
        contacts += conn.execute(select(cust.c.account_no, cust.c.phone, cust.c.phone_alt, cust.c.wechat_openid)
                                 .where(cust.c.account_no.in_(wanted[i:i + 500]))).fetchall()
    messages = list(notices.make(contacts))
    queued = enqueue(conn, messages, now=now)
    by_channel = {"wechat": 0, "sms": 0}
    for m in messages:
        by_channel[m.channel] = by_channel.get(m.channel, 0) + 1
    return {"queued": queued, **by_channel, "unreachable": len(wanted) - len(messages)}


def _record_plan_outage(conn: Connection, plan_id: int, start: dt.datetime, end: dt.datetime,
                        customers: Sequence[str]) -> int:
    """The executed plan's outage record: every customer of its snapshot, outage ``plan-<id>``, planned."""
    rows = [InterruptionRow(f"plan-{plan_id}", a, "planned", start, end, plan_id) for a in customers]
    try:
        return insert_interruptions(conn, rows, source="plan").inserted
    except InvalidInput as exc:
        raise Conflict(f"plan {plan_id}'s execution is already recorded with other times: {exc.message}",
                       field="actual_start", value=start.isoformat()) from exc
