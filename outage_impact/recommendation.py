"""先算后停: compare every (alternative step set, candidate window) pair of a plan and say why one wins.

Each pair is measured on the impact engine's result for the alternative and on the
consultation's replies from the customers that alternative cuts off:

1. ``sensitive_customers`` — sensitive customers cut off (life support, hospitals, …);
2. ``objections`` — affected customers who objected to the outage;
3. ``prefer_other`` — affected customers who asked for a different candidate window;
4. ``customer_minutes`` — customers cut off × window minutes;
5. ``customers`` — customers cut off.

Pairs are ranked by these criteria in that order (fewer is better), then by alternative
and window number. A reply counts only against the alternatives that cut its customer
off: an objection from a customer whom another alternative keeps supplied is a reason to
prefer that alternative. Each ranked pair carries ``why``: the first criterion on which it
differs from its neighbour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from outage_impact.consultation import Reply, Window
from outage_impact.impact import ImpactResult

__all__ = ["CRITERIA", "Option", "Ranked", "recommend"]

#: (key, how it reads in a sentence); fewer is better for each.
CRITERIA: tuple[tuple[str, str], ...] = (
    ("sensitive_customers", "sensitive customers cut off"),
    ("objections", "objections from affected customers"),
    ("prefer_other", "affected customers asking for another window"),
    ("customer_minutes", "customer-minutes"),
    ("customers", "customers cut off"),
)


@dataclass(frozen=True)
class Option:
    """An alternative step set (0 = the plan's own steps) with its impact."""

    alternative: int
    title: str
    impact: ImpactResult


@dataclass(frozen=True)
class Ranked:
    rank: int
    alternative: int
    title: str
    window: Window
    customers: int
    sensitive_customers: int
    customer_minutes: float
    objections: int
    prefer_other: int
    accepts: int
    why: str

    def key(self) -> tuple:
        return tuple(getattr(self, name) for name, _ in CRITERIA) + (self.alternative, self.window.seq)

    def label(self) -> str:
        return f"alternative {self.alternative} in window {self.window.seq}"

    def to_dict(self) -> dict[str, object]:
        return {"rank": self.rank, "alternative": self.alternative, "title": self.title,
                "window": {"seq": self.window.seq, "start": self.window.start.isoformat(),
                           "end": self.window.end.isoformat()},
                "customers": self.customers, "sensitive_customers": self.sensitive_customers,
                "customer_minutes": self.customer_minutes, "objections": self.objections,
                "prefer_other": self.prefer_other, "accepts": self.accepts, "why": self.why}


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if isinstance(value, float) else str(value)


def _compare(a: Ranked, b: Ranked) -> tuple[str, float, float] | None:
    for name, words in CRITERIA:
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            return words, va, vb
    return None


def _why_best(best: Ranked, rest: Sequence[Ranked]) -> str:
    """Why ``best`` wins: against the best pair of every other alternative, and against its own
    alternative in the best other window."""
    if not rest:
        return "the only alternative and window"
    rivals: list[Ranked] = []
    seen: set[tuple[int, bool]] = set()
    for r in rest:
        tag = (r.alternative, r.alternative == best.alternative)
        if tag not in seen:
            seen.add(tag)
            rivals.append(r)
    parts = []
    for r in rivals:
        diff = _compare(best, r)
        parts.append(f"over {r.label()}: fewer {diff[0]} ({_fmt(diff[1])} vs {_fmt(diff[2])})" if diff else
                     f"equal to {r.label()} on every criterion (the lower number is kept)")
    return "recommended; " + "; ".join(parts)


def recommend(options: Sequence[Option], windows: Sequence[Window], replies: Iterable[Reply]) -> list[Ranked]:
    """Every (option, window) pair, best first, each with why it stands where it does."""
    answered = [r for r in replies if r.reply is not None]
    first = windows[0].seq if windows else None
    rows: list[Ranked] = []
    for opt in options:
        affected = set(opt.impact.customers) if answered else set()
        mine = [r for r in answered if r.account_no in affected]
        for w in windows:
            objections = sum(1 for r in mine if r.reply == "object")
            prefer_other = sum(1 for r in mine if r.reply == "prefer_window" and r.preferred_window != w.seq)
            accepts = sum(1 for r in mine if (r.reply == "accept" and w.seq == first)
                          or (r.reply == "prefer_window" and r.preferred_window == w.seq))
            rows.append(Ranked(0, opt.alternative, opt.title, w, opt.impact.count, opt.impact.sensitive_count,
                               round(opt.impact.count * w.minutes, 1), objections, prefer_other, accepts, ""))
    rows.sort(key=Ranked.key)
    out: list[Ranked] = []
    for i, row in enumerate(rows):
        if i == 0:
            why = _why_best(row, rows[1:])
        else:
            prev = out[i - 1]
            diff = _compare(row, prev)
            why = (f"more {diff[0]} than {prev.label()} ({_fmt(diff[1])} vs {_fmt(diff[2])})" if diff else
                   f"equal to {prev.label()} on every criterion")
        out.append(Ranked(i + 1, row.alternative, row.title, row.window, row.customers, row.sensitive_customers,
                          row.customer_minutes, row.objections, row.prefer_other, row.accepts, why))
    return out
