"""Isolation of equipment for work, with ranked alternative switching plans.

For a segment, transformer or switch, :func:`isolate` finds on the compiled index:

* the **switch section(s)** of the equipment — the nodes reachable from it in the normal
  state without crossing a switch (a transformer's section includes its LV network);
* the **upstream switch** of each section (the switch above its top on the supply
  forest) and the **downstream boundary switches** hanging from it whose region below
  can be fed from elsewhere (it holds a normally-open point or a loop leading out):
  opening all of them cuts the equipment from every source, even after back-feeding;
  switches to regions that cannot be fed (a fused transformer and its LV network) need
  not be operated; the normally-open switches touching the section (**open points**)
  stay open;
* **back-feed**: each downstream boundary switch leaves a dead region below it; a
  normally-open tie from that region to a still-energized node can restore it, offered
  as a restoration step (close the tie after isolating: break before make).

Alternatives combine the isolation point (``nearest`` upstream switch, or the
``next_upstream`` one: e.g. when the nearest cannot break load) with no back-feed, each
available tie, or the first tie of every region.  Each alternative is a concrete
:class:`~outage_impact.plan.SwitchingPlan` whose impact is computed by
:func:`~outage_impact.impact.plan_impact`, checked to leave the equipment de-energized,
and ranked by (sensitive customers, customers, customer-minutes, steps).  A plan that
would parallel two sources is listed in ``rejected`` with the reason.

Cost: O(alternatives x plan cost); no part scales with the grid size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from gis.errors import Conflict, InvalidInput
from outage_impact.errors import InvalidStep, LoopBetweenSources
from outage_impact.impact import ImpactResult, plan_impact
from outage_impact.plan import Step, SwitchingPlan
from topology.compiled import EDGE_KINDS, TopologyIndex, search
from topology.errors import UnknownElement
from topology.state import evaluate

__all__ = ["BackfeedOption", "Alternative", "IsolationResult", "isolate"]


@dataclass(frozen=True)
class BackfeedOption:
    """A normally-open ``tie`` that can restore the region below boundary switch ``region``."""

    tie: str
    region: str
    customers: int

    def to_dict(self) -> dict[str, object]:
        return {"tie": self.tie, "region": self.region, "customers": self.customers}


@dataclass(frozen=True, eq=False)
class Alternative:
    """One ranked isolation plan and its impact."""

    name: str
    isolation: str
    backfeed: tuple[str, ...]
    plan: SwitchingPlan
    impact: ImpactResult

    def rank_key(self) -> tuple:
        i = self.impact
        return (i.sensitive_count, i.count, i.customer_minutes or 0, len(self.plan.steps), self.name)

    def to_dict(self, *, impact_steps: bool = False) -> dict[str, object]:
        return {"name": self.name, "isolation": self.isolation, "backfeed": list(self.backfeed),
                "plan": self.plan.to_dict(), "impact": self.impact.to_dict(steps=impact_steps)}


@dataclass(frozen=True, eq=False)
class IsolationResult:
    """Isolation points of one piece of equipment and the ranked alternatives (best first)."""

    equipment: tuple[str, str]
    upstream_switches: tuple[str, ...]
    downstream_switches: tuple[str, ...]
    open_points: tuple[str, ...]
    backfeed: tuple[BackfeedOption, ...]
    alternatives: tuple[Alternative, ...]
    rejected: tuple[dict[str, str], ...] = field(default=())

    @property
    def best(self) -> Alternative:
        return self.alternatives[0]

    def to_dict(self) -> dict[str, object]:
        return {
            "equipment": {"kind": self.equipment[0], "id": self.equipment[1]},
            "upstream_switches": list(self.upstream_switches),
            "downstream_switches": list(self.downstream_switches),
            "open_points": list(self.open_points),
            "backfeed": [b.to_dict() for b in self.backfeed],
            "alternatives": [a.to_dict() for a in self.alternatives],
            "rejected": list(self.rejected),
        }


def isolate(
    ix: TopologyIndex,
    element: str,
    *,
    kind: str | None = None,
    window_start: dt.datetime | None = None,
    window_end: dt.datetime | None = None,
    max_alternatives: int = 8,
) -> IsolationResult:
    """Isolation points and ranked alternative plans for working on ``element``.

    Raises :class:`UnknownElement`, :class:`InvalidInput` (ambiguous id, unconnected
    element) and :class:`Conflict` (not energized, or no switch between it and a source).
    """
    kind, edge = _resolve(ix, element, kind)
    u, v = int(ix.edge_u[edge]), int(ix.edge_v[edge])
    if u < 0 or v < 0:
        raise InvalidInput(f"{kind} {element!r} is not connected to known nodes", field="element", value=element)
    sections = _sections(ix, edge, kind, u, v)
    if not sections:
        raise Conflict(f"{kind} {element!r} is not energized in the normal state: nothing to isolate",
                       field="element", value=element)
    ups = []
    for top in sections:
        if ix.parent[top] < 0:
            raise Conflict(f"no switch between source {ix.node_ids[top]!r} and {kind} {element!r}",
                           field="element", value=element)
        up = int(ix.parent_edge[top])
        if up != edge:
            ups.append(up)
    downs = _downstream_switches(ix, sections, edge)
    open_points = _open_points(ix, sections, edge)

    tail = [Step("out_of_service", element, kind)] if kind != "switch" and ix.edge_state[edge] else []
    variants = {"nearest": ups}
    upper = [_next_upstream(ix, s) for s in ups]
    if any(s is not None for s in upper):
        variants["next_upstream"] = [s if s is not None else p for s, p in zip(upper, ups)]

    backfeed = _backfeed_options(ix, ups, downs)
    first_tie: dict[str, str] = {}
    for opt in backfeed:
        first_tie.setdefault(opt.region, opt.tie)
    candidates = []
    for iso, iso_ups in variants.items():
        base = [*dict.fromkeys(iso_ups), *downs]
        candidates.append((iso, iso, (), base))
        for opt in backfeed:
            candidates.append((f"{iso}+backfeed:{opt.tie}", iso, (opt.tie,), base))
        if len(first_tie) > 1:
            candidates.append((f"{iso}+backfeed:all", iso, tuple(sorted(set(first_tie.values()))), base))

    alternatives, rejected = [], []
    for name, iso, ties, base in candidates:
        steps = ([Step("open", str(ix.edge_ids[s]), "switch") for s in base] + tail
                 + [Step("close", t, "switch") for t in ties])
        plan = SwitchingPlan(tuple(steps), title=f"isolate {kind} {element} ({name})",
                             window_start=window_start, window_end=window_end)
        try:
            impact = plan_impact(ix, plan)
        except (LoopBetweenSources, InvalidStep) as exc:
            rejected.append({"name": name, "reason": exc.message})
            continue
        closed = [ix.edge("switch", t) for t in ties]
        opened = list(base) + ([edge] if tail else [])
        if evaluate(ix, opened, closed).energized([u, v]).any():
            reason = f"{kind} {element!r} stays energized (a loop bypasses the switches)"
            rejected.append({"name": name, "reason": reason})
            continue
        alternatives.append(Alternative(name, iso, ties, plan, impact))
    alternatives.sort(key=Alternative.rank_key)
    return IsolationResult(
        equipment=(kind, element),
        upstream_switches=tuple(str(ix.edge_ids[s]) for s in ups),
        downstream_switches=tuple(str(ix.edge_ids[s]) for s in downs),
        open_points=open_points,
        backfeed=backfeed,
        alternatives=tuple(alternatives[:max_alternatives]),
        rejected=tuple(rejected),
    )


def _resolve(ix: TopologyIndex, element: str, kind: str | None) -> tuple[str, int]:
    kinds = EDGE_KINDS if kind is None else (kind,)
    if kind is not None and kind not in EDGE_KINDS:
        raise InvalidInput(f"cannot isolate a {kind}; give a segment, switch or transformer", field="kind", value=kind)
    found = [k for k in kinds if element in ix.element_index[k]]
    if not found:
        raise UnknownElement(" or ".join(kinds), element, field="element")
    if len(found) > 1:
        raise InvalidInput(f"{element!r} is both a {found[0]} and a {found[1]}; give its kind",
                           field="kind", value=element)
    return found[0], ix.edge(found[0], element)


def _sections(ix: TopologyIndex, edge: int, kind: str, u: int, v: int) -> list[int]:
    """Tops of the energized switch sections the equipment touches."""
    child = int(ix.edge_child[edge])
    if kind == "switch" and child >= 0:
        ends = [int(ix.node_section[ix.parent[child]]), child]
    else:
        ends = [int(ix.node_section[x]) for x in (u, v)]
    return [t for t in dict.fromkeys(ends) if ix.tin[t] < ix.n_live]


def _downstream_switches(ix: TopologyIndex, sections: list[int], edge: int) -> list[int]:
    """Switches hanging from the sections whose region below can be fed from elsewhere.

    A region can be fed back when it holds a normally-open switch or a chord leading out
    of it; a region without one (a fused transformer and its LV network) is dead once
    the upstream switch opens and stays dead, so its switch need not be operated.
    """
    out = []
    for top in sections:
        lo, hi = search(ix.dsw_section, [top, top + 1])
        for s in ix.dsw_edge[lo:hi].tolist():
            if s != edge and int(ix.edge_child[s]) not in sections and _can_backfeed(ix, s):
                out.append(s)
    return sorted(out, key=lambda s: int(ix.tin[ix.edge_child[s]]))


def _can_backfeed(ix: TopologyIndex, switch_edge: int) -> bool:
    c = int(ix.edge_child[switch_edge])
    a, b = int(ix.tin[c]), int(ix.tout[c])
    lo, hi = search(ix.open_pos, [a, b])
    far = ix.tin[ix.open_other[lo:hi]]
    if ((far < a) | (far >= b)).any():
        return True
    if len(ix.chords):
        pu, pv = ix.tin[ix.edge_u[ix.chords]], ix.tin[ix.edge_v[ix.chords]]
        return bool((((pu >= a) & (pu < b)) != ((pv >= a) & (pv < b))).any())
    return False


def _open_points(ix: TopologyIndex, sections: list[int], edge: int) -> tuple[str, ...]:
    found = set()
    for top in sections:
        lo, hi = search(ix.open_pos, [ix.tin[top], ix.tout[top]])
        nodes = ix.open_node[lo:hi]
        hit = ix.open_edge[lo:hi][ix.node_section[nodes] == top]
        found.update(int(e) for e in hit if e != edge)
    return tuple(sorted(str(ix.edge_ids[e]) for e in found))


def _next_upstream(ix: TopologyIndex, switch_edge: int) -> int | None:
    top = int(ix.node_section[ix.parent[ix.edge_child[switch_edge]]])
    return None if ix.parent[top] < 0 else int(ix.parent_edge[top])


def _backfeed_options(ix: TopologyIndex, ups: list[int], downs: list[int]) -> tuple[BackfeedOption, ...]:
    """Ties into the dead region below each downstream switch whose far end stays energized."""
    if not downs:
        return ()
    base = evaluate(ix, [*ups, *downs], [])
    options = []
    for d in downs:
        c = int(ix.edge_child[d])
        a, b = int(ix.tin[c]), int(ix.tout[c])
        if a >= ix.n_live:
            continue
        lo, hi = search(ix.open_pos, [a, b])
        ties = ix.open_edge[lo:hi]
        far = ix.open_other[lo:hi]
        far_pos = ix.tin[far]
        outside = (far_pos < a) | (far_pos >= b)
        if not outside.any():
            continue
        live = base.energized(far[outside].tolist())
        lo_c, hi_c = ix.customer_range(a, b)
        restored = hi_c - lo_c
        for t in sorted({str(ix.edge_ids[e]) for e in ties[outside][live]}):
            options.append(BackfeedOption(t, str(ix.edge_ids[d]), restored))
    return tuple(options)
