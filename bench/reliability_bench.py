"""Benchmark: reliability indices for a year of outages over 1M customers, and plan screening.

    python bench/reliability_bench.py --store /tmp/ga_i16/city-1m.sqlite      # a COPY of the 1M city store
    python bench/reliability_bench.py --store … --repeat 7 --saifi 1.5

The store is migrated (adds the issue-16 tables) and, unless it holds them already, filled
with synthetic outage records (seeded): for each of two years (the history year before the
measured year, which the 2.5β major-event-day threshold reads, and the measured year) unplanned
outages of whole 台区 and of feeder sections and planned outages of 台区, durations drawn
log-normally (a tenth under 5 minutes: momentary), sized so that SAIFI ≈ ``--saifi``; one
storm day gives a major event. Then, each ``--repeat`` times, interleaved:

| key | what |
|---|---|
| `reliability_cold` | `api.reliability_report.compute_report` for the year with a fresh `InterruptionCache`: every record read from the store (an API process's first request), once |
| `reliability_end_to_end` | `compute_report` as an API request runs it: the process's cache refreshed (nothing new: one count/max query), the records coded for the data version, the indices with the major-event-day history |
| `reliability_by_feeder` | the same per feeder |
| `reliability_compute` | `reliability_indices` alone on the coded records already in memory |
| `baseline_pandas_groupby` | the whole-area SAIFI/SAIDI/CAIFI/CEMI with a straightforward pandas groupby per kind over the same frame (what a hand-written report does) |
| `screening_10k` | `screen_accounts` for 10,000 affected customers (one feeder group's customers), store reads included |
| `screening_10k_page` | the same plus the first page (20) of each list worded, as `GET /plans/{id}/screening?limit=20` answers the map |
| `screening_facts_read` | the store reads alone (`SqlScreeningFacts.facts`: customers, complaints, interruptions) |
| `screening_rules` | the rules alone on the facts already read |
| `screening_rules_before` | the rules as `--baseline-ref` (default `574ae38`, before this change) had them, on the same facts, each list worded as before |
| `screening_route_before` / `screening_route_now` | what `GET /plans/{id}/screening` computed before (store reads, the baseline's rules, every customer of every list worded) and now for the map (store reads, the vectorized rules, a page of 20 per list worded) |

Prints JSON: median and range (min–max) in ms, the record counts, the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select  # noqa: E402

from api.outage_cache import InterruptionCache  # noqa: E402
from api.reliability_report import compute_report, options_from  # noqa: E402
from api.settings import Settings  # noqa: E402
from gis.customer_records import SqlScreeningFacts  # noqa: E402
from gis.db import make_engine, migrate  # noqa: E402
from gis.models import OutageRecord  # noqa: E402
from gis.outages_store import read_interruptions  # noqa: E402
from gis.store import read_assets, snapshot_connection  # noqa: E402
from outage_impact.reliability import reliability_indices, served_customers  # noqa: E402
from outage_impact.screening import ScreeningRules, screen, screen_accounts  # noqa: E402
from topology import GridAssets, compile_index  # noqa: E402

CST = dt.timezone(dt.timedelta(hours=8))
YEAR = (dt.datetime(2025, 1, 1, tzinfo=CST), dt.datetime(2026, 1, 1, tzinfo=CST))
HISTORY = (dt.datetime(2024, 1, 1, tzinfo=CST), YEAR[0])


def _stats(samples: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(samples), 1), "min_ms": round(min(samples), 1),
            "max_ms": round(max(samples), 1), "n": len(samples)}


def _synthesize(engine, ix, saifi: float, seed: int) -> int:
    """Insert synthetic records for the history year and the measured year; returns the row count."""
    rng = np.random.default_rng(seed)
    n = ix.n_customers
    accounts = ix.accounts(np.arange(n))
    trafo = ix.cust_transformer
    feeder = ix.cust_feeder
    by_trafo = pd.Series(np.arange(n)).groupby(trafo).apply(np.asarray).to_dict()
    by_feeder = pd.Series(np.arange(n)).groupby(feeder).apply(np.asarray).to_dict()
    trafos = [t for t in by_trafo if t >= 0]
    feeders = [f for f in by_feeder if f >= 0]
    table = OutageRecord.__table__
    now = dt.datetime.now(dt.timezone.utc)
    total = 0
    for year_no, (lo, hi) in enumerate((HISTORY, YEAR)):
        span = (hi - lo).total_seconds()
        target = saifi * n
        rows: list[dict] = []
        made, k = 0, 0
        storm = lo + dt.timedelta(days=200, hours=15)
        while made < target:
            k += 1
            r = rng.random()
            if r < 0.1:      # a feeder section: a third of a feeder's customers
                members = by_feeder[feeders[rng.integers(len(feeders))]]
                members = members[: max(1, len(members) // 3)]
                kind = "unplanned"
            else:
                members = by_trafo[trafos[rng.integers(len(trafos))]]
                kind = "planned" if r > 0.75 else "unplanned"
            start = lo + dt.timedelta(seconds=float(rng.random() * span))
            if kind == "unplanned" and rng.random() < 0.02:
                start = storm + dt.timedelta(minutes=float(rng.integers(0, 300)))
            minutes = 2.0 if rng.random() < 0.1 else float(np.clip(rng.lognormal(4.2, 0.8), 6, 2000))
            end = start + dt.timedelta(minutes=minutes)
            oid = f"SYN{year_no}-{k:07d}"
            rows.extend({"outage_id": oid, "account_no": a, "kind": kind, "start_at": start, "end_at": end,
                         "plan_id": None, "source": "csv", "recorded_at": now} for a in accounts[members].tolist())
            made += len(members)
            if len(rows) >= 200_000:
                with engine.begin() as conn:
                    conn.execute(insert(table), rows)
                total += len(rows)
                rows = []
        if rows:
            with engine.begin() as conn:
                conn.execute(insert(table), rows)
            total += len(rows)
    return total


def _baseline(frame: pd.DataFrame, n_served: int, momentary: float) -> dict[str, float]:
    """Straightforward pandas: groupby per kind (what a hand-written report does)."""
    out = {}
    df = frame.assign(minutes=(frame["end_s"] - frame["start_s"]) / 60.0)
    df = df[df["minutes"] > momentary]
    for kind, part in [("all", df)] + list(df.groupby("kind")):
        per = part.groupby("account_no")["minutes"].agg(["count", "sum"])
        out[kind] = {"saifi": per["count"].sum() / n_served, "saidi": per["sum"].sum() / n_served,
                     "caifi": per["count"].sum() / max(len(per), 1),
                     "cemi": {m: float((per["count"] > m).sum()) / n_served for m in (1, 2, 3, 4, 5)}}
    return out


def _measure_screening(samples, check, affected, facts, rules, now, screen_before, rules_before) -> None:
    """One round of the screening measurements; the new and the baseline code alternate which goes first
    (and garbage is collected before each timed block), so neither pays the other's leftovers. Checks
    that the new lists equal the baseline's."""
    import gc

    since = {"interrupted_since": now - dt.timedelta(days=rules.repeat_days),
             "complaints_since": now - dt.timedelta(days=rules.complaint_days)}
    results = {}

    def timed(key, fn):
        gc.collect()
        t0 = time.perf_counter()
        value = fn()
        samples[key].append((time.perf_counter() - t0) * 1000)
        return value

    screened = timed("screening_10k", lambda: screen_accounts(affected, facts, rules, now=now))
    page = timed("screening_10k_page", lambda: screen_accounts(affected, facts, rules, now=now).to_dict(limit=20))
    frame = timed("screening_facts_read", lambda: facts.facts(affected, **since))
    lists = ("consult", "notify", "phone")
    jobs = [
        ("screening_rules", lambda: {k: [c.to_dict() for c in getattr(screen(frame, rules, as_of=now), k)] for k in lists}),
        ("screening_rules_before", lambda: {k: [c.to_dict() for c in getattr(screen_before(frame, rules_before, as_of=now), k)]
                                            for k in lists}),
        ("screening_route_now", lambda: screen(facts.facts(affected, **since), rules, as_of=now).to_dict(limit=20)),
        ("screening_route_before", lambda: screen_before(facts.facts(affected, **since), rules_before, as_of=now).to_dict()),
    ]
    if len(samples["screening_rules"]) % 2:
        jobs = [jobs[1], jobs[0], jobs[3], jobs[2]]
    for key, fn in jobs:
        results[key] = timed(key, fn)
    assert results["screening_rules"] == results["screening_rules_before"], "the vectorized rules must give the baseline's lists"
    check["screening_counts"] = screened.counts()
    check["screening_page_rows"] = sum(len(page[k]) for k in lists)
    check["screening_rows"] = len(frame)


