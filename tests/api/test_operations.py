"""Operations: readiness while compiling and without a store, JSON access logs, and
``gridatlas serve --workers 2`` over PostGIS as a real subprocess."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn

import api.state
from api.app import create_app
from api.logs import JsonFormatter, configure_logging
from api.middleware import LOGGED_QUERY_PARAMS
from api.settings import Settings
from tests.api.conftest import _free_port, keys_for, serve, stop_server

ROOT = Path(__file__).resolve().parents[2]


def _start(app) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/health", timeout=1)
            return base, server, thread
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def test_ready_is_503_until_the_grid_is_compiled(city_store_url, monkeypatch):
    """The compile is held at a gate: the server is up (live) but not ready, and grid routes
    say why; once the compile finishes the server is ready."""
    gate = threading.Event()
    real = api.state.load_snapshot

    def gated(engine, **options):
        assert gate.wait(30)
        return real(engine, **options)

    monkeypatch.setattr(api.state, "load_snapshot", gated)
    token = keys_for(city_store_url)["dispatcher"]
    base, server, thread = _start(create_app(Settings(database_url=city_store_url, reload_interval_s=0)))
    try:
        assert httpx.get(base + "/health").status_code == 200
        r = httpx.get(base + "/ready")
        assert r.status_code == 503
        assert r.json()["checks"] == {"database": "ok", "topology": "compiling", "data_version": None, "heat": "warming"}
        r = httpx.get(base + "/api/v1/trace/customer/X/upstream", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 503 and "compiled" in r.json()["detail"]
        gate.set()
        deadline = time.monotonic() + 30
        while (r := httpx.get(base + "/ready")).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert r.json()["checks"] == {"database": "ok", "topology": "ok", "data_version": 1, "heat": "ok"}
    finally:
        gate.set()
        server.should_exit = True
        thread.join(10)


def test_ready_waits_for_the_first_heat_warm_up(city_store_url, monkeypatch):
    """With GRIDATLAS_HEAT_PREWARM a worker is not ready until the first data version's heat cubes are in
    memory (at 10M contacts a cold worker's first heat views waited 30-60 s), even with the grid compiled;
    a warm-up that fails still lets it take traffic (the first heat request builds the cubes)."""
    import interactions.heat as heat_mod

    for fail in (False, True):
        gate = threading.Event()
        real = heat_mod.RollupCubes.get

        def gated(self, conn, by, res, real=real, gate=gate, fail=fail):
            assert gate.wait(30)
            if fail:
                raise RuntimeError("the store went away")
            return real(self, conn, by, res)

        monkeypatch.setattr(heat_mod.RollupCubes, "get", gated)
        base, server, thread = _start(create_app(Settings(database_url=city_store_url, reload_interval_s=0)))
        try:
            deadline = time.monotonic() + 30
            while (r := httpx.get(base + "/ready")).json()["checks"]["topology"] != "ok":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert r.status_code == 503
            assert r.json()["checks"] == {"database": "ok", "topology": "ok", "data_version": 1, "heat": "warming"}
            gate.set()
            while (r := httpx.get(base + "/ready")).status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert r.json()["checks"]["heat"] == "ok"
        finally:
            gate.set()
            server.should_exit = True
            thread.join(10)
        monkeypatch.setattr(heat_mod.RollupCubes, "get", real)


def test_ready_is_503_when_the_store_is_unreachable(pg_cluster):
    """PostGIS (the server store): the database goes away under a running server. (A SQLite
    store is a local file the process holds open; it has no "unreachable" state to test.)"""
    name = pg_cluster.create(f"{pg_cluster.prefix}{uuid.uuid4().hex[:10]}", template=pg_cluster.template("city"))
    url = pg_cluster.url(name)
    server = serve(url)
    base = next(server)
    try:
        assert httpx.get(base + "/ready").status_code == 200
        pg_cluster.drop(name)
        r = httpx.get(base + "/ready")
        assert r.status_code == 503
        assert r.json()["checks"]["database"].startswith("unreachable")
        assert httpx.get(base + "/health").status_code == 200
    finally:
        server.close()
        pg_cluster.drop(name)
        pg_cluster.created.remove(name)


def test_json_formatter_and_query_allow_list():
    stream = io.StringIO()
    configure_logging(fmt="json", level="INFO", stream=stream)
    try:
        logging.getLogger("gridatlas.access").info("GET /x 200", extra={"access": {"status": 200, "key": "abcd1234"}})
        logging.getLogger("gridatlas.api").warning("plain message")
    finally:
        configure_logging()
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["status"] == 200 and first["key"] == "abcd1234" and first["logger"] == "gridatlas.access"
    assert second["level"] == "WARNING" and second["message"] == "plain message" and "time" in second
    assert not {"q", "phone", "name", "address", "account_no", "token", "key"} & LOGGED_QUERY_PARAMS
    assert isinstance(JsonFormatter(), logging.Formatter)


@pytest.fixture
def postgis_city_url(pg_cluster):
    name = pg_cluster.create(f"{pg_cluster.prefix}{uuid.uuid4().hex[:10]}", template=pg_cluster.template("city"))
    yield pg_cluster.url(name)
    pg_cluster.drop(name)
    pg_cluster.created.remove(name)


def test_serve_with_two_workers_over_postgis(postgis_city_url, tmp_path):
    """A real ``gridatlas serve --workers 2`` process: both workers answer, every setting
    (the --database-url option and GRIDATLAS_* variables) reaches them, each request is one
    JSON log line without the token or personal query data, and SIGINT stops it cleanly."""
    token = keys_for(postgis_city_url)["dispatcher"]
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRIDATLAS_MAX_PAGE_SIZE": "7", "GRIDATLAS_DEFAULT_PAGE_SIZE": "5",
           "GRIDATLAS_RATE_LIMIT_PER_S": "0"}
    env.pop("GRIDATLAS_DATABASE_URL", None)
    log_path = tmp_path / "serve.log"  # a file, not a pipe: a full pipe would block the server
    log_file = log_path.open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "serve", "--workers", "2", "--port", str(port),
         "--database-url", postgis_city_url],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_file,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        ready = 0
        while ready < 10:  # several successes in a row: both workers are up
            assert proc.poll() is None, log_path.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the server never became ready"
            try:
                ready = ready + 1 if httpx.get(base + "/ready", timeout=2).status_code == 200 else 0
            except httpx.HTTPError:
                ready = 0
            time.sleep(0.1)
        auth = {"Authorization": f"Bearer {token}"}

        def call(i: int) -> tuple[int, str, int]:
            # a new connection per request, so the kernel spreads them over both workers
            r = httpx.get(base + "/api/v1/layers/customers", params={"offset": i},
                          headers={**auth, "Connection": "close"}, timeout=30)
            return r.status_code, r.headers["x-gridatlas-worker"], len(r.json()["features"])

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(call, range(120)))
        assert {status for status, _, _ in results} == {200}
        assert {n for _, _, n in results} == {5}  # GRIDATLAS_DEFAULT_PAGE_SIZE reached every worker
        workers = {pid for _, pid, _ in results}
        assert len(workers) >= 2, workers
        r = httpx.get(base + "/api/v1/layers/customers", params={"limit": 8}, headers=auth)
        assert r.status_code == 422 and r.json()["field"] == "limit"  # GRIDATLAS_MAX_PAGE_SIZE too
        # a query carrying personal data (a caller's number, a name): answered, never logged
        account = _first_account()
        for q in ("13800138000", "张三"):
            r = httpx.get(base + f"/api/v1/customers/{account}/fields", params={"q": q}, headers=auth)
            assert r.status_code == 200, r.text
    finally:
        stop_server(proc)
        log_file.close()
    stderr = log_path.read_text(encoding="utf-8")
    assert proc.returncode == 0, stderr[-2000:]
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "gridatlas.access" and line["path"] == "/api/v1/layers/customers"]
    assert len(access) == 121
    assert {line["worker"] for line in access} == {int(pid) for pid in workers}
    sample = access[0]
    assert set(sample) >= {"time", "method", "path", "route", "status", "duration_ms", "key", "data_version", "query"}
    assert sample["route"] == "/api/v1/layers/{layer}" and sample["data_version"] == 1
    assert sample["key"] == token.split("_")[1] and sample["role"] == "dispatcher"
    assert set(sample["query"]) == {"offset"}
    assert token not in stderr and "13800138000" not in stderr and "张三" not in stderr


def _first_account() -> str:
    import csv

    from tests.conftest import SAMPLE_DIR

    with (SAMPLE_DIR / "customers.csv").open(encoding="utf-8", newline="") as fh:
        return next(csv.DictReader(fh))["account_no"]


def test_a_restarted_app_warms_its_heat_again(city_store_url):
    """One app started twice (its lifespan run again, as an ASGI test client or a server reload does): the
    second start has new, empty heat cubes, warms them again and becomes ready (it used to keep the first
    start's "warmed" mark: no warm-up, and with /ready waiting for it, never ready)."""
    from fastapi.testclient import TestClient

    app = create_app(Settings(database_url=city_store_url, reload_interval_s=0, rate_limit_per_s=0,
                              outbox_worker_in_serve=False))
    for _ in range(2):
        with TestClient(app) as client:
            deadline = time.monotonic() + 30
            while client.get("/ready").status_code != 200:
                assert time.monotonic() < deadline, client.get("/ready").json()
                time.sleep(0.05)
            assert ("transformer", None) in app.state.heat_cubes._cubes
