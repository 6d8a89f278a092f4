"""Computing a reliability report for the API and the command line, and writing it as XLSX.

The records come from the process's :class:`api.outage_cache.InterruptionCache` (refreshed
with what was added since its last use). The period: ``from``/``to`` are dates (local days of ``Settings.local_timezone``; ``to``
is inclusive: the period ends at the end of that day) or ISO times with a zone (``to`` then
exclusive). The customers served are those of the compiled topology of the served data
version; the history before the period that the major-event-day threshold needs comes from
the same records.

XLSX: every cell is written with an explicit type — numbers as numbers, text as text
(``data_type = "s"``) — so no value from the data can become a formula. (A local writer;
issue 17 adds the shared one.)
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from api.outage_cache import InterruptionCache
from api.settings import Settings
from gis.errors import InvalidInput
from outage_impact.reliability import GROUPINGS, INDEX_KEYS, ReliabilityOptions, reliability_indices
from topology.compiled import TopologyIndex

__all__ = ["parse_period", "options_from", "compute_report", "report_xlsx"]


def _parse(value: str, field: str, tz: zoneinfo.ZoneInfo, *, end: bool) -> dt.datetime:
    text = (value or "").strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            if end:
                day += dt.timedelta(days=1)
            return dt.datetime.combine(day, dt.time(), tzinfo=tz)
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{field} must be a date (2026-01-31) or an ISO time with a zone", field=field,
                           value=value) from exc
    if parsed.tzinfo is None:
        raise InvalidInput(f"{field}: a time needs a zone (e.g. +08:00); or give a date", field=field, value=value)
    return parsed


def parse_period(start: str, end: str, settings: Settings) -> tuple[dt.datetime, dt.datetime]:
    tz = zoneinfo.ZoneInfo(settings.local_timezone)
    lo, hi = _parse(start, "from", tz, end=False), _parse(end, "to", tz, end=True)
    if hi <= lo:
        raise InvalidInput("'to' must be after 'from'", field="to", value=end)
    if hi - lo > dt.timedelta(days=3660):
        raise InvalidInput("a period may span at most 10 years", field="to", value=end)
    return lo, hi


def options_from(settings: Settings) -> ReliabilityOptions:
    return ReliabilityOptions(momentary_minutes=settings.reliability_momentary_minutes,
                              cemi_n=tuple(settings.reliability_cemi_n),
                              celid_hours=tuple(settings.reliability_celid_hours),
                              timezone=settings.local_timezone,
                              med_history_days=settings.reliability_med_history_days,
                              med_min_days=settings.reliability_med_min_days)


def compute_report(engine: Engine, index: TopologyIndex, data_version: int, settings: Settings, *,
                   start: dt.datetime, end: dt.datetime, by: str | None,
                   cache: InterruptionCache | None = None) -> dict[str, Any]:
    """The indices of ``[start, end)`` (and per ``by`` group) with the data version they used.

    ``cache`` (an API process keeps one) is refreshed with the records added since its last
    use; without one every record is read.
    """
    if by is not None and by not in GROUPINGS:
        raise InvalidInput(f"by must be one of {', '.join(GROUPINGS)}", field="by", value=by)
    opts = options_from(settings)
    cache = cache if cache is not None else InterruptionCache()
    cache.refresh(engine)
    records = cache.interruptions(index, data_version, opts.timezone)
    accounts, groups = cache.served(index, data_version, by)
    result = reliability_indices(records, period_start=start, period_end=end, served_accounts=accounts,
                                 served_groups=groups, group_name=GROUPINGS.get(by or "", "group"),
                                 history=_history(records, start, opts), options=opts)
    result["by"] = by
    result["data_version"] = data_version
    return result


def _history(records, start: dt.datetime, opts) -> pd.DataFrame:
    """Customer-minutes of the unplanned sustained interruptions of the history window."""
    lo = (start - dt.timedelta(days=opts.med_history_days)).timestamp()
    minutes = (records.end_s - records.start_s) / 60.0
    keep = ((records.start_s >= lo) & (records.start_s < start.timestamp()) & ~records.planned
            & (minutes > opts.momentary_minutes))
    out = pd.DataFrame({"start_s": records.start_s[keep], "customer_minutes": minutes[keep]})
    if records.day is not None:
        out["day"] = records.day[keep]
    return out


# ------------------------------------------------------------------ XLSX
def _cell(ws, value: Any):
    from openpyxl.cell import WriteOnlyCell

    if value is None:
        return WriteOnlyCell(ws, value=None)
    if isinstance(value, bool):
        cell = WriteOnlyCell(ws, value=str(value).lower())
        cell.data_type = "s"
        return cell
    if isinstance(value, (int, float)):
        return WriteOnlyCell(ws, value=value)
    cell = WriteOnlyCell(ws, value=str(value))
    cell.data_type = "s"   # text stays text: "=…", "+…", "@…" are never formulas
    return cell


def _row(ws, values: list[Any]) -> list[Any]:
    return [_cell(ws, v) for v in values]


def _flat(scope: dict[str, Any]) -> list[tuple[str, Any]]:
    out = [(k, scope.get(k)) for k in INDEX_KEYS]
    out += [(f"cemi_{n}", v) for n, v in scope["cemi"].items()]
    out += [(f"celid_s_{h}", v) for h, v in scope["celid_s"].items()]
    out += [(f"celid_t_{h}", v) for h, v in scope["celid_t"].items()]
    return out


def report_xlsx(report: dict[str, Any]) -> bytes:
    """The report as an XLSX workbook: indices (all / planned / unplanned), groups, major event days."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("indices")
    ws.append(_row(ws, ["period", report["from"], report["to"]]))
    ws.append(_row(ws, ["data_version", report.get("data_version")]))
    ws.append(_row(ws, ["momentary_minutes", report["momentary_minutes"]]))
    ws.append(_row(ws, ["index", "all", "planned", "unplanned"]))
    planned, unplanned = dict(_flat(report["planned"])), dict(_flat(report["unplanned"]))
    for key, value in _flat(report):
        ws.append(_row(ws, [key, value, planned.get(key), unplanned.get(key)]))
    if report.get("groups") is not None:
        gs = wb.create_sheet(f"by {report['by']}")
        key = GROUPINGS[report["by"]]
        names = [k for k, _ in _flat(report)]
        gs.append(_row(gs, [key] + names + [f"planned_{n}" for n in ("saifi", "saidi")]
                       + [f"unplanned_{n}" for n in ("saifi", "saidi")]))
        for g in report["groups"]:
            values = dict(_flat(g))
            gs.append(_row(gs, [g[key]] + [values[n] for n in names]
                           + [g["planned"]["saifi"], g["planned"]["saidi"], g["unplanned"]["saifi"],
                              g["unplanned"]["saidi"]]))
    med = report["major_event_days"]
    ms = wb.create_sheet("major event days")
    ms.append(_row(ms, ["method", med["method"]]))
    ms.append(_row(ms, ["applied", med["applied"]]))
    if med["applied"]:
        ms.append(_row(ms, ["t_med", med["t_med"]]))
        ms.append(_row(ms, ["alpha", med["alpha"]]))
        ms.append(_row(ms, ["beta", med["beta"]]))
        ms.append(_row(ms, ["date", "saidi"]))
        for day in med["days"]:
            ms.append(_row(ms, [day["date"], day["saidi"]]))
    else:
        ms.append(_row(ms, ["reason", med.get("reason")]))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
