"""Assemble a stored plan's static map report (``map_ui.report``) from the served snapshot.

The composition root joins what the report shows: the plan record, its impact on the compiled
engine, and the coordinates of the steps' elements, the affected 台区 and the sensitive
customers from the snapshot's asset tables. The report holds account numbers and sensitivity
classes only (no names, phones or addresses), so every role that may read plans may have it.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from api.state import GridSnapshot
from gis.plans_store import PlanRecord
from map_ui.report import PlanReport, ReportPoint
from outage_impact.impact import ImpactResult

__all__ = ["build_plan_report"]


def _xy(table: pd.DataFrame, ids: list[str], id_column: str = "id") -> dict[str, tuple[float, float]]:
    if not ids or table.empty:
        return {}
    rows = table[table[id_column].isin(ids)]
    return {str(i): (float(x), float(y)) for i, x, y in zip(rows[id_column], rows["lon"], rows["lat"])}


def _step_positions(snapshot: GridSnapshot, steps: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[float, float]]:
    """Where each step's element is drawn: a switch at its first node, a segment at the middle of its
    two nodes, a transformer at its own point."""
    assets = snapshot.assets
    nodes = assets.nodes.set_index("id")
    out: dict[tuple[str, str], tuple[float, float]] = {}

    def node_xy(node: str) -> tuple[float, float] | None:
        if node not in nodes.index:
            return None
        return float(nodes.at[node, "lon"]), float(nodes.at[node, "lat"])

    by_kind: dict[str, list[str]] = {}
    for s in steps:
        by_kind.setdefault(s["kind"], []).append(s["element"])
    if "switch" in by_kind:
        sw = assets.switches[assets.switches["id"].isin(by_kind["switch"])]
        for sid, a in zip(sw["id"], sw["node_a"]):
            xy = node_xy(a)
            if xy:
                out[("switch", str(sid))] = xy
    if "segment" in by_kind:
        seg = assets.segments[assets.segments["id"].isin(by_kind["segment"])]
        for sid, a, b in zip(seg["id"], seg["node_a"], seg["node_b"]):
            pa, pb = node_xy(a), node_xy(b)
            if pa and pb:
                out[("segment", str(sid))] = ((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2)
    if "transformer" in by_kind:
        for tid, xy in _xy(assets.transformers, by_kind["transformer"]).items():
            out[("transformer", tid)] = xy
    return out


def build_plan_report(snapshot: GridSnapshot, plan: PlanRecord, result: ImpactResult) -> PlanReport:
    """The report's data for ``plan`` whose impact on ``snapshot`` is ``result``."""
    steps = [{"index": s.index, "action": s.action, "kind": s.kind, "element": s.element, "count": s.count}
             for s in result.steps]
    where = _step_positions(snapshot, steps)
    for s in steps:
        xy = where.get((s["kind"], s["element"]))
        s["lon"], s["lat"] = xy if xy else (None, None)
    by_transformer = {str(k): int(v) for k, v in result.by_transformer.items() if k is not None}
    transformers = snapshot.assets.transformers
    names = dict(zip(transformers["id"].astype(str), transformers["name"].astype(str)))
    points = _xy(transformers, list(by_transformer))
    affected = [ReportPoint(tid, x, y, names.get(tid, ""), by_transformer[tid]) for tid, (x, y) in sorted(points.items())]
    classes = {s["account_no"]: s["sensitivity"] for s in result.sensitive}
    sensitive: list[ReportPoint] = []
    if classes:
        for chunk in result.iter_rows(5000):
            sensitive += [ReportPoint(r.account_no, r.lon, r.lat, classes[r.account_no]) for r in chunk
                          if r.account_no in classes and math.isfinite(r.lon) and math.isfinite(r.lat)]
    return PlanReport(
        plan_id=plan.id, title=plan.title, status=plan.status, plan_version=plan.version,
        data_version=snapshot.version, window_start=plan.window_start, window_end=plan.window_end,
        count=result.count, sensitive_count=result.sensitive_count,
        customer_minutes=None if result.customer_minutes is None else float(result.customer_minutes),
        transient_count=len(result.transient_customers),
        by_feeder={str(k) if k is not None else "—": int(v) for k, v in result.by_feeder.items()},
        by_transformer=by_transformer, area=result.area, steps=steps, transformers=affected, sensitive=sensitive,
    )
