"""Rejected rows and the reject report (a CSV Excel opens: UTF-8 with a byte-order mark; cells that
would start a spreadsheet formula get a leading ``'``, :mod:`gis.spreadsheet`).

Row numbers are the ones a user finds in the source: for CSV and XLSX the spreadsheet row
(the header is row 1, so the first data row is row 2); for GIS layers the 1-based feature
number in the layer's own order (what QGIS' attribute table shows as the row count, FID order).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from gis.spreadsheet import csv_row

__all__ = ["Reject", "REJECT_COLUMNS", "write_rejects", "default_rejects_path", "is_reject_report"]

REJECT_COLUMNS = ("source_file", "layer", "row", "id", "field", "value", "reason")


@dataclass(frozen=True)
class Reject:
    """One rejected source row: where it is (file, layer, row, id), which field, its value, why."""

    source_file: str
    layer: str
    row: int
    id: str
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.source_file}" + (f" layer {self.layer}" if self.layer else "") + f" row {self.row}"
        ident = f" id {self.id}" if self.id else ""
        value = f" = {self.value!r}" if self.value != "" else ""
        return f"{where}{ident}: {self.field}{value}: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def default_rejects_path(input_path: Path) -> Path:
    """``<input>.rejects.csv`` beside the input (for a mapping: beside the mapping file)."""
    return input_path.with_name(input_path.name + ".rejects.csv")


def write_rejects(path: Path, rejects: Iterable[Reject]) -> int:
    """Write the report (header + one line per rejected field) and return the line count."""
    n = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(REJECT_COLUMNS)
        for r in rejects:
            writer.writerow(csv_row([r.source_file, r.layer, r.row, r.id, r.field, r.value, r.reason]))
            n += 1
    return n


def is_reject_report(path: Path) -> bool:
    """Whether ``path`` is a report :func:`write_rejects` wrote (so it may be replaced or removed)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(200)
    except OSError:
        return False
    return head.startswith(b"\xef\xbb\xbf" + ",".join(REJECT_COLUMNS).encode())
