"""Complaint heat and hotspots over HTTP: aggregates for managers, an area's interactions masked per role.

``GET /api/v1/heat`` answers JSON for the map and GeoJSON (``application/geo+json``: ``Accept``
or ``format=geojson``) for GIS tools; ``GET /api/v1/hotspots`` the Gi* hot and cold spots with
the statistic's inputs (GeoJSON too: the areas' outlines for the map); ``GET /api/v1/heat/vocabulary``
the values the filters take; ``GET /api/v1/heat/areas/{by}/{id}/interactions`` the contacts counted in
one area, texts only for the roles whose customer-view panels include ``interaction_texts`` and
caller phones masked unless the role sees personal data.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.audit import audit
from api.auth import Principal, allow
from api.deps import ConnDep, SettingsDep, SnapshotDep
from api.jsonio import dumps
from api.limits import page_size, parse_bbox
from api.masking import mask_phone
from api.area_outlines import SimplifyQ, outlines
from api.outputs import HEAT_GEOJSON, HOTSPOTS_GEOJSON, AreaInteractionsOut, HeatOut, HotspotsOut
from api.state import GridSnapshot
from gis.errors import InvalidInput, StoreUnavailable
from gis.interaction_rollups import RESOLUTIONS, area_interactions, day_number
from gis.models import CHANNELS, INTERACTION_KINDS
from interactions.heat import BY, HeatAreas, HeatQuery, area_shape, heat
from interactions.hotspots import hotspots

router = APIRouter(prefix="/api/v1", tags=["heat"])

_ROLES = ("analyst", "planner", "dispatcher")
GEOJSON = "application/geo+json"
_JSON_OR_GEOJSON = {200: {"description": "areas with count, customers and rate per 1,000 customers",
                          "model": HeatOut, "content": {GEOJSON: HEAT_GEOJSON}}}

FromQ = Annotated[dt.date, Query(alias="from", description="first local day (YYYY-MM-DD), China Standard Time")]
ToQ = Annotated[dt.date, Query(alias="to", description="last local day (YYYY-MM-DD), inclusive")]
ByQ = Annotated[str, Query(description="cell (H3, resolution from zoom) | transformer (台区) | feeder", pattern="^(cell|transformer|feeder)$")]
ListQ = Annotated[str | None, Query(description="comma-separated")]


def _list(raw: str | None, allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    if not raw:
        return ()
    values = tuple(dict.fromkeys(v.strip() for v in raw.split(",") if v.strip()))
    for v in values:
        if v not in allowed:
            raise InvalidInput(f"{name}: unknown value {v!r}; one of {', '.join(allowed)}", field=name, value=v)
    return values


def _query(by: str, date_from: dt.date, date_to: dt.date, channels: str | None, kinds: str | None,
           bbox: str | None, zoom: float | None) -> HeatQuery:
    return HeatQuery(by=by, date_from=date_from, date_to=date_to, channels=_list(channels, CHANNELS, "channels"),
                     kinds=_list(kinds, INTERACTION_KINDS, "kinds"), bbox=parse_bbox(bbox), zoom=zoom)


def _areas(snapshot: GridSnapshot):
    if snapshot.heat is None:
        raise StoreUnavailable("the heat areas of this data version are not built yet; retry shortly")
    return snapshot.heat


def _wants_geojson(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "geojson"
    return GEOJSON in request.headers.get("accept", "")


def _feature_collection(areas: HeatAreas, by: str, rows: list[dict[str, Any]], rest: dict[str, Any], version: int,
                        simplify: float | None = None) -> Response:
    """A GeoJSON answer: one feature per area (its hexagon or customers' hull), ``rest`` as foreign members."""
    if by == "cell":
        shapes = {r["id"]: area_shape(areas, by, r["id"]) for r in rows}
    else:
        shapes = outlines(areas, by, simplify)
    features = [{"type": "Feature", "id": r["id"], "geometry": shapes.get(r["id"]), "properties": {**r, "by": by}}
                for r in rows]
    body = {"type": "FeatureCollection", "features": features, **rest, "data_version": version}
    return Response(dumps(body), media_type=GEOJSON)


class HeatVocabulary(BaseModel):
    """The values the heat and hotspot filters take (the map builds its checkboxes from them)."""

    by: list[str] = Field(description="area kinds: cell (H3), transformer (台区), feeder")
    channels: list[str] = Field(description="interaction channels, in the API's spelling")
    kinds: list[str] = Field(description="interaction kinds, in the API's spelling")
    resolutions: list[int] = Field(description="the H3 resolutions kept in the rollups (the zoom picks one)")
    timezone: str = Field(description="the zone of the local days that from/to name")
    hotspot_alpha: float = Field(description="the default false-discovery rate of /hotspots")


@router.get("/heat/vocabulary", summary="The values of the heat filters: area kinds, channels, kinds",
            response_model=HeatVocabulary, dependencies=[allow(*_ROLES)])
def get_heat_vocabulary(settings: SettingsDep) -> HeatVocabulary:
    return HeatVocabulary(by=list(BY), channels=list(CHANNELS), kinds=list(INTERACTION_KINDS),
                          resolutions=list(RESOLUTIONS), timezone="Asia/Shanghai", hotspot_alpha=settings.hotspot_alpha)


@router.get("/heat", summary="Contacts per area, normalized by the customers living there",
            responses=_JSON_OR_GEOJSON, dependencies=[allow(*_ROLES)])
def get_heat(request: Request, conn: ConnDep, snapshot: SnapshotDep, by: ByQ, date_from: FromQ, date_to: ToQ,
             bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS 84); default: everywhere")] = None,
             zoom: Annotated[float | None, Query(ge=0, le=22, description="map zoom; picks the H3 resolution (by=cell)")] = None,
             channels: ListQ = None, kinds: ListQ = None,
             format: Annotated[str | None, Query(pattern="^(json|geojson)$", description="json (default) or geojson")] = None,
             simplify: SimplifyQ = None,
             ) -> Response:
    areas = _areas(snapshot)
    result = heat(conn, areas, _query(by, date_from, date_to, channels, kinds, bbox, zoom), request.app.state.heat_cubes)
    if _wants_geojson(request, format):
        body = result.to_dict()
        return _feature_collection(areas, by, body.pop("areas"), body, snapshot.version, simplify)
    body = result.to_dict()
    body["data_version"] = snapshot.version
    return Response(dumps(body), media_type="application/json")


