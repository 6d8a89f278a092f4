"""Benchmark of the topology and outage-impact engine against the networkx reference.

    python bench/topology_bench.py --customers 10000 100000 1000000 --repeat 20

Builds synthetic grids with its own vectorized generator (substations -> feeders with a
head breaker -> random MV trees with sectionalizing switches -> fused transformers ->
LV networks -> meter boxes -> customers, plus normally-open ties between feeders) and
prints JSON with median / p95 / min / max (milliseconds) for: building the networkx
graph, compiling the index, a one-switch plan near a feeder head, a plan opening five
switches then closing a tie, isolation with alternatives, the same plans on the
networkx reference (with the speed-up ratio), and the engine's memory.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from outage_impact import SwitchingPlan, impact_reference, isolate, plan_impact  # noqa: E402
from topology import GridAssets, build_graph, compile_index  # noqa: E402
from topology.compiled import SWITCH, TopologyIndex  # noqa: E402

CUSTOMERS_PER_TRANSFORMER = 30
MV_PER_TRANSFORMER = 3
POLES = 12
METER_BOXES = 20
SENSITIVITY = np.array(["医院", "生命支持", "政府", "重要客户", "大客户"], dtype=object)


# ---------------------------------------------------------------------------- generator
def generate(customers: int, seed: int = 0, shuffle: bool = False) -> GridAssets:
    """A radial-with-ties grid of about ``customers`` customers, ~1.2 nodes per customer."""
    rng = np.random.default_rng(seed)
    n_tr = max(8, math.ceil(customers / CUSTOMERS_PER_TRANSFORMER))
    n_f = max(4, round(customers / 3000))
    n_s = max(2, math.ceil(n_f / 8))
    n_mv = n_tr * MV_PER_TRANSFORMER

    # node numbering: buses | MV | HV taps | LV buses | poles | meter boxes
    o_mv = n_s
    o_hv = o_mv + n_mv
    o_lv = o_hv + n_tr
    o_pole = o_lv + n_tr
    o_mb = o_pole + n_tr * POLES
    n_nodes = o_mb + n_tr * METER_BOXES

    feeder_sub = np.arange(n_f) % n_s
    mv_feeder = (np.arange(n_mv) * n_f) // n_mv
    mv_start = np.searchsorted(mv_feeder, np.arange(n_f))
    mv_local = np.arange(n_mv) - mv_start[mv_feeder]
    # random recursive tree biased to recent nodes (deep-ish feeders)
    mv_parent_local = np.floor(mv_local * rng.random(n_mv) ** 0.35).astype(np.int64)
    mv_parent = o_mv + mv_start[mv_feeder] + mv_parent_local
    is_first = mv_local == 0
    mv_is_switch = rng.random(n_mv) < 0.08

    tr_feeder = (np.arange(n_tr) * n_f) // n_tr
    mv_count = np.bincount(mv_feeder, minlength=n_f)
    tap = o_mv + mv_start[tr_feeder] + np.floor(rng.random(n_tr) * mv_count[tr_feeder]).astype(np.int64)

    pole_tr = np.repeat(np.arange(n_tr), POLES)
    pole_local = np.tile(np.arange(POLES), n_tr)
    pole_parent_local = np.floor(pole_local * rng.random(n_tr * POLES) ** 0.5).astype(np.int64)
    pole_parent = np.where(pole_local == 0, o_lv + pole_tr, o_pole + pole_tr * POLES + pole_parent_local)
    mb_tr = np.repeat(np.arange(n_tr), METER_BOXES)
    mb_parent = o_pole + mb_tr * POLES + rng.integers(0, POLES, n_tr * METER_BOXES)

    cust_tr = np.minimum(np.arange(customers) // CUSTOMERS_PER_TRANSFORMER, n_tr - 1)
    cust_mb = cust_tr * METER_BOXES + rng.integers(0, METER_BOXES, customers)

    node_id = _ids("N", n_nodes)
    kind = np.empty(n_nodes, dtype=object)
    kind[:o_mv], kind[o_mv:o_pole], kind[o_pole:o_mb], kind[o_mb:] = "bus", "junction", "pole", "meter_box"
    kind[o_lv:o_pole] = "lv"
    kv = np.where(np.arange(n_nodes) < o_lv, 10.0, 0.4)
    sub_xy = np.column_stack([120.0 + 0.05 * (np.arange(n_s) % 10), 30.0 + 0.05 * (np.arange(n_s) // 10)])
    feeder_xy = sub_xy[feeder_sub] + rng.normal(0, 0.01, (n_f, 2))
    xy = np.empty((n_nodes, 2))
    xy[:o_mv] = sub_xy
    xy[o_mv:o_hv] = feeder_xy[mv_feeder] + rng.normal(0, 0.004, (n_mv, 2))
    xy[o_hv:o_lv] = xy[tap] + rng.normal(0, 0.0003, (n_tr, 2))
    xy[o_lv:o_pole] = xy[o_hv:o_lv]
    xy[o_pole:o_mb] = xy[o_lv + pole_tr] + rng.normal(0, 0.0005, (n_tr * POLES, 2))
    xy[o_mb:] = xy[o_lv + mb_tr] + rng.normal(0, 0.0005, (n_tr * METER_BOXES, 2))
    nodes = pd.DataFrame({"id": node_id, "kind": kind, "voltage_kv": kv, "lon": xy[:, 0], "lat": xy[:, 1]})

    # switches: head breakers, MV sectionalizers, transformer fuses, ties
    mv_nodes = o_mv + np.arange(n_mv)
    sect = mv_is_switch & ~is_first
    n_tie = 2 * n_f
    tie_f = np.arange(n_tie) % n_f
    tie_g = (tie_f + 1 + np.arange(n_tie) // n_f) % n_f
    tie_a = o_mv + mv_start[tie_f] + np.floor(rng.random(n_tie) * mv_count[tie_f]).astype(np.int64)
    tie_b = o_mv + mv_start[tie_g] + np.floor(rng.random(n_tie) * mv_count[tie_g]).astype(np.int64)
    sw_a = np.concatenate([feeder_sub, mv_parent[sect], tap, tie_a])
    sw_b = np.concatenate([o_mv + mv_start, mv_nodes[sect], o_hv + np.arange(n_tr), tie_b])
    sw_kind = np.concatenate([np.full(n_f, "breaker", object), np.full(int(sect.sum()), "load_switch", object),
                              np.full(n_tr, "fuse", object), np.full(n_tie, "tie", object)])
    sw_open = np.concatenate([np.zeros(len(sw_a) - n_tie, bool), np.ones(n_tie, bool)])
    sw_feeder = np.concatenate([np.arange(n_f), mv_feeder[sect], tr_feeder, np.full(n_tie, -1)])
    sw_id = _ids("SW", len(sw_a))
    switches = pd.DataFrame({"id": sw_id, "kind": sw_kind, "node_a": _names("N", sw_a), "node_b": _names("N", sw_b),
                             "normal_open": sw_open, "feeder_id": _fid(sw_feeder)})

    plain = ~mv_is_switch & ~is_first
    seg_a = np.concatenate([mv_parent[plain], pole_parent, mb_parent])
    seg_b = np.concatenate([mv_nodes[plain], o_pole + np.arange(n_tr * POLES), o_mb + np.arange(n_tr * METER_BOXES)])
    seg_feeder = np.concatenate([mv_feeder[plain], tr_feeder[pole_tr], tr_feeder[mb_tr]])
    segments = pd.DataFrame({"id": _ids("L", len(seg_a)), "node_a": _names("N", seg_a), "node_b": _names("N", seg_b),
                             "in_service": np.ones(len(seg_a), bool), "feeder_id": _fid(seg_feeder)})

    tr_id = _ids("T", n_tr)
    transformers = pd.DataFrame({"id": tr_id, "name": tr_id, "hv_node": _names("N", np.arange(o_hv, o_lv)),
                                 "lv_node": _names("N", np.arange(o_lv, o_pole)), "in_service": np.ones(n_tr, bool)})
    mb_id = _ids("MB", n_tr * METER_BOXES)
    meter_boxes = pd.DataFrame({"id": mb_id, "node": _names("N", np.arange(o_mb, n_nodes)),
                                "transformer_id": _names("T", mb_tr)})
    sens = np.where(rng.random(customers) < 0.003, SENSITIVITY[rng.integers(0, 5, customers)], None)
    cxy = xy[o_mb + cust_mb] + rng.normal(0, 0.00005, (customers, 2))
    cust = pd.DataFrame({"account_no": _ids("31", customers, width=11), "supply_node": _names("N", o_mb + cust_mb),
                         "meter_box_id": _names("MB", cust_mb), "transformer_id": _names("T", cust_tr),
                         "sensitivity": sens,
                         "category": "居民", "lon": cxy[:, 0], "lat": cxy[:, 1]})
    subs = pd.DataFrame({"id": _ids("S", n_s), "name": _ids("S", n_s), "bus_node": _names("N", np.arange(n_s))})
    feeders = pd.DataFrame({"id": _ids("F", n_f), "name": _ids("F", n_f), "substation_id": _names("S", feeder_sub),
                            "head_switch_id": _names("SW", np.arange(n_f))})
    tables = {"nodes": nodes, "substations": subs, "feeders": feeders, "segments": segments, "switches": switches,
              "transformers": transformers, "meter_boxes": meter_boxes, "customers": cust}
    if shuffle:
        tables = {k: _reallocated(v.sample(frac=1.0, random_state=seed).reset_index(drop=True))
                  for k, v in tables.items()}
    return GridAssets.from_tables(tables, version=f"synthetic-{customers}-{seed}")


def _reallocated(df: pd.DataFrame) -> pd.DataFrame:
    """New string objects in row order, as a database read of the shuffled rows creates them."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            values = out[col].to_numpy(dtype=object)
            fresh = np.full(len(values), None, dtype=object)
            known = pd.notna(values)
            fresh[known] = values[known].astype(str).astype(object)
            out[col] = fresh
    return out


