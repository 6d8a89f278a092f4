"""Dependencies routes receive: settings, a DB connection, the current grid snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Connection

from api.auth import Principal, authenticate
from api.settings import Settings
from api.state import GridSnapshot
from gis.errors import StoreUnavailable

__all__ = ["SettingsDep", "ConnDep", "SnapshotDep"]


# The dependencies that only read app state are coroutines: FastAPI runs them on the event
# loop instead of sending each to a worker thread (a hop per dependency per request).


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_conn(request: Request, _caller: Annotated[Principal, Depends(authenticate)]) -> Iterator[Connection]:
    """The request's pooled connection, taken only after the caller is authenticated.

    Authentication may read the store (a key not yet cached): resolving it first means a
    request never holds one pooled connection while waiting for another, which would
    deadlock a busy worker. Every route using it is under /api/v1, so a key is required anyway.
    """
    with request.app.state.engine.connect() as conn:
        yield conn


async def get_snapshot(request: Request) -> GridSnapshot:
    snapshot = request.app.state.topology.snapshot
    if snapshot is None and getattr(request.app.state, "topology_status", "ok") == "compiling":
        raise StoreUnavailable("the grid is being compiled; retry in a few seconds (see /ready)")
    if snapshot is None:
        raise StoreUnavailable("no grid data loaded yet: run `gridatlas import city DIR` first")
    return snapshot


SettingsDep = Annotated[Settings, Depends(get_settings)]
ConnDep = Annotated[Connection, Depends(get_conn)]
SnapshotDep = Annotated[GridSnapshot, Depends(get_snapshot)]
