"""In-memory data-quality index of the customers' contact data (issue 18), one per data version.

The data-quality figures used to be full scans of ``customers`` (3–8 s at 1M customers on
SQLite). This index answers the same questions from arrays held by the API process:

* per customer: the record's verification day (``contact_verified_at`` as days since
  1970-01-01; ``NEVER`` when never verified), and a bit set of *findings* on the contact values
  (:data:`FINDINGS`): a phone that is missing, not a phone number, or shared with a customer
  of another name; an address or name that is missing; a WeChat binding that is not an OpenID;
* per customer: the 台区 (transformer) and feeder codes, with the rows ordered by area, so
  the per-area figures are ``np.bincount`` / ``reduceat`` over 1M integers (a few ms).

*Stale* depends on the period asked for, so it is not a stored bit: a customer is stale when
verified before ``since`` or never.

Kept current like the caller index's overlay: :meth:`QualityIndex.catch_up` reads the
``contact_history`` after the index's mark and the changed customers' values from the store,
and recomputes their findings (and those of the customers sharing their old or new phone).
The API's worker calls it right after its own contact change, on a contact event from the
bus, and on a timer. A new data version builds a new index (in the snapshot's transaction).

Rows are the customers ordered by account number (as :func:`gis.store.read_assets` gives
them), so "then by account number" orders are row orders.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection

from gis.contacts import history_since, latest_history_id
from gis.errors import InvalidInput
from gis.models import Base

__all__ = [
    "QualityIndex",
    "QualityFilter",
    "FINDINGS",
    "RULES",
    "FIELDS",
    "NEVER",
    "build_quality_index",
    "read_contact_columns",
    "ContactColumns",
    "phone_is_valid",
]

_EPOCH = dt.date(1970, 1, 1)
#: The verification day of a customer never verified (sorts first: the stalest).
NEVER = np.int32(-(2**31) + 1)

#: Findings on the contact values: (rule, field) -> bit.
FINDINGS: dict[tuple[str, str], int] = {
    ("missing", "phone"): 1,        # neither phone nor phone_alt
    ("invalid", "phone"): 2,        # phone or phone_alt present but not a Chinese mobile / landline
    ("conflicting", "phone"): 4,    # the phone is also the phone of a customer with another 户名
    ("missing", "address"): 8,
    ("missing", "name"): 16,
    ("invalid", "wechat_openid"): 32,
}
#: The rules a filter names; ``stale`` is the record's verification date against the period.
RULES = ("stale", "missing", "invalid", "conflicting")
#: The contact fields a filter names (``stale`` is about the record: it matches any field).
FIELDS = ("phone", "address", "name", "wechat_openid")

_PHONE_SEPARATORS = re.compile(r"[\s\-–—().（）]")
_PHONE = re.compile(r"^(?:1[3-9]\d{9}|0\d{9,11})$")  # as loaders.checks: mobile, landline with area code
_OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
_CONTACT_COLUMNS = ("account_no", "name", "address", "phone", "phone_alt", "wechat_openid", "contact_verified_at")


def _digits(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    d = _PHONE_SEPARATORS.sub("", value)
    if d.startswith("+86"):
        d = d[3:]
    elif d.startswith("0086"):
        d = d[4:]
    return d


def phone_is_valid(value: object) -> bool:
    """A stored phone is a Chinese mobile or a landline with area code (separators and +86 allowed)."""
    d = _digits(value)
    return d is not None and bool(_PHONE.match(d))


def _blank(values: np.ndarray) -> np.ndarray:
    """None, NaN or only spaces (a plain loop: 4× faster than pandas' string methods here)."""
    return np.fromiter((v is None or v != v or (isinstance(v, str) and not v.strip()) for v in values),
                       dtype=bool, count=len(values))


def _hash(values: Iterable[object]) -> np.ndarray:
    """uint64 hashes of strings (0 for blank)."""
    s = pd.Series(list(values) if not isinstance(values, (np.ndarray, pd.Series)) else values, dtype=object)
    blank = s.isna().to_numpy(bool)
    out = pd.util.hash_array(s.fillna("").astype(str).to_numpy(object), categorize=False).astype(np.uint64)
    out[blank] = 0
    return out


def _days(values: Sequence[object]) -> np.ndarray:
    out = np.full(len(values), NEVER, dtype=np.int32)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v):
            continue
        day = dt.date.fromisoformat(v[:10]) if isinstance(v, str) else (v.date() if isinstance(v, dt.datetime) else v)
        out[i] = (day - _EPOCH).days
    return out


