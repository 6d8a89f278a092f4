"""Dependencies routes receive: settings, a DB connection, the current grid snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Connection

from api.settings import Settings
from api.state import GridSnapshot
from gis.errors import StoreUnavailable

__all__ = ["SettingsDep", "ConnDep", "SnapshotDep"]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_conn(request: Request) -> Iterator[Connection]:
    with request.app.state.engine.connect() as conn:
        yield conn


def get_snapshot(request: Request) -> GridSnapshot:
    snapshot = request.app.state.topology.snapshot
    if snapshot is None and getattr(request.app.state, "topology_status", "ok") == "compiling":
        raise StoreUnavailable("the grid is being compiled; retry in a few seconds (see /ready)")
    if snapshot is None:
        raise StoreUnavailable("no grid data loaded yet: run `gridatlas import city DIR` first")
    return snapshot


SettingsDep = Annotated[Settings, Depends(get_settings)]
ConnDep = Annotated[Connection, Depends(get_conn)]
SnapshotDep = Annotated[GridSnapshot, Depends(get_snapshot)]
