"""The life of a switching plan, in one place: statuses, ownership, four eyes, snapshots, execution.

Statuses (DESIGN.md): ``draft → consulting → approved → executed``, and ``cancelled`` from
any status before ``executed``. The rules, stated once here and nowhere else:

* **Ownership**: a plan is changed (edited, moved, deleted) only by the person who created
  it or by an admin.
* **Four eyes** (编制 / 审批): only an admin approves (consulting → approved), and never a
  plan they created themselves.
* **Every transition is recorded with its impact snapshot**: the counts, groups and affected
  accounts of the plan's final state on the data version served at that moment (a
  :class:`ImpactSnapshot`), with who made it, in the same transaction as the status change.
  A plan that can no longer be evaluated (its elements left the grid) may still be cancelled;
  the snapshot then records why it could not be computed.
* **Execution**: an executed plan records its actual start and end, either in the body of
  the ``executed`` transition or later (:meth:`PlanLifecycle.record_execution`); its outage
  record lists the customers of the impact snapshot taken when it was executed, as outage
  ``plan-<id>`` of kind ``planned``.
* **Approval tells the customers**: the move to ``approved`` carries the outage notices of
  the approved window (:class:`Notices`: which accounts, and how to word a message from the
  contacts on their records), written to the outbox in the transaction of the approval, so an
  approved plan and its notices commit together or not at all.
* **Outages affecting a customer** (:func:`customer_outages`): live plans (consulting,
  approved, executed; window not ended) whose final-state impact contains the customer; a
  plan is *current* when approved or executed and ``window_start ≤ now < window_end``,
  otherwise *planned*.

The service holds no database code: it receives a :class:`PlanStore` (``gis.plans_store``
implements it over SQLAlchemy) and a function giving a plan's impact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gis.errors import Conflict, GridAtlasError, InvalidInput, PermissionDenied, PreconditionFailed

__all__ = [
    "STATUSES", "TRANSITIONS", "EDITABLE_STATUSES", "LIVE_STATUSES", "EXECUTING_STATUSES",
    "Actor", "ImpactSnapshot", "Execution", "Notices", "PlanLike", "PlanStore", "PlanLifecycle",
    "plan_outage_id", "is_current", "customer_outages",
]

STATUSES: tuple[str, ...] = ("draft", "consulting", "approved", "executed", "cancelled")
#: status -> the statuses it may move to.
TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "draft": ("consulting", "cancelled"),
    "consulting": ("approved", "cancelled"),
    "approved": ("executed", "cancelled"),
    "executed": (),
    "cancelled": (),
}
#: statuses in which title, window and steps may still change (customers' replies may move the window).
EDITABLE_STATUSES: tuple[str, ...] = ("draft", "consulting")
#: plans that can still cut a customer's supply (drafts are not plans yet, cancelled ones never will).
LIVE_STATUSES: tuple[str, ...] = ("consulting", "approved", "executed")
#: statuses in which a plan inside its window is cutting supply now.
EXECUTING_STATUSES: tuple[str, ...] = ("approved", "executed")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: the name the audit trail uses ("key name (prefix)") and the role."""

    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class PlanLike(Protocol):
    """What the service reads of a stored plan."""

    id: int
    title: str
    status: str
    version: int
    created_by: str | None
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    steps: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ImpactSnapshot:
    """A plan's final-state impact as recorded with a transition (compact; no geometry)."""

    data_version: int | None
    count: int | None = None
    sensitive_count: int | None = None
    customer_minutes: float | None = None
    by_feeder: dict[str, int] = field(default_factory=dict)
    by_transformer: dict[str, int] = field(default_factory=dict)
    customers: tuple[str, ...] = ()
    error: str | None = None

    @classmethod
    def of(cls, result: Any, data_version: int) -> ImpactSnapshot:
        """From an :class:`~outage_impact.impact.ImpactResult` computed on ``data_version``."""
        key = (lambda k: "null" if k is None else str(k))
        return cls(data_version=data_version, count=int(result.count), sensitive_count=int(result.sensitive_count),
                   customer_minutes=None if result.customer_minutes is None else float(result.customer_minutes),
                   by_feeder={key(k): int(v) for k, v in result.by_feeder.items()},
                   by_transformer={key(k): int(v) for k, v in result.by_transformer.items()},
                   customers=tuple(result.customers))

    @classmethod
    def failed(cls, data_version: int | None, error: str) -> ImpactSnapshot:
        return cls(data_version=data_version, error=error)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (without the account list)."""
        return {"data_version": self.data_version, "count": self.count, "sensitive_count": self.sensitive_count,
                "customer_minutes": self.customer_minutes, "by_feeder": dict(self.by_feeder),
                "by_transformer": dict(self.by_transformer), "error": self.error}


@dataclass(frozen=True, slots=True)
class Execution:
    """When an executed plan actually cut and restored supply (both aware)."""

    actual_start: dt.datetime
    actual_end: dt.datetime

    def __post_init__(self) -> None:
        for name in ("actual_start", "actual_end"):
            value = getattr(self, name)
            if not isinstance(value, dt.datetime) or value.tzinfo is None:
                raise InvalidInput(f"{name} needs a date and time with a time zone (e.g. +08:00)", field=name,
                                   value=None if value is None else str(value))
        if self.actual_end < self.actual_start:
            raise InvalidInput("actual_end must not be before actual_start", field="actual_end",
                               value=self.actual_end.isoformat())


@dataclass(frozen=True)
class Notices:
    """Messages that go out with a transition: to ``accounts``, worded by ``make(contacts)``.

    ``make`` receives the contacts the store reads from the customer records in the transition's
    transaction (``(account_no, phone, phone_alt, wechat_openid)`` rows) and returns the outbox
    messages (``gis.outbox.NewMessage``); ``skipped`` says why nothing is sent (e.g. no window).
    """

    accounts: tuple[str, ...] = ()
    make: Callable[[Sequence[Any]], Sequence[Any]] | None = None
    skipped: str | None = None


class PlanStore(Protocol):
    """The storage the lifecycle needs; every method is one transaction."""

    def get(self, plan_id: int) -> PlanLike: ...

    def create(self, *, title: str, steps: Sequence[tuple[str, str]], window_start: dt.datetime | None,
               window_end: dt.datetime | None, created_by: str | None) -> PlanLike: ...

    def update(self, plan_id: int, *, expected_version: int, title: str, steps: Sequence[tuple[str, str]],
               window_start: dt.datetime | None, window_end: dt.datetime | None) -> PlanLike: ...

    def delete(self, plan_id: int, *, expected_version: int | None) -> None: ...

    def transition(self, plan_id: int, *, from_status: str, to_status: str, expected_version: int | None,
                   actor: Actor, snapshot: ImpactSnapshot, execution: Execution | None,
                   notices: Notices | None = None) -> PlanLike:
        """Guarded status change (from_status and, if given, the version), the transition row with
        its snapshot, the audit event, with an execution the plan's outage records, and with
        ``notices`` their outbox messages: all or nothing."""
        ...

    def executed_customers(self, plan_id: int) -> tuple[str, ...] | None:
        """Accounts of the snapshot taken when the plan was executed (None: not executed)."""
        ...

    def record_execution(self, plan_id: int, *, actor: Actor, execution: Execution,
                         customers: Sequence[str]) -> int:
        """Store the execution times and the outage records (idempotent); the number of new records."""
        ...

    def transitions(self, plan_id: int) -> list[dict[str, Any]]: ...


def plan_outage_id(plan_id: int) -> str:
    """The outage id under which an executed plan's interruptions are recorded."""
    return f"plan-{plan_id}"


