"""Benchmark of caller search at 1M customers: in-process on both stores, over HTTP, vs a LIKE scan.

    python bench/search_bench.py --customers 1000000 --repeat 50

Generates the sample city once (``loaders.sample_city.generate_city``, cached under
``--work``), loads it once into a SQLite file and a PostGIS database (cached too: a store
that already holds a data version is reused), then times ``gis.search.search_customers``
for each query kind — exact phone, last 4 digits, account exact, account prefix, name,
pinyin, address — with the snapshot's in-memory index, as an API process runs it. The same
queries then go over HTTP on loopback to a uvicorn server in a subprocess (framework
overhead = HTTP − in-process), and a plain ``LIKE '%q%'`` scan of the customers table on
the matching column is the baseline (ratio = baseline ÷ search). Prints JSON: median, p95,
min and max in milliseconds per store and kind.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gis.api_keys import create_key  # noqa: E402
from gis.db import make_engine, migrate  # noqa: E402
from gis.search import build_caller_index, search_customers  # noqa: E402
from gis.search.normalize import pinyin_keys  # noqa: E402
from gis.store import latest_data_version  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("GRIDATLAS_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
KINDS = ("phone", "last4", "account", "account_prefix", "name", "pinyin", "address")
INDEX_LOOKUPS = {
    "phone": lambda index, q: index.phone(q, 20),
    "last4": lambda index, q: index.phone_last4(q, 20),
    "account": lambda index, q: index.account(q),
    "account_prefix": lambda index, q: index.account_prefix(q, 20),
}
BASELINE_COLUMN = {"phone": "phone", "last4": "phone", "account": "account_no", "account_prefix": "account_no",
                   "name": "name", "address": "address"}


def _stats(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"median": round(statistics.median(s), 3), "p95": round(s[min(len(s) - 1, int(0.95 * len(s)))], 3),
            "min": round(s[0], 3), "max": round(s[-1], 3), "n": len(s)}


def prepare_city(work: Path, customers: int, seed: int) -> Path:
    city = work / ("city-1m" if customers == 1_000_000 else f"city-{customers}")
    if not (city / "manifest.json").is_file():
        from loaders.sample_city import generate_city

        generate_city(city, customers=customers, seed=seed)
    return city


def _load(url: str, city: Path) -> float:
    """Migrate and import the city unless the store already holds it; returns seconds spent."""
    from loaders.city import import_city

    engine = make_engine(url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            if latest_data_version(conn) is not None:
                return 0.0
        manifest = json.loads((city / "manifest.json").read_text())
        start = time.perf_counter()
        import_city(engine, city, service_area=tuple(manifest["service_area"]))
        return time.perf_counter() - start
    finally:
        engine.dispose()


def prepare_stores(work: Path, city: Path, stores: list[str], pg_database: str | None = None) -> dict[str, tuple[str, float]]:
    out = {}
    if "sqlite" in stores:
        url = f"sqlite:///{work / (city.name + '-search.sqlite')}"
        out["sqlite"] = (url, _load(url, city))
    if "postgis" in stores:
        name = pg_database or f"gridatlas_bench_search_{city.name.replace('-', '_')}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        out["postgis"] = (url, _load(url, city))
    return out


def pick_queries(city: Path, n: int, seed: int) -> dict[str, list[str]]:
    """``n`` realistic queries per kind, drawn from customers of the city."""
    df = pd.read_csv(city / "customers.csv", dtype=str, usecols=["account_no", "name", "address", "phone", "category"])
    rng = random.Random(seed)
    people = df[(df["category"] == "居民") & df["phone"].notna()].sample(n=4 * n, random_state=seed)
    rows = list(people.itertuples())
    addresses = []
    for r in rows[:n]:
        # a street and house number as a caller says it: 纺织路4号 (drop city and district)
        street = r.address.split("区", 1)[-1]
        addresses.append(street[: street.index("号") + 1] if "号" in street else street[:6])
    return {
        "phone": [r.phone for r in rows[:n]],
        "last4": [r.phone[-4:] for r in rows[n : 2 * n]],
        "account": [r.account_no for r in rows[:n]],
        "account_prefix": [r.account_no[:7] for r in rows[2 * n : 3 * n]],
        "name": [r.name for r in rows[:n]],
        "pinyin": [pinyin_keys(r.name)[0][0] for r in rows[3 * n : 4 * n]],
        "address": addresses,
        "_rng": [str(rng.random())],
    }


def time_in_process(url: str, queries: dict[str, list[str]], repeat: int, baseline_repeat: int) -> dict:
    engine = make_engine(url)
    out: dict = {}
    try:
        with engine.connect() as conn:
            start = time.perf_counter()
            index = build_caller_index(conn)
            out["build_index_ms"] = round((time.perf_counter() - start) * 1000, 1)
            out["index_mb"] = round(index.nbytes / 2**20, 1)
            for kind in KINDS:
                qs = queries[kind]
                for q in qs[:3]:  # warm caches
                    search_customers(conn, q, index=index)
                samples, counts = [], []
                for i in range(repeat):
                    q = qs[i % len(qs)]
                    t0 = time.perf_counter()
                    result = search_customers(conn, q, index=index)
                    samples.append((time.perf_counter() - t0) * 1000)
                    counts.append(result.to_dict()["count"])
                entry = {"search": _stats(samples), "mean_results": round(sum(counts) / len(counts), 1)}
                lookup = INDEX_LOOKUPS.get(kind)
                if lookup is not None:  # the in-memory index alone, without fetching the records
                    ticks = []
                    for i in range(repeat):
                        q = qs[i % len(qs)]
                        t0 = time.perf_counter()
                        lookup(index, q)
                        ticks.append((time.perf_counter() - t0) * 1000)
                    entry["index_lookup"] = _stats(ticks)
                column = BASELINE_COLUMN.get(kind)
                if column and baseline_repeat:
                    base = []
                    for i in range(baseline_repeat):
                        q = qs[i % len(qs)]
                        t0 = time.perf_counter()
                        conn.execute(text(f"SELECT account_no FROM customers WHERE {column} LIKE :p"), {"p": f"%{q}%"}).fetchall()
                        base.append((time.perf_counter() - t0) * 1000)
                    entry["like_scan"] = _stats(base)
                    entry["ratio_like_over_search"] = round(entry["like_scan"]["median"] / entry["search"]["median"], 1)
                out[kind] = entry
    finally:
        engine.dispose()
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_http(url: str, queries: dict[str, list[str]], repeat: int) -> dict:
    engine = make_engine(url)
    try:
        _, token = create_key(engine, name="search-bench", role="dispatcher")
    finally:
        engine.dispose()
    port = _free_port()
    env = {**os.environ, "GRIDATLAS_DATABASE_URL": url, "GRIDATLAS_RELOAD_INTERVAL_S": "0", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port),
                             "--log-level", "warning"], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    out: dict = {}
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise RuntimeError("the API server did not start")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            for kind in KINDS:
                qs = queries[kind]
                for q in qs[:3]:
                    client.get("/api/v1/search", params={"q": q}).raise_for_status()
                samples = []
                for i in range(repeat):
                    t0 = time.perf_counter()
                    r = client.get("/api/v1/search", params={"q": qs[i % len(qs)]})
                    samples.append((time.perf_counter() - t0) * 1000)
                    r.raise_for_status()
                out[kind] = _stats(samples)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--baseline-repeat", type=int, default=5)
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgis"], choices=["sqlite", "postgis"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gridatlas-bench"))
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--prepare-only", action="store_true", help="generate and load, then stop")
    parser.add_argument("--pg-database", help="PostGIS database to load / reuse (default gridatlas_bench_search_<city>)")
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    city = prepare_city(args.work, args.customers, args.seed)
    stores = prepare_stores(args.work, city, args.stores, args.pg_database)
    if args.prepare_only:
        print(json.dumps({k: {"url": u, "load_s": round(s, 1)} for k, (u, s) in stores.items()}, indent=2))
        return
    queries = pick_queries(city, 20, args.seed)
    report: dict = {"customers": args.customers, "machine": f"{platform.machine()} {os.cpu_count()} cores",
                    "python": platform.python_version(), "queries": {k: v[:3] for k, v in queries.items() if k in KINDS}}
    for store, (url, load_s) in stores.items():
        entry: dict = {"load_s": round(load_s, 1) if load_s else "cached"}
        entry["in_process"] = time_in_process(url, queries, args.repeat, args.baseline_repeat)
        if not args.no_http:
            entry["http"] = time_http(url, queries, args.repeat)
            entry["http_overhead_ms"] = {k: round(entry["http"][k]["median"] - entry["in_process"][k]["search"]["median"], 3) for k in KINDS}
        report[store] = entry
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
