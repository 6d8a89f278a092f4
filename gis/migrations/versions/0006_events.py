"""Live events: a durable table every API worker follows (alerts, incoming calls, …)

Revision ID: 0006
Revises: 0005

A change that others must see at once (a new alert, a ringing phone) publishes an event in
its own transaction (``gis.events.publish``): one row here and, on PostgreSQL, a
``pg_notify`` delivered at commit. Each API worker follows the table and pushes the events to
its Server-Sent-Events subscribers. Ids only grow (SQLite AUTOINCREMENT), so a client that
reconnects with ``Last-Event-ID`` never gets an id that was used before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=120), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_created_at", "events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_events_created_at", table_name="events")
    op.drop_table("events")
