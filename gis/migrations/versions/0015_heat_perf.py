"""Rollup rows remember the rollup version that last changed them, so in-memory copies follow incrementally

Revision ID: 0015_heat_perf
Revises: 0014_outage_notices

``interaction_cell_rollups.version`` / ``interaction_area_rollups.version``: the
``interaction_rollup_state.version`` of the transaction that last changed the row (NULL for
rows written before this revision: a process reads those in its first full read).
``interaction_rollup_state.rebuilt``: the version of the last full rebuild (a follower older
than it reads everything again, since a rebuild deletes rows). Rows whose count drops to zero
are kept with ``n = 0`` (a follower must see the zero); a rebuild drops them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_heat_perf"
down_revision = "0014_outage_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("interaction_cell_rollups", "interaction_area_rollups"):
        op.add_column(table, sa.Column("version", sa.BigInteger(), nullable=True))
        op.create_index(f"ix_{table}_version", table, ["version"])
    op.add_column("interaction_rollup_state", sa.Column("rebuilt", sa.BigInteger(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        # statistics for the new column, so "version > :since" is planned on its index from the first follow
        op.execute("ANALYZE interaction_cell_rollups")
        op.execute("ANALYZE interaction_area_rollups")


def downgrade() -> None:
    with op.batch_alter_table("interaction_rollup_state") as batch:
        batch.drop_column("rebuilt")
    for table in ("interaction_cell_rollups", "interaction_area_rollups"):
        op.drop_index(f"ix_{table}_version", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
