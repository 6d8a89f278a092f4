"""The rollup migrations on both stores. 0017_lean_interaction_writes: the cell rollup keeps its res-9
rows only (coarser cells are their sums), both rollups are clustered on their key, and interactions
lose the indexes nothing reads (the spatial one, the plain time one) for one on repair calls; counts
are unchanged, a running process's cubes read again, and the downgrade restores res 6–8.
0018_one_interaction_rollup: one rollup keyed by cell × 台区 × feeder replaces the two, with the
same counts in every view, and the downgrade sums it back into the two."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import inspect, text

from gis.db import current_revision, downgrade, head_revision, migrate
from gis.interaction_rollups import parent_cells, rollup_state
from gis.trouble_store import repair_calls
from interactions.heat import RollupCubes
from interactions.ingest import ingest
from tests.conftest import SERVICE_AREA
from tests.rollup_views import AREAS, CELLS


def _raw_counts(conn, res: int) -> dict[tuple, int]:
    """Contacts per (res-``res`` cell, day, channel, kind) from the raw table, grouped in pandas."""
    frame = pd.DataFrame(conn.execute(text(
        "SELECT cell, day, channel, kind FROM interactions WHERE cell IS NOT NULL AND day IS NOT NULL")).all(),
        columns=["cell", "day", "channel", "kind"])
    frame["cell"] = parent_cells(frame["cell"].to_numpy(np.int64), res)
    return {tuple(k): int(v) for k, v in frame.groupby(["cell", "day", "channel", "kind"]).size().items()}


def _areas(conn) -> list[tuple]:
    return [tuple(r) for r in conn.execute(text(
        "SELECT area_kind, area_id, day, channel, kind, n FROM interaction_area_rollups WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5"))]


def _index_names(conn, table: str) -> set[str]:
    if conn.dialect.name == "postgresql":
        return set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": table}).scalars())
    return set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"), {"t": table}).scalars())


def _spatial(conn) -> bool:
    if conn.dialect.name == "postgresql":
        return "ix_interactions_geom_gist" in _index_names(conn, "interactions")
    return conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name LIKE 'rtree_interactions_geom%'")).scalar_one() > 0


_0017 = "0017_lean_interaction_writes"


def test_upgrade_keeps_res_9_counts_and_leaner_indexes_and_downgrade_restores_coarse_cells(city_store):
    engine = city_store
    downgrade(engine, _0017)
    with engine.connect() as conn:
        areas_head = _areas(conn)
    downgrade(engine, "0016_phone_digits")
    with engine.connect() as conn:
        assert _spatial(conn) and "ix_interactions_occurred_at" in _index_names(conn, "interactions")
        for res in (6, 7, 8, 9):  # the downgrade's coarse rows are the raw table's counts
            stored = {(c, d, ch, k): n for c, d, ch, k, n in conn.execute(text(
                "SELECT cell, day, channel, kind, n FROM interaction_cell_rollups WHERE res = :r AND n <> 0"), {"r": res})}
            assert stored == _raw_counts(conn, res) and stored
        assert _areas(conn) == areas_head
        before, _ = rollup_state(conn)

    migrate(engine, _0017)
    assert current_revision(engine) == _0017
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("interaction_cell_rollups")}
        assert columns == {"cell", "day", "channel", "kind", "n", "version"}
        stored = {(c, d, ch, k): n for c, d, ch, k, n in conn.execute(text(
            "SELECT cell, day, channel, kind, n FROM interaction_cell_rollups WHERE n <> 0"))}
        assert stored == _raw_counts(conn, 9)
        assert _areas(conn) == areas_head
        version, rebuilt = rollup_state(conn)
        assert version == rebuilt == before + 1  # every in-memory cube reads again
        assert not _spatial(conn)
        names = _index_names(conn, "interactions")
        assert "ix_interactions_repairs_time" in names and "ix_interactions_occurred_at" not in names
        assert "ix_interaction_cell_rollups_res_day" not in _index_names(conn, "interaction_cell_rollups")
        assert "ix_interaction_area_rollups_kind_day" not in _index_names(conn, "interaction_area_rollups")
        # a follower reads "the 台区 rows changed since" as one range of this index
        definition = conn.execute(text(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_interaction_area_rollups_version'"
            if conn.dialect.name == "postgresql" else
            "SELECT sql FROM sqlite_master WHERE name = 'ix_interaction_area_rollups_version'")).scalar_one()
        assert "(area_kind, version)" in definition.replace('"', ""), definition
        if conn.dialect.name == "sqlite":
            for table in ("interaction_cell_rollups", "interaction_area_rollups"):
                sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table}).scalar_one()
                assert sql.rstrip().endswith("WITHOUT ROWID"), sql
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM interactions WHERE kind = '报修' AND occurred_at >= '2025-01-01' "
                "ORDER BY occurred_at, id LIMIT 10"))
            assert "ix_interactions_repairs_time" in plan, plan
        # the trouble-call query reads repairs as before
        calls = repair_calls(conn, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc),
                             dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc), limit=100_000)
        want = conn.execute(text("SELECT count(*) FROM interactions WHERE kind = '报修'")).scalar_one()
        assert len(calls) == want > 0
        assert [c["occurred_at"] for c in calls] == sorted(c["occurred_at"] for c in calls)
        version_0017, _ = rollup_state(conn)
    migrate(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert version_0017 < rollup_state(conn)[0]


def test_one_rollup_has_the_counts_of_the_two_and_the_downgrade_sums_them_back(city_store):
    engine = city_store
    ingest(engine, [{"id": "ONE1", "caller_phone": "13900000000", "channel": "微信", "kind": "投诉", "lon": 113.1, "lat": 23.0,
                     "occurred_at": "2031-03-01T10:00:00+08:00"}], service_area=SERVICE_AREA)  # a cell without a 台区
    with engine.connect() as conn:
        views = {res: _raw_counts(conn, res) for res in (9, 7)}
        areas_head = [tuple(r) for r in conn.execute(text(
            f"SELECT area_kind, area_id, day, channel, kind, n FROM {AREAS} a WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5"))]
        assert {(c, d, ch, k): n for c, d, ch, k, n in conn.execute(text(
            f"SELECT cell, day, channel, kind, n FROM {CELLS} c WHERE n <> 0"))} == views[9]
        cubes = RollupCubes()
        cubes.get(conn, "feeder", None)
        before, _ = rollup_state(conn)
    downgrade(engine, _0017)
    with engine.connect() as conn:
        assert "interaction_rollups" not in inspect(conn).get_table_names()
        assert {(c, d, ch, k): n for c, d, ch, k, n in conn.execute(text(
            "SELECT cell, day, channel, kind, n FROM interaction_cell_rollups WHERE n <> 0"))} == views[9]
        assert _areas(conn) == areas_head
    migrate(engine)
    with engine.connect() as conn:
        assert {c["name"] for c in inspect(conn).get_columns("interaction_rollups")} == {
            "cell", "transformer_id", "feeder_id", "day", "channel", "kind", "n", "version"}
        assert not {"interaction_cell_rollups", "interaction_area_rollups"} & set(inspect(conn).get_table_names())
        assert {(c, d, ch, k): n for c, d, ch, k, n in conn.execute(text(
            f"SELECT cell, day, channel, kind, n FROM {CELLS} c WHERE n <> 0"))} == views[9]
        assert [tuple(r) for r in conn.execute(text(
            f"SELECT area_kind, area_id, day, channel, kind, n FROM {AREAS} a WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5"))] == areas_head
        assert conn.execute(text("SELECT count(*) FROM interaction_rollups WHERE cell <> 0 AND transformer_id = ''")).scalar_one()
        version, rebuilt = rollup_state(conn)
        assert version == rebuilt > before + 1  # every in-memory cube reads again
        assert cubes.get(conn, "cell", 7).counts(0, 99_999, None, None) == {
            c: n for c, n in pd.Series(views[7]).groupby(level=0).sum().items()}
        assert cubes.stats["full_reads"] == 2  # read again after the migrations
        if conn.dialect.name == "sqlite":
            sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'interaction_rollups'")).scalar_one()
            assert sql.rstrip().endswith("WITHOUT ROWID"), sql


@pytest.mark.parametrize("res", [6, 8])
def test_coarse_cubes_follow_many_ingests_and_resum_after_a_gap(city_store, res, monkeypatch):
    """A coarser cube follows the rollup rows' logged changes over several ingests (incremental, equal
    to summing again), and is summed again when the log no longer reaches back to its version."""
    engine = city_store
    with engine.connect() as conn:
        account = conn.execute(text("SELECT account_no FROM customers ORDER BY account_no LIMIT 1")).scalar_one()
        other = conn.execute(text("SELECT account_no FROM customers ORDER BY account_no DESC LIMIT 1")).scalar_one()
    cubes = RollupCubes()
    with engine.connect() as conn:
        cubes.get(conn, "cell", res)
    day = dt.date(2031, 3, 1)
    for i, (acct, kind) in enumerate([(account, "投诉"), (other, "咨询"), (account, "报修")]):
        ingest(engine, [{"id": f"MIG{i}", "account_no": acct, "channel": "微信", "kind": kind,
                         "occurred_at": f"{day.isoformat()}T10:00:00+08:00"}], service_area=SERVICE_AREA)
        with engine.connect() as conn:
            cubes.get(conn, "cell", 9)  # the finest moves on alone: the coarse cube lags behind by i + 1 updates
    # the same contact changed (its old count moved), then read at the coarse level
    ingest(engine, [{"id": "MIG0", "account_no": other, "channel": "微信", "kind": "投诉",
                     "occurred_at": f"{day.isoformat()}T10:00:00+08:00"}], service_area=SERVICE_AREA)
    with engine.connect() as conn:
        followed = cubes.get(conn, "cell", res)
        assert cubes.stats["derived"] == 2  # each view (res 9, res N) summed once, then followed
        again = RollupCubes().get(conn, "cell", res)  # summed from the store's rows now
        d0 = (day - dt.date(1970, 1, 1)).days
        for d, kinds in (((d0, d0), None), ((0, 99_999), ("投诉",)), ((0, 99_999), None)):
            assert followed.counts(*d, None, kinds) == again.counts(*d, None, kinds)
        assert sum(followed.counts(d0, d0, None, None).values()) == 3

    monkeypatch.setattr(RollupCubes, "LOG_ROWS", 0)  # the log keeps nothing: a lagging coarse cube sums again
    ingest(engine, [{"id": "MIG9", "account_no": account, "channel": "微信", "kind": "表扬",
                     "occurred_at": f"{day.isoformat()}T11:00:00+08:00"}], service_area=SERVICE_AREA)
    with engine.connect() as conn:
        cubes.get(conn, "cell", 9)
        lagging = cubes.get(conn, "cell", res)
        assert cubes.stats["derived"] == 4  # both views summed again
        assert sum(lagging.counts(d0, d0, None, None).values()) == 4


_0018 = "0018_one_interaction_rollup"


def _plan(conn, sql: str, params: dict) -> str:
    """The query plan of ``sql`` as text (PostgreSQL with sequential scans off: the index must be usable)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return " ".join(r[0] for r in conn.execute(text("EXPLAIN " + sql), params))
    return " ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql), params))


