"""The outage records an API process holds in memory for the reliability indices.

Reading a year of records (a million rows and more at 1M customers) costs seconds; computing
the indices from arrays costs a fraction of that. So each process keeps every record as arrays
(a code per distinct account, kind, start, end: ~21 bytes a record) and, per request, reads
only what was added since: records are only ever inserted (never changed or deleted), so the
count and the highest id tell what is new. ``(count, max id)`` and the new rows are read in
one snapshot; if the count does not add up (a transaction that took an id below the highest
one committed after the last refresh), everything is read again. (SQLite's single writer
commits ids in order: there the highest id suffices.)

Per data version the distinct accounts are located once in the compiled topology (served
position, or past the end for a customer no longer served), so a request only gathers codes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from gis.outages_store import read_records_after, record_totals
from gis.store import snapshot_connection
from outage_impact.reliability import Interruptions, local_days, served_customers, served_lookup
from topology.compiled import TopologyIndex

__all__ = ["InterruptionCache"]


@dataclass
class _Arrays:
    codes: np.ndarray      # int32, into accounts
    planned: np.ndarray    # bool
    start_s: np.ndarray
    end_s: np.ndarray


class InterruptionCache:
    """All outage records of the store as arrays, refreshed incrementally (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._max_id = 0
        self._accounts: list[str] = []
        self._code: dict[str, int] = {}
        self._arrays = _Arrays(np.array([], dtype=np.int32), np.array([], dtype=bool),
                               np.array([], dtype=np.float64), np.array([], dtype=np.float64))
        self._served: tuple[int, int, np.ndarray] | None = None   # (data version, accounts coded, positions)
        self._day_memo: tuple[tuple[int, str], np.ndarray] | None = None
        self._served_customers: dict[tuple[int, str | None], tuple[np.ndarray, np.ndarray | None]] = {}
        self.full_reads = 0

    def __len__(self) -> int:
        return self._count

    def refresh(self, engine: Engine) -> None:
        """Bring the arrays up to the store's records."""
        with self._lock:
            with snapshot_connection(engine) as conn:
                count, max_id = record_totals(conn)
                if max_id == self._max_id and count in (None, self._count):
                    return
                new = read_records_after(conn, self._max_id)
                if count is not None and self._count + len(new["id"]) != count:  # a late commit below max id
                    self._reset()
                    new = read_records_after(conn, 0)
            self._append(new)
            self._count += len(new["id"])
            self._max_id = max_id

    def _reset(self) -> None:
        self.full_reads += 1
        self._count = self._max_id = 0
        self._accounts, self._code, self._served = [], {}, None
        self._arrays = _Arrays(np.array([], dtype=np.int32), np.array([], dtype=bool),
                               np.array([], dtype=np.float64), np.array([], dtype=np.float64))

    def _append(self, new: dict[str, np.ndarray]) -> None:
        accounts = new["account_no"]
        if not len(accounts):
            return
        if not self._accounts:   # first read: factorize in bulk
            codes, uniques = pd.factorize(accounts)
            self._accounts = list(uniques)
            self._code = {}
        else:
            if not self._code:   # built on the first incremental read only
                self._code = {a: i for i, a in enumerate(self._accounts)}
            codes = np.empty(len(accounts), dtype=np.int64)
            for i, account in enumerate(accounts.tolist()):
                code = self._code.get(account)
                if code is None:
                    code = self._code[account] = len(self._accounts)
                    self._accounts.append(account)
                codes[i] = code
        a = self._arrays
        self._arrays = _Arrays(np.concatenate([a.codes, codes.astype(np.int32)]),
                               np.concatenate([a.planned, new["planned"]]),
                               np.concatenate([a.start_s, new["start_s"]]),
                               np.concatenate([a.end_s, new["end_s"]]))

    def served(self, ix: TopologyIndex, data_version: int, by: str | None) -> tuple[np.ndarray, np.ndarray | None]:
        """:func:`outage_impact.reliability.served_customers`, kept per (data version, grouping)."""
        key = (data_version, by)
        with self._lock:
            hit = self._served_customers.get(key)
        if hit is None:
            hit = served_customers(ix, by)
            with self._lock:
                self._served_customers = {k: v for k, v in self._served_customers.items() if k[0] == data_version}
                self._served_customers[key] = hit
        return hit

    def _days(self, arrays: _Arrays, tz: str) -> np.ndarray:
        """Local start day of every record, kept until the records change (per zone)."""
        key = (len(arrays.start_s), tz)
        memo = self._day_memo
        if memo is None or memo[0] != key:
            memo = self._day_memo = (key, local_days(arrays.start_s, tz))
        return memo[1]

    def interruptions(self, ix: TopologyIndex, data_version: int, tz: str | None = None) -> Interruptions:
        """Every record coded against the customers ``ix`` serves (see :class:`Interruptions`)."""
        with self._lock:
            arrays, n_accounts = self._arrays, len(self._accounts)
            served = self._served
            if served is None or served[0] != data_version or served[1] != n_accounts:
                done = served[2] if served is not None and served[0] == data_version else np.array([], dtype=np.intp)
                tail = np.empty(n_accounts - len(done), dtype=object)
                tail[:] = self._accounts[len(done):]
                positions = np.concatenate([done, np.asarray(served_lookup(ix)(tail), dtype=np.intp)])
                self._served = served = (data_version, n_accounts, positions)
        positions = served[2].copy()
        unknown = positions < 0
        positions[unknown] = ix.n_customers + np.arange(int(unknown.sum()))
        day = self._days(arrays, tz) if tz is not None else None
        return Interruptions(positions[arrays.codes], arrays.planned, arrays.start_s, arrays.end_s, day)
