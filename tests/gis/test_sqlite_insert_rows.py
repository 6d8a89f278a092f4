"""gis.dialects.sqlite.insert_rows: multi-row statements that store exactly what executemany stores."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.dialects.sqlite import _PARAMS_PER_STATEMENT, insert_rows

values = st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=8),
                   st.binary(max_size=8))


def _both(width: int, rows: list[tuple], tail_sql: str = "", key: bool = False) -> tuple[list, list]:
    cols = ", ".join(f"c{i}" for i in range(width))
    out = []
    for use_rows in (True, False):
        con = sqlite3.connect(":memory:")
        pk = " PRIMARY KEY" if key else ""
        con.execute(f"CREATE TABLE t (c0{pk}, {', '.join(f'c{i}' for i in range(1, width))})" if width > 1
                    else f"CREATE TABLE t (c0{pk})")
        if use_rows:
            insert_rows(con, f"INSERT INTO t ({cols})", width, iter(rows), tail_sql)
        else:
            con.executemany(f"INSERT INTO t ({cols}) VALUES ({', '.join('?' * width)}) {tail_sql}", rows)
        out.append(con.execute("SELECT rowid, * FROM t ORDER BY rowid").fetchall())
        con.close()
    return out[0], out[1]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5).flatmap(lambda w: st.lists(st.tuples(*[values] * w), max_size=40)))
def test_insert_rows_stores_what_executemany_stores(rows):
    width = len(rows[0]) if rows else 3
    ours, theirs = _both(width, rows)
    assert ours == theirs


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_statement_boundaries_keep_every_row_in_order(extra):
    width = 16
    per = _PARAMS_PER_STATEMENT // width
    rows = [tuple(f"r{i}c{j}" for j in range(width)) for i in range(2 * per + extra)]
    ours, theirs = _both(width, rows)
    assert len(ours) == len(rows) and ours == theirs


def test_an_upsert_tail_lets_the_later_row_win_within_one_statement():
    rows = [("a", 1), ("b", 2), ("a", 3)]
    ours, theirs = _both(2, rows, "ON CONFLICT (c0) DO UPDATE SET c1 = excluded.c1", key=True)
    assert ours == theirs
    assert [r[1:] for r in ours] == [("a", 3), ("b", 2)]


def test_a_row_of_the_wrong_width_is_refused():
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (a, b)")
    with pytest.raises(ValueError, match="not 2 values"):
        insert_rows(con, "INSERT INTO t (a, b)", 2, [(1, 2), (3,)])
    assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)
