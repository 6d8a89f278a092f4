"""A real uvicorn server on loopback per backend, serving a copy of the sample city.

Every served store gets one API key per role (``keys_for(url)``); ``client`` calls as a
dispatcher, ``client_as(role)`` as any role, ``anonymous`` without a key.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.settings import Settings
from gis.api_keys import create_key
from gis.db import make_engine
from gis.models import ROLES
from tests.conftest import STORES


def keys_for(database_url: str) -> dict[str, str]:
    """Create one API key per role in the store at ``database_url``; role → token."""
    engine = make_engine(database_url)
    try:
        return {role: create_key(engine, name=f"test-{role}", role=role)[1] for role in ROLES}
    finally:
        engine.dispose()


class Served(str):
    """The base URL of a live server (a str), with its store URL and one key per role."""

    database_url: str
    keys: dict[str, str]

    def __new__(cls, base: str, database_url: str, keys: dict[str, str]) -> "Served":
        obj = super().__new__(cls, base)
        obj.database_url = database_url
        obj.keys = keys
        return obj

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server process as a user would (Ctrl-C), killing it if it has not ended in 30 s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(database_url: str, settings: Settings | None = None, app=None) -> Iterator[Served]:
    """Run the app (``create_app(settings)`` unless given) on a free loopback port until the
    generator is closed; yields its base URL."""
    keys = keys_for(database_url)
    port = _free_port()
    # Test servers do not rate limit (tests of many routes share one key per role) unless the
    # given settings set a rate explicitly, as tests/api/test_limits.py does to test the limit.
    if app is None:
        settings = settings or Settings(database_url=database_url)
        if "rate_limit_per_s" not in settings.model_fields_set:
            settings = settings.model_copy(update={"rate_limit_per_s": 0})
        # nor deliver the outbox (it would write var/outbox.jsonl) unless a test asks for it
        if "outbox_worker_in_serve" not in settings.model_fields_set:
            settings = settings.model_copy(update={"outbox_worker_in_serve": False})
        app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # up, done compiling the grid (or holding none), its heat warm
        try:
            checks = httpx.get(base + "/ready", timeout=1).json()["checks"]
            if checks["topology"] != "compiling" and checks.get("heat") != "warming":
                break
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    else:
        raise RuntimeError("the API server did not start")
    try:
        yield Served(base, database_url, keys)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module", params=STORES)
def api_url(request, tmp_path_factory) -> Iterator[Served]:
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
def client(api_url: Served) -> Iterator[httpx.Client]:
    """A dispatcher's client."""
    with httpx.Client(base_url=api_url, timeout=30, headers=api_url.headers("dispatcher")) as c:
        yield c


@pytest.fixture
def client_as(api_url: Served) -> Iterator:
    """``client_as(role)`` → an httpx.Client authenticated with that role's key."""
    clients: list[httpx.Client] = []

    def make(role: str) -> httpx.Client:
        c = httpx.Client(base_url=api_url, timeout=30, headers=api_url.headers(role))
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def anonymous(api_url: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30) as c:
        yield c
