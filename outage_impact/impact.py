"""Impact of a switching plan: who loses power, step by step.

The impact of a state is the set of customers energized in the normal state and not
energized in that state.  :func:`plan_impact` evaluates every step's state on the
compiled index (:func:`topology.state.evaluate`, cost independent of the grid size) and
:func:`impact_reference` does the same by breadth-first search on the networkx reference
graph; both return an :class:`ImpactResult` and agree exactly (property-tested).

Steps are checked against the state they apply to (:class:`InvalidStep`), ids are
resolved by :func:`outage_impact.plan.resolve_steps` (:class:`UnknownElement`), and a
state that connects two sources kept apart in the normal state raises
:class:`LoopBetweenSources`: it is reported, never accepted.

Counts, feeder/transformer groups and the sensitive count are computed eagerly with
numpy; the sorted customer list, the sensitive list, the rows and the map area are
computed on first access (they cost O(n log n) in the affected customers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import networkx as nx
import numpy as np

from outage_impact.area import impact_area
from outage_impact.errors import InvalidStep, LoopBetweenSources
from outage_impact.plan import ResolvedStep, SwitchingPlan, resolve_steps
from topology.compiled import TopologyIndex
from topology.graph import energized_nodes, source_components, supply_tree
from topology.state import EnergizedState, concat_ranges, evaluate
from topology.trace import area_from_tree

__all__ = ["CustomerRow", "StepImpact", "ImpactResult", "plan_impact", "impact_reference"]

_LIST_HINT = ("; the lists form is checked make-before-break (close before open): "
              "write a transfer between substations as ordered steps, opening before closing")


class CustomerRow(NamedTuple):
    """One affected customer as rendered in lists (csv, GeoJSON properties)."""

    account_no: str
    feeder_id: str | None
    transformer_id: str | None
    sensitivity: str | None
    lon: float
    lat: float


# ------------------------------------------------------------------ customer detail
class _IndexDetail:
    """Affected customers as position ranges of the compiled index (lazy materialization)."""

    def __init__(self, ix: TopologyIndex, cs: np.ndarray, ce: np.ndarray) -> None:
        self.ix, self.cs, self.ce = ix, cs, ce
        self.count = int((ce - cs).sum())

    @cached_property
    def idx(self) -> np.ndarray:
        return concat_ranges(self.cs, self.ce)

    def by_feeder(self) -> dict[str | None, int]:
        return _count_codes(self.ix.cust_feeder[self.idx], self.ix.feeder_ids)

    def by_transformer(self) -> dict[str | None, int]:
        return _count_codes(self.ix.cust_transformer[self.idx], self.ix.transformer_ids)

    def sensitive_count(self) -> int:
        sens = self.ix.sensitive
        return int((sens.searchsorted(self.ce) - sens.searchsorted(self.cs)).sum())

    def accounts(self) -> list[str]:
        return sorted(self.ix.accounts(self.idx).tolist())

    @staticmethod
    def transient(final: _IndexDetail, steps: list[_IndexDetail]) -> list[str]:
        """Accounts lost at some step but not in the final state."""
        if not steps:
            return []
        union = np.unique(np.concatenate([d.idx for d in steps]))
        return sorted(final.ix.accounts(np.setdiff1d(union, final.idx, assume_unique=True)).tolist())

    def rows(self) -> list[CustomerRow]:
        ix, idx = self.ix, self.idx
        rows = ix.cust_row[idx]
        feeders = _ids_or_none(ix.feeder_ids, ix.cust_feeder[idx])
        trafos = _ids_or_none(ix.transformer_ids, ix.cust_transformer[idx])
        sens = [None if _none(s) is None or s == "" else s for s in ix.cust_sensitivity[rows].tolist()]
        return sorted(CustomerRow(*r) for r in zip(ix.cust_ids[rows].tolist(), feeders, trafos, sens,
                                                     ix.cust_lon[idx].tolist(), ix.cust_lat[idx].tolist()))

    @cached_property
    def ordered(self) -> np.ndarray:
        """Positions of the affected customers in account-number order (for pages and streams)."""
        idx = self.idx
        return idx[np.argsort(self.ix.accounts(idx), kind="stable")]

    def account_page(self, offset: int, limit: int) -> list[str]:
        return self.ix.accounts(self.ordered[offset:offset + limit]).tolist()

    def iter_rows(self, chunk_size: int) -> Iterator[list[CustomerRow]]:
        ix, ordered = self.ix, self.ordered
        for start in range(0, len(ordered), chunk_size):
            pos = ordered[start:start + chunk_size]
            rows = ix.cust_row[pos]
            sens = [None if _none(s) is None or s == "" else s for s in ix.cust_sensitivity[rows].tolist()]
            yield [CustomerRow(*r) for r in zip(ix.cust_ids[rows].tolist(),
                                                _ids_or_none(ix.feeder_ids, ix.cust_feeder[pos]),
                                                _ids_or_none(ix.transformer_ids, ix.cust_transformer[pos]),
                                                sens, ix.cust_lon[pos].tolist(), ix.cust_lat[pos].tolist())]

    def sensitive(self) -> list[tuple[str, str]]:
        sens = self.ix.sensitive
        lo, hi = sens.searchsorted(self.cs), sens.searchsorted(self.ce)
        pos = sens[concat_ranges(lo, hi)]
        rows = self.ix.cust_row[pos]
        pairs = zip(self.ix.cust_ids[rows].tolist(), self.ix.cust_sensitivity[rows].tolist())
        return sorted(pairs)

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ix, idx = self.ix, self.idx
        groups = np.array(_group_keys(_ids_or_none(ix.transformer_ids, ix.cust_transformer[idx]),
                                      _ids_or_none(ix.feeder_ids, ix.cust_feeder[idx])), dtype=object)
        return ix.cust_lon[idx], ix.cust_lat[idx], groups


class _RowsDetail:
    """Affected customers as explicit rows (the reference implementation)."""

    def __init__(self, rows: list[CustomerRow]) -> None:
        self._rows = sorted(rows)
        self.count = len(rows)

    def by_feeder(self) -> dict[str | None, int]:
        return _count_keys(r.feeder_id for r in self._rows)

    def by_transformer(self) -> dict[str | None, int]:
        return _count_keys(r.transformer_id for r in self._rows)

    def sensitive_count(self) -> int:
        return sum(r.sensitivity is not None for r in self._rows)

    def accounts(self) -> list[str]:
        return [r.account_no for r in self._rows]

    @staticmethod
    def transient(final: _RowsDetail, steps: list[_RowsDetail]) -> list[str]:
        """Accounts lost at some step but not in the final state."""
        final_set = set(final.accounts())
        return sorted({a for d in steps for a in d.accounts()} - final_set)

    def rows(self) -> list[CustomerRow]:
        return list(self._rows)

    def account_page(self, offset: int, limit: int) -> list[str]:
        return [r.account_no for r in self._rows[offset:offset + limit]]

    def iter_rows(self, chunk_size: int) -> Iterator[list[CustomerRow]]:
        for start in range(0, len(self._rows), chunk_size):
            yield self._rows[start:start + chunk_size]

    def sensitive(self) -> list[tuple[str, str]]:
        return [(r.account_no, r.sensitivity) for r in self._rows if r.sensitivity is not None]

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = self._rows
        groups = np.array(_group_keys([r.transformer_id for r in rows], [r.feeder_id for r in rows]), dtype=object)
        return (np.array([r.lon for r in rows], dtype=np.float64),
                np.array([r.lat for r in rows], dtype=np.float64), groups)


# ------------------------------------------------------------------ results
@dataclass(frozen=True, eq=False)
class StepImpact:
    """Impact of the state after one step (against the normal state)."""

    index: int
    action: str
    kind: str
    element: str
    count: int
    _detail: _IndexDetail | _RowsDetail = field(repr=False)

    @cached_property
    def customers(self) -> tuple[str, ...]:
        return tuple(self._detail.accounts())

    @cached_property
    def by_feeder(self) -> dict[str | None, int]:
        return self._detail.by_feeder()

    @cached_property
    def sensitive_count(self) -> int:
        return self._detail.sensitive_count()

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "action": self.action, "kind": self.kind, "element": self.element,
                "count": self.count, "by_feeder": _keyed(self.by_feeder),
                "sensitive_count": self.sensitive_count, "customers": list(self.customers)}


@dataclass(frozen=True, eq=False)
class ImpactResult:
    """Impact of a plan's final state, with the per-step (transient) impacts.

    ``customer_minutes`` = count x window minutes (None without a window).  ``area`` is a
    GeoJSON geometry (see :mod:`outage_impact.area`).  ``transient_customers`` lost power
    at some step but not in the final state (a break-before-make transfer).
    """

    version: str
    title: str | None
    plan_id: str | int | None
    form: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    count: int
    by_feeder: dict[str | None, int]
    by_transformer: dict[str | None, int]
    sensitive_count: int
    customer_minutes: float | int | None
    steps: tuple[StepImpact, ...]
    _detail: _IndexDetail | _RowsDetail = field(repr=False)

    @cached_property
    def customers(self) -> tuple[str, ...]:
        return tuple(self._detail.accounts())

    @cached_property
    def sensitive(self) -> tuple[dict[str, str], ...]:
        return tuple({"account_no": a, "sensitivity": s} for a, s in self._detail.sensitive())

    @cached_property
    def rows(self) -> tuple[CustomerRow, ...]:
        return tuple(self._detail.rows())

    @cached_property
    def area(self) -> dict | None:
        return impact_area(*self._detail.points()) if self.count else None

    @cached_property
    def transient_customers(self) -> tuple[str, ...]:
        return tuple(type(self._detail).transient(self._detail, [s._detail for s in self.steps]))

    def iter_rows(self, chunk_size: int = 2000) -> Iterator[list[CustomerRow]]:
        """The affected customers' rows in account-number order, ``chunk_size`` at a time.

        Unlike :attr:`rows` nothing is kept: memory is one chunk plus an index array, so a
        100k-customer list can be streamed.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        return self._detail.iter_rows(chunk_size)

    def customer_page(self, offset: int, limit: int) -> list[str]:
        """Account numbers ``offset … offset+limit`` of the sorted affected list."""
        return self._detail.account_page(offset, limit)

    def summary(self, *, steps: bool = True, area: bool = True) -> dict[str, object]:
        """:meth:`to_dict` without the customer lists (those are paged or exported)."""
        out: dict[str, object] = {
            "title": self.title, "plan_id": self.plan_id, "form": self.form, "version": self.version,
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "window_end": self.window_end.isoformat() if self.window_end else None,
            "count": self.count,
            "by_feeder": _keyed(self.by_feeder), "by_transformer": _keyed(self.by_transformer),
            "sensitive_count": self.sensitive_count, "sensitive": list(self.sensitive),
            "customer_minutes": self.customer_minutes,
            "transient_count": len(self.transient_customers),
        }
        if area:
            out["area"] = self.area
        if steps:
            out["steps"] = [{"index": s.index, "action": s.action, "kind": s.kind, "element": s.element,
                             "count": s.count, "by_feeder": _keyed(s.by_feeder),
                             "sensitive_count": s.sensitive_count} for s in self.steps]
        return out

    def to_dict(self, *, steps: bool = True, area: bool = True) -> dict[str, object]:
        """JSON-ready dict (None keys of the groups become "null")."""
        out: dict[str, object] = {
            "title": self.title, "plan_id": self.plan_id, "form": self.form, "version": self.version,
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "window_end": self.window_end.isoformat() if self.window_end else None,
            "count": self.count, "customers": list(self.customers),
            "by_feeder": _keyed(self.by_feeder), "by_transformer": _keyed(self.by_transformer),
            "sensitive_count": self.sensitive_count, "sensitive": list(self.sensitive),
            "customer_minutes": self.customer_minutes,
            "transient_count": len(self.transient_customers),
            "transient_customers": list(self.transient_customers),
        }
        if area:
            out["area"] = self.area
        if steps:
            out["steps"] = [s.to_dict() for s in self.steps]
        return out


