"""The in-memory index for the dispatcher's hot path: phone, 尾号 and 户号 lookups and the records they show.

Built once per data version inside the snapshot transaction: sorted numpy string arrays and
``searchsorted`` (O(log n), a few microseconds at 1M customers) answer exactly as the store's
``customer_keys`` / ``customer_search`` queries do, in the same order, and every customer's
result fields (:data:`RECORD_FIELDS`) are kept packed beside them, so an exact lookup needs
no round trip to the store at all. At 1M customers the whole index takes about 175 MB.

The phone keys come from :func:`gis.search.normalize.phone_keys`, as the store's do; keys
and accounts are sorted bytewise (the "C" collation of the store's key tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from gis.search.dialect import check_store
from gis.search.normalize import phone_keys

__all__ = ["CallerIndex", "build_caller_index", "prefix_upper", "RECORD_FIELDS"]

#: The customer fields a search result shows, in the order of the HTTP contract.
RECORD_FIELDS = (
    "account_no", "name", "address", "phone", "category", "sensitivity", "transformer_id",
    "meter_box_id", "lon", "lat", "location_quality",
)
_PACKED = ("name", "address", "phone", "transformer_id", "meter_box_id")  # mostly distinct: one UTF-8 buffer
_CODED = ("category", "sensitivity", "location_quality")  # a few values each: codes into a small table


def prefix_upper(prefix: str) -> str:
    """The smallest string above every string starting with ``prefix`` (``'0300' → '0301'``)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True)
class _Keys:
    """(key, account_no) pairs sorted by key then account_no."""

    keys: np.ndarray
    accounts: np.ndarray

    def exact(self, key: str, limit: int) -> list[tuple[str, str]]:
        k = _probe(self.keys, key)
        if k is None:
            return []
        lo = int(np.searchsorted(self.keys, k, side="left"))
        hi = min(int(np.searchsorted(self.keys, k, side="right")), lo + limit)
        return [(key, _text(a)) for a in self.accounts[lo:hi]]

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.accounts.nbytes


