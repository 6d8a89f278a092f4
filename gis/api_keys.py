"""API keys: bearer tokens with a role, stored only as a SHA-256 digest.

A token looks like ``ga_<prefix>_<secret>``. The 8-hex-digit prefix is stored in clear so a
key can be named in listings, logs and the audit trail without revealing it; the token
itself is shown once, when it is created, and never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from gis.errors import InvalidInput, NotFound
from gis.models import ROLES, ApiKey

__all__ = ["KeyRecord", "hash_token", "create_key", "find_key", "list_keys", "revoke_key", "touch_key", "ROLES"]

_TABLE = ApiKey.__table__


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the API knows about the holder of a key (never the token)."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token (tokens carry 192 random bits, so no salt or KDF is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _record(row) -> KeyRecord:
    return KeyRecord(row.id, row.name, row.role, row.prefix, row.created_at, row.revoked_at, row.last_used_at)


def create_key(engine: Engine, *, name: str, role: str) -> tuple[KeyRecord, str]:
    """Create a key for ``role``; returns its record and the token (shown once, not stored)."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role", value=role)
    if not name or len(name) > 100:
        raise InvalidInput("a key needs a name of 1–100 characters", field="name", value=name)
    prefix = secrets.token_hex(4)
    token = f"ga_{prefix}_{secrets.token_urlsafe(24)}"
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        key_id = conn.execute(
            _TABLE.insert().values(name=name, role=role, prefix=prefix, key_hash=hash_token(token), created_at=now)
            .returning(_TABLE.c.id)
        ).scalar_one()
    return KeyRecord(key_id, name, role, prefix, now), token


def find_key(conn: Connection, token: str) -> KeyRecord | None:
    """The active (not revoked) key whose digest matches ``token``, else None."""
    row = conn.execute(
        select(_TABLE).where(_TABLE.c.key_hash == hash_token(token), _TABLE.c.revoked_at.is_(None))
    ).first()
    return _record(row) if row is not None else None


def list_keys(conn: Connection) -> list[KeyRecord]:
    return [_record(r) for r in conn.execute(select(_TABLE).order_by(_TABLE.c.id))]


def revoke_key(engine: Engine, prefix: str) -> KeyRecord:
    """Revoke the key with ``prefix``; a revoked key stops working within the API's cache TTL."""
    with engine.begin() as conn:
        done = conn.execute(
            update(_TABLE).where(_TABLE.c.prefix == prefix, _TABLE.c.revoked_at.is_(None))
            .values(revoked_at=dt.datetime.now(dt.timezone.utc)).returning(*_TABLE.c)
        ).first()
    if done is None:
        raise NotFound(f"no active key with prefix {prefix!r}", field="prefix", value=prefix)
    return _record(done)


def touch_key(engine: Engine, key_id: int, at: dt.datetime) -> None:
    """Record that key ``key_id`` was used at ``at`` (callers throttle this; see api.auth.KeyCache)."""
    with engine.begin() as conn:
        conn.execute(update(_TABLE).where(_TABLE.c.id == key_id).values(last_used_at=at))