# ------------------------------------------------------------------ compiled engine
def plan_impact(ix: TopologyIndex, plan: SwitchingPlan) -> ImpactResult:
    """Impact of ``plan`` on the compiled index (the hot path).

    O(s * (k log k + m) + affected) for s steps, k opened forest edges, m closed edges and
    chords: independent of the grid size.
    """
    steps = resolve_steps(plan, ix.has)
    current: dict[int, bool] = {}
    opened: set[int] = set()
    closed: set[int] = set()
    states: list[EnergizedState] = []
    for step in steps:
        edge = ix.edge(step.kind, step.element)
        normal = bool(ix.edge_state[edge])
        now = current.get(edge, normal)
        want = step.action in ("close", "in_service")
        if now == want:
            raise InvalidStep(step.index, step.action, step.kind, step.element, _state_word(step.kind, now))
        current[edge] = want
        if want == normal:
            opened.discard(edge)
            closed.discard(edge)
        else:
            (closed if want else opened).add(edge)
        state = evaluate(ix, opened, closed)
        if state.paralleled is not None:
            p = state.paralleled
            _raise_loop(plan, step, ix.source_substation[p.source_a], ix.source_substation[p.source_b])
        states.append(state)
    details = [_IndexDetail(ix, *s.customer_slices()) for s in states]
    return _assemble(plan, ix.version, steps, details)


