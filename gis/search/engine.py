"""One entry point for the dispatcher's query box: the query's shape picks the indexes.

=========  ==============================================================  ==========
shape      searched                                                        matched
=========  ==============================================================  ==========
phone /    full number exact (memory index or ``customer_keys``), 4 digits  phone,
account    exact on the last four, ≥ 5 digits as a substring of the         phone_last4,
           numbers (trigram), the digits as account exact and prefix       account,
                                                                           account_prefix
pinyin     every reading, exact then prefix; initials exact then prefix    pinyin,
                                                                           pinyin_initials
name       1–2 characters: name exact and prefix (a surname); 3+: also     name,
(Chinese)  name and address containing the text (trigram)                  address
address /  the address containing every term (``人民南路 12号``); a single    address,
mixed      term also as a name (exact, prefix, contained); when nothing     name
           matches, fuzzy: trigram similarity of the query to addresses
           sharing its longest fragments
=========  ==============================================================  ==========

Ranking (``score``, then the matched value, then the account): exact phone/account 1.0 ·
exact name 0.9 · exact pinyin 0.85 / initials 0.8 · last four 0.75 · name prefix 0.7 ·
account prefix 0.65 · pinyin prefix 0.6 / 0.55 · containment 0.4–0.5 (more of the field
covered scores higher) · fuzzy below 0.3 (only when nothing else matched; a candidate whose
address holds ≥ :data:`FUZZY_MIN` of the query's trigrams is a result, the others are
suggestions). No match gives an empty list plus address suggestions, never an error. Every step is deterministic and written once for both stores,
so SQLite and PostGIS (and the memory index) return the same list.

**Masked roles** (``masked=True``: roles that see phones as ``131****2696`` and addresses with every
digit hidden) match hidden fields only on what they see or on a complete value, so no search can
reveal a hidden character: a phone matches in full (exact) or by its visible 尾号, never as a
substring; an address matches on its masked text (the query's digits masked too, so
``纺织路4号1栋701`` and ``纺织路9号3栋888`` give the same answer), ranked and fuzzily compared on
masked text as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import re

import shapely
from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput
from gis.models import Customer
from gis.search.dialect import check_store, contains_any_sql, contains_sql
from gis.search.memory import RECORD_FIELDS, CallerIndex, prefix_upper
from gis.search.normalize import Query, parse_query, trigram_similarity

__all__ = ["Match", "SearchResult", "search_customers", "search_in_memory", "ITEM_FIELDS", "MATCHED", "FUZZY_MIN", "SUGGESTIONS"]

#: The fields of every result item, in order (the HTTP contract).
ITEM_FIELDS = (*RECORD_FIELDS, "matched", "score")
MATCHED = ("phone", "phone_last4", "account", "account_prefix", "name", "pinyin", "pinyin_initials", "address")
#: A fuzzy candidate joins the results when this share of the query's trigrams occurs in its address.
FUZZY_MIN = 0.6
#: How many address suggestions an unknown caller gets (at most ``limit``).
SUGGESTIONS = 5
_CONTAINS_CAP_MIN = 50
_DIGIT = re.compile(r"\d")
_DIGITS = re.compile(r"\d+")


def _masked(value: str) -> str:
    """What a masked role sees of an address (or query) text: every digit as ``*``."""
    return _DIGIT.sub("*", value)


def _visible_fragments(terms: Sequence[str]) -> list[str]:
    """The digit-free pieces of ``terms``: all a masked role's address query may be looked up by."""
    return [piece for t in terms for piece in _DIGITS.split(t) if piece]


@dataclass(frozen=True, order=True)
class Match:
    """One account found by one index; ``rank`` orders the final list."""

    rank: tuple = field(compare=True)
    account_no: str = field(compare=False)
    matched: str = field(compare=False)
    score: float = field(compare=False)


def _match(account_no: str, matched: str, score: float, key: tuple = (0, "")) -> Match:
    score = round(score, 4)
    return Match((-score, key, account_no), account_no, matched, score)


