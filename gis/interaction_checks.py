"""The check of interaction records (客户交互), shared by every way they arrive: the ingest
(:mod:`interactions.ingest`: one record, a batch, a file) and the city load (``loaders.city``).

:func:`check_columns` takes the fields as columns (:data:`FIELDS`; strings, numbers or datetimes)
and checks them in one pass per field: unknown channel or kind, a time that is not ISO 8601
(a time without an offset is China Standard Time), coordinates that are not lon/lat or lie
outside the service area, over-long ids, accounts, openids, a caller phone that is not a
number, an id given twice (the later record is the bad one). The few bad records are then
checked one by one by :func:`check_record`, which names each problem (row, id, field, value,
reason); the good ones come back cleaned, as columns (:class:`Checked`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gis.models import CHANNELS, INTERACTION_KINDS
from gis.search.normalize import normalize_phone
from gis.validation import BBox, Problem

__all__ = ["FIELDS", "CHANNEL_ALIASES", "Checked", "check_columns", "check_records", "check_record"]

#: The record fields a check reads (the sample's ``interactions.csv`` columns plus the openid).
FIELDS = ("id", "account_no", "channel", "kind", "occurred_at", "text", "caller_phone", "wechat_openid", "lon", "lat")
#: Channel names used by the channels' own systems → GridAtlas channel.
CHANNEL_ALIASES = {"95598": "95598电话", "95598热线": "95598电话", "电话": "95598电话", "掌厅": "掌上电力",
                   "网厅": "网上国网", "微信公众号": "微信"}
#: Local time of a time written without an offset (an Excel cell has none): China Standard Time.
_CST = dt.timezone(dt.timedelta(hours=8))


# ------------------------------------------------------------------------------- checks
def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _text(v: object, limit: int | None = None) -> str | None:
    if type(v) is str:  # the common case, first
        s = v.strip()
        return (s[:limit] if limit else s) or None
    if _blank(v):
        return None
    s = str(v).strip()
    if isinstance(v, float) and v.is_integer():  # a number cell read from a spreadsheet
        s = str(int(v))
    return s[:limit] if limit else s


def _time(v: object) -> dt.datetime | None:
    if isinstance(v, dt.datetime):
        t = v
    else:
        s = str(v).strip().replace("/", "-")
        try:
            t = dt.datetime.fromisoformat(s)
        except ValueError:
            return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_CST)
    return t.astimezone(dt.timezone.utc)


def _number(v: object) -> float | None | str:
    if _blank(v):
        return None
    try:
        x = float(str(v).strip())
    except ValueError:
        return "bad"
    return x if math.isfinite(x) else "bad"


def check_record(record: Mapping[str, Any], row: int, area: BBox, seen: set[str]) -> tuple[dict[str, Any] | None, list[Problem]]:
    """One record → (clean row or None, problems); ``seen``: the good ids of the records before it
    (updated). The reference the column-wise :func:`check_columns` is tested against."""
    t = "interactions"
    rid = _text(record.get("id"))
    problems: list[Problem] = []

    def bad(field_: str, value: object, reason: str) -> None:
        problems.append(Problem(t, row, rid, field_, None if _blank(value) else value, reason))

    if rid is None:
        bad("id", record.get("id"), "required")
    elif len(rid) > 64:
        bad("id", rid, "longer than 64 characters")
    elif rid in seen:
        bad("id", rid, "given twice in this input (the first one is kept)")
    channel = _text(record.get("channel"))
    channel = CHANNEL_ALIASES.get(channel, channel) if channel else None
    if channel not in CHANNELS:
        bad("channel", record.get("channel"), "required" if channel is None else "must be one of " + "/".join(CHANNELS))
    kind = _text(record.get("kind"))
    if kind not in INTERACTION_KINDS:
        bad("kind", record.get("kind"), "required" if kind is None else "must be one of " + "/".join(INTERACTION_KINDS))
    when = None
    if _blank(record.get("occurred_at")):
        bad("occurred_at", None, "required")
    else:
        when = _time(record.get("occurred_at"))
        if when is None:
            bad("occurred_at", record.get("occurred_at"), "not an ISO 8601 time, e.g. 2026-03-01T09:30:00+08:00")
    lon, lat = _number(record.get("lon")), _number(record.get("lat"))
    for name, v in (("lon", lon), ("lat", lat)):
        if v == "bad":
            bad(name, record.get(name), "not a number")
    if lon != "bad" and lat != "bad":
        if (lon is None) != (lat is None):
            bad("lon,lat", f"{record.get('lon')},{record.get('lat')}", "give both lon and lat, or neither")
        elif lon is not None:
            minx, miny, maxx, maxy = area
            coord = f"{lon},{lat}"
            if minx <= lat <= maxx and miny <= lon <= maxy and not (minx <= lon <= maxx and miny <= lat <= maxy):
                bad("lon,lat", coord, "lon/lat look swapped (lat,lon given)")
            elif abs(lon) > 180 or abs(lat) > 90:
                bad("lon,lat", coord, "not a WGS 84 lon,lat coordinate")
            elif not (minx <= lon <= maxx and miny <= lat <= maxy):
                bad("lon,lat", coord, f"outside the service area {minx},{miny},{maxx},{maxy}")
    account = _text(record.get("account_no"))
    if account is not None and len(account) > 32:
        bad("account_no", account, "longer than 32 characters")
    openid = _text(record.get("wechat_openid"))
    if openid is not None and len(openid) > 64:
        bad("wechat_openid", openid, "longer than 64 characters")
    phone_raw = _text(record.get("caller_phone"))
    phone = normalize_phone(phone_raw) if phone_raw else None
    if phone_raw and (phone is None or len(phone) > 32):
        bad("caller_phone", phone_raw, "not a phone number")
    if rid is not None and not any(p.field == "id" for p in problems):
        seen.add(rid)
    if problems:
        return None, problems
    return {"id": rid, "caller_account_no": account, "channel": channel, "kind": kind, "occurred_at": when,
            "text": _text(record.get("text")), "caller_phone": phone, "wechat_openid": openid,
            "lon": lon, "lat": lat}, []


# ------------------------------------------------------------------------------- checks, vectorized
_CHANNEL_OF = {**{c: c for c in CHANNELS}, **CHANNEL_ALIASES}
_KINDS = frozenset(INTERACTION_KINDS)


def _texts(values: Sequence[object]) -> list[str | None]:
    """:func:`_text` of every value (strings, the common case, inline)."""
    return [(v.strip() or None) if type(v) is str else (None if v is None else _text(v)) for v in values]


def _numbers(values: Sequence[object]) -> list[float | None | str]:
    """:func:`_number` of every value (None and finite floats, the common cases, inline)."""
    return [None if v is None else (v if type(v) is float and math.isfinite(v) else _number(v)) for v in values]


def _floats(values: list[float | None | str]) -> np.ndarray:
    return np.array([v if type(v) is float else np.nan for v in values], dtype=float)


def _objects(values: np.ndarray) -> pd.Series:
    """An object column, None kept (pandas 3 would infer its string dtype, with NaN for None)."""
    return pd.Series(values, dtype=object)


@dataclass
class Checked:
    """The outcome of :func:`check_records`: the good records as columns, and the problems of the others.

    ``frame`` holds one row per good record, in input order, with the columns ``id,
    caller_account_no, channel, kind, occurred_at`` (tz-aware UTC), ``text, caller_phone``
    (normalized), ``wechat_openid, lon, lat`` (float, NaN when not given).
    """

    frame: pd.DataFrame
    problems: list[Problem]


def check_records(records: Sequence[Mapping[str, Any]], rows: Sequence[int], area: BBox, *,
                  taken: set[str] | None = None) -> Checked:
    """:func:`check_columns` of records (mappings of :data:`FIELDS`; a missing key is a missing value)."""
    return check_columns({f: [r.get(f) for r in records] for f in FIELDS}, rows, area, taken=taken)


def check_columns(columns: Mapping[str, Sequence[object]], rows: Sequence[int], area: BBox, *,
                  taken: set[str] | None = None) -> Checked:
    """Check records given as columns (:data:`FIELDS`; a field left out is missing in every record)
    in one pass per field, with the same rules and reasons as :func:`check_record`, which then names
    the problems of the few bad records.

    One column at a time: the values are cleaned by the same helpers as :func:`check_record` (in
    list comprehensions, no per-record function frame), the rules are numpy masks; the records that
    fail any rule are checked one by one by :func:`check_record`. A record's id given again is a
    problem of the later record only (the first one is kept, even when it is bad for another reason).
    ``rows``: each record's row number in its source, for the problems. ``taken``: when the records
    are one part of a larger input, checked part after part, the ids of the parts before (any
    record's, as the first one is kept): a record giving one again is the later one, hence bad.
    The part's ids are added to it.
    """
    n = len(rows)
    get = {f: list(columns[f]) if f in columns else [None] * n for f in FIELDS}

    def record(i: int) -> dict[str, Any]:
        return {f: get[f][i] for f in FIELDS}

    ids = _texts(get["id"])
    id_ok = np.fromiter((i is not None and len(i) <= 64 for i in ids), dtype=bool, count=n)
    id_col = np.array(ids, dtype=object)
    id_col[~id_ok] = None
    dup = pd.Series(id_col, dtype=object).duplicated(keep="first").to_numpy() & id_ok
    if taken:  # a set look-up per record (isin would copy the whole set for every part)
        dup |= np.fromiter((i in taken for i in id_col.tolist()), dtype=bool, count=n) & id_ok
    if taken is not None:
        taken.update(id_col[id_ok].tolist())
    channels = [_CHANNEL_OF.get(c) if c is not None else None for c in _texts(get["channel"])]
    kinds = _texts(get["kind"])
    times = [None if _blank(v) else _time(v) for v in get["occurred_at"]]
    lons, lats = _numbers(get["lon"]), _numbers(get["lat"])
    accounts, openids, phones_raw = _texts(get["account_no"]), _texts(get["wechat_openid"]), _texts(get["caller_phone"])
    phones = [normalize_phone(p) if p else None for p in phones_raw]
    lon, lat = _floats(lons), _floats(lats)
    not_number = np.fromiter((x == "bad" or y == "bad" for x, y in zip(lons, lats)), dtype=bool, count=n)
    has_lon, has_lat = ~np.isnan(lon), ~np.isnan(lat)
    minx, miny, maxx, maxy = area
    with np.errstate(invalid="ignore"):
        inside = (minx <= lon) & (lon <= maxx) & (miny <= lat) & (lat <= maxy)
    bad = ~id_ok | dup | not_number | (has_lon != has_lat) | (has_lon & has_lat & ~inside)
    bad |= np.fromiter((c is None for c in channels), dtype=bool, count=n)
    bad |= np.fromiter((k not in _KINDS for k in kinds), dtype=bool, count=n)
    bad |= np.fromiter((t is None for t in times), dtype=bool, count=n)
    bad |= np.fromiter((a is not None and len(a) > 32 for a in accounts), dtype=bool, count=n)
    bad |= np.fromiter((o is not None and len(o) > 64 for o in openids), dtype=bool, count=n)
    bad |= np.fromiter((r is not None and (p is None or len(p) > 32) for r, p in zip(phones_raw, phones)), dtype=bool, count=n)
    problems: list[Problem] = []
    for i in np.flatnonzero(bad).tolist():
        found = check_record(record(i), rows[i], area, {ids[i]} if dup[i] else set())[1]
        if found:
            problems += found
        else:  # pragma: no cover - the masks above are the record check's rules; kept safe regardless
            bad[i] = False
    good = ~bad
    seconds = np.array([t.timestamp() if t is not None else np.nan for t in times], dtype=float)[good]
    frame = pd.DataFrame({
        "id": _objects(id_col[good]),
        "caller_account_no": _objects(np.array(accounts, dtype=object)[good]),
        "channel": _objects(np.array(channels, dtype=object)[good]),
        "kind": _objects(np.array(kinds, dtype=object)[good]),
        "occurred_at": pd.to_datetime(np.round(seconds * 1e6).astype(np.int64), unit="us", utc=True),
        "text": _objects(np.array(_texts(get["text"]), dtype=object)[good]),
        "caller_phone": _objects(np.array(phones, dtype=object)[good]),
        "wechat_openid": _objects(np.array(openids, dtype=object)[good]),
        "lon": lon[good], "lat": lat[good],
    })
    return Checked(frame, problems)