# ------------------------------------------------------------------ networkx reference
def impact_reference(graph: nx.MultiGraph, plan: SwitchingPlan) -> ImpactResult:
    """Impact of ``plan`` by breadth-first search on the reference graph. O(s * (N + E))."""
    elements = graph.graph["elements"]
    steps = resolve_steps(plan, lambda kind, eid: (kind, eid) in elements)
    sources = graph.graph["sources"]
    group = {s: g for g, comp in enumerate(source_components(graph)) for s in comp}
    normal = energized_nodes(graph)
    toggled: set[tuple[str, str]] = set()
    lost_per_step: list[set[Hashable]] = []
    for step in steps:
        key = (step.kind, step.element)
        now = elements[key][2] != (key in toggled)
        want = step.action in ("close", "in_service")
        if now == want:
            raise InvalidStep(step.index, step.action, step.kind, step.element, _state_word(step.kind, now))
        toggled ^= {key}
        for comp in source_components(graph, toggled):
            other = [s for s in comp if group[s] != group[comp[0]]]
            if other:
                _raise_loop(plan, step, sources[comp[0]], sources[other[0]])
        lost_per_step.append(normal - energized_nodes(graph, toggled))
    rows = _reference_rows(graph, supply_tree(graph), lost_per_step)
    details = [_RowsDetail(r) for r in rows]
    return _assemble(plan, graph.graph["version"], steps, details)


