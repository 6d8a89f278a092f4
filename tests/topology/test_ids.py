"""The id maps: exact lookups whatever the hashes do, sorted and unsorted, with duplicates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from topology._ids import IdIndex, unique_ids


class Clash(str):
    """A string whose hash collides with every other Clash (compare Clashes with Clashes:
    an equal plain ``str`` has another hash, as Python's hash contract requires)."""

    def __hash__(self) -> int:
        return 7


@pytest.mark.parametrize("bulk", [True, False])
@pytest.mark.parametrize("ids", [["a", "b", "c", "d"], ["d", "b", "a", "c"]])
def test_lookups_are_exact(ids, bulk):
    index, keep = unique_ids(pd.Series(ids, dtype=object), bulk=bulk)
    assert keep is None and len(index) == 4
    queries = np.array(["c", "zz", None, float("nan"), "a", "a"], dtype=object)
    assert index.positions(queries).tolist() == [ids.index("c"), -1, -1, -1, ids.index("a"), ids.index("a")]
    assert index.get_loc("b") == ids.index("b")
    assert "zz" not in index and "d" in index and 5 not in index
    with pytest.raises(KeyError):
        index.get_loc("zz")


def test_duplicates_keep_the_first_row():
    index, keep = unique_ids(pd.Series(["x", "y", "x", "z"], dtype=object))
    assert keep.tolist() == [True, True, False, True]
    assert index.to_numpy().tolist() == ["x", "y", "z"]
    assert index.get_loc("z") == 2


def test_hash_collisions_fall_back_to_exact_equality():
    ids = np.array([Clash("p"), Clash("q"), "r"], dtype=object)
    index = IdIndex(ids)
    queries = np.array([Clash("q"), Clash("p"), Clash("zz"), "r"], dtype=object)
    assert index.positions(queries).tolist() == [1, 0, -1, 2]
    assert index.get_loc(Clash("q")) == 1


def test_a_colliding_unknown_query_is_not_matched():
    index = IdIndex(np.array([Clash("p"), "r"], dtype=object))  # hashes 7 and hash("r"): unique
    assert index.positions(np.array([Clash("other")], dtype=object)).tolist() == [-1]
    with pytest.raises(KeyError):
        index.get_loc(Clash("other"))


def test_unhashable_queries_are_unknown():
    index = IdIndex(np.array(["a", "b"], dtype=object))
    queries = np.empty(2, dtype=object)
    queries[0], queries[1] = ["a"], "b"
    assert index.positions(queries).tolist() == [-1, 1]
    assert ["a"] not in index


def test_empty():
    index, _ = unique_ids(pd.Series([], dtype=object))
    assert len(index) == 0 and index.positions(np.array(["a"], dtype=object)).tolist() == [-1]
