"""Engines and schema migrations for both stores.

Nothing here runs at import: the composition root (``api/``) calls :func:`make_engine`
with the configured URL and passes the engine down (the code works on connections; there
are no ORM sessions).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url

from gis.dialects import for_dialect
from gis.errors import StoreUnavailable

__all__ = [
    "make_engine",
    "migrate",
    "downgrade",
    "current_revision",
    "head_revision",
    "vacuum",
]

_MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str, *, echo: bool = False, pool_size: int = 5, busy_timeout_s: float = 10.0) -> Engine:
    """Create an engine for ``sqlite:///path`` or ``postgresql+psycopg://…``.

    SQLite files get their parent folder created, foreign keys enforced, WAL journaling
    and the geometry bounding-box functions the R*Tree triggers need; a statement waits up to
    ``busy_timeout_s`` for another writer's lock before failing with "database is locked".
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    dialect = for_dialect(backend)
    kwargs: dict = {"echo": echo, "future": True}
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_s}
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    engine = create_engine(url, **kwargs)
    dialect.configure_engine(engine)
    if backend == "sqlite":
        _sqlite_transactions(engine)
    return engine


def _sqlite_transactions(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT/DDL
    # atomicity; take it over as SQLAlchemy documents, so a load is one real transaction.
    @event.listens_for(engine, "connect")
    def _no_autobegin(dbapi_conn, _record):
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):
        # ``conn.execution_options(sqlite_begin="IMMEDIATE")`` takes the write lock at BEGIN
        # (a claim that reads then writes must not be upgraded from a read lock; gis.outbox)
        mode = conn.get_execution_options().get("sqlite_begin", "")
        if mode not in ("", "IMMEDIATE"):
            raise ValueError(f"sqlite_begin must be '' or 'IMMEDIATE', not {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the store's schema to ``revision`` (creating it in an empty database)."""
    from alembic import command

    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for_dialect("postgresql").ensure_postgis(conn)
    try:
        command.upgrade(_alembic_config(engine), revision)
    except StoreUnavailable:
        raise
    except Exception as exc:
        if "connect" in type(exc).__name__.lower() or "OperationalError" in type(exc).__name__:
            raise StoreUnavailable(f"cannot reach the store: {exc}", field="database_url") from exc
        raise


def downgrade(engine: Engine, revision: str) -> None:
    """Take the store's schema back to ``revision`` (each migration's own downgrade; data a newer
    revision derived is recomputed, data it dropped is not restored)."""
    from alembic import command

    command.downgrade(_alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the store is at, or None for an empty database."""
    if "alembic_version" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(_MIGRATIONS)).get_current_head()


def vacuum(engine: Engine) -> None:
    """Compact the store; on SQLite rebuild the R*Trees, whose rowid keys VACUUM may move."""
    from gis.models import SPATIAL_TABLES

    dialect = for_dialect(engine.dialect.name)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    with engine.begin() as conn:
        for table, column in SPATIAL_TABLES.items():
            dialect.rebuild_spatial_index(conn, table, column)
