"""Alerts: one open alert per customer and category, guarded by the store (folding without a race)

Revision ID: 0012_alert_fold_guard
Revises: 0011

Two workers screening messages of the same customer and category at once could each find no
open alert and each open one. ``alerts.open_fold_key`` (``"<fold_key>|<category>"``) is set on
the alert that takes the folds and cleared when it closes or a newer one takes over; a unique
partial index lets only one alert hold it, so the second screener's ``INSERT … ON CONFLICT DO
NOTHING`` inserts nothing and it folds into the first one. Existing open alerts: the newest of
each key holds it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_alert_fold_guard"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("open_fold_key", sa.String(length=96), nullable=True))
    op.execute(sa.text(
        "UPDATE alerts SET open_fold_key = fold_key || '|' || category "
        "WHERE fold_key IS NOT NULL AND state IN ('new', 'acknowledged') AND id = ("
        " SELECT a2.id FROM alerts a2 WHERE a2.fold_key = alerts.fold_key AND a2.category = alerts.category"
        " AND a2.state IN ('new', 'acknowledged') ORDER BY a2.last_at DESC, a2.id DESC LIMIT 1)"))
    op.create_index("uq_alerts_open_fold", "alerts", ["open_fold_key"], unique=True,
                    sqlite_where=sa.text("open_fold_key IS NOT NULL"),
                    postgresql_where=sa.text("open_fold_key IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("uq_alerts_open_fold", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("open_fold_key")
