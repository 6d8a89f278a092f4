"""Benchmark of the data-quality queries (issue 18) at 1M customers: the in-memory index against
the store's full scans, side by side, on each store.

    python bench/quality_bench.py --sqlite /work/bench-data/city-1m.sqlite --pg-template ga_bench_1m --repeat 15

Works on copies (the SQLite file copied, the PostGIS database cloned from the template), migrated
to head. Per store it builds what an API worker builds for a data version (the asset tables,
:class:`gis.spatial_index.SpatialIndex`, :class:`gis.quality_index.QualityIndex`; build times are
reported), then times, interleaved (old, new, old, new … so the machine's load hits both alike):

* ``by_transformer`` / ``by_feeder``: the share verified per 台区 / feeder, 500 areas —
  old: :func:`gis.data_quality.verification_by_area` (GROUP BY over every customer);
  new: :meth:`QualityIndex.by_area`;
* ``totals``: old :func:`gis.data_quality.verification_totals`, new :meth:`QualityIndex.totals`;
* ``stalest``: the 20 stalest records — old :func:`gis.data_quality.stalest_records`; new
  :meth:`QualityIndex.stalest` plus the by-key query of their category / 台区 / feeder (what the route does);
* ``endpoint``: what ``GET /api/v1/data-quality`` computes (areas + totals + stalest), old and new;
* ``viewport_city`` / ``viewport_street``: ``GET /api/v1/data-quality/viewport``'s work (bbox
  slice, filter, clusters or points with findings) at zoom 13 over the whole city's centre and at
  zoom 18 — no old counterpart (new), reported alone;
* ``follow``: one contact change (``change_contact``) and the index's ``catch_up`` reading it.

Prints JSON: per query the median, min and max in ms, the ratio old/new, and the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.routes.data_quality import _stalest_from_index  # noqa: E402
from gis.contacts import change_contact, read_contact  # noqa: E402
from gis.data_quality import stalest_records, verification_by_area, verification_totals  # noqa: E402
from gis.db import make_engine, migrate  # noqa: E402
from gis.quality_index import QualityFilter, build_quality_index  # noqa: E402
from gis.spatial_index import build_spatial_index  # noqa: E402
from gis.store import read_assets, snapshot_connection  # noqa: E402

PG_ADMIN = os.environ.get("GRIDATLAS_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _stats(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {"median_ms": round(statistics.median(ms), 2), "min_ms": round(min(ms), 2), "max_ms": round(max(ms), 2),
            "n": len(ms)}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _viewport(spatial, quality, box, zoom, flt, max_points=2000, cluster_px=60):
    """The route's work for /data-quality/viewport (without JSON encoding)."""
    idx = spatial.in_bbox(box)
    rows = spatial.rows(idx)
    hit = np.flatnonzero(quality.mask(flt)[rows])
    idx, rows = idx[hit], rows[hit]
    if len(idx) <= max_points:
        f = quality.rules_of(rows.tolist(), flt.since_day)
        return list(zip(spatial.column("account_no", idx), spatial.lon[idx].tolist(), spatial.lat[idx].tolist(), f))
    return spatial.clusters(idx, box, zoom, cluster_px)[0]


