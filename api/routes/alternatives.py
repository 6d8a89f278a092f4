"""Alternatives and candidate windows of a plan (先算后停), and the recommendation over them.

* ``PUT /api/v1/plans/{id}/alternatives`` — the plan's alternative step sets (numbered from
  1; the plan's own steps are alternative 0), each checked against the served grid.
* ``PUT /api/v1/plans/{id}/windows`` — its candidate windows (fixed once customers were
  consulted on them; a consultation may also set them).
* ``GET /api/v1/plans/{id}/alternatives`` — both, as stored.
* ``GET /api/v1/plans/{id}/recommendation`` — every (alternative, window) pair ranked on
  sensitive customers, objections and other-window requests from the affected customers,
  customer-minutes and customers, each with why (:mod:`outage_impact.recommendation`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, allow
from api.audit import audit
from api.deps import SettingsDep, SnapshotDep
from api.jsonio import dumps
from api.limits import check_plan_size
from api.routes.consultation import WindowIn
from api.routes.plans import READERS, actor, lifecycle, PlanBody, PlanStepIn, _check_against_grid, _plan_result, _read_plan
from gis.consultations import alternatives_of, plan_windows, replies_of, set_alternatives, set_plan_windows
from gis.errors import InvalidInput
from outage_impact import SwitchingPlan, plan_impact
from outage_impact.consultation import Reply, Window
from outage_impact.plan import Step
from outage_impact.recommendation import CRITERIA, Option, recommend

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["switching plans"])
PlanId = Annotated[int, Path(ge=1, le=2**31 - 1, description="plan id")]


class AlternativeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=300)
    steps: list[PlanStepIn] = Field(min_length=1, max_length=1000)


class AlternativesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"alternatives": [
        {"title": "从联络开关转供", "steps": [{"action": "open", "element": "SW000044"}]}]}]})
    alternatives: list[AlternativeIn] = Field(max_length=10)


class WindowsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    windows: list[WindowIn] = Field(min_length=1, max_length=10)


class StepOut(BaseModel):
    action: str
    element: str


class AlternativeOut(BaseModel):
    alternative: int
    title: str
    steps: list[StepOut]


class WindowSeqOut(BaseModel):
    seq: int
    start: str
    end: str


class AlternativesOut(BaseModel):
    plan_id: int
    alternatives: list[AlternativeOut]
    windows: list[WindowSeqOut]


class RankedOut(BaseModel):
    rank: int
    alternative: int
    title: str
    window: WindowSeqOut
    customers: int
    sensitive_customers: int
    customer_minutes: float
    objections: int
    prefer_other: int
    accepts: int
    why: str


class RecommendationOut(BaseModel):
    plan_id: int
    plan_version: int
    data_version: int
    criteria: list[str]
    recommended: RankedOut
    ranking: list[RankedOut]


def _stored(request: Request, plan_id: int) -> dict:
    plan = _read_plan(request, plan_id)
    with request.app.state.engine.connect() as conn:
        alternatives = alternatives_of(conn, plan_id)
        windows = plan_windows(conn, plan_id)
    return {"plan_id": plan_id,
            "alternatives": [{"alternative": 0, "title": plan.title,
                              "steps": [{"action": a, "element": e} for a, e in plan.steps]}]
            + [{"alternative": seq, "title": title, "steps": [{"action": a, "element": e} for a, e in steps]}
               for seq, title, steps in alternatives],
            "windows": [{"seq": w.seq, "start": w.start.isoformat(), "end": w.end.isoformat()} for w in windows]}


@router.put("/plans/{plan_id}/alternatives", summary="Replace a plan's alternative step sets (checked against the grid)",
            responses={200: {"model": AlternativesOut}, 409: {"description": "the plan is no longer editable"}})
def put_alternatives(request: Request, snapshot: SnapshotDep, settings: SettingsDep, plan_id: PlanId,
                     body: Annotated[AlternativesIn, Body()], principal: Annotated[Principal, allow("planner")]) -> Response:
    lifecycle(request).check_may_change(actor(principal), _read_plan(request, plan_id))
    for i, alt in enumerate(body.alternatives):
        check_plan_size(len(alt.steps), settings)
        try:
            _check_against_grid(PlanBody(title=alt.title, steps=alt.steps), snapshot)
        except InvalidInput as exc:
            raise type(exc)(f"alternatives[{i}]: {exc.message}", field=f"alternatives[{i}].{exc.field}",
                            value=exc.value) from exc
    set_alternatives(request.app.state.engine, plan_id,
                     [(a.title, [(s.action, s.element) for s in a.steps]) for a in body.alternatives])
    audit(request, principal, "plan.alternatives", "plan", plan_id, {"alternatives": len(body.alternatives)})
    return Response(dumps(_stored(request, plan_id)), media_type="application/json")


@router.put("/plans/{plan_id}/windows", summary="Replace a plan's candidate windows (before any consultation)",
            responses={200: {"model": AlternativesOut}, 409: {"description": "customers were consulted on them"}})
def put_windows(request: Request, plan_id: PlanId, body: Annotated[WindowsIn, Body()],
                principal: Annotated[Principal, allow("planner")]) -> Response:
    lifecycle(request).check_may_change(actor(principal), _read_plan(request, plan_id))
    set_plan_windows(request.app.state.engine, plan_id, [(w.start, w.end) for w in body.windows])
    audit(request, principal, "plan.windows", "plan", plan_id, {"windows": len(body.windows)})
    return Response(dumps(_stored(request, plan_id)), media_type="application/json")


@router.get("/plans/{plan_id}/alternatives", summary="A plan's alternatives (0: its own steps) and candidate windows",
            dependencies=[allow(*READERS)], responses={200: {"model": AlternativesOut}})
def get_alternatives(request: Request, plan_id: PlanId) -> Response:
    return Response(dumps(_stored(request, plan_id)), media_type="application/json")


@router.get("/plans/{plan_id}/recommendation",
            summary="Every (alternative, window) pair ranked, with why: sensitive customers, objections, customer-minutes",
            dependencies=[allow(*READERS)], responses={200: {"model": RecommendationOut}})
def recommendation(request: Request, snapshot: SnapshotDep, settings: SettingsDep, plan_id: PlanId) -> Response:
    plan = _read_plan(request, plan_id)
    with request.app.state.engine.connect() as conn:
        alternatives = alternatives_of(conn, plan_id)
        stored = plan_windows(conn, plan_id)
        replies = [Reply(r.account_no, r.reply, r.preferred_window) for r in replies_of(conn, plan_id)]
    windows = [Window(w.seq, w.start, w.end) for w in stored]
    if not windows:
        if plan.window_start is None:
            raise InvalidInput(f"plan {plan_id} has neither a window nor candidate windows", field="windows")
        windows = [Window(0, plan.window_start, plan.window_end)]
    options = [Option(0, plan.title, _plan_result(request, settings, snapshot, plan))]
    for seq, title, steps in alternatives:
        try:
            result = plan_impact(snapshot.index, SwitchingPlan(steps=tuple(Step(a, e) for a, e in steps), title=title))
        except InvalidInput as exc:
            raise type(exc)(f"alternatives[{seq - 1}] no longer fits data version {snapshot.version}: {exc.message}",
                            field=f"alternatives[{seq - 1}].{exc.field}", value=exc.value) from exc
        options.append(Option(seq, title, result))
    ranking = [r.to_dict() for r in recommend(options, windows, replies)]
    body = {"plan_id": plan_id, "plan_version": plan.version, "data_version": snapshot.version,
            "criteria": [name for name, _ in CRITERIA], "recommended": ranking[0], "ranking": ranking}
    return Response(dumps(body), media_type="application/json")
