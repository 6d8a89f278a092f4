"""Where interactions count, and the rollups that answer heat without scanning them.

Placement (:func:`match_callers`, :func:`place`): a contact is matched to a customer by the
account number it names, else its caller phone (normalized: digits without +86/0086), else
its WeChat openid; a phone or openid held by several customers is ``ambiguous`` and stays
unmatched, as does an ``unknown`` caller (never guessed). A matched contact counts at its
customer (the customer's H3 cell, 台区 and feeder); an unmatched one at its own coordinates
(its cell only: a 台区 is a set of customers, and an unknown caller is none of them).

Every placed contact carries its H3 cell at :data:`FINE_RES` (the ``h3`` package, v4,
64-bit integer form) and its local ``day`` (days since 1970-01-01 in China Standard Time,
UTC+8, which has no daylight saving). **One rollup** counts contacts by res-:data:`ROLLUP_RES`
cell × 台区 × feeder × day × channel × kind (:data:`ROLLUP_KEY`; migration 0018): the cell view
sums it over 台区 and feeders, the 台区 and feeder views over cells, and a coarser cell of
:data:`RESOLUTIONS` is a bit operation on a res-9 cell (:func:`parent_cells`, in numpy and in
SQL alike). A contact thus costs the ingest one rollup upsert, where a table per view cost
three. :func:`apply_deltas` adds signed counts (upsert-increment, both stores), so the ingest
keeps the rollup in its own transaction; :func:`rebuild_rollups` recomputes it from the raw
table with one ``INSERT … SELECT … GROUP BY``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from h3.api import basic_int as h3i
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.bulk import copy_fields, sqlite_stage
from gis.dialects.sqlite import point_xy
from gis.models import CHANNELS, INTERACTION_KINDS
from gis.search.normalize import normalize_phone

__all__ = [
    "FINE_RES",
    "RESOLUTIONS",
    "ROLLUP_RES",
    "CELL9_SQL",
    "AREA_KINDS",
    "MATCH_KINDS",
    "local_days",
    "day_number",
    "day_date",
    "fine_cells",
    "parent_cells",
    "descendant_range",
    "match_callers",
    "place",
    "rollup_deltas",
    "apply_deltas",
    "RollupDeltas",
    "rebuild_rollups",
    "cell_counts",
    "area_counts",
    "caller_candidates",
    "transformer_feeders",
    "place_stored",
    "in_chunks",
    "select_in",
    "rollup_version",
    "rollup_state",
    "read_rollups",
    "read_rollup_rows",
    "read_rollup_changes",
    "ROLLUP_KEY",
    "area_interactions",
]

#: Resolution of the cell stored on every interaction (res 10: ~66 m edge, ~15,000 m²).
FINE_RES = 10
#: Resolutions heat serves (6: ~3.7 km edge … 9: ~174 m); it picks one by zoom.
RESOLUTIONS = (6, 7, 8, 9)
#: The one resolution stored in the cell rollup: res 6–8 are sums of its rows (in memory, or
#: grouped in SQL), so storing them cost the ingest three more upserts per contact for no
#: information (migration 0017). Res 10 is stored on each interaction (an area's list) but not
#: rolled up: at that size a rollup row is nearly one contact.
ROLLUP_RES = RESOLUTIONS[-1]
#: The res-9 parent of an interaction's res-10 cell as one integer: its finer digits shifted out
#: (every stored cell has the same resolution bits, so this orders and groups like the parent).
#: The expression ``ix_interactions_cell9`` indexes (migration 0019); SQL must spell it the same.
_CELL9_SHIFT = 3 * (15 - ROLLUP_RES)
CELL9_SQL = f"(cell >> {_CELL9_SHIFT})"
AREA_KINDS = ("transformer", "feeder")
MATCH_KINDS = ("account", "phone", "wechat", "ambiguous", "unknown")

_CST_OFFSET_S = 8 * 3600
_EPOCH = dt.date(1970, 1, 1)
_RES_BITS = np.int64(15) << np.int64(52)


# ----------------------------------------------------------------------------- days and cells
def local_days(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Days since 1970-01-01 in UTC+8 of tz-aware timestamps (int64)."""
    idx = pd.DatetimeIndex(times)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC")
    seconds = idx.as_unit("s").asi8  # pandas 3 may hold seconds, micro- or nanoseconds
    return (seconds + _CST_OFFSET_S) // 86_400


def day_number(value: dt.date) -> int:
    """The day number of a calendar date (local, UTC+8)."""
    return (value - _EPOCH).days


def day_date(number: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(number))


