"""Reliability indices of IEEE 1366 over recorded customer interruptions (pure numpy/pandas).

Input: one row per interrupted customer of an outage (``account_no``, ``kind`` planned /
unplanned, ``start_s``/``end_s`` in epoch seconds) and the customers served (the store's
customers; per feeder or 台区 from the compiled topology of the served data version).

Definitions (N_T customers served, T the period's minutes; *sustained* = longer than
``momentary_minutes``, 5 by default, the rest *momentary*; an interruption belongs to the
period in which it starts and counts with its whole duration):

* SAIFI = Σ N_i / N_T — sustained customer interruptions per customer served
* SAIDI = Σ r_i N_i / N_T — minutes of sustained interruption per customer served
* CAIDI = SAIDI / SAIFI (None without interruptions)
* CAIFI = Σ N_i / CN, CN the distinct customers with a sustained interruption (None if 0)
* ASAI = 1 − Σ r_i N_i / (N_T · T)
* CEMI-n = CN(k > n) / N_T — customers with **more than** n sustained interruptions
* CELID-s(h) / CELID-t(h) = customers whose longest single / total sustained interruption lasted
  at least h hours, / N_T
* MAIFI = momentary customer interruptions / N_T
* ``customer_minutes`` = Σ r_i N_i (sustained)

Major event days (2.5β): daily SAIDI of the **unplanned** sustained interruptions, days in the
utility's time zone; over the history before the period (by default 5 years), α and β are the
mean and standard deviation of ln(daily SAIDI) over the days with SAIDI > 0, and
T_MED = exp(α + 2.5 β). A day of the period whose unplanned daily SAIDI exceeds T_MED is a
major event day; the unplanned indices are then also given without those days. With fewer
than ``med_min_days`` days of history the method is reported as not applied, with why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gis.errors import InvalidInput

__all__ = ["ReliabilityOptions", "Interruptions", "local_days", "interruption_arrays", "reliability_indices", "served_customers",
           "served_lookup", "history_minutes", "INDEX_KEYS", "GROUPINGS"]

#: ``by`` -> the group column of a per-group report
GROUPINGS = {"feeder": "feeder_id", "transformer": "transformer_id"}

#: the per-scope keys of a result, in report order
INDEX_KEYS = ("customers_served", "saifi", "saidi", "caidi", "caifi", "asai", "maifi", "customer_minutes",
              "customer_interruptions", "customers_interrupted", "momentary_interruptions")


@dataclass(frozen=True)
class ReliabilityOptions:
    momentary_minutes: float = 5.0
    cemi_n: tuple[int, ...] = (1, 2, 3, 4, 5)
    celid_hours: tuple[float, ...] = (1.0, 3.0, 8.0)
    timezone: str = "Asia/Shanghai"
    med_history_days: int = 5 * 365
    med_min_days: int = 30


def _ratio(a: float, b: float) -> float | None:
    return None if b == 0 else float(a) / float(b)


def _hours_key(h: float) -> str:
    return f"{h:g}h"


class _Scope:
    """Per-customer aggregates of one set of interruptions, then indices for any grouping."""

    def __init__(self, cust: np.ndarray, dur_min: np.ndarray, sustained: np.ndarray, n_codes: int) -> None:
        s_cust, s_dur = cust[sustained], dur_min[sustained]
        self.count = np.bincount(s_cust, minlength=n_codes)
        self.total = np.bincount(s_cust, weights=s_dur, minlength=n_codes)
        longest = np.zeros(n_codes)
        if len(s_cust):
            np.maximum.at(longest, s_cust, s_dur)
        self.longest = longest
        self.momentary = np.bincount(cust[~sustained], minlength=n_codes)

    def indices(self, served: float, period_min: float, opts: ReliabilityOptions,
                members: np.ndarray | None = None) -> dict[str, object]:
        count, total, longest, mom = self.count, self.total, self.longest, self.momentary
        if members is not None:
            count, total, longest, mom = count[members], total[members], longest[members], mom[members]
        ci = int(count.sum())
        cmi = float(total.sum())
        cn = int((count > 0).sum())
        saifi, saidi = _ratio(ci, served), _ratio(cmi, served)
        out: dict[str, object] = {
            "customers_served": int(served),
            "saifi": saifi, "saidi": saidi,
            "caidi": _ratio(cmi, ci), "caifi": _ratio(ci, cn),
            "asai": None if served == 0 or period_min <= 0 else 1.0 - cmi / (served * period_min),
            "maifi": _ratio(int(mom.sum()), served),
            "customer_minutes": cmi, "customer_interruptions": ci, "customers_interrupted": cn,
            "momentary_interruptions": int(mom.sum()),
            "cemi": {str(n): _ratio(int((count > n).sum()), served) for n in opts.cemi_n},
            "celid_s": {_hours_key(h): _ratio(int((longest >= h * 60.0).sum()), served) for h in opts.celid_hours},
            "celid_t": {_hours_key(h): _ratio(int((total >= h * 60.0).sum()), served) for h in opts.celid_hours},
        }
        return out


def _check(frame: pd.DataFrame) -> None:
    missing = [c for c in ("account_no", "kind", "start_s", "end_s") if c not in frame.columns]
    if missing:
        raise InvalidInput(f"interruptions lack column(s) {', '.join(missing)}", field=missing[0])


@dataclass(frozen=True)
class Interruptions:
    """Interruptions as arrays: ``customer`` is the served customer's position (0 … N_T−1) or
    N_T + k for the k-th interrupted customer no longer served; ``planned`` is the kind."""

    customer: np.ndarray   # intp
    planned: np.ndarray    # bool
    start_s: np.ndarray    # float64, epoch seconds
    end_s: np.ndarray      # float64
    day: np.ndarray | None = None   # datetime64[D]: local day of the start in the options' zone, if known

    def select(self, mask: np.ndarray) -> Interruptions:
        return Interruptions(self.customer[mask], self.planned[mask], self.start_s[mask], self.end_s[mask],
                             None if self.day is None else self.day[mask])


def interruption_arrays(frame: pd.DataFrame, served_accounts: np.ndarray,
                        lookup: Callable[[np.ndarray], np.ndarray] | None = None) -> Interruptions:
    """Records with account strings (``account_no``, ``kind``, ``start_s``, ``end_s``) as
    :class:`Interruptions`; ``lookup(accounts)`` gives served positions (-1: not served), by
    default a hash lookup over ``served_accounts``."""
    _check(frame)
    n_served = len(served_accounts)
    accounts = frame["account_no"].to_numpy(dtype=object)
    if lookup is None:
        codes = pd.Index(np.asarray(served_accounts, dtype=object)).get_indexer(accounts)
    else:
        codes = np.asarray(lookup(accounts))
    codes = codes.astype(np.intp, copy=True)
    extra = codes < 0
    if extra.any():
        extra_codes, _ = pd.factorize(accounts[extra])
        codes[extra] = n_served + extra_codes
    kind_codes, kinds = pd.factorize(frame["kind"].to_numpy(dtype=object))
    planned_code = list(kinds).index("planned") if "planned" in list(kinds) else -2
    return Interruptions(codes, kind_codes == planned_code, frame["start_s"].to_numpy(dtype=np.float64),
                         frame["end_s"].to_numpy(dtype=np.float64))


def reliability_indices(
    interruptions: pd.DataFrame | Interruptions,
    *,
    period_start: dt.datetime,
    period_end: dt.datetime,
    served_accounts: np.ndarray,
    served_groups: np.ndarray | None = None,
    group_name: str = "feeder_id",
    history: pd.DataFrame | None = None,
    options: ReliabilityOptions | None = None,
) -> dict[str, object]:
    """IEEE 1366 indices of ``interruptions`` that start in ``[period_start, period_end)``.

    ``interruptions``: records (a frame with ``account_no``, ``kind``, ``start_s``, ``end_s``) or
    :class:`Interruptions` already coded against ``served_accounts``, the customers served (N_T =
    its length, in the order the codes use); ``served_groups`` (same length, None for a customer
    outside any group) turns on the per-group indices. ``history`` holds the customer-minutes of
    earlier unplanned sustained interruptions by start time (columns ``start_s``,
    ``customer_minutes``; :func:`history_minutes`) for the major-event-day threshold.
    """
    opts = options or ReliabilityOptions()
    if period_start.tzinfo is None or period_end.tzinfo is None:
        raise InvalidInput("the period needs times with a zone", field="from", value=period_start.isoformat())
    if period_end <= period_start:
        raise InvalidInput("'to' must be after 'from'", field="to", value=period_end.isoformat())
    lo, hi = period_start.timestamp(), period_end.timestamp()
    n_served = len(served_accounts)
    if isinstance(interruptions, pd.DataFrame):
        _check(interruptions)
        inside = (interruptions["start_s"] >= lo) & (interruptions["start_s"] < hi)
        rec = interruption_arrays(interruptions[inside.to_numpy()], served_accounts)
    else:
        rec = interruptions.select((interruptions.start_s >= lo) & (interruptions.start_s < hi))
    period_min = (hi - lo) / 60.0
    codes = rec.customer
    n_codes = max(n_served, int(codes.max()) + 1 if len(codes) else 0)
    start = rec.start_s
    dur = (rec.end_s - start) / 60.0
    sustained = dur > opts.momentary_minutes
    masks = {"all": np.ones(len(codes), dtype=bool), "planned": rec.planned, "unplanned": ~rec.planned}
    scopes = {name: _Scope(codes[m], dur[m], sustained[m], n_codes) for name, m in masks.items()}

    result: dict[str, object] = {
        "from": period_start.isoformat(), "to": period_end.isoformat(), "period_minutes": period_min,
        "momentary_minutes": opts.momentary_minutes,
    }
    result.update(scopes["all"].indices(n_served, period_min, opts))
    result["planned"] = scopes["planned"].indices(n_served, period_min, opts)
    result["unplanned"] = scopes["unplanned"].indices(n_served, period_min, opts)

    unplanned_sustained = masks["unplanned"] & sustained
    all_days = rec.day if rec.day is not None else None
    day = all_days[unplanned_sustained] if all_days is not None else _local_days(start[unplanned_sustained],
                                                                                  opts.timezone)
    med = _major_event_days(day, dur[unplanned_sustained], history, n_served, period_start, opts)
    if med.get("days"):
        bad = np.array([np.datetime64(d["date"], "D") for d in med["days"]])
        if all_days is None:
            all_days = _local_days(start, opts.timezone)
        keep = masks["unplanned"] & ~np.isin(all_days, bad)
        med["unplanned_excluding_med"] = _Scope(codes[keep], dur[keep], sustained[keep], n_codes).indices(
            n_served, period_min, opts)
    result["major_event_days"] = med

    if served_groups is not None:
        served_groups = np.asarray(served_groups, dtype=object)
        if len(served_groups) != n_served:
            raise InvalidInput("served_groups must be as long as served_accounts", field="by")
        group_codes, names = pd.factorize(pd.Series(served_groups, dtype=object), use_na_sentinel=True)
        groups = []
        order = np.argsort(group_codes, kind="stable")
        bounds = np.searchsorted(group_codes[order], np.arange(len(names) + 1))
        for g, name in sorted(enumerate(names.tolist()), key=lambda kv: str(kv[1])):
            members = order[bounds[g]:bounds[g + 1]]
            row: dict[str, object] = {group_name: name}
            row.update(scopes["all"].indices(len(members), period_min, opts, members))
            row["planned"] = scopes["planned"].indices(len(members), period_min, opts, members)
            row["unplanned"] = scopes["unplanned"].indices(len(members), period_min, opts, members)
            groups.append(row)
        result["groups"] = groups
    return result


def served_customers(ix, by: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The customers a compiled :class:`~topology.compiled.TopologyIndex` serves, and their feeder
    or 台区 (``by`` = "feeder" / "transformer"; None for a customer with none)."""
    positions = np.arange(ix.n_customers)
    accounts = ix.accounts(positions)
    if by is None:
        return accounts, None
    if by not in GROUPINGS:
        raise InvalidInput(f"by must be one of {', '.join(GROUPINGS)}", field="by", value=by)
    codes, ids = (ix.cust_feeder, ix.feeder_ids) if by == "feeder" else (ix.cust_transformer, ix.transformer_ids)
    names = np.empty(len(codes), dtype=object)
    known = codes >= 0
    if len(ids):
        names[known] = ids[codes[known]]
    names[~known] = None
    return accounts, names