def _reference_rows(graph: nx.MultiGraph, tree: dict, lost_per_step: list[set[Hashable]]) -> list[list[CustomerRow]]:
    """Rows of the customers at the lost nodes of each step (one table lookup for all)."""
    at = graph.graph["customers_at"]
    per_step = [[(c, n) for n in lost for c in at.get(n, ())] for lost in lost_per_step]
    accounts = sorted({c for pairs in per_step for c, _ in pairs})
    table = graph.graph["customers"]
    cols = ["transformer_id", "meter_box_id", "sensitivity", "lon", "lat"]
    recs = dict(zip(accounts, table.loc[accounts, cols].itertuples(index=False, name=None))) if accounts else {}
    area_cache: dict[tuple, tuple[str | None, str | None]] = {}
    rows: dict[str, CustomerRow] = {}
    out = []
    for pairs in per_step:
        step_rows = []
        for account, node in pairs:
            if account not in rows:
                declared, mb, sens, lon, lat = recs[account]
                key = (node, _none(declared), _none(mb))
                if key not in area_cache:
                    area_cache[key] = area_from_tree(graph, tree, *key)
                sens = _none(sens)
                rows[account] = CustomerRow(account, *area_cache[key], None if sens == "" else sens,
                                            _float(lon), _float(lat))
            step_rows.append(rows[account])
        out.append(step_rows)
    return out


# ------------------------------------------------------------------ helpers
def _assemble(plan: SwitchingPlan, version: str, steps: list[ResolvedStep],
              details: list[_IndexDetail | _RowsDetail]) -> ImpactResult:
    final = details[-1]
    minutes = plan.window_minutes
    cm = None if minutes is None else final.count * minutes
    if cm is not None and float(cm).is_integer():
        cm = int(cm)
    return ImpactResult(
        version=version, title=plan.title, plan_id=plan.plan_id, form=plan.form,
        window_start=plan.window_start, window_end=plan.window_end,
        count=final.count, by_feeder=final.by_feeder(), by_transformer=final.by_transformer(),
        sensitive_count=final.sensitive_count(), customer_minutes=cm,
        steps=tuple(StepImpact(s.index, s.action, s.kind, s.element, d.count, d) for s, d in zip(steps, details)),
        _detail=final,
    )


def _raise_loop(plan: SwitchingPlan, step: ResolvedStep, a: str, b: str) -> None:
    hint = _LIST_HINT if plan.form == "lists" and step.action in ("close", "in_service") else ""
    raise LoopBetweenSources(step.index, step.action, step.kind, step.element, (a, b), hint)


def _state_word(kind: str, closed: bool) -> str:
    if kind == "switch":
        return "closed" if closed else "open"
    return "in service" if closed else "out of service"


def _count_codes(codes: np.ndarray, ids: np.ndarray) -> dict[str | None, int]:
    if len(codes) == 0:
        return {}
    values, counts = np.unique(codes, return_counts=True)
    return {(str(ids[v]) if v >= 0 else None): int(c) for v, c in zip(values.tolist(), counts.tolist())}


def _count_keys(keys) -> dict[str | None, int]:
    out: dict[str | None, int] = {}
    for k in keys:
        out[k] = out.get(k, 0) + 1
    return out


def _ids_or_none(ids: np.ndarray, codes: np.ndarray) -> list[str | None]:
    if len(ids) == 0:
        return [None] * len(codes)
    names = ids[np.maximum(codes, 0)]
    return [str(n) if c >= 0 else None for n, c in zip(names.tolist(), codes.tolist())]


def _group_keys(trafos: list[str | None], feeders: list[str | None]) -> list[str]:
    return [f"T:{t}" if t is not None else (f"F:{f}" if f is not None else "") for t, f in zip(trafos, feeders)]


def _keyed(counts: dict[str | None, int]) -> dict[str, int]:
    items = sorted(counts.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    return {("null" if k is None else k): v for k, v in items}


def _none(value: object) -> object:
    if value is None:
        return None
    try:
        return None if value != value else value  # NaN / NA
    except TypeError:
        return None


def _float(value: object) -> float:
    v = _none(value)
    return float("nan") if v is None else float(v)
