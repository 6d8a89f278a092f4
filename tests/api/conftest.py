"""A real uvicorn server on loopback per backend, serving a copy of the sample city."""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.settings import Settings
from tests.conftest import STORES


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(database_url: str, settings: Settings | None = None) -> Iterator[str]:
    """Run the app on a free loopback port until the generator is closed; yields its base URL."""
    port = _free_port()
    app = create_app(settings or Settings(database_url=database_url))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        raise RuntimeError("the API server did not start")
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module", params=STORES)
def api_url(request, tmp_path_factory) -> Iterator[str]:
    """Base URL of a live server over a fresh copy of the sample city, on each backend."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("api") / "store.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_templates")["city"], path)
        yield from serve(f"sqlite:///{path}")
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = cluster.create(f"{cluster.prefix}{uuid.uuid4().hex[:10]}", template=cluster.template("city"))
    try:
        yield from serve(cluster.url(name))
    finally:
        cluster.drop(name)
        cluster.created.remove(name)


@pytest.fixture
def client(api_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30) as c:
        yield c
