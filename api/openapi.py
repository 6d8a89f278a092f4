"""The OpenAPI document, completed centrally from the routes themselves.

FastAPI generates the document; :func:`install_openapi` post-processes it once so that no
route can forget: every ``/api/v1`` operation gets its roles (read from its
:class:`api.auth.AllowedRoles`) appended to its description and as ``x-roles``, and the
problem+json (RFC 9457) responses it may give (401 with ``WWW-Authenticate``, 403, 404,
413, 422, 429 with ``Retry-After``, 500, 503); FastAPI's default 422 schema is replaced by
the problem document the API really sends. Page sizes state the server's maximum.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts

from api.auth import route_roles
from api.settings import Settings

__all__ = ["install_openapi", "API_DESCRIPTION", "PROBLEM_SCHEMA"]

API_DESCRIPTION = """\
GridAtlas ties an electric utility's customers to its distribution grid: layers and traces,
the impact of switching plans, isolation, customer search and the unified customer view.

**Authentication.** Every `/api/v1` route needs an API key: send
`Authorization: Bearer ga_xxxxxxxx_…`. An operator creates keys with
`gridatlas keys create --role ROLE --name WHO` (the key is shown once; only its SHA-256
digest is stored) and revokes them with `gridatlas keys revoke PREFIX`; a revoked key stops
working within the server's cache TTL (`GRIDATLAS_AUTH_CACHE_TTL_S`, 30 s by default).
A missing or unknown key gets **401** (with `WWW-Authenticate: Bearer`), a role the route
does not admit gets **403**.

**Roles.** `dispatcher` (locates callers, sees personal data), `planner` (plans, impact,
isolation; personal data masked), `agent` (call centre: customer view, sees personal data),
`analyst` (reports, heat; personal data masked), `admin` (everything). Each operation lists
the roles it admits ("Roles: …" and `x-roles`). Personal data (phones, ID numbers, address
details) is masked on the server for roles that may not see it, and every read of it, every
export and every plan change is written to an append-only audit trail (`GET /api/v1/audit`).

**Limits.** Pages are bounded (`limit`), bbox queries are bounded in area per zoom, plans in
steps, request bodies in size (**413**), and each key in request rate (**429** with
`Retry-After`; the limit applies per server process). Every limit answers with a 4xx
problem document naming the field and value, never with a slow 200.

**Errors** are `application/problem+json` (RFC 9457): `type`, `title`, `status`, `detail`,
`instance` and, where known, the offending `field` and `value`.

**Operations.** `/health` answers while the process lives; `/ready` is 503 until the store
answers, the grid of the current data version is compiled and (with `GRIDATLAS_HEAT_PREWARM`) the
first data version's heat rollups are in memory.
"""

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "a URN naming the kind of problem, or about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what went wrong, naming the field and value"},
        "instance": {"type": "string", "description": "the request path"},
        "field": {"type": "string", "description": "the offending field, parameter or header"},
        "value": {"description": "the offending value"},
        "row": {"type": "integer"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}

_REF = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str, example: dict[str, Any], headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": _REF, "example": example}},
    }
    if headers:
        response["headers"] = headers
    return response


_BODY_PROBLEMS: dict[str, dict[str, Any]] = {
    "400": _problem(
        "The request body is not well-formed JSON",
        {"type": "urn:gridatlas:bad-body", "title": "Bad Request", "status": 400,
         "detail": "the request body is not well-formed JSON", "field": "body"},
    ),
    "415": _problem(
        "The request body is not application/json",
        {"type": "about:blank", "title": "Unsupported Media Type", "status": 415,
         "detail": "send the body as application/json"},
    ),
}

_API_PROBLEMS: dict[str, dict[str, Any]] = {
    "401": _problem(
        "No API key, or an unknown or revoked one",
        {"type": "urn:gridatlas:not-authenticated", "title": "Unauthorized", "status": 401,
         "detail": "the API key is unknown or has been revoked", "field": "Authorization"},
        {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    ),
    "403": _problem(
        "The key's role may not use this operation",
        {"type": "urn:gridatlas:forbidden", "title": "Forbidden", "status": 403,
         "detail": "role 'analyst' may not use this endpoint (allowed: admin, dispatcher)", "field": "role",
         "value": "analyst"},
    ),
    "404": _problem(
        "An element, customer or plan that does not exist",
        {"type": "urn:gridatlas:not-found", "title": "Not Found", "status": 404,
         "detail": "unknown customer 'NOPE'", "field": "account_no", "value": "NOPE"},
    ),
    "413": _problem(
        "The request body exceeds the server's limit",
        {"type": "urn:gridatlas:payload-too-large", "title": "Content Too Large", "status": 413,
         "detail": "the request body of 2000000 bytes exceeds the limit of 1048576 bytes", "field": "Content-Length"},
    ),
    "422": _problem(
        "Invalid input: a malformed or out-of-range field, an unknown field, a limit exceeded",
        {"type": "urn:gridatlas:invalid-input", "title": "Unprocessable Content", "status": 422,
         "detail": "limit must be at most 5000", "field": "limit", "value": 999999},
    ),
    "429": _problem(
        "Too many requests from this key",
        {"type": "urn:gridatlas:rate-limited", "title": "Too Many Requests", "status": 429,
         "detail": "rate limit of 50 requests/s (burst 100) exceeded for key 1a2b3c4d; retry in 0.02 s"},
        {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
    ),
    "500": _problem("An unexpected error (it has been logged)",
                    {"type": "about:blank", "title": "Internal Server Error", "status": 500,
                     "detail": "internal error; it has been logged"}),
    "503": _problem(
        "The store is unreachable or holds no grid yet",
        {"type": "urn:gridatlas:store-unavailable", "title": "Service Unavailable", "status": 503,
         "detail": "no grid data loaded yet: run `gridatlas import city DIR` first"},
    ),
}
_METHODS = ("get", "put", "post", "delete", "patch")


def _bound_page_size(operation: dict[str, Any], settings: Settings) -> None:
    """``limit`` query parameters without a bound of their own are checked at run time against
    the server's maximum page size (``api.limits.page_size``): state it as ``maximum``."""
    for parameter in operation.get("parameters", ()):
        if parameter.get("in") != "query" or parameter.get("name") != "limit":
            continue
        schema = parameter.get("schema", {})
        for branch in schema.get("anyOf", [schema]):
            if branch.get("type") == "integer" and "maximum" not in branch:
                branch["maximum"] = settings.max_page_size


def _complete(schema: dict[str, Any], app: FastAPI, settings: Settings) -> None:
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    roles_of: dict[tuple[str, str], frozenset[str] | None] = {}
    for route in iter_route_contexts(app.routes):
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        for method in getattr(route, "methods", None) or ():
            roles_of[(path, method.lower())] = route_roles(route)
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            _bound_page_size(operation, settings)
            if path.startswith("/api/"):
                roles = roles_of.get((path, method))
                if roles is not None:
                    listed = ", ".join(sorted(roles))
                    text = operation.get("description", "").rstrip()
                    operation["description"] = (text + "\n\n" if text else "") + f"Roles: {listed}."
                    operation["x-roles"] = sorted(roles)
                problems = {**_API_PROBLEMS, **(_BODY_PROBLEMS if "requestBody" in operation else {})}
                for status, response in problems.items():
                    if status == "422" or status not in responses:
                        responses[status] = response
            elif "422" in responses:
                responses["422"] = _API_PROBLEMS["422"]
    schemas = schema["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` return the completed document (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, description=app.description,
                routes=app.routes, tags=app.openapi_tags, servers=app.servers,
            )
            _complete(schema, app, settings)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