def _plain_digits(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For string values: (all ASCII digits and at most 20 long, the number of characters, the
    code points of the first 21 characters), vectorized."""
    u = np.asarray(values, dtype="U21")
    codes = u.view(np.uint32).reshape(len(u), 21) if len(u) else np.empty((0, 21), dtype=np.uint32)
    length = (codes != 0).sum(axis=1)
    digits = ((codes >= 48) & (codes <= 57)) | (codes == 0)
    return digits.all(axis=1) & (length <= 20) & (length > 0), length, codes


def _phones_valid(values: np.ndarray) -> np.ndarray:
    """Validity of present phone strings: plain digits checked with arrays, the rest (separators,
    +86) with the loaders' rule (a regex): 1M values in well under a second."""
    ok = np.zeros(len(values), dtype=bool)
    if not len(values):
        return ok
    plain, length, first = _plain_digits(values)
    mobile = plain & (length == 11) & (first[:, 0] == ord("1")) & (first[:, 1] >= ord("3"))
    landline = plain & (first[:, 0] == ord("0")) & (length >= 10) & (length <= 12)
    ok[mobile | landline] = True
    rest = np.flatnonzero(~plain)
    if len(rest):
        ok[rest] = [phone_is_valid(v) for v in values[rest]]
    return ok


def _findings(name: np.ndarray, address: np.ndarray, phone: np.ndarray, phone_alt: np.ndarray,
              openid: np.ndarray) -> np.ndarray:
    """The finding bits except ``conflicting`` (vectorized over the columns)."""
    bits = np.zeros(len(name), dtype=np.uint8)
    no_phone, no_alt = _blank(phone), _blank(phone_alt)
    bits[no_phone & no_alt] |= FINDINGS["missing", "phone"]
    bad = np.zeros(len(name), dtype=bool)
    for col, blank in ((phone, no_phone), (phone_alt, no_alt)):
        present = np.flatnonzero(~blank)
        if len(present):
            bad[present[~_phones_valid(col[present])]] = True
    bits[bad] |= FINDINGS["invalid", "phone"]
    bits[_blank(address)] |= FINDINGS["missing", "address"]
    bits[_blank(name)] |= FINDINGS["missing", "name"]
    has_openid = np.flatnonzero(~_blank(openid))
    if len(has_openid):
        ok = pd.Series(openid[has_openid], dtype=object).str.match(_OPENID).to_numpy(bool)
        bits[has_openid[~ok]] |= FINDINGS["invalid", "wechat_openid"]
    return bits


def _normalized_phone_hash(phone: np.ndarray) -> np.ndarray:
    digits = np.asarray(phone, dtype=object).copy()
    blank = _blank(digits)
    digits[blank] = None
    present = np.flatnonzero(~blank)
    if len(present):
        plain = _plain_digits(digits[present])[0]
        odd = present[~plain]
        digits[odd] = [_digits(v) for v in digits[odd]]
    return _hash(digits)


@dataclass(frozen=True)
class ContactColumns:
    """What the index keeps of the contact values, per customer (no personal data: hashes and bits)."""

    account_no: np.ndarray
    vday: np.ndarray        # int32 days since 1970-01-01, NEVER when never verified
    bits: np.ndarray        # uint8 findings (FINDINGS) except ``conflicting``, computed at build
    phone_hash: np.ndarray  # uint64 of the normalized phone (0: none)
    name_hash: np.ndarray   # uint64 of the 户名

    @classmethod
    def of(cls, df: pd.DataFrame) -> ContactColumns:
        """From a frame of the contact columns (``account_no``, the contact fields, ``contact_verified_at``)."""
        cols = {c: df[c].to_numpy(object) for c in _CONTACT_COLUMNS}
        return cls(cols["account_no"], _days(cols["contact_verified_at"]),
                   _findings(cols["name"], cols["address"], cols["phone"], cols["phone_alt"], cols["wechat_openid"]),
                   _normalized_phone_hash(cols["phone"]), _hash(cols["name"]))

    @classmethod
    def concat(cls, parts: list[ContactColumns]) -> ContactColumns:
        if not parts:
            return cls.of(pd.DataFrame(columns=list(_CONTACT_COLUMNS)))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                     ("account_no", "vday", "bits", "phone_hash", "name_hash")))


