"""Render impact results as JSON, CSV, GeoJSON or a plain-text table.

Used by the command line ``gridatlas impact --plan FILE --format json|csv|geojson|table``
(wired in ``api/``) and by the API's export endpoints.  Every function takes one
:class:`~outage_impact.impact.ImpactResult` or a sequence of them (one per plan, as
returned for :func:`~outage_impact.plan.load_plans`).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence

from gis.spreadsheet import csv_row
from outage_impact.impact import ImpactResult

__all__ = ["FORMATS", "CSV_COLUMNS", "render", "to_json", "to_csv", "to_geojson", "to_table"]

FORMATS: tuple[str, ...] = ("json", "csv", "geojson", "table")
CSV_COLUMNS: tuple[str, ...] = ("account_no", "feeder_id", "transformer_id", "sensitivity")


def render(results: ImpactResult | Sequence[ImpactResult], fmt: str) -> str:
    """Text of ``results`` in format ``fmt`` (one of :data:`FORMATS`)."""
    items = [results] if isinstance(results, ImpactResult) else list(results)
    if fmt == "json":
        body = to_json(items[0]) if isinstance(results, ImpactResult) else [to_json(r) for r in items]
        return json.dumps(body, ensure_ascii=False, indent=2)
    if fmt == "csv":
        return to_csv(items)
    if fmt == "geojson":
        fc = to_geojson(items)
        return json.dumps(fc, ensure_ascii=False)
    if fmt == "table":
        return "\n\n".join(to_table(r) for r in items)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def to_json(result: ImpactResult) -> dict[str, object]:
    """The machine-readable result (see :meth:`ImpactResult.to_dict`)."""
    return result.to_dict()


def to_csv(results: ImpactResult | Sequence[ImpactResult]) -> str:
    """One row per affected customer; a leading ``plan`` column when several plans."""
    items = [results] if isinstance(results, ImpactResult) else list(results)
    many = len(items) > 1
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(csv_row((["plan"] if many else []) + list(CSV_COLUMNS)))
    for i, result in enumerate(items):
        label = _label(result, i)
        for row in result.rows:
            cells = [row.account_no, row.feeder_id or "", row.transformer_id or "", row.sensitivity or ""]
            writer.writerow(csv_row(([label] if many else []) + cells))
    return buf.getvalue()


def to_geojson(results: ImpactResult | Sequence[ImpactResult]) -> dict[str, object]:
    """FeatureCollection: per plan the area (``role: area``) and the customer points."""
    items = [results] if isinstance(results, ImpactResult) else list(results)
    features: list[dict[str, object]] = []
    for i, result in enumerate(items):
        plan = _label(result, i)
        if result.area is not None:
            features.append({"type": "Feature", "geometry": result.area,
                             "properties": {"role": "area", "plan": plan, "count": result.count,
                                            "sensitive_count": result.sensitive_count,
                                            "version": result.version}})
        for row in result.rows:
            if not (math.isfinite(row.lon) and math.isfinite(row.lat)):
                continue
            features.append({"type": "Feature",
                             "geometry": {"type": "Point", "coordinates": [row.lon, row.lat]},
                             "properties": {"role": "customer", "plan": plan, "account_no": row.account_no,
                                            "feeder_id": row.feeder_id, "transformer_id": row.transformer_id,
                                            "sensitivity": row.sensitivity}})
    return {"type": "FeatureCollection", "features": features}


def to_table(result: ImpactResult) -> str:
    """Plain-text summary for a terminal."""
    lines = [f"Plan: {_label(result, 0)}    data version: {result.version}"]
    if result.window_start is not None:
        minutes = (result.window_end - result.window_start).total_seconds() / 60
        lines.append(f"Window: {result.window_start.isoformat()} - {result.window_end.isoformat()} ({minutes:g} min)")
    cm = "-" if result.customer_minutes is None else f"{result.customer_minutes:g}"
    lines.append(f"Affected customers: {result.count}    sensitive: {result.sensitive_count}    "
                 f"customer-minutes: {cm}")
    if result.transient_customers:
        lines.append(f"Transient outage during switching only: {len(result.transient_customers)}")
    for title, groups in (("By feeder", result.by_feeder), ("By transformer", result.by_transformer)):
        if groups:
            lines.append(f"{title}:")
            lines.extend(_columns([(k or "-", str(v)) for k, v in sorted(groups.items(), key=_group_order)]))
    if result.sensitive:
        lines.append("Sensitive customers:")
        lines.extend(_columns([(s["account_no"], s["sensitivity"]) for s in result.sensitive]))
    lines.append("Steps:")
    lines.extend(_columns([("#", "action", "kind", "element", "affected")]
                          + [(str(s.index), s.action, s.kind, s.element, str(s.count)) for s in result.steps]))
    return "\n".join(lines)


def _label(result: ImpactResult, i: int) -> str:
    if result.title:
        return result.title if result.plan_id is None else f"{result.title} ({result.plan_id})"
    return str(result.plan_id) if result.plan_id is not None else f"plan {i + 1}"


def _group_order(item: tuple[str | None, int]) -> tuple[bool, str]:
    return (item[0] is None, item[0] or "")


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
