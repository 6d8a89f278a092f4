"""Contact changes over the in-memory caller index: the new number found at once, the old one no more.

The :class:`~gis.search.memory.CallerIndex` is built once per data version (a 1M-customer
rebuild takes tens of seconds), but a contact corrected at a touchpoint must be searchable
at once. A :class:`CallerOverlay` holds the current record of every customer whose contact
changed after the index was read (``mark``: the newest ``contact_history`` id the index
contains); :class:`OverlaidIndex` answers exactly as the base index would had it been built
now: an overlaid customer's phone keys and record replace the base's.

Every worker keeps its overlay current with :func:`catch_up`, which reads the history after
the overlay's mark and the changed customers' records from the store. A worker calls it
right after its own change, when the event bus says a contact changed, and on a short timer
as a safety net; the overlay thus never depends on an event having arrived.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import shapely
from sqlalchemy import select
from sqlalchemy.engine import Connection

from gis.contacts import history_since
from gis.models import Base
from gis.search.memory import RECORD_FIELDS, CallerIndex
from gis.search.normalize import phone_keys

__all__ = ["CallerOverlay", "OverlaidIndex", "catch_up"]


class CallerOverlay:
    """account → (history id, record, phone keys, 尾号 keys) of customers changed after ``mark``; thread-safe."""

    def __init__(self, mark: int = 0) -> None:
        self._lock = threading.Lock()
        self.mark = mark
        self._entries: dict[str, tuple[int, dict[str, Any], tuple[str, ...], tuple[str, ...]]] = {}
        # phone / 尾号 key -> the overlaid accounts holding it (rebuilt whole on change: readers never lock)
        self._phones: dict[str, tuple[str, ...]] = {}
        self._last4: dict[str, tuple[str, ...]] = {}

    def _reindex(self) -> None:
        phones: dict[str, list[str]] = {}
        last4: dict[str, list[str]] = {}
        for account_no, (_, rec, numbers, tails) in self._entries.items():
            if not rec:
                continue
            for k in numbers:
                phones.setdefault(k, []).append(account_no)
            for k in tails:
                last4.setdefault(k, []).append(account_no)
        self._phones = {k: tuple(v) for k, v in phones.items()}
        self._last4 = {k: tuple(v) for k, v in last4.items()}

    def holding(self, key: str, *, last4: bool) -> tuple[str, ...]:
        """The overlaid accounts whose current phones give ``key``."""
        return (self._last4 if last4 else self._phones).get(key, ())

    def __len__(self) -> int:
        return len(self._entries)

    def apply(self, records: dict[str, dict[str, Any] | None], upto: int, ids: dict[str, int]) -> None:
        """Take the current ``records`` (None: the customer is gone) of changed accounts; ``upto``
        is the newest history id read. ``ids``: each account's newest history id."""
        with self._lock:
            for account_no, rec in records.items():
                seq = ids.get(account_no, upto)
                old = self._entries.get(account_no)
                if old is not None and old[0] > seq:
                    continue
                if rec is None:
                    self._entries[account_no] = (seq, {}, (), ())
                    continue
                phones, last4 = phone_keys(rec.get("phone"), rec.get("phone_alt"))
                self._entries[account_no] = (seq, {k: rec.get(k) for k in RECORD_FIELDS}, phones, last4)
            self._reindex()
            self.mark = max(self.mark, upto)

    def rebased(self, mark: int) -> CallerOverlay:
        """A new overlay for an index that contains the history up to ``mark``: the entries
        after it carry over (changes the new index has not seen)."""
        out = CallerOverlay(max(mark, self.mark))
        with self._lock:
            out._entries = {a: e for a, e in self._entries.items() if e[0] > mark}
        out._reindex()
        return out

    def entries(self) -> dict[str, tuple[int, dict[str, Any], tuple[str, ...], tuple[str, ...]]]:
        return self._entries  # replaced values only, never mutated in place: safe to read without the lock


class OverlaidIndex:
    """The :class:`CallerIndex` interface, with an overlay's customers replacing the base's."""

    def __init__(self, base: CallerIndex, overlay: CallerOverlay) -> None:
        self.base = base
        self.overlay = overlay

    def _keys(self, key: str, limit: int, *, last4: bool) -> list[tuple[str, str]]:
        entries = self.overlay.entries()
        lookup = self.base.phone_last4 if last4 else self.base.phone
        if not entries:
            return lookup(key, limit)
        found = {a for _, a in lookup(key, limit + len(entries)) if a not in entries}
        found.update(self.overlay.holding(key, last4=last4))
        return [(key, a) for a in sorted(found)[:limit]]

    def phone(self, digits: str, limit: int) -> list[tuple[str, str]]:
        return self._keys(digits, limit, last4=False)

    def phone_last4(self, digits: str, limit: int) -> list[tuple[str, str]]:
        return self._keys(digits, limit, last4=True)

    def account(self, account_no: str) -> bool:
        return self.base.account(account_no)

    def account_prefix(self, prefix: str, limit: int) -> list[str]:
        return self.base.account_prefix(prefix, limit)

    def records(self, account_nos: Sequence[str]) -> dict[str, dict[str, Any]]:
        out = self.base.records(account_nos)
        entries = self.overlay.entries()
        for a in account_nos:
            hit = entries.get(a)
            if hit is not None:
                if hit[1]:
                    out[a] = dict(hit[1])
                else:
                    out.pop(a, None)
        return out

    def __len__(self) -> int:
        return len(self.base)


def catch_up(conn: Connection, overlay: CallerOverlay, *, limit: int = 1000) -> int:
    """Read the contact changes after ``overlay.mark`` and the changed customers' records into it.

    Returns how many changes were read (call again while it returns ``limit``).
    """
    changes = history_since(conn, overlay.mark, limit=limit)
    if not changes:
        return 0
    ids: dict[str, int] = {}
    for seq, account_no in changes:
        ids[account_no] = seq
    records: dict[str, dict[str, Any] | None] = dict.fromkeys(ids)
    records.update(_read_records(conn, list(ids)))
    overlay.apply(records, changes[-1][0], ids)
    return len(changes)


def _read_records(conn: Connection, account_nos: list[str]) -> dict[str, dict[str, Any]]:
    """The overlay's fields (and phone_alt) of ``account_nos``, in one query per 1000."""
    t = Base.metadata.tables["customers"]
    cols = [t.c[n] for n in RECORD_FIELDS if n not in ("lon", "lat")] + [t.c.phone_alt, t.c.geom]
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(account_nos), 1000):
        for row in conn.execute(select(*cols).where(t.c.account_no.in_(account_nos[start : start + 1000]))):
            rec = dict(row._mapping)
            geom = rec.pop("geom")
            ok = isinstance(geom, shapely.Point) and not geom.is_empty
            rec["lon"], rec["lat"] = (float(geom.x), float(geom.y)) if ok else (None, None)
            out[rec["account_no"]] = rec
    return out