def _ids(prefix: str, n: int, width: int = 7) -> np.ndarray:
    """Zero-padded ids: each table comes sorted by id, as a reader's ``ORDER BY id`` gives it."""
    return _names(prefix, np.arange(n), width)


def _names(prefix: str, codes: np.ndarray, width: int = 7) -> np.ndarray:
    """Ids of ``codes`` as new string objects (a database read shares none between columns)."""
    out = np.array([f"{prefix}{c:0{width}d}" for c in codes.tolist()], dtype=object)
    out[codes < 0] = None
    return out


def _fid(codes: np.ndarray) -> np.ndarray:
    return _names("F", codes)


# ---------------------------------------------------------------------------- plans
def pick_plans(ix: TopologyIndex, rng: np.random.Generator) -> dict[str, SwitchingPlan]:
    """A one-switch plan near a feeder head and a five-opens-then-tie plan."""
    off = ix.kind_offsets[SWITCH]
    sw = np.arange(off, ix.kind_offsets[SWITCH + 1])
    kinds = ix.switch_kind
    tree = ix.edge_child[sw] >= 0
    load = sw[(kinds == "load_switch") & tree]
    sizes = ix.tout[ix.edge_child[load]] - ix.tin[ix.edge_child[load]]
    near_head = load[np.argmax(sizes)]
    one = SwitchingPlan.from_dict({"title": "one switch near a feeder head",
                                   "steps": [{"action": "open", "element": str(ix.edge_ids[near_head])}],
                                   "window_start": "2024-05-07T09:00:00+08:00",
                                   "window_end": "2024-05-07T15:00:00+08:00"})
    # a tie whose end a sits below a load switch: open that switch (+4 others), then close the tie
    ties = sw[(kinds == "tie")]
    for tie in rng.permutation(ties):
        a = int(ix.edge_u[tie])
        up = _switch_above(ix, a, kinds, off)
        if up is not None:
            break
    else:  # pragma: no cover - the generator always has such a tie
        raise RuntimeError("no suitable tie")
    others = [s for s in rng.permutation(load).tolist() if s != up][:4]
    steps = [{"action": "open", "element": str(ix.edge_ids[s])} for s in [up, *others]]
    steps.append({"action": "close", "element": str(ix.edge_ids[tie])})
    five = SwitchingPlan.from_dict({"title": "five opens then a tie", "steps": steps,
                                    "window_start": "2024-05-07T09:00:00+08:00",
                                    "window_end": "2024-05-07T15:00:00+08:00"})
    return {"plan_one_switch": one, "plan_five_open_tie": five}