@dataclass(frozen=True)
class _Packed:
    """Many short strings (or None) in one UTF-8 buffer with offsets: a fifth of the memory of
    a list of ``str`` and no per-object garbage-collector work."""

    data: bytes
    offsets: np.ndarray  # n + 1 (uint32 while the buffer is under 4 GiB)
    present: np.ndarray  # bool: False where the value is None

    @classmethod
    def pack(cls, values: Sequence[str | None]) -> _Packed:
        present = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
        encoded = [v.encode() if v is not None else b"" for v in values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
        if offsets[-1] < 2**32:
            offsets = offsets.astype(np.uint32)
        return cls(b"".join(encoded), offsets, present)

    def __getitem__(self, i: int) -> str | None:
        if not self.present[i]:
            return None
        return self.data[self.offsets[i] : self.offsets[i + 1]].decode()

    @property
    def nbytes(self) -> int:
        return len(self.data) + self.offsets.nbytes + self.present.nbytes


@dataclass(frozen=True)
class _Coded:
    """A column of few distinct values: small integer codes into ``values`` (-1 is None)."""

    codes: np.ndarray
    values: tuple[Any, ...]

    @classmethod
    def pack(cls, column: Sequence[Any]) -> _Coded:
        codes, uniques = pd.factorize(np.asarray(column, dtype=object), use_na_sentinel=True)
        return cls(codes.astype(np.int16 if len(uniques) < 2**15 else np.int32), tuple(uniques))

    def __getitem__(self, i: int) -> Any:
        code = int(self.codes[i])
        return None if code < 0 else self.values[code]

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes


@dataclass(frozen=True)
class CallerIndex:
    """Exact phone, last-4 and account lookups and the result records for one data version (immutable)."""

    phones: _Keys
    last4: _Keys
    accounts: np.ndarray  # sorted account numbers; record i belongs to accounts[i]
    columns: dict[str, _Packed | _Coded | np.ndarray]

    def phone(self, digits: str, limit: int) -> list[tuple[str, str]]:
        return self.phones.exact(digits, limit)

    def phone_last4(self, digits: str, limit: int) -> list[tuple[str, str]]:
        return self.last4.exact(digits, limit)

    def _position(self, account_no: str) -> int | None:
        k = _probe(self.accounts, account_no)
        if k is None:
            return None
        i = int(np.searchsorted(self.accounts, k))
        return i if i < len(self.accounts) and self.accounts[i] == k else None

    def account(self, account_no: str) -> bool:
        return self._position(account_no) is not None

    def account_prefix(self, prefix: str, limit: int) -> list[str]:
        lo_key, hi_key = _probe(self.accounts, prefix), _probe(self.accounts, prefix_upper(prefix))
        if lo_key is None or hi_key is None:  # longer than every account, or not ASCII: none starts so
            return []
        lo, hi = np.searchsorted(self.accounts, [lo_key, hi_key])
        return [_text(a) for a in self.accounts[lo : min(hi, lo + limit)]]

    def records(self, account_nos: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The :data:`RECORD_FIELDS` of each known account (as the store's row would give them)."""
        out: dict[str, dict[str, Any]] = {}
        for account_no in account_nos:
            i = self._position(account_no)
            if i is None:
                continue
            rec: dict[str, Any] = {"account_no": account_no}
            for name in RECORD_FIELDS[1:]:
                column = self.columns[name]
                rec[name] = float(column[i]) if isinstance(column, np.ndarray) else column[i]
            out[account_no] = rec
        return out

    @property
    def nbytes(self) -> int:
        return (self.phones.nbytes + self.last4.nbytes + self.accounts.nbytes
                + sum(c.nbytes for c in self.columns.values()))

    def __len__(self) -> int:
        return len(self.accounts)


def _array(values: Sequence[str]) -> np.ndarray:
    """Byte strings (a quarter of the memory) when every value is ASCII, as ids and digits are."""
    if not len(values):
        return np.array([], dtype="S1")
    try:
        return np.array(values, dtype="S")
    except UnicodeEncodeError:
        return np.array(values)


def _probe(array: np.ndarray, value: str) -> str | bytes | None:
    """``value`` in the array's string kind; None when it cannot occur there.

    A value longer than the array's width, or non-ASCII against byte strings, matches nothing
    (and must not reach ``searchsorted``, which would copy the whole array to a wider dtype).
    """
    width = array.dtype.itemsize // (1 if array.dtype.kind == "S" else 4)
    if len(value) > width:
        return None
    if array.dtype.kind != "S":
        return value
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        return None


def _text(value) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def _sorted_keys(keys: list[str], accounts: list[str]) -> _Keys:
    if not keys:
        return _Keys(_array([]), _array([]))
    k, a = _array(keys), _array(accounts)
    order = np.lexsort((a, k))  # by key, then account: the store's ORDER BY key, account_no
    return _Keys(k[order], a[order])


_TEXT_FIELDS = ("account_no", "name", "address", "phone", "phone_alt", "location_quality")
_GRID_FIELDS = ("category", "sensitivity", "transformer_id", "meter_box_id", "lon", "lat")


def build_caller_index(conn: Connection, located: pd.DataFrame | None = None) -> CallerIndex:
    """Read the customers (in the caller's snapshot) into the in-memory index.

    ``located`` is the snapshot's customer frame (:func:`gis.store.read_customer_points`:
    account_no, grid columns, lon, lat); passing it saves reading the coordinates twice.
    """
    from gis.store import read_customer_points  # the store module reads; this one only indexes

    check_store(conn)
    if located is None:
        located = read_customer_points(conn)
    rows = conn.exec_driver_sql(  # the order read_customer_points uses, so the two line up
        f"SELECT {', '.join(_TEXT_FIELDS)} FROM customers ORDER BY account_no"
    ).all()
    columns_in: dict[str, Any] = {name: list(values) for name, values in zip(_TEXT_FIELDS, zip(*rows))} if rows \
        else {name: [] for name in _TEXT_FIELDS}
    del rows
    accounts = _array(columns_in["account_no"])
    take = _positions(accounts, _array(located["account_no"].tolist()))
    for name in _GRID_FIELDS:
        if name in ("lon", "lat"):
            values = located[name].to_numpy(dtype=np.float64)
        else:  # pandas' string columns hold NaN where the store has NULL: back to None
            values = located[name].to_numpy(dtype=object, copy=True)
            values[pd.isna(values)] = None
        columns_in[name] = values if take is None else values[take]
    order = np.argsort(accounts, kind="stable")  # bytewise, whatever the store's collation
    if not (order == np.arange(len(order))).all():
        accounts = accounts[order]
        columns_in = {name: np.asarray(values, dtype=object if name not in ("lon", "lat") else np.float64)[order]
                      for name, values in columns_in.items()}

    phone_k: list[str] = []
    phone_a: list[str] = []
    last4_k: list[str] = []
    last4_a: list[str] = []
    for account_no, phone, phone_alt in zip(columns_in["account_no"], columns_in["phone"], columns_in["phone_alt"]):
        if phone is None and phone_alt is None:
            continue
        numbers, last4 = phone_keys(phone, phone_alt)
        phone_k += numbers
        phone_a += [account_no] * len(numbers)
        last4_k += last4
        last4_a += [account_no] * len(last4)

    columns: dict[str, _Packed | _Coded | np.ndarray] = {}
    for name in _PACKED:
        columns[name] = _Packed.pack(columns_in[name])
    for name in _CODED:
        columns[name] = _Coded.pack(columns_in[name])
    for name in ("lon", "lat"):
        columns[name] = np.ascontiguousarray(columns_in[name], dtype=np.float64)
    return CallerIndex(
        phones=_sorted_keys(phone_k, phone_a),
        last4=_sorted_keys(last4_k, last4_a),
        accounts=accounts,
        columns=columns,
    )


def _positions(accounts: np.ndarray, located: np.ndarray) -> np.ndarray | None:
    """Where each of ``accounts`` sits in ``located``; None when they are the same sequence."""
    if np.array_equal(accounts, located):
        return None
    take = pd.Index(located).get_indexer(accounts)
    if len(located) != len(accounts) or (take < 0).any():
        raise ValueError("the located customers are not the snapshot's customers")
    return take
