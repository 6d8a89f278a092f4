"""Trouble-call analysis on planted faults: exact devices on a hand-built grid and on the sample city."""

from __future__ import annotations

import pytest

from interactions.trouble_calls import Call, analyze
from topology import compile_index
from topology.protection import protection_index
from topology.testing import GridBuilder


def _grid():
    """::

        B1 -BR1- N1 -L1- N2 -LS1- N3 -FU1- N4 -T1: A1..A5     (N4 -L2- N5 -T2: A6..A10)
                  |                 -FU2- N6 -T3: B1..B5     (N6 -L3- N7 -T4: B6..B10)
                  |                 -FU3- N8 -T5: C1..C5     (N8 -L4- N9 -T6: C6..C10)
                  -LS2- N10 -FU4- N11 -T7: D1..D5            (N11 -L5- N12 -T8: D6..D10)
    """
    g = GridBuilder()
    g.substation("S1", bus="B1")
    g.switch("BR1", "B1", "N1", kind="breaker")
    g.feeder("F1", "S1", head_switch="BR1")
    g.segment("L1", "N1", "N2")
    g.switch("LS1", "N2", "N3", kind="load_switch")
    g.switch("LS2", "N1", "N10", kind="load_switch")
    branches = {"FU1": ("N3", "N4", "N5", "L2", "A"), "FU2": ("N3", "N6", "N7", "L3", "B"),
                "FU3": ("N3", "N8", "N9", "L4", "C"), "FU4": ("N10", "N11", "N12", "L5", "D")}
    t = 0
    for fuse, (up, a, b, seg, letter) in branches.items():
        g.switch(fuse, up, a, kind="fuse")
        g.segment(seg, a, b)
        for node, first in ((a, 1), (b, 6)):
            t += 1
            g.transformer(f"T{t}", node, f"LV{t}")
            for k in range(first, first + 5):
                g.customer(f"{letter}{k}", f"LV{t}")
    return compile_index(g.build())


IX = _grid()


def _run(accounts, **kw):
    calls = [Call(f"c{i}", a) for i, a in enumerate(accounts)]
    return analyze(IX, calls, **kw)


def _devices(result):
    return [(p.device, p.kind) for p in result.predictions]


def test_the_protection_index_knows_the_lowest_device_and_the_one_above() -> None:
    prot = protection_index(IX)
    ids = list(prot.ids)
    assert set(ids) == {"BR1", "LS1", "LS2", "FU1", "FU2", "FU3", "FU4"} | {f"T{i}" for i in range(1, 9)}
    parent = {ids[d]: (ids[p] if p >= 0 else None) for d, p in enumerate(prot.parent.tolist())}
    assert parent["T2"] == "FU1" and parent["FU1"] == "LS1" and parent["LS1"] == "BR1" and parent["BR1"] is None
    assert dict(zip(ids, prot.customers.tolist()))["LS1"] == 30


def test_one_fuse() -> None:
    result = _run(["A1", "A3", "A7", "A9"])
    assert _devices(result) == [("FU1", "fuse")]
    fu1 = result.predictions[0]
    assert fu1.calls == ("c0", "c1", "c2", "c3") and fu1.customers_affected == 10
    assert set(fu1.customers) == {f"A{k}" for k in range(1, 11)}
    assert fu1.absorbed == ("T1", "T2") and fu1.thresholds == {"calls": 3, "percent": 30.0}
    assert result.unexplained == ()


def test_two_simultaneous_faults_on_different_branches() -> None:
    result = _run(["A1", "A3", "A7", "A9", "D1", "D2", "D6", "D8"])
    assert sorted(_devices(result)) == [("FU1", "fuse"), ("FU4", "fuse")]
    assert {p.device: len(p.calls) for p in result.predictions} == {"FU1": 4, "FU4": 4}