def _local_days(epoch_s: np.ndarray, tz: str) -> np.ndarray:
    """Local calendar day (datetime64[D]) of each epoch second in ``tz`` (vectorized).

    Every zone's offset is a whole number of quarter hours, so the day is converted once per
    distinct quarter hour (a year holds 35,040) rather than once per record.
    """
    if len(epoch_s) == 0:
        return np.array([], dtype="datetime64[D]")
    quarter = np.floor(np.asarray(epoch_s, dtype=np.float64) / 900.0).astype(np.int64)
    unique, inverse = np.unique(quarter, return_inverse=True)
    stamps = pd.DatetimeIndex((unique * 900 * 1_000_000_000).view("datetime64[ns]"))
    days = stamps.tz_localize("UTC").tz_convert(tz).tz_localize(None).to_numpy().astype("datetime64[D]")
    return days[inverse.reshape(-1)]


def _daily_saidi(days: np.ndarray, minutes: np.ndarray, n_served: int) -> pd.Series:
    """Σ minutes / N_T per local day (datetime64[D] index), by counting over the day numbers."""
    if len(days) == 0 or n_served == 0:
        return pd.Series(dtype=np.float64)
    number = days.astype("datetime64[D]").astype(np.int64)
    first = int(number.min())
    sums = np.bincount(number - first, weights=minutes)
    present = np.flatnonzero(np.bincount(number - first))
    return pd.Series(sums[present] / n_served, index=(present + first).astype("datetime64[D]"))


