"""One interaction rollup keyed by cell × 台区 × feeder: one upsert per ingested contact, not three

Revision ID: 0018_one_interaction_rollup
Revises: 0017_lean_interaction_writes

Issue 14 (bulk ingest ≥ 20,000 contacts/s at 10M contacts). Every new contact cost three rollup
upserts — its res-9 cell, its 台区, its feeder — and the rollups had about one row per contact in
each (a key of area × day × channel × kind is nearly unique at that size): at 10M contacts they
held 26M rows and 2.9 GB on PostgreSQL, more than the contacts themselves. A contact's cell, 台区
and feeder go together, so one table keyed by all three counts it once:

* ``interaction_rollups (cell, transformer_id, feeder_id, day, channel, kind) → n, version``:
  ``cell`` 0 for a contact without a place, ''  for no 台区 / feeder (an unmatched caller counts
  by its own point only);
* a cell's counts are the sums over its 台区, a 台区's (a feeder's) the sums over its cells. A
  台区 spans a few cells at most, so the table has about as many rows as the cell rollup had;
* clustered on its key (SQLite ``WITHOUT ROWID``), with the ``version`` index the in-memory
  followers read by.

Filled from the placed interactions (as ``rebuild_rollups``); the two old tables are dropped.
The version is bumped and marked as a rebuild, so a running process reads its cubes again. The
downgrade sums the one table back into the two.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_one_interaction_rollup"
down_revision = "0017_lean_interaction_writes"
branch_labels = None
depends_on = None

_ROLLUP_RES = 9


def _parent_sql(res: int, column: str = "cell") -> str:
    """The res-``res`` parent of a finer H3 cell in SQL (as gis.interaction_rollups.parent_cells)."""
    low = (1 << (3 * (15 - res))) - 1
    keep = ~((15 << 52) | low)
    return f"(({column} & ({keep})) | {(res << 52) | low})"


def _clustered() -> str:
    return "" if op.get_bind().dialect.name == "postgresql" else " WITHOUT ROWID"


def _drop(table: str) -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    rows = bind.execute(sa.text(
        "SELECT indexname FROM pg_indexes WHERE tablename = :t AND indexname NOT LIKE '%pkey'" if pg else
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"), {"t": table}).all()
    for (name,) in rows:
        op.execute(f"DROP INDEX {name}")
    op.execute(f"DROP TABLE {table}")


def _analyze(*tables: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(f"ANALYZE {table}")


def upgrade() -> None:
    op.execute("UPDATE interaction_rollup_state SET version = version + 1, rebuilt = version + 1 WHERE id = 1")
    op.execute(
        "CREATE TABLE interaction_rollups (cell BIGINT NOT NULL, transformer_id VARCHAR(64) NOT NULL, "
        "feeder_id VARCHAR(64) NOT NULL, day INTEGER NOT NULL, channel VARCHAR(32) NOT NULL, kind VARCHAR(16) NOT NULL, "
        "n INTEGER NOT NULL, version BIGINT, CONSTRAINT interaction_rollups_pkey "
        f"PRIMARY KEY (cell, transformer_id, feeder_id, day, channel, kind)){_clustered()}")
    cell = f"COALESCE({_parent_sql(_ROLLUP_RES)}, 0)"
    op.execute(
        "INSERT INTO interaction_rollups (cell, transformer_id, feeder_id, day, channel, kind, n, version) "
        f"SELECT {cell}, COALESCE(transformer_id, ''), COALESCE(feeder_id, ''), day, channel, kind, count(*), "
        "(SELECT version FROM interaction_rollup_state WHERE id = 1) FROM interactions "
        "WHERE day IS NOT NULL AND (cell IS NOT NULL OR transformer_id IS NOT NULL OR feeder_id IS NOT NULL) "
        f"GROUP BY {cell}, COALESCE(transformer_id, ''), COALESCE(feeder_id, ''), day, channel, kind")
    op.create_index("ix_interaction_rollups_version", "interaction_rollups", ["version"])
    _drop("interaction_cell_rollups")
    _drop("interaction_area_rollups")
    _analyze("interaction_rollups")


def downgrade() -> None:
    op.execute("UPDATE interaction_rollup_state SET version = version + 1, rebuilt = version + 1 WHERE id = 1")
    clustered = _clustered()
    op.execute(
        "CREATE TABLE interaction_cell_rollups (cell BIGINT NOT NULL, day INTEGER NOT NULL, "
        "channel VARCHAR(32) NOT NULL, kind VARCHAR(16) NOT NULL, n INTEGER NOT NULL, version BIGINT, "
        f"CONSTRAINT interaction_cell_rollups_pkey PRIMARY KEY (cell, day, channel, kind)){clustered}")
    op.execute(
        "INSERT INTO interaction_cell_rollups (cell, day, channel, kind, n, version) "
        "SELECT cell, day, channel, kind, sum(n), max(version) FROM interaction_rollups WHERE cell <> 0 "
        "GROUP BY cell, day, channel, kind")
    op.execute(
        "CREATE TABLE interaction_area_rollups (area_kind VARCHAR(16) NOT NULL, area_id VARCHAR(64) NOT NULL, "
        "day INTEGER NOT NULL, channel VARCHAR(32) NOT NULL, kind VARCHAR(16) NOT NULL, n INTEGER NOT NULL, "
        "version BIGINT, CONSTRAINT interaction_area_rollups_pkey PRIMARY KEY (area_kind, area_id, day, channel, kind))"
        f"{clustered}")
    for kind, column in (("transformer", "transformer_id"), ("feeder", "feeder_id")):
        op.execute(
            "INSERT INTO interaction_area_rollups (area_kind, area_id, day, channel, kind, n, version) "
            f"SELECT '{kind}', {column}, day, channel, kind, sum(n), max(version) FROM interaction_rollups "
            f"WHERE {column} <> '' GROUP BY {column}, day, channel, kind")
    op.create_index("ix_interaction_cell_rollups_version", "interaction_cell_rollups", ["version"])
    op.create_index("ix_interaction_area_rollups_version", "interaction_area_rollups", ["area_kind", "version"])
    _drop("interaction_rollups")
    _analyze("interaction_cell_rollups", "interaction_area_rollups")
