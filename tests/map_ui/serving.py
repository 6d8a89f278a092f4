"""The real app on loopback for the browser tests: a uvicorn thread on a free port, ready when /ready is 200."""

from __future__ import annotations

import shutil
import socket
import uuid
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

__all__ = ["free_socket", "serving", "sample_city", "add_keys"]


def free_socket() -> socket.socket:
    """A socket bound to a free loopback port, held until uvicorn takes it (no race for the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def root_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def serving(app: Any, sock: socket.socket, *, name: str = "uvicorn-map-ui", timeout_s: float = 30) -> Iterator[str]:
    """Serve ``app`` on ``sock`` until the block ends; yields the root URL once /ready answers 200
    (the grid is compiled). A server that never gets ready fails the test."""
    import uvicorn

    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    root = root_of(sock)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{root}/ready", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail("the GridAtlas server did not become ready (/ready)", pytrace=False)
        time.sleep(0.1)
    try:
        yield root
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def sample_city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, label: str) -> Iterator[str]:
    """A store of its own holding the sample city, on the backend a ``params=STORES`` fixture is run for
    (``request.param``): a copy of the session's SQLite city template, or a PostGIS database made from the
    city template; yields its database URL and drops the database afterwards."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp(label) / "gridatlas.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_templates")["city"], path)
        yield f"sqlite:///{path}"
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = cluster.create(f"{cluster.prefix}{label}_{uuid.uuid4().hex[:8]}", template=cluster.template("city"))
    try:
        yield cluster.url(name)
    finally:
        cluster.drop(name)
        cluster.created.remove(name)


def add_keys(database_url: str, roles: Mapping[str, str]) -> dict[str, str]:
    """One API key per ``{key name: role}`` in the store at ``database_url``; key name → token."""
    from gis.api_keys import create_key
    from gis.db import make_engine

    engine = make_engine(database_url)
    try:
        return {name: create_key(engine, name=name, role=role)[1] for name, role in roles.items()}
    finally:
        engine.dispose()
