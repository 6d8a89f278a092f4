"""Exact string-id -> position maps that stay fast at millions of ids.

Private helper of :mod:`topology.compiled`.  Mapping millions of id references (segment
endpoints, customers' supply nodes) through a pandas object index costs a cache miss or
two per reference on a Python string.  Here each id is reduced to Python's own string
hash (an int64, computed in one sequential pass and cached by the string), the join runs
on an int64 hash table, and every candidate is then verified by string equality, so the
result is exact: ids are unique within a map, so equal strings have equal hashes and an
unequal candidate means "unknown id".  Should two distinct ids ever share a hash, the
map falls back to a plain pandas object index.

A map whose ids are already sorted (``ORDER BY id`` in the reader) skips hashing: its
uniqueness is one sequential pass and single lookups are binary searches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["IdIndex", "unique_ids"]

_I = np.int32


class IdIndex:
    """Unique ids -> positions.  ``get_loc`` raises KeyError; ``positions`` gives -1."""

    __slots__ = ("_values", "_hashes", "_objects", "_sorted")

    def __init__(self, values: np.ndarray, *, sorted_ids: bool = False) -> None:
        self._values = values
        self._hashes: pd.Index | None = None
        self._objects: pd.Index | None = None
        self._sorted = sorted_ids
        if sorted_ids:
            return
        hashes = _hash(values)
        if hashes is not None:
            index = pd.Index(hashes)
            if index.is_unique:
                self._hashes = index
                return
        self._objects = pd.Index(values, dtype=object)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        try:
            self.get_loc(key)
        except KeyError:
            return False
        return True

    def to_numpy(self) -> np.ndarray:
        return self._values

    def get_loc(self, key: object) -> int:
        """Position of ``key``; raises KeyError. O(1), or O(log n) for sorted ids."""
        try:
            if self._sorted:
                i = int(np.searchsorted(self._values, key))
            elif self._hashes is not None:
                i = int(self._hashes.get_loc(hash(key)))
            else:
                i = int(self._objects.get_loc(key))
            if i < len(self._values) and self._values[i] == key:
                return i
        except (KeyError, TypeError, ValueError):
            pass
        raise KeyError(key)

    def positions(self, queries: np.ndarray) -> np.ndarray:
        """Position of each query (-1 when unknown, null or unhashable); vectorized, O(m)."""
        queries = np.asarray(queries, dtype=object)
        if len(queries) == 0 or len(self._values) == 0:
            return np.full(len(queries), -1, dtype=_I)
        hashes = _hash(queries)
        if hashes is None:  # pathological input: look up the hashable ones only
            usable = _hashable(queries)
            out = np.full(len(queries), -1, dtype=_I)
            out[usable] = self.positions(queries[usable])
            return out
        if self._hashes is not None:
            cand = self._hashes.get_indexer(hashes).astype(_I)
        elif self._sorted:
            try:
                cand = np.searchsorted(self._values, queries).astype(_I)
            except TypeError:  # queries not comparable with the ids: look them up by hash
                cand = pd.Index(self._values, dtype=object).get_indexer(
                    pd.Index(queries, dtype=object, copy=False)).astype(_I)
            cand[cand >= len(self._values)] = -1
        else:
            cand = self._objects.get_indexer(pd.Index(queries, dtype=object, copy=False)).astype(_I)
        if (cand >= 0).all():  # the usual case: skip gathering the queries
            cand[~_equal(self._values[cand], queries)] = -1
            return cand
        hit = np.flatnonzero(cand >= 0)
        same = _equal(self._values[cand[hit]], queries[hit])
        cand[hit[~same]] = -1
        return cand


def unique_ids(col: pd.Series, *, bulk: bool = False) -> tuple[IdIndex, np.ndarray | None]:
    """IdIndex of an id column and the mask of the rows kept (None: all kept).

    Later duplicates are dropped.  ``bulk`` maps (millions of lookups expected) always
    hash; others use the sorted fast path when the column is sorted.
    """
    values = col.to_numpy(dtype=object)
    if not bulk and _strictly_increasing(values):
        return IdIndex(values, sorted_ids=True), None
    hashes = _hash(values)
    if hashes is not None and pd.Index(hashes).is_unique:
        return IdIndex(values), None
    keep = ~pd.Index(values, dtype=object).duplicated(keep="first")
    if keep.all():
        return IdIndex(values), None
    return IdIndex(values[keep]), keep


def _strictly_increasing(values: np.ndarray) -> bool:
    index = pd.Index(values, dtype=object, copy=False)
    return bool(index.is_monotonic_increasing and index.is_unique)


def _hash(values: np.ndarray) -> np.ndarray | None:
    """Python's hash of each value (strings cache it), or None if one is unhashable."""
    try:
        return np.fromiter(map(hash, values), dtype=np.int64, count=len(values))
    except TypeError:
        return None


def _hashable(values: np.ndarray) -> np.ndarray:
    """Mask of the hashable values (a slow loop, for pathological input only)."""
    ok = np.ones(len(values), dtype=bool)
    for i, v in enumerate(values.tolist()):  # only reached for pathological input
        try:
            hash(v)
        except TypeError:
            ok[i] = False
    return ok


def _equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise equality of two object arrays as a bool array (NA-like compares unequal)."""
    try:
        return np.asarray(a == b, dtype=bool)
    except (TypeError, ValueError):
        return np.fromiter((bool(x == y) if x is not pd.NA and y is not pd.NA else False
                            for x, y in zip(a.tolist(), b.tolist())), dtype=bool, count=len(a))
