"""Trouble-call analysis (故障研判): repair calls (报修) → the protective devices that probably operated.

As an outage management system does it, on the compiled topology of the normal state:

1. each call is located through its customer and points at the lowest protective device
   above the customer (fuse, transformer, load switch, breaker: :mod:`topology.protection`);
2. devices are decided bottom-up. At a device ``d`` with thresholds ``(N, p)`` for its kind
   and ``C`` downstream customers, let ``u`` be the calling customers under ``d`` that no
   prediction below explains, and ``P`` the predicted devices nearest below ``d``.
   ``d`` is predicted when

   * ``|u| + |P| ≥ N`` (calls, and whole branches already out, count as evidence), or
   * ``|u| + Σ customers(P) ≥ p % of C`` with at least two calls under ``d`` (the share of
     its customers known or presumed out; one call alone is a customer-side problem);

   but a device whose only evidence is one prediction below it stays unpredicted (the lowest
   device that explains the calls wins). A predicted ``d`` absorbs ``P``: the prediction has
   moved up to it. So calls spread over
   all branches of a section point at the section's switch, while two faults on different
   branches, each too small a share of what is above them, stay two predictions;
3. calls under no prediction are listed as unexplained, with why.

Each prediction carries the calls it explains, the customers the device feeds in the normal
state (the engine's :func:`topology.state.evaluate` of opening it), the evidence and its thresholds.
O(calls + devices above them), after the per-version :func:`~topology.protection.protection_index`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection

from gis import events
from gis.trouble_store import REPAIR_KIND

from topology.compiled import TopologyIndex
from topology.protection import PROTECTIVE_KINDS, protection_index
from topology.state import concat_ranges, evaluate

__all__ = ["TROUBLE_DEVICE_KINDS", "DEFAULT_TROUBLE_THRESHOLDS", "Call", "Prediction", "Unexplained",
           "TroubleAnalysis", "analyze", "RepairCallNotifier", "CHANNEL", "REPAIR_KIND"]

TROUBLE_DEVICE_KINDS = PROTECTIVE_KINDS
#: kind -> (calls, percent of the downstream customers)
DEFAULT_TROUBLE_THRESHOLDS: dict[str, tuple[int, float]] = {
    "fuse": (3, 30.0),
    "transformer": (3, 30.0),
    "load_switch": (6, 70.0),
    "breaker": (10, 70.0),
}
_MIN_CALLS_FOR_SHARE = 2
#: The live-event channel a new repair call is announced on (the map's trouble-call layer refreshes).
CHANNEL = "trouble_calls"


@dataclass(frozen=True, slots=True)
class Call:
    id: str
    account_no: str | None
    occurred_at: dt.datetime | None = None


@dataclass(frozen=True)
class Prediction:
    device: str
    kind: str
    calls: tuple[str, ...]
    accounts: tuple[str, ...]  # the calling customers
    customers_affected: int
    customers: tuple[str, ...]  # the customers the device feeds (normal state)
    thresholds: dict[str, float]
    evidence: dict[str, Any]
    absorbed: tuple[str, ...] = ()  # predictions below that moved up into this one
    #: customer positions (TopologyIndex order) of the customers it feeds: their coordinates and 台区 for a map
    positions: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64), repr=False, compare=False)

    def to_dict(self, *, with_customers: bool = True) -> dict[str, Any]:
        out = {"device": self.device, "kind": self.kind, "calls": list(self.calls),
               "calling_customers": list(self.accounts), "customers_affected": self.customers_affected,
               "thresholds": self.thresholds, "evidence": self.evidence, "absorbed": list(self.absorbed)}
        if with_customers:
            out["customers"] = list(self.customers)
        return out


@dataclass(frozen=True, slots=True)
class Unexplained:
    call: str
    account_no: str | None
    reason: str  # "no_customer", "unknown_customer", "not_supplied", "no_device", "below_threshold"

    def to_dict(self) -> dict[str, Any]:
        return {"call": self.call, "account_no": self.account_no, "reason": self.reason}


@dataclass(frozen=True)
class TroubleAnalysis:
    predictions: tuple[Prediction, ...]
    unexplained: tuple[Unexplained, ...]
    calls: int
    version: str = ""

    def to_dict(self, *, with_customers: bool = True) -> dict[str, Any]:
        return {"calls": self.calls, "data_version": self.version,
                "predictions": [p.to_dict(with_customers=with_customers) for p in self.predictions],
                "unexplained": [u.to_dict() for u in self.unexplained]}


@dataclass
class _Up:
    """What a device hands to the one above it: unexplained calls and the predictions nearest below."""

    accounts: dict[str, list[str]] = field(default_factory=dict)  # account -> call ids
    predicted: list[int] = field(default_factory=list)
    total_calls: int = 0  # every call under the device, explained or not

    def merge(self, other: _Up) -> None:
        for account, calls in other.accounts.items():
            self.accounts.setdefault(account, []).extend(calls)
        self.predicted.extend(other.predicted)
        self.total_calls += other.total_calls


def analyze(ix: TopologyIndex, calls: Iterable[Call | Mapping[str, Any]],
            thresholds: Mapping[str, tuple[int, float]] | None = None, *,
            with_customers: bool = True) -> TroubleAnalysis:
    """The probable failed devices for ``calls`` (see the module docstring); with
    ``with_customers=False`` each prediction counts the customers it affects without listing them."""
    limits = dict(DEFAULT_TROUBLE_THRESHOLDS if thresholds is None else thresholds)
    missing = set(PROTECTIVE_KINDS) - set(limits)
    if missing:
        raise ValueError(f"thresholds lack the device kind(s) {sorted(missing)}")
    items = [c if isinstance(c, Call) else Call(str(c["id"]), c.get("account_no"), c.get("occurred_at"))
             for c in calls]
    prot = protection_index(ix)
    parent_of, kind_of, customers_of, start_of = prot.as_lists
    unexplained: list[Unexplained] = []
    with_account = [c for c in items if c.account_no]
    unexplained.extend(Unexplained(c.id, None, "no_customer") for c in items if not c.account_no)
    rows = ix.cust_index.positions(np.array([c.account_no for c in with_account], dtype=object))
    known = rows >= 0
    supplied = np.full(len(with_account), -1, dtype=np.int64)
    supplied[known] = ix.cust_pos[ix.cust_rank[rows[known]]]
    supplied[supplied >= ix.n_live] = -1
    devices = prot.lowest_above(supplied).tolist()
    up: dict[int, _Up] = {}
    for call, is_known, pos, device in zip(with_account, known.tolist(), supplied.tolist(), devices):
        if not is_known:
            unexplained.append(Unexplained(call.id, call.account_no, "unknown_customer"))
        elif pos < 0:
            unexplained.append(Unexplained(call.id, call.account_no, "not_supplied"))
        elif device < 0:
            unexplained.append(Unexplained(call.id, call.account_no, "no_device"))
        else:
            state = up.get(device)
            if state is None:
                state = up[device] = _Up()
            state.accounts.setdefault(call.account_no, []).append(call.id)
            state.total_calls += 1
    # every device above a called one takes part, children (larger start) before parents
    pending = set(up)
    for device in list(up):
        parent = parent_of[device]
        while parent >= 0 and parent not in pending:
            pending.add(parent)
            parent = parent_of[parent]
    predicted: dict[int, tuple[_Up, dict[str, Any]]] = {}
    top = _Up()
    for device in sorted(pending, key=start_of.__getitem__, reverse=True):
        state = up.pop(device, None) or _Up()
        kind = kind_of[device]
        n_calls, percent = limits[kind]
        customers = customers_of[device]
        out_customers = len(state.accounts) + sum(customers_of[q] for q in state.predicted)
        share = 100.0 * out_customers / customers if customers else 0.0
        by_count = len(state.accounts) + len(state.predicted) >= n_calls
        by_share = share >= percent and state.total_calls >= _MIN_CALLS_FOR_SHARE
        lone_child = len(state.predicted) == 1 and not state.accounts  # the child explains it all already
        if (by_count or by_share) and not lone_child:
            evidence = {"unexplained_calls": len(state.accounts), "predicted_below": len(state.predicted),
                        "customers_out": out_customers, "percent": round(share, 1),
                        "rule": "calls" if by_count else "percent"}
            predicted[device] = (state, evidence)
            handed = _Up(predicted=[device], total_calls=state.total_calls)
        else:
            handed = state
        parent = parent_of[device]
        target = top if parent < 0 else up.get(parent)
        if target is None:
            up[parent] = handed  # the first child to report hands its state over whole
        else:
            target.merge(handed)
    results = [_prediction(ix, prot, device, predicted, limits, with_customers) for device in top.predicted]
    for account, call_ids in top.accounts.items():
        unexplained.extend(Unexplained(c, account, "below_threshold") for c in call_ids)
    results.sort(key=lambda p: (-len(p.calls), p.device))
    unexplained.sort(key=lambda u: u.call)
    return TroubleAnalysis(tuple(results), tuple(unexplained), len(items), ix.version)


def _prediction(ix: TopologyIndex, prot, device: int, predicted: Mapping[int, tuple[_Up, dict[str, Any]]],
                limits: Mapping[str, tuple[int, float]], with_customers: bool) -> Prediction:
    state, evidence = predicted[device]
    accounts: dict[str, list[str]] = {}
    absorbed: list[str] = []
    stack = [device]
    while stack:
        d = stack.pop()
        s, _ = predicted[d]
        for account, calls in s.accounts.items():
            accounts.setdefault(account, []).extend(calls)
        if d != device:
            absorbed.append(str(prot.ids[d]))
        stack.extend(s.predicted)
    kind = str(prot.kind[device])
    # the engine's answer to "open this device": the customers that lose supply (ties and loops included)
    lost = evaluate(ix, [int(prot.edge[device])], [])
    cs, ce = lost.customer_slices()
    affected = int((ce - cs).sum())
    positions = concat_ranges(cs, ce)
    fed = tuple(sorted(ix.accounts(positions).tolist())) if with_customers else ()
    n_calls, percent = limits[kind]
    return Prediction(
        device=str(prot.ids[device]), kind=kind,
        calls=tuple(sorted(c for calls in accounts.values() for c in calls)),
        accounts=tuple(sorted(accounts)), customers_affected=affected, customers=fed,
        thresholds={"calls": n_calls, "percent": percent}, evidence=evidence, absorbed=tuple(sorted(absorbed)),
        positions=positions)



class RepairCallNotifier:
    """An ingest screener: when an ingest writes repair calls (报修), one ``trouble_calls`` event in its
    transaction says how many and their time span, so open maps re-ask ``/trouble-calls``.

    The payload holds no personal data (no account, no place): the layer fetches the analysis
    through the role-masked route.
    """

    def __init__(self, publish: Callable[..., object] | None = events.publish) -> None:
        self._publish = publish

    def __call__(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int | None:
        return self.screen(conn, rows)

    def screen(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int | None:
        times = [row["occurred_at"] for row in rows if row.get("kind") == REPAIR_KIND]
        if not times or self._publish is None:
            return None
        stamps = sorted(t if isinstance(t, dt.datetime) else dt.datetime.fromisoformat(str(t)) for t in times)
        return self._publish(conn, CHANNEL, {"type": "trouble_calls.new", "calls": len(stamps),
                                             "first_at": stamps[0].isoformat(), "last_at": stamps[-1].isoformat()})
