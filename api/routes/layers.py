"""Grid and customer layers as GeoJSON (RFC 7946), filtered by bbox and paged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.auth import allow
from api.deps import ConnDep, SettingsDep
from api.jsonio import dumps
from api.limits import BBOX_PATTERN, check_bbox_area, page_size, parse_bbox
from api.outputs import LayersOut, feature_collection
from gis.store import LAYERS, query_layer

router = APIRouter(prefix="/api/v1", tags=["layers"])
GEOJSON = "application/geo+json"


@router.get("/layers", summary="The layers the map can draw", dependencies=[allow("dispatcher", "planner", "agent", "analyst")],
            response_model=None, responses={200: {"model": LayersOut}})
def list_layers() -> dict[str, object]:
    return {"layers": [{"name": name, "href": f"/api/v1/layers/{name}"} for name in LAYERS]}


@router.get(
    "/layers/{layer}",
    summary="One layer as a GeoJSON FeatureCollection",
    dependencies=[allow("dispatcher", "planner", "agent", "analyst")],
    response_class=Response,
    responses={200: {"content": {GEOJSON: feature_collection(
        numberMatched={"type": "integer"}, numberReturned={"type": "integer"},
        links={"type": "array", "items": {"type": "object", "required": ["rel", "href"]}})},
        "description": "a page of features, with a next link"}},
)
def get_layer(
    request: Request,
    conn: ConnDep,
    settings: SettingsDep,
    layer: Annotated[str, Path(description="one of: " + ", ".join(LAYERS))],
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS 84); its area is bounded per zoom", pattern=BBOX_PATTERN, examples=["113.10,23.00,113.14,23.02"])] = None,
    zoom: Annotated[float | None, Query(ge=0, le=24, description="the map's zoom; bounds the bbox area (see max_bbox_area)")] = None,
    limit: Annotated[int | None, Query(ge=1, description="page size (bounded by the server maximum)")] = None,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
) -> Response:
    size = page_size(limit, settings)
    box = parse_bbox(bbox)
    check_bbox_area(box, zoom, settings)
    page = query_layer(conn, layer, bbox=box, limit=size, offset=offset)
    links = [{"rel": "self", "href": str(request.url), "type": GEOJSON}]
    if page.next_offset is not None:
        links.append({"rel": "next", "href": str(request.url.include_query_params(offset=page.next_offset, limit=size)), "type": GEOJSON})
    body = {
        "type": "FeatureCollection",
        "features": page.features,
        "numberMatched": page.number_matched,
        "numberReturned": len(page.features),
        "links": links,
    }
    return Response(dumps(body), media_type=GEOJSON)
