"""Traces and data validation on the compiled topology of the current data version."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.auth import allow
from api.deps import SettingsDep, SnapshotDep
from api.jsonio import dumps
from api.outputs import DownstreamOut, SupplyAreaOut, UpstreamOut, ValidationOut
from api.validation import full_report
from topology import downstream, supply_area, upstream_path

router = APIRouter(prefix="/api/v1", tags=["topology"])

ElementKind = Literal["customer", "meter_box", "transformer", "switch", "segment", "node"]


@router.get("/trace/{kind}/{element_id}/upstream", summary="Supply path from an element up to its substation", dependencies=[allow("dispatcher", "planner", "agent", "analyst")],
            responses={200: {"model": UpstreamOut}})
def trace_upstream(snapshot: SnapshotDep, kind: ElementKind, element_id: Annotated[str, Path(max_length=64)]) -> Response:
    path = upstream_path(snapshot.index, kind, element_id)
    body = {"element": {"kind": kind, "id": element_id}, "path": [{"kind": k, "id": i} for k, i in path], "data_version": snapshot.version}
    return Response(dumps(body), media_type="application/json")


@router.get("/trace/{kind}/{element_id}/downstream", summary="Everything a device supplies in the normal state", dependencies=[allow("dispatcher", "planner", "agent", "analyst")],
            responses={200: {"model": DownstreamOut}})
def trace_downstream(snapshot: SnapshotDep, kind: ElementKind, element_id: Annotated[str, Path(max_length=64)]) -> Response:
    down = downstream(snapshot.index, kind, element_id)
    body = {"element": {"kind": kind, "id": element_id}, **down.to_dict(), "data_version": snapshot.version}
    return Response(dumps(body), media_type="application/json")


@router.get("/customers/{account_no}/supply-area", summary="The feeder and transformer area (台区) of a customer", dependencies=[allow("dispatcher", "planner", "agent", "analyst")],
            response_model=None, responses={200: {"model": SupplyAreaOut}})
def customer_area(snapshot: SnapshotDep, account_no: Annotated[str, Path(max_length=32)]) -> dict[str, object]:
    feeder, transformer = supply_area(snapshot.index, account_no)
    return {"account_no": account_no, "feeder_id": feeder, "transformer_id": transformer, "data_version": snapshot.version}


@router.get("/validation", summary="Data-quality report of the grid (loops, islands, unsupplied customers, …)", dependencies=[allow("dispatcher", "planner", "analyst")],
            responses={200: {"model": ValidationOut}})
def validation(snapshot: SnapshotDep, settings: SettingsDep, limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> Response:
    report = full_report(snapshot, settings.service_area).to_dict()
    findings = report.get("findings", [])
    if isinstance(findings, list) and len(findings) > limit:
        report["findings"] = findings[:limit]
        report["truncated"] = True
    report["data_version"] = snapshot.version
    return Response(dumps(report), media_type="application/json")
