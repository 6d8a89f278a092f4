"""PostgreSQL: a whole-city load's search tables built on side connections, then swapped in.

A city load's writes run in one backend, one statement after another, so on a two-core
machine the second core idles while the search tables' indexes are built (7M key rows, a
primary key, three trigram GIN indexes that PostgreSQL 15 builds serially: about 30 s at
1M customers). :class:`SideBuild` builds them instead on connections of their own (one per
table), in a private schema ``ga_search_build_<id>``, while the load writes the other
tables: the rows come from :class:`~gis.search.reindex.PreparedRows`, the tables copy the
live ones (columns, collations, defaults, NOT NULL), then get the live tables' keys and
indexes under the same names, and each commits (nothing reads that schema).

:meth:`SideBuild.swap_in`, inside the load's transaction, then replaces the live tables by
the built ones: ``DROP TABLE`` + ``ALTER TABLE … SET SCHEMA`` (catalog updates), the id
sequence handed over, the foreign keys to ``customers`` re-added and validated. It does so
only when the stored customers are exactly the load's (same test as the prepared rows), and
the database did not refuse the build (a role without CREATE on the database, say);
otherwise it returns False and the caller reindexes in its own transaction, as before.
Atomicity is the load's: a rollback restores the old tables. A build that did not land is
dropped by :meth:`close`, and a crashed process's leftover schema by the next build (each
build holds an advisory lock named after its schema while it lives).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading

import psycopg
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from gis.search.reindex import PreparedRows, pg_definitions, write_table

__all__ = ["SideBuild"]

_log = logging.getLogger(__name__)
_TABLES = ("customer_search", "customer_keys")
_PREFIX = "ga_search_build_"
_INDEX_DEF = re.compile(r"^CREATE (UNIQUE )?INDEX (\S+) ON (\S+) (USING .*)$", re.S)


class SideBuild:
    """Build the search tables from ``prepared`` on two more connections of ``engine``.

    One connection (and thread) per table: ``customer_search`` (COPY, trigram GIN indexes) is
    written as soon as the worker sends its rows, while the worker still sorts the key rows
    that ``customer_keys`` (COPY, primary key, account index) waits for. The threads mostly
    wait on the database. Use as a context manager around the load's transaction: leaving it
    cancels a build still running and drops whatever was built and not swapped in.
    """

    def __init__(self, engine: Engine, prepared: PreparedRows) -> None:
        self._engine = engine
        self._prepared = prepared
        self.schema = _PREFIX + secrets.token_hex(6)
        self._lock_key = f"hashtext('{self.schema}')"
        self._conns: dict[str, Connection] = {}
        self._errors: dict[str, BaseException] = {}
        self._schema_ready = threading.Event()
        self._cancelled = False
        self._threads = [
            threading.Thread(target=self._run, args=(table,), name=f"search-side-build-{table}", daemon=True)
            for table in _TABLES
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> SideBuild:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------------- the build
    def _run(self, table: str) -> None:
        first = table == _TABLES[0]  # sets up the schema and holds its advisory lock
        try:
            conn = self._conns[table] = self._engine.connect()
            if first:
                raw = conn.connection.driver_connection
                raw.autocommit = True  # the lock outlives the build's transactions
                raw.execute(f"SELECT pg_advisory_lock({self._lock_key})")
                _drop_abandoned(raw)
                raw.execute(f"CREATE SCHEMA {self.schema}")
                raw.autocommit = False
                self._schema_ready.set()
            else:
                self._schema_ready.wait()
                if self._errors:
                    return  # the set-up failed; its error is reported
            self._build(conn, table)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the load, or a fallback, by swap_in
            self._errors[table] = exc
            conn = self._conns.get(table)
            try:
                if conn is not None:
                    conn.rollback()
            except Exception:  # noqa: BLE001 - the connection may be gone; the error above counts
                pass
        finally:
            if first:
                self._schema_ready.set()

    def _build(self, conn: Connection, table: str) -> None:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        # The key table's primary key sorts 7M rows in memory (~650 MB at 1M customers).
        memory = "1GB" if table == "customer_keys" else "512MB"
        conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{memory}'")
        conn.exec_driver_sql(
            f"CREATE TABLE {self.schema}.{table} (LIKE {schema}.{table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        ddl = _keys_and_indexes(conn, self.schema, table)
        rows, form = self._prepared.part(table)
        self._check()
        # The built schema first, then the live one (pg_trgm's operator classes live there).
        conn.exec_driver_sql(f"SET LOCAL search_path = {self.schema}, {schema}")
        write_table(conn, table, rows, sqlite=False, form=form)
        for statement in ddl:
            self._check()
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f"ANALYZE {self.schema}.{table}")
        conn.commit()

    def _check(self) -> None:
        if self._cancelled:
            raise RuntimeError("the search tables' side build was cancelled")

    # ------------------------------------------------------------------- in the load
    def swap_in(self, conn: Connection) -> bool:
        """Replace the live search tables by the built ones in ``conn``'s transaction.

        Waits for the build; an error building the rows is raised. Returns False, changing
        nothing, when the stored customers are not exactly the load's, or when the database
        refused the side build (say the load's role may not create a schema): the caller then
        reindexes in its own transaction, as a load did before.
        """
        for thread in self._threads:
            thread.join()
        if self._errors:  # the rows' error (the worker's) fails the load; the database's falls back
            errors = list(self._errors.values())
            other = [e for e in errors if not isinstance(e, DBAPIError | psycopg.Error)]
            if other:
                raise other[0]
            _log.warning("search tables built in the load's transaction instead: the side build failed: %s", errors[0])
            return False
        stored = conn.exec_driver_sql("SELECT count(*) FROM customers").scalar_one()
        if stored != self._prepared.count:
            return False
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        foreign_keys = [(t, n, d) for t, n, kind, d in pg_definitions(conn)[0] if kind == "f"]
        sequence = conn.exec_driver_sql("SELECT pg_get_serial_sequence('customer_search', 'id')").scalar_one()
        if sequence is not None:  # the built table's ids came from it; it must outlive the old table
            conn.exec_driver_sql(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
        conn.exec_driver_sql("DROP TABLE customer_keys, customer_search")
        for table in _TABLES:
            conn.exec_driver_sql(f"ALTER TABLE {self.schema}.{table} SET SCHEMA {schema}")
        if sequence is not None:
            conn.exec_driver_sql(f"ALTER SEQUENCE {sequence} OWNED BY customer_search.id")
        for table, name, definition in foreign_keys:
            conn.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        conn.exec_driver_sql(f"DROP SCHEMA {self.schema}")
        return True

    def close(self) -> None:
        """Stop a build still running; drop a built schema that was not swapped in (or whose
        swap rolled back); release the connections."""
        while any(t.is_alive() for t in self._threads):  # the load failed: stop the build where it is
            self._cancelled = True
            self._prepared.stop()  # a build waiting for the rows gets an error at once
            for conn in list(self._conns.values()):
                try:
                    conn.connection.driver_connection.cancel()  # the statement running, if any
                except Exception:  # noqa: BLE001 - it may have just finished, or not connected yet
                    pass
            for thread in self._threads:
                thread.join(0.2)
        first = self._conns.get(_TABLES[0])
        try:
            for conn in self._conns.values():
                if conn.in_transaction():
                    conn.rollback()
            if first is not None:
                raw = first.connection.driver_connection
                raw.autocommit = True
                # Swapped in and committed: the schema is gone. Rolled back or never swapped: drop it.
                raw.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
                raw.execute(f"SELECT pg_advisory_unlock({self._lock_key})")
                raw.autocommit = False
        except Exception:
            for conn in self._conns.values():
                conn.invalidate()  # never back to the pool with the lock held
            raise
        finally:
            for conn in self._conns.values():
                conn.close()


def _keys_and_indexes(conn: Connection, target: str, table: str) -> list[str]:
    """The live ``table``'s primary key, unique constraints and indexes, as DDL on ``target``'s
    copy under the same names (names are per schema)."""
    constraints, indexes = pg_definitions(conn)
    ddl = [f'ALTER TABLE {target}.{table} ADD CONSTRAINT "{n}" {d}' for t, n, kind, d in constraints if t == table and kind != "f"]
    for _table, _name, definition in (i for i in indexes if i[0] == table):
        m = _INDEX_DEF.match(definition)
        if m is None:  # pg_get_indexdef always has this shape; refuse anything else loudly
            raise RuntimeError(f"unexpected index definition: {definition}")
        ddl.append(f"CREATE {m[1] or ''}INDEX {m[2]} ON {target}.{table} {m[4]}")
    return ddl


def _drop_abandoned(raw) -> None:
    """Drop build schemas whose process is gone (nobody holds their advisory lock)."""
    names = [r[0] for r in raw.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (_PREFIX,))]
    for name in names:
        key = f"hashtext('{name}')"
        if raw.execute(f"SELECT pg_try_advisory_lock({key})").fetchone()[0]:
            try:
                raw.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            finally:
                raw.execute(f"SELECT pg_advisory_unlock({key})")
