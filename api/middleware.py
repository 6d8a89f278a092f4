"""ASGI middleware of the composition root: request body limits and the access log.

Both are plain ASGI (no BaseHTTPMiddleware) so streamed responses pass through untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "AccessLogMiddleware", "LOGGED_QUERY_PARAMS", "WORKER_HEADER"]

#: Response header naming the worker process that answered (operators and tests tell workers apart).
WORKER_HEADER = "X-GridAtlas-Worker"

#: Query parameters copied into the access log. Every other parameter is left out, because
#: a consumer may put personal data in a query (a caller's phone number or name in a search,
#: an address): an allow-list cannot leak a parameter added later, a deny-list can.
LOGGED_QUERY_PARAMS = frozenset({
    "limit", "offset", "zoom", "bbox", "steps", "format", "kind", "layer", "status",
    "action", "object_kind", "since", "until", "max_alternatives",
})

_PROBLEM_HEADERS = [(b"content-type", b"application/problem+json")]


class BodyLimitMiddleware:
    """Refuse request bodies above a size with 413 problem+json.

    A declared ``Content-Length`` above the limit is refused before the app runs (no auth,
    no read); a body without one (chunked) is counted as it streams and refused as soon as it
    passes the limit. ``limits`` maps path prefixes to their own limit (the longest match
    wins), e.g. imports may upload more than other routes.

    Starlette's ``RequestBodyLimitMiddleware`` (what ``FastAPI(max_body_size=…)`` uses) does
    the counting too, but answers a too-large ``Content-Length`` in text/plain; every error of
    this API is problem+json.
    """

    def __init__(self, app: ASGIApp, *, default: int, limits: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.default = default
        self.limits = sorted(limits, key=lambda item: len(item[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(scope, send, declared, limit)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"the request body exceeds the limit of {limit} bytes")
            return message

        await self.app(scope, counted_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(scope: Scope, send: Send, declared: int, limit: int) -> None:
    body = json.dumps({
        "type": "urn:gridatlas:payload-too-large", "title": "Content Too Large", "status": 413,
        "detail": f"the request body of {declared} bytes exceeds the limit of {limit} bytes",
        "instance": scope["path"], "field": "Content-Length", "value": declared,
    }).encode()
    headers = [*_PROBLEM_HEADERS, (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AccessLogMiddleware:
    """One log record per request on logger ``gridatlas.access``, and the worker header.

    The record carries method, path, route template, status, duration, the key's prefix
    (never the token), the data version served and the allow-listed query parameters.
    """

    def __init__(self, app: ASGIApp, *, data_version: Any = None) -> None:
        self.app = app
        self.log = logging.getLogger("gridatlas.access")
        self._data_version = data_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        pid = str(os.getpid()).encode()  # forked workers: the pid of the process answering

        async def send_with_header(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (WORKER_HEADER.lower().encode(), pid)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            if self.log.isEnabledFor(logging.INFO):
                self.log.info("%s %s %s", scope["method"], scope["path"], status, extra={"access": self._record(
                    scope, status, (time.perf_counter() - started) * 1000)})

    def _record(self, scope: Scope, status: int, duration_ms: float) -> dict[str, Any]:
        route = scope.get("route")
        principal = (scope.get("state") or {}).get("principal")
        query = _logged_query(scope.get("query_string", b""))
        version = self._data_version() if callable(self._data_version) else None
        return {
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
            "method": scope["method"],
            "path": scope["path"],
            "route": getattr(route, "path_format", None) or getattr(route, "path", None),
            "status": status,
            "duration_ms": round(duration_ms, 2),
            "key": getattr(principal, "prefix", None),
            "role": getattr(principal, "role", None),
            "data_version": version,
            "query": query or None,
            "worker": os.getpid(),
        }


def _logged_query(raw: bytes) -> dict[str, str]:
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    return {name: value[:200] for name, value in pairs if name in LOGGED_QUERY_PARAMS}
