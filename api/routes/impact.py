"""Impact of an ad-hoc switching plan, and isolation with ranked alternatives."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import allow
from api.deps import SettingsDep, SnapshotDep
from api.jsonio import dumps
from api.limits import PLAN_STEPS_HARD_CAP, check_plan_size
from outage_impact import SwitchingPlan, isolate, plan_impact

router = APIRouter(prefix="/api/v1", tags=["outage impact"])

#: The OpenAPI maxItems of each list; the server's ``max_plan_steps`` bounds all lists together.
MAX_PLAN_STEPS = PLAN_STEPS_HARD_CAP
ElementId = Annotated[str, Field(min_length=1, max_length=64)]


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["open", "close", "out_of_service", "in_service"]
    element: str = Field(min_length=1, max_length=64)
    kind: Literal["switch", "segment", "transformer"] | None = None


class PlanIn(BaseModel):
    """Either ordered ``steps`` or the lists ``open``/``close``/``out_of_service``/``in_service``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"title": "季华路检修", "open": ["SW000003"], "window_start": "2026-12-01T09:00:00+08:00", "window_end": "2026-12-01T15:00:00+08:00"},
            {"steps": [{"action": "close", "element": "SW000010"}, {"action": "open", "element": "SW000003"}]},
        ], "anyOf": [{"required": [name]} for name in ("steps", "open", "close", "out_of_service", "in_service")]},
    )
    title: str | None = Field(default=None, max_length=300)
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    steps: list[StepIn] | None = Field(default=None, min_length=1, max_length=MAX_PLAN_STEPS)
    open: list[ElementId] | None = Field(default=None, min_length=1, max_length=MAX_PLAN_STEPS)
    close: list[ElementId] | None = Field(default=None, min_length=1, max_length=MAX_PLAN_STEPS)
    out_of_service: list[ElementId] | None = Field(default=None, min_length=1, max_length=MAX_PLAN_STEPS)
    in_service: list[ElementId] | None = Field(default=None, min_length=1, max_length=MAX_PLAN_STEPS)

    def step_count(self) -> int:
        """Steps in all lists together (what ``max_plan_steps`` bounds)."""
        return sum(len(v or ()) for v in (self.steps, self.open, self.close, self.out_of_service, self.in_service))


class IsolationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"element": "SEG000093"}]})
    element: str = Field(min_length=1, max_length=64, description="segment, transformer or switch to work on")
    kind: Literal["switch", "segment", "transformer"] | None = None
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    max_alternatives: int = Field(default=8, ge=1, le=32)


@router.post("/impact", summary="Who loses power under a switching plan (step by step)", dependencies=[allow("dispatcher", "planner", "analyst")])
def impact(
    snapshot: SnapshotDep,
    settings: SettingsDep,
    plan: Annotated[PlanIn, Body()],
    steps: Annotated[bool, Query(description="include each step's transient impact")] = True,
) -> Response:
    check_plan_size(plan.step_count(), settings)
    parsed = SwitchingPlan.from_dict(plan.model_dump(exclude_none=True))
    result = plan_impact(snapshot.index, parsed)
    body = result.to_dict(steps=steps)
    body["data_version"] = snapshot.version
    return Response(dumps(body), media_type="application/json")


@router.post("/isolation", summary="Isolation points and ranked alternative plans for working on equipment", dependencies=[allow("dispatcher", "planner")])
def isolation(snapshot: SnapshotDep, request: Annotated[IsolationIn, Body()]) -> Response:
    result = isolate(
        snapshot.index,
        request.element,
        kind=request.kind,
        window_start=request.window_start,
        window_end=request.window_end,
        max_alternatives=request.max_alternatives,
    )
    body = result.to_dict()
    body["data_version"] = snapshot.version
    return Response(dumps(body), media_type="application/json")
