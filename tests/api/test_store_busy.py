"""A SQLite store locked by another writer: requests wait a bounded time, then 503 with Retry-After."""

from __future__ import annotations

import shutil
import sqlite3
import time

import httpx

from api.settings import Settings
from tests.api.conftest import serve


def test_a_locked_sqlite_store_is_a_503_with_retry_after(tmp_path, sqlite_templates):
    # SQLite only: PostgreSQL writers wait on row locks, there is no store-wide write lock to hit.
    path = tmp_path / "store.sqlite"
    shutil.copyfile(sqlite_templates["city"], path)
    url = f"sqlite:///{path}"
    server = serve(url, Settings(database_url=url, sqlite_busy_timeout_s=0.5))
    base = next(server)
    plan = {"title": "locked", "steps": [{"action": "open", "element": "SW000030"}]}
    try:
        with httpx.Client(base_url=base, headers=base.headers("planner"), timeout=30) as planner:
            assert planner.post("/api/v1/plans", json=plan).status_code == 201  # connections warmed up
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another process's import holds the write lock
            try:
                started = time.monotonic()
                r = planner.post("/api/v1/plans", json=plan)
                waited = time.monotonic() - started
            finally:
                other.execute("ROLLBACK")
                other.close()
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["detail"]
            assert 0.4 <= waited < 20  # it waited for the lock (bounded), then gave up
            assert planner.post("/api/v1/plans", json=plan).status_code == 201  # and serves once the lock is gone
    finally:
        server.close()
