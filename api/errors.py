"""The one place domain errors become HTTP: problem+json (RFC 9457) for every 4xx and 5xx."""

from __future__ import annotations

import logging
import math
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gis.errors import GridAtlasError, NotAuthenticated, RateLimited, StoreBusy

__all__ = ["add_exception_handlers", "problem", "PROBLEM"]

log = logging.getLogger("gridatlas.api")
PROBLEM = "application/problem+json"


def problem(
    status: int, detail: str, *, type_: str = "about:blank", headers: dict[str, str] | None = None, **extra: object
) -> JSONResponse:
    body = {"type": type_, "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _headers(exc: Exception) -> dict[str, str] | None:
    """RFC 6750: a 401 names the scheme; RFC 9110: a 429 says when to come back."""
    if isinstance(exc, NotAuthenticated):
        return {"WWW-Authenticate": 'Bearer realm="gridatlas"'}
    if isinstance(exc, (RateLimited, StoreBusy)):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return None


async def _domain(request: Request, exc: GridAtlasError) -> JSONResponse:
    info = exc.to_dict()
    detail = str(info.pop("detail"))
    return problem(exc.status, detail, type_=f"urn:gridatlas:{exc.code}", instance=request.url.path,
                   headers=_headers(exc), **info)


def _json_content_type(value: str) -> bool:
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    content_type = request.headers.get("content-type")
    if (content_type and not _json_content_type(content_type) and not content_type.startswith("multipart/")
            and any(tuple(e.get("loc", ()))[:1] == ("body",) for e in errors)):
        return problem(415, f"send the body as application/json, not {content_type.split(';')[0]}",
                       type_="urn:gridatlas:unsupported-media-type", instance=request.url.path, field="Content-Type",
                       value=content_type)
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc) or None
    value = first.get("input")
    detail = f"{field}: {first.get('msg')}" if field else str(first.get("msg", "invalid request"))
    return problem(
        422,
        detail,
        type_="urn:gridatlas:invalid-input",
        instance=request.url.path,
        field=field,
        value=value if isinstance(value, (str, int, float, bool)) else None,
        errors=[{"loc": list(map(str, e.get("loc", ()))), "msg": e.get("msg")} for e in errors],
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of this path answers (Starlette's 405 names only one route's)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path) and getattr(route, "methods", None):
            methods |= set(route.methods)
    return sorted(methods | {"OPTIONS"})


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):  # FastAPI's JSON decode failure
        return problem(400, "the request body is not well-formed JSON", type_="urn:gridatlas:bad-body",
                       instance=request.url.path, field="body")
    if exc.status_code == 405:
        allow = ", ".join(_allowed_methods(request))
        if request.method == "OPTIONS":  # RFC 9110: OPTIONS describes the resource's methods
            return Response(status_code=204, headers={"Allow": allow})
        return problem(405, f"{request.method} is not allowed here; allowed: {allow}", instance=request.url.path,
                       headers={"Allow": allow})
    return problem(exc.status_code, str(exc.detail), instance=request.url.path, headers=exc.headers)


async def _operational(request: Request, exc: OperationalError) -> JSONResponse:
    """SQLite's "database is locked" after the busy timeout: the store is busy, not broken (503)."""
    if "locked" in str(exc.orig):
        busy = StoreBusy("the store is busy with another writer (a data load?); retry shortly")
        return await _domain(request, busy)
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return problem(500, "internal error; it has been logged", instance=request.url.path)


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GridAtlasError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(OperationalError, _operational)
    app.add_exception_handler(Exception, _unexpected)
