"""The grid as level-of-detail map tiles (``/api/v1/tiles/grid/{z}/{x}/{y}``), see :mod:`gis.grid_tiles`."""

from __future__ import annotations

import gzip
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import allow
from api.deps import SnapshotDep
from api.jsonio import dumps
from api.outputs import feature_collection
from gis.errors import StoreUnavailable
from gis.grid_tiles import CITY_MAX_ZOOM, MAX_TILE_ZOOM, STREET_MIN_ZOOM, GridTiles

#: marks the routes whose requests take tokens from the tile bucket (api.auth.authenticate): a cached tile
#: costs the server a dict lookup, and a moving map asks for several at once
TILE_BUCKET = {"x-rate-limit-bucket": "tiles"}

router = APIRouter(prefix="/api/v1", tags=["map"])
GEOJSON = "application/geo+json"
_ROLES = ("dispatcher", "planner", "agent", "analyst")


class TileSetInfo(BaseModel):
    """Where the grid tiles are and what each zoom shows (in the spirit of TileJSON)."""

    tiles: list[str]
    tiles_512: list[str] = Field(description="512-px tiles: z/x/y covers the area of the 256-px tile z/x/y with the "
                                 "content of zoom z + 1 (Leaflet `tileSize: 512, zoomOffset: -1`); the map uses these")
    bounds: list[float] | None = Field(description="west, south, east, north of the grid (WGS 84); null when empty")
    minzoom: int
    maxzoom: int
    bands: dict[str, list[int]] = Field(description="band -> [first zoom, last zoom]")
    data_version: int


class SegmentsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=5000, description="segment ids")


def _tiles(snapshot: SnapshotDep) -> GridTiles:
    if snapshot.tiles is None:
        raise StoreUnavailable("the map tiles of this data version are not built")
    return snapshot.tiles


@router.get("/tiles/grid", summary="The grid tile set: URL template, bounds, zoom bands", dependencies=[allow(*_ROLES)])
def grid_tileset(snapshot: SnapshotDep) -> TileSetInfo:
    bounds = _tiles(snapshot).bounds()
    return TileSetInfo(tiles=["/api/v1/tiles/grid/{z}/{x}/{y}"], tiles_512=["/api/v1/tiles/grid512/{z}/{x}/{y}"], bounds=list(bounds) if bounds else None,
                       minzoom=0, maxzoom=MAX_TILE_ZOOM, data_version=snapshot.version,
                       bands={"city": [0, CITY_MAX_ZOOM], "district": [CITY_MAX_ZOOM + 1, STREET_MIN_ZOOM - 1],
                              "street": [STREET_MIN_ZOOM, MAX_TILE_ZOOM]})


@router.post(
    "/tiles/grid/segments",
    summary="Whole segments by id (for highlights: supply paths, impact areas)",
    dependencies=[allow(*_ROLES)],
    response_class=Response,
    responses={200: {"content": {GEOJSON: feature_collection(missing={"type": "array", "items": {"type": "string"}},
                                                             data_version={"type": "integer"})},
                     "description": "the segments found, in the order asked; `missing` lists the others"}},
)
def grid_segments(snapshot: SnapshotDep, query: SegmentsQuery) -> Response:
    return Response(dumps(_tiles(snapshot).segments(query.ids)), media_type=GEOJSON)


@router.get(
    "/tiles/grid/{z}/{x}/{y}",
    summary="The grid in one Web Mercator tile, at the tile zoom's level of detail",
    description=(
        "A GeoJSON FeatureCollection (RFC 7946) of the grid features in XYZ tile z/x/y (Leaflet's scheme). "
        "Zoom ≤ 14 (city): substations and each feeder's trunk, generalized; 15–16 (district): MV segments, "
        "switches, transformers (台区); ≥ 17 (street): also LV lines and meter boxes. `properties.layer` says "
        "which (trunk, mv, lv, substation, switch, transformer, meter_box); lines are clipped to the tile, points "
        "belong to one tile. Customers come from `/api/v1/viewport`. Computed once per data version: the "
        "`ETag` names the data version, `If-None-Match` gives 304; gzip-encoded when the client accepts it."
    ),
    dependencies=[allow(*_ROLES)],
    response_class=Response,
    responses={200: {"content": {GEOJSON: feature_collection(
        {"layer": {"type": "string"}}, band={"type": "string"}, feeders={"type": "array", "items": {"type": "string"}},
        data_version={"type": "integer"}, tile={"type": "array", "items": {"type": "integer"}})},
        "description": "the tile's features, `band`, `feeders` in the tile and `data_version`"},
               304: {"description": "not modified: the data version named by If-None-Match is still served"}},
    openapi_extra=TILE_BUCKET,
)
async def grid_tile(
    request: Request,
    snapshot: SnapshotDep,
    z: Annotated[int, Path(ge=0, le=MAX_TILE_ZOOM, description="tile zoom")],
    x: Annotated[int, Path(ge=0, description="tile column, 0 … 2^z − 1")],
    y: Annotated[int, Path(ge=0, description="tile row from the north, 0 … 2^z − 1")],
) -> Response:
    return await _tile_response(request, snapshot, z, x, y, 256)


@router.get(
    "/tiles/grid512/{z}/{x}/{y}",
    summary="The grid in one 512-px Web Mercator tile: tile z/x/y's area at zoom z + 1's level of detail",
    description=(
        "What the map draws: the area of XYZ tile z/x/y with the content of zoom z + 1 (the four 256-px tiles "
        "z+1/2x…2x+1/2y…2y+1 together; lines clipped once), for a client with `tileSize: 512, zoomOffset: -1`. "
        "A 1280×800 view needs 6–12 of these instead of 20–30 256-px tiles. Same body, caching (`ETag` = data "
        "version, 304) and gzip as `/tiles/grid/{z}/{x}/{y}`; `lod` names the zoom whose content it holds."
    ),
    dependencies=[allow(*_ROLES)],
    response_class=Response,
    responses={200: {"content": {GEOJSON: feature_collection(
        {"layer": {"type": "string"}}, band={"type": "string"}, lod={"type": "integer"},
        feeders={"type": "array", "items": {"type": "string"}}, data_version={"type": "integer"},
        tile={"type": "array", "items": {"type": "integer"}})},
        "description": "the tile's features, `band`, `lod`, `feeders` and `data_version`"},
               304: {"description": "not modified: the data version named by If-None-Match is still served"}},
    openapi_extra=TILE_BUCKET,
)
async def grid_tile_512(
    request: Request,
    snapshot: SnapshotDep,
    z: Annotated[int, Path(ge=0, le=MAX_TILE_ZOOM - 1, description="tile zoom (the content is zoom z + 1's)")],
    x: Annotated[int, Path(ge=0, description="tile column, 0 … 2^z − 1")],
    y: Annotated[int, Path(ge=0, description="tile row from the north, 0 … 2^z − 1")],
) -> Response:
    return await _tile_response(request, snapshot, z, x, y, 512)


async def _tile_response(request: Request, snapshot: SnapshotDep, z: int, x: int, y: int, size: int) -> Response:
    tiles = _tiles(snapshot)
    etag = f'W/"grid-{snapshot.version}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Accept-Encoding, Authorization"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    # A cached tile is answered on the event loop; building one (ms) goes to the thread pool.
    # The range of x and y is checked when building (404 naming it: no such tile); a cached tile was valid.
    body = tiles.cached(z, x, y, size)
    if body is None:
        body = await run_in_threadpool(tiles.tile, z, x, y, size)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
    else:
        body = gzip.decompress(body)
    return Response(body, media_type=GEOJSON, headers=headers)
