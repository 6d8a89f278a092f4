"""Authentication and authorization: bearer API keys, roles, deny by default.

Every route under ``/api/v1`` declares the roles it admits with :func:`allow`; that one
dependency authenticates the bearer token (``Authorization: Bearer ga_…``) against the
hashed keys in the store and refuses other roles with 403. ``admin`` is admitted
everywhere. Verified keys are cached for ``auth_cache_ttl_s`` so a lookup does not cost a
database round trip per request; a revoked key stops working when its entry expires.
A key's ``last_used_at`` is written at most once per ``key_touch_interval_s`` per process,
and each key is rate limited (:mod:`api.ratelimit`) once it is known.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sqlalchemy.exc import SQLAlchemyError

from gis.api_keys import KeyRecord, find_key, hash_token, touch_key
from gis.errors import NotAuthenticated, PermissionDenied
from gis.models import ROLES

__all__ = ["Principal", "KeyCache", "allow", "authenticate_request", "AllowedRoles", "route_roles", "SignedByPlatform",
           "route_is_signed", "ROLES", "PII_ROLES"]

log = logging.getLogger("gridatlas.api")

#: Roles that see customers' phone numbers, ID numbers and full addresses unmasked.
PII_ROLES = frozenset({"dispatcher", "agent", "admin"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, name and role (never the token)."""

    key_id: int
    name: str
    role: str
    prefix: str

    @property
    def sees_pii(self) -> bool:
        return self.role in PII_ROLES

    @property
    def actor(self) -> str:
        """How the audit log names the caller: key name and prefix."""
        return f"{self.name} ({self.prefix})"


class KeyCache:
    """token digest → (principal or None, expiry); thread-safe, bounded by key count.

    Also throttles ``last_used_at``: a key's use is written to the store at most once per
    ``touch_interval_s`` in this process, so a busy key costs one UPDATE a minute, not one a
    request.
    """

    def __init__(self, engine: Any, ttl_s: float, touch_interval_s: float = 60.0) -> None:
        self._engine = engine
        self._ttl = ttl_s
        self._touch_interval = touch_interval_s
        self._entries: dict[str, tuple[Principal | None, float]] = {}
        self._touched: dict[int, float] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> Principal | None | object:
        """The principal from memory, or :data:`MISS` when the store must be asked (an unknown or
        expired entry, or a ``last_used_at`` write is due): never blocks, so the event loop may call it."""
        hit = self._entries.get(hash_token(token))
        now = time.monotonic()
        if hit is None or hit[1] <= now:
            return MISS
        principal = hit[0]
        if principal is not None:
            last = self._touched.get(principal.key_id)
            if last is None or now - last >= self._touch_interval:
                return MISS
        return principal

    def principal(self, token: str) -> Principal | None:
        digest = hash_token(token)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(digest)
        if hit is not None and hit[1] > now:
            principal = hit[0]
        else:
            with self._engine.connect() as conn:
                record: KeyRecord | None = find_key(conn, token)
            principal = Principal(record.id, record.name, record.role, record.prefix) if record else None
            with self._lock:
                if len(self._entries) > 10_000:  # unknown tokens must not grow the cache without bound
                    self._entries.clear()
                self._entries[digest] = (principal, now + self._ttl)
        if principal is not None:
            self._touch(principal.key_id, now)
        return principal

    def _touch(self, key_id: int, now: float) -> None:
        with self._lock:
            last = self._touched.get(key_id)
            if last is not None and now - last < self._touch_interval:
                return
            self._touched[key_id] = now
        try:
            touch_key(self._engine, key_id, dt.datetime.now(dt.timezone.utc))
        except SQLAlchemyError:  # bookkeeping only: the request itself must not fail for it
            log.warning("could not record the use of key %s", key_id, exc_info=True)


#: :meth:`KeyCache.cached` found nothing usable in memory.
MISS = object()

_BEARER = HTTPBearer(auto_error=False, scheme_name="ApiKey",
                     description="`Authorization: Bearer ga_…`; keys are created with `gridatlas keys create --role R`")


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
) -> Principal:
    """The caller of this request; 401 when the key is missing, malformed, unknown or revoked.

    Runs on the event loop: a cached key costs a hash and a dict lookup; only a key the
    store must be asked about goes to a worker thread.
    """
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    if credentials is None or not credentials.credentials.strip():
        raise NotAuthenticated("this endpoint needs an API key: send `Authorization: Bearer <key>`",
                               field="Authorization")
    token = credentials.credentials.strip()
    keys: KeyCache = request.app.state.keys
    principal = keys.cached(token)
    if principal is MISS:
        principal = await run_in_threadpool(keys.principal, token)
    if principal is None:
        raise NotAuthenticated("the API key is unknown or has been revoked", field="Authorization")
    request.state.principal = principal
    _bucket(request).take(principal.key_id, principal.prefix)
    return principal


def _bucket(request: Request) -> Any:
    """The token bucket this request draws on: map tiles (routes marked ``x-rate-limit-bucket: tiles``, see
    :data:`api.routes.map_tiles.TILE_BUCKET`) have their own, larger one; everything else shares the key's."""
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    if extra.get("x-rate-limit-bucket") == "tiles":
        return request.app.state.tile_rate_limits
    return request.app.state.rate_limits


class AllowedRoles:
    """The dependency :func:`allow` returns; keeps its roles so tests and docs can read them."""

    def __init__(self, roles: tuple[str, ...]) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}")
        self.roles = frozenset(roles) | {"admin"}

    async def __call__(self, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in self.roles:
            raise PermissionDenied(
                f"role {principal.role!r} may not use this endpoint (allowed: {', '.join(sorted(self.roles))})",
                field="role", value=principal.role,
            )
        return principal


async def authenticate_request(request: Request) -> Principal:
    """:func:`authenticate` outside FastAPI's dependency solving (a check that must not answer
    before the caller is known: 401 comes before a 422 about the query)."""
    return await authenticate(request, await _BEARER(request))


def allow(*roles: str) -> Any:
    """``Depends`` admitting ``roles`` (and admin). Use as a parameter to get the Principal:

    ``principal: Annotated[Principal, allow("dispatcher", "agent")]``
    or on a route: ``dependencies=[allow("planner")]``.
    """
    return Depends(AllowedRoles(tuple(roles)))


def _walk(dependant: Any) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _walk(dep)


def route_roles(route: Any) -> frozenset[str] | None:
    """The roles a route admits (from its :class:`AllowedRoles` dependencies), None if it has none.

    Several ``allow`` dependencies on one route all apply, so the admitted roles are their
    intersection.
    """
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    found = [call for call in _walk(dependant) if isinstance(call, AllowedRoles)]
    if not found:
        return None
    return frozenset.intersection(*(a.roles for a in found))


class SignedByPlatform:
    """Base of the dependencies that authenticate an external platform by its own signature
    instead of an API key (the WeChat callback). A route under /api/v1 without ``allow(...)``
    must carry one of these; :func:`route_is_signed` tells the structural tests so."""


def route_is_signed(route: Any) -> bool:
    dependant = getattr(route, "dependant", None)
    return dependant is not None and any(isinstance(call, SignedByPlatform) for call in _walk(dependant))
