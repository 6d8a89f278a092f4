"""Resource limits every route shares: page size, bbox area per zoom, plan size.

Each limit refuses with a clear 4xx (422 naming the field and value) before any work is
done, so an oversized request never turns into a slow 200. The values live in
:class:`api.settings.Settings`.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any

from fastapi import Request

from api.auth import authenticate_request, route_roles
from api.settings import PLAN_STEPS_HARD_CAP, Settings
from gis.errors import InvalidInput

__all__ = ["BBOX_PATTERN", "page_size", "parse_bbox", "check_bbox_area", "max_bbox_area", "check_plan_size", "PLAN_STEPS_HARD_CAP",
           "reject_unknown_query_params"]

BBox = tuple[float, float, float, float]

#: The shape of a bbox query parameter (four decimal numbers); ranges, order and area are
#: checked by :func:`parse_bbox` and :func:`check_bbox_area`.
_NUMBER = r"-?\d{1,3}(\.\d{1,15})?"
BBOX_PATTERN = rf"^{_NUMBER}(,{_NUMBER}){{3}}$"


def page_size(limit: int | None, settings: Settings) -> int:
    """The page size to use: ``limit`` or the default; 422 above the server maximum."""
    size = limit if limit is not None else settings.default_page_size
    if size < 1:
        raise InvalidInput("limit must be at least 1", field="limit", value=size)
    if size > settings.max_page_size:
        raise InvalidInput(f"limit must be at most {settings.max_page_size}", field="limit", value=size)
    return size


def parse_bbox(raw: str | None) -> BBox | None:
    """``minlon,minlat,maxlon,maxlat`` (WGS 84) → a tuple; 422 naming ``bbox`` when malformed."""
    if raw is None:
        return None
    try:
        values = tuple(float(p) for p in raw.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise InvalidInput("bbox must be four numbers: minlon,minlat,maxlon,maxlat", field="bbox", value=raw)
    minx, miny, maxx, maxy = values
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidInput("bbox must be WGS 84 minlon,minlat,maxlon,maxlat with min ≤ max", field="bbox", value=raw)
    return values  # type: ignore[return-value]


def max_bbox_area(zoom: float | None, settings: Settings) -> float:
    """Largest bbox area (square degrees) a request at map ``zoom`` may ask for.

    At zoom z a 256-px web-map tile spans 360/2^z degrees of longitude; a viewport of
    ``bbox_max_tiles`` tiles (a 4K screen shows about 130) therefore covers at most
    ``bbox_max_tiles · (360/2^z)²`` square degrees (latitude spans are smaller than that, so
    this bound is generous). Without a zoom only the absolute ``max_bbox_area_deg2`` applies.
    """
    cap = settings.max_bbox_area_deg2
    if zoom is None:
        return cap
    return min(cap, settings.bbox_max_tiles * (360.0 / 2.0 ** zoom) ** 2)


def check_bbox_area(bbox: BBox | None, zoom: float | None, settings: Settings) -> None:
    """422 naming ``bbox`` when its area exceeds :func:`max_bbox_area` for ``zoom``."""
    if bbox is None:
        return
    minx, miny, maxx, maxy = bbox
    area = (maxx - minx) * (maxy - miny)
    limit = max_bbox_area(zoom, settings)
    if area > limit:
        at = f" at zoom {zoom:g}" if zoom is not None else ""
        raise InvalidInput(
            f"bbox covers {area:.4g} square degrees; at most {limit:.4g} are allowed{at}: zoom in or split the request",
            field="bbox", value=",".join(f"{v:g}" for v in bbox),
        )


def check_plan_size(total_steps: int, settings: Settings, *, field: str = "steps") -> None:
    """422 when a plan's steps (all lists together) exceed ``max_plan_steps``."""
    if total_steps > settings.max_plan_steps:
        raise InvalidInput(
            f"a plan may have at most {settings.max_plan_steps} steps in all; this one has {total_steps}",
            field=field, value=total_steps,
        )


def _query_names(dependant: Any) -> Iterator[str]:
    """Query parameter names of a route's dependant and all its sub-dependencies."""
    for field in dependant.query_params:
        yield field.alias
    for sub in dependant.dependencies:
        yield from _query_names(sub)


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_sequence(arg) for arg in typing.get_args(annotation))
    return origin in (list, tuple, set, frozenset)


def _repeatable_names(dependant: Any) -> Iterator[str]:
    """Query parameters that take several values (list-typed); any other may be given once."""
    for field in dependant.query_params:
        if _is_sequence(field.field_info.annotation):
            yield field.alias
    for sub in dependant.dependencies:
        yield from _repeatable_names(sub)


async def reject_unknown_query_params(request: Request) -> None:
    """422 for a query parameter an /api/ route does not define (``limt=10`` is a typo, not a default).

    App-wide dependency: integrators learn of a misspelt parameter at once instead of getting
    a silently unfiltered answer. The route's known names are computed once per route and kept
    on the route itself. On a route that needs a key the caller is authenticated first: 401
    before 422.
    """
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant") or not request.url.path.startswith("/api/"):
        return  # the map's pages and probes are not API calls (a browser may add ?utm=…)
    known = getattr(route, "gridatlas_query_names", None)
    if known is None:
        known = frozenset(_query_names(route.dependant))
        route.gridatlas_query_names = known  # on its owner: no module-level cache keyed by id()
    for name in request.query_params.keys():
        if name not in known:
            if route_roles(route) is not None:
                await authenticate_request(request)
            raise InvalidInput(
                f"unknown query parameter {name!r}; this endpoint accepts: {', '.join(sorted(known)) or 'none'}",
                field=name or "(empty name)", value=request.query_params.get(name),
            )
    # a scalar parameter given twice (?actor=a&actor=b) would silently use one of them
    repeated = [n for n in set(request.query_params.keys()) if len(request.query_params.getlist(n)) > 1]
    if repeated:
        repeatable = getattr(route, "gridatlas_repeatable_names", None)
        if repeatable is None:
            repeatable = route.gridatlas_repeatable_names = frozenset(_repeatable_names(route.dependant))
        for name in sorted(repeated):
            if name not in repeatable:
                raise InvalidInput(f"query parameter {name!r} is given more than once; give it once",
                                   field=name, value=len(request.query_params.getlist(name)))
