"""A small builder of :class:`~topology.assets.GridAssets` for tests, demos and docs.

Nodes named by an element are created on first use (kind ``junction``, 10 kV; ``lv``
at 0.4 kV for a transformer's LV side; ``bus`` for a substation) with coordinates
on a simple lattice, so a grid reads like the drawing it comes from::

    g = GridBuilder()
    g.substation("S1", bus="B1")
    g.switch("BR1", "B1", "N1", kind="breaker")
    g.feeder("F1", "S1", head_switch="BR1")
    g.segment("L1", "N1", "N2")
    g.transformer("T1", "N2", "LV1")
    g.customer("C1", "LV1")
    assets = g.build()
"""

from __future__ import annotations

import random

import pandas as pd

from topology.assets import REQUIRED_COLUMNS, GridAssets

__all__ = ["GridBuilder", "demo_grid", "random_grid"]


class GridBuilder:
    """Accumulates rows and builds a :class:`GridAssets` (no validation beyond ``from_tables``)."""

    def __init__(self) -> None:
        self._rows: dict[str, list[dict]] = {t: [] for t in REQUIRED_COLUMNS}
        self._nodes: dict[str, dict] = {}

    def node(self, node_id: str, kind: str = "junction", voltage_kv: float = 10.0,
             lon: float | None = None, lat: float | None = None) -> str:
        if node_id not in self._nodes:
            i = len(self._nodes)
            self._nodes[node_id] = {
                "id": node_id, "kind": kind, "voltage_kv": voltage_kv,
                "lon": 120.0 + 0.001 * (i % 50) if lon is None else lon,
                "lat": 30.0 + 0.001 * (i // 50) if lat is None else lat,
            }
        return node_id

    def substation(self, sub_id: str, bus: str, name: str | None = None) -> None:
        self.node(bus, kind="bus")
        self._rows["substations"].append({"id": sub_id, "name": name or sub_id, "bus_node": bus})

    def feeder(self, feeder_id: str, substation: str, head_switch: str | None, name: str | None = None) -> None:
        self._rows["feeders"].append({"id": feeder_id, "name": name or feeder_id,
                                      "substation_id": substation, "head_switch_id": head_switch})

    def segment(self, seg_id: str, a: str, b: str, *, in_service: bool = True, feeder: str | None = None) -> None:
        self.node(a), self.node(b)
        self._rows["segments"].append({"id": seg_id, "node_a": a, "node_b": b,
                                       "in_service": in_service, "feeder_id": feeder})

    def switch(self, sw_id: str, a: str, b: str, *, kind: str = "load_switch", normal_open: bool = False,
               feeder: str | None = None) -> None:
        self.node(a), self.node(b)
        self._rows["switches"].append({"id": sw_id, "kind": kind, "node_a": a, "node_b": b,
                                       "normal_open": normal_open, "feeder_id": feeder})

    def transformer(self, tr_id: str, hv: str, lv: str, *, in_service: bool = True, name: str | None = None) -> None:
        self.node(hv), self.node(lv, kind="lv", voltage_kv=0.4)
        self._rows["transformers"].append({"id": tr_id, "name": name or tr_id, "hv_node": hv,
                                           "lv_node": lv, "in_service": in_service})

    def meter_box(self, mb_id: str, node: str, transformer: str | None = None) -> None:
        self.node(node, kind="meter_box", voltage_kv=0.4)
        self._rows["meter_boxes"].append({"id": mb_id, "node": node, "transformer_id": transformer})

    def customer(self, account_no: str, node: str | None, *, meter_box: str | None = None,
                 transformer: str | None = None, sensitivity: str | None = None, category: str = "居民",
                 lon: float | None = None, lat: float | None = None, create_node: bool = True) -> None:
        if node is not None and create_node:
            self.node(node, kind="lv", voltage_kv=0.4)
        base = self._nodes.get(node, {"lon": 120.0, "lat": 30.0}) if node is not None else {"lon": 120.0, "lat": 30.0}
        k = len(self._rows["customers"])
        self._rows["customers"].append({
            "account_no": account_no, "supply_node": node, "meter_box_id": meter_box,
            "transformer_id": transformer, "sensitivity": sensitivity, "category": category,
            "lon": base["lon"] + 0.0001 * (k % 7) if lon is None else lon,
            "lat": base["lat"] + 0.0001 * (k % 5) if lat is None else lat,
        })

    def rows(self, table: str) -> list[dict]:
        """The raw rows of a table, mutable: tests append bad rows with it.

        For ``nodes`` these are extra rows written after the nodes created on first use.
        """
        return self._rows[table]

    def _nodes_rows(self) -> list[dict]:
        return list(self._nodes.values()) + self._rows["nodes"]

    def build(self, version: str = "test") -> GridAssets:
        tables = {}
        for table, columns in REQUIRED_COLUMNS.items():
            rows = self._nodes_rows() if table == "nodes" else self._rows[table]
            df = pd.DataFrame(rows, columns=list(columns))
            for col in ("in_service", "normal_open"):
                if col in df.columns:
                    df[col] = df[col].astype(bool)
            tables[table] = df
        return GridAssets.from_tables(tables, version)


def demo_grid(version: str = "demo") -> GridAssets:
    """Two substations, three feeders, two ties, an island and an out-of-service transformer::

        S1/B1 -BR1- N1 -L1- N2 -SW1- N3 -L2- N4 -SW2- N5 -L5- N6          (feeder F1)
                            |        |       |        :       |
                         T1:LV1   (T7 out)  T2:LV2   ISW   T3:LV3
                        C1,C2医院  C9       C3       :    C4,C5政府
                                            :        Q1 -LQ- Q2 -T6- LVQ:C8  (island)
                                          TIE1                :
        S1/B1 -BR2- P1 -L3- P2 ......TIE1.....(N4)          TIE2 (to M2)     (feeder F2)
                            T4:LV4 C6
        S2/B2 -BR3- M1 -L7- M2 ......TIE2.....(N6)                           (feeder F3)
                            T5:LV5 C7

    ``....`` are normally-open switches.  C10 names an unknown supply node.
    """
    g = GridBuilder()
    g.substation("S1", bus="B1")
    g.substation("S2", bus="B2")
    g.switch("BR1", "B1", "N1", kind="breaker")
    g.feeder("F1", "S1", head_switch="BR1")
    g.segment("L1", "N1", "N2")
    g.transformer("T1", "N2", "LV1")
    g.customer("C1", "LV1")
    g.customer("C2", "LV1", sensitivity="医院")
    g.switch("SW1", "N2", "N3")
    g.transformer("T7", "N3", "LV7", in_service=False)
    g.customer("C9", "LV7")
    g.segment("L2", "N3", "N4")
    g.transformer("T2", "N4", "LV2")
    g.meter_box("MB3", "LV2", "T2")
    g.customer("C3", "LV2", meter_box="MB3")
    g.switch("SW2", "N4", "N5")
    g.segment("L5", "N5", "N6")
    g.transformer("T3", "N6", "LV3")
    g.customer("C4", "LV3")
    g.customer("C5", "LV3", sensitivity="政府")
    g.switch("BR2", "B1", "P1", kind="breaker")
    g.feeder("F2", "S1", head_switch="BR2")
    g.segment("L3", "P1", "P2")
    g.transformer("T4", "P2", "LV4")
    g.customer("C6", "LV4")
    g.switch("TIE1", "N4", "P2", kind="tie", normal_open=True)
    g.switch("BR3", "B2", "M1", kind="breaker")
    g.feeder("F3", "S2", head_switch="BR3")
    g.segment("L7", "M1", "M2")
    g.transformer("T5", "M2", "LV5")
    g.customer("C7", "LV5")
    g.switch("TIE2", "N6", "M2", kind="tie", normal_open=True)
    g.segment("LQ", "Q1", "Q2")
    g.transformer("T6", "Q2", "LVQ")
    g.customer("C8", "LVQ")
    g.switch("ISW", "N5", "Q1", normal_open=True)
    g.customer("C10", "NOWHERE", create_node=False)
    return g.build(version)


def random_grid(
    seed: int,
    *,
    substations: int = 2,
    feeders_per_substation: int = 2,
    nodes_per_feeder: int = 12,
    ties: int = 3,
    p_switch: float = 0.3,
    p_open: float = 0.05,
    p_out_of_service: float = 0.05,
    p_transformer: float = 0.35,
    customers_per_lv: int = 3,
    islands: int = 1,
    loops: int = 0,
    version: str | None = None,
) -> GridAssets:
    """A random radial-with-ties grid for property tests (deterministic in ``seed``).

    Each feeder is a random tree (bus -> head breaker -> nodes) whose edges are segments
    or switches (some normally open, some segments out of service); transformers hang
    LV nodes with customers (a few sensitive, a few with a meter box); ``ties``
    normally-open tie switches join random nodes of random feeders (same or different
    substation); ``islands`` source-less trees and ``loops`` closed chords are optional.
    One customer has an unknown supply node.
    """
    rnd = random.Random(seed)
    g = GridBuilder()
    mv: list[list[str]] = []
    k = 0

    def uid(prefix: str) -> str:
        nonlocal k
        k += 1
        return f"{prefix}{k}"

    def edge(a: str, b: str) -> None:
        r = rnd.random()
        if r < p_switch:
            kind = rnd.choice(["load_switch", "disconnector", "fuse", "breaker"])
            g.switch(uid("SW"), a, b, kind=kind, normal_open=rnd.random() < p_open)
        else:
            g.segment(uid("L"), a, b, in_service=rnd.random() >= p_out_of_service)

    def tree(root: str, size: int) -> list[str]:
        nodes = [root]
        for _ in range(size):
            child = g.node(uid("N"))
            edge(rnd.choice(nodes[-4:] if rnd.random() < 0.6 else nodes), child)
            nodes.append(child)
        for node in nodes[1:]:
            if rnd.random() < p_transformer:
                lv = uid("LV")
                g.transformer(uid("T"), node, lv, in_service=rnd.random() >= p_out_of_service)
                for _ in range(rnd.randint(1, customers_per_lv)):
                    acct = uid("C")
                    sens = rnd.choice(["医院", "政府", "生命支持"]) if rnd.random() < 0.1 else None
                    mb = None
                    if rnd.random() < 0.3:
                        mb = uid("MB")
                        g.meter_box(mb, lv, None)
                    g.customer(acct, lv, meter_box=mb, sensitivity=sens)
        return nodes

    for s in range(substations):
        sid, bus = f"S{s}", f"B{s}"
        g.substation(sid, bus=bus)
        for _ in range(feeders_per_substation):
            head, first = uid("BR"), g.node(uid("N"))
            g.switch(head, bus, first, kind="breaker")
            g.feeder(uid("F"), sid, head)
            mv.append(tree(first, rnd.randint(1, nodes_per_feeder)))
    for _ in range(ties):
        a, b = rnd.choice(mv), rnd.choice(mv)
        g.switch(uid("TIE"), rnd.choice(a), rnd.choice(b), kind="tie", normal_open=True)
    for _ in range(islands):
        island = tree(g.node(uid("I")), rnd.randint(1, 4))
        if mv and rnd.random() < 0.7:  # reachable by closing a switch
            g.switch(uid("ISW"), rnd.choice(rnd.choice(mv)), rnd.choice(island), kind="load_switch", normal_open=True)
    for _ in range(loops):
        a = rnd.choice(mv)
        g.segment(uid("LOOP"), rnd.choice(a), rnd.choice(a))
    g.customer(uid("C"), "NOWHERE", create_node=False)
    return g.build(version or f"random-{seed}")
