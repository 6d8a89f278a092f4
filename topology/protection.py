"""Protective devices on the compiled topology: which one is the lowest above each node.

Outage management rolls trouble calls up the protective devices of the normal state: fuses,
load switches and breakers on the supply forest, and distribution transformers (a 台区's
supply). Disconnectors and ties do not operate on a fault and are not counted. Each device
covers the preorder interval of the subtree it feeds, ``[tin[child], tout[child])``, so the
lowest device above a node is the innermost interval containing the node's position; one
array over the preorder positions answers it for every node.

:func:`protection_index` builds this once per :class:`~topology.compiled.TopologyIndex`
(cached, O(N × nesting depth) vectorized slice writes) and is then read-only.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from topology.compiled import SWITCH, TRANSFORMER, TopologyIndex, search

__all__ = ["PROTECTIVE_KINDS", "ProtectionIndex", "protection_index"]

#: Device kinds a trouble call can point at (switch kinds of ``gis.models.SWITCH_KINDS``, and transformers).
PROTECTIVE_KINDS = ("fuse", "transformer", "load_switch", "breaker")

_I = np.int32


@dataclass(frozen=True, eq=False)
class ProtectionIndex:
    """Protective devices of one data version, sorted by the preorder start of their subtree."""

    edge: np.ndarray       # edge id of each device
    kind: np.ndarray       # object: "fuse" / "transformer" / "load_switch" / "breaker"
    ids: np.ndarray        # object: element id
    start: np.ndarray      # preorder interval [start, end) the device feeds
    end: np.ndarray
    parent: np.ndarray     # the device directly above (-1: none)
    customers: np.ndarray  # customers the device feeds in the normal state
    pos_device: np.ndarray  # preorder position -> lowest device above it (-1: none)

    def __len__(self) -> int:
        return len(self.edge)

    @cached_property
    def as_lists(self) -> tuple[list[int], list[str], list[int], list[int]]:
        """``(parent, kind, customers, start)`` as Python lists, for per-device loops (built once)."""
        return self.parent.tolist(), self.kind.tolist(), self.customers.tolist(), self.start.tolist()

    def lowest_above(self, positions: np.ndarray) -> np.ndarray:
        """The lowest device above each preorder position (-1 for none or an unsupplied position)."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.full(len(positions), -1, dtype=_I)
        ok = (positions >= 0) & (positions < len(self.pos_device))
        out[ok] = self.pos_device[positions[ok]]
        return out


_CACHE: weakref.WeakKeyDictionary[TopologyIndex, ProtectionIndex] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def protection_index(ix: TopologyIndex) -> ProtectionIndex:
    """The :class:`ProtectionIndex` of ``ix`` (built on first use, then cached with it)."""
    found = _CACHE.get(ix)
    if found is None:
        with _LOCK:
            found = _CACHE.get(ix)
            if found is None:
                found = _build(ix)
                _CACHE[ix] = found
    return found


def _build(ix: TopologyIndex) -> ProtectionIndex:
    lo, mid, hi, end_all = ix.kind_offsets
    switch_edges = np.arange(mid, hi, dtype=_I)
    protective = np.isin(ix.switch_kind, ("fuse", "load_switch", "breaker"))
    candidates = np.concatenate([switch_edges[protective], np.arange(hi, end_all, dtype=_I)])
    child = ix.edge_child[candidates]
    keep = child >= 0
    candidates, child = candidates[keep], child[keep]
    start = ix.tin[child]
    live = start < ix.n_live  # devices on a source's tree (their customers are normally supplied)
    candidates, child, start = candidates[live], child[live], start[live]
    order = np.argsort(start, kind="stable")
    edge, child, start = candidates[order], child[order], start[order].astype(_I)
    end = ix.tout[child].astype(_I)
    kinds = np.where(ix.edge_kind[edge] == TRANSFORMER, "transformer",
                     ix.switch_kind[np.where(ix.edge_kind[edge] == SWITCH, edge - mid, 0)]).astype(object)
    pos_device = np.full(ix.n_live, -1, dtype=_I)
    for d, (a, b) in enumerate(zip(start.tolist(), end.tolist())):  # outer before inner: inner overwrite
        pos_device[a:b] = d
    above = ix.parent[child]
    parent = np.where(above >= 0, pos_device[np.clip(ix.tin[np.maximum(above, 0)], 0, max(ix.n_live - 1, 0))],
                      -1).astype(_I) if len(child) else np.empty(0, dtype=_I)
    c_lo, c_hi = search(ix.cust_pos, start), search(ix.cust_pos, end)
    arrays = dict(edge=edge, kind=kinds, ids=ix.edge_ids[edge], start=start, end=end, parent=parent,
                  customers=(c_hi - c_lo).astype(np.int64), pos_device=pos_device)
    for value in arrays.values():
        value.setflags(write=False)
    return ProtectionIndex(**arrays)
