"""The sample city's grid in local metres: city layout plus network, in one value.

``build_grid`` runs ``city`` (streets, demand, substation sites) and then ``network``
(feeders, equipment, LV); ``loaders.sample_city`` projects the result to WGS 84.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loaders.sample.city import (
    anchor_substations,
    build_streets,
    place_boxes,
    place_substations,
    place_transformers,
    plan_city,
    spread_customers,
)
from loaders.sample.network import build_feeders, lv_network, street_forest, transformer_drops
from loaders.sample.tables import Net

__all__ = ["Grid", "build_grid"]


@dataclass(frozen=True)
class Grid:
    """The generated network in local metres; integer columns reference row positions.

    Tables (pandas DataFrames):
    substations(name, x, y); feeders(name, substation, head_switch);
    nodes(x, y, kind, voltage_kv, substation, feeder); segments(a, b, kind, feeder,
    length_m) with vertices ``seg_xy`` / ``seg_index`` (flat, for shapely);
    switches(name, kind, a, b, normal_open, feeder, x, y);
    transformers(name, x, y, hv, lv, rated_kva, feeder, customers);
    boxes(x, y, node, transformer, customers, district, street, house_no, building).
    """

    substations: pd.DataFrame
    feeders: pd.DataFrame
    nodes: pd.DataFrame
    segments: pd.DataFrame
    seg_xy: np.ndarray
    seg_index: np.ndarray
    switches: pd.DataFrame
    transformers: pd.DataFrame
    boxes: pd.DataFrame


def build_grid(rng: np.random.Generator, customers: int) -> Grid:
    """Generate the whole network for ``customers`` customers (see module docstring)."""
    plan = plan_city(customers)
    streets = build_streets(rng, plan)
    blocks = spread_customers(rng, streets, customers)
    trs = place_transformers(rng, streets, blocks)
    boxes = place_boxes(rng, streets, blocks, trs)
    subs = place_substations(rng, streets, blocks, plan.substations)
    trs = anchor_substations(trs, subs)
    forest = street_forest(rng, streets, subs["root"].to_numpy())
    net = Net()
    feeders, feeder_of, node_of = build_feeders(rng, streets, subs, trs, forest, net)
    transformers = transformer_drops(rng, streets, trs, feeders, feeder_of, node_of, net)
    box_table = lv_network(rng, transformers, boxes, net)
    nodes, segments, seg_xy, seg_index, switches = net.tables(feeders["cable"].to_numpy())
    return Grid(
        substations=subs.drop(columns=["root", "block", "short"]),
        feeders=feeders.drop(columns=["cable"]),
        nodes=nodes,
        segments=segments,
        seg_xy=seg_xy,
        seg_index=seg_index,
        switches=switches,
        transformers=transformers,
        boxes=box_table,
    )
