"""What migration 0016_phone_digits costs on a 1M-customer store (issue 17), both stores.

The store is a copy of the bench city (``/work/bench-data/city-1m.sqlite`` copied to a temporary
folder; PostgreSQL: a database made with ``createdb -T ga_bench_1m``), whose phones the current
``import city`` already stored as digits. For each run and each share of customers the script
(untimed) rewrites that share's ``phone``/``phone_alt`` the way an old ``import city`` stored a
formatted file (``135 2613 8187`` / ``0757-83016650``, which keep their search keys; or ``0135…`` /
``+86 757…``, which do not, so the migration rebuilds those customers' search rows too), sets the
schema back to ``0015_heat_perf``, then times
``gis.db.migrate`` (the upgrade to 0016: scan, parse, update, search rows, data version). The
migration writes the digits back, so the same copy serves every run.

Baseline, in the same run on the same copy: a full ``reindex_customers`` of all customers (what a
migration that simply rebuilt the search would cost at least), and the share=0 upgrade (a store
whose phones are digits: the scan alone).

    python bench/phone_migration_bench.py --store sqlite --runs 3
    python bench/phone_migration_bench.py --store postgis --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from gis.db import make_engine, migrate  # noqa: E402
from gis.search import reindex_customers  # noqa: E402

SQLITE_SOURCE = Path("/work/bench-data/city-1m.sqlite")
PG_TEMPLATE = "ga_bench_1m"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"
#: (label, share of customers, how their phones were written): a formatted number keeps its search
#: keys (only the customers table is written); a trunk-prefixed mobile (0135…) does not, so every
#: rewritten customer also gets new search rows (the worst case).
SCENARIOS = (("digits only (scan)", 0.0, "spaced"), ("10% as 135 2613 8187 / 0757-…", 0.1, "spaced"),
             ("100% as 135 2613 8187 / 0757-…", 1.0, "spaced"), ("10% as 0135… / +86 757… (new search rows)", 0.1, "trunk"))


def _load() -> str:
    return "%.2f %.2f %.2f" % os.getloadavg()


def _formatted(col: str, how: str) -> str:
    """SQL writing ``col`` (digits: mobile 1xxxxxxxxxx or landline 0xxx…) as an old import kept it."""
    mobile = f"(length({col}) = 11 AND substr({col}, 1, 1) = '1')"
    if how == "trunk":  # keys change: 0 + mobile, landline with +86 and without its trunk 0
        return f"CASE WHEN {mobile} THEN '0' || {col} ELSE '+86 ' || substr({col}, 2) END"
    return (f"CASE WHEN {mobile} THEN substr({col}, 1, 3) || ' ' || substr({col}, 4, 4) || ' ' || substr({col}, 8, 4) "
            f"ELSE substr({col}, 1, 4) || '-' || substr({col}, 5) END")


def _make_raw(engine, share: float, how: str) -> int:
    """Rewrite ``share`` of the customers' phones as an old import stored a formatted file."""
    if share <= 0:
        where = "1 = 0"
    elif share >= 1:
        where = "1 = 1"
    else:  # account numbers ending in 7: about a tenth
        assert share == 0.1
        where = "substr(account_no, length(account_no), 1) = '7'"
    with engine.begin() as conn:
        n = conn.execute(text(
            f"UPDATE customers SET phone = CASE WHEN phone IS NULL THEN NULL ELSE {_formatted('phone', how)} END, "
            f"phone_alt = CASE WHEN phone_alt IS NULL THEN NULL ELSE {_formatted('phone_alt', how)} END WHERE {where}")).rowcount
        if how == "trunk":  # as an old import: the search rows built from what it stored
            ids = [r[0] for r in conn.execute(text(f"SELECT account_no FROM customers WHERE {where}"))]
            reindex_customers(conn, ids)
        conn.execute(text("UPDATE alembic_version SET version_num = '0015_heat_perf'"))
    # the set-up's writes reach the database file now, not in the timed migration's checkpoint
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("VACUUM ANALYZE customers")
            conn.exec_driver_sql("CHECKPOINT")
        else:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return n


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _full_reindex(engine) -> None:
    with engine.begin() as conn:
        reindex_customers(conn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", choices=("sqlite", "postgis"), required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the raw figures here")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="phone_migration_"))
    db = f"phone_migration_{os.getpid()}"
    try:
        if args.store == "sqlite":
            shutil.copyfile(SQLITE_SOURCE, tmp / "store.sqlite")
            url = f"sqlite:///{tmp / 'store.sqlite'}"
        else:
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", "-T", PG_TEMPLATE, db], check=True)
            url = PG + db
        engine = make_engine(url)
        with engine.connect() as conn:
            customers = conn.execute(text("SELECT count(*) FROM customers")).scalar_one()
        rows: dict[str, list[dict]] = {}
        for run in range(args.runs):
            for label, share, how in SCENARIOS:
                changed = _make_raw(engine, share, how)
                load = _load()
                seconds = _timed(lambda: migrate(engine))
                rows.setdefault(f"upgrade, {label}", []).append({"s": seconds, "rows": changed, "load": load})
                print(f"run {run + 1} upgrade, {label}: {changed} customers rewritten, {seconds:.2f} s (load {load})",
                      flush=True)
            load = _load()
            seconds = _timed(lambda: _full_reindex(engine))
            rows.setdefault("full search reindex (baseline)", []).append({"s": seconds, "load": load})
            print(f"run {run + 1} full reindex: {seconds:.2f} s (load {load})", flush=True)
        engine.dispose()
        base = statistics.median(r["s"] for r in rows["full search reindex (baseline)"])
        print(f"\n{args.store}, {customers} customers, {args.runs} runs: median (min–max), ratio to the full reindex")
        for name, rs in rows.items():
            s = [r["s"] for r in rs]
            print(f"  {name:<48} {statistics.median(s):7.2f} s ({min(s):.2f}–{max(s):.2f})  "
                  f"×{statistics.median(s) / base:.2f}  load {', '.join(r['load'].split()[0] for r in rs)}")
        if args.json:
            args.json.write_text(json.dumps({"store": args.store, "customers": customers, "rows": rows}, indent=1))
    finally:
        if args.store == "postgis":
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", db], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
