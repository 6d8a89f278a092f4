"""Benchmark of bulk interaction ingest (issue 14: ≥ 20,000 interactions/s with the rollups kept), both stores.

    python bench/ingest_bench.py --sqlite /work/bench-data/city-1m.sqlite --pg-template ga_bench_1m --n 200000 --repeat 3
    python bench/ingest_bench.py --sqlite … --skip-pg --n 100000 --repeat 5 --screeners

Works on COPIES (a file copy of the SQLite store; ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), migrated
to head. Each repeat makes ``n`` synthetic contacts with fresh ids (85 % naming a customer's account, 10 %
calling from a customer's phone, 5 % unknown callers with their own coordinates; a year of times; the
generator of ``heat_bench.py``) and times, in one transaction each, through
:func:`interactions.ingest.ingest`:

| key | what |
|---|---|
| `new` | the ``n`` contacts, all new: checks, matching, placement, the rows, the rollup deltas |
| `unchanged` | the same ``n`` again (idempotent: compared with the stored rows, nothing written) |
| `changed` | the same ids with another kind and text: rows updated, their old counts moved |
| `new_screened` | (``--screeners``) ``n`` more new contacts with the API's screeners (sensitive-word alerts, repair notices) |
| `raw` | the baseline: a plain ``INSERT`` of ``n`` other contacts' given fields (id, account, channel, kind, time, text, phone, point) into the same table — ``executemany`` on SQLite (into the live indexes faster than multi-row statements), ``COPY`` on PostgreSQL — no checks, matching, placement or rollups |

With ``--sustained K``, K more batches of ``n`` new contacts follow back to back, timed until the
last one's background checkpoint is done (SQLite: the ingest's commit leaves the copy of its log into
the database to a background thread, :func:`gis.dialects.sqlite.checkpoint_later`; each step above
waits for the one before it, untimed, so the sustained figure is where that copy is paid for).

Contacts per second, median and min–max over the repeats, ours / raw as a ratio (the raw insert pays
for the same table and indexes, so it is the ceiling of any ingest into this schema), and the load
average before each measurement (the machine is shared). Prints JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import shapely

# GA_CODE: another checkout whose code to time (e.g. the code before a change), same bench
sys.path.insert(0, os.environ.get("GA_CODE") or str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gis.db import make_engine, migrate  # noqa: E402
try:  # GA_CODE may be code from before the background checkpoint
    from gis.dialects.sqlite import WalCheckpointer, checkpoint_later  # noqa: E402
except ImportError:
    WalCheckpointer = checkpoint_later = None
from heat_bench import _records  # noqa: E402
from interactions.ingest import ingest  # noqa: E402

AREA = (112.5, 22.5, 113.6, 23.6)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
KINDS = ["咨询", "投诉", "报修", "意见", "表扬"]


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def _summary(rates: list[float], loads: list[float]) -> dict:
    return {"median_per_s": round(statistics.median(rates)), "min_per_s": round(min(rates)), "max_per_s": round(max(rates)),
            "runs": [round(r) for r in rates], "load": loads}


def _raw_rows(records: list[dict], sqlite: bool) -> list[tuple]:
    """The given fields of ``records`` as stored values (prepared before the clock starts)."""
    out = []
    for r in records:
        t = dt.datetime.fromisoformat(r["occurred_at"]).astimezone(dt.timezone.utc)
        when = t.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else t.isoformat()
        point = shapely.to_wkb(shapely.points(r["lon"], r["lat"])) if "lon" in r else None
        out.append((r["id"], r.get("account_no"), r.get("account_no"), r["channel"], r["kind"], when, r["text"],
                    r.get("caller_phone"), point))
    return out


_RAW_COLUMNS = "id, account_no, caller_account_no, channel, kind, occurred_at, text, caller_phone, geom"


def _raw_insert(engine, rows: list[tuple]) -> None:
    """The baseline: the rows into ``interactions`` as they are, one transaction (SQLite: its log
    checkpointed after the commit in the background, as the ingest's is)."""
    with engine.connect() as conn, contextlib.ExitStack() as stack:
        if conn.dialect.name == "sqlite" and checkpoint_later is not None:
            stack.enter_context(checkpoint_later(engine, conn.connection.driver_connection))
        stack.enter_context(conn.begin())
        conn.exec_driver_sql("SELECT 1")
        raw = conn.connection.driver_connection
        if conn.dialect.name == "postgresql":
            with raw.cursor() as cur, cur.copy(f"COPY ga_raw_stage ({_RAW_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.exec_driver_sql(f"INSERT INTO interactions ({_RAW_COLUMNS}) SELECT id, account_no, caller_account_no, "
                                 "channel, kind, occurred_at, text, caller_phone, ST_GeomFromWKB(geom, 4326) FROM ga_raw_stage")
        else:  # executemany: into the live indexes faster than multi-row statements (bench/README.md)
            raw.executemany(f"INSERT INTO interactions ({_RAW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _changed(records: list[dict]) -> list[dict]:
    return [{**r, "kind": KINDS[(KINDS.index(r["kind"]) + 1) % len(KINDS)], "text": r["text"] + "（更正）"} for r in records]


def _settle(engine) -> None:
    """SQLite: wait for the background checkpoint of the step before (untimed), so that no step is
    charged for another's; the sustained figure counts it."""
    checkpointer = WalCheckpointer.of(engine) if WalCheckpointer is not None else None
    if checkpointer is not None:
        checkpointer.wait()


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_store(name: str, url: str, n: int, repeat: int, screeners: bool, sustained: int = 0) -> dict:
    engine = make_engine(url)
    t0 = time.perf_counter()
    migrate(engine)
    out: dict = {"store": name, "n": n, "migrate_s": round(time.perf_counter() - t0, 1)}
    with engine.connect() as conn:
        customers = pd.DataFrame(conn.exec_driver_sql("SELECT account_no, phone FROM customers").all(),
                                 columns=["account_no", "phone"])
        out["customers"] = len(customers)
        out["interactions_before"] = conn.exec_driver_sql("SELECT count(*) FROM interactions").scalar_one()
    pg = engine.dialect.name == "postgresql"
    if pg:  # the COPY stage of the baseline (a plain table: a TEMP one would not outlive its connection)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS ga_raw_stage")
            conn.exec_driver_sql("CREATE UNLOGGED TABLE ga_raw_stage (id text, account_no text, caller_account_no text, "
                                 "channel text, kind text, occurred_at timestamptz, text text, caller_phone text, geom bytea)")
    screen = ()
    if screeners:
        from api.interactions_io import screeners_for
        from api.settings import Settings

        screen = screeners_for(Settings(database_url=url))
    rates: dict[str, list[float]] = {k: [] for k in ("raw", "new", "unchanged", "changed", "new_screened")}
    loads: dict[str, list[float]] = {k: [] for k in rates}
    for r in range(repeat):
        seed = 1000 + r
        raw_records = [{**x, "id": "RAW" + x["id"]} for x in _records(customers, n, seed=seed + 500)]
        rows = _raw_rows(raw_records, sqlite=not pg)
        if pg:
            with engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE ga_raw_stage")
        _settle(engine)
        loads["raw"].append(_load())
        s, _ = _timed(lambda: _raw_insert(engine, rows))
        rates["raw"].append(n / s)
        records = _records(customers, n, seed=seed)
        for key, batch in (("new", records), ("unchanged", records), ("changed", _changed(records))):
            _settle(engine)
            loads[key].append(_load())
            s, result = _timed(lambda: ingest(engine, batch, service_area=AREA))
            rates[key].append(n / s)
            expect = {"new": result.inserted, "unchanged": result.unchanged, "changed": result.updated}[key]
            assert expect == n, (key, result.to_dict())
        if screeners:
            more = [{**x, "id": "SCR" + x["id"]} for x in _records(customers, n, seed=seed + 700)]
            _settle(engine)
            loads["new_screened"].append(_load())
            s, _ = _timed(lambda: ingest(engine, more, service_area=AREA, screeners=screen))
            rates["new_screened"].append(n / s)
        print(f"{name} repeat {r + 1}/{repeat}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items() if v),
              file=sys.stderr, flush=True)
    if sustained:  # batches of new contacts back to back, the last one's checkpoint waited for
        batches = [[{**x, "id": f"SUS{j}-" + x["id"]} for x in _records(customers, n, seed=seed + 900 + j)]
                   for j in range(sustained)]
        _settle(engine)
        load = _load()
        t0 = time.perf_counter()
        for batch in batches:
            assert ingest(engine, batch, service_area=AREA).inserted == n
        _settle(engine)
        total = time.perf_counter() - t0
        out["sustained"] = {"batches": sustained, "n": n, "seconds": round(total, 1),
                            "per_s": round(sustained * n / total), "load": load}
        print(f"{name} sustained: {sustained} x {n:,} in {total:.1f} s, {sustained * n / total:,.0f}/s",
              file=sys.stderr, flush=True)
    out["results"] = {k: _summary(v, loads[k]) for k, v in rates.items() if v}
    raw = out["results"]["raw"]["median_per_s"]
    out["ratio_to_raw"] = {k: round(v["median_per_s"] / raw, 2) for k, v in out["results"].items() if k != "raw"}
    with engine.connect() as conn:
        out["interactions_after"] = conn.exec_driver_sql("SELECT count(*) FROM interactions").scalar_one()
    if pg:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS ga_raw_stage")
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sqlite", type=Path, help="a loaded SQLite store (copied, never written)")
    ap.add_argument("--pg-template", help="a loaded PostGIS database to clone with CREATE DATABASE … TEMPLATE")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ga_ingest_bench"))
    ap.add_argument("--pg-name", default="ga_ingest_bench")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--screeners", action="store_true", help="also time new contacts with the API's screeners")
    ap.add_argument("--sustained", type=int, default=0, metavar="K",
                    help="then K batches of n new contacts back to back, timed with the last one's checkpoint")
    args = ap.parse_args()
    report: dict = {"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "load_before": os.getloadavg(),
                    "stores": []}
    args.work.mkdir(parents=True, exist_ok=True)
    if args.sqlite and not args.skip_sqlite:
        copy = args.work / "store.sqlite"
        shutil.copyfile(args.sqlite, copy)
        os.sync()  # the copy's pages written out now, not by the kernel during the first measurement
        try:
            report["stores"].append(bench_store("sqlite", f"sqlite:///{copy}", args.n, args.repeat, args.screeners,
                                                      args.sustained))
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(str(copy) + suffix).unlink(missing_ok=True)
    if args.pg_template and not args.skip_pg:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{args.pg_name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{args.pg_name}" TEMPLATE "{args.pg_template}"'))
        try:
            report["stores"].append(bench_store("postgis", PG_ADMIN.rsplit("/", 1)[0] + "/" + args.pg_name, args.n,
                                                args.repeat, args.screeners, args.sustained))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{args.pg_name}" WITH (FORCE)'))
            admin.dispose()
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
