"""Switching plans (停电计划 / 倒闸操作): parsing, validation and step resolution.

A plan is written in one of two forms:

* **steps** — ``{"steps": [{"action": "open", "element": "SW1"}, ...]}``: applied in order,
  every intermediate state is evaluated (break-before-make shows its transient outage).
* **lists** — ``{"open": [...], "close": [...], "out_of_service": [...], "in_service": [...]}``:
  a *target configuration*.  Its final state is the simultaneous application of all
  lists (order cannot change it).  Its transient states are checked in the safe order for
  customers, make-before-break: ``close``, ``in_service``, then ``open``,
  ``out_of_service`` (each list in the given order).  So a lists-form transfer shows no
  transient outage, but a transfer between two different substations parallels them on
  the way and is reported as :class:`~outage_impact.errors.LoopBetweenSources`: write
  such a transfer as ordered steps (open before close).  An element may appear in only
  one list, once.

Both forms take optional ``title``, ``id``, ``window_start`` and ``window_end`` (ISO 8601;
both or neither; end after start).  Unknown keys are refused with
:class:`~outage_impact.errors.InvalidPlan` naming the field.

Actions: ``open``/``close`` apply to switches; ``out_of_service``/``in_service`` to
segments and transformers.  A step may name its ``kind``; otherwise the id is looked up
among the kinds its action applies to (an id found in two of them must name its kind).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from outage_impact.errors import InvalidPlan
from topology.errors import UnknownElement

__all__ = [
    "ACTIONS", "LIST_ORDER", "Step", "SwitchingPlan", "ResolvedStep", "load_plans", "resolve_steps",
]

ACTIONS: tuple[str, ...] = ("open", "close", "out_of_service", "in_service")
#: order in which a lists-form plan is expanded into steps (make before break)
LIST_ORDER: tuple[str, ...] = ("close", "in_service", "open", "out_of_service")
_KINDS_FOR = {
    "open": ("switch",), "close": ("switch",),
    "out_of_service": ("segment", "transformer"), "in_service": ("segment", "transformer"),
}
_ALL_KINDS = ("segment", "switch", "transformer")
_PLAN_KEYS = {"title", "id", "window_start", "window_end"}
_STEP_KEYS = {"action", "element", "kind"}


@dataclass(frozen=True)
class Step:
    """One switching operation: ``action`` on ``element`` (``kind`` optional)."""

    action: str
    element: str
    kind: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidPlan(f"unknown action {self.action!r} (expected one of {', '.join(ACTIONS)})",
                              field="action", value=self.action)
        if not isinstance(self.element, str) or not self.element:
            raise InvalidPlan("a step must name an element id (non-empty string)", field="element",
                              value=self.element)
        if self.kind is not None and self.kind not in _KINDS_FOR[self.action]:
            raise InvalidPlan(f"{self.action} applies to {' and '.join(_KINDS_FOR[self.action])}, "
                              f"not {self.kind!r}", field="kind", value=self.kind)

    def to_dict(self) -> dict[str, str]:
        out = {"action": self.action, "element": self.element}
        if self.kind is not None:
            out["kind"] = self.kind
        return out


@dataclass(frozen=True)
class SwitchingPlan:
    """An ordered plan; ``form`` records how it was written ("steps" or "lists")."""

    steps: tuple[Step, ...]
    title: str | None = None
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    plan_id: str | int | None = None
    form: str = "steps"

    def __post_init__(self) -> None:
        if not self.steps:
            raise InvalidPlan("a plan needs at least one step", field="steps")
        if self.form not in ("steps", "lists"):
            raise InvalidPlan(f"unknown plan form {self.form!r}", field="form", value=self.form)
        start, end = self.window_start, self.window_end
        if (start is None) != (end is None):
            raise InvalidPlan("give both window_start and window_end, or neither",
                              field="window_end" if end is None else "window_start")
        if start is not None:
            if (start.tzinfo is None) != (end.tzinfo is None):
                raise InvalidPlan("window_start and window_end must both carry a time zone or neither",
                                  field="window_end", value=end.isoformat())
            if end <= start:
                raise InvalidPlan("window_end must be after window_start", field="window_end",
                                  value=end.isoformat())

    @property
    def window_minutes(self) -> float | None:
        if self.window_start is None or self.window_end is None:
            return None
        return (self.window_end - self.window_start).total_seconds() / 60.0

    @classmethod
    def from_lists(cls, *, open: Sequence[str] = (), close: Sequence[str] = (),  # noqa: A002
                   out_of_service: Sequence[str] = (), in_service: Sequence[str] = (),
                   **meta: object) -> SwitchingPlan:
        """Build a lists-form plan (see the module docstring for its semantics)."""
        return cls.from_dict({"open": list(open), "close": list(close), "out_of_service": list(out_of_service),
                              "in_service": list(in_service), **meta})

    @classmethod
    def from_dict(cls, obj: Mapping[str, object]) -> SwitchingPlan:
        """Parse one plan document; raises :class:`InvalidPlan` naming the offending field."""
        if not isinstance(obj, Mapping):
            raise InvalidPlan("a plan must be a JSON object", field="plan", value=type(obj).__name__)
        unknown = set(obj) - _PLAN_KEYS - {"steps"} - set(ACTIONS)
        if unknown:
            key = sorted(map(str, unknown))[0]
            raise InvalidPlan(f"unknown plan key {key!r}", field=key)
        has_lists = any(a in obj for a in ACTIONS)
        if "steps" in obj and has_lists:
            raise InvalidPlan("give either 'steps' or the lists open/close/out_of_service/in_service, not both",
                              field="steps")
        if "steps" in obj:
            steps, form = _parse_steps(obj["steps"]), "steps"
        elif has_lists:
            steps, form = _parse_lists(obj), "lists"
        else:
            raise InvalidPlan("a plan needs 'steps' or at least one of open/close/out_of_service/in_service",
                              field="steps")
        title = obj.get("title")
        if title is not None and not isinstance(title, str):
            raise InvalidPlan("title must be a string", field="title", value=title)
        plan_id = obj.get("id")
        if plan_id is not None and (not isinstance(plan_id, (str, int)) or isinstance(plan_id, bool)):
            raise InvalidPlan("id must be a string or an integer", field="id", value=plan_id)
        return cls(steps=steps, title=title, plan_id=plan_id, form=form,
                   window_start=_parse_time(obj.get("window_start"), "window_start"),
                   window_end=_parse_time(obj.get("window_end"), "window_end"))

    def to_dict(self) -> dict[str, object]:
        """The plan in the form it was written (round-trips through :meth:`from_dict`)."""
        out: dict[str, object] = {}
        if self.plan_id is not None:
            out["id"] = self.plan_id
        if self.title is not None:
            out["title"] = self.title
        if self.form == "lists":
            for action in LIST_ORDER:
                items = [s.element if s.kind is None else {"element": s.element, "kind": s.kind}
                         for s in self.steps if s.action == action]
                if items:
                    out[action] = items
        else:
            out["steps"] = [s.to_dict() for s in self.steps]
        if self.window_start is not None:
            out["window_start"] = self.window_start.isoformat()
            out["window_end"] = self.window_end.isoformat()
        return out


def load_plans(obj: object) -> list[SwitchingPlan]:
    """One plan document or a list of them (e.g. a parsed ``--plan FILE``) -> plans."""
    if isinstance(obj, SwitchingPlan):
        return [obj]
    if isinstance(obj, Mapping):
        return [SwitchingPlan.from_dict(obj)]
    if isinstance(obj, (list, tuple)):
        if not obj:
            raise InvalidPlan("the plan list is empty", field="plans")
        plans = []
        for i, item in enumerate(obj):
            try:
                plans.append(item if isinstance(item, SwitchingPlan) else SwitchingPlan.from_dict(item))
            except InvalidPlan as exc:
                raise InvalidPlan(f"plan {i}: {exc.message}", field=f"plans[{i}].{exc.field or ''}".rstrip("."),
                                  value=exc.value) from exc
        return plans
    raise InvalidPlan("expected a plan object or a list of plans", field="plans", value=type(obj).__name__)


@dataclass(frozen=True)
class ResolvedStep:
    """A step with its kind settled; ``index`` counts from 0 in the expanded order."""

    index: int
    action: str
    kind: str
    element: str


def resolve_steps(plan: SwitchingPlan, exists: Callable[[str, str], bool]) -> list[ResolvedStep]:
    """Settle each step's kind with ``exists(kind, id)``.

    Raises :class:`UnknownElement` for an id of no kind, and :class:`InvalidPlan` for an
    id that exists only under a kind the action does not apply to (e.g. opening a
    segment) or under two kinds when the step names none.  O(steps).
    """
    out = []
    for i, step in enumerate(plan.steps):
        kinds = (step.kind,) if step.kind is not None else _KINDS_FOR[step.action]
        found = [k for k in kinds if exists(k, step.element)]
        if len(found) > 1:
            raise InvalidPlan(f"step {i}: {step.element!r} is both a {found[0]} and a {found[1]}; "
                              f"give its kind", field=f"steps[{i}].kind", value=step.element)
        if not found:
            other = [k for k in _ALL_KINDS if k not in kinds and exists(k, step.element)]
            if other:
                raise InvalidPlan(f"step {i}: cannot {step.action.replace('_', ' ')} {step.element!r}: "
                                  f"it is a {other[0]}", field=f"steps[{i}].element", value=step.element)
            raise UnknownElement(" or ".join(kinds), step.element, field=f"steps[{i}].element")
        out.append(ResolvedStep(i, step.action, found[0], step.element))
    return out


def _parse_steps(raw: object) -> tuple[Step, ...]:
    if not isinstance(raw, (list, tuple)):
        raise InvalidPlan("steps must be a list", field="steps", value=type(raw).__name__)
    steps = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise InvalidPlan(f"step {i} must be an object with action and element", field=f"steps[{i}]",
                              value=item)
        unknown = set(item) - _STEP_KEYS
        if unknown:
            key = sorted(map(str, unknown))[0]
            raise InvalidPlan(f"step {i}: unknown key {key!r}", field=f"steps[{i}].{key}")
        for key in ("action", "element"):
            if key not in item:
                raise InvalidPlan(f"step {i} lacks {key!r}", field=f"steps[{i}].{key}")
        steps.append(_step(item["action"], item["element"], item.get("kind"), f"steps[{i}]"))
    return tuple(steps)


def _parse_lists(obj: Mapping[str, object]) -> tuple[Step, ...]:
    seen: dict[str, str] = {}
    steps = []
    for action in LIST_ORDER:
        raw = obj.get(action, ())
        if raw is None:
            raw = ()
        if not isinstance(raw, (list, tuple)):
            raise InvalidPlan(f"{action} must be a list of element ids", field=action, value=type(raw).__name__)
        for j, item in enumerate(raw):
            where = f"{action}[{j}]"
            if isinstance(item, Mapping):
                unknown = set(item) - {"element", "kind"}
                if unknown or "element" not in item:
                    raise InvalidPlan(f"{where} must be an id or {{element, kind}}", field=where, value=item)
                step = _step(action, item["element"], item.get("kind"), where)
            else:
                step = _step(action, item, None, where)
            if step.element in seen:
                raise InvalidPlan(f"{step.element!r} appears in both {seen[step.element]} and {action}"
                                  if seen[step.element] != action else f"{step.element!r} is listed twice in {action}",
                                  field=where, value=step.element)
            seen[step.element] = action
            steps.append(step)
    return tuple(steps)


def _step(action: object, element: object, kind: object, where: str) -> Step:
    try:
        return Step(action=action, element=element, kind=kind)  # type: ignore[arg-type]
    except InvalidPlan as exc:
        raise InvalidPlan(f"{where}: {exc.message}", field=f"{where}.{exc.field}", value=exc.value) from exc


def _parse_time(raw: object, field: str) -> dt.datetime | None:
    if raw is None or isinstance(raw, dt.datetime):
        return raw
    if not isinstance(raw, str):
        raise InvalidPlan(f"{field} must be an ISO 8601 date-time string", field=field, value=raw)
    try:
        return dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidPlan(f"{field} is not an ISO 8601 date-time", field=field, value=raw) from None
