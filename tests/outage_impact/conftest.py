"""Fixtures of the outage-impact tests: the demo grid, and both engines as one parameter."""

from __future__ import annotations

import pytest

from outage_impact import SwitchingPlan, impact_reference, plan_impact
from topology import build_graph, compile_index
from topology.testing import demo_grid


@pytest.fixture(scope="session")
def demo_assets():
    return demo_grid()


@pytest.fixture(scope="session")
def demo_index(demo_assets):
    return compile_index(demo_assets)


@pytest.fixture(scope="session")
def demo_graph(demo_assets):
    return build_graph(demo_assets)


@pytest.fixture(params=["index", "nx"])
def run(request, demo_index, demo_graph):
    """``run(plan_dict)`` -> ImpactResult, on the compiled engine or the networkx reference."""
    def _run(plan, index=None, graph=None):
        plan = plan if isinstance(plan, SwitchingPlan) else SwitchingPlan.from_dict(plan)
        if request.param == "index":
            return plan_impact(index or demo_index, plan)
        return impact_reference(graph or demo_graph, plan)
    _run.engine = request.param
    return _run
