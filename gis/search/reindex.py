"""(Re)building the search rows of customers inside the caller's transaction.

The derived columns are computed here in Python (one implementation for both stores):
folded name and address, normalized phones, last four digits, every pinyin reading and
its initials. The ids of a partial reindex go to a temporary table that the select and
the deletes join (no giant IN lists). Rows are written sorted by their keys, with COPY on
PostgreSQL and ``executemany`` on SQLite; SQLite gets a large page cache for the duration.

A *bulk* reindex (all customers, or more than :data:`BULK_SHARE` of the indexed ones)
drops the search tables' secondary indexes and constraints (trigram GIN indexes, B-trees,
foreign keys; on SQLite the plain indexes), empties or deletes, writes, then recreates them
from their recorded definitions — all in the same transaction, since DDL is transactional
on both stores; building an index once is far cheaper than maintaining it row by row. The
SQLite FTS5 mirror is then rebuilt in one statement; a small reindex maintains it row-wise.
"""

from __future__ import annotations

import json
import multiprocessing
import pickle
import queue
import re
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.dialects.sqlite import page_cache
from gis.search.normalize import compact, phone_keys, pinyin_keys
from gis.search.tables import FTS_TABLE

__all__ = ["BULK_SHARE", "PreparedRows", "reindex_customers", "pg_definitions", "search_rows", "write_rows", "write_table"]

#: A partial reindex of more than this share of the indexed customers takes the bulk path.
BULK_SHARE = 1 / 3

_TABLES = ("customer_search", "customer_keys")
_IDS = "reindex_ids"
_FEW = 20000  # up to this many ids, PostgreSQL deletes through an array of them
_SQLITE_CACHE_MIB = 512  # page cache for the reindex, restored afterwards
_PREPARE_CHUNK = 50_000  # records per search_rows call of a PreparedRows build, and COPY text chunk
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")  # characters COPY's text format would need escaped


def search_rows(records: Iterable[Sequence]) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str]]]:
    """(customer_search rows, customer_keys rows) for (account_no, name, address, phone, phone_alt) records."""
    search: list[tuple[str, str, str, str]] = []
    keys: list[tuple[str, str, str]] = []
    cache: dict[str | None, tuple[str, list[str], list[str]]] = {}
    add_key = keys.append
    add_search = search.append
    for account_no, name, address, phone, phone_alt in records:
        phones, last4 = phone_keys(phone, phone_alt)
        entry = cache.get(name)
        if entry is None:  # many customers share a name: fold and spell it once
            name_key = compact(name)
            full, initials = pinyin_keys(name_key)
            entry = cache[name] = (name_key, full, initials)
        name_key, full, initials = entry
        add_search((account_no, name_key, compact(address), " ".join(phones)))
        for number in phones:
            add_key(("phone", number[:64], account_no))
        for digits in last4:
            add_key(("last4", digits, account_no))
        for k in full:
            add_key(("pinyin", k, account_no))
        for k in initials:
            add_key(("initials", k, account_no))
    return search, keys


