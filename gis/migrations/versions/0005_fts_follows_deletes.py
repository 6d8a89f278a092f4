"""SQLite: the FTS5 search mirror forgets a customer's row when its customer_search row goes

Revision ID: 0005
Revises: 0004

``customer_search_fts`` is an external-content FTS5 table: it is not told when a
``customer_search`` row is deleted, e.g. by the cascade from deleting a customer, and kept
that customer's trigram entries (a stale match the search then had to skip). A trigger now
sends FTS5 its 'delete' command for every deleted row. The bulk reindex drops it with the
search tables' indexes and recreates it after rebuilding the mirror in one statement.
PostgreSQL needs nothing: its trigram indexes are on the table itself.
"""

from __future__ import annotations

from alembic import op

from gis.search.tables import FTS_TABLE

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TRIGGER = "customer_search_fts_forget"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        f"CREATE TRIGGER {TRIGGER} AFTER DELETE ON customer_search BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, name_key, address_key, phones) "
        "VALUES ('delete', old.id, old.name_key, old.address_key, old.phones); END"
    )
    # rows already orphaned by earlier deletes: rebuild the mirror from the table once
    op.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
