"""Outbox, consultation links and replies, candidate windows and alternatives, the gateway role

Revision ID: 0010
Revises: 0009

* ``outbox_messages``: messages written in the transaction of the change that causes them,
  claimed by workers with a lease, delivered at least once with a stable idempotency key.
* ``consultations`` gains the preferred window (a candidate's seq), how the reply came
  (page / gateway) and the link's expiry.
* ``plan_windows`` (candidate windows), ``plan_alternatives`` (alternative step sets) and
  ``plan_consultations`` (reason and area told to the customers) for 先算后停.
* ``api_keys.role`` admits ``gateway``: the SMS/WeChat gateway's key, which may only post replies.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# 0008 added the telephony role before this revision
_OLD_ROLES = "role IN ('dispatcher', 'planner', 'agent', 'analyst', 'admin', 'telephony')"
_NEW_ROLES = "role IN ('dispatcher', 'planner', 'agent', 'analyst', 'admin', 'telephony', 'gateway')"


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("account_no", sa.String(length=32), nullable=True),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("channel IN ('wechat', 'sms')", name="ck_outbox_channel"),
        sa.CheckConstraint("state IN ('pending', 'sent', 'dead')", name="ck_outbox_state"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_outbox_due", "outbox_messages", ["state", "next_try_at"])
    op.create_index("ix_outbox_messages_account_no", "outbox_messages", ["account_no"])
    op.create_index("ix_outbox_messages_plan_id", "outbox_messages", ["plan_id"])

    op.create_table(
        "plan_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["switching_plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "seq", name="uq_plan_windows_seq"),
    )
    op.create_index("ix_plan_windows_plan_id", "plan_windows", ["plan_id"])
    op.create_table(
        "plan_alternatives",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["switching_plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "seq", name="uq_plan_alternatives_seq"),
    )
    op.create_index("ix_plan_alternatives_plan_id", "plan_alternatives", ["plan_id"])
    op.create_table(
        "plan_consultations",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("area_names", sa.JSON(), nullable=False),
        sa.Column("sent_by", sa.String(length=100), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["switching_plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("plan_id"),
    )
    with op.batch_alter_table("consultations") as batch_op:
        batch_op.add_column(sa.Column("preferred_window", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reply_via", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    _roles(_NEW_ROLES)


def _roles(check: str) -> None:
    with op.batch_alter_table("api_keys", recreate="always") as batch_op:
        batch_op.drop_constraint("ck_api_keys_role", type_="check")
        batch_op.create_check_constraint("ck_api_keys_role", check)


def downgrade() -> None:
    op.execute("DELETE FROM api_keys WHERE role = 'gateway'")
    _roles(_OLD_ROLES)
    with op.batch_alter_table("consultations") as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("reply_via")
        batch_op.drop_column("preferred_window")
    op.drop_table("plan_consultations")
    op.drop_table("plan_alternatives")
    op.drop_table("plan_windows")
    op.drop_table("outbox_messages")
