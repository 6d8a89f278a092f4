"""Validation report: the radial assumption is checked, not assumed.

:func:`validate` inspects the asset tables and the compiled normal state and reports:

==========================  ========  ===================================================
code                        severity  meaning
==========================  ========  ===================================================
duplicate-id                error     an id appears on several rows (the first is used)
ambiguous-id                warning   the same id names a segment/switch/transformer twice
dangling-reference          error     a reference names no row (edge endpoint, customer
                                      supply node, meter box transformer, ...)
missing-reference           error     a required reference is null
same-node                   error     a switch or transformer whose two ends are one node
                                      (warning for a segment)
unknown-kind                warning   a node or switch kind outside the documented set
feeder-without-head-switch  warning   a feeder with no head switch
feeder-head-open            warning   a feeder whose head switch is normally open
sources-connected           error     a conducting element joins two sources (parallel
                                      sources in the normal state)
loop                        warning   a cycle through conducting elements (normal state)
parallel-elements           warning   two conducting elements between the same two nodes
island                      warning   a connected set of nodes without a source
customer-unsupplied         warning   a customer whose supply node has no supply path
meter-box-other-transformer error     a customer's 表箱 belongs to another 台区 than the
                                      customer's own transformer_id
==========================  ========  ===================================================

Each finding names the element by kind and id.  ``to_dict()`` is the machine-readable
form, ``rows()``/``to_text()`` the form the command line prints.  Vectorized over the
tables; cycles are traced per loop (O(depth) each).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gis.errors import InvalidInput
from topology.assets import ID_COLUMNS, GridAssets
from topology.compiled import EDGE_KINDS, TopologyIndex, compile_index

__all__ = ["Finding", "ValidationReport", "validate", "NODE_KINDS", "SWITCH_KINDS"]

NODE_KINDS = frozenset({"bus", "junction", "pole", "lv", "meter_box"})
SWITCH_KINDS = frozenset({"breaker", "load_switch", "disconnector", "fuse", "tie"})
_KIND_OF = {"nodes": "node", "substations": "substation", "feeders": "feeder", "segments": "segment",
            "switches": "switch", "transformers": "transformer", "meter_boxes": "meter_box",
            "customers": "customer"}
# (table, column, target table, nullable)
_REFERENCES = (
    ("substations", "bus_node", "nodes", False),
    ("feeders", "substation_id", "substations", False),
    ("feeders", "head_switch_id", "switches", True),
    ("segments", "node_a", "nodes", False),
    ("segments", "node_b", "nodes", False),
    ("segments", "feeder_id", "feeders", True),
    ("switches", "node_a", "nodes", False),
    ("switches", "node_b", "nodes", False),
    ("switches", "feeder_id", "feeders", True),
    ("transformers", "hv_node", "nodes", False),
    ("transformers", "lv_node", "nodes", False),
    ("meter_boxes", "node", "nodes", False),
    ("meter_boxes", "transformer_id", "transformers", True),
    ("customers", "supply_node", "nodes", False),
    ("customers", "meter_box_id", "meter_boxes", True),
    ("customers", "transformer_id", "transformers", True),
)
_SEVERITY_RANK = {"error": 0, "warning": 1}


@dataclass(frozen=True)
class Finding:
    """One problem: ``code``, ``severity`` (error/warning), the element and a message."""

    code: str
    severity: str
    kind: str
    element: str
    message: str
    details: Mapping[str, object] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, object]:
        out = {"code": self.code, "severity": self.severity, "kind": self.kind, "id": self.element,
               "message": self.message}
        if self.details:
            out["details"] = dict(self.details)
        return out


@dataclass(frozen=True)
class ValidationReport:
    """All findings of one data version, errors first."""

    version: str
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """No error (warnings allowed)."""
        return not any(f.severity == "error" for f in self.findings)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.code] = out.get(f.code, 0) + 1
        return out

    def by_code(self, code: str) -> list[Finding]:
        return [f for f in self.findings if f.code == code]

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "ok": self.ok, "counts": self.counts(),
                "findings": [f.to_dict() for f in self.findings]}

    def rows(self) -> list[dict[str, str]]:
        """Flat rows (severity, code, kind, id, message) for CSV or a table."""
        return [{"severity": f.severity, "code": f.code, "kind": f.kind, "id": f.element, "message": f.message}
                for f in self.findings]

    def to_text(self) -> str:
        errors = sum(f.severity == "error" for f in self.findings)
        head = (f"data version {self.version}: {errors} error(s), {len(self.findings) - errors} warning(s)")
        if not self.findings:
            return head
        cols = ("severity", "code", "kind", "id", "message")
        rows = [cols] + [tuple(r[c] for c in cols) for r in self.rows()]
        widths = [max(len(r[j]) for r in rows) for j in range(len(cols) - 1)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
        return "\n".join([head, *lines])


def validate(assets: GridAssets, index: TopologyIndex | None = None) -> ValidationReport:
    """Validate ``assets`` (compiling them unless ``index`` of the same version is given)."""
    if index is not None and index.version != assets.version:
        raise InvalidInput(f"the index was compiled from data version {index.version!r}, "
                           f"the assets are version {assets.version!r}", field="version", value=index.version)
    ix = compile_index(assets) if index is None else index
    findings: list[Finding] = []
    findings += _duplicates(assets)
    findings += _ambiguous_ids(assets)
    findings += _references(assets)
    findings += _same_node(assets)
    findings += _kinds(assets)
    findings += _feeder_heads(assets, ix)
    findings += _chords(ix)
    findings += _islands(ix)
    findings += _unsupplied(ix)
    findings += _meter_box_transformers(assets)
    findings.sort(key=lambda f: (_SEVERITY_RANK[f.severity], f.code, f.kind, f.element))
    return ValidationReport(assets.version, tuple(findings))


def _duplicates(assets: GridAssets) -> list[Finding]:
    out = []
    for table, df in assets.tables().items():
        ids = df[ID_COLUMNS[table]]
        dup = ids[ids.duplicated(keep=False)]
        for value, n in dup.value_counts(sort=False).items():
            out.append(Finding("duplicate-id", "error", _KIND_OF[table], str(value),
                               f"{_KIND_OF[table]} id {value!r} appears on {n} rows; the first is used"))
    return out


def _ambiguous_ids(assets: GridAssets) -> list[Finding]:
    seen: dict[str, list[str]] = {}
    frames = (assets.segments, assets.switches, assets.transformers)
    ids = [pd.Index(df["id"].unique()) for df in frames]
    for i in range(3):
        for j in range(i + 1, 3):
            for value in ids[i].intersection(ids[j]).tolist():
                seen.setdefault(str(value), []).extend([EDGE_KINDS[i], EDGE_KINDS[j]])
    return [Finding("ambiguous-id", "warning", kinds[0], value,
                    f"id {value!r} names a {' and a '.join(sorted(set(kinds)))}; plans must give its kind")
            for value, kinds in seen.items()]


def _references(assets: GridAssets) -> list[Finding]:
    out = []
    tables = assets.tables()
    for table, column, target, nullable in _REFERENCES:
        df = tables[table]
        values = df[column]
        null = values.isna().to_numpy()
        known = values.isin(tables[target][ID_COLUMNS[target]]).to_numpy()
        ids = df[ID_COLUMNS[table]].to_numpy(dtype=object)
        kind = _KIND_OF[table]
        if not nullable:
            for eid in ids[null].tolist():
                out.append(Finding("missing-reference", "error", kind, str(eid),
                                   f"{kind} {eid!r} has no {column}"))
        bad = ~null & ~known
        if column == "head_switch_id":
            for eid in ids[null].tolist():
                out.append(Finding("feeder-without-head-switch", "warning", kind, str(eid),
                                   f"feeder {eid!r} has no head switch"))
        for eid, value in zip(ids[bad].tolist(), values.to_numpy(dtype=object)[bad].tolist()):
            out.append(Finding("dangling-reference", "error", kind, str(eid),
                               f"{kind} {eid!r}: {column} {value!r} names no {_KIND_OF[target]}",
                               {"column": column, "value": value}))
    return out


def _meter_box_transformers(assets: GridAssets) -> list[Finding]:
    """Customers whose meter box is on another transformer (台区) than the one they name."""
    cust, boxes = assets.customers, assets.meter_boxes
    box_tr = boxes.drop_duplicates("id").set_index("id")["transformer_id"]
    theirs = cust["meter_box_id"].map(box_tr).to_numpy(dtype=object)
    own = cust["transformer_id"].to_numpy(dtype=object)
    bad = np.array([a is not None and b is not None and not pd.isna(a) and not pd.isna(b) and a != b
                    for a, b in zip(theirs, own)], dtype=bool)
    out = []
    for eid, box, a, b in zip(cust["account_no"].to_numpy(dtype=object)[bad], cust["meter_box_id"].to_numpy(dtype=object)[bad],
                              theirs[bad], own[bad]):
        out.append(Finding("meter-box-other-transformer", "error", "customer", str(eid),
                           f"customer {eid!r}: meter box {box!r} belongs to transformer {a!r}, the customer names {b!r}",
                           {"meter_box_id": box, "meter_box_transformer": a, "transformer_id": b}))
    return out


def _same_node(assets: GridAssets) -> list[Finding]:
    out = []
    for kind, df, a, b, severity in (
        ("switch", assets.switches, "node_a", "node_b", "error"),
        ("transformer", assets.transformers, "hv_node", "lv_node", "error"),
        ("segment", assets.segments, "node_a", "node_b", "warning"),
    ):
        same = (df[a] == df[b]).fillna(False).to_numpy(dtype=bool)
        ids, nodes = df["id"].to_numpy(dtype=object)[same], df[a].to_numpy(dtype=object)[same]
        for eid, node in zip(ids.tolist(), nodes.tolist()):
            out.append(Finding("same-node", severity, kind, str(eid), f"{kind} {eid!r} has both ends on node {node!r}"))
    return out


def _kinds(assets: GridAssets) -> list[Finding]:
    out = []
    for kind, df, allowed in (("node", assets.nodes, NODE_KINDS), ("switch", assets.switches, SWITCH_KINDS)):
        bad = ~df["kind"].isin(list(allowed)).to_numpy()
        ids, values = df["id"].to_numpy(dtype=object)[bad], df["kind"].to_numpy(dtype=object)[bad]
        for eid, value in zip(ids.tolist(), values.tolist()):
            out.append(Finding("unknown-kind", "warning", kind, str(eid),
                               f"{kind} {eid!r} has kind {value!r} (expected one of {', '.join(sorted(allowed))})"))
    return out


def _feeder_heads(assets: GridAssets, ix: TopologyIndex) -> list[Finding]:
    out = []
    sw = ix.element_index["switch"]
    off = ix.kind_offsets[1]
    for fid, head in zip(assets.feeders["id"].tolist(), assets.feeders["head_switch_id"].tolist()):
        if isinstance(head, str) and head in sw and not ix.edge_state[off + sw.get_loc(head)]:
            out.append(Finding("feeder-head-open", "warning", "feeder", str(fid),
                               f"feeder {fid!r}: head switch {head!r} is normally open"))
    return out


def _chords(ix: TopologyIndex) -> list[Finding]:
    out = []
    for e in ix.chords.tolist():
        u, v = int(ix.edge_u[e]), int(ix.edge_v[e])
        kind, eid = ix.edge_ref(e)
        ru, rv = _root(ix, u), _root(ix, v)
        if ru != rv and ix.is_source[ru] and ix.is_source[rv]:
            a, b = ix.source_substation[ru], ix.source_substation[rv]
            out.append(Finding("sources-connected", "error", kind, eid,
                               f"{kind} {eid!r} connects substations {a!r} and {b!r} in the normal state",
                               {"substations": sorted([a, b])}))
            continue
        cycle = _cycle(ix, e, u, v)
        if len(cycle) == 2:
            other = cycle[1]
            out.append(Finding("parallel-elements", "warning", kind, eid,
                               f"{kind} {eid!r} runs in parallel with {other[0]} {other[1]!r}",
                               {"cycle": [list(c) for c in cycle]}))
        else:
            out.append(Finding("loop", "warning", kind, eid,
                               f"{kind} {eid!r} closes a loop of {len(cycle)} elements in the normal state",
                               {"cycle": [list(c) for c in cycle]}))
    return out


def _islands(ix: TopologyIndex) -> list[Finding]:
    out = []
    for root, is_src in zip(ix.roots.tolist(), ix.root_is_source.tolist()):
        if is_src:
            continue
        a, b = int(ix.tin[root]), int(ix.tout[root])
        lo, hi = ix.customer_range(a, b)
        nid = str(ix.node_ids[root])
        out.append(Finding("island", "warning", "node", nid,
                           f"{b - a} node(s) around {nid!r} with {hi - lo} customer(s) have no source",
                           {"nodes": b - a, "customers": hi - lo}))
    return out


def _unsupplied(ix: TopologyIndex) -> list[Finding]:
    lo = int(np.searchsorted(ix.cust_pos, ix.n_live))
    hi = int(np.searchsorted(ix.cust_pos, ix.n_nodes))  # unknown supply nodes sit at n
    return [Finding("customer-unsupplied", "warning", "customer", str(c),
                    f"customer {c!r}: supply node {ix.node_ids[n]!r} has no supply path in the normal state")
            for c, n in zip(ix.accounts(np.arange(lo, hi)).tolist(), ix.cust_node[lo:hi].tolist())]


def _root(ix: TopologyIndex, node: int) -> int:
    return int(ix.roots[np.searchsorted(ix.root_tin, ix.tin[node], side="right") - 1])


def _cycle(ix: TopologyIndex, chord: int, u: int, v: int) -> list[tuple[str, str]]:
    """The chord then the forest path v -> lca <- u, as (kind, id). O(depth)."""
    def is_anc(a: int, b: int) -> bool:
        return ix.tin[a] <= ix.tin[b] < ix.tout[a]

    up_u, up_v = [], []
    x = u
    while not is_anc(x, v):
        up_u.append(int(ix.parent_edge[x]))
        x = int(ix.parent[x])
    y = v
    while y != x:
        up_v.append(int(ix.parent_edge[y]))
        y = int(ix.parent[y])
    return [ix.edge_ref(chord)] + [ix.edge_ref(e) for e in up_v + up_u[::-1]]
