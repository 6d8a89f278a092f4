"""Fixtures of the topology tests: the demo grid, compiled and as a networkx graph."""

from __future__ import annotations

import pytest

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