def _major_event_days(days: np.ndarray, minutes: np.ndarray, history: pd.DataFrame | None, n_served: int,
                      period_start: dt.datetime, opts: ReliabilityOptions) -> dict[str, object]:
    """The 2.5β method over the unplanned sustained interruptions of the period (their local
    ``days`` and ``minutes``) and the ``history`` before it."""
    out: dict[str, object] = {"method": "IEEE 1366 2.5 beta", "applied": False,
                              "basis": "daily SAIDI of unplanned sustained interruptions",
                              "history_days": opts.med_history_days}
    if history is None:
        out["reason"] = "no interruption history before the period was given"
        return out
    missing = [c for c in ("start_s", "customer_minutes") if c not in history.columns]
    if missing:
        raise InvalidInput(f"the history lacks column(s) {', '.join(missing)}", field=missing[0])
    lo = period_start.timestamp() - opts.med_history_days * 86400.0
    inside = ((history["start_s"] >= lo) & (history["start_s"] < period_start.timestamp())).to_numpy()
    h_days = (history["day"].to_numpy()[inside] if "day" in history.columns
              else _local_days(history["start_s"].to_numpy(dtype=np.float64)[inside], opts.timezone))
    daily = _daily_saidi(h_days, history["customer_minutes"].to_numpy(dtype=np.float64)[inside], n_served)
    daily = daily[daily > 0]
    out["history_days_with_interruptions"] = int(len(daily))
    if len(daily) < opts.med_min_days:
        out["reason"] = (f"{len(daily)} day(s) with unplanned interruptions in the {opts.med_history_days} days "
                         f"before the period; the method needs at least {opts.med_min_days}")
        return out
    logs = np.log(daily.to_numpy())
    alpha, beta = float(logs.mean()), float(logs.std(ddof=1)) if len(logs) > 1 else 0.0
    t_med = float(np.exp(alpha + 2.5 * beta))
    period_daily = _daily_saidi(days, minutes, n_served)
    found = [{"date": str(d)[:10], "saidi": float(v)} for d, v in period_daily.items() if v > t_med]
    out.update(applied=True, alpha=alpha, beta=beta, t_med=t_med, days=found)
    out.pop("reason", None)
    return out


