"""customer search: derived search rows, exact/prefix keys, trigram indexes (pg_trgm / FTS5)

Revision ID: 0003
Revises: 0002

PostGIS: the pg_trgm extension and GIN trigram indexes; the database must be UTF-8 with a
UTF-8 ctype (checked: pg_trgm would not see CJK characters otherwise). SQLite: the FTS5
table ``customer_search_fts`` with the trigram tokenizer (SQLite ≥ 3.34, checked). Text
columns use the "C" collation on PostgreSQL so ranges and order match SQLite's BINARY.
The rows are (re)built by ``gis.search.reindex_customers`` (called by every city load).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gis.search.dialect import check_store
from gis.search.tables import FTS_TABLE

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TRGM = ("name_key", "address_key", "phones")


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    check_store(bind)
    c = {"collation": "C"} if pg else {}
    if pg:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "customer_search",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_no", sa.String(length=32, **c), nullable=False),
        sa.Column("name_key", sa.String(length=200, **c), nullable=False),
        sa.Column("address_key", sa.String(length=500, **c), nullable=False),
        sa.Column("phones", sa.String(length=200, **c), nullable=False),
        sa.ForeignKeyConstraint(["account_no"], ["customers.account_no"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_no", name="uq_customer_search_account_no"),
    )
    op.create_index("ix_customer_search_name_key", "customer_search", ["name_key", "account_no"])
    op.create_table(
        "customer_keys",
        sa.Column("kind", sa.String(length=8, **c), nullable=False),
        sa.Column("key", sa.String(length=64, **c), nullable=False),
        sa.Column("account_no", sa.String(length=32, **c), nullable=False),
        sa.ForeignKeyConstraint(["account_no"], ["customers.account_no"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("kind", "key", "account_no"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_customer_keys_account_no", "customer_keys", ["account_no"])
    if pg:
        for column in _TRGM:
            op.execute(f"CREATE INDEX ix_customer_search_{column}_trgm ON customer_search USING gin ({column} gin_trgm_ops)")
    else:
        op.execute(
            f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5({', '.join(_TRGM)}, "
            "content='customer_search', content_rowid='id', tokenize='trigram')"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    op.drop_index("ix_customer_keys_account_no", table_name="customer_keys")
    op.drop_table("customer_keys")
    op.drop_index("ix_customer_search_name_key", table_name="customer_search")
    op.drop_table("customer_search")  # drops the trigram indexes with it