def _switch_above(ix: TopologyIndex, node: int, kinds: np.ndarray, off: int) -> int | None:
    x = node
    while ix.parent[x] >= 0:
        e = int(ix.parent_edge[x])
        if off <= e < ix.kind_offsets[SWITCH + 1] and kinds[e - off] == "load_switch":
            return e
        x = int(ix.parent[x])
    return None


def pick_isolation_target(ix: TopologyIndex, rng: np.random.Generator) -> str:
    """An MV segment in the middle of a feeder (its section has a switch below it)."""
    seg = np.arange(ix.kind_offsets[0], ix.kind_offsets[1])
    mv = seg[ix.edge_child[seg] >= 0]
    mv = mv[np.isin(ix.node_section[ix.edge_child[mv]], ix.dsw_section)]  # switches hang below its section
    sizes = ix.tout[ix.edge_child[mv]] - ix.tin[ix.edge_child[mv]]
    big = mv[sizes > np.percentile(sizes, 90)]
    return str(ix.edge_ids[rng.choice(big)])


# ---------------------------------------------------------------------------- timing
def stats(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1e3
    return {"median_ms": round(float(np.median(ms)), 4), "p95_ms": round(float(np.percentile(ms, 95)), 4),
            "min_ms": round(float(ms.min()), 4), "max_ms": round(float(ms.max()), 4), "n": len(ms)}


def timed(fn, repeat: int) -> tuple[list[float], object]:
    out, samples = None, []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - t)
    return samples, out


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run(customers: int, repeat: int, ref_repeat: int, graph_repeat: int, shuffle: bool, seed: int) -> dict:
    t = time.perf_counter()
    assets = generate(customers, seed=seed, shuffle=shuffle)
    gen_s = time.perf_counter() - t
    rng = np.random.default_rng(seed)
    res: dict[str, object] = {
        "customers": customers, "nodes": len(assets.nodes), "segments": len(assets.segments),
        "switches": len(assets.switches), "transformers": len(assets.transformers),
        "feeders": len(assets.feeders), "substations": len(assets.substations),
        "shuffled_rows": shuffle, "generate_s": round(gen_s, 2),
    }
    gc.collect()
    rss0 = rss_mb()
    ix = compile_index(assets)
    gc.collect()
    rss_delta = rss_mb() - rss0
    samples, _ = timed(lambda: compile_index(assets), max(3, min(repeat, 7)))
    res["compile"] = stats(samples)
    gc.collect()
    tracemalloc.start()
    probe = compile_index(assets)
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del probe
    gc.collect()
    res["memory"] = {"arrays_mb": round(ix.nbytes() / 2**20, 1), "tracemalloc_retained_mb": round(traced / 2**20, 1),
                     "rss_delta_mb": round(rss_delta, 1)}

    graph = None
    if graph_repeat > 0 and ref_repeat > 0:
        samples, graph = timed(lambda: build_graph(assets), graph_repeat)
        res["build_graph"] = stats(samples)

    for name, plan in pick_plans(ix, rng).items():
        plan_impact(ix, plan)  # warm
        eng, result = timed(lambda: plan_impact(ix, plan), repeat)
        full, _ = timed(lambda: plan_impact(ix, plan).to_dict(area=False), repeat)
        area, _ = timed(lambda: plan_impact(ix, plan).area, max(1, min(repeat, 5)))
        res[name] = {"affected": result.count, "steps": len(plan.steps),
                     "transient": len(result.transient_customers), "engine": stats(eng),
                     "engine_with_lists": stats(full), "area": stats(area)}
        if graph is not None:
            ref, ref_result = timed(lambda: impact_reference(graph, plan), ref_repeat)
            res[name].update(reference=stats(ref),
                             ratio_reference_over_engine=round(float(np.median(ref) / np.median(eng)), 1),
                             same_answer=result.to_dict(area=False) == ref_result.to_dict(area=False))
    target = pick_isolation_target(ix, rng)
    start = pd.Timestamp("2024-05-07T09:00:00+08:00").to_pydatetime()
    end = pd.Timestamp("2024-05-07T15:00:00+08:00").to_pydatetime()
    iso_s, iso = timed(lambda: isolate(ix, target, window_start=start, window_end=end), max(1, repeat // 2))
    res["isolation"] = {"equipment": target, "alternatives": len(iso.alternatives),
                        "best": iso.best.name, "best_affected": iso.best.impact.count,
                        "upstream": list(iso.upstream_switches), "downstream": list(iso.downstream_switches),
                        "engine": stats(iso_s)}
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=20, help="engine repetitions")
    parser.add_argument("--ref-repeat", type=int, default=3, help="networkx reference repetitions (0: skip it)")
    parser.add_argument("--graph-repeat", type=int, default=1, help="networkx graph builds (0: skip the reference)")
    parser.add_argument("--shuffle", action="store_true",
                        help="shuffle table rows: ids neither sorted nor in topology order")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                       "pandas": pd.__version__, "platform": platform.platform()},
           "results": [run(c, args.repeat, args.ref_repeat, args.graph_repeat, args.shuffle, args.seed)
                       for c in args.customers]}
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