class PlanLifecycle:
    """The plan workflow over a :class:`PlanStore` (see the module docstring for the rules)."""

    def __init__(self, store: PlanStore) -> None:
        self._store = store

    # -------------------------------------------------------------- rules
    @staticmethod
    def check_may_change(actor: Actor, plan: PlanLike) -> None:
        """Ownership: the creator or an admin; :class:`PermissionDenied` otherwise."""
        if not actor.is_admin and plan.created_by != actor.name:
            raise PermissionDenied(f"plan {plan.id} belongs to {plan.created_by!r}: only its creator or an admin "
                                   "may change it", field="plan_id", value=plan.id)

    @staticmethod
    def check_may_approve(actor: Actor, plan: PlanLike) -> None:
        """Four eyes: an admin who did not create the plan."""
        if not actor.is_admin:
            raise PermissionDenied("approving a plan needs the admin role (four-eyes rule)", field="status",
                                   value="approved")
        if plan.created_by == actor.name:
            raise PermissionDenied(f"plan {plan.id} was created by you: another person must approve it",
                                   field="plan_id", value=plan.id)

    @classmethod
    def next_statuses(cls, actor: Actor, plan: PlanLike, *, may_move: bool = True) -> tuple[str, ...]:
        """The statuses ``actor`` may move ``plan`` to now, in :data:`TRANSITIONS` order.

        The same rules as :meth:`change_status` (ownership, four eyes, the transition table), so
        a client offers exactly the moves the server accepts. ``may_move`` is False for a role the
        API does not admit to status changes at all (it then gets none). A plan evaluation error is
        not foreseen here: the move itself reports it.
        """
        if not may_move:
            return ()
        out = []
        for to_status in TRANSITIONS.get(plan.status, ()):
            try:
                if to_status == "approved":
                    cls.check_may_approve(actor, plan)
                else:
                    cls.check_may_change(actor, plan)
            except PermissionDenied:
                continue
            out.append(to_status)
        return tuple(out)

    # -------------------------------------------------------------- operations
    def get(self, plan_id: int) -> PlanLike:
        return self._store.get(plan_id)

    def create(self, actor: Actor, *, title: str, steps: Sequence[tuple[str, str]],
               window_start: dt.datetime | None = None, window_end: dt.datetime | None = None) -> PlanLike:
        """A new ``draft`` (version 1) owned by ``actor``."""
        return self._store.create(title=title, steps=steps, window_start=window_start, window_end=window_end,
                                  created_by=actor.name)

    def update(self, actor: Actor, plan_id: int, *, expected_version: int, title: str,
               steps: Sequence[tuple[str, str]], window_start: dt.datetime | None = None,
               window_end: dt.datetime | None = None) -> PlanLike:
        self.check_may_change(actor, self._store.get(plan_id))
        return self._store.update(plan_id, expected_version=expected_version, title=title, steps=steps,
                                  window_start=window_start, window_end=window_end)

    def delete(self, actor: Actor, plan_id: int, *, expected_version: int | None = None) -> None:
        self.check_may_change(actor, self._store.get(plan_id))
        self._store.delete(plan_id, expected_version=expected_version)

    def change_status(self, actor: Actor, plan_id: int, to_status: str, *,
                      impact: Callable[[PlanLike], ImpactSnapshot], expected_version: int | None = None,
                      execution: Execution | None = None,
                      notices: Callable[[PlanLike, ImpactSnapshot], Notices] | None = None) -> PlanLike:
        """Move the plan to ``to_status`` and record the transition with ``impact(plan)``.

        Raises :class:`InvalidInput` (unknown status, execution times on another transition),
        ``notices(plan, snapshot)`` is asked, on the move to ``approved`` only, for the outage
        notices that commit with the approval.

        :class:`PermissionDenied` (ownership, four eyes), :class:`PreconditionFailed` (stale
        ``expected_version``), :class:`Conflict` naming from and to (not allowed from the
        current status), or the impact's own error when a plan that cannot be evaluated is
        moved anywhere but ``cancelled``.
        """
        if to_status not in STATUSES:
            raise InvalidInput(f"unknown status {to_status!r}; one of {', '.join(STATUSES)}", field="status",
                               value=to_status)
        if execution is not None and to_status != "executed":
            raise InvalidInput("actual_start/actual_end belong to the move to 'executed'", field="actual_start",
                               value=to_status)
        plan = self._store.get(plan_id)
        if to_status == "approved":
            self.check_may_approve(actor, plan)
        else:
            self.check_may_change(actor, plan)
        if expected_version is not None and plan.version != expected_version:
            raise PreconditionFailed(
                f"plan {plan_id} is at version {plan.version}, not {expected_version}: it changed since you read it; "
                "read it again and re-apply your change", field="If-Match", value=expected_version)
        if to_status not in TRANSITIONS[plan.status]:
            raise Conflict(f"plan {plan_id} cannot move from {plan.status!r} to {to_status!r} "
                           f"(allowed from {plan.status!r}: {', '.join(TRANSITIONS[plan.status]) or 'none'})",
                           field="status", value=to_status)
        try:
            snapshot = impact(plan)
        except GridAtlasError as exc:
            if to_status != "cancelled":
                raise
            snapshot = ImpactSnapshot.failed(None, str(exc))
        batch = notices(plan, snapshot) if notices is not None and to_status == "approved" else None
        return self._store.transition(plan_id, from_status=plan.status, to_status=to_status,
                                      expected_version=plan.version, actor=actor, snapshot=snapshot,
                                      execution=execution, notices=batch)

    def record_execution(self, actor: Actor, plan_id: int, execution: Execution) -> int:
        """Record an executed plan's actual start and end (and its outage records); idempotent.

        Returns the number of outage records written (0 when they were recorded already).
        """
        plan = self._store.get(plan_id)
        self.check_may_change(actor, plan)
        customers = self._store.executed_customers(plan_id)
        if plan.status != "executed" or customers is None:
            raise Conflict(f"plan {plan_id} is {plan.status!r}: only an executed plan has an execution to record",
                           field="status", value=plan.status)
        return self._store.record_execution(plan_id, actor=actor, execution=execution, customers=customers)

    def transitions(self, plan_id: int) -> list[dict[str, Any]]:
        self._store.get(plan_id)  # NotFound for no plan
        return self._store.transitions(plan_id)


