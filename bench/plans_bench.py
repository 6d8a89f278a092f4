"""Benchmark of the plan-impact page (summary + first page) and of streamed impact exports.

    python bench/plans_bench.py --customers 100000 1000000 --repeat 30

Uses the synthetic grids of ``bench/topology_bench.py``. Measures, in process (no HTTP, no
store): a one-switch plan's impact computed and rendered as the API's summary + first page
of 500 customers (cold: what a new plan version or data version costs), the same page
from a cached result (what ``GET /api/v1/plans/{id}/impact`` costs on a hit), and the CSV,
GeoJSON and XLSX writers over a feeder-sized list (customer details synthesized: the store
read is a separate cost) with the peak traced memory of the CSV stream.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api.exports import csv_stream, export_records, geojson_stream, xlsx_stream  # noqa: E402
from api.jsonio import dumps  # noqa: E402
from outage_impact import SwitchingPlan, plan_impact  # noqa: E402
from topology import compile_index  # noqa: E402
from topology_bench import generate, pick_plans, stats  # noqa: E402


def _page(result, area: bool = True) -> bytes:
    body = result.summary(steps=True, area=area)
    body["customers"] = result.customer_page(0, 500)
    return dumps(body)


def _details(accounts):
    return {a: {"name": "户名", "address": "佛山市禅城区季华路1号", "phone": "13800001234", "meter_box_id": None}
            for a in accounts}


def _drain(stream) -> int:
    return sum(len(b) for b in stream)


def run(customers: int, repeat: int, seed: int) -> dict:
    ix = compile_index(generate(customers, seed=seed))
    plan = pick_plans(ix, np.random.default_rng(seed))["plan_one_switch"]
    cold, cold_no_area, warm = [], [], []
    for _ in range(repeat):
        t = time.perf_counter()
        _page(plan_impact(ix, plan), area=False)
        cold_no_area.append(time.perf_counter() - t)
        t = time.perf_counter()
        result = plan_impact(ix, plan)
        _page(result)
        cold.append(time.perf_counter() - t)
        t = time.perf_counter()
        _page(result)
        warm.append(time.perf_counter() - t)
    # every feeder head opened: (nearly) every customer is on the list to export
    big = plan_impact(ix, SwitchingPlan.from_dict({"open": _feeder_heads(ix)}))
    out = {"customers": customers, "one_switch_affected": result.count,
           "page_cold_ms": stats(cold), "page_cold_without_area_ms": stats(cold_no_area),
           "page_cached_ms": stats(warm), "export_rows": big.count}
    for fmt, writer in (("csv", csv_stream), ("geojson", lambda c: geojson_stream(c, {})), ("xlsx", xlsx_stream)):
        t = time.perf_counter()
        size = _drain(writer(export_records(big, _details, sees_pii=False, chunk_size=2000)))
        secs = time.perf_counter() - t
        out[f"{fmt}_rows_per_s"] = round(big.count / secs)
        out[f"{fmt}_mb"] = round(size / 2**20, 1)
    tracemalloc.start()
    _drain(csv_stream(export_records(big, _details, sees_pii=False, chunk_size=2000)))
    out["csv_peak_traced_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
    tracemalloc.stop()
    return out


def _feeder_heads(ix) -> list[str]:
    kinds = np.asarray(ix.switch_kind)
    return [str(i) for i, k in zip(ix.edge_ids[ix.kind_offsets[1]:ix.kind_offsets[2]], kinds) if k == "breaker"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[100_000])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    for n in args.customers:
        print(json.dumps(run(n, args.repeat, args.seed), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