def _screen_before(ref: str):
    """``outage_impact.screening.screen`` as the git revision ``ref`` had it (the baseline of the same run)."""
    import importlib.util
    import subprocess
    import tempfile

    source = subprocess.run(["git", "show", f"{ref}:outage_impact/screening.py"], check=True, capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parents[1]).stdout
    path = Path(tempfile.mkdtemp()) / "screening_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("screening_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["screening_before"] = module          # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module.screen, module.ScreeningRules


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True, help="path of a COPY of the city SQLite store (it is written to)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--saifi", type=float, default=1.5, help="customer interruptions per customer per year")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--baseline-ref", default="574ae38", help="git revision whose screening rules are the baseline")
    ap.add_argument("--only-screening", action="store_true", help="measure the screening only (skip reliability)")
    args = ap.parse_args()
    url = f"sqlite:///{args.store}"
    engine = make_engine(url)
    migrate(engine)
    settings = Settings(database_url=url)
    t0 = time.perf_counter()
    with snapshot_connection(engine) as conn:
        tables = read_assets(conn)
    ix = compile_index(GridAssets.from_tables(tables, version="bench"))
    prep = {"read_and_compile_s": round(time.perf_counter() - t0, 1), "customers": ix.n_customers}
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(OutageRecord.__table__)).scalar_one()
    if have == 0:
        t0 = time.perf_counter()
        have = _synthesize(engine, ix, args.saifi, args.seed)
        prep["synthesize_s"] = round(time.perf_counter() - t0, 1)
    prep["records_total"] = have
    year = None
    if not args.only_screening:
        with engine.connect() as conn:
            year = read_interruptions(conn, *YEAR)
        prep["records_in_year"] = len(year)
    accounts, _ = served_customers(ix)
    opts = options_from(settings)

    # screening: 10,000 customers of consecutive positions (a feeder's worth of neighbours)
    start = int(np.random.default_rng(args.seed).integers(0, ix.n_customers - 10_000))
    affected = ix.accounts(np.arange(start, start + 10_000)).tolist()
    rules = ScreeningRules()
    facts = SqlScreeningFacts(engine)
    now = YEAR[1]

    screen_before, rules_before_cls = _screen_before(args.baseline_ref)
    rules_before = rules_before_cls()
    screening_keys = ("screening_10k", "screening_10k_page", "screening_facts_read", "screening_rules",
                      "screening_rules_before", "screening_route_before", "screening_route_now")
    samples: dict[str, list[float]] = {k: [] for k in screening_keys}
    check = {}
    if args.only_screening:
        for _ in range(args.repeat):
            _measure_screening(samples, check, affected, facts, rules, now, screen_before, rules_before)
        out = {"prep": prep, "check": check, "loadavg": os.getloadavg(), **{k: _stats(v) for k, v in samples.items()}}
        out["before_over_rules"] = round(out["screening_rules_before"]["median_ms"]
                                         / out["screening_rules"]["median_ms"], 1)
        out["route_before_over_now"] = round(out["screening_route_before"]["median_ms"]
                                             / out["screening_route_now"]["median_ms"], 1)
        print(json.dumps(out, indent=1, default=str))
        engine.dispose()
        return

    t0 = time.perf_counter()
    cache = InterruptionCache()
    compute_report(engine, ix, 1, settings, start=YEAR[0], end=YEAR[1], by=None, cache=cache)
    cold_ms = (time.perf_counter() - t0) * 1000
    records = cache.interruptions(ix, 1)

    samples.update({k: [] for k in ("reliability_end_to_end", "reliability_by_feeder", "reliability_compute",
                                    "baseline_pandas_groupby")})
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        rep = compute_report(engine, ix, 1, settings, start=YEAR[0], end=YEAR[1], by=None, cache=cache)
        samples["reliability_end_to_end"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        compute_report(engine, ix, 1, settings, start=YEAR[0], end=YEAR[1], by="feeder", cache=cache)
        samples["reliability_by_feeder"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        reliability_indices(records, period_start=YEAR[0], period_end=YEAR[1], served_accounts=accounts,
                            options=opts)
        samples["reliability_compute"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        base = _baseline(year, len(accounts), opts.momentary_minutes)
        samples["baseline_pandas_groupby"].append((time.perf_counter() - t0) * 1000)
        _measure_screening(samples, check, affected, facts, rules, now, screen_before, rules_before)
        check.update({"saifi": rep["saifi"], "saidi": rep["saidi"], "baseline_saifi": base["all"]["saifi"],
                      "baseline_saidi": base["all"]["saidi"], "med": rep["major_event_days"].get("days"),
                      "t_med": rep["major_event_days"].get("t_med")})
    assert abs(check["saifi"] - check["baseline_saifi"]) < 1e-9 and abs(check["saidi"] - check["baseline_saidi"]) < 1e-6
    out = {"prep": prep, "check": check, "loadavg": os.getloadavg(), "reliability_cold_ms": round(cold_ms, 1),
           **{k: _stats(v) for k, v in samples.items()}}
    out["baseline_over_compute"] = round(out["baseline_pandas_groupby"]["median_ms"]
                                         / out["reliability_compute"]["median_ms"], 2)
    print(json.dumps(out, indent=1, default=str))
    engine.dispose()


if __name__ == "__main__":
    main()
