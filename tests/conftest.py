"""Shared fixtures: every store test runs on SQLite and on PostGIS.

PostGIS: a template database is migrated (and another loaded with the sample city) once
per session; each test gets its own database cloned from it, dropped afterwards. When
PostgreSQL/PostGIS cannot be reached the PostGIS cases are skipped on a developer's
machine but FAIL when ``CI=true`` or ``GRIDATLAS_REQUIRE_POSTGIS=1`` (as geoalchemy2's
own suite does), so CI can never pass with a silently missing backend.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from gis.db import make_engine, migrate

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "data" / "samples" / "foshan"
SERVICE_AREA = (112.5, 22.5, 113.6, 23.6)
PG_ADMIN_URL = os.environ.get("GRIDATLAS_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
STORES = ("sqlite", "postgis")


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def required_here(what: str) -> bool:
    """The one "required on CI" flag parser: ``CI`` or ``GRIDATLAS_REQUIRE_<WHAT>`` set to 1/true/yes
    makes a missing PostGIS, browser or pandapower a failure instead of a skip."""
    return _truthy("CI") or _truthy(f"GRIDATLAS_REQUIRE_{what.upper()}")


def require_postgis() -> bool:
    return required_here("postgis")


def _unavailable(reason: str) -> None:
    if require_postgis():
        pytest.fail(f"PostGIS is required here (CI/GRIDATLAS_REQUIRE_POSTGIS) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"PostGIS unavailable: {reason} (install postgresql-15-postgis-3; see README)")


class _PgCluster:
    """Creates and drops per-test databases cloned from migrated templates."""

    def __init__(self) -> None:
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.prefix = f"gridatlas_t{os.getpid()}_"
        self.templates: dict[str, str] = {}
        self.created: list[str] = []

    def url(self, db: str) -> str:
        return make_url(PG_ADMIN_URL).set(database=db).render_as_string(hide_password=False)

    def create(self, name: str, template: str | None = None) -> str:
        clause = f" TEMPLATE {template}" if template else ""
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def template(self, kind: str) -> str:
        if kind not in self.templates:
            name = self.create(self.prefix + "tpl_" + kind)
            engine = make_engine(self.url(name))
            try:
                migrate(engine)
                if kind == "city":
                    from loaders.city import import_city

                    import_city(engine, SAMPLE_DIR, service_area=SERVICE_AREA)
            finally:
                engine.dispose()
            self.templates[kind] = name
        return self.templates[kind]

    def close(self) -> None:
        for name in reversed(self.created):
            self.drop(name)
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[_PgCluster]:
    cluster = _PgCluster()
    try:
        with cluster.admin.connect() as conn:
            conn.execute(text("SELECT 1"))
            available = conn.execute(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")).scalar()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "unavailable"
        cluster.admin.dispose()
        _unavailable(f"cannot connect to {PG_ADMIN_URL}: {type(exc).__name__}: {exc}")
    if not available:
        cluster.admin.dispose()
        _unavailable("the postgis extension is not installed in this PostgreSQL")
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sqlite_templates")
    out = {}
    for kind in ("empty", "city"):
        path = base / f"{kind}.sqlite"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        if kind == "city":
            from loaders.city import import_city

            import_city(engine, SAMPLE_DIR, service_area=SERVICE_AREA)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        out[kind] = path
    return out


def _store(request, kind: str, tmp_path: Path) -> Iterator[str]:
    backend = request.param
    if backend == "sqlite":
        path = tmp_path / "store.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_templates")[kind], path)
        yield f"sqlite:///{path}"
        return
    cluster: _PgCluster = request.getfixturevalue("pg_cluster")
    name = cluster.create(f"{cluster.prefix}{uuid.uuid4().hex[:10]}", template=cluster.template(kind))
    try:
        yield cluster.url(name)
    finally:
        cluster.drop(name)
        cluster.created.remove(name)


@pytest.fixture(params=STORES)
def empty_store_url(request, tmp_path) -> Iterator[str]:
    """URL of a migrated, empty store (a fresh one per test) on each backend."""
    yield from _store(request, "empty", tmp_path)


@pytest.fixture(params=STORES)
def city_store_url(request, tmp_path) -> Iterator[str]:
    """URL of a fresh store holding the committed sample city, on each backend."""
    yield from _store(request, "city", tmp_path)


@pytest.fixture
def empty_store(empty_store_url) -> Iterator[Engine]:
    engine = make_engine(empty_store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def city_store(city_store_url) -> Iterator[Engine]:
    engine = make_engine(city_store_url)
    yield engine
    engine.dispose()
