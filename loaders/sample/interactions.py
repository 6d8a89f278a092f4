"""Twelve months of customer interactions (calls, WeChat, apps, counter visits).

Rates are per customer and year (≈ 1.5 in total). A few hotspot areas — clusters of
nearby transformers — have ~10× the complaint rate and twice the repair calls, so that
the heat map and hotspot detection have something real to find. Repairs and complaints
peak in the typhoon / air-conditioning season; a few percent of contacts come from
callers who match no customer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loaders.sample.layout import Grid
from loaders.sample.people import REFERENCE_DATE, random_mobiles
from loaders.sample.vocab import (
    CHANNELS,
    KINDS,
    SENSITIVE_SUFFIXES,
    TEXT_POSTFIXES,
    TEXT_PREFIXES,
    TEXTS,
)

__all__ = ["WINDOW", "generate_interactions", "hotspot_transformers", "plan_interactions", "render_interactions"]

WINDOW = (np.datetime64("2025-11-01"), REFERENCE_DATE + np.timedelta64(1, "D"))  # [start, end)
_RATES = np.array([0.58, 0.11, 0.48, 0.13, 0.08])  # per customer-year, in KINDS order
_HOT_FACTOR = np.array([1.0, 10.0, 2.0, 1.0, 1.0])
_UNKNOWN_SHARE = 0.03
_UNKNOWN_KIND_P = (0.55, 0.05, 0.35, 0.03, 0.02)
# channel probabilities per kind, in CHANNELS order (95598电话, 微信, 微博, 掌上电力, 网上国网, 营业厅)
_CHANNEL_P = np.array(
    [
        [0.35, 0.22, 0.01, 0.07, 0.20, 0.15],
        [0.55, 0.15, 0.05, 0.05, 0.15, 0.05],
        [0.60, 0.18, 0.01, 0.06, 0.15, 0.00],
        [0.25, 0.25, 0.05, 0.10, 0.30, 0.05],
        [0.40, 0.30, 0.03, 0.05, 0.12, 0.10],
    ]
)
_HOUR_W = np.array(
    [0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.6, 1.2, 2.0, 2.6, 2.6, 2.2,
     1.6, 1.8, 2.2, 2.2, 2.0, 1.8, 1.9, 2.4, 2.4, 1.8, 1.0, 0.6]
)
_STORM_MONTH_W = {5: 1.3, 6: 1.5, 7: 1.6, 8: 1.6, 9: 1.4}  # repairs and complaints


def hotspot_transformers(rng: np.random.Generator, grid: Grid) -> np.ndarray:
    """Boolean per transformer: 3–5 hotspot centres, each with its nearest neighbours.

    Each hotspot covers ~0.4 % of the transformers (at least one); very small cities get
    fewer hotspots so that they stay a minority.
    """
    trs = grid.transformers
    n = len(trs)
    n_hot = min(int(rng.integers(3, 6)), max(1, n // 6))
    per_hot = max(1, round(0.004 * n))
    eligible = np.flatnonzero(trs["customers"].to_numpy() >= 20)
    if len(eligible) < n_hot:
        eligible = np.arange(n)
    x, y = trs["x"].to_numpy(), trs["y"].to_numpy()
    hot = np.zeros(n, dtype=bool)
    for c in rng.choice(eligible, n_hot, replace=False):
        hot[np.argsort(np.hypot(x - x[c], y - y[c]), kind="stable")[:per_hot]] = True
    return hot


def generate_interactions(rng: np.random.Generator, grid: Grid, customers: pd.DataFrame) -> pd.DataFrame:
    """Interactions sorted by time; ``customer`` is a row of ``customers`` or -1 (unknown).

    Columns: customer, channel, kind, occurred_at (ISO 8601, +08:00), text, caller_phone.
    """
    hot = hotspot_transformers(rng, grid)[customers["transformer"].to_numpy()]
    n = len(customers)
    rates = _RATES[None, :] * np.where(hot[:, None], _HOT_FACTOR[None, :], 1.0)
    counts = rng.poisson(rates).ravel()
    who = np.repeat(np.repeat(np.arange(n), len(KINDS)), counts)
    kind = np.repeat(np.tile(np.arange(len(KINDS)), n), counts)
    n_unknown = int(rng.poisson(_UNKNOWN_SHARE / (1 - _UNKNOWN_SHARE) * len(who)))
    who = np.concatenate([who, np.full(n_unknown, -1)])
    kind = np.concatenate([kind, rng.choice(len(KINDS), n_unknown, p=_UNKNOWN_KIND_P)])
    m = len(who)
    known = who >= 0

    channel = np.zeros(m, dtype=np.int64)
    for k in range(len(KINDS)):
        sel = kind == k
        channel[sel] = rng.choice(len(CHANNELS), int(sel.sum()), p=_CHANNEL_P[k])
    occurred = _times(rng, kind, channel)

    streets = customers["street"].to_numpy(dtype=object)
    street = np.where(known, streets[np.maximum(who, 0)], streets[rng.integers(n, size=m)])
    hot_row = known & hot[np.maximum(who, 0)]
    text = _texts(rng, kind, street, hot_row)

    own = customers["phone"].to_numpy(dtype=object)[np.maximum(who, 0)]
    alt = customers["phone_alt"].to_numpy(dtype=object)[np.maximum(who, 0)]
    u = rng.random(m)
    phone = np.where(u < 0.82, own, np.where((u < 0.92) & (alt != ""), alt, random_mobiles(rng, m)))
    phone = np.where(known, phone, random_mobiles(rng, m))

    order = np.argsort(occurred, kind="stable")
    return pd.DataFrame(
        {
            "customer": who[order],
            "channel": np.array(CHANNELS, dtype=object)[channel[order]],
            "kind": np.array(KINDS, dtype=object)[kind[order]],
            "occurred_at": np.datetime_as_string(occurred[order], unit="s").astype(object) + "+08:00",
            "text": text[order],
            "caller_phone": phone[order],
        }
    )


def plan_interactions(rng: np.random.Generator, grid: Grid, customers: pd.DataFrame, total: int) -> pd.DataFrame:
    """Exactly ``total`` interactions without their texts and phones, sorted by time (for a city
    asked for a given number of contacts, e.g. 10M over 1M customers).

    The same model as :func:`generate_interactions` — per-customer rates by kind, hotspot
    transformers with ~10× the complaints, ~3 % unknown callers, seasonal times, channels per
    kind — scaled to ``total``: the known callers' contacts are one multinomial draw over
    (customer, kind) with probabilities proportional to the rates, so the count is exact.
    Columns: customer (row of ``customers`` or -1), kind, channel (int codes), occurred
    (datetime64[s], local); :func:`render_interactions` turns a slice of it into rows.
    Numeric columns only (~40 bytes a contact): 10M fit in memory, the texts are drawn per slice.
    """
    if total < 0:
        raise ValueError(f"interactions must be >= 0, got {total}")
    hot = hotspot_transformers(rng, grid)[customers["transformer"].to_numpy()]
    rates = (_RATES[None, :] * np.where(hot[:, None], _HOT_FACTOR[None, :], 1.0)).ravel()
    n_unknown = int(round(_UNKNOWN_SHARE * total))
    counts = rng.multinomial(total - n_unknown, rates / rates.sum())
    cells = np.flatnonzero(counts)
    who = np.concatenate([np.repeat(cells // len(KINDS), counts[cells]), np.full(n_unknown, -1)])
    kind = np.concatenate([np.repeat(cells % len(KINDS), counts[cells]), rng.choice(len(KINDS), n_unknown, p=_UNKNOWN_KIND_P)])
    channel = np.zeros(total, dtype=np.int8)
    for k in range(len(KINDS)):
        sel = kind == k
        channel[sel] = rng.choice(len(CHANNELS), int(sel.sum()), p=_CHANNEL_P[k])
    occurred = _times(rng, kind, channel)
    order = np.argsort(occurred, kind="stable")
    return pd.DataFrame({"customer": who[order].astype(np.int32), "kind": kind[order].astype(np.int8),
                         "channel": channel[order], "occurred": occurred[order], "hot": hot[np.maximum(who[order], 0)] & (who[order] >= 0)})


def render_interactions(rng: np.random.Generator, plan: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """The rows of a slice of :func:`plan_interactions` (texts and caller phones drawn now, in
    slice order): the columns :func:`generate_interactions` gives."""
    who = plan["customer"].to_numpy().astype(np.int64)
    kind = plan["kind"].to_numpy().astype(np.int64)
    m, n = len(who), len(customers)
    known = who >= 0
    streets = customers["street"].to_numpy(dtype=object)
    street = np.where(known, streets[np.maximum(who, 0)], streets[rng.integers(n, size=m)])
    text = _texts(rng, kind, street, plan["hot"].to_numpy())
    own = customers["phone"].to_numpy(dtype=object)[np.maximum(who, 0)]
    alt = customers["phone_alt"].to_numpy(dtype=object)[np.maximum(who, 0)]
    u = rng.random(m)
    phone = np.where(u < 0.82, own, np.where((u < 0.92) & (alt != ""), alt, random_mobiles(rng, m)))
    phone = np.where(known, phone, random_mobiles(rng, m))
    return pd.DataFrame({
        "customer": who,
        "channel": np.array(CHANNELS, dtype=object)[plan["channel"].to_numpy().astype(np.int64)],
        "kind": np.array(KINDS, dtype=object)[kind],
        "occurred_at": np.datetime_as_string(plan["occurred"].to_numpy(), unit="s").astype(object) + "+08:00",
        "text": text,
        "caller_phone": phone,
    })


def _times(rng: np.random.Generator, kind: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """Local times (+08:00) in the window: seasonal for repairs/complaints, daily rhythm."""
    days = np.arange(WINDOW[0], WINDOW[1], dtype="datetime64[D]")
    month = (days.astype("datetime64[M]").astype(np.int64) % 12) + 1
    storm_w = np.array([_STORM_MONTH_W.get(int(mo), 1.0) for mo in month])
    stormy = np.isin(kind, (KINDS.index("投诉"), KINDS.index("报修")))
    day = np.empty(len(kind), dtype=np.int64)
    day[stormy] = rng.choice(len(days), int(stormy.sum()), p=storm_w / storm_w.sum())
    day[~stormy] = rng.integers(len(days), size=int((~stormy).sum()))
    hour = rng.choice(24, len(kind), p=_HOUR_W / _HOUR_W.sum())
    counter = channel == CHANNELS.index("营业厅")
    hour[counter] = rng.integers(9, 17, int(counter.sum()))  # office hours
    seconds = hour * 3600 + rng.integers(0, 3600, len(kind))
    return days[day].astype("datetime64[s]") + seconds.astype("timedelta64[s]")


def _texts(rng: np.random.Generator, kind: np.ndarray, street: np.ndarray, hot: np.ndarray) -> np.ndarray:
    """Template text per kind; some complaints escalate (12398, media, 12345, 信访).

    Punctuation is joined per template, not per row: "…来电？谢谢。", "…一直闪，请尽快处理！".
    """
    m = len(kind)
    templates = np.array([t for group in TEXTS for t in group], dtype=object)
    first = np.cumsum([0] + [len(group) for group in TEXTS])
    which = np.empty(m, dtype=np.int64)
    closing = np.empty(m, dtype=object)
    for k, phrases in enumerate(TEXT_POSTFIXES):
        sel = kind == k
        which[sel] = first[k] + rng.integers(len(TEXTS[k]), size=int(sel.sum()))
        closing[sel] = np.array(phrases, dtype=object)[rng.integers(len(phrases), size=int(sel.sum()))]
    body = templates[which]
    slot = np.flatnonzero(np.isin(which, [i for i, t in enumerate(templates) if "{street}" in t]))
    body[slot] = [b.replace("{street}", s) for b, s in zip(body[slot].tolist(), street[slot].tolist())]
    closed = np.array([t[-1] in "？！。" for t in templates])[which]

    escalate = (kind == KINDS.index("投诉")) & (rng.random(m) < np.where(hot, 0.35, 0.15))
    pick = rng.integers(len(SENSITIVE_SUFFIXES), size=m)
    escalation = np.where(
        closed,
        np.array([e.removeprefix("，") for e in SENSITIVE_SUFFIXES], dtype=object)[pick],
        np.array(SENSITIVE_SUFFIXES, dtype=object)[pick],
    )
    sep = np.where(~closed & (closing != ""), "，", "")
    tail = np.where(escalate, escalation, sep + closing)
    head = np.array(TEXT_PREFIXES, dtype=object)[rng.integers(len(TEXT_PREFIXES), size=m)]
    return head + body + tail
