"""Benchmark of interaction heat, hotspots and bulk ingest at 1M customers, on both stores.

    python bench/heat_bench.py --sqlite /work/bench-data/city-1m.sqlite --pg-template ga_bench_1m
    python bench/heat_bench.py --sqlite … --skip-pg --repeat 30 --ingest 100000 --http

The stores are COPIES (a file copy of the SQLite store, ``CREATE DATABASE … TEMPLATE`` on
PostgreSQL) so the shared data stays read-only; they are migrated (0007) and their
interactions placed and rolled up once (timed: that is ``gridatlas interactions
rebuild-rollups --place``). Then, per store, medians and ranges (ms) of:

"ours" is the API's path (the rollups in memory, :class:`interactions.heat.RollupCubes`, read
once (``first_ms_reads_rollups``) and then following each ingest's changed rows); ``sql_over_rollups`` the same
heat from a GROUP BY over the rollup tables (what the CLI does).

| key | what | baseline in the same run |
|---|---|---|
| `city_cell` | heat by H3 cell at zoom 11 (res 7) over the whole city, one year | GROUP BY of the raw table over the cell bits, time range on ``occurred_at`` |
| `city_transformer` / `city_feeder` | heat per 台区 / feeder, one year | GROUP BY transformer_id / feeder_id of the raw table |
| `complaints_3m` | 台区 heat of 投诉 over 3 months | GROUP BY with ``kind = '投诉'`` |
| `district_z14` | heat by cell at zoom 14 (res 9) in a 0.06°×0.04° view | — |
| `hotspots_transformer` | Gi* at 台区 level over the city, one year (heat included; first run builds the weights) | — |
| `hotspots_cell_res8` | Gi* over the city's res-8 cells, one year | — |
| `cubes` | full reads of the rollups into memory, their size and dense layers (30, 5, or 0 = sparse only) | — |
| `follow_ingest` | after an ingest of 1,000 contacts: the next 台区 query (it applies the changed rollup rows) | — |
| `ingest` | interactions/s through :func:`interactions.ingest.ingest` with rollups, new ids, then the same again (unchanged) | — |

``--http`` also serves each store with ``gridatlas serve`` in its own process and times
``GET /api/v1/heat`` over one keep-alive connection. Prints JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.state import heat_areas  # noqa: E402
from gis.db import make_engine, migrate  # noqa: E402
from gis.interaction_rollups import _parent_terms, place_stored, rebuild_rollups  # noqa: E402
from gis.spatial_index import build_spatial_index  # noqa: E402
from gis.store import read_assets, snapshot_connection  # noqa: E402
from interactions.heat import BY, HeatQuery, RollupCubes, heat  # noqa: E402
from interactions.hotspots import hotspots  # noqa: E402
from interactions.ingest import ingest  # noqa: E402

AREA = (112.5, 22.5, 113.6, 23.6)
YEAR = (dt.date(2025, 11, 1), dt.date(2026, 10, 31))
Q3M = (dt.date(2026, 8, 1), dt.date(2026, 10, 31))
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _stats(samples: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(samples), 2), "min_ms": round(min(samples), 2),
            "max_ms": round(max(samples), 2), "n": len(samples)}


def _time(fn, repeat: int) -> dict[str, float]:
    fn()  # warm
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return _stats(out)


def _prepare(url: str) -> dict[str, float]:
    engine = make_engine(url)
    t0 = time.perf_counter()
    migrate(engine)
    out = {"migrate_s": round(time.perf_counter() - t0, 1)}
    with engine.connect() as conn:
        placed = conn.exec_driver_sql("SELECT count(*) FROM interactions WHERE day IS NOT NULL").scalar_one()
    if not placed:
        t0 = time.perf_counter()
        with engine.begin() as conn:
            n = place_stored(conn)
            t1 = time.perf_counter()
            rebuild_rollups(conn)
        out.update(place_s=round(t1 - t0, 1), rollups_s=round(time.perf_counter() - t1, 1), interactions=n)
    engine.dispose()
    return out


def _areas(engine):
    t0 = time.perf_counter()
    with snapshot_connection(engine) as conn:
        tables = read_assets(conn)
    t1 = time.perf_counter()
    spatial = build_spatial_index(tables)
    t2 = time.perf_counter()
    areas = heat_areas(tables, spatial)
    t3 = time.perf_counter()
    c = tables["customers"]
    return areas, c, {"read_s": round(t1 - t0, 1), "spatial_index_s": round(t2 - t1, 1), "heat_areas_s": round(t3 - t2, 1)}


def _raw_group_by(conn, column_sql: str, d0: dt.date, d1: dt.date, kind: str | None = None):
    t0 = dt.datetime.combine(d0, dt.time(), tzinfo=dt.timezone(dt.timedelta(hours=8))).astimezone(dt.timezone.utc)
    t1 = dt.datetime.combine(d1 + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone(dt.timedelta(hours=8))).astimezone(dt.timezone.utc)
    if conn.dialect.name == "sqlite":  # stored as UTC text
        t0, t1 = t0.strftime("%Y-%m-%d %H:%M:%S"), t1.strftime("%Y-%m-%d %H:%M:%S")
    from sqlalchemy import text

    where = "occurred_at >= :t0 AND occurred_at < :t1" + (" AND kind = :k" if kind else "")
    return conn.execute(text(f"SELECT {column_sql} AS area, count(*) FROM interactions WHERE {where} AND {column_sql} IS NOT NULL "
                             "GROUP BY 1"), {"t0": t0, "t1": t1, "k": kind}).all()


def _records(customers, n: int, seed: int = 5) -> list[dict]:
    rng = np.random.default_rng(seed)
    acct = customers["account_no"].to_numpy(object)
    phones = customers["phone"].to_numpy(object) if "phone" in customers else None
    channels = ["95598电话", "微信", "微博", "掌上电力", "网上国网", "营业厅"]
    kinds = ["咨询", "投诉", "报修", "意见", "表扬"]
    base = dt.datetime(2027, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    out = []
    for i in range(n):
        r = {"id": f"BENCH{seed}-{i:08d}", "channel": channels[i % 6], "kind": kinds[(i * 7) % 5],
             "occurred_at": (base + dt.timedelta(seconds=int(rng.integers(0, 365 * 86400)))).isoformat(), "text": "停电了"}
        u = rng.random()
        if u < 0.85:
            r["account_no"] = acct[rng.integers(len(acct))]
        elif u < 0.95 and phones is not None:
            r["caller_phone"] = phones[rng.integers(len(phones))]
        else:
            r["caller_phone"] = f"139{rng.integers(10**8):08d}"
            r["lon"], r["lat"] = float(rng.uniform(112.9, 113.3)), float(rng.uniform(22.8, 23.2))
        out.append(r)
    return out


def _rss_mb() -> float:
    """This process's resident memory (MB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def bench_cold(engine, areas, city: tuple[float, float, float, float], compare: bool = True) -> tuple[dict, RollupCubes]:
    """First use of the rollup in a process: the one read of its rows into an in-memory cube, beside
    each view summed in SQL (``read_rollups``: a GROUP BY over the table, what the cubes sum in
    memory), then every cube warmed on a fresh set (what GRIDATLAS_HEAT_PREWARM does) and the first
    heat and cell-hotspot query of a resolution; the RSS with every cube warm."""
    from gis.interaction_rollups import read_rollup_rows, read_rollups
    from interactions.heat import RollupCube

    out: dict = {"rss_mb_before_cubes": _rss_mb()}
    with engine.connect() as conn:
        if compare:
            t0 = time.perf_counter()
            rows = read_rollup_rows(conn)
            out["rows_read_ms"] = round((time.perf_counter() - t0) * 1000)
            out["rows"] = len(rows["n"])
            del rows
            for by, res in (("cell", 9), ("transformer", None), ("feeder", None)):
                label = f"{by}{res or ''}"
                t0 = time.perf_counter()
                view = RollupCube.from_rows(by, read_rollups(conn, by, res))
                out[label] = {"rows": len(view.key), "group_by_read_ms": round((time.perf_counter() - t0) * 1000),
                              "layers": view.layers}
                del view
                print("cold", label, out[label], file=sys.stderr, flush=True)
        fresh = RollupCubes()
        warm: dict = {}
        t_all = time.perf_counter()
        for by, res in (("transformer", None), ("feeder", None), ("cell", 9), ("cell", 8), ("cell", 7), ("cell", 6)):
            t0 = time.perf_counter()
            fresh.get(conn, by, res)  # what GRIDATLAS_HEAT_PREWARM does at start (the rows read once, the views summed)
            warm[f"{by}{res or ''}"] = round((time.perf_counter() - t0) * 1000)
        warm["total"] = round((time.perf_counter() - t_all) * 1000)
        out["prewarm_ms"] = warm
        print("cold prewarm", warm, file=sys.stderr, flush=True)
        for zoom in (9, 11, 13, 15):
            q = HeatQuery("cell", *YEAR, bbox=city, zoom=zoom)
            t0 = time.perf_counter()
            heat(conn, areas, q, fresh)
            t1 = time.perf_counter()
            body = hotspots(heat(conn, areas, q, fresh), areas)
            t2 = time.perf_counter()
            out[f"first_cell_z{zoom}_after_prewarm"] = {"res": q.resolution, "heat_ms": round((t1 - t0) * 1000),
                                          "hotspots_ms": round((t2 - t1) * 1000), "hot": body["hot"]}
            print("cold", zoom, out[f"first_cell_z{zoom}_after_prewarm"], file=sys.stderr, flush=True)
        for by in ("transformer", "feeder"):
            t0 = time.perf_counter()
            heat(conn, areas, HeatQuery(by, *YEAR), fresh)
            out[f"first_{by}_ms_after_prewarm"] = round((time.perf_counter() - t0) * 1000)
        out["cubes_mb"] = round(sum(c.nbytes for _, c in fresh._cubes.values()) / 2**20, 1)
        out["rss_mb_all_cubes_warm"] = _rss_mb()
    return out, fresh