@dataclass(frozen=True)
class QualityFilter:
    """Which customers a question is about: a rule (None: any), a field (None: any), the period's start."""

    rule: str | None
    field: str | None
    since_day: int

    @classmethod
    def of(cls, rule: str | None, field: str | None, since: dt.date) -> QualityFilter:
        if rule is not None and rule not in RULES:
            raise InvalidInput(f"rule must be one of {', '.join(RULES)}", field="rule", value=rule)
        if field is not None and field not in FIELDS:
            raise InvalidInput(f"field must be one of {', '.join(FIELDS)}", field="field", value=field)
        if rule is not None and rule != "stale" and field is not None and (rule, field) not in FINDINGS:
            pairs = ", ".join(f"{r}:{f}" for r, f in FINDINGS)
            raise InvalidInput(f"no rule {rule} on the field {field} (rules on fields: stale on any field, {pairs})",
                               field="field", value=f"{rule}:{field}")
        return cls(rule, field, (since - _EPOCH).days)

    @property
    def bits(self) -> int:
        return sum(b for (r, f), b in FINDINGS.items()
                   if (self.rule is None or self.rule == r) and (self.field is None or self.field == f))

    @property
    def stale(self) -> bool:
        return self.rule in (None, "stale")


class QualityIndex:
    """Per-customer verification day and contact findings, with per-area figures (see the module docstring)."""

    def __init__(self, account_no: np.ndarray, transformer_id: np.ndarray, feeder_of: dict[str, str],
                 contacts: ContactColumns | pd.DataFrame, *, mark: int) -> None:
        n = len(account_no)
        if isinstance(contacts, pd.DataFrame):
            contacts = ContactColumns.of(contacts)
        if len(contacts.account_no) != n or not np.array_equal(contacts.account_no, account_no):
            raise ValueError("contact columns and customers must be the same rows (both ordered by account number)")
        self.mark = mark
        self._lock = threading.Lock()
        self.account_no = account_no
        self._row_of = pd.Index(account_no)
        if n:
            self._row_of.get_indexer(account_no[:1])     # its hash table now, not at the first contact change
        self.vday, self.bits = contacts.vday, contacts.bits
        self.phone_hash, self.name_hash = contacts.phone_hash, contacts.name_hash
        # the rows holding each phone at build (sorted by hash); changed rows are looked up in _changed
        order = np.argsort(self.phone_hash, kind="stable")
        self._phone_sorted, self._phone_rows = self.phone_hash[order], order
        self._changed: set[int] = set()
        self._mark_conflicts(np.arange(n))
        # areas: codes per customer, rows ordered by code (for reduceat), -1 = none
        tr_codes, tr_ids = pd.factorize(pd.Series(transformer_id, dtype=object), use_na_sentinel=True)
        feeders = pd.Series([feeder_of.get(t) for t in tr_ids], dtype=object)
        fd_codes_of_tr, fd_ids = pd.factorize(feeders, use_na_sentinel=True)
        fd_codes = np.where(tr_codes >= 0, fd_codes_of_tr[np.maximum(tr_codes, 0)] if len(tr_ids) else -1, -1)
        self._groups = {"transformer": self._group(tr_codes, np.asarray(tr_ids, dtype=object)),
                        "feeder": self._group(fd_codes, np.asarray(fd_ids, dtype=object))}
        for g in self._groups.values():
            g["never"] = np.bincount(g["codes"][self.vday == NEVER], minlength=len(g["ids"]))
            g["oldest"] = self._oldest_all(g)
            g["verified"] = {}       # since_day -> verified per area, kept current by apply (a few periods)
        # the stalest order of the build (never first, oldest, account); changed rows are merged at query time
        self._stale_order = np.argsort(self._stale_key(np.arange(n)), kind="stable")

    @staticmethod
    def _group(codes: np.ndarray, ids: np.ndarray) -> dict[str, Any]:
        k = len(ids)
        shifted = np.where(codes >= 0, codes, k).astype(np.int64)   # none: the last group
        order = np.argsort(shifted, kind="stable")
        sizes = np.bincount(shifted, minlength=k + 1)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        # rank of each area's id (the null area last): the tie-break of equal shares, as integers
        rank = np.empty(k + 1, dtype=np.int64)
        rank[np.argsort(np.asarray([str(i) for i in ids], dtype=object), kind="stable")] = np.arange(k)
        rank[k] = k
        return {"codes": shifted, "ids": np.append(ids, None), "order": order, "sizes": sizes, "starts": starts,
                "rank": rank}

    _NO_DAY = np.iinfo(np.int32).max

    def _oldest_all(self, g: dict[str, Any]) -> np.ndarray:
        """Per area the oldest known verification day (NEVER: none known)."""
        k = len(g["ids"])
        out = np.full(k, NEVER, dtype=np.int64)
        nonempty = g["sizes"] > 0
        if nonempty.any():
            ordered = np.where(self.vday != NEVER, self.vday, self._NO_DAY).astype(np.int64)[g["order"]]
            per = np.minimum.reduceat(ordered, g["starts"][nonempty])
            out[nonempty] = np.where(per == self._NO_DAY, NEVER, per)
        return out

    def _oldest_of(self, g: dict[str, Any], c: int) -> int:
        rows = g["order"][g["starts"][c]: g["starts"][c] + g["sizes"][c]]
        days = self.vday[rows]
        days = days[days != NEVER]
        return int(days.min()) if len(days) else int(NEVER)

    def _stale_key(self, rows: np.ndarray) -> np.ndarray:
        return (self.vday[rows].astype(np.int64) - int(NEVER)) * (len(self.vday) + 1) + rows

    def _moved(self, pos: int, old: int, new: int) -> None:
        """Keep the per-area counts current when customer ``pos``'s verification day moves."""
        if old == new:
            return
        for g in self._groups.values():
            c = int(g["codes"][pos])
            g["never"][c] += int(new == NEVER) - int(old == NEVER)
            for since, verified in g["verified"].items():
                verified[c] += int(new >= since) - int(old >= since)
            g["oldest"][c] = self._oldest_of(g, c)

    # ------------------------------------------------------------------ conflicts
    def _holders(self, h: int) -> np.ndarray:
        """Rows whose current phone hash is ``h``."""
        key = np.uint64(h)   # a Python int would make numpy compare the whole array as floats (10 ms)
        a = int(np.searchsorted(self._phone_sorted, key, side="left"))
        b = int(np.searchsorted(self._phone_sorted, key, side="right"))
        rows = self._phone_rows[a:b]
        rows = rows[self.phone_hash[rows] == key]
        extra = [r for r in self._changed if self.phone_hash[r] == key]
        return np.union1d(rows, np.asarray(extra, dtype=rows.dtype)) if extra else rows

    def _mark_conflicts(self, rows: np.ndarray) -> None:
        """Recompute the ``conflicting`` bit of ``rows`` (all rows at build: vectorized)."""
        bit = np.uint8(FINDINGS["conflicting", "phone"])
        if len(rows) == len(self.phone_hash):
            ph, nm = self.phone_hash, self.name_hash
            frame = pd.DataFrame({"p": ph, "n": nm})
            names = frame[ph != 0].groupby("p")["n"].nunique()
            shared = names.index[names.to_numpy() > 1].to_numpy(np.uint64)
            hit = np.isin(ph, shared) & (ph != 0)
            self.bits &= ~bit
            self.bits[hit] |= bit
            return
        for r in rows:
            h = self.phone_hash[r]
            holders = self._holders(int(h)) if h != 0 else np.empty(0, dtype=np.int64)
            others = len(np.unique(self.name_hash[holders])) > 1 if len(holders) > 1 else False
            if others:
                self.bits[holders] |= bit
            else:
                self.bits[r] &= ~bit
                if len(holders):
                    self.bits[holders] &= ~bit

    # ------------------------------------------------------------------ updates
    def apply(self, records: dict[str, dict[str, Any] | None], upto: int) -> None:
        """Take the current contact values of changed customers (None: gone); ``upto``: newest history id read."""
        with self._lock:
            touched: list[int] = []
            for account_no, rec in records.items():
                pos = self._row_of.get_indexer([account_no])[0]
                if pos < 0 or rec is None:
                    continue
                old_phone = int(self.phone_hash[pos])
                old_day = int(self.vday[pos])
                self.vday[pos] = _days([rec.get("contact_verified_at")])[0]
                self._moved(int(pos), old_day, int(self.vday[pos]))
                one = lambda k: np.asarray([rec.get(k)], dtype=object)  # noqa: E731
                keep = self.bits[pos] & np.uint8(FINDINGS["conflicting", "phone"])
                self.bits[pos] = _findings(one("name"), one("address"), one("phone"), one("phone_alt"),
                                           one("wechat_openid"))[0] | keep
                self.phone_hash[pos] = _normalized_phone_hash(one("phone"))[0]
                self.name_hash[pos] = _hash(one("name"))[0]
                self._changed.add(int(pos))
                touched.append(int(pos))
                if old_phone:
                    touched.extend(int(r) for r in self._holders(old_phone))
            self._mark_conflicts(np.unique(np.asarray(touched, dtype=np.int64)))
            self.mark = max(self.mark, upto)

    def catch_up(self, conn: Connection, *, limit: int = 1000) -> int:
        """Read the contact changes after :attr:`mark` and apply them; returns how many were read."""
        changes = history_since(conn, self.mark, limit=limit)
        if not changes:
            return 0
        accounts = list(dict.fromkeys(a for _, a in changes))
        records: dict[str, dict[str, Any] | None] = dict.fromkeys(accounts)
        records.update(_read_contacts(conn, accounts))
        self.apply(records, changes[-1][0])
        return len(changes)

    # ------------------------------------------------------------------ questions
    def __len__(self) -> int:
        return len(self.vday)

    def mask(self, flt: QualityFilter) -> np.ndarray:
        """Boolean per row: the customer has a finding the filter names (or is stale when it names stale)."""
        bits = flt.bits
        out = (self.bits & np.uint8(bits)) != 0 if bits else np.zeros(len(self.vday), dtype=bool)
        if flt.stale:
            out |= self.vday < flt.since_day
        return out

    def rules_of(self, rows: Sequence[int], since_day: int) -> list[list[str]]:
        """The findings of ``rows`` as ``"rule:field"`` (``"stale"`` for the record's date)."""
        out = []
        for r in rows:
            found = ["stale"] if self.vday[r] < since_day else []
            b = int(self.bits[r])
            found += [f"{rule}:{fld}" for (rule, fld), bit in FINDINGS.items() if b & bit]
            out.append(found)
        return out

    def totals(self, since_day: int, flt: QualityFilter | None = None) -> dict[str, Any]:
        """All customers: count, verified within the period, never verified (and flagged by ``flt``)."""
        n = len(self.vday)
        verified = int(np.count_nonzero(self.vday >= since_day))
        never = int(np.count_nonzero(self.vday == NEVER))
        out = {"customers": n, "verified": verified, "never_verified": never,
               "share": round(verified / n, 4) if n else None}
        if flt is not None:
            out["flagged"] = int(np.count_nonzero(self.mask(flt)))
        return out

    def by_area(self, group_by: str, since_day: int, *, limit: int, offset: int = 0,
                flt: QualityFilter | None = None) -> list[dict[str, Any]]:
        """Per 台区 or feeder (null: customers without one), lowest share verified first, then id
        (the null area last among equal shares); as :func:`gis.data_quality.verification_by_area`.

        The verified counts of a period are computed once (one pass over the customers) and then
        kept current by :meth:`apply`, so a question costs O(areas), not O(customers)."""
        g = self._groups[group_by]
        ids, sizes = g["ids"], g["sizes"]
        with self._lock:
            verified = g["verified"].get(since_day)
            if verified is None:
                if len(g["verified"]) >= 8:                      # a few periods in use at once
                    g["verified"].pop(next(iter(g["verified"])))
                verified = g["verified"][since_day] = np.bincount(g["codes"][self.vday >= since_day], minlength=len(ids))
            verified, never, oldest = verified.copy(), g["never"].copy(), g["oldest"].copy()
            flagged = self.mask(flt) if flt is not None else None
        present = np.flatnonzero(sizes)
        share = verified[present] / sizes[present]
        order = np.lexsort((g["rank"][present], share))
        page = present[order][offset:offset + limit]
        flagged_n = np.bincount(g["codes"][flagged], minlength=len(ids)) if flagged is not None else None
        out = []
        for c in page.tolist():
            n = int(sizes[c])
            rec = {"id": ids[c], "customers": n, "verified": int(verified[c]), "never_verified": int(never[c]),
                   "share": round(int(verified[c]) / n, 4),
                   "oldest_verification": None if oldest[c] == NEVER else (_EPOCH + dt.timedelta(days=int(oldest[c]))).isoformat()}
            if flagged_n is not None:
                rec["flagged"] = int(flagged_n[c])
            out.append(rec)
        return out

    def area_rows(self, group_by: str, area_id: str | None) -> np.ndarray:
        """Rows of one 台区 or feeder."""
        g = self._groups[group_by]
        hit = [i for i, x in enumerate(g["ids"][:-1]) if x == area_id] if area_id is not None else []
        if not hit:
            return np.empty(0, dtype=np.int64)
        c = hit[0]
        return g["order"][g["starts"][c]: g["starts"][c] + g["sizes"][c]]

    def stalest(self, limit: int, *, rows: np.ndarray | None = None) -> list[tuple[str, int | None]]:
        """(account_no, verification day or None) of the ``limit`` stalest customers (never first, then
        the oldest day, then account number), among ``rows`` (default: all).

        All customers: the build's order, skipping the customers changed since, merged with them
        (O(limit + changes)); within ``rows``: a partial sort of those rows."""
        if limit <= 0:
            return []
        with self._lock:
            if rows is None:
                changed = np.fromiter(self._changed, dtype=np.int64, count=len(self._changed))
                head = self._stale_order[: limit + len(changed)]
                if len(changed):
                    head = head[~np.isin(head, changed)][:limit]
                cand = np.concatenate([head, changed])
            else:
                cand = np.asarray(rows, dtype=np.int64)
            if not len(cand):
                return []
            key = self._stale_key(cand)
            part = np.argpartition(key, limit - 1)[:limit] if len(cand) > limit else np.arange(len(cand))
            part = part[np.argsort(key[part], kind="stable")]
            picked = cand[part]
            days = self.vday[picked].tolist()
        return [(str(self.account_no[r]), None if d == NEVER else int(d)) for r, d in zip(picked.tolist(), days)]

    @staticmethod
    def day(value: int | None) -> dt.date | None:
        return None if value is None else _EPOCH + dt.timedelta(days=int(value))