def test_smaller_interaction_indexes_serve_the_same_reads_and_the_downgrade_restores_the_old_ones(city_store):
    """0019_smaller_interaction_indexes: a customer's contacts by account alone, an area's by the res-9
    parent of the stored cell; the customer view and an area's list read the same rows through them."""
    from gis.customer_records import read_interactions
    from gis.interaction_rollups import CELL9_SQL, area_interactions

    engine = city_store
    with engine.connect() as conn:
        account, cell = conn.execute(text(
            "SELECT account_no, cell FROM interactions WHERE account_no IS NOT NULL AND cell IS NOT NULL "
            "GROUP BY account_no, cell ORDER BY count(*) DESC, account_no LIMIT 1")).one()
        res7 = int(parent_cells(np.array([cell], dtype=np.int64), 7)[0])
        head = (read_interactions(conn, account), area_interactions(conn, "cell", res7, 0, 10**6, limit=10_000),
                area_interactions(conn, "cell", int(parent_cells(np.array([cell], dtype=np.int64), 9)[0]), 0, 10**6, limit=10_000))
        names = _index_names(conn, "interactions")
        assert {"ix_interactions_account", "ix_interactions_cell9"} <= names
        assert not {"ix_interactions_account_time", "ix_interactions_cell"} & names
        # one value per res-9 parent of the stored res-10 cells, as h3 computes the parent
        pairs = conn.execute(text(f"SELECT cell, {CELL9_SQL} FROM interactions WHERE cell IS NOT NULL")).all()
        h3_parents = parent_cells(np.array([c for c, _ in pairs], dtype=np.int64), 9).tolist()
        keyed = {(k, h) for (_, k), h in zip(pairs, h3_parents)}
        assert len(keyed) == len({k for k, _ in keyed}) == len(set(h3_parents)) > 10
        lo_hi = {"plo": 0, "phi": 1 << 45, "lo": 0, "hi": 1 << 62}
        plan = _plan(conn, f"SELECT count(*) FROM interactions WHERE {CELL9_SQL} >= :plo AND {CELL9_SQL} <= :phi "
                           "AND cell >= :lo AND cell <= :hi", lo_hi)
        assert "ix_interactions_cell9" in plan, plan
        plan = _plan(conn, "SELECT id FROM interactions WHERE account_no = :a ORDER BY occurred_at DESC", {"a": account})
        assert "ix_interactions_account" in plan, plan
    total, rows = head[1]
    assert total == len(rows) > 1 and head[0] and head[2][0] >= 1
    with engine.connect() as conn:  # the rows are the raw table's, by h3's own parent
        frame = pd.DataFrame(conn.execute(text("SELECT id, cell FROM interactions WHERE cell IS NOT NULL")).all(),
                             columns=["id", "cell"])
        inside = frame["id"][parent_cells(frame["cell"].to_numpy(np.int64), 7) == res7]
        assert sorted(r["id"] for r in rows) == sorted(inside)

    downgrade(engine, _0018)
    with engine.connect() as conn:
        names = _index_names(conn, "interactions")
        assert {"ix_interactions_account_time", "ix_interactions_cell"} <= names
        assert not {"ix_interactions_account", "ix_interactions_cell9"} & names
    migrate(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert (read_interactions(conn, account), area_interactions(conn, "cell", res7, 0, 10**6, limit=10_000)) == head[:2]