class PreparedRows:
    """The search rows of a load's customers, built in a worker process while the load writes.

    A whole-city load knows its customers before it writes them; their search rows (pure
    Python: folding, phone keys, pinyin) are built in a separate process while the database
    is busy with the tables, so :func:`reindex_customers` only has to write them. A process,
    not a thread: a CPU-bound thread starves a loop that releases the GIL per row (sqlite3's
    ``executemany`` waited ~5 ms per row for it). It is started with ``spawn`` (a fresh
    interpreter; forking a process that may run threads is unsafe).

    ``columns`` are the account_no, name, address, phone and phone_alt values (None for
    missing). The rows come in chunks ready for the store named by ``dialect``: COPY text on
    PostgreSQL (tuples when an account number holds a character COPY would need escaped), JSON
    arrays that one ``INSERT … SELECT … FROM json_each(?)`` per chunk writes on SQLite; either
    way no per-row Python call is left for the loading process. Each table's rows can be
    waited for on its own (:meth:`part`, safe from two threads); ``customer_search``'s come
    first. Use as a context manager: leaving it ends the worker if it still runs.
    """

    def __init__(self, columns: Sequence[Sequence], *, dialect: str) -> None:
        self.count = len(columns[0])
        # The values go through a temporary file: a pipe would block this process until the
        # new interpreter has imported its modules and read them (~3 s at 1M customers).
        self._input = tempfile.NamedTemporaryFile(prefix="gridatlas-search-", suffix=".pickle")
        pickle.dump([list(c) for c in columns], self._input, protocol=pickle.HIGHEST_PROTOCOL)
        self._input.flush()
        ctx = multiprocessing.get_context("spawn")
        self._recv, send = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_serve, args=(send, self._input.name, dialect), name="search-rows", daemon=True)
        self._send = send
        self._parts: dict[str, tuple[list, str]] = {}
        self._error: BaseException | None = None
        self._lock = threading.Lock()  # two side connections may wait for their part at once

    def __enter__(self) -> PreparedRows:
        self._process.start()
        self._send.close()  # the worker holds the only writing end: its death is an EOF here
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self._recv.close()
        self._input.close()  # and deleted

    def stop(self) -> None:
        """End the worker if it still runs (a caller waiting for rows then gets an error)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()

    def part(self, table: str) -> tuple[list, str]:
        """The rows of ``table`` (``customer_search`` or ``customer_keys``) and their form:
        ``copy``, ``json`` or ``rows``. The worker sends ``customer_search``'s first (the key
        rows are sorted after), so a caller can write those while it still works."""
        with self._lock:
            while table not in self._parts:
                if self._error is not None:
                    raise self._error
                try:
                    ok, name, value = self._recv.recv()
                except (EOFError, OSError):
                    self._error = RuntimeError(f"the search rows' worker ended with exit code {self._process.exitcode}")
                    raise self._error from None
                if not ok:
                    self._error = value
                    raise value
                self._parts[name] = value
            return self._parts[table]

    def result(self) -> tuple[list, list, str]:
        """(customer_search rows, customer_keys rows, their form), waiting for the worker."""
        search, form = self.part("customer_search")
        keys, _ = self.part("customer_keys")
        return search, keys, form


def _serve(send, path: str, dialect: str) -> None:
    """The worker of :class:`PreparedRows`: build the rows, send them (or the error) back."""
    # A thread sends: a send blocks until the reader takes the data (on SQLite, only once the
    # load has written its tables), and the key rows must be sorted meanwhile, not after.
    outbox: queue.Queue = queue.Queue()
    sender = threading.Thread(target=lambda: [send.send(m) for m in iter(outbox.get, None)], daemon=True)
    sender.start()
    try:
        with open(path, "rb") as fh:
            columns = pickle.load(fh)
        for table, rows in _prepare(columns, dialect):
            outbox.put((True, table, rows))
    except Exception as exc:  # noqa: BLE001 - re-raised in the caller by PreparedRows.part
        outbox.put((False, None, exc))
    outbox.put(None)
    sender.join()
    send.close()


def _prepare(columns: list[list], dialect: str) -> Iterator[tuple[str, tuple[list, str]]]:
    """Yields ("customer_search", (rows, form)), then ("customer_keys", (rows, form))."""
    # Key rows sorted by (kind, key, account_no) make the primary key's build (PostgreSQL) and
    # the WITHOUT ROWID inserts (SQLite) sequential: sorting them as text lines is cheap, and
    # right as long as no field holds a tab or a lower character (a tab: COPY text too).
    lines = not any(_COPY_SPECIAL.search(str(a)) for a in columns[0])
    form = "json" if dialect == "sqlite" else "copy" if lines else "rows"
    search: list = []
    keys: list = []
    by_kind: dict[str, list[str]] = defaultdict(list)
    for start in range(0, len(columns[0]), _PREPARE_CHUNK):
        s, k = search_rows(zip(*(c[start : start + _PREPARE_CHUNK] for c in columns)))
        if form == "copy":
            search.append("".join(f"{a}\t{n}\t{d}\t{p}\n" for a, n, d, p in s))
        elif form == "json":
            search.append(json.dumps(s, ensure_ascii=False))
        else:
            search += s
        if lines:
            for kind, key, a in k:
                by_kind[kind].append(f"{kind}\t{key}\t{a}\n")
        else:
            keys += k
    yield "customer_search", (search, form)
    del search
    for kind in sorted(by_kind):
        rows = by_kind.pop(kind)
        rows.sort()
        for i in range(0, len(rows), _PREPARE_CHUNK):
            chunk = rows[i : i + _PREPARE_CHUNK]
            keys.append("".join(chunk) if form == "copy" else json.dumps([r[:-1].split("\t") for r in chunk], ensure_ascii=False))
    if form == "json" and not lines:
        keys = [json.dumps(keys[i : i + _PREPARE_CHUNK], ensure_ascii=False) for i in range(0, len(keys), _PREPARE_CHUNK)]
    yield "customer_keys", (keys, form)


def _stage_ids(conn: Connection, ids: list[str], *, sqlite: bool) -> None:
    """Put ``ids`` into the temporary table the select and the deletes join."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {'temp' if sqlite else 'pg_temp'}.{_IDS}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {_IDS} (account_no TEXT PRIMARY KEY)")
    if sqlite:
        conn.connection.driver_connection.executemany(f"INSERT INTO temp.{_IDS} VALUES (?)", [(i,) for i in ids])
    else:
        _copy(conn, _IDS, "account_no", ((i,) for i in ids))
        conn.exec_driver_sql(f"ANALYZE pg_temp.{_IDS}")  # the planner sees 100 ids as 100, not as a big table


