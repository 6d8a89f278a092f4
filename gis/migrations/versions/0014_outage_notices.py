"""Screening reads answered from indexes: complaints per customer, interruptions per customer

Revision ID: 0014_outage_notices
Revises: 0012_alert_fold_guard

The screening of a plan (issue 16) counts, for up to tens of thousands of affected customers,
their complaints (投诉) and their recorded outages in the last days. Both counts were index
range scans followed by a table read per row (the kind of each interaction, the outage id of
each record). A partial index of complaints and an outage-records index that carries the
outage id answer them from the index alone (10,000 customers at 1M: ~150 ms → a few ms).
The outage-records index replaces ``ix_outage_records_account_start``, its prefix.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_outage_notices"
down_revision = "0012_alert_fold_guard"
branch_labels = None
depends_on = None

_COMPLAINT = sa.text("kind = '投诉'")


def upgrade() -> None:
    op.create_index("ix_interactions_complaints_account_time", "interactions", ["account_no", "occurred_at"],
                    sqlite_where=_COMPLAINT, postgresql_where=_COMPLAINT)
    op.create_index("ix_outage_records_account_start_outage", "outage_records",
                    ["account_no", "start_at", "outage_id"])
    op.drop_index("ix_outage_records_account_start", table_name="outage_records")


def downgrade() -> None:
    op.create_index("ix_outage_records_account_start", "outage_records", ["account_no", "start_at"])
    op.drop_index("ix_outage_records_account_start_outage", table_name="outage_records")
    op.drop_index("ix_interactions_complaints_account_time", table_name="interactions")
