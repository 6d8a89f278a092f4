"""plan lifecycle and outage records: plan_transitions (impact snapshots), outage_records

Revision ID: 0009
Revises: 0008

``plan_transitions`` keeps every status change of a plan with the impact snapshot it was
decided on (counts, groups, the compressed account list, the data version). ``outage_records``
holds one row per interrupted customer of an outage (from an executed plan, the API or a
CSV import), unique per (outage_id, account_no) so that re-recording is a no-op.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_version", sa.Integer(), nullable=True),
        sa.Column("affected_count", sa.Integer(), nullable=True),
        sa.Column("sensitive_count", sa.Integer(), nullable=True),
        sa.Column("customer_minutes", sa.Float(), nullable=True),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("customers_z", sa.LargeBinary(), nullable=True),
        sa.Column("impact_error", sa.Text(), nullable=True),
        sa.Column("actual_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actual_end", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["switching_plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_plan_transitions_plan", "plan_transitions", ["plan_id", "id"])
    op.create_table(
        "outage_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("outage_id", sa.String(length=64), nullable=False),
        sa.Column("account_no", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('planned', 'unplanned')", name="ck_outage_records_kind"),
        sa.CheckConstraint("end_at >= start_at", name="ck_outage_records_order"),
        sa.ForeignKeyConstraint(["plan_id"], ["switching_plans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outage_id", "account_no", name="uq_outage_records_customer"),
    )
    op.create_index("ix_outage_records_start", "outage_records", ["start_at"])
    op.create_index("ix_outage_records_account_start", "outage_records", ["account_no", "start_at"])
    op.create_index("ix_outage_records_plan_id", "outage_records", ["plan_id"])


def downgrade() -> None:
    op.drop_table("outage_records")
    op.drop_table("plan_transitions")