@dataclass(frozen=True)
class SearchResult:
    query: str
    shape: str
    data: list[dict[str, Any]]
    suggestions: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "shape": self.shape, "count": len(self.data), "data": self.data, "suggestions": self.suggestions}


# -- store lookups (plain SQL, identical on both stores) ------------------------------------


def _keys(conn: Connection, kind: str, key: str, limit: int, *, prefix: bool) -> list[tuple[str, str]]:
    if prefix:
        sql = ("SELECT key, account_no FROM customer_keys WHERE kind = :kind AND key >= :lo AND key < :hi "
               "ORDER BY key, account_no LIMIT :n")
        params = {"kind": kind, "lo": key, "hi": prefix_upper(key), "n": limit}
    else:
        sql = "SELECT key, account_no FROM customer_keys WHERE kind = :kind AND key = :key ORDER BY account_no LIMIT :n"
        params = {"kind": kind, "key": key, "n": limit}
    return [tuple(r) for r in conn.execute(text(sql), params)]


def _account_prefix(conn: Connection, prefix: str, limit: int) -> list[str]:
    sql = "SELECT account_no FROM customer_search WHERE account_no >= :lo AND account_no < :hi ORDER BY account_no LIMIT :n"
    return list(conn.execute(text(sql), {"lo": prefix, "hi": prefix_upper(prefix), "n": limit}).scalars())


def _names(conn: Connection, prefix: str, limit: int) -> list[tuple[str, str]]:
    sql = ("SELECT name_key, account_no FROM customer_search WHERE name_key >= :lo AND name_key < :hi "
           "ORDER BY name_key, account_no LIMIT :n")
    return [tuple(r) for r in conn.execute(text(sql), {"lo": prefix, "hi": prefix_upper(prefix), "n": limit})]


def _contains(conn: Connection, column: str, terms: Sequence[str], cap: int) -> list[tuple[str, str]]:
    """(account_no, value) of rows whose ``column`` contains every term; [] if no term has 3+ characters."""
    long_terms = sorted({t for t in terms if len(t) >= 3}, key=lambda t: (-len(t), t))
    short = sorted({t for t in terms if len(t) < 3} - {s for s in terms if any(s in t for t in long_terms)})
    if not long_terms:
        return []
    params: dict[str, Any] = {f"t{i}": f"%{t}%" for i, t in enumerate([*long_terms, *short])}
    params["cap"] = cap
    sql = contains_sql(conn.dialect.name, column, len(long_terms), len(short))
    return [tuple(r) for r in conn.execute(text(sql), params)]