# ------------------------------------------------------------------ outages of one customer
def is_current(status: str, window_start: dt.datetime | None, window_end: dt.datetime | None,
               now: dt.datetime) -> bool:
    """Whether a plan is cutting supply at ``now``: approved or executed, inside its window."""
    return (status in EXECUTING_STATUSES and window_start is not None and window_end is not None
            and window_start <= now < window_end)


def customer_outages(plans: Iterable[Mapping[str, Any]], affected: Callable[[Mapping[str, Any]], frozenset[str] | str],
                     account_no: str, now: dt.datetime) -> dict[str, list[dict[str, Any]]]:
    """The current and planned outages of ``account_no`` among live ``plans``.

    ``affected(plan)`` gives the accounts of the plan's final-state impact, or the reason it
    cannot be evaluated (such plans are listed as ``unevaluated``).
    """
    current, planned, unevaluated = [], [], []
    for plan in plans:
        if plan["status"] not in LIVE_STATUSES:
            continue
        end = plan["window_end"]
        if end is not None and end <= now:
            continue
        hit = affected(plan)
        if isinstance(hit, str):
            unevaluated.append({"plan_id": plan["id"], "error": hit})
            continue
        if account_no not in hit:
            continue
        start = plan["window_start"]
        state = "current" if is_current(plan["status"], start, end, now) else "planned"
        (current if state == "current" else planned).append({
            "plan_id": plan["id"], "title": plan["title"], "status": plan["status"], "version": plan["version"],
            "window_start": start.isoformat() if start else None, "window_end": end.isoformat() if end else None,
            "state": state, "affected_count": len(hit),
        })
    return {"current": current, "planned": planned, "unevaluated": unevaluated}