@router.get("/hotspots", summary="Getis-Ord Gi* hot and cold spots of the contact rate, FDR-corrected",
            responses={200: {"description": "significant areas with z, p, count, customers, hot; the statistic's inputs "
                                            "(GeoJSON: each area's outline as the feature's geometry)",
                             "model": HotspotsOut, "content": {GEOJSON: HOTSPOTS_GEOJSON}}},
            dependencies=[allow(*_ROLES)])
def get_hotspots(request: Request, conn: ConnDep, snapshot: SnapshotDep, settings: SettingsDep, by: ByQ, date_from: FromQ, date_to: ToQ,
                 bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat; default: everywhere")] = None,
                 zoom: Annotated[float | None, Query(ge=0, le=22)] = None,
                 channels: ListQ = None, kinds: ListQ = None,
                 alpha: Annotated[float | None, Query(gt=0, lt=1, description="false-discovery rate")] = None,
                 all: Annotated[bool, Query(description="also list the areas that are not significant")] = False,
                 format: Annotated[str | None, Query(pattern="^(json|geojson)$", description="json (default) or geojson")] = None,
                 simplify: SimplifyQ = None,
                 ) -> Response:
    areas = _areas(snapshot)
    result = heat(conn, areas, _query(by, date_from, date_to, channels, kinds, bbox, zoom), request.app.state.heat_cubes)
    body = hotspots(result, areas, alpha=alpha if alpha is not None else settings.hotspot_alpha,
                    touch_m=settings.hotspot_touch_m, significant_only=not all)
    if _wants_geojson(request, format):
        return _feature_collection(areas, by, body.pop("areas"), body, snapshot.version, simplify)
    body["data_version"] = snapshot.version
    return Response(dumps(body), media_type="application/json")


@router.get("/heat/areas/{by}/{area_id}/interactions", summary="The interactions counted in one area (paged, masked per role)",
            responses={200: {"description": "a page of interactions, newest first, with a next link",
                             "model": AreaInteractionsOut}})
def get_area_interactions(
    request: Request, conn: ConnDep, settings: SettingsDep,
    principal: Annotated[Principal, allow(*_ROLES)],
    by: Annotated[str, Path(pattern="^(cell|transformer|feeder)$")],
    area_id: Annotated[str, Path(max_length=64)],
    date_from: FromQ, date_to: ToQ, channels: ListQ = None, kinds: ListQ = None,
    limit: Annotated[int | None, Query(ge=1)] = None, offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    size = page_size(limit, settings)
    if by == "cell":
        from h3.api import basic_int as h3i  # noqa: PLC0415

        try:
            key: str | int = h3i.str_to_int(area_id)
            valid = h3i.is_valid_cell(key)
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise InvalidInput(f"not an H3 cell: {area_id!r}", field="area_id", value=area_id)
    else:
        key = area_id
    if date_to < date_from:
        raise InvalidInput("to is before from", field="to", value=date_to.isoformat())
    total, rows = area_interactions(conn, by, key, day_number(date_from), day_number(date_to),
                                    _list(channels, CHANNELS, "channels") or None, _list(kinds, INTERACTION_KINDS, "kinds") or None,
                                    limit=size, offset=offset)
    texts = "interaction_texts" in settings.customer_view_panels.get(principal.role, ())
    sees = principal.sees_pii
    data = []
    for r in rows:
        item = {"id": r["id"], "account_no": r["account_no"], "matched_by": r["matched_by"], "channel": r["channel"],
                "kind": r["kind"], "occurred_at": r["occurred_at"].isoformat(),
                "caller_phone": r["caller_phone"] if sees else mask_phone(r["caller_phone"])}
        if texts:
            item["text"] = r["text"]
        data.append(item)
    body: dict[str, Any] = {"by": by, "id": area_id, "from": date_from.isoformat(), "to": date_to.isoformat(),
                            "count": total, "limit": size, "offset": offset, "texts": texts, "data": data}
    if offset + size < total:
        body["next"] = str(request.url.include_query_params(offset=offset + size))
    if data and (sees or texts):
        audit(request, principal, "interactions.read", "area", f"{by}:{area_id}",
              {"rows": len(data), "unmasked": [f for f, shown in (("caller_phone", sees), ("text", texts)) if shown]})
    return Response(dumps(body), media_type="application/json")


__all__ = ["router", "BY"]
