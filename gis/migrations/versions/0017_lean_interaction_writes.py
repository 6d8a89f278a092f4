"""Fewer B-trees per ingested contact: res-9 cell rollups only, clustered rollups, leaner interaction indexes

Revision ID: 0017_lean_interaction_writes
Revises: 0016_phone_digits

What every new contact cost the store before (issue 14, bulk ingest): its row in a table with
seven B-trees and a spatial index (SQLite: an R*Tree kept by triggers), and six rollup upserts
(cells at res 6, 7, 8, 9, its 台区, its feeder), each in a rowid table with a key index, a
``(res, day)`` / ``(area_kind, day)`` index and a ``version`` index. This revision:

* keeps only the **res-9** cell rollup (``res`` column dropped): res 6–8 are sums of res-9 rows
  (a parent cell is a bit operation), summed in memory by the heat cubes and in SQL by the
  uncached path, so they were four times the writes for no information;
* makes both rollup tables **clustered on their key** (SQLite ``WITHOUT ROWID``; PostgreSQL
  keeps its heap and primary key) and drops their ``(res, day)`` / ``(area_kind, day)``
  indexes: full reads scan the table, followers read by ``version`` (the area rollup's index is
  ``(area_kind, version)``: PostgreSQL had answered "the 台区 rows changed since" with a bitmap AND
  over the key's ``area_kind`` prefix, 2 s at 10M contacts);
* drops the **spatial index on interactions.geom**: nothing finds an interaction by its point
  (heat counts cells, an area's list reads a cell range or an area id);
* replaces the index on ``interactions.occurred_at`` by one on the **repair calls** only
  (``kind = '报修'``, what the trouble-call query reads by time).

Counts are unchanged: the res-9 rows are copied as they are. The rollup version is bumped and
marked as a rebuild, so a running process reads its cubes again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gis.dialects import for_dialect

revision = "0017_lean_interaction_writes"
down_revision = "0016_phone_digits"
branch_labels = None
depends_on = None

_REPAIR = sa.text("kind = '报修'")
_RESOLUTIONS = (6, 7, 8, 9)


def _parent_sql(res: int) -> str:
    """The res-``res`` parent of a res-9 ``cell`` in SQL (as gis.interaction_rollups.parent_cells)."""
    low = (1 << (3 * (15 - res))) - 1
    keep = ~((15 << 52) | low)
    return f"((cell & ({keep})) | {(res << 52) | low})"


def _swap(table: str, create: str, copy: str, version_index: tuple[str, ...] = ("version",)) -> None:
    """Replace ``table`` by a new one (``create``: its CREATE TABLE statement, with the key) filled by
    ``copy`` (an INSERT … SELECT from ``{table}_old``)."""
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    for name in [r[0] for r in bind.execute(sa.text(
            "SELECT indexname FROM pg_indexes WHERE tablename = :t AND indexname NOT LIKE '%pkey'" if pg else
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"), {"t": table})]:
        op.execute(f"DROP INDEX {name}")
    op.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
    if pg:
        op.execute(f"ALTER INDEX {table}_pkey RENAME TO {table}_old_pkey")
    op.execute(create)
    op.execute(copy)
    op.execute(f"DROP TABLE {table}_old")
    op.create_index(f"ix_{table}_version", table, list(version_index))
    if pg:
        op.execute(f"ANALYZE {table}")


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    clustered = "" if pg else " WITHOUT ROWID"
    _swap("interaction_cell_rollups",
          "CREATE TABLE interaction_cell_rollups (cell BIGINT NOT NULL, day INTEGER NOT NULL, "
          "channel VARCHAR(32) NOT NULL, kind VARCHAR(16) NOT NULL, n INTEGER NOT NULL, version BIGINT, "
          f"CONSTRAINT interaction_cell_rollups_pkey PRIMARY KEY (cell, day, channel, kind)){clustered}",
          "INSERT INTO interaction_cell_rollups (cell, day, channel, kind, n, version) "
          "SELECT cell, day, channel, kind, n, version FROM interaction_cell_rollups_old WHERE res = 9 ORDER BY 1, 2, 3, 4")
    _swap("interaction_area_rollups",
          "CREATE TABLE interaction_area_rollups (area_kind VARCHAR(16) NOT NULL, area_id VARCHAR(64) NOT NULL, "
          "day INTEGER NOT NULL, channel VARCHAR(32) NOT NULL, kind VARCHAR(16) NOT NULL, n INTEGER NOT NULL, "
          "version BIGINT, CONSTRAINT interaction_area_rollups_pkey PRIMARY KEY (area_kind, area_id, day, channel, kind))"
          f"{clustered}",
          "INSERT INTO interaction_area_rollups (area_kind, area_id, day, channel, kind, n, version) "
          "SELECT area_kind, area_id, day, channel, kind, n, version FROM interaction_area_rollups_old ORDER BY 1, 2, 3, 4, 5",
          version_index=("area_kind", "version"))
    # every in-memory cube reads again (its coarse cells now come from res 9)
    op.execute("UPDATE interaction_rollup_state SET version = version + 1, rebuilt = version + 1 WHERE id = 1")

    for_dialect(bind.dialect.name).drop_spatial_index(bind, "interactions", "geom")
    op.drop_index("ix_interactions_occurred_at", table_name="interactions")
    op.create_index("ix_interactions_repairs_time", "interactions", ["occurred_at", "id"],
                    sqlite_where=_REPAIR, postgresql_where=_REPAIR)


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index("ix_interactions_repairs_time", table_name="interactions")
    op.create_index("ix_interactions_occurred_at", "interactions", ["occurred_at"])
    for_dialect(bind.dialect.name).create_spatial_index(bind, "interactions", "geom")

    coarse = " UNION ALL ".join(
        f"SELECT {res}, {_parent_sql(res)}, day, channel, kind, sum(n), max(version) FROM interaction_cell_rollups_old "
        f"GROUP BY {_parent_sql(res)}, day, channel, kind" for res in _RESOLUTIONS[:-1])
    _swap("interaction_cell_rollups",
          "CREATE TABLE interaction_cell_rollups (res INTEGER NOT NULL, cell BIGINT NOT NULL, day INTEGER NOT NULL, "
          "channel VARCHAR(32) NOT NULL, kind VARCHAR(16) NOT NULL, n INTEGER NOT NULL, version BIGINT, "
          "CONSTRAINT interaction_cell_rollups_pkey PRIMARY KEY (res, cell, day, channel, kind))",
          "INSERT INTO interaction_cell_rollups (res, cell, day, channel, kind, n, version) "
          f"SELECT 9, cell, day, channel, kind, n, version FROM interaction_cell_rollups_old UNION ALL {coarse}")
    op.create_index("ix_interaction_cell_rollups_res_day", "interaction_cell_rollups", ["res", "day"])
    _swap("interaction_area_rollups",
          "CREATE TABLE interaction_area_rollups (area_kind VARCHAR(16) NOT NULL, area_id VARCHAR(64) NOT NULL, "
          "day INTEGER NOT NULL, channel VARCHAR(32) NOT NULL, kind VARCHAR(16) NOT NULL, n INTEGER NOT NULL, "
          "version BIGINT, CONSTRAINT interaction_area_rollups_pkey PRIMARY KEY (area_kind, area_id, day, channel, kind))",
          "INSERT INTO interaction_area_rollups (area_kind, area_id, day, channel, kind, n, version) "
          "SELECT area_kind, area_id, day, channel, kind, n, version FROM interaction_area_rollups_old")
    op.create_index("ix_interaction_area_rollups_kind_day", "interaction_area_rollups", ["area_kind", "day"])
    op.execute("UPDATE interaction_rollup_state SET version = version + 1, rebuilt = version + 1 WHERE id = 1")