def bench_store(name: str, url: str, repeat: int, n_ingest: int, n_follow: int = 1000, cold: bool | str = False,
                baseline_repeat: int | None = None) -> dict:
    out: dict = {"store": name, "prepare": _prepare(url)}
    engine = make_engine(url)
    areas, customers, build = _areas(engine)
    out["build"] = build
    lon, lat = customers["lon"].to_numpy(float), customers["lat"].to_numpy(float)
    city = (float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)), float(np.nanmax(lat)))
    cx, cy = float(np.nanmedian(lon)), float(np.nanmedian(lat))
    district = (cx - 0.03, cy - 0.02, cx + 0.03, cy + 0.02)
    out["district_bbox"] = district
    keep7, put7 = _parent_terms(7)
    res: dict = {}
    slow = baseline_repeat if baseline_repeat is not None else max(3, repeat // 5)  # the GROUP BYs: seconds each at 10M
    cubes = RollupCubes()
    if cold:
        out["cold"], warm = bench_cold(engine, areas, city, compare=cold != "no-compare")
        if cold == "only":
            engine.dispose()
            return out
        cubes = warm  # the heat suite on the cubes the prewarm built (its first_ms_reads_rollups are then ~0)
    with engine.connect() as conn:
        cases = {
            "city_cell": (HeatQuery("cell", *YEAR, bbox=city, zoom=11), f"((cell & {keep7}) | {put7})", YEAR, None),
            "city_transformer": (HeatQuery("transformer", *YEAR), "transformer_id", YEAR, None),
            "city_feeder": (HeatQuery("feeder", *YEAR), "feeder_id", YEAR, None),
            "complaints_3m": (HeatQuery("transformer", *Q3M, kinds=("投诉",)), "transformer_id", Q3M, "投诉"),
            "district_z14": (HeatQuery("cell", *YEAR, bbox=district, zoom=14), None, None, None),
        }
        for key, (query, column, span, kind) in cases.items():
            t0 = time.perf_counter()
            r = heat(conn, areas, query, cubes)
            first = round((time.perf_counter() - t0) * 1000, 1)
            assert r.areas == heat(conn, areas, query).areas
            entry = {"ours": _time(lambda q=query: heat(conn, areas, q, cubes), repeat), "first_ms_reads_rollups": first,
                     "sql_over_rollups": _time(lambda q=query: heat(conn, areas, q), slow),
                     "areas": len(r.areas), "count": r.totals["count"]}
            if column is not None:
                raw = _raw_group_by(conn, column, *span, kind)
                entry["raw_group_by"] = _time(lambda c=column, s=span, k=kind: _raw_group_by(conn, c, *s, k), slow)
                entry["raw_count"] = int(sum(n for _, n in raw))
                entry["ratio"] = round(entry["raw_group_by"]["median_ms"] / entry["ours"]["median_ms"], 1)
            res[key] = entry
            print(name, key, json.dumps(entry, ensure_ascii=False), file=sys.stderr, flush=True)
        hq = HeatQuery("transformer", *YEAR)
        t0 = time.perf_counter()
        body = hotspots(heat(conn, areas, hq, cubes), areas)
        first = round((time.perf_counter() - t0) * 1000, 1)
        res["hotspots_transformer"] = {"ours": _time(lambda: hotspots(heat(conn, areas, hq, cubes), areas), max(3, repeat // 2)),
                                       "first_ms_builds_weights": first,
                                       "hot": body["hot"], "cold": body["cold"], "areas": body["inputs"]["areas"]}
        cq = HeatQuery("cell", *YEAR, bbox=city, zoom=13)
        body = hotspots(heat(conn, areas, cq, cubes), areas)
        res["hotspots_cell_res8"] = {"ours": _time(lambda: hotspots(heat(conn, areas, cq, cubes), areas), max(3, repeat // 2)),
                                     "hot": body["hot"], "cold": body["cold"], "areas": body["inputs"]["areas"]}
        res["cubes"] = {"full_reads": cubes.stats["full_reads"], "last_full_read_ms": cubes.stats["last_full_read_ms"],
                        "mb": round(sum(c.nbytes for _, c in cubes._cubes.values()) / 2**20, 1),
                        "layers": {f"{k[0]}{k[1] or ''}": c.layers for k, (_, c) in cubes._cubes.items()}}
    out["heat"] = res
    print(name, "heat", json.dumps(res, ensure_ascii=False), file=sys.stderr, flush=True)
    if n_follow:
        # the cubes follow an ingest: the next query applies the rollup rows it changed, not a full read
        follow = _records(customers, n_follow, seed=11)
        ingest(engine, follow, service_area=AREA)
        q = HeatQuery("transformer", *YEAR)
        with engine.connect() as conn:
            t0 = time.perf_counter()
            r = heat(conn, areas, q, cubes)
            first = round((time.perf_counter() - t0) * 1000, 1)
            assert r.areas == heat(conn, areas, q).areas
            for key in list(cubes._cubes):  # bring every view's cube up to date, as queries would
                if key[0] in BY:  # (the cube of the rollup's rows follows with them)
                    cubes.get(conn, *key)
        out["follow_ingest"] = {"records": n_follow, "first_query_ms": first, "updates": cubes.stats["updates"],
                                "rows_applied": cubes.stats["rows_applied"], "last_update_ms": cubes.stats["last_update_ms"],
                                "full_reads": cubes.stats["full_reads"]}
    if n_ingest:
        records = _records(customers, n_ingest)
        t0 = time.perf_counter()
        r1 = ingest(engine, records, service_area=AREA)
        t1 = time.perf_counter()
        r2 = ingest(engine, records, service_area=AREA)
        t2 = time.perf_counter()
        out["ingest"] = {"records": n_ingest, "new_per_s": round(n_ingest / (t1 - t0)), "new_s": round(t1 - t0, 1),
                         "unchanged_per_s": round(n_ingest / (t2 - t1)), "inserted": r1.inserted, "unchanged": r2.unchanged,
                         "matched": r1.matched}
    engine.dispose()
    return out


def _http(url: str, repeat: int, district: tuple[float, float, float, float] | None = None) -> dict:
    from gis.api_keys import create_key

    engine = make_engine(url)
    _, token = create_key(engine, name="heat-bench", role="analyst")
    engine.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRIDATLAS_DATABASE_URL": url, "GRIDATLAS_RATE_LIMIT_PER_S": "0", "GRIDATLAS_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("gridatlas")), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        out = {}
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            cases = {"city_transformer": ("heat", {"by": "transformer"}), "city_cell_z11": ("heat", {"by": "cell", "zoom": 11}),
                     "city_feeder": ("heat", {"by": "feeder"}),
                     "complaints_3m_transformer": ("heat", {"by": "transformer", "kinds": "投诉", "from": Q3M[0].isoformat(),
                                                            "to": Q3M[1].isoformat()}),
                     "hotspots_transformer": ("hotspots", {"by": "transformer"})}
            if district is not None:
                cases["district_z14"] = ("heat", {"by": "cell", "zoom": 14, "bbox": ",".join(f"{v:.6f}" for v in district)})
            for key, (path, params) in cases.items():
                p = {"from": YEAR[0].isoformat(), "to": YEAR[1].isoformat(), **params}
                first = client.get(f"/api/v1/{path}", params=p)
                assert first.status_code == 200, (key, first.text[:300])
                out[key] = {**_time(lambda p=p, path=path: client.get(f"/api/v1/{path}", params=p), repeat),
                            "bytes": len(first.content)}
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sqlite", type=Path, help="a loaded SQLite store (copied, never written)")
    ap.add_argument("--pg-template", help="a loaded PostGIS database to clone with CREATE DATABASE … TEMPLATE")
    ap.add_argument("--pg-url", help="a loaded PostGIS database to read in place (with --ingest 0 --follow 0 nothing is written)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ga_i14_bench"))
    ap.add_argument("--pg-name", default="ga_i14_bench")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--ingest", type=int, default=100_000)
    ap.add_argument("--http", action="store_true")
    ap.add_argument("--cold", action="store_true", help="also time the first use of every rollup (old and new read) and the RSS")
    ap.add_argument("--cold-only", action="store_true", help="only the first-use figures (--cold), not the heat suite")
    ap.add_argument("--no-compare", action="store_true", help="with --cold: skip the per-rollup old/new reads (minutes at 10M)")
    ap.add_argument("--baseline-repeat", type=int, help="timed runs of the GROUP BY baselines (default: max(3, repeat / 5))")
    ap.add_argument("--follow", type=int, default=1000, help="contacts ingested before the follow-the-ingest query (0: none)")
    ap.add_argument("--keep", action="store_true", help="keep the copies for another run")
    args = ap.parse_args()
    report: dict = {"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "load_before": os.getloadavg(),
                    "stores": []}
    args.work.mkdir(parents=True, exist_ok=True)
    if args.sqlite and not args.skip_sqlite:
        copy = args.work / "store.sqlite"
        if not copy.exists():
            shutil.copyfile(args.sqlite, copy)
        url = f"sqlite:///{copy}"
        report["stores"].append(bench_store("sqlite", url, args.repeat, args.ingest, cold="only" if args.cold_only else ("no-compare" if args.cold and args.no_compare else args.cold),
                                               n_follow=args.follow, baseline_repeat=args.baseline_repeat))
        if args.http:
            report["http_sqlite"] = _http(url, args.repeat, report["stores"][-1].get("district_bbox"))
        if not args.keep:
            copy.unlink()
    if args.pg_url and not args.skip_pg:  # in place: nothing is written with --ingest 0 --follow 0 (--http adds an API key)
        report["stores"].append(bench_store("postgis", args.pg_url, args.repeat, args.ingest, cold="only" if args.cold_only else ("no-compare" if args.cold and args.no_compare else args.cold),
                                            n_follow=args.follow, baseline_repeat=args.baseline_repeat))
        if args.http:
            report["http_postgis"] = _http(args.pg_url, args.repeat, report["stores"][-1].get("district_bbox"))
    if args.pg_template and not args.skip_pg:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": args.pg_name}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{args.pg_name}" TEMPLATE "{args.pg_template}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + args.pg_name
        try:
            report["stores"].append(bench_store("postgis", url, args.repeat, args.ingest, cold="only" if args.cold_only else ("no-compare" if args.cold and args.no_compare else args.cold),
                                               n_follow=args.follow, baseline_repeat=args.baseline_repeat))
            if args.http:
                report["http_postgis"] = _http(url, args.repeat, report["stores"][-1].get("district_bbox"))
        finally:
            if not args.keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{args.pg_name}" WITH (FORCE)'))
            admin.dispose()
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