def _read_contacts(conn: Connection, account_nos: list[str]) -> dict[str, dict[str, Any]]:
    t = Base.metadata.tables["customers"]
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(account_nos), 1000):
        q = select(*[t.c[c] for c in _CONTACT_COLUMNS]).where(t.c.account_no.in_(account_nos[start:start + 1000]))
        for row in conn.execute(q):
            out[row[0]] = dict(row._mapping)
    return out


def read_contact_columns(conn: Connection, *, chunk: int = 100_000) -> ContactColumns:
    """The contact columns of every customer, ordered by account number (as the asset tables),
    reduced chunk by chunk to hashes and bits (the names, phones and addresses of 1M customers
    are never all held at once)."""
    t = Base.metadata.tables["customers"]
    result = conn.execution_options(yield_per=chunk).execute(
        select(*[t.c[c] for c in _CONTACT_COLUMNS]).order_by(t.c.account_no))
    parts = []
    while rows := result.fetchmany(chunk):
        parts.append(ContactColumns.of(pd.DataFrame([tuple(r) for r in rows], columns=list(_CONTACT_COLUMNS))))
    return ContactColumns.concat(parts)


def build_quality_index(conn: Connection, tables: dict[str, pd.DataFrame]) -> QualityIndex:
    """The index of the data version ``conn``'s snapshot holds (``tables`` read in the same transaction)."""
    customers, tr = tables["customers"], tables["transformers"]
    feeders = {str(a): str(f) for a, f in zip(tr["id"], tr["feeder_id"]) if isinstance(f, str) and f}
    mark = latest_history_id(conn)
    return QualityIndex(customers["account_no"].to_numpy(object), customers["transformer_id"].to_numpy(object),
                        feeders, read_contact_columns(conn), mark=mark)
