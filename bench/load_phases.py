"""Where a city import spends its time: one ``import_city`` with every slow step timed.

    python bench/load_phases.py --city /tmp/gridatlas-bench/city-1m --store postgis
    python bench/load_phases.py --city /tmp/gridatlas-bench/city-1m --store sqlite

Runs :func:`loaders.city.import_city` once into a fresh migrated store and prints, in
order, the Python phases (read+validate, each table's ``bulk_upsert``, the search rows'
build, the reindex, the commit) and every database statement, COPY or ``executemany``
that took longer than ``--min`` seconds (timed on the driver's cursor, so statements sent
on the raw connection are seen too). Wall seconds; client CPU seconds at the end.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import gis.search.reindex as reindex  # noqa: E402
import gis.search.side_build as side_build  # noqa: E402
import loaders.city as city  # noqa: E402
from gis.db import make_engine, migrate  # noqa: E402

_T0 = [0.0]
_LOG: list[tuple[float, float, str, str]] = []  # (start since t0, seconds, kind, what)
_MIN = [0.2]


def _note(kind: str, what: str, start: float) -> None:
    took = time.perf_counter() - start
    if took >= _MIN[0] or kind == "phase":
        side = threading.current_thread() is not threading.main_thread()
        _LOG.append((start - _T0[0], took, kind, ("[side] " if side else "") + " ".join(what.split())[:110]))


class _PgCursor(psycopg.Cursor):
    def execute(self, query, params=None, **kw):
        t = time.perf_counter()
        try:
            return super().execute(query, params, **kw)
        finally:
            _note("sql", str(query) if not isinstance(query, bytes) else query.decode(), t)

    def copy(self, statement, params=None, **kw):
        cm = super().copy(statement, params, **kw)
        outer = self

        class _Timed:
            def __enter__(self):
                self.t = time.perf_counter()
                return cm.__enter__()

            def __exit__(self, *exc):
                try:
                    return cm.__exit__(*exc)
                finally:
                    _note("copy", str(statement), self.t)

        del outer
        return _Timed()


class _SqliteCursor(sqlite3.Cursor):
    def execute(self, sql, params=()):
        t = time.perf_counter()
        try:
            return super().execute(sql, params)
        finally:
            _note("sql", sql, t)

    def executemany(self, sql, rows):
        t = time.perf_counter()
        try:
            return super().executemany(sql, rows)
        finally:
            _note("many", sql, t)


class _SqliteConnection(sqlite3.Connection):
    def cursor(self, factory=_SqliteCursor):
        return super().cursor(factory)

    def execute(self, sql, params=()):
        return self.cursor().execute(sql, params)

    def executemany(self, sql, rows):
        return self.cursor().executemany(sql, rows)


def _phase(module, name: str, label=None) -> None:
    fn = getattr(module, name)

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            what = label(*args) if label else name
            _note("phase", what, t)

    setattr(module, name, timed)


def _instrument(engine, sqlite: bool) -> None:
    @event.listens_for(engine, "do_connect")
    def _factory(_dialect, _rec, _cargs, cparams):
        if sqlite:
            cparams["factory"] = _SqliteConnection
        else:
            cparams["cursor_factory"] = _PgCursor

    @event.listens_for(engine, "commit")
    def _commit(conn):
        _LOG.append((time.perf_counter() - _T0[0], 0.0, "mark", "commit starts"))

    _phase(city, "read_city")
    _phase(city, "bulk_upsert", lambda _c, table, *a: f"bulk_upsert {table}")
    _phase(city, "reindex_customers")
    _phase(reindex, "search_rows")
    _phase(reindex, "write_rows")
    _phase(side_build, "write_table", lambda _c, table, *a, **k: f"write_table {table}")
    _phase(side_build.SideBuild, "swap_in")
    _phase(side_build.SideBuild, "_build", lambda _s, _c, table: f"_build {table}")
    _phase(reindex, "_rebuild_indexes")
    _phase(reindex, "_drop_indexes")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--city", required=True)
    parser.add_argument("--store", choices=("postgis", "sqlite"), required=True)
    parser.add_argument("--min", type=float, default=0.2, help="report statements at least this long (s)")
    parser.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--json", help="also write the log here")
    args = parser.parse_args(argv)
    _MIN[0] = args.min
    directory = Path(args.city)
    area = tuple(json.loads((directory / "manifest.json").read_text())["service_area"])
    admin = create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
    with tempfile.TemporaryDirectory(prefix="gridatlas-phases-") as tmp:
        if args.store == "sqlite":
            url, name = f"sqlite:///{tmp}/phases.sqlite", None
        else:
            name = f"ga_phases_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(args.pg_admin_url).set(database=name).render_as_string(hide_password=False)
        try:
            engine = make_engine(url)
            migrate(engine)
            engine.dispose()
            _instrument(engine, args.store == "sqlite")
            cpu0 = sum(os.times()[:4])  # with child processes (the search rows' worker)
            _T0[0] = t0 = time.perf_counter()
            city.import_city(engine, directory, service_area=area)
            total = time.perf_counter() - t0
            cpu = sum(os.times()[:4]) - cpu0
            engine.dispose()
        finally:
            if name:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    for start, took, kind, what in sorted(_LOG):
        print(f"{start:8.2f} {took:8.2f}  {kind:<5} {what}")
    print(f"total {total:.2f} s wall, {cpu:.1f} s client CPU ({args.store})")
    if args.json:
        Path(args.json).write_text(json.dumps({"total_s": total, "cpu_client_s": cpu, "log": sorted(_LOG)}, indent=1))


if __name__ == "__main__":
    main()