def local_days(epoch_s: np.ndarray, tz: str) -> np.ndarray:
    """Local calendar day (datetime64[D]) of each epoch second in ``tz``."""
    return _local_days(epoch_s, tz)


def served_lookup(ix) -> Callable[[np.ndarray], np.ndarray]:
    """``accounts -> served positions`` (-1: not served) on the compiled index's own id index,
    in the order :func:`served_customers` lists the customers."""
    def lookup(accounts: np.ndarray) -> np.ndarray:
        rows = ix.cust_index.positions(np.asarray(accounts, dtype=object))
        return np.where(rows >= 0, ix.cust_rank[np.maximum(rows, 0)], -1)
    return lookup


def history_minutes(records: pd.DataFrame, momentary_minutes: float = 5.0) -> pd.DataFrame:
    """The history the major-event-day method reads, from raw records: the unplanned sustained
    interruptions as (``start_s``, ``customer_minutes``)."""
    _check(records)
    part = records[records["kind"] == "unplanned"]
    minutes = (part["end_s"].to_numpy(dtype=np.float64) - part["start_s"].to_numpy(dtype=np.float64)) / 60.0
    keep = minutes > momentary_minutes
    return pd.DataFrame({"start_s": part["start_s"].to_numpy(dtype=np.float64)[keep], "customer_minutes": minutes[keep]})