def test_noise_calls_are_listed_not_predicted() -> None:
    result = _run(["A1", "A3", "A7", "A9", "B1", "NOPE", None])
    assert _devices(result) == [("FU1", "fuse")]
    assert [(u.call, u.reason) for u in result.unexplained] == [
        ("c4", "below_threshold"), ("c5", "unknown_customer"), ("c6", "no_customer")]


def test_calls_below_the_threshold_predict_nothing() -> None:
    result = _run(["A1", "D1"])
    assert result.predictions == ()
    assert [(u.call, u.account_no, u.reason) for u in result.unexplained] == [
        ("c0", "A1", "below_threshold"), ("c1", "D1", "below_threshold")]


def test_one_call_alone_is_never_a_device_even_on_a_small_transformer() -> None:
    result = _run(["A1", "A1"])  # the same customer twice: one calling customer
    assert result.predictions == () and len(result.unexplained) == 2


def test_calls_spread_over_every_branch_point_at_the_section_switch() -> None:
    result = _run(["A1", "A6", "B1", "B6", "C1", "C6"])
    assert _devices(result) == [("LS1", "load_switch")]
    assert result.predictions[0].customers_affected == 30 and result.predictions[0].evidence["rule"] == "calls"


def test_every_branch_out_moves_the_prediction_up() -> None:
    result = _run(["A1", "A3", "A7", "A9", "B1", "B3", "B7", "B9", "C1", "C3", "C7", "C9"])
    assert _devices(result) == [("LS1", "load_switch")]
    assert result.predictions[0].absorbed == ("FU1", "FU2", "FU3", "T1", "T2", "T3", "T4", "T5", "T6")
    assert len(result.predictions[0].calls) == 12


def test_thresholds_are_configurable_per_kind() -> None:
    strict = {"fuse": (5, 90.0), "transformer": (3, 60.0), "load_switch": (6, 70.0), "breaker": (10, 70.0)}
    result = _run(["A1", "A3", "A4", "A7"], thresholds=strict)
    assert _devices(result) == [("T1", "transformer")]
    assert [u.call for u in result.unexplained] == ["c3"]


@pytest.fixture(scope="module")
def city_index(sqlite_templates):
    from api.state import load_snapshot
    from gis.db import make_engine

    engine = make_engine(f"sqlite:///{sqlite_templates['city']}")
    try:
        return load_snapshot(engine).index
    finally:
        engine.dispose()


def test_planted_faults_on_the_sample_city(city_index) -> None:
    """Two transformers on different feeders, three calls each (the transformer threshold), plus a
    lone call elsewhere: exactly the two transformers, and the lone call unexplained."""
    ix = city_index
    prot = protection_index(ix)
    ids = list(prot.ids)

    def under(d: int) -> list[str]:
        lo, hi = ix.customer_range(int(prot.start[d]), int(prot.end[d]))
        return sorted(ix.accounts(range(lo, hi)).tolist())

    def feeder_top(d: int) -> int:
        while prot.parent[d] >= 0:
            d = int(prot.parent[d])
        return d

    transformers = [d for d in range(len(prot)) if prot.kind[d] == "transformer" and prot.customers[d] >= 10]
    first = transformers[0]
    second = next(d for d in transformers if feeder_top(d) != feeder_top(first))
    chosen = [first, second]
    calls, k = [], 0
    for d in chosen:
        for account in under(d)[:3]:
            calls.append(Call(f"k{k}", account))
            k += 1
    lone = next(a for a in ix.accounts(range(ix.n_customers)).tolist()
                if all(a not in under(d) for d in chosen) and ix.cust_pos[ix.customer(a)] < ix.n_live)
    calls.append(Call("lone", lone))
    result = analyze(ix, calls)
    assert sorted(p.device for p in result.predictions) == sorted(ids[d] for d in chosen)
    assert all(p.kind == "transformer" and len(p.calls) == 3 for p in result.predictions)
    assert [(u.call, u.reason) for u in result.unexplained] == [("lone", "below_threshold")]
