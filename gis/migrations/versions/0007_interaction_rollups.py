"""Interactions placed at ingest (matched customer, H3 cell, local day, 台区, feeder) and their rollups

Revision ID: 0007
Revises: 0006

New nullable columns on ``interactions`` (existing rows keep NULL until
``gridatlas interactions rebuild-rollups --place`` places them), two rollup tables kept by
every ingest, and indexes on the customers' second phone and WeChat openid, which the
caller matching looks up.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("caller_account_no", sa.String(length=32)),
    ("wechat_openid", sa.String(length=64)),
    ("matched_by", sa.String(length=16)),
    ("cell", sa.BigInteger()),
    ("day", sa.Integer()),
    ("transformer_id", sa.String(length=64)),
    ("feeder_id", sa.String(length=64)),
)


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("interactions", sa.Column(name, type_, nullable=True))
    for name in ("cell", "transformer_id", "feeder_id"):
        op.create_index(f"ix_interactions_{name}", "interactions", [name])
    op.create_index("ix_customers_phone_alt", "customers", ["phone_alt"])
    op.create_index("ix_customers_wechat_openid", "customers", ["wechat_openid"])
    op.create_table(
        "interaction_cell_rollups",
        sa.Column("res", sa.Integer(), nullable=False),
        sa.Column("cell", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("res", "cell", "day", "channel", "kind"),
    )
    op.create_index("ix_interaction_cell_rollups_res_day", "interaction_cell_rollups", ["res", "day"])
    op.create_table(
        "interaction_area_rollups",
        sa.Column("area_kind", sa.String(length=16), nullable=False),
        sa.Column("area_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("area_kind", "area_id", "day", "channel", "kind"),
    )
    op.create_index("ix_interaction_area_rollups_kind_day", "interaction_area_rollups", ["area_kind", "day"])
    state = op.create_table(
        "interaction_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(state, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("interaction_rollup_state")
    op.drop_table("interaction_area_rollups")
    op.drop_table("interaction_cell_rollups")
    op.drop_index("ix_customers_wechat_openid", "customers")
    op.drop_index("ix_customers_phone_alt", "customers")
    for name in ("cell", "transformer_id", "feeder_id"):
        op.drop_index(f"ix_interactions_{name}", "interactions")
    with op.batch_alter_table("interactions") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
