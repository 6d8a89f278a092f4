"""A minimal reject-report writer for the pandapower loader.

Stand-in for ``loaders/rejects.py`` (built in parallel by the GIS-layer loader): the same
columns — ``source, layer, row, id, field, value, reason`` — in UTF-8 with a BOM so that
spreadsheet programs show Chinese text. The lead switches the pandapower loader to the
shared module when the branches merge.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Reject", "COLUMNS", "write_rejects"]

COLUMNS = ("source", "layer", "row", "id", "field", "value", "reason")


@dataclass(frozen=True)
class Reject:
    """One rejected source row: where it is, which field and value, and why."""

    source: str
    layer: str
    row: int
    id: str | None
    field: str
    value: object
    reason: str

    def __str__(self) -> str:
        return f"{self.layer} row {self.row} ({self.id}): {self.field}={self.value!r}: {self.reason}"


def write_rejects(path: Path, rejects: Iterable[Reject]) -> int:
    """Write ``rejects`` to ``path`` (overwritten); returns the number of rows written."""
    n = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for r in rejects:
            writer.writerow([r.source, r.layer, r.row, r.id or "", r.field, "" if r.value is None else r.value, r.reason])
            n += 1
    return n
