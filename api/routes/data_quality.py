"""Data-quality figures: the share of customers verified within a period per 台区 or feeder, and
the stalest records first; and the customers with a finding on their contact data in a map
viewport (issue 18). Ids, dates and rule names only, no personal data.

Both answer from the snapshot's in-memory :class:`gis.quality_index.QualityIndex` (kept
current with every contact change, like the caller index); ``/data-quality`` falls back to
the store's full scans (:mod:`gis.data_quality`) while no snapshot is compiled."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.auth import allow
from api.deps import ConnDep, SettingsDep, SnapshotDep
from api.jsonio import dumps
from api.limits import page_size, parse_bbox
from api.outputs import DATA_QUALITY_GEOJSON, GEOJSON
from api.area_outlines import SimplifyQ, outlines
from gis.data_quality import stalest_records, verification_by_area, verification_totals
from gis.errors import InvalidInput, StoreUnavailable
from gis.models import Base
from gis.quality_index import FIELDS, RULES, QualityFilter, QualityIndex
from gis.spatial_index import check_viewport

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["data quality"])


class AreaFigures(BaseModel):
    id: str | None = Field(description="the 台区 (transformer) or feeder id; null: customers without one")
    customers: int
    verified: int = Field(description="verified on or after `since`")
    never_verified: int
    share: float
    oldest_verification: str | None
    flagged: int | None = Field(default=None, description="customers with a finding the `rule`/`field` filter names (when given)")


class StaleRecord(BaseModel):
    account_no: str
    contact_verified_at: str | None
    days: int | None = Field(description="days since verified; null: never")
    category: str | None
    transformer_id: str | None
    feeder_id: str | None


class Totals(BaseModel):
    customers: int
    verified: int
    never_verified: int
    share: float | None
    flagged: int | None = None


class DataQuality(BaseModel):
    as_of: str
    period_days: int
    since: str
    group_by: str
    rule: str | None = None
    field: str | None = None
    totals: Totals
    areas: list[AreaFigures] = Field(description="lowest share first")
    count: int
    stalest: list[StaleRecord] = Field(description="never verified first, then the oldest verification")
    links: list[dict[str, str]]


_ROLES = ("analyst", "planner", "agent", "dispatcher")
Rule = Annotated[Literal[RULES] | None, Query(description="stale (verified before the period or never), missing, invalid or conflicting; none: any")]  # type: ignore[valid-type]
FieldName = Annotated[Literal[FIELDS] | None, Query(description="the contact field a finding is on; none: any")]  # type: ignore[valid-type]
PeriodDays = Annotated[int | None, Query(ge=1, le=36500, description="verified within this many days (default: the server's)")]


def _since(settings: Any, period_days: int | None) -> tuple[dt.date, int, dt.date]:
    days = period_days or settings.data_quality_period_days
    today = dt.datetime.now(dt.timezone.utc).date()
    return today, days, today - dt.timedelta(days=days)


@router.get("/data-quality", response_model=DataQuality,
            summary="Share of customers whose contact was verified within the period, per 台区 or feeder; stalest records",
            responses={200: {"description": "JSON (paged areas, stalest records); format=geojson: every area with its "
                                            "outline (the heat layer's 台区 / feeder hulls), no paging, no stalest records",
                             "content": {GEOJSON: DATA_QUALITY_GEOJSON}}},
            dependencies=[allow(*_ROLES)])
def data_quality(
    request: Request, conn: ConnDep, settings: SettingsDep,
    group_by: Annotated[Literal["transformer", "feeder"], Query(description="台区 (transformer) or feeder")] = "transformer",
    period_days: PeriodDays = None,
    transformer_id: Annotated[str | None, Query(max_length=64, description="stalest records of this 台区 only")] = None,
    feeder_id: Annotated[str | None, Query(max_length=64, description="stalest records of this feeder only")] = None,
    stalest: Annotated[int, Query(ge=0, le=1000, description="how many stalest records to list")] = 20,
    limit: Annotated[int | None, Query(ge=1, description="areas per page (bounded by the server maximum)")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    rule: Rule = None,
    field: FieldName = None,
    format: Annotated[Literal["json", "geojson"], Query(description="json (default) or geojson: every area with its "
                                                             "outline, for the map's area layer")] = "json",
    simplify: SimplifyQ = None,
) -> Any:
    today, days, since = _since(settings, period_days)
    flt = QualityFilter.of(rule, field, since) if (rule or field) else None
    snapshot = request.app.state.topology.snapshot
    quality: QualityIndex | None = snapshot.quality if snapshot is not None else None
    if format == "geojson":
        return _area_outlines(request, conn, snapshot, quality, group_by, today, days, since, flt, simplify)
    size = page_size(limit, settings)
    if quality is not None:
        areas = quality.by_area(group_by, flt.since_day if flt else QualityFilter.of(None, None, since).since_day,
                                limit=size + 1, offset=offset, flt=flt)
    elif flt is not None:
        raise StoreUnavailable("the rule/field figures need the compiled grid: retry in a few seconds (see /ready)")
    else:
        areas = verification_by_area(conn, group_by=group_by, since=since, limit=size + 1, offset=offset)
    links = [{"rel": "self", "href": str(request.url)}]
    if len(areas) > size:
        areas = areas[:size]
        links.append({"rel": "next", "href": str(request.url.include_query_params(offset=offset + size, limit=size))})
    if not stalest:
        records: list[dict[str, Any]] = []
    elif quality is not None:
        records = _stalest_from_index(conn, quality, stalest, transformer_id, feeder_id)
    else:
        records = stalest_records(conn, limit=stalest, transformer_id=transformer_id, feeder_id=feeder_id)
    for r in records:
        r["days"] = (today - dt.date.fromisoformat(r["contact_verified_at"])).days if r["contact_verified_at"] else None
    since_day = QualityFilter.of(None, None, since).since_day
    totals = quality.totals(since_day, flt) if quality is not None else verification_totals(conn, since=since)
    return {"as_of": today.isoformat(), "period_days": days, "since": since.isoformat(), "group_by": group_by,
            "rule": rule, "field": field, "totals": totals, "areas": areas, "count": len(areas),
            "stalest": records, "links": links}


_EVERY_AREA = 10**9


def _area_outlines(request: Request, conn: Any, snapshot: Any, quality: QualityIndex | None, group_by: str,
                   today: dt.date, days: int, since: dt.date, flt: QualityFilter | None, simplify: float | None) -> Response:
    """Every 台区 / feeder with its figures and outline (one call for the map's area layer; the same hulls as the
    heat's, built once per data version and tolerance)."""
    if snapshot is None or snapshot.heat is None:
        raise StoreUnavailable("the area outlines of this data version are not built yet; retry shortly (see /ready)")
    since_day = QualityFilter.of(None, None, since).since_day
    if quality is not None:
        areas = quality.by_area(group_by, flt.since_day if flt else since_day, limit=_EVERY_AREA, flt=flt)
        totals = quality.totals(since_day, flt)
    elif flt is not None:
        raise StoreUnavailable("the rule/field figures need the compiled grid: retry in a few seconds (see /ready)")
    else:
        areas = verification_by_area(conn, group_by=group_by, since=since, limit=_EVERY_AREA)
        totals = verification_totals(conn, since=since)
    shapes = outlines(snapshot.heat, group_by, simplify)
    features = [{"type": "Feature", "id": a["id"], "geometry": shapes.get(a["id"]) if a["id"] is not None else None,
                 "properties": {**a, "by": group_by}} for a in areas]
    body = {"type": "FeatureCollection", "features": features, "as_of": today.isoformat(), "period_days": days,
            "since": since.isoformat(), "group_by": group_by, "rule": flt.rule if flt else None,
            "field": flt.field if flt else None, "totals": totals,
            "count": len(features), "data_version": snapshot.version}
    return Response(dumps(body), media_type=GEOJSON)


def _stalest_from_index(conn: Any, quality: QualityIndex, limit: int, transformer_id: str | None,
                        feeder_id: str | None) -> list[dict[str, Any]]:
    """The stalest records from the index; their category / 台区 / feeder by primary key (≤ 1000 rows)."""
    rows = None
    if transformer_id is not None:
        rows = quality.area_rows("transformer", transformer_id)
    if feeder_id is not None:
        of_feeder = quality.area_rows("feeder", feeder_id)
        rows = of_feeder if rows is None else np.intersect1d(rows, of_feeder)
    found = quality.stalest(limit, rows=rows)
    if not found:
        return []
    c, t = Base.metadata.tables["customers"], Base.metadata.tables["transformers"]
    q = (select(c.c.account_no, c.c.category, c.c.transformer_id, t.c.feeder_id)
         .select_from(c.outerjoin(t, t.c.id == c.c.transformer_id))
         .where(c.c.account_no.in_([a for a, _ in found])))
    extra = {a: (cat, tr, fd) for a, cat, tr, fd in conn.execute(q)}
    out = []
    for account_no, day in found:
        cat, tr, fd = extra.get(account_no, (None, None, None))
        verified = QualityIndex.day(day)
        out.append({"account_no": account_no, "contact_verified_at": verified.isoformat() if verified else None,
                    "category": cat, "transformer_id": tr, "feeder_id": fd})
    return out


class QualityPoint(BaseModel):
    account_no: str
    lon: float
    lat: float
    transformer_id: str | None
    findings: list[str] = Field(description='"stale" and "rule:field" findings, e.g. "conflicting:phone"')


class QualityCluster(BaseModel):
    lon: float
    lat: float
    count: int = Field(description="customers with a finding the filter names in this cell")
    cell: list[int]


class QualityViewport(BaseModel):
    bbox: list[float]
    zoom: float
    rule: str | None
    field: str | None
    period_days: int
    since: str
    customers: int = Field(description="customers in the bbox")
    count: int = Field(description="of them, with a finding the filter names")
    mode: Literal["points", "clusters"]
    points: list[QualityPoint] | None = None
    clusters: list[QualityCluster] | None = None
    cell_deg: list[float] | None = None
    max_points: int
    data_version: int


@router.get("/data-quality/viewport", responses={200: {"model": QualityViewport}},
            summary="Customers with stale / missing / invalid / conflicting contact data in a bbox: points, or clusters when many",
            dependencies=[allow(*_ROLES)])
def data_quality_viewport(
    snapshot: SnapshotDep, settings: SettingsDep,
    bbox: Annotated[str, Query(description="minlon,minlat,maxlon,maxlat (WGS 84)", examples=["113.10,23.00,113.14,23.02"])],
    zoom: Annotated[float, Query(ge=0, le=22, description="the map's zoom level (Web Mercator)")],
    rule: Rule = None,
    field: FieldName = None,
    period_days: PeriodDays = None,
) -> Response:
    box = parse_bbox(bbox)
    if box is None:
        raise InvalidInput("bbox is required: minlon,minlat,maxlon,maxlat", field="bbox")
    check_viewport(box, zoom, settings.viewport_max_px)
    _, days, since = _since(settings, period_days)
    flt = QualityFilter.of(rule, field, since)
    quality, spatial = snapshot.quality, snapshot.spatial
    if quality is None:
        raise StoreUnavailable("the data-quality index of this data version is not built yet: retry in a few seconds")
    idx = spatial.in_bbox(box)
    in_view = len(idx)
    rows = spatial.rows(idx)
    hit = np.flatnonzero(quality.mask(flt)[rows])
    idx, rows = idx[hit], rows[hit]
    body: dict[str, Any] = {"bbox": list(box), "zoom": zoom, "rule": rule, "field": field, "period_days": days,
                            "since": since.isoformat(), "customers": int(in_view),
                            "count": int(len(idx)), "max_points": settings.viewport_max_points,
                            "data_version": snapshot.version}
    if len(idx) <= settings.viewport_max_points:
        findings = quality.rules_of(rows.tolist(), flt.since_day)
        body["mode"] = "points"
        body["points"] = [{"account_no": a, "lon": x, "lat": y, "transformer_id": tr, "findings": f}
                          for a, x, y, tr, f in zip(spatial.column("account_no", idx), spatial.lon[idx].tolist(),
                                                    spatial.lat[idx].tolist(), spatial.column("transformer_id", idx),
                                                    findings)]
    else:
        clusters, cell = spatial.clusters(idx, box, zoom, settings.viewport_cluster_px)
        body["mode"] = "clusters"
        body["clusters"] = [{"lon": c["lon"], "lat": c["lat"], "count": c["count"], "cell": c["cell"]} for c in clusters]
        body["cell_deg"] = list(cell)
    return Response(dumps(body), media_type="application/json")
