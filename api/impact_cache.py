"""Impact results of stored plans, kept per (plan id, plan version, data version).

A stored plan's impact changes only when the plan (its version) or the grid (the data
version) changes, so the key names both and an entry never goes stale: a new version
simply misses. Bounded LRU; two requests that miss together may both compute (the
results are equal), which is cheaper than holding a lock across a computation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from outage_impact.impact import ImpactResult

__all__ = ["ImpactCache"]

Key = tuple[int, int, int]


class ImpactCache:
    """A thread-safe LRU of :class:`ImpactResult` keyed by (plan id, plan version, data version)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Key, ImpactResult] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Key, compute: Callable[[], ImpactResult]) -> ImpactResult:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return hit
            self.misses += 1
        result = compute()
        if self._size > 0:
            with self._lock:
                self._items[key] = result
                self._items.move_to_end(key)
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return result
