"""Data-quality figures: the share of customers verified within a period per 台区 or feeder, and
the stalest records first (issue 18). Ids and dates only, no personal data."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.auth import allow
from api.deps import ConnDep, SettingsDep
from api.limits import page_size
from gis.data_quality import stalest_records, verification_by_area, verification_totals

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["data quality"])


class AreaFigures(BaseModel):
    id: str | None = Field(description="the 台区 (transformer) or feeder id; null: customers without one")
    customers: int
    verified: int = Field(description="verified on or after `since`")
    never_verified: int
    share: float
    oldest_verification: str | None


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


class DataQuality(BaseModel):
    as_of: str
    period_days: int
    since: str
    group_by: str
    totals: Totals
    areas: list[AreaFigures] = Field(description="lowest share first")
    count: int
    stalest: list[StaleRecord] = Field(description="never verified first, then the oldest verification")
    links: list[dict[str, str]]


@router.get("/data-quality", response_model=DataQuality,
            summary="Share of customers whose contact was verified within the period, per 台区 or feeder; stalest records",
            dependencies=[allow("analyst", "planner", "agent", "dispatcher")])
def data_quality(
    request: Request, conn: ConnDep, settings: SettingsDep,
    group_by: Annotated[Literal["transformer", "feeder"], Query(description="台区 (transformer) or feeder")] = "transformer",
    period_days: Annotated[int | None, Query(ge=1, le=36500, description="verified within this many days (default: the server's)")] = None,
    transformer_id: Annotated[str | None, Query(max_length=64, description="stalest records of this 台区 only")] = None,
    feeder_id: Annotated[str | None, Query(max_length=64, description="stalest records of this feeder only")] = None,
    stalest: Annotated[int, Query(ge=0, le=1000, description="how many stalest records to list")] = 20,
    limit: Annotated[int | None, Query(ge=1, description="areas per page (bounded by the server maximum)")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    size = page_size(limit, settings)
    days = period_days or settings.data_quality_period_days
    today = dt.datetime.now(dt.timezone.utc).date()
    since = today - dt.timedelta(days=days)
    areas = verification_by_area(conn, group_by=group_by, since=since, limit=size + 1, offset=offset)
    links = [{"rel": "self", "href": str(request.url)}]
    if len(areas) > size:
        areas = areas[:size]
        links.append({"rel": "next", "href": str(request.url.include_query_params(offset=offset + size, limit=size))})
    records = stalest_records(conn, limit=stalest, transformer_id=transformer_id, feeder_id=feeder_id) if stalest else []
    for r in records:
        r["days"] = (today - dt.date.fromisoformat(r["contact_verified_at"])).days if r["contact_verified_at"] else None
    return {"as_of": today.isoformat(), "period_days": days, "since": since.isoformat(), "group_by": group_by,
            "totals": verification_totals(conn, since=since), "areas": areas, "count": len(areas),
            "stalest": records, "links": links}