def _select_customers(conn: Connection, staged: bool, *, sqlite: bool):
    sql = "SELECT c.account_no, c.name, c.address, c.phone, c.phone_alt FROM customers c"
    if staged and sqlite:  # an IN list the planner seeks by key (a JOIN scanned all customers: 0.5 s at 1M for one id)
        sql += f" WHERE c.account_no IN (SELECT account_no FROM temp.{_IDS})"
    elif staged:
        sql += f" JOIN {_IDS} t ON t.account_no = c.account_no"
    return conn.exec_driver_sql(sql)


def _delete(conn: Connection, staged: bool, *, sqlite: bool, truncate: bool, few: bool = False) -> None:
    """Remove the old rows: all of them, or those of the staged ids (also ids no longer in customers)."""
    if not staged:
        if sqlite:
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")
            conn.exec_driver_sql("DELETE FROM customer_keys")
            conn.exec_driver_sql("DELETE FROM customer_search")
        else:
            conn.exec_driver_sql("TRUNCATE customer_keys, customer_search" if truncate else "DELETE FROM customer_keys")
            if not truncate:
                conn.exec_driver_sql("DELETE FROM customer_search")
        return
    ids = f"(SELECT account_no FROM temp.{_IDS})" if sqlite else f'(SELECT account_no COLLATE "C" FROM pg_temp.{_IDS})'
    if not sqlite and few:  # an array the planner sizes right: index probes, not a scan of millions of keys
        ids = f"ANY (ARRAY{ids})"
    # (on SQLite the trigger of migration 0005 tells the FTS5 mirror which rows to forget)
    op = "=" if ids.startswith("ANY") else "IN"
    conn.exec_driver_sql(f"DELETE FROM customer_keys WHERE account_no {op} {ids}")
    conn.exec_driver_sql(f"DELETE FROM customer_search WHERE account_no {op} {ids}")


def _copy(conn: Connection, table: str, columns: str, rows: Iterable, *, text: bool = False) -> None:
    """COPY ``rows`` (tuples, or with ``text`` chunks of COPY text) into ``table``."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        if text:
            for chunk in rows:
                copy.write(chunk)
        else:
            for row in rows:
                copy.write_row(row)


_COLUMNS = {"customer_search": ("account_no", "name_key", "address_key", "phones"),
            "customer_keys": ("kind", "key", "account_no")}


def write_rows(conn: Connection, search: list, keys: list, *, sqlite: bool, form: str = "rows") -> None:
    """Insert the rows: tuples, or chunks of COPY text / JSON arrays (see :class:`PreparedRows`)."""
    write_table(conn, "customer_search", search, sqlite=sqlite, form=form)
    write_table(conn, "customer_keys", keys, sqlite=sqlite, form=form)


def write_table(conn: Connection, table: str, rows: list, *, sqlite: bool, form: str = "rows") -> None:
    """Insert one search table's rows (``table`` as the connection's search_path resolves it)."""
    columns = _COLUMNS[table]
    if not sqlite:
        _copy(conn, table, ", ".join(columns), rows, text=form == "copy")
    elif form == "json":  # each chunk parsed and inserted by SQLite itself
        values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM json_each(?)"
        for chunk in rows:
            conn.connection.driver_connection.execute(sql, (chunk,))
    else:
        marks = ", ".join("?" * len(columns))
        conn.connection.driver_connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _drop_indexes(conn: Connection, *, sqlite: bool) -> list[str]:
    """Drop the search tables' secondary indexes (and on PostgreSQL constraints); return the DDL recreating them."""
    if sqlite:  # indexes, and the trigger keeping the FTS mirror (rebuilt whole on this path)
        rows = conn.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL "
            "AND tbl_name IN ('customer_search', 'customer_keys') ORDER BY type, name"
        ).all()
        for kind, name, _sql in rows:
            conn.exec_driver_sql(f'DROP {kind.upper()} "{name}"')
        return [sql for _kind, _name, sql in rows]
    constraints, indexes = pg_definitions(conn)
    for table, name, _type, _definition in reversed(constraints):  # foreign keys first
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for _table, name, _definition in indexes:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    keys = [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, ty, d in constraints if ty != "f"]
    fks = [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, ty, d in constraints if ty == "f"]
    return keys + [d for _t, _n, d in indexes] + fks


