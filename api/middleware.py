"""ASGI middleware of the composition root: request body limits, strict JSON bodies and the access log.

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

__all__ = ["BodyLimitMiddleware", "StrictJsonMiddleware", "AccessLogMiddleware", "LOGGED_QUERY_PARAMS",
           "WORKER_HEADER", "strict_json_loads"]

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


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def strict_json_loads(body: bytes) -> Any:
    """``json.loads`` without NaN/Infinity and without duplicate keys (ValueError naming why)."""
    return json.loads(body, parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicates)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))
    return False


class StrictJsonMiddleware:
    """A JSON request body that is not strict JSON is a 400 problem naming ``body``.

    Python's parser (FastAPI's) takes ``NaN`` and ``Infinity``, which no JSON has and no error
    response could echo back, and lets a repeated key silently win; a body that does not
    parse at all became a 422. Here every JSON body is parsed once strictly before the route
    sees it (then replayed unchanged): malformed, NaN/Infinity or a duplicate key → 400.
    Bodies are already bounded by :class:`BodyLimitMiddleware`, which runs outside this one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":  # disconnected: nothing to answer
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except HTTPException as exc:  # the body limit, raised while reading
            await _problem_response(scope, send, exc.status_code, str(exc.detail), "payload-too-large", None)
            return
        body = b"".join(chunks)
        if body:
            try:
                strict_json_loads(body)
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError and the refusals above
                await _problem_response(scope, send, 400, f"the request body is not well-formed JSON: {exc}",
                                        "bad-body", "body")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _problem_response(scope: Scope, send: Send, status: int, detail: str, code: str, field: str | None) -> None:
    from http import HTTPStatus

    problem = {"type": f"urn:gridatlas:{code}", "title": HTTPStatus(status).phrase, "status": status,
               "detail": detail, "instance": scope["path"]}
    if field:
        problem["field"] = field
    body = json.dumps(problem, ensure_ascii=False).encode()
    headers = [*_PROBLEM_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
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