def _bench_store(url: str, repeat: int) -> dict[str, object]:
    engine = make_engine(url)
    res: dict[str, object] = {}
    try:
        t0 = time.perf_counter()
        with snapshot_connection(engine) as conn:
            tables = read_assets(conn)
            t1 = time.perf_counter()
            quality = build_quality_index(conn, tables)
            t2 = time.perf_counter()
        spatial = build_spatial_index(tables)
        res["build_s"] = {"read_assets": round(t1 - t0, 1), "quality_index": round(t2 - t1, 1),
                          "spatial_index": round(time.perf_counter() - t2, 1)}
        res["customers"] = len(quality)
        today = dt.date.today()
        since = today - dt.timedelta(days=365)
        day = QualityFilter.of(None, None, since).since_day
        lon, lat = float(np.median(spatial.lon)), float(np.median(spatial.lat))
        city = (lon - 0.06, lat - 0.04, lon + 0.06, lat + 0.04)
        street = (lon - 0.002, lat - 0.0012, lon + 0.002, lat + 0.0012)
        stale, anyrule = QualityFilter.of("stale", None, since), QualityFilter.of(None, None, since)
        with engine.connect() as c:
            old = {
                "by_transformer": lambda: verification_by_area(c, group_by="transformer", since=since, limit=501),
                "by_feeder": lambda: verification_by_area(c, group_by="feeder", since=since, limit=501),
                "totals": lambda: verification_totals(c, since=since),
                "stalest": lambda: stalest_records(c, limit=20),
            }
            new = {
                "by_transformer": lambda: quality.by_area("transformer", day, limit=501),
                "by_feeder": lambda: quality.by_area("feeder", day, limit=501),
                "totals": lambda: quality.totals(day),
                "stalest": lambda: _stalest_from_index(c, quality, 20, None, None),
            }
            old["endpoint"] = lambda: (old["by_transformer"](), old["totals"](), old["stalest"]())
            new["endpoint"] = lambda: (new["by_transformer"](), new["totals"](), new["stalest"]())
            # same answers first (the areas and totals; the stalest accounts)
            assert [{k: v for k, v in a.items() if k != "flagged"} for a in new["by_transformer"]()] == old["by_transformer"]()
            assert {k: v for k, v in new["totals"]().items() if k != "flagged"} == old["totals"]()
            assert [r["account_no"] for r in new["stalest"]()] == [r["account_no"] for r in old["stalest"]()]
            times: dict[str, dict[str, list[float]]] = {k: {"old": [], "new": []} for k in old}
            for _ in range(repeat):
                for k in old:
                    times[k]["old"].append(_timed(old[k]))
                    times[k]["new"].append(_timed(new[k]))
            for k, t in times.items():
                res[k] = {"old": _stats(t["old"]), "new": _stats(t["new"]),
                          "ratio_old_over_new": round(statistics.median(t["old"]) / statistics.median(t["new"]), 1)}
        vc = [_timed(lambda: _viewport(spatial, quality, city, 13, anyrule)) for _ in range(repeat)]
        vs = [_timed(lambda: _viewport(spatial, quality, street, 18, stale)) for _ in range(repeat)]
        res["viewport_city"] = {**_stats(vc), "in_bbox": len(spatial.in_bbox(city))}
        res["viewport_street"] = {**_stats(vs), "in_bbox": len(spatial.in_bbox(street))}
        # one contact change followed by the index
        account = str(quality.account_no[len(quality) // 2])
        with engine.connect() as c:
            etag = read_contact(c, account).etag
        with engine.begin() as c:
            change_contact(c, account, if_match=etag, changes={}, confirm=True, touchpoint="call_centre",
                           actor="bench", role="agent", now=dt.datetime.now(dt.timezone.utc))
        with engine.connect() as c:
            t = _timed(lambda: quality.catch_up(c))
        res["follow_one_change_ms"] = round(t * 1000, 2)
    finally:
        engine.dispose()
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sqlite", type=Path, default=Path("/work/bench-data/city-1m.sqlite"))
    ap.add_argument("--pg-template", default="ga_bench_1m")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ga_quality_bench"))
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--stores", default="sqlite,postgis")
    args = ap.parse_args()
    out: dict[str, object] = {"load_average_start": os.getloadavg()}
    stores = args.stores.split(",")
    if "sqlite" in stores:
        args.work.mkdir(parents=True, exist_ok=True)
        copy = args.work / "store.sqlite"
        shutil.copyfile(args.sqlite, copy)
        url = f"sqlite:///{copy}"
        migrate(make_engine(url))
        try:
            out["sqlite"] = _bench_store(url, args.repeat)
        finally:
            copy.unlink()
    if "postgis" in stores:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = "ga_quality_bench_b"
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{args.pg_template}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        try:
            migrate(make_engine(url))
            out["postgis"] = _bench_store(url, args.repeat)
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    out["load_average_end"] = os.getloadavg()
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
