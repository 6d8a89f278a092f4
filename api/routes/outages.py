"""Outage records and reliability indices over HTTP.

* ``POST /api/v1/outages`` (dispatcher, planner): record an outage that did not come from a plan
  (a fault) with its interrupted customers; idempotent by (outage_id, account_no).
* ``GET /api/v1/outages`` / ``GET /api/v1/outages/{outage_id}`` (readers): recorded outages.
* ``GET /api/v1/reliability?from=&to=&by=`` and ``GET /api/v1/reliability.xlsx``: IEEE 1366
  indices for a period, whole area and per feeder or 台区 (see :mod:`outage_impact.reliability`).
"""

from __future__ import annotations

from urllib.parse import quote

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.datetimes import IsoAwareDateTime
from api.audit import audit
from api.auth import Principal, allow
from api.deps import ConnDep, SettingsDep, SnapshotDep
from api.jsonio import dumps
from api.limits import page_size
from api.outage_cache import InterruptionCache
from api.outputs import XLSX_BODY, OutageDetail, OutagePage, ReliabilityOut
from api.reliability_report import compute_report, parse_period, report_xlsx
from gis.outages_store import get_outage, list_outages
from loaders.outages import record_outage

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["outages and reliability"])
READERS = ("planner", "dispatcher", "analyst")
WRITERS = ("dispatcher", "planner")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class OutageIn(BaseModel):
    """An outage with its interrupted customers (one shared start and end)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "outage_id": "F-2026-0301-07", "kind": "unplanned", "start": "2026-03-01T14:02:00+08:00",
        "end": "2026-03-01T15:10:00+08:00", "account_nos": ["0300100001", "0300100017"]}]})
    outage_id: str = Field(min_length=1, max_length=64, pattern=r"^[^\s].*$")
    kind: Literal["planned", "unplanned"]
    start: IsoAwareDateTime
    end: IsoAwareDateTime
    account_nos: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(min_length=1, max_length=50_000)


class OutageOut(BaseModel):
    outage_id: str
    inserted: int
    unchanged: int


@router.post("/outages", status_code=201, summary="Record an outage (a fault) and its interrupted customers",
             response_model=OutageOut,
             responses={200: {"model": OutageOut, "description": "every customer was recorded already (no change)"},
                        422: {"description": "a field is invalid, an account unknown, or a record would change"}})
def create_outage(request: Request, body: Annotated[OutageIn, Body()],
                  principal: Annotated[Principal, allow(*WRITERS)]) -> Response:
    inserted, unchanged = record_outage(request.app.state.engine, outage_id=body.outage_id, kind=body.kind,
                                        start=body.start, end=body.end, accounts=body.account_nos)
    audit(request, principal, "outage.record", "outage", body.outage_id,
          {"kind": body.kind, "inserted": inserted, "unchanged": unchanged})
    out = {"outage_id": body.outage_id, "inserted": inserted, "unchanged": unchanged}
    return Response(dumps(out), status_code=201 if inserted else 200, media_type="application/json",
                    headers={"Location": f"/api/v1/outages/{quote(body.outage_id, safe='')}"})


@router.get("/outages", summary="Recorded outages (newest first), filtered by start and kind",
            dependencies=[allow(*READERS)],
            responses={200: {"model": OutagePage, "content": {"application/json": {"example": {"data": [{
                "outage_id": "F-2026-0301-07", "kind": "unplanned", "start": "2026-03-01T06:02:00+00:00",
                "end": "2026-03-01T07:10:00+00:00", "customers": 2, "plan_id": None}], "count": 1, "links": []}}}}})
def list_(request: Request, conn: ConnDep, settings: SettingsDep,
          start_from: Annotated[dt.datetime | None, Query(alias="from", description="started at or after")] = None,
          start_to: Annotated[dt.datetime | None, Query(alias="to", description="started before")] = None,
          kind: Annotated[Literal["planned", "unplanned"] | None, Query()] = None,
          limit: Annotated[int | None, Query(ge=1)] = None,
          offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> Response:
    size = page_size(limit, settings)
    rows, total = list_outages(conn, start_from=start_from, start_to=start_to, kind=kind, limit=size, offset=offset)
    links = [{"rel": "self", "href": str(request.url)}]
    if offset + len(rows) < total:
        links.append({"rel": "next", "href": str(request.url.include_query_params(offset=offset + size, limit=size))})
    return Response(dumps({"data": rows, "count": total, "links": links}), media_type="application/json")


@router.get("/outages/{outage_id}", summary="One outage with a page of its interrupted customers",
            dependencies=[allow(*READERS)],
            responses={200: {"model": OutageDetail, "content": {"application/json": {"example": {
                "outage_id": "plan-7", "kind": "planned", "start": "2026-12-01T01:05:00+00:00",
                "end": "2026-12-01T06:40:00+00:00", "customers": 24, "plan_id": 7,
                "interruptions": [{"account_no": "0300100001", "start": "2026-12-01T01:05:00+00:00",
                                   "end": "2026-12-01T06:40:00+00:00"}]}}}}})
def read(conn: ConnDep, settings: SettingsDep, outage_id: Annotated[str, Path(min_length=1, max_length=64)],
         limit: Annotated[int | None, Query(ge=1)] = None,
         offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> Response:
    size = page_size(limit, settings)
    return Response(dumps(get_outage(conn, outage_id, limit=size, offset=offset)), media_type="application/json")


_RELIABILITY_EXAMPLE = {
    "from": "2026-01-01T00:00:00+08:00", "to": "2026-02-01T00:00:00+08:00", "by": None, "data_version": 1,
    "customers_served": 5000, "saifi": 0.0016, "saidi": 0.098, "caidi": 61.25, "caifi": 1.6, "asai": 0.9999978,
    "maifi": 0.0004, "customer_minutes": 490.0, "cemi": {"1": 0.0002}, "planned": {}, "unplanned": {},
    "major_event_days": {"method": "IEEE 1366 2.5 beta", "applied": False},
}


def _report(request: Request, snapshot, settings, start: str, end: str, by: str | None) -> dict[str, Any]:
    lo, hi = parse_period(start, end, settings)
    state = request.app.state
    cache = getattr(state, "interruptions", None)
    if cache is None:  # created on first use: one per app (a racing duplicate only costs a read)
        cache = state.interruptions = InterruptionCache()
    return compute_report(state.engine, snapshot.index, snapshot.version, settings, start=lo, end=hi, by=by,
                          cache=cache)


Period = Annotated[str, Query(alias="from", min_length=10, max_length=40,
                              description="a date (local day) or an ISO time with a zone")]
PeriodEnd = Annotated[str, Query(alias="to", min_length=10, max_length=40,
                                 description="a date (inclusive) or an ISO time with a zone (exclusive)")]
By = Annotated[Literal["feeder", "transformer"] | None, Query(description="per feeder or per 台区 (transformer)")]


@router.get("/reliability", summary="IEEE 1366 reliability indices for a period (whole area, per feeder or 台区)",
            dependencies=[allow(*READERS)],
            responses={200: {"model": ReliabilityOut, "content": {"application/json": {"example": _RELIABILITY_EXAMPLE}}}})
def reliability(request: Request, snapshot: SnapshotDep, settings: SettingsDep, start: Period, end: PeriodEnd,
                by: By = None) -> Response:
    return Response(dumps(_report(request, snapshot, settings, start, end, by)), media_type="application/json")


@router.get("/reliability.xlsx", summary="The reliability report as an XLSX workbook",
            response_class=Response,
            responses={200: {"content": {XLSX: XLSX_BODY}, "description": "sheets: indices, by feeder/transformer, "
                                                                   "major event days"}})
def reliability_xlsx(request: Request, snapshot: SnapshotDep, settings: SettingsDep, start: Period, end: PeriodEnd,
                     principal: Annotated[Principal, allow(*READERS)], by: By = None) -> Response:
    report = _report(request, snapshot, settings, start, end, by)
    audit(request, principal, "export", "reliability", None, {"format": "xlsx", "from": start, "to": end, "by": by})
    return Response(report_xlsx(report), media_type=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="reliability.xlsx"',
                             "X-Data-Version": str(snapshot.version)})