def pg_definitions(conn: Connection) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str]]]:
    """PostgreSQL: the search tables' keys, unique constraints and foreign keys as (table, name,
    type ``p``/``u``/``f``, definition), foreign keys last; their other indexes as (table, name,
    ``CREATE INDEX`` statement). Tables and names as the connection's search_path shows them."""
    tables = "('customer_search'::regclass, 'customer_keys'::regclass)"
    constraints = conn.exec_driver_sql(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        f"WHERE conrelid IN {tables} AND contype IN ('p', 'u', 'f') "
        "ORDER BY contype = 'f', conrelid::regclass::text, conname"
    ).all()
    indexes = conn.exec_driver_sql(
        "SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        f"WHERE i.indrelid IN {tables} AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
        "ORDER BY 2"
    ).all()
    return [tuple(r) for r in constraints], [tuple(r) for r in indexes]


def _rebuild_indexes(conn: Connection, ddl: list[str], *, sqlite: bool) -> None:
    if not sqlite:  # index builds sort in memory (7M key rows need ~650 MB); lasts until the caller's commit
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
    for statement in ddl:
        conn.exec_driver_sql(statement)
    if not sqlite:  # the planner's statistics of the rebuilt tables (autovacuum would come much later)
        conn.exec_driver_sql("ANALYZE customer_search, customer_keys")


def reindex_customers(
    conn: Connection, account_nos: Iterable[str] | None = None, *, prepared: PreparedRows | None = None
) -> int:
    """Rebuild the search rows of ``account_nos`` (all customers when None); returns the count.

    Runs in the caller's transaction (a city load calls it just before recording the data
    version), so the search always matches the customers of the same commit. Customers that
    no longer exist lose their rows. A bulk reindex takes exclusive locks on the two search
    tables until the commit (readers of the search wait; the load is writing anyway).

    ``prepared`` (a full reindex only): the rows of customers the caller has just written
    with these values; used when they are all the customers stored (the caller's rows are
    among them, so equal counts mean the same set), else the rows are built from the store.
    """
    sqlite = conn.dialect.name == "sqlite"
    ids = None if account_nos is None else list(dict.fromkeys(account_nos))
    if ids is not None and not ids:
        return 0
    if prepared is not None and (
        ids is not None or conn.exec_driver_sql("SELECT count(*) FROM customers").scalar_one() != prepared.count
    ):
        prepared = None
    if not sqlite:
        return _reindex(conn, ids, sqlite=False, prepared=prepared)
    raw = conn.connection.driver_connection
    with page_cache(raw, _SQLITE_CACHE_MIB):  # the search tables' B-trees stay in memory
        return _reindex(conn, ids, sqlite=True, prepared=prepared)


def _indexed_up_to(conn: Connection, n: int) -> int:
    """The indexed customers' count, counted only as far as the bulk decision for ``n`` ids needs:
    one customer's reindex must not count a million rows."""
    if BULK_SHARE <= 0:
        return 0
    cap = int(n / BULK_SHARE) + 1
    return conn.execute(text("SELECT count(*) FROM (SELECT 1 FROM customer_search LIMIT :cap) AS c"), {"cap": cap}).scalar_one()


def _reindex(conn: Connection, ids: list[str] | None, *, sqlite: bool, prepared: PreparedRows | None) -> int:
    staged = ids is not None
    if staged:
        _stage_ids(conn, ids, sqlite=sqlite)
    if prepared is not None:
        search, keys, form = prepared.result()
        count = prepared.count
    else:
        search, keys = search_rows(_select_customers(conn, staged, sqlite=sqlite))
        form, count = "rows", len(search)
    bulk = not staged or len(ids) > BULK_SHARE * _indexed_up_to(conn, len(ids))
    if not bulk:  # written in key order, B-tree pages fill sequentially (for 1M rows the sort costs more than it saves)
        search.sort()
        keys.sort()
    ddl = _drop_indexes(conn, sqlite=sqlite) if bulk else []
    _delete(conn, staged, sqlite=sqlite, truncate=bulk, few=staged and len(ids) <= _FEW)
    if sqlite and bulk and staged:  # the FTS mirror is rebuilt whole below
        conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")
    write_rows(conn, search, keys, sqlite=sqlite, form=form)
    if bulk:
        _rebuild_indexes(conn, ddl, sqlite=sqlite)
    if sqlite:
        if bulk:
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
        elif search:
            conn.exec_driver_sql(
                f"INSERT INTO {FTS_TABLE}(rowid, name_key, address_key, phones) "
                f"SELECT id, name_key, address_key, phones FROM customer_search WHERE account_no IN (SELECT account_no FROM temp.{_IDS})"
            )
    if staged:
        conn.exec_driver_sql(f"DROP TABLE {'temp' if sqlite else 'pg_temp'}.{_IDS}")
    return count
