"""Smaller interaction indexes: a customer's contacts by account alone, an area's by its res-9 cell

Revision ID: 0019_smaller_interaction_indexes
Revises: 0018_one_interaction_rollup

Issue 14 (bulk ingest ≥ 20,000 contacts/s at 10M contacts). An ingest of 200,000 contacts into
10M wrote ~286,000 pages (4 KiB), and every page is written twice (the log, then the database).
Two indexes were larger than what they are read for:

* ``ix_interactions_account_time (account_no, occurred_at)`` → ``ix_interactions_account
  (account_no)``. The customer view reads all of a customer's contacts (a few dozen at most) and
  sorts them; the time in each entry (26 bytes of text on SQLite) doubled the index (113,000 →
  ~50,000 pages at 10M). The complaint screening keeps its own partial index with the time.
* ``ix_interactions_cell (cell)`` → ``ix_interactions_cell9 ((cell >> 18))``: the res-9 parent of
  the stored res-10 cell (its digit 10 and the unused digits shifted out). An area's list reads a
  cell of resolution 9 or coarser, whose res-9 descendants are one range of this expression; a new
  contact's entry goes at the end of its res-9 cell's entries, so an ingest touches a page per
  res-9 cell (~6,500 at 10M) instead of one per res-10 cell (~45,000).

Measured on the 10M-contact store (SQLite, 200,000 new contacts a batch, the same code): 13.6–14.5 s
a batch with the old indexes, 11.6–12.7 s with these. No data changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_smaller_interaction_indexes"
down_revision = "0018_one_interaction_rollup"
branch_labels = None
depends_on = None

#: the res-9 parent of a res-10 cell as one integer (gis.interaction_rollups.CELL9_SQL)
_CELL9 = sa.text("(cell >> 18)")


def upgrade() -> None:
    op.drop_index("ix_interactions_account_time", table_name="interactions")
    op.create_index("ix_interactions_account", "interactions", ["account_no"])
    op.drop_index("ix_interactions_cell", table_name="interactions")
    op.create_index("ix_interactions_cell9", "interactions", [_CELL9])


def downgrade() -> None:
    op.drop_index("ix_interactions_cell9", table_name="interactions")
    op.create_index("ix_interactions_cell", "interactions", ["cell"])
    op.drop_index("ix_interactions_account", table_name="interactions")
    op.create_index("ix_interactions_account_time", "interactions", ["account_no", "occurred_at"])
