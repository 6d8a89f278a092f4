"""Grid topology: the networkx reference model, validation, and the compiled index.

Build once per data version and pass the result around (nothing is built at import)::

    assets = GridAssets.from_tables(tables, version)
    graph = build_graph(assets)       # reference model, provenance on every edge
    index = compile_index(assets)     # immutable arrays for the hot path
    report = validate(assets, index)
"""

from topology.assets import REQUIRED_COLUMNS, GridAssets
from topology.compiled import EDGE_KINDS, TopologyIndex, compile_index
from topology.errors import UnknownElement
from topology.graph import build_graph, energized_nodes, supply_tree
from topology.state import EnergizedState, Paralleled, evaluate
from topology.trace import (
    Downstream,
    downstream,
    downstream_nx,
    segment_loads,
    supply_area,
    supply_area_nx,
    upstream_path,
    upstream_path_nx,
)
from topology.validate import Finding, ValidationReport, validate

__all__ = [
    "REQUIRED_COLUMNS", "GridAssets",
    "EDGE_KINDS", "TopologyIndex", "compile_index",
    "UnknownElement",
    "build_graph", "energized_nodes", "supply_tree",
    "EnergizedState", "Paralleled", "evaluate",
    "Downstream", "downstream", "downstream_nx", "segment_loads", "supply_area", "supply_area_nx",
    "upstream_path", "upstream_path_nx",
    "Finding", "ValidationReport", "validate",
]
