"""Impact of an ad-hoc switching plan, and isolation with ranked alternatives."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import allow
from api.deps import SnapshotDep
from api.jsonio import dumps
from outage_impact import SwitchingPlan, isolate, plan_impact

router = APIRouter(prefix="/api/v1", tags=["outage impact"])

MAX_PLAN_STEPS = 500


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
        ]},
    )
    title: str | None = Field(default=None, max_length=300)
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    steps: list[StepIn] | None = Field(default=None, max_length=MAX_PLAN_STEPS)
    open: list[str] | None = Field(default=None, max_length=MAX_PLAN_STEPS)
    close: list[str] | None = Field(default=None, max_length=MAX_PLAN_STEPS)
    out_of_service: list[str] | None = Field(default=None, max_length=MAX_PLAN_STEPS)
    in_service: list[str] | None = Field(default=None, max_length=MAX_PLAN_STEPS)


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
    plan: Annotated[PlanIn, Body()],
    steps: Annotated[bool, Query(description="include each step's transient impact")] = True,
) -> Response:
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
