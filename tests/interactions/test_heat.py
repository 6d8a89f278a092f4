"""Heat on both stores: exact counts, customers and rates on a hand-built set (zero areas, unmatched callers)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from h3.api import basic_int as h3i

from api.state import load_snapshot
from gis.interaction_rollups import FINE_RES, area_interactions, day_number, parent_cells
from interactions.heat import HeatQuery, RollupCubes, area_shape, heat, zoom_to_res
from interactions.ingest import ingest
from tests.conftest import SAMPLE_DIR, SERVICE_AREA

CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str)
A = CUSTOMERS.iloc[0]
B = CUSTOMERS[CUSTOMERS["transformer_id"] != A.transformer_id].iloc[0]
FAR = (113.55, 23.55)  # inside the service area, far from every sample customer
Y2030 = (dt.date(2030, 1, 1), dt.date(2030, 12, 31))


def _rec(i: str, **kw) -> dict:
    return {"id": i, "channel": "95598电话", "kind": "投诉", "occurred_at": "2030-03-01T09:30:00+08:00", **kw}


def _load(engine) -> None:
    ingest(engine, [
        _rec("H1", account_no=A.account_no), _rec("H2", account_no=A.account_no, channel="微信"),
        _rec("H3", account_no=A.account_no, occurred_at="2030-12-31T23:59:00+08:00"),
        _rec("H4", account_no=A.account_no, occurred_at="2031-01-01T00:00:01+08:00"),   # the next local day: out
        _rec("H5", account_no=B.account_no, kind="咨询"),
        _rec("H6", caller_phone="13900000000", lon=FAR[0], lat=FAR[1]),               # unmatched, own place
        _rec("H7", caller_phone="13900000001"),                                         # unmatched, nowhere
    ], service_area=SERVICE_AREA)


def test_heat_by_transformer_and_feeder_exact(city_store):
    _load(city_store)
    snapshot = load_snapshot(city_store)
    per_tr = CUSTOMERS["transformer_id"].value_counts()
    with city_store.connect() as conn:
        result = heat(conn, snapshot.heat, HeatQuery("transformer", *Y2030, kinds=("投诉",)))
        by_id = {a.id: a for a in result.areas}
        assert set(by_id) == set(per_tr.index)  # every 台区 with customers, zeros included
        a = by_id[A.transformer_id]
        assert (a.count, a.customers) == (3, per_tr[A.transformer_id])
        assert a.rate == round(3000 / per_tr[A.transformer_id], 3)
        assert by_id[B.transformer_id].count == 0 and by_id[B.transformer_id].rate == 0.0
        assert result.totals["count"] == 3 and result.totals["customers"] == len(CUSTOMERS)
        wechat = heat(conn, snapshot.heat, HeatQuery("transformer", *Y2030, channels=("微信",)))
        assert {x.id: x.count for x in wechat.areas if x.count} == {A.transformer_id: 1}
        every = heat(conn, snapshot.heat, HeatQuery("feeder", *Y2030))
        assert sum(x.count for x in every.areas) == 4  # H1-H3 and H5; the unmatched callers have no feeder
        assert sum(x.customers for x in every.areas) == CUSTOMERS["transformer_id"].notna().sum()
        assert area_shape(snapshot.heat, "transformer", A.transformer_id)["type"] == "Polygon"


def test_heat_by_cell_exact_with_unmatched_callers(city_store):
    _load(city_store)
    snapshot = load_snapshot(city_store)
    fine = h3i.latlng_to_cell(float(A.lat), float(A.lon), FINE_RES)
    far = h3i.latlng_to_cell(FAR[1], FAR[0], FINE_RES)
    all_cells = [h3i.latlng_to_cell(float(y), float(x), FINE_RES) for x, y in zip(CUSTOMERS.lon, CUSTOMERS.lat)]
    with city_store.connect() as conn:
        for res in (7, 9):
            result = heat(conn, snapshot.heat, HeatQuery("cell", *Y2030, res=res))
            by_id = {a.id: a for a in result.areas}
            mine = h3i.int_to_str(int(parent_cells([fine], res)[0]))
            expected_customers = sum(1 for c in all_cells if int(parent_cells([c], res)[0]) == h3i.str_to_int(mine))
            assert by_id[mine].customers == expected_customers
            assert by_id[mine].count >= 3
            lone = by_id[h3i.int_to_str(int(parent_cells([far], res)[0]))]
            assert (lone.count, lone.customers, lone.rate) == (1, 0, None)  # contacts without customers
            assert result.totals["count"] == 5  # H1-H3, H5, H6 (H7 has no place)
            assert sum(a.customers for a in result.areas) == len(CUSTOMERS)
            assert sum(1 for a in result.areas if a.count == 0) > 0  # zero areas are listed
        view = heat(conn, snapshot.heat, HeatQuery("cell", *Y2030, zoom=16, bbox=(FAR[0] - 0.01, FAR[1] - 0.01, FAR[0] + 0.01, FAR[1] + 0.01)))
        assert [(a.id, a.count) for a in view.areas] == [(h3i.int_to_str(int(parent_cells([far], 9)[0])), 1)]
        total, rows = area_interactions(conn, "transformer", A.transformer_id, day_number(Y2030[0]), day_number(Y2030[1]), limit=2)
        assert total == 3 and [r["id"] for r in rows] == ["H3", "H1"]  # newest first (then id), paged
        total, rows = area_interactions(conn, "cell", int(parent_cells([fine], 8)[0]), day_number(Y2030[0]), day_number(Y2030[1]))
        assert {"H1", "H2", "H3"} <= {r["id"] for r in rows}


def test_zoom_picks_a_resolution():
    assert [zoom_to_res(z) for z in (8, 11, 13, 15, 17)] == [6, 7, 8, 9, 9]


def test_in_memory_rollups_agree_and_follow_each_ingest(city_store):
    snapshot = load_snapshot(city_store)
    cubes = RollupCubes()
    year = (dt.date(2025, 11, 1), dt.date(2026, 10, 31))
    queries = [HeatQuery("transformer", *year), HeatQuery("feeder", *year, kinds=("投诉",)),
               HeatQuery("cell", *year, res=9, channels=("微信", "95598电话")), HeatQuery("cell", *Y2030, res=9)]
    with city_store.connect() as conn:
        for q in queries:
            assert heat(conn, snapshot.heat, q, cubes).areas == heat(conn, snapshot.heat, q).areas
        before = heat(conn, snapshot.heat, queries[-1], cubes).totals["count"]
    _load(city_store)  # an ingest bumps the rollup version: the next query reads them again
    with city_store.connect() as conn:
        after = heat(conn, snapshot.heat, queries[-1], cubes)
        assert after.totals["count"] == before + 5
        assert after.areas == heat(conn, snapshot.heat, queries[-1]).areas


def _all_queries() -> list[HeatQuery]:
    year = (dt.date(2025, 11, 1), dt.date(2026, 10, 31))
    return [HeatQuery("transformer", *year), HeatQuery("transformer", *Y2030, kinds=("投诉",)),
            HeatQuery("feeder", *year, kinds=("投诉", "报修")), HeatQuery("feeder", *Y2030, channels=("微信",)),
            HeatQuery("cell", *year, res=9, channels=("微信", "95598电话")), HeatQuery("cell", *Y2030, res=7),
            HeatQuery("cell", *Y2030, res=9, kinds=("投诉",), channels=("微信",)),
            HeatQuery("cell", dt.date(2030, 3, 1), dt.date(2030, 3, 1), res=9)]


def test_cubes_follow_ingests_incrementally_and_equal_the_tables(city_store):
    """After the first read, an ingest is applied from the rollup rows it changed (a count moved away
    leaves a zero row that the cube sees); a rebuild makes the next query read everything again.
    Dense (30 and 5 layers) and sparse-only cubes give the SQL answer."""
    snapshot = load_snapshot(city_store)
    dense, small, sparse = RollupCubes(), RollupCubes(budget=200_000), RollupCubes(budget=0)
    every = (dense, small, sparse)

    def agree() -> None:
        with city_store.connect() as conn:
            for q in _all_queries():
                want = heat(conn, snapshot.heat, q).areas
                for cubes in every:
                    assert heat(conn, snapshot.heat, q, cubes).areas == want, (q, cubes.stats)

    agree()
    # the rollup's rows read once; 台区, feeder, res 9 and res 7 summed from them in memory
    assert all((c.stats["full_reads"], c.stats["derived"], c.stats["updates"]) == (1, 4, 0) for c in every), [c.stats for c in every]
    _load(city_store)
    agree()
    # H1 moves to B and to another kind: A's 台区 / 投诉 row for that day drops, B's rises
    ingest(city_store, [_rec("H1", account_no=B.account_no, kind="报修")], service_area=SERVICE_AREA)
    ingest(city_store, [_rec("H8", account_no=A.account_no, occurred_at="2030-12-31T10:00:00+08:00")], service_area=SERVICE_AREA)
    agree()
    assert all(c.stats["full_reads"] == 1 and c.stats["derived"] == 4 and c.stats["updates"] > 0 for c in every), [
        c.stats for c in every]
    with city_store.connect() as conn:
        tr = heat(conn, snapshot.heat, HeatQuery("transformer", *Y2030), dense)
        by_id = {a.id: a.count for a in tr.areas}
        assert by_id[A.transformer_id] == 3 and by_id[B.transformer_id] == 2  # H2, H3, H8; H1, H5
    from gis.interaction_rollups import rebuild_rollups

    with city_store.begin() as conn:
        rebuild_rollups(conn)
    agree()
    assert all((c.stats["full_reads"], c.stats["derived"]) == (2, 8) for c in every)
    with city_store.connect() as conn:
        assert dense.get(conn, "transformer", None).layers == 30
        assert sparse.get(conn, "transformer", None).dense is None
        full = dense.get(conn, "transformer", None)
        assert full.dense is not None
        five = RollupCubes(budget=5 * len(full.areas) * full.dense.shape[2] * full.dense.itemsize)
        assert five.get(conn, "transformer", None).layers == 5  # a larger cube keeps one layer per kind
        for q in _all_queries()[:2]:
            assert heat(conn, snapshot.heat, q, five).areas == heat(conn, snapshot.heat, q).areas
        by_channel = HeatQuery("transformer", *Y2030, channels=("微信",))  # 5 layers cannot: the sparse rows answer
        assert heat(conn, snapshot.heat, by_channel, five).areas == heat(conn, snapshot.heat, by_channel).areas


def test_a_cube_grows_for_new_days_and_areas_without_a_rebuild():
    """Changes after the last day, before the first, and in new areas are applied to the prefix sums
    in place of a rebuild, and give the counts a fresh cube gives."""
    from interactions.heat import RollupCube

    def rows(items):
        return {"area": np.array([a for a, *_ in items], dtype=object), "day": np.array([d for _, d, *_ in items]),
                "channel": np.array([c for _, _, c, *_ in items], dtype=object),
                "kind": np.array([k for *_, k, _ in items], dtype=object), "n": np.array([n for *_, n in items])}

    base = [("T1", 100, "微信", "投诉", 2), ("T2", 101, "95598电话", "咨询", 1), ("T1", 102, "微信", "投诉", 3)]
    change = [("T1", 102, "微信", "投诉", 1), ("T3", 150, "微博", "报修", 4), ("T2", 90, "营业厅", "投诉", 5)]
    cube = RollupCube.from_rows("transformer", rows(base))
    moved = cube.updated(rows(change))
    latest = {(a, d, c, k): n for a, d, c, k, n in base + change}
    fresh = RollupCube.from_rows("transformer", rows([(*key, n) for key, n in latest.items()]))
    assert moved.dense is not None and moved.layers == 30 and moved.day0 == 90
    assert moved.dense.shape[2] > fresh.dense.shape[2]  # headroom after the last day
    for d0, d1, ch, kd in [(0, 999, None, None), (90, 90, None, None), (100, 102, ("微信",), None),
                           (101, 160, None, ("投诉",)), (151, 999, None, None), (95, 149, None, ("报修", "投诉"))]:
        assert moved.counts(d0, d1, ch, kd) == fresh.counts(d0, d1, ch, kd), (d0, d1, ch, kd)
    assert cube.counts(0, 999, None, None) == {"T1": 5, "T2": 1}  # the old cube is untouched


def test_class_breaks_are_quantiles_of_the_positive_rates():
    from interactions.heat import class_breaks

    counts = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 5])
    customers = np.array([10, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 0])  # the last: no customers
    # positive rates 10, 20, … 100 per 1,000: the 2nd, 4th, 6th, 8th and 10th of ten
    assert class_breaks(counts, customers) == [20.0, 40.0, 60.0, 80.0, 100.0]
    assert class_breaks(np.array([1, 1, 3]), np.array([3, 3, 7])) == [340.0, 430.0]  # 333.3→340 (2 digits), 428.6→430
    assert class_breaks(np.array([131, 149]), np.array([100, 100])) == [1400.0, 1500.0]
    assert class_breaks(np.array([1310, 1312]), np.array([1000, 1000])) == [1310.0, 1320.0]  # bunched: a 3rd digit
    assert class_breaks(np.array([0, 0]), np.array([5, 5])) == []


def test_breaks_are_the_whole_citys_in_any_view(city_store):
    """A district is coloured on the city's scale: /heat's breaks do not depend on the bbox, and they
    follow the filters (issue 14: class breaks from the areas in view made a district look as hot as the city)."""
    _load(city_store)
    snapshot = load_snapshot(city_store)
    with city_store.connect() as conn:
        cubes = RollupCubes()
        for by in ("transformer", "feeder", "cell"):
            city = heat(conn, snapshot.heat, HeatQuery(by, *Y2030, zoom=14), cubes)
            assert city.breaks and city.breaks == sorted(set(city.breaks))
            a = next(x for x in city.areas if x.count)
            box = (a.lon - 0.002, a.lat - 0.002, a.lon + 0.002, a.lat + 0.002)
            district = heat(conn, snapshot.heat, HeatQuery(by, *Y2030, zoom=14, bbox=box), cubes)
            assert len(district.areas) < len(city.areas)
            assert district.breaks == city.breaks
            assert district.to_dict()["breaks"] == city.breaks
            assert heat(conn, snapshot.heat, HeatQuery(by, *Y2030, zoom=14, bbox=box)).breaks == city.breaks  # SQL path
        only = heat(conn, snapshot.heat, HeatQuery("transformer", *Y2030, kinds=("咨询",)), cubes)
        per_tr = CUSTOMERS["transformer_id"].value_counts()
        rate = round(1000 / per_tr[B.transformer_id], 3)  # H5, the one 咨询: one class, its rate rounded up
        assert len(only.breaks) == 1 and rate <= only.breaks[0] <= rate * 1.1


def test_coarser_cell_cubes_summed_from_res_9_equal_their_rollups(city_store):
    """A process reads the rollup's rows once; res 6-9 are summed from them in memory and answer
    exactly what the rollup grouped in SQL answers, then follow ingests like any cube."""
    from gis.interaction_rollups import read_rollups
    from interactions.heat import RollupCube

    _load(city_store)
    snapshot = load_snapshot(city_store)
    with city_store.connect() as conn:
        cubes = RollupCubes()
        cubes.get(conn, "cell", 9)
        for res in (6, 7, 8):
            derived = cubes.get(conn, "cell", res)
            read = RollupCube.from_rows("cell", read_rollups(conn, "cell", res))
            assert sorted(derived.areas.tolist()) == sorted(read.areas.tolist())
            for days, channels, kinds in ((Y2030, None, None), ((dt.date(2030, 3, 1),) * 2, ("微信",), None),
                                          (Y2030, None, ("投诉",)), ((dt.date(2025, 11, 1), dt.date(2026, 10, 31)), None, None)):
                d0, d1 = day_number(days[0]), day_number(days[1])
                assert derived.counts(d0, d1, channels, kinds) == read.counts(d0, d1, channels, kinds)
            q = HeatQuery("cell", *Y2030, res=res)
            assert [a.to_dict() for a in heat(conn, snapshot.heat, q, cubes).areas] == [a.to_dict() for a in heat(conn, snapshot.heat, q).areas]
        assert (cubes.stats["full_reads"], cubes.stats["derived"]) == (1, 4)
    ingest(city_store, [_rec("H8", account_no=A.account_no, occurred_at="2030-06-01T09:00:00+08:00")], service_area=SERVICE_AREA)
    with city_store.connect() as conn:
        for res in (6, 7, 8, 9):
            q = HeatQuery("cell", *Y2030, res=res)
            assert [a.to_dict() for a in heat(conn, snapshot.heat, q, cubes).areas] == [a.to_dict() for a in heat(conn, snapshot.heat, q).areas]
        assert cubes.stats["full_reads"] == 1 and cubes.stats["updates"] == 5  # the rows, then each view
