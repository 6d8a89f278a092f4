"""The grid as level-of-detail map tiles (``/api/v1/tiles/grid/{z}/{x}/{y}``), see :mod:`gis.grid_tiles`."""

from __future__ import annotations

import gzip
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.deps import SnapshotDep
from api.auth import allow
from gis.errors import StoreUnavailable
from gis.grid_tiles import MAX_TILE_ZOOM

router = APIRouter(prefix="/api/v1", tags=["map"])
GEOJSON = "application/geo+json"


@router.get(
    "/tiles/grid/{z}/{x}/{y}",
    summary="The grid in one Web Mercator tile, at the tile zoom's level of detail",
    description=(
        "A GeoJSON FeatureCollection (RFC 7946) of the grid features in XYZ tile z/x/y (Leaflet's scheme). "
        "Zoom ≤ 13 (city): substations and each feeder's trunk, generalized; 14–16 (district): MV segments, "
        "switches, transformers (台区); ≥ 17 (street): also LV lines and meter boxes. `properties.layer` says "
        "which (trunk, mv, lv, substation, switch, transformer, meter_box); lines are clipped to the tile, points "
        "belong to one tile. Customers come from `/api/v1/viewport`. Computed once per data version: the "
        "`ETag` names the data version, `If-None-Match` gives 304; gzip-encoded when the client accepts it."
    ),
    dependencies=[allow("dispatcher", "planner", "agent", "analyst")],
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}, "description": "the tile's features, `band`, `feeders` in the tile and `data_version`"},
               304: {"description": "not modified: the data version named by If-None-Match is still served"}},
)
def grid_tile(
    request: Request,
    snapshot: SnapshotDep,
    z: Annotated[int, Path(ge=0, le=MAX_TILE_ZOOM, description="tile zoom")],
    x: Annotated[int, Path(ge=0, description="tile column, 0 … 2^z − 1")],
    y: Annotated[int, Path(ge=0, description="tile row from the north, 0 … 2^z − 1")],
) -> Response:
    if snapshot.tiles is None:
        raise StoreUnavailable("the map tiles of this data version are not built")
    etag = f'W/"grid-{snapshot.version}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Accept-Encoding, Authorization"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    body = snapshot.tiles.tile(z, x, y)            # range of x and y checked there (422 naming it)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
    else:
        body = gzip.decompress(body)
    return Response(body, media_type=GEOJSON, headers=headers)
