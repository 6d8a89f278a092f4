"""Benchmark of issue 18 at 1M customers: contact changes, the caller-index overlay, data quality.

    python bench/contacts_bench.py --sqlite /work/bench-data/city-1m.sqlite --pg-template ga_bench_1m --repeat 30

Works on copies (the SQLite file is copied, the PostGIS database cloned from the template),
migrates them to head, then times on each store:

* ``change``: :func:`gis.contacts.change_contact` changing one customer's phone (lock, ETag
  check, update, provenance, history, the customer's search rows) in its own transaction —
  baseline: the bare ``UPDATE customers SET phone`` of one row in its own transaction;
* ``catch_up``: :func:`gis.search.overlay.catch_up` reading the changes into an overlay;
* ``lookup``: an exact phone lookup in the in-memory index through an overlay holding
  ``--overlay`` changed customers — baseline: the same lookup in the bare index;
* ``dq_transformer`` / ``dq_feeder`` / ``dq_stalest``: the data-quality queries — baseline:
  ``SELECT count(*) FROM customers``.

Prints JSON: median, min, max in milliseconds, the baselines and ratios, and the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gis.contacts import change_contact, read_contact  # noqa: E402
from gis.data_quality import stalest_records, verification_by_area  # noqa: E402
from gis.db import make_engine, migrate  # noqa: E402
from gis.search import build_caller_index  # noqa: E402
from gis.search.overlay import CallerOverlay, OverlaidIndex, catch_up  # noqa: E402

PG_ADMIN = os.environ.get("GRIDATLAS_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _stats(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {"median_ms": round(statistics.median(ms), 3), "min_ms": round(min(ms), 3), "max_ms": round(max(ms), 3),
            "n": len(ms)}


def _time(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _bench_store(url: str, repeat: int, overlay_size: int) -> dict[str, object]:
    engine = make_engine(url)
    res: dict[str, object] = {}
    try:
        with engine.connect() as conn:
            accounts = list(conn.execute(text(
                "SELECT account_no FROM customers WHERE phone IS NOT NULL ORDER BY account_no LIMIT 200000")).scalars())
        rng = random.Random(18)
        picks = rng.sample(accounts, repeat * 2 + overlay_size)
        now = dt.datetime.now(dt.timezone.utc)

        def change(account: str, phone: str) -> None:
            with engine.connect() as c:
                etag = read_contact(c, account).etag
            with engine.begin() as c:
                change_contact(c, account, if_match=etag, changes={"phone": phone}, confirm=False,
                               touchpoint="call_centre", actor="bench", role="agent", now=now)

        it = iter(picks[:repeat])
        change_t = _time(lambda: change(next(it), f"139{rng.randrange(10**8):08d}"), repeat)
        it2 = iter(picks[repeat : 2 * repeat])

        def bare_update() -> None:
            with engine.begin() as c:
                c.execute(text("UPDATE customers SET phone = :p WHERE account_no = :a"),
                          {"p": f"137{rng.randrange(10**8):08d}", "a": next(it2)})

        base_t = _time(bare_update, repeat)
        res["change"] = {**_stats(change_t), "baseline_bare_update": _stats(base_t),
                         "ratio": round(statistics.median(change_t) / statistics.median(base_t), 2)}
        # the overlay: the changes read back, then lookups through it
        for account in picks[2 * repeat :]:
            change(account, f"138{rng.randrange(10**8):08d}")
        overlay = CallerOverlay(0)
        with engine.connect() as c:
            t0 = time.perf_counter()
            n = 0
            while (k := catch_up(c, overlay)) > 0:
                n += k
            res["catch_up"] = {"changes": n, "ms": round((time.perf_counter() - t0) * 1000, 1),
                               "ms_per_change": round((time.perf_counter() - t0) * 1000 / max(n, 1), 3)}
            t0 = time.perf_counter()
            index = build_caller_index(c)
            res["index_build_s"] = round(time.perf_counter() - t0, 1)
        with engine.connect() as c:
            phones = list(c.execute(text("SELECT phone FROM customers WHERE phone IS NOT NULL LIMIT 2000")).scalars())
        over = OverlaidIndex(index, overlay)
        lookups = 2000
        base_l = _time(lambda: [index.phone(p, 20) for p in phones[:lookups]], 5)
        over_l = _time(lambda: [over.phone(p, 20) for p in phones[:lookups]], 5)
        res["lookup"] = {"overlay_entries": len(overlay), **{k: v / lookups for k, v in _stats(over_l).items() if k != "n"},
                         "baseline_bare_index_ms": round(statistics.median(base_l) * 1000 / lookups, 4),
                         "ratio": round(statistics.median(over_l) / statistics.median(base_l), 2)}
        with engine.connect() as c:
            since = dt.date.today() - dt.timedelta(days=365)
            count_t = _time(lambda: c.execute(text("SELECT count(*) FROM customers")).scalar(), 3)
            for name, fn in (("dq_transformer", lambda: verification_by_area(c, group_by="transformer", since=since, limit=500)),
                             ("dq_feeder", lambda: verification_by_area(c, group_by="feeder", since=since, limit=500)),
                             ("dq_stalest", lambda: stalest_records(c, limit=20))):
                t = _time(fn, 3)
                res[name] = {**_stats(t), "ratio_to_count": round(statistics.median(t) / statistics.median(count_t), 2)}
            res["baseline_count_ms"] = _stats(count_t)
    finally:
        engine.dispose()
    return res


def _lookup_only(sqlite: Path, overlay_size: int) -> dict[str, object]:
    """The overlay's cost on exact lookups alone: the index built from ``sqlite`` (only read), an
    overlay of ``overlay_size`` customers given new numbers in memory (nothing written)."""
    from gis.customer_records import read_customer

    engine = make_engine(f"sqlite:///{sqlite}")
    try:
        with engine.connect() as c:
            t0 = time.perf_counter()
            index = build_caller_index(c)
            build_s = time.perf_counter() - t0
            accounts = list(c.execute(text("SELECT account_no FROM customers WHERE phone IS NOT NULL "
                                           "ORDER BY account_no LIMIT 200000")).scalars())
            phones = list(c.execute(text("SELECT phone FROM customers WHERE phone IS NOT NULL LIMIT 2000")).scalars())
            rng = random.Random(18)
            picks = rng.sample(accounts, overlay_size)
            records = {}
            for i, a in enumerate(picks):
                rec = read_customer(c, a)
                rec["phone"] = f"139{i:08d}"
                records[a] = rec
    finally:
        engine.dispose()
    overlay = CallerOverlay(0)
    overlay.apply(records, overlay_size, {a: i + 1 for i, a in enumerate(picks)})
    over = OverlaidIndex(index, overlay)
    base_l = _time(lambda: [index.phone(p, 20) for p in phones], 7)
    over_l = _time(lambda: [over.phone(p, 20) for p in phones], 7)
    moved = [r["phone"] for r in records.values()][:2000]
    moved_l = _time(lambda: [over.phone(p, 20) for p in moved], 7)
    n = len(phones)
    return {"index_build_s": round(build_s, 1), "overlay_entries": len(overlay), "lookups_per_run": n,
            "bare_index_us": round(statistics.median(base_l) / n * 1e6, 2),
            "overlaid_us": round(statistics.median(over_l) / n * 1e6, 2),
            "overlaid_changed_number_us": round(statistics.median(moved_l) / len(moved) * 1e6, 2),
            "ratio": round(statistics.median(over_l) / statistics.median(base_l), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sqlite", type=Path, default=Path("/work/bench-data/city-1m.sqlite"))
    ap.add_argument("--pg-template", default="ga_bench_1m")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ga_i18_bench"))
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--overlay", type=int, default=1000)
    ap.add_argument("--stores", default="sqlite,postgis")
    ap.add_argument("--lookup-only", action="store_true", help="only the overlay's cost on lookups (reads --sqlite)")
    args = ap.parse_args()
    out: dict[str, object] = {"load_average_start": os.getloadavg()}
    if args.lookup_only:
        out["lookup"] = _lookup_only(args.sqlite, args.overlay)
        out["load_average_end"] = os.getloadavg()
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return
    stores = args.stores.split(",")
    if "sqlite" in stores:
        args.work.mkdir(parents=True, exist_ok=True)
        copy = args.work / "store.sqlite"
        shutil.copyfile(args.sqlite, copy)
        url = f"sqlite:///{copy}"
        migrate(make_engine(url))
        out["sqlite"] = _bench_store(url, args.repeat, args.overlay)
        copy.unlink()
    if "postgis" in stores:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = "ga_i18_bench"
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{args.pg_template}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        try:
            migrate(make_engine(url))
            out["postgis"] = _bench_store(url, args.repeat, args.overlay)
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    out["load_average_end"] = os.getloadavg()
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
