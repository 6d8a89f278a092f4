"""Trouble-call analysis over HTTP: ``GET /api/v1/trouble-calls?from=&to=`` (故障研判).

JSON for the map (devices placed, affected areas, calls located and masked per role:
:mod:`api.trouble_map`) or GeoJSON (``application/geo+json``: ``Accept`` or ``format=geojson``)
for GIS tools, as ``/heat`` answers.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.datetimes import IsoAwareDateTime
from api.auth import Principal, allow
from api.deps import ConnDep, SettingsDep, SnapshotDep
from api.jsonio import dumps
from api.outputs import feature_collection
from api.trouble_map import as_geojson, map_answer
from gis.errors import InvalidInput
from gis.trouble_store import repair_calls
from interactions.trouble_calls import Call, analyze

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["trouble calls"])


class Thresholds(BaseModel):
    calls: int
    percent: float


class PointOut(BaseModel):
    lon: float
    lat: float


class PredictionOut(BaseModel):
    device: str = Field(description="the switch (fuse, load switch, breaker) or transformer id")
    name: str | None = Field(default=None, description="the device's name in the store")
    kind: str
    location: PointOut | None = Field(default=None, description="where the device stands (WGS 84)")
    area: dict[str, Any] | None = Field(default=None, description="GeoJSON geometry of the customers it feeds: one "
                                        "convex hull per 台区, as a plan's impact area")
    calls: list[str] = Field(description="the repair calls (interaction ids) it explains")
    calling_customers: list[str]
    customers_affected: int = Field(description="customers the device feeds in the normal state")
    customers: list[str] | None = None
    thresholds: Thresholds
    evidence: dict[str, Any]
    absorbed: list[str] = Field(description="predictions below that moved up into this one")


class UnexplainedOut(BaseModel):
    call: str
    account_no: str | None
    reason: str = Field(description="no_customer, unknown_customer, not_supplied, no_device or below_threshold")


class LocatedCallOut(BaseModel):
    call: str
    account_no: str
    occurred_at: dt.datetime | None
    transformer_id: str | None = Field(description="the caller's 台区")
    lon: float
    lat: float
    precision: str = Field(description="customer (the caller's own point: roles that see personal data), transformer "
                                       "(the caller's 台区 point) or rounded (no 台区: an export's rounding)")
    device: str | None = Field(description="the predicted device that explains the call")
    reason: str | None = Field(description="why no device explains it (see unexplained)")


class TroubleOut(BaseModel):
    calls: int
    data_version: str
    window: dict[str, dt.datetime]
    predictions: list[PredictionOut]
    unexplained: list[UnexplainedOut]
    located_calls: list[LocatedCallOut] = Field(description="every call whose customer is known, with its point")
    call_points: str = Field(description="customer: calls at the callers' points; transformer: at their 台区 "
                                         "(roles that do not see personal data)")


GEOJSON = "application/geo+json"


@router.get("/trouble-calls", summary="Probable failed devices from the repair calls (报修) of a window",
            description="Each call points at the lowest protective device above its customer; a device is predicted "
                        "when its calls reach N or p % of its customers (per device kind, "
                        "`GRIDATLAS_TROUBLE_CALL_THRESHOLDS`), and the prediction moves up when the calls or "
                        "predictions under a device reach that device's threshold.",
            response_model=TroubleOut,
            responses={200: {"content": {GEOJSON: feature_collection(data_version={"type": "integer"})},
                "description": "JSON for the map, or a GeoJSON FeatureCollection: device points, affected areas, "
                               "located calls"}})
def trouble_calls(
    request: Request, conn: ConnDep, snapshot: SnapshotDep, settings: SettingsDep,
    principal: Annotated[Principal, allow("dispatcher", "planner", "agent", "analyst")],
    from_: Annotated[IsoAwareDateTime, Query(alias="from", description="window start, with a time zone")],
    to: Annotated[IsoAwareDateTime, Query(description="window end (exclusive), with a time zone")],
    customers: Annotated[bool, Query(description="list every affected customer of each prediction")] = False,
    format: Annotated[str | None, Query(pattern="^(json|geojson)$", description="json (default) or geojson "
                                        "(also chosen by `Accept: application/geo+json`)")] = None,
) -> Any:
    if to - from_ > dt.timedelta(days=settings.trouble_call_window_max_days):
        raise InvalidInput(f"the window may span at most {settings.trouble_call_window_max_days} days", field="to",
                           value=to.isoformat())
    calls = [Call(str(c["id"]), c["account_no"], c["occurred_at"])
             for c in repair_calls(conn, from_, to, limit=settings.trouble_call_max_calls)]
    result = analyze(snapshot.index, calls, settings.trouble_call_thresholds, with_customers=customers)
    decimals = settings.export_masking[principal.role].coordinate_decimals if principal.role in settings.export_masking else None
    exact = principal.sees_pii and decimals is None
    body = {**map_answer(snapshot, result, calls, exact=exact, decimals=decimals, with_customers=customers),
            "window": {"from": from_, "to": to}}
    wants_geojson = format == "geojson" if format is not None else GEOJSON in request.headers.get("accept", "")
    if wants_geojson:
        return Response(dumps(as_geojson(body)), media_type=GEOJSON)
    return body