def fine_cells(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """H3 cells at :data:`FINE_RES` (int64) of lon/lat arrays; 0 where a coordinate is missing."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    out = np.zeros(len(lon), dtype=np.int64)
    ok = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    f = h3i.latlng_to_cell
    out[ok] = [f(y, x, FINE_RES) for x, y in zip(lon[ok].tolist(), lat[ok].tolist())]
    return out


def _low_mask(res: int) -> int:
    return (1 << (3 * (15 - res))) - 1


def _parent_terms(res: int) -> tuple[int, int]:
    """(keep, set): parent = (cell & keep) | set, for a finer cell (H3 index bit layout:
    resolution in bits 52–55, one 3-bit digit per resolution, unused digits all ones)."""
    keep = ~((15 << 52) | _low_mask(res))
    return keep, (res << 52) | _low_mask(res)


def parent_cells(cells: np.ndarray, res: int) -> np.ndarray:
    """The res-``res`` parents of finer cells (vectorized; 0 stays 0)."""
    cells = np.asarray(cells, dtype=np.int64)
    keep, put = _parent_terms(res)
    out = (cells & np.int64(keep)) | np.int64(put)
    return np.where(cells == 0, 0, out)


def descendant_range(cell: int) -> tuple[int, int]:
    """Bounds (inclusive) of the :data:`FINE_RES` cells inside ``cell`` (a coarser or equal cell):
    they share its digits, so they are exactly the fine cells in this integer range."""
    res = h3i.get_resolution(cell)
    base = (cell & ~((15 << 52) | _low_mask(res))) | (FINE_RES << 52) | _low_mask(FINE_RES)
    span = 0
    for r in range(res + 1, FINE_RES + 1):
        span |= 6 << (3 * (15 - r))  # digit 6 is the largest valid digit
    return base, base | span


# ------------------------------------------------------------------------------- matching
def caller_candidates(conn: Connection, accounts: Iterable[str], phones: Iterable[str],
                      openids: Iterable[str]) -> pd.DataFrame:
    """The customers a batch of callers could be: by account, either phone, or openid (all holders,
    so an ambiguous phone is seen as such). Columns: account_no, phone, phone_alt, wechat_openid,
    transformer_id, lon, lat."""
    pg = conn.dialect.name == "postgresql"
    point = "ST_X(geom), ST_Y(geom)" if pg else "geom, NULL"
    found: dict[str, tuple[Any, ...]] = {}
    for column, values in (("account_no", accounts), ("phone", phones), ("phone_alt", phones), ("wechat_openid", openids)):
        vals = sorted({v for v in values if v})
        sql = f"SELECT account_no, phone, phone_alt, wechat_openid, transformer_id, {point} FROM customers WHERE {column} "
        for r in select_in(conn, sql, vals):
            found[r[0]] = tuple(r)
    columns = ["account_no", "phone", "phone_alt", "wechat_openid", "transformer_id", "lon", "lat"]
    frame = pd.DataFrame(list(found.values()), columns=columns)
    if not pg and len(frame):
        frame["lon"], frame["lat"] = point_xy(frame["lon"].to_numpy(object))
    return frame.astype({"lon": float, "lat": float})


def select_in(conn: Connection, sql: str, values: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (ending in ``WHERE column``) for the ``values`` of the column, through the
    driver's own cursor and ``fetchall``: one ``= ANY(%s)`` over an array on PostgreSQL, ``IN (?, …)``
    in chunks of 5,000 on SQLite. SQLAlchemy's text() with thousands of named parameters cost more
    than the query, and its row-by-row fetch a third of it."""
    if not values:
        return []
    conn.exec_driver_sql("SELECT 1")  # begins the caller's transaction if it had not begun
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur:
            cur.execute(sql + "= ANY(%s)", (list(values),))
            return cur.fetchall()
    out: list[tuple[Any, ...]] = []
    cur = raw.cursor()
    try:
        for start in range(0, len(values), 5000):
            chunk = tuple(values[start:start + 5000])
            cur.execute(sql + "IN (" + ", ".join("?" * len(chunk)) + ")", chunk)
            out += cur.fetchall()
    finally:
        cur.close()
    return out


def in_chunks(conn: Connection, values: Sequence[str]) -> Iterable[tuple[str, dict[str, Any]]]:
    """``IN``-clauses (with their parameters) covering ``values``: one ``= ANY(array)`` on PostgreSQL,
    chunks of 500 placeholders on SQLite."""
    if not values:
        return
    if conn.dialect.name == "postgresql":
        yield "= ANY(CAST(:vals AS text[]))", {"vals": list(values)}
        return
    for start in range(0, len(values), 500):
        chunk = values[start:start + 500]
        yield "IN (" + ", ".join(f":v{i}" for i in range(len(chunk))) + ")", {f"v{i}": v for i, v in enumerate(chunk)}


def _phone_keys(values: Iterable[object]) -> list[str | None]:
    """:func:`normalize_phone` of every value (plain digit strings, the common case, kept as they are
    unless they carry a country code)."""
    return [(v if v.isdigit() and v.isascii() and len(v) < 13 else normalize_phone(v)) if isinstance(v, str) and v
            else None for v in values]


def _plain(values: pd.Series) -> pd.Series:
    """Missing, or a plain number :func:`_phone_keys` keeps as it is (so it is its own key)."""
    text = values.astype("string")
    return (values.isna() | text.str.fullmatch(r"[0-9]{1,12}").fillna(False)).astype(bool)


def _unique_owner(keys: pd.Series, owners: pd.Series) -> tuple[dict[str, str], set[str]]:
    """key → its one owner; and the keys held by several owners."""
    pairs = pd.DataFrame({"k": keys, "a": owners}).dropna().drop_duplicates()
    counts = pairs["k"].value_counts()
    several = set(counts.index[counts > 1])
    single = pairs[~pairs["k"].isin(several)]
    return dict(zip(single["k"], single["a"])), several


def match_callers(accounts: Sequence[object], phones: Sequence[object], openids: Sequence[object],
                  customers: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(matched account or None, how) per caller against ``customers`` (account_no, phone, phone_alt,
    wechat_openid): account number first, then phone (either of a customer's numbers), then openid.
    A phone or openid held by several customers makes an otherwise unmatched caller ``ambiguous``.
    Vectorized: hash look-ups over whole columns."""
    n = len(accounts)
    if n == 0:
        return np.full(0, None, dtype=object), np.full(0, "unknown", dtype=object)
    acct = pd.Series(list(accounts), dtype=object)
    acct = acct.where(acct.map(lambda v: isinstance(v, str)), None)
    is_acct = acct.isin(set(customers["account_no"])).to_numpy()
    keys = pd.Series(_phone_keys(phones), dtype=object)
    oids = pd.Series([v if isinstance(v, str) and v else None for v in openids], dtype=object)
    # Owners are looked up only for the callers the account number did not match: the phone and openid
    # maps are built from the customers that can hold those keys (a plain stored number is its own
    # key, so one not asked for is skipped before normalizing) — at an import's 1M customers, not 2M.
    open_keys, open_oids = set(keys[~is_acct].dropna()), set(oids[~is_acct].dropna())
    phone, alt = customers["phone"], customers["phone_alt"]
    may = phone.isin(open_keys) | alt.isin(open_keys) | ~(_plain(phone) & _plain(alt))
    near = customers[may.to_numpy()]
    phone_keys = pd.Series(_phone_keys(near["phone"].tolist() + near["phone_alt"].tolist()), dtype=object)
    owners = pd.concat([near["account_no"], near["account_no"]], ignore_index=True)
    by_phone, phone_many = _unique_owner(phone_keys, owners)
    holders = customers[customers["wechat_openid"].isin(open_oids).to_numpy()]
    by_openid, openid_many = _unique_owner(holders["wechat_openid"], holders["account_no"])
    by_key = keys.map(by_phone).to_numpy(object)
    by_oid = oids.map(by_openid).to_numpy(object)
    has_phone = ~pd.isna(by_key) & ~is_acct
    has_oid = ~pd.isna(by_oid) & ~is_acct & ~has_phone
    matched = np.full(n, None, dtype=object)
    how = np.full(n, "unknown", dtype=object)
    matched[is_acct], how[is_acct] = acct.to_numpy(object)[is_acct], "account"
    matched[has_phone], how[has_phone] = by_key[has_phone], "phone"
    matched[has_oid], how[has_oid] = by_oid[has_oid], "wechat"
    ambiguous = ~(is_acct | has_phone | has_oid) & (keys.isin(phone_many).to_numpy() | oids.isin(openid_many).to_numpy())
    how[ambiguous] = "ambiguous"
    return matched, how


def transformer_feeders(conn: Connection) -> dict[str, str]:
    """台区 → feeder (transformers with a feeder)."""
    return {r[0]: r[1] for r in conn.execute(text("SELECT id, feeder_id FROM transformers WHERE feeder_id IS NOT NULL"))}


def place(matched: np.ndarray, own_lon: np.ndarray, own_lat: np.ndarray, customers: pd.DataFrame,
          feeders: Mapping[str, str]) -> pd.DataFrame:
    """cell, transformer_id, feeder_id per contact: at its customer when matched (``customers``:
    account_no, lon, lat, transformer_id), else at its own coordinates (cell only)."""
    by_account = customers.drop_duplicates("account_no").set_index("account_no")
    idx = pd.Index(by_account.index).get_indexer(pd.Series(matched, dtype=object))
    hit = idx >= 0
    lon = np.asarray(own_lon, dtype=float).copy()
    lat = np.asarray(own_lat, dtype=float).copy()
    lon[hit] = by_account["lon"].to_numpy(float)[idx[hit]]
    lat[hit] = by_account["lat"].to_numpy(float)[idx[hit]]
    transformer = np.full(len(idx), None, dtype=object)
    transformer[hit] = by_account["transformer_id"].to_numpy(object)[idx[hit]]
    transformer = np.array([t if isinstance(t, str) else None for t in transformer], dtype=object)
    feeder = np.array([feeders.get(t) if t is not None else None for t in transformer], dtype=object)
    cells = fine_cells(lon, lat)
    return pd.DataFrame({"cell": np.where(cells == 0, None, cells).astype(object), "transformer_id": transformer,
                         "feeder_id": feeder})


# ------------------------------------------------------------------------------- rollups
def _runs(keys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Groups of equal rows over integer key columns: (index of each group's first row in sorted
    order, the sort order) — a lexsort and a diff instead of pandas' groupby over object columns."""
    order = np.lexsort(tuple(reversed([np.asarray(k) for k in keys])))
    n = len(order)
    start = np.zeros(n, dtype=bool)
    if n:
        start[0] = True
        for k in keys:
            sk = np.asarray(k)[order]
            start[1:] |= sk[1:] != sk[:-1]
    return np.flatnonzero(start), order


def _count_groups(keys: Sequence[np.ndarray], weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ``keys`` that start each group, summed ``weights`` — or counts — per group)."""
    first, order = _runs(keys)
    if weights is None:
        sums = np.diff(np.append(first, len(order))).astype(np.int64)
    else:
        sums = np.add.reduceat(np.asarray(weights, dtype=np.int64)[order], first) if len(first) else np.zeros(0, np.int64)
    return order[first], sums


def rollup_deltas(frame: pd.DataFrame, sign: int) -> pd.DataFrame:
    """Signed counts from placed contacts (columns cell, day, channel, kind, transformer_id,
    feeder_id): one row per key of the rollup — cell (res :data:`ROLLUP_RES`, 0 without a place),
    transformer_id and feeder_id ('' without), day, channel, kind — and its ``n``, in key order.
    Rows without a day, or with neither a place nor a 台区, are not counted (as in
    :func:`rebuild_rollups`).

    Vectorized over integer codes (areas and channel × kind factorized, cells already integers),
    grouped by a lexsort."""
    frame = frame[frame["day"].notna()]
    cell = frame["cell"].to_numpy(dtype=object)
    located = ~pd.isna(cell)
    cells = np.zeros(len(frame), dtype=np.int64)
    cells[located] = parent_cells(cell[located].astype(np.int64), ROLLUP_RES)
    tr = pd.Series(frame["transformer_id"].to_numpy(object), dtype=object).fillna("").to_numpy(object)
    fd = pd.Series(frame["feeder_id"].to_numpy(object), dtype=object).fillna("").to_numpy(object)
    counted = located | (tr != "") | (fd != "")
    cells, tr, fd = cells[counted], tr[counted], fd[counted]
    day = frame["day"].to_numpy(dtype=np.int64)[counted]
    channel_codes, channels = pd.factorize(frame["channel"].to_numpy(object)[counted], sort=True)
    kind_codes, kinds = pd.factorize(frame["kind"].to_numpy(object)[counted], sort=True)
    tcodes, _ = pd.factorize(tr, sort=True)
    fcodes, _ = pd.factorize(fd, sort=True)
    rows, n = _count_groups([cells, tcodes, fcodes, day, channel_codes, kind_codes])
    return pd.DataFrame({"cell": cells[rows], "transformer_id": tr[rows], "feeder_id": fd[rows], "day": day[rows],
                         "channel": channels[channel_codes[rows]] if len(rows) else np.zeros(0, object),
                         "kind": kinds[kind_codes[rows]] if len(rows) else np.zeros(0, object), "n": n * sign})


def _combine(frames: Sequence[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """Signed counts summed per key over ``frames`` (zeros dropped); one frame is taken as it is
    (:func:`rollup_deltas` gives one row per key)."""
    parts = [f for f in frames if len(f)]
    if not parts:
        return pd.DataFrame(columns=[*keys, "n"])
    if len(parts) == 1:
        return parts[0]
    both = pd.concat(parts, ignore_index=True)
    rows, n = _count_groups([pd.factorize(both[k].to_numpy())[0] for k in keys], both["n"].to_numpy())
    out = both.iloc[rows][keys].reset_index(drop=True)
    out["n"] = n
    return out[out["n"] != 0]


def apply_deltas(conn: Connection, deltas: Sequence[pd.DataFrame]) -> int:
    """Add signed counts to the rollup (upsert-increment, in the caller's transaction), marking the
    touched rows with the new rollup version; rows that reach zero stay with ``n = 0`` so that an
    in-memory copy following the changes sees the zero (:func:`read_rollup_changes`; a rebuild drops
    them). Each frame has one row per key (as :func:`rollup_deltas` gives them); several frames are
    summed first. Returns the number of rollup rows touched. :class:`RollupDeltas` in one go."""
    written = RollupDeltas(deltas, dialect=conn.dialect.name)
    written.stage(conn)
    return written.write()


#: The rollup's key, and its PostgreSQL types (for the staging table of the deltas).
ROLLUP_KEY = ("cell", "transformer_id", "feeder_id", "day", "channel", "kind")
_KEY_TYPES = ("int8", "text", "text", "int4", "text", "text")
_TABLE = "interaction_rollups"
_STAGE = "ga_rollup_deltas"


class RollupDeltas:
    """Signed counts for the rollup (:func:`apply_deltas`) in three steps, as
    :class:`gis.bulk.NewRows` writes rows, so that the merge runs in another thread while this one
    prepares the next batch:

    1. ``RollupDeltas(frames, dialect=…)`` sums the frames per key and encodes them, without the
       connection (PostgreSQL: ``COPY`` text built column-wise; SQLite: value tuples);
    2. :meth:`stage` on the connection, brief: takes the next rollup version (the row lock it holds
       orders writers); SQLite copies the deltas into a temporary table;
    3. :meth:`write`, from any thread while no other uses the connection: one ``INSERT … SELECT …
       ON CONFLICT DO UPDATE`` adds them (PostgreSQL first ``COPY``s them into a temporary table:
       binding them as arrays cost 3–5x more in the driver's per-element encoding). The driver
       releases the GIL for all of it.
    """

    def __init__(self, deltas: Sequence[pd.DataFrame], *, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        frame = _combine(deltas, list(ROLLUP_KEY))
        self.touched = len(frame)
        self._payload: Any = None
        if self.touched and self.postgres:
            fields = [copy_fields(frame[k].to_numpy()) for k in ROLLUP_KEY]
            fields.append(copy_fields(frame["n"].to_numpy().astype(np.int64)))
            self._payload = ("\n".join(map("\t".join, zip(*fields))) + "\n").encode()
        elif self.touched:
            # plain tuples through the driver: SQLAlchemy's per-row parameter processing cost more than SQLite
            self._payload = list(zip(*(frame[c].to_numpy().tolist() for c in (*ROLLUP_KEY, "n"))))
        self._raw: Any = None
        self.version: int | None = None

    def stage(self, conn: Connection) -> None:
        """Step 2 (see the class docstring), in the caller's transaction."""
        if not self.touched:
            return
        self.version = _bump(conn)
        self._raw = conn.connection.driver_connection
        if self.postgres:
            return
        sqlite_stage(self._raw, _STAGE, (*ROLLUP_KEY, "n"), self._payload)
        self._payload = None

    def write(self) -> int:
        """Step 3: the deltas merged into the rollup; returns the number of rollup rows touched."""
        if not self.touched:
            return 0
        if self._raw is None:
            raise RuntimeError("RollupDeltas.write before stage")
        cols = ", ".join(ROLLUP_KEY)
        merge = f"ON CONFLICT ({cols}) DO UPDATE SET n = {_TABLE}.n + excluded.n, version = excluded.version"
        if self.postgres:
            with self._raw.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS pg_temp.{_STAGE}")
                cur.execute(f"CREATE TEMP TABLE {_STAGE} ({', '.join(f'{k} {t}' for k, t in zip(ROLLUP_KEY, _KEY_TYPES))}, "
                            "n int4) ON COMMIT DROP")
                with cur.copy(f"COPY {_STAGE} ({cols}, n) FROM STDIN") as copy:
                    copy.write(self._payload)
                cur.execute(f"INSERT INTO {_TABLE} ({cols}, n, version) SELECT {cols}, n, %s::int8 FROM {_STAGE} {merge}",
                            (self.version,))
                cur.execute(f"DROP TABLE {_STAGE}")
        else:
            try:  # WHERE true: SQLite's parser would read ON CONFLICT as a join constraint
                self._raw.execute(f"INSERT INTO {_TABLE} ({cols}, n, version) SELECT {cols}, n, ? FROM temp.{_STAGE} "
                                  f"WHERE true {merge}", (self.version,))
            finally:
                self._raw.execute(f"DROP TABLE IF EXISTS temp.{_STAGE}")
        self._payload = None
        return self.touched


def _bump(conn: Connection) -> int:
    """The next rollup version, taken in the caller's transaction. The row lock it holds until
    commit orders writers, so versions become visible in increasing order on both stores."""
    return int(conn.execute(text("UPDATE interaction_rollup_state SET version = version + 1 WHERE id = 1 "
                                 "RETURNING version")).scalar_one())


def rollup_version(conn: Connection) -> int:
    """The rollups' change counter (in-memory copies compare it to know whether they are current)."""
    v = conn.execute(text("SELECT version FROM interaction_rollup_state WHERE id = 1")).scalar()
    return int(v or 0)


def rollup_state(conn: Connection) -> tuple[int, int]:
    """(version, version of the last full rebuild) of the rollups."""
    row = conn.execute(text("SELECT version, rebuilt FROM interaction_rollup_state WHERE id = 1")).first()
    return (int(row[0] or 0), int(row[1] or 0)) if row is not None else (0, 0)


def _ck_sql() -> str:
    """SQL giving a rollup row's channel × kind code (``channel index × kinds + kind index``, the
    in-memory cubes' layer order); an unknown value gives a code outside 0 … 29."""
    ch = " ".join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(CHANNELS))
    kd = " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(INTERACTION_KINDS))
    return f"((CASE channel {ch} ELSE -1000 END) * {len(INTERACTION_KINDS)} + (CASE kind {kd} ELSE -1000 END))"


def _parent_sql(res: int | None) -> str:
    """SQL of the res-``res`` parent of a rollup row's ``cell`` (the cell itself at :data:`ROLLUP_RES`;
    rows with cell 0 are left out by the caller)."""
    if res is None or res == ROLLUP_RES:
        return "cell"
    if res not in RESOLUTIONS:
        raise ValueError(f"no rollup at res {res}")
    keep, put = _parent_terms(res)
    return f"((cell & ({keep})) | {put})"


def _copy_out(conn: Connection, sql: str, names: Sequence[str], dtypes: Mapping[str, Any]) -> pd.DataFrame:
    """PostgreSQL: the rows of ``sql`` streamed by ``COPY … TO STDOUT`` and parsed by pandas' C reader."""
    import io  # noqa: PLC0415

    buf = io.BytesIO()
    with conn.connection.driver_connection.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT") as copy:  # type: ignore[union-attr]
        for block in copy:
            buf.write(block)
    buf.seek(0)
    return pd.read_csv(buf, sep="\t", header=None, names=list(names), na_filter=False, quoting=3, dtype=dict(dtypes),
                       engine="c", keep_default_na=False)


def _fetch(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    cur = conn.connection.driver_connection.cursor()
    try:
        return cur.execute(sql).fetchall()
    finally:
        cur.close()


def _checked_ck(ck: np.ndarray) -> np.ndarray:
    if len(ck) and ((ck < 0) | (ck >= len(CHANNELS) * len(INTERACTION_KINDS))).any():
        raise ValueError("a rollup row has an unknown channel or kind")
    return np.asarray(ck, dtype=np.int8)


def _rollup_rows(conn: Connection, where: str, index: str = "") -> dict[str, np.ndarray]:
    """Rollup rows as columns: cell (int64, 0 = none), transformer and feeder (object, '' = none),
    day (int32), ck (int8, the channel × kind code), n (int32). Read through the driver, channel and
    kind coded in SQL: PostgreSQL streams ``COPY … TO STDOUT``; SQLite's cursor rows are split into
    columns. ``where`` holds only integers the caller formatted. Rows through SQLAlchemy (a Row
    object and two strings each) cost most of a cold cube's build."""
    sql = f"SELECT cell, transformer_id, feeder_id, day, {_ck_sql()}, n FROM {_TABLE} {index} WHERE {where}"
    names = ("cell", "transformer", "feeder", "day", "ck", "n")
    if conn.dialect.name == "postgresql":  # the area ids as categories: one string object per distinct id
        frame = _copy_out(conn, sql, names, {"cell": np.int64, "transformer": "category", "feeder": "category",
                                             "day": np.int64, "ck": np.int64, "n": np.int64})
        cols = {k: frame[k].to_numpy() for k in ("cell", "day", "ck", "n")}
        for k in ("transformer", "feeder"):
            cat = frame[k].cat
            cols[k] = np.asarray(cat.categories, dtype=object)[cat.codes.to_numpy()] if len(frame) else np.zeros(0, object)
    else:  # in blocks, each block's ids factorized: the driver's string per row does not outlive its block
        parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
        cur = conn.connection.driver_connection.cursor()
        try:
            cur.execute(sql)
            while rows := cur.fetchmany(250_000):
                split = list(zip(*rows))
                del rows
                for i, k in enumerate(names):
                    if k in ("transformer", "feeder"):
                        codes, uniques = pd.factorize(np.asarray(split[i], dtype=object))
                        parts[k].append(np.asarray(uniques, dtype=object)[codes])
                    else:
                        parts[k].append(np.asarray(split[i], dtype=np.int64))
        finally:
            cur.close()
        cols = {k: np.concatenate(v) if v else np.zeros(0, dtype=object if k in ("transformer", "feeder") else np.int64)
                for k, v in parts.items()}
    return {"cell": cols["cell"].astype(np.int64), "transformer": cols["transformer"].astype(object),
            "feeder": cols["feeder"].astype(object), "day": cols["day"].astype(np.int32), "ck": _checked_ck(cols["ck"]),
            "n": cols["n"].astype(np.int32)}


def read_rollup_rows(conn: Connection) -> dict[str, np.ndarray]:
    """The whole rollup as arrays (:func:`_rollup_rows`), zeros left out: a scan of the table,
    clustered on its key."""
    return _rollup_rows(conn, "n <> 0", "NOT INDEXED" if conn.dialect.name == "sqlite" else "")


def read_rollup_changes(conn: Connection, since: int) -> dict[str, np.ndarray]:
    """The rollup rows changed by versions after ``since`` with their current counts (zeros
    included; :func:`_rollup_rows`): what an in-memory copy at ``since`` applies to catch up
    (``version`` is indexed)."""
    index = "INDEXED BY ix_interaction_rollups_version" if conn.dialect.name == "sqlite" else ""  # never a scan
    return _rollup_rows(conn, f"version > {int(since)}", index)


def _view_sql(by: str, res: int | None) -> tuple[str, str]:
    """(SQL of the area a rollup row counts in for one view, the condition that it counts there)."""
    if by == "cell":
        return _parent_sql(res), "cell <> 0"
    if by in AREA_KINDS:
        return f"{by}_id", f"{by}_id <> ''"
    raise ValueError(by)


def read_rollups(conn: Connection, by: str, res: int | None = None) -> dict[str, np.ndarray]:
    """One view of the rollup as arrays (area, day, ck, n), summed in SQL: per res-``res`` cell
    (res 9 by default), 台区 or feeder × day × channel × kind. A GROUP BY over the whole table: what
    the in-memory cubes sum from :func:`read_rollup_rows` (a check of them, and the uncached path)."""
    area, counted = _view_sql(by, res)
    sql = (f"SELECT {area}, day, {_ck_sql()}, sum(n) FROM {_TABLE} WHERE {counted} "
           f"GROUP BY {area}, day, channel, kind HAVING sum(n) <> 0")
    if conn.dialect.name == "postgresql":
        frame = _copy_out(conn, sql, ("area", "day", "ck", "n"), {"area": np.int64 if by == "cell" else object,
                                                                 "day": np.int64, "ck": np.int64, "n": np.int64})
        area_v, day, ck, n = (frame[k].to_numpy() for k in ("area", "day", "ck", "n"))
    else:
        rows = _fetch(conn, sql)
        split = list(zip(*rows)) if rows else [(), (), (), ()]
        area_v = np.array(split[0], dtype=np.int64 if by == "cell" else object)
        day, ck, n = (np.array(c, dtype=np.int64) for c in split[1:])
    return {"area": np.asarray(area_v, dtype=np.int64 if by == "cell" else object), "day": np.asarray(day, dtype=np.int32),
            "ck": _checked_ck(np.asarray(ck)), "n": np.asarray(n, dtype=np.int32)}


def rebuild_rollups(conn: Connection) -> dict[str, int]:
    """Recompute the rollup from the placed interactions (in the caller's transaction), one
    ``INSERT … SELECT … GROUP BY``. Marks the version as a rebuild: in-memory copies read
    everything again. Returns the rollup's row count by table name."""
    version = _bump(conn)
    conn.execute(text("UPDATE interaction_rollup_state SET rebuilt = :v WHERE id = 1"), {"v": version})
    conn.execute(text(f"DELETE FROM {_TABLE}"))
    keep, put = _parent_terms(ROLLUP_RES)
    cell = "COALESCE((cell & :keep) | :put, 0)"
    conn.execute(text(
        f"INSERT INTO {_TABLE} ({', '.join(ROLLUP_KEY)}, n, version) "
        f"SELECT {cell}, COALESCE(transformer_id, ''), COALESCE(feeder_id, ''), day, channel, kind, count(*), :v "
        "FROM interactions WHERE day IS NOT NULL AND (cell IS NOT NULL OR transformer_id IS NOT NULL OR feeder_id IS NOT NULL) "
        f"GROUP BY {cell}, COALESCE(transformer_id, ''), COALESCE(feeder_id, ''), day, channel, kind"),
        {"keep": keep, "put": put, "v": version})
    counts = {_TABLE: int(conn.execute(text(f"SELECT count(*) FROM {_TABLE}")).scalar_one())}
    if conn.dialect.name == "postgresql":
        # fresh statistics: without them the planner read "rows changed since" (a follower's read)
        # with a table scan, 0.7-2 s at 10M contacts instead of an index range
        conn.execute(text(f"ANALYZE {_TABLE}"))
    return counts


# ------------------------------------------------------------------------------- queries
def _filters(day_from: int, day_to: int, channels: Sequence[str] | None, kinds: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    where = ["day >= :d0", "day <= :d1"]
    params: dict[str, Any] = {"d0": day_from, "d1": day_to}
    for name, values in (("channel", channels), ("kind", kinds)):
        if values:
            keys = [f"{name}{i}" for i in range(len(values))]
            where.append(f"{name} IN ({', '.join(':' + k for k in keys)})")
            params.update(dict(zip(keys, values)))
    return " AND ".join(where), params


def cell_counts(conn: Connection, res: int, day_from: int, day_to: int, channels: Sequence[str] | None = None,
                kinds: Sequence[str] | None = None) -> dict[int, int]:
    """Contacts per res-``res`` cell over [day_from, day_to] (from the res-9 rollup, its cells' parents
    for a coarser ``res``; never the raw table)."""
    where, params = _filters(day_from, day_to, channels, kinds)
    cell = _parent_sql(res)
    rows = conn.execute(text(f"SELECT {cell}, sum(n) FROM {_TABLE} WHERE cell <> 0 AND {where} GROUP BY {cell}"), params)
    return {int(c): int(n) for c, n in rows}


def area_counts(conn: Connection, area_kind: str, day_from: int, day_to: int, channels: Sequence[str] | None = None,
                kinds: Sequence[str] | None = None) -> dict[str, int]:
    """Contacts per 台区 (``transformer``) or feeder over [day_from, day_to] (from the rollups)."""
    where, params = _filters(day_from, day_to, channels, kinds)
    area, counted = _view_sql(area_kind, None)
    rows = conn.execute(text(f"SELECT {area}, sum(n) FROM {_TABLE} WHERE {counted} AND {where} GROUP BY {area}"), params)
    return {str(a): int(n) for a, n in rows}


def place_stored(conn: Connection) -> int:
    """Match and place every stored interaction again (against the customers stored now), e.g. rows
    stored before placement existed or after customers moved; then :func:`rebuild_rollups`.
    Returns the number of interactions placed."""
    from gis.bulk import bulk_upsert  # noqa: PLC0415 (bulk imports the models; kept local to stay light)

    pg = conn.dialect.name == "postgresql"
    point = "ST_X(geom), ST_Y(geom)" if pg else "geom, NULL"
    rows = [tuple(r) for r in conn.execute(text(
        "SELECT id, COALESCE(caller_account_no, account_no), caller_phone, wechat_openid, occurred_at, "
        f"{point} FROM interactions ORDER BY id"))]
    if not rows:
        return 0
    frame = pd.DataFrame(rows, columns=["id", "caller_account_no", "caller_phone", "wechat_openid", "occurred_at", "lon", "lat"])
    crows = [tuple(r) for r in conn.execute(text(
        f"SELECT account_no, phone, phone_alt, wechat_openid, transformer_id, {point} FROM customers"))]
    customers = pd.DataFrame(crows, columns=["account_no", "phone", "phone_alt", "wechat_openid", "transformer_id", "lon", "lat"])
    if not pg:
        for df in (frame, customers):
            if len(df):
                df["lon"], df["lat"] = point_xy(df["lon"].to_numpy(object))
    matched, how = match_callers(frame["caller_account_no"].tolist(), frame["caller_phone"].tolist(),
                                 frame["wechat_openid"].tolist(), customers)
    placed = place(matched, frame["lon"].to_numpy(float, na_value=np.nan), frame["lat"].to_numpy(float, na_value=np.nan),
                   customers, transformer_feeders(conn))
    times = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    out = pd.DataFrame({"id": frame["id"], "account_no": matched, "caller_account_no": frame["caller_account_no"],
                        "matched_by": how, "cell": placed["cell"], "day": local_days(times),
                        "transformer_id": placed["transformer_id"], "feeder_id": placed["feeder_id"]})
    bulk_upsert(conn, "interactions", out)
    return len(out)


def area_interactions(conn: Connection, by: str, area_id: str | int, day_from: int, day_to: int,
                      channels: Sequence[str] | None = None, kinds: Sequence[str] | None = None, *,
                      limit: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """The interactions counted in one area (an H3 cell of any rollup resolution as an int, a 台区 or a
    feeder id) over [day_from, day_to], newest first: (total, one page of rows)."""
    where, params = _filters(day_from, day_to, channels, kinds)
    if by == "cell":
        lo, hi = descendant_range(int(area_id))
        # the res-9 parents of the range through their index, then the range itself
        where += f" AND {CELL9_SQL} >= :plo AND {CELL9_SQL} <= :phi AND cell >= :lo AND cell <= :hi"
        params.update(lo=lo, hi=hi, plo=lo >> _CELL9_SHIFT, phi=hi >> _CELL9_SHIFT)
    elif by in AREA_KINDS:
        where += f" AND {by}_id = :area"
        params["area"] = str(area_id)
    else:
        raise ValueError(by)
    total = int(conn.execute(text(f"SELECT count(*) FROM interactions WHERE {where}"), params).scalar_one())
    rows = conn.execute(text(
        "SELECT id, account_no, matched_by, channel, kind, occurred_at, text, caller_phone FROM interactions "
        f"WHERE {where} ORDER BY occurred_at DESC, id LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset}).mappings().all()
    out = []
    for r in rows:
        item = dict(r)
        t = item["occurred_at"]
        if isinstance(t, str):
            t = dt.datetime.fromisoformat(t)
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.timezone.utc)
        item["occurred_at"] = t
        out.append(item)
    return total, out
