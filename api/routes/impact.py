"""Impact of an ad-hoc switching plan, and isolation with ranked alternatives."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.audit import audit
from api.auth import Principal, allow
from api.datetimes import IsoDateTime
from api.deps import SettingsDep, SnapshotDep
from api.exports import export_response
from api.jsonio import dumps
from api.limits import PLAN_STEPS_HARD_CAP, check_plan_size
from api.outputs import CSV_BODY, FEATURE_COLLECTION, GEOJSON, XLSX, XLSX_BODY, ImpactOut, IsolationOut
from api.routes.plans import details_reader, impact_page
from gis.errors import InvalidInput
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
    window_start: IsoDateTime | None = None
    window_end: IsoDateTime | None = None
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
    window_start: IsoDateTime | None = None
    window_end: IsoDateTime | None = None
    max_alternatives: int = Field(default=8, ge=1, le=32)


@router.post("/impact", summary="Who loses power under a switching plan (step by step)", dependencies=[allow("dispatcher", "planner", "analyst")],
             responses={200: {"model": ImpactOut}})
def impact(
    request: Request,
    snapshot: SnapshotDep,
    settings: SettingsDep,
    plan: Annotated[PlanIn, Body()],
    steps: Annotated[bool, Query(description="include each step's transient impact")] = True,
    limit: Annotated[int | None, Query(ge=1, description="page the customer list: without it the whole list is "
                                                          "returned (as before); with it `customers` is one page, "
                                                          "`page` says where, and a `next` link (POST the same body) follows")] = None,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    area: Annotated[bool, Query(description="include the map area (union of per-台区 hulls; most of the "
                                            "cost at 1M customers): false for list consumers")] = True,
) -> Response:
    check_plan_size(plan.step_count(), settings)
    parsed = SwitchingPlan.from_dict(plan.model_dump(exclude_none=True))
    result = plan_impact(snapshot.index, parsed)
    if limit is None:
        body = result.to_dict(steps=steps, area=area)
    else:
        if limit > settings.max_page_size:
            raise InvalidInput(f"limit must be at most {settings.max_page_size}", field="limit", value=limit)
        body = impact_page(request, result, limit=limit, offset=offset, steps=steps, area=area, method="POST")
    body["data_version"] = snapshot.version
    return Response(dumps(body), media_type="application/json")


@router.post(
    "/impact/export",
    summary="The affected customers of an ad-hoc plan as CSV, XLSX or GeoJSON (streamed)",
    response_class=Response,
    responses={200: {"content": {"text/csv": CSV_BODY, GEOJSON: FEATURE_COLLECTION, XLSX: XLSX_BODY},
                     "description": "account_no, name, address, phone (masked unless the role sees PII), "
                                    "feeder_id, transformer_id (台区), meter_box_id, sensitivity, lon, lat "
                                    "(names masked and coordinates rounded for the roles GRIDATLAS_EXPORT_MASKING "
                                    "says: by default planner and analyst)"}},
)
def impact_export(
    request: Request,
    snapshot: SnapshotDep,
    settings: SettingsDep,
    plan: Annotated[PlanIn, Body()],
    principal: Annotated[Principal, allow("dispatcher", "planner", "analyst")],
    format: Annotated[Literal["csv", "xlsx", "geojson"], Query(description="csv, xlsx or geojson")] = "csv",  # noqa: A002
) -> Response:
    check_plan_size(plan.step_count(), settings)
    parsed = SwitchingPlan.from_dict(plan.model_dump(exclude_none=True))
    result = plan_impact(snapshot.index, parsed)
    audit(request, principal, "export", "impact", None,
           {"format": format, "rows": result.count, "data_version": snapshot.version, "pii": principal.sees_pii,
            "steps": len(parsed.steps)})
    meta = {"title": parsed.title, "data_version": snapshot.version, "numberMatched": result.count}
    masking = settings.export_masking[principal.role]
    return export_response(result, format, details_reader(request), sees_pii=principal.sees_pii,
                           chunk_size=settings.export_chunk_size, filename="impact", meta=meta,
                           mask_names=masking.names, coordinate_decimals=masking.coordinate_decimals)


@router.post("/isolation", summary="Isolation points and ranked alternative plans for working on equipment",
             dependencies=[allow("dispatcher", "planner")],
             responses={200: {"model": IsolationOut},
                        409: {"description": "the element cannot be isolated (e.g. no switch between it and a source)"}})
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
