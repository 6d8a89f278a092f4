"""Benchmark of the city import (bulk loads) on PostGIS and SQLite against geopandas.to_postgis.

    python bench/load_bench.py --customers 100000 --repeat 3
    python bench/load_bench.py --customers 1000000 --repeat 3 --json /tmp/load-1m.json

Generates the sample city once (``loaders.sample_city.generate_city``, seed 7) into a cache
folder (``--cache`` or ``GRIDATLAS_BENCH_DIR``, default /tmp/gridatlas-bench; ``--city DIR``
uses a folder as is), then measures in ONE run, interleaved, each ``--repeat`` times:

* ``postgis`` — :func:`loaders.city.import_city` (what ``gridatlas import city`` runs) into a
  fresh, migrated PostGIS database: read GPKG + CSVs, validate, write every table through
  :func:`gis.bulk.bulk_upsert` in one transaction, commit;
* ``sqlite`` — the same into a fresh SQLite file;
* ``to_postgis`` — the baseline: the same validated tables (:func:`loaders.city.read_city`)
  written with ``GeoDataFrame.to_postgis(if_exists="append")`` (``DataFrame.to_sql`` for the
  table without geometry) into a fresh migrated database, in one transaction.

Each mode is split into read+validate (until the first write) and write (to commit), and
reports CPU seconds of the client and of its PostgreSQL backends (a figure the load of a
shared machine does not inflate). Prints a table with median and range, the ratios
baseline/ours, and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from gis.db import make_engine, migrate  # noqa: E402
from gis.store import table_counts  # noqa: E402
from loaders.city import InteractionSlices, import_city, read_city  # noqa: E402

MODES = ("postgis", "sqlite", "to_postgis")
SEED = 7


def _label(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def city_dir(args: argparse.Namespace) -> Path:
    """The cached city folder, generated on first use."""
    if args.city:
        return Path(args.city)
    directory = Path(args.cache) / f"city-{_label(args.customers)}"
    if not (directory / "manifest.json").is_file():
        from loaders.sample_city import generate_city

        print(f"generating a {args.customers}-customer city into {directory} (once) …", file=sys.stderr)
        t = time.perf_counter()
        generate_city(directory, customers=args.customers, seed=SEED)
        print(f"  {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return directory


class _Split:
    """A progress callback that notes when the first write starts."""

    def __init__(self) -> None:
        self.first_write: float | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.first_write is None and stage.startswith("write "):
            self.first_write = time.perf_counter()


class _PgDatabases:
    def __init__(self, admin_url: str) -> None:
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.base = make_url(admin_url)

    def fresh(self) -> tuple[str, str]:
        name = f"ga_loadbench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return name, self.base.set(database=name).render_as_string(hide_password=False)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class _Cpu:
    """CPU seconds of this process (and its finished child processes) plus the PostgreSQL backends serving ``database``.

    A load-independent figure on a shared machine: on an idle 2-core box the wall time of a
    load lies between max(client, server) and their sum. Backends are read from /proc (the
    server is local); parallel index-build workers are not counted (a slight undercount).
    """

    def __init__(self, pg: "_PgDatabases | None", database: str | None) -> None:
        self.pg, self.database = pg, database
        self.client0 = self._client()

    @staticmethod
    def _client() -> float:
        t = os.times()  # with the finished children: the worker building the search rows
        return t.user + t.system + t.children_user + t.children_system

    def server(self) -> float:
        if self.pg is None:
            return 0.0
        with self.pg.admin.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": self.database}).scalars().all()
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        return total

    def start(self) -> None:
        self.client0 = self._client()
        self.server0 = self.server()

    def stop(self) -> dict:
        return {"cpu_client_s": self._client() - self.client0, "cpu_server_s": self.server() - self.server0}


def _timed_import(url: str, directory: Path, area, cpu: _Cpu) -> dict:
    engine = make_engine(url)
    try:
        migrate(engine)  # a fresh store: schema first, not timed
        engine.dispose()  # backends opened by the migration are not the load's
        split = _Split()
        cpu.start()
        t0 = time.perf_counter()
        result = import_city(engine, directory, service_area=area, progress=split)
        t1 = time.perf_counter()
        used = cpu.stop()  # before dispose: the pool's backends are still there to be read
        assert not result.unchanged
        with engine.connect() as conn:
            counts = table_counts(conn, list(result.counts))
        assert counts == result.counts, (counts, result.counts)
    finally:
        engine.dispose()
    first = split.first_write or t1
    return {"total_s": t1 - t0, "read_validate_s": first - t0, "write_s": t1 - first, "rows": sum(counts.values()), **used}


def _timed_to_postgis(url: str, directory: Path, area, cpu: _Cpu) -> dict:
    import geopandas as gpd

    engine = make_engine(url)
    try:
        migrate(engine)
        engine.dispose()
        cpu.start()
        t0 = time.perf_counter()
        tables = read_city(directory, service_area=area)
        t1 = time.perf_counter()
        with engine.begin() as conn:
            for name, table in tables.items():
                # more than 1M interactions come as slices (loaders.city.InteractionSlices)
                for df in (table if isinstance(table, InteractionSlices) else [table]):
                    if "geom" in df:
                        gdf = gpd.GeoDataFrame(df, geometry="geom", crs="EPSG:4326")
                        gdf.to_postgis(name, conn, if_exists="append", index=False)
                    else:
                        df.to_sql(name, conn, if_exists="append", index=False)
        t2 = time.perf_counter()
        used = cpu.stop()
        with engine.connect() as conn:
            rows = sum(table_counts(conn, list(tables)).values())
    finally:
        engine.dispose()
    return {"total_s": t2 - t0, "read_validate_s": t1 - t0, "write_s": t2 - t1, "rows": rows, **used}


def _summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run(args: argparse.Namespace) -> dict:
    directory = city_dir(args)
    manifest = json.loads((directory / "manifest.json").read_text())
    area = tuple(manifest["service_area"])
    pg = _PgDatabases(args.pg_admin_url)
    modes = [m for m in MODES if m in args.modes]
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="gridatlas-loadbench-") as tmp:
        for r in range(args.repeat):
            for mode in modes:  # interleaved, so a change of machine load hits every mode alike
                load = os.getloadavg()[0]
                if mode == "sqlite":
                    path = Path(tmp) / f"run{r}.sqlite"
                    res = _timed_import(f"sqlite:///{path}", directory, area, _Cpu(None, None))
                    for p in Path(tmp).glob(f"run{r}.sqlite*"):
                        p.unlink()
                else:
                    name, url = pg.fresh()
                    try:
                        fn = _timed_import if mode == "postgis" else _timed_to_postgis
                        res = fn(url, directory, area, _Cpu(pg, name))
                    finally:
                        pg.drop(name)
                res["loadavg_1m_before"] = load
                runs[mode].append(res)
                print(f"run {r + 1}/{args.repeat} {mode:<10} total {res['total_s']:7.2f} s  "
                      f"(read+validate {res['read_validate_s']:6.2f}, write {res['write_s']:6.2f})  load {load:.1f}",
                      file=sys.stderr)
    out: dict = {
        "city": str(directory),
        "counts": manifest["counts"],
        "customers": manifest["counts"]["customers"],
        "repeat": args.repeat,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "results": {},
        "runs": runs,
    }
    for mode, rs in runs.items():
        out["results"][mode] = {
            k: _summary([x[k] for x in rs]) for k in ("total_s", "read_validate_s", "write_s", "cpu_client_s", "cpu_server_s")
        }
        out["results"][mode]["rows"] = rs[0]["rows"]
    res = out["results"]
    if "to_postgis" in res and "postgis" in res:
        out["ratio_to_postgis_over_ours"] = {
            k: res["to_postgis"][k]["median"] / res["postgis"][k]["median"] for k in ("total_s", "write_s")
        }
    return out


def print_table(out: dict) -> None:
    res = out["results"]
    print(f"\ncity: {out['customers']:,} customers, {sum(out['counts'].values()):,} rows in all; "
          f"{out['repeat']} runs each; {out['machine']['cpus']} CPUs")
    print(f"{'mode':<12}{'total s (median, range)':>28}{'read+validate s':>26}{'write s':>26}{'CPU s client+server':>22}")
    for mode, r in res.items():
        cells = [f"{r[k]['median']:7.2f} ({r[k]['min']:.2f}–{r[k]['max']:.2f})" for k in ("total_s", "read_validate_s", "write_s")]
        cpu = f"{r['cpu_client_s']['median']:.1f} + {r['cpu_server_s']['median']:.1f}"
        print(f"{mode:<12}{cells[0]:>28}{cells[1]:>26}{cells[2]:>26}{cpu:>22}")
    if "ratio_to_postgis_over_ours" in out:
        ratio = out["ratio_to_postgis_over_ours"]
        print(f"to_postgis / ours (PostGIS): total {ratio['total_s']:.2f}x, write {ratio['write_s']:.2f}x")
    loads = [x["loadavg_1m_before"] for rs in out["runs"].values() for x in rs]
    print(f"1-min load average before the runs: {min(loads):.1f}–{max(loads):.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--city", help="use this city folder as is (no generation)")
    parser.add_argument("--cache", default=os.environ.get("GRIDATLAS_BENCH_DIR", "/tmp/gridatlas-bench"))
    parser.add_argument("--pg-admin-url", default=os.environ.get(
        "GRIDATLAS_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    out = run(args)
    print_table(out)
    text_out = json.dumps(out, indent=2)
    if args.json:
        Path(args.json).write_text(text_out)
    else:
        print(text_out)


if __name__ == "__main__":
    main()
