"""Sensitive-word alerts: lexicon changes and version, alerts, their messages, escalations

Revision ID: 0011
Revises: 0010

The shipped lexicon is a data file of ``interactions``; ``lexicon_entries`` holds what
operators added or removed, and ``lexicon_state`` one version number every change bumps, so
each worker process knows when to rebuild its matcher. An alert folds repeated hits of one
customer and category (``count``); ``alert_hits`` keeps each message with the words matched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lexicon_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("word", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=True),
        sa.Column("severity", sa.String(length=8), nullable=True),
        sa.Column("pinyin", sa.Boolean(), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('word', 'allow')", name="ck_lexicon_entries_kind"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "word", name="uq_lexicon_entries_word"),
    )
    lexicon_state = op.create_table(
        "lexicon_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(lexicon_state, [{"id": 1, "version": 0, "changed_at": None}])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("fold_key", sa.String(length=64), nullable=True),
        sa.Column("account_no", sa.String(length=32), nullable=True),
        sa.Column("transformer_id", sa.String(length=64), nullable=True),
        sa.Column("feeder_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("interaction_id", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_by", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("state IN ('new', 'acknowledged', 'resolved', 'false_positive')", name="ck_alerts_state"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alerts_fold", "alerts", ["fold_key", "category", "last_at"])
    op.create_index("ix_alerts_state_time", "alerts", ["state", "last_at"])
    op.create_index("ix_alerts_account_no", "alerts", ["account_no"])
    op.create_index("ix_alerts_transformer_id", "alerts", ["transformer_id"])
    op.create_table(
        "alert_hits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("interaction_id", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transformer_id", sa.String(length=64), nullable=True),
        sa.Column("matches", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "interaction_id", name="uq_alert_hits_message"),
    )
    op.create_index("ix_alert_hits_alert_id", "alert_hits", ["alert_id"])
    op.create_index("ix_alert_hits_interaction_id", "alert_hits", ["interaction_id"])
    op.create_index("ix_alert_hits_area_time", "alert_hits", ["transformer_id", "occurred_at"])
    op.create_table(
        "alert_escalations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transformer_id", sa.String(length=64), nullable=False),
        sa.Column("feeder_id", sa.String(length=64), nullable=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_escalations_transformer_id", "alert_escalations", ["transformer_id"])
    # WeChat retries a message up to three times: its MsgId is remembered (issue 15's callback)
    op.create_table(
        "wechat_messages",
        sa.Column("msg_id", sa.String(length=64), nullable=False),
        sa.Column("interaction_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("msg_id"),
    )


def downgrade() -> None:
    op.drop_table("wechat_messages")
    op.drop_table("alert_escalations")
    op.drop_table("alert_hits")
    op.drop_table("alerts")
    op.drop_table("lexicon_state")
    op.drop_table("lexicon_entries")
