"""The three views of the one interaction rollup (migration 0018) in the shape of the tables they
replaced, for tests that compare counts: per res-9 cell, and per 台区 / feeder (``area_kind``)."""

from __future__ import annotations

#: Per res-9 cell × day × channel × kind (the former ``interaction_cell_rollups``).
CELLS = ("(SELECT cell, day, channel, kind, sum(n) AS n FROM interaction_rollups WHERE cell <> 0 "
         "GROUP BY cell, day, channel, kind)")
#: Per 台区 and per feeder × day × channel × kind (the former ``interaction_area_rollups``).
AREAS = ("(SELECT 'transformer' AS area_kind, transformer_id AS area_id, day, channel, kind, sum(n) AS n "
         "FROM interaction_rollups WHERE transformer_id <> '' GROUP BY transformer_id, day, channel, kind "
         "UNION ALL SELECT 'feeder', feeder_id, day, channel, kind, sum(n) FROM interaction_rollups "
         "WHERE feeder_id <> '' GROUP BY feeder_id, day, channel, kind)")