def _records(conn: Connection, account_nos: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not account_nos:
        return {}
    t = Customer.__table__
    cols = [t.c[name] for name in ITEM_FIELDS if name in t.c and name not in ("lon", "lat")]
    stmt = select(*cols, t.c.geom).where(t.c.account_no.in_(bindparam("ids", expanding=True)))
    out = {}
    for row in conn.execute(stmt, {"ids": list(account_nos)}):
        rec = dict(row._mapping)
        geom = rec.pop("geom")
        rec["lon"], rec["lat"] = (float(geom.x), float(geom.y)) if isinstance(geom, shapely.Point) else (None, None)
        out[rec["account_no"]] = rec
    return out


# -- the query shapes ---------------------------------------------------------------------


def _digits(conn: Connection, q: Query, index: CallerIndex | None, limit: int, masked: bool) -> list[Match]:
    out: list[Match] = []
    d = q.digits
    account = "".join(ch for ch in q.raw if ch.isdigit() and ch.isascii())
    if len(d) >= 7:
        hits = index.phone(d, limit) if index is not None else _keys(conn, "phone", d, limit, prefix=False)
        out += [_match(a, "phone", 1.0) for _, a in hits]
    if len(d) == 4:
        hits = index.phone_last4(d, limit) if index is not None else _keys(conn, "last4", d, limit, prefix=False)
        out += [_match(a, "phone_last4", 0.75) for _, a in hits]
    if len(account) >= 3:
        prefixed = index.account_prefix(account, limit) if index is not None else _account_prefix(conn, account, limit)
        out += [_match(a, "account", 1.0) if a == account else _match(a, "account_prefix", 0.65, (0, a)) for a in prefixed]
    exact = any(m.score == 1.0 for m in out)
    # A partial number (substring, scores < 0.5) is looked for only when nothing matched exactly and
    # the better tiers left room: it could never rank into a full list of higher scores.
    # Never for a masked role: a substring would test hidden digits one guess at a time.
    if len(d) >= 5 and not exact and not masked and len({m.account_no for m in out}) < limit:
        out += [_match(a, "phone", 0.4 + 0.1 * len(d) / len(v), (len(v), v)) for a, v in _contains(conn, "phones", [d], max(limit, _CONTAINS_CAP_MIN))]
    return out


def _pinyin(conn: Connection, q: Query, limit: int) -> list[Match]:
    out: list[Match] = []
    for kind, matched, exact, partial in (("pinyin", "pinyin", 0.85, 0.6), ("initials", "pinyin_initials", 0.8, 0.55)):
        for key, account in _keys(conn, kind, q.latin, limit, prefix=True):
            out.append(_match(account, matched, exact) if key == q.latin else _match(account, matched, partial, (0, key)))
    return out


def _text(conn: Connection, q: Query, limit: int, masked: bool) -> list[Match]:
    out: list[Match] = []
    cap = max(limit, _CONTAINS_CAP_MIN)
    single = len(q.terms) == 1
    if single:  # one term: the name exact, then names starting with it (a surname), then containing it
        for name, account in _names(conn, q.text, limit):
            out.append(_match(account, "name", 0.9) if name == q.text else _match(account, "name", 0.7, (0, name)))
        if len(q.text) >= 3:
            out += [_match(a, "name", 0.4 + 0.1 * len(q.text) / len(v), (len(v), v)) for a, v in _contains(conn, "name_key", q.terms, cap)]
    size = sum(len(t) for t in q.terms)
    if masked:  # looked up by the digit-free pieces, then matched and ranked on the masked texts
        seen = [_masked(t) for t in q.terms]
        found = [(a, _masked(v)) for a, v in _contains(conn, "address_key", _visible_fragments(q.terms), cap)]
        found = [(a, v) for a, v in found if all(t in v for t in seen)]
    else:
        found = _contains(conn, "address_key", q.terms, cap)
    out += [_match(a, "address", 0.4 + 0.1 * min(1.0, size / len(v)), (len(v), v)) for a, v in found]
    return out


def _fuzzy(conn: Connection, q: Query, cap: int, masked: bool) -> list[Match]:
    """Addresses sharing the query's longest fragment, scored by trigram similarity.

    The longest fragment length n (≥ 3, the trigram index's unit) at which some address
    contains some fragment of a term is found by binary search — containment is monotone in
    n — with one indexed lookup per step (every fragment of that length ORed), so an
    11-character query costs about three lookups of at most ``cap`` rows. A masked role's query
    is looked up by its digit-free pieces and compared on masked texts.
    """
    terms = sorted(set(_visible_fragments(q.terms) if masked else q.terms))
    lo, hi = 3, max((len(t) for t in terms), default=0)
    found: list[tuple[str, str]] = []
    while lo <= hi:
        n = (lo + hi) // 2
        fragments = sorted({t[i : i + n] for t in terms if len(t) >= n for i in range(len(t) - n + 1)})
        sql, params = contains_any_sql(conn.dialect.name, "address_key", fragments)
        rows = [tuple(r) for r in conn.execute(text(sql), {**params, "cap": cap})]
        if rows:
            found, lo = rows, n + 1
        else:
            hi = n - 1
    if masked:
        return [_match(a, "address", 0.3 * trigram_similarity(_masked(q.text), _masked(v)), (len(v), _masked(v)))
                for a, v in found]
    return [_match(a, "address", 0.3 * trigram_similarity(q.text, v), (len(v), v)) for a, v in found]


def _best(matches: Sequence[Match]) -> list[Match]:
    best: dict[str, Match] = {}
    for m in matches:
        if m.account_no not in best or m.rank < best[m.account_no].rank:
            best[m.account_no] = m
    return sorted(best.values())


def _items(conn: Connection, matches: Sequence[Match], index: CallerIndex | None) -> list[dict[str, Any]]:
    """The result items of ``matches``: records from the memory index, the store only for accounts
    it does not hold (added since the index's data version)."""
    wanted = [m.account_no for m in matches]
    records = index.records(wanted) if index is not None else {}
    missing = [a for a in wanted if a not in records]
    if missing:
        records.update(_records(conn, missing))
    items = []
    for m in matches:
        rec = records.get(m.account_no)
        if rec is not None:  # gone since the index was built: skip rather than fail
            items.append({**{k: rec.get(k) for k in ITEM_FIELDS}, "matched": m.matched, "score": m.score})
    return items


def search_customers(conn: Connection, q: object, *, limit: int = 20, index: CallerIndex | None = None,
                     masked: bool = False) -> SearchResult:
    """Find customers for the query ``q``; ranked items with the field that matched.

    ``index`` (the snapshot's :class:`CallerIndex`) answers exact phone/account lookups and
    supplies the result records from memory; without it the store answers them. ``masked``: the
    caller sees phones and addresses masked (see the module's notes). ``conn`` is
    used only for what the index cannot answer (see :func:`search_in_memory`). Raises
    :class:`InvalidInput` (field ``q`` or ``limit``) for an empty, overlong or
    control-character query; a query that matches nothing returns no items and, for text,
    address suggestions.
    """
    query = parse_query(q)
    if not isinstance(limit, int) or limit < 1:
        raise InvalidInput("limit must be a positive integer", field="limit", value=limit)
    if index is None:
        check_store(conn)
    if query.digits or query.shape in ("phone", "account"):
        matches = _digits(conn, query, index, limit, masked)
    elif query.shape == "pinyin":
        matches = _pinyin(conn, query, limit)
    else:
        matches = _text(conn, query, limit, masked)
    ranked = _best(matches)[:limit]
    suggestions: list[Match] = []
    if query.terms and not ranked and len(query.text) >= 4:
        fuzzy = _best(_fuzzy(conn, query, max(limit, _CONTAINS_CAP_MIN), masked))
        seen = {m.account_no for m in ranked}
        fuzzy = [m for m in fuzzy if m.account_no not in seen]
        close = [m for m in fuzzy if m.score >= round(0.3 * FUZZY_MIN, 4)]
        ranked = (ranked + close)[:limit]
        if not ranked:
            suggestions = fuzzy[: min(limit, SUGGESTIONS)]
    return SearchResult(query=query.raw, shape=query.shape, data=_items(conn, ranked, index), suggestions=_items(conn, suggestions, index))


class _StoreNeeded(Exception):
    """Raised by :data:`_NO_STORE` when a query needs more than the memory index."""


class _NoStore:
    """Stands in for the connection: any use means the store is needed."""

    def __getattr__(self, name: str):
        raise _StoreNeeded(name)


_NO_STORE = _NoStore()


def search_in_memory(q: object, index: CallerIndex, *, limit: int = 20, masked: bool = False) -> SearchResult | None:
    """The answer of :func:`search_customers` when the memory index alone gives it, else None.

    Exact phone, 尾号 and account lookups (and account prefixes filling ``limit``) need no
    store: no connection, no round trip, no thread — an API worker answers them on its
    event loop. It runs the very same code with a stand-in connection, so it cannot answer
    differently; a query that would touch the store returns None (call :func:`search_customers`).
    Raises :class:`InvalidInput` as :func:`search_customers` does.
    """
    try:
        return search_customers(_NO_STORE, q, limit=limit, index=index, masked=masked)  # type: ignore[arg-type]
    except _StoreNeeded:
        return None
