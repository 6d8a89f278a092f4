"""Map click (nearest customers / meter box / 台区) and the clustered customer viewport."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.auth import allow
from api.deps import SettingsDep, SnapshotDep
from api.jsonio import dumps
from api.limits import parse_bbox
from api.outputs import NearestOut, ViewportOut
from gis.errors import InvalidInput

router = APIRouter(prefix="/api/v1", tags=["map"])

_ROLES = ("dispatcher", "agent", "planner", "analyst")


@router.get("/nearest", summary="What is at a clicked point: nearest customers, meter box and 台区", dependencies=[allow(*_ROLES)],
            responses={200: {"model": NearestOut}})
def nearest(snapshot: SnapshotDep,
            lon: Annotated[float, Query(ge=-180, le=180, description="WGS 84 longitude")],
            lat: Annotated[float, Query(ge=-90, le=90, description="WGS 84 latitude")],
            radius_m: Annotated[float, Query(gt=0, le=5000, description="search radius in metres")] = 50.0,
            k: Annotated[int, Query(ge=1, le=100, description="at most this many customers")] = 5) -> Response:
    body = snapshot.spatial.nearest(lon, lat, radius_m, k).to_dict()
    body["data_version"] = snapshot.version
    return Response(dumps(body), media_type="application/json")


@router.get("/viewport", summary="Customers in a bbox at a zoom: points up to a threshold, else grid clusters", dependencies=[allow(*_ROLES)],
            responses={200: {"model": ViewportOut}})
def viewport(snapshot: SnapshotDep, settings: SettingsDep,
             bbox: Annotated[str, Query(description="minlon,minlat,maxlon,maxlat (WGS 84)", examples=["113.10,23.00,113.14,23.02"])],
             zoom: Annotated[float, Query(ge=0, le=22, description="the map's zoom level (Web Mercator)")]) -> Response:
    box = parse_bbox(bbox)
    if box is None:  # the parameter is required; parse_bbox returns None only for a missing value
        raise InvalidInput("bbox is required: minlon,minlat,maxlon,maxlat", field="bbox")
    body = snapshot.spatial.viewport(box, zoom, max_points=settings.viewport_max_points,
                                     cluster_px=settings.viewport_cluster_px, max_view_px=settings.viewport_max_px).to_dict()
    body["max_points"] = settings.viewport_max_points
    body["data_version"] = snapshot.version
    return Response(dumps(body), media_type="application/json")
