"""The full data-quality report: the topology's findings plus coordinates outside the service area.

Composed here because the service area is configuration (api/) while the graph checks
belong to ``topology`` and the coordinate checks to ``gis``.
"""

from __future__ import annotations

import dataclasses

from api.state import GridSnapshot
from gis.validation import BBox, check_lonlat
from topology import Finding, ValidationReport, validate

__all__ = ["full_report"]

_POINT_TABLES = {"nodes": ("node", "id"), "customers": ("customer", "account_no"),
                 "transformers": ("transformer", "id"), "meter_boxes": ("meter_box", "id"),
                 "substations": ("substation", "id")}


def full_report(snapshot: GridSnapshot, service_area: BBox) -> ValidationReport:
    report = validate(snapshot.assets, snapshot.index)
    extra: list[Finding] = []
    for table, (kind, id_col) in _POINT_TABLES.items():
        df = getattr(snapshot.assets, table)
        for problem in check_lonlat(table, df, id_col, df["lon"].to_numpy(), df["lat"].to_numpy(), service_area):
            extra.append(Finding(code="outside-service-area", severity="error", kind=kind,
                                 element=problem.id or "", message=f"{problem.value}: {problem.reason}"))
    return dataclasses.replace(report, findings=(*report.findings, *extra))
