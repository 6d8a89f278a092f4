"""Outage impact: switching plans, their step-by-step impact, isolation and rendering.

::

    plans = load_plans(json.load(fh))
    results = [plan_impact(index, p) for p in plans]     # compiled index: the hot path
    text = render(results, "table")
    iso = isolate(index, "L42")                           # ranked alternative plans
"""

from outage_impact.errors import InvalidPlan, InvalidStep, LoopBetweenSources
from outage_impact.impact import CustomerRow, ImpactResult, StepImpact, impact_reference, plan_impact
from outage_impact.isolation import Alternative, BackfeedOption, IsolationResult, isolate
from outage_impact.plan import ACTIONS, LIST_ORDER, Step, SwitchingPlan, load_plans
from outage_impact.render import FORMATS, render, to_csv, to_geojson, to_json, to_table

__all__ = [
    "InvalidPlan", "InvalidStep", "LoopBetweenSources",
    "CustomerRow", "ImpactResult", "StepImpact", "impact_reference", "plan_impact",
    "Alternative", "BackfeedOption", "IsolationResult", "isolate",
    "ACTIONS", "LIST_ORDER", "Step", "SwitchingPlan", "load_plans",
    "FORMATS", "render", "to_csv", "to_geojson", "to_json", "to_table",
]
