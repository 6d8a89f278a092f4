"""A switching plan's impact as one self-contained HTML file, drawn with folium.

The report is what a planner attaches to a plan for approval or sends to a colleague without
access to GridAtlas: the shaded outage area, the affected 台区 sized by their customers, the
plan's steps on the map, the sensitive customers, and the figures (customers, sensitive
customers, customer-minutes, by feeder and 台区). It opens from a file with no network:
folium's CDN links are replaced by Leaflet's own files, inlined from the installed XStatic
package, and there is no basemap (like the map, the grid is drawn on a plain background).

This module takes plain data (:class:`PlanReport`, GeoJSON-style coordinates) and imports
no project package: the API and the command line assemble the data from the engine.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PlanReport", "ReportPoint", "plan_report_html"]

AREA_COLOR = "#d62728"
SENSITIVE_COLOR = "#c2185b"
STEP_COLORS = {"open": "#d62728", "close": "#2ca02c", "out_of_service": "#7f7f7f", "in_service": "#1f77b4"}
ACTION_LABELS = {"open": "分闸 open", "close": "合闸 close", "out_of_service": "停运 out of service",
                 "in_service": "投运 in service"}


@dataclass(frozen=True)
class ReportPoint:
    """A labelled point: ``lon``/``lat`` in WGS 84."""

    id: str
    lon: float
    lat: float
    label: str = ""
    count: int = 0


@dataclass(frozen=True)
class PlanReport:
    """Everything the report shows, as plain values."""

    plan_id: int | str
    title: str
    status: str
    plan_version: int
    data_version: int | str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    count: int
    sensitive_count: int
    customer_minutes: float | None
    transient_count: int
    by_feeder: Mapping[str, int]
    by_transformer: Mapping[str, int]
    area: Mapping[str, Any] | None  # a GeoJSON geometry
    steps: Sequence[Mapping[str, Any]] = ()  # index, action, element, kind, count, lon, lat
    transformers: Sequence[ReportPoint] = ()  # affected 台区, count = customers out
    sensitive: Sequence[ReportPoint] = ()  # sensitive customers, label = class
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


def _leaflet_assets() -> tuple[str, str]:
    import xstatic.pkg.leaflet as leaflet

    base = Path(leaflet.BASE_DIR)
    return (base / "leaflet.js").read_text(encoding="utf-8"), (base / "leaflet.css").read_text(encoding="utf-8")


def _bounds(report: PlanReport) -> list[list[float]] | None:
    xs: list[float] = []
    ys: list[float] = []

    def walk(coords: Any) -> None:
        if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
            xs.append(float(coords[0]))
            ys.append(float(coords[1]))
        elif isinstance(coords, (list, tuple)):
            for c in coords:
                walk(c)

    if report.area:
        walk(report.area.get("coordinates"))
    for p in (*report.transformers, *report.sensitive):
        xs.append(p.lon)
        ys.append(p.lat)
    for s in report.steps:
        if s.get("lon") is not None:
            xs.append(float(s["lon"]))
            ys.append(float(s["lat"]))
    if not xs:
        return None
    return [[min(ys), min(xs)], [max(ys), max(xs)]]


def _fmt_time(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="minutes") if value else "—"


def _table(title: str, rows: Sequence[tuple[str, ...]], head: tuple[str, ...]) -> str:
    out = [f"<h3>{html.escape(title)}</h3><table><thead><tr>"]
    out += [f"<th>{html.escape(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _summary_html(report: PlanReport, top: int) -> str:
    minutes = "—" if report.customer_minutes is None else f"{report.customer_minutes:,.0f}"
    figures = [
        ("停电客户 customers out", f"{report.count:,}"),
        ("敏感客户 sensitive customers", f"{report.sensitive_count:,}"),
        ("停电时户数 customer-minutes", minutes),
        ("过渡停电 transient (break-before-make)", f"{report.transient_count:,}"),
    ]
    feeders = sorted(report.by_feeder.items(), key=lambda kv: (-kv[1], kv[0]))
    areas = sorted(report.by_transformer.items(), key=lambda kv: (-kv[1], kv[0]))
    parts = [
        '<section class="ga-report">',
        f"<h1>{html.escape(report.title)}</h1>",
        f'<p class="ga-meta">计划 plan #{html.escape(str(report.plan_id))} · v{report.plan_version} · '
        f"{html.escape(report.status)} · 窗口 window {_fmt_time(report.window_start)} – {_fmt_time(report.window_end)}"
        f" · 数据版本 data version {html.escape(str(report.data_version))} · "
        f"生成 generated {_fmt_time(report.generated_at)}</p>",
        '<dl class="ga-figures">' + "".join(
            f"<div><dt>{html.escape(k)}</dt><dd data-figure=\"{i}\">{html.escape(v)}</dd></div>"
            for i, (k, v) in enumerate(figures)) + "</dl>",
        _table("操作步骤 Steps", [(s["index"] + 1, ACTION_LABELS.get(s["action"], s["action"]), s["element"],
                                   f"{s.get('count', 0):,}") for s in report.steps],
               ("#", "操作 action", "设备 element", "停电客户 customers out after it")),
        _table("按馈线 By feeder", [(k, f"{v:,}") for k, v in feeders], ("馈线 feeder", "客户 customers")),
        _table(f"按台区 By 台区 (largest {min(top, len(areas))} of {len(areas)})",
               [(k, f"{v:,}") for k, v in areas[:top]], ("台区 transformer", "客户 customers")),
        "</section>",
    ]
    return "".join(parts)


_CSS = """
body { margin: 0; font: 14px/1.4 system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; color: #222; }
.ga-report { padding: 12px 20px; }
.ga-report h1 { font-size: 20px; margin: 0 0 4px; }
.ga-report h3 { font-size: 15px; margin: 14px 0 4px; }
.ga-meta { color: #555; margin: 0 0 8px; }
.ga-figures { display: flex; gap: 24px; margin: 8px 0; flex-wrap: wrap; }
.ga-figures dt { color: #555; font-size: 12px; }
.ga-figures dd { margin: 0; font-size: 22px; font-weight: 600; }
.ga-report table { border-collapse: collapse; font-size: 13px; }
.ga-report td, .ga-report th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
.folium-map { height: 60vh !important; min-height: 360px; border-top: 1px solid #ccc; border-bottom: 1px solid #ccc; }
"""


def plan_report_html(report: PlanReport, *, top_transformers: int = 50) -> str:
    """The report as a complete HTML document that loads nothing from the network."""
    import folium

    fmap = folium.Map(location=[0, 0], zoom_start=13, tiles=None, control_scale=True, prefer_canvas=False)
    # folium links its assets from CDNs; the report must open offline: drop them and inline Leaflet
    fmap.default_js = []
    fmap.default_css = []
    leaflet_js, leaflet_css = _leaflet_assets()
    root = fmap.get_root()
    root.header.add_child(folium.Element(f"<style>{leaflet_css}</style><style>{_CSS}</style>"), name="ga_css")
    root.header.add_child(folium.Element(f"<script>{leaflet_js}</script>"), name="ga_leaflet_js")
    root.header.add_child(folium.Element(f"<title>{html.escape(report.title)} · GridAtlas</title>"), name="ga_title")
    root.html.add_child(folium.Element(_summary_html(report, top_transformers)), name="ga_summary", index=0)

    if report.area:
        folium.GeoJson(
            {"type": "Feature", "geometry": dict(report.area), "properties": {"name": "outage area"}},
            name="停电范围 outage area",
            style_function=lambda _f: {"color": AREA_COLOR, "weight": 2, "fillColor": AREA_COLOR, "fillOpacity": 0.22},
            tooltip=folium.Tooltip(f"停电范围 outage area · {report.count:,} customers"),
        ).add_to(fmap)
    biggest = max((p.count for p in report.transformers), default=1) or 1
    for p in report.transformers:
        folium.CircleMarker(
            [p.lat, p.lon], radius=4 + 10 * (p.count / biggest) ** 0.5, color="#8c2d04", weight=1,
            fill=True, fill_color="#fd8d3c", fill_opacity=0.85,
            tooltip=f"台区 {p.id}{(' ' + p.label) if p.label else ''}: {p.count:,} customers out",
        ).add_to(fmap)
    for p in report.sensitive:
        folium.CircleMarker(
            [p.lat, p.lon], radius=6, color=SENSITIVE_COLOR, weight=2, fill=True, fill_color="#ffffff",
            fill_opacity=1.0, tooltip=f"敏感客户 sensitive: {p.id} ({p.label})",
        ).add_to(fmap)
    for s in report.steps:
        if s.get("lon") is None:
            continue
        color = STEP_COLORS.get(s["action"], "#333")
        # a permanent label, not a folium.Marker: a marker loads Leaflet's default icon images from disk
        folium.CircleMarker(
            [s["lat"], s["lon"]], radius=8, color=color, weight=3, fill=True, fill_color="#ffffff", fill_opacity=1,
            tooltip=folium.Tooltip(f"{s['index'] + 1}. {ACTION_LABELS.get(s['action'], s['action'])} {s['element']}",
                                   permanent=True, direction="right"),
        ).add_to(fmap)
    bounds = _bounds(report)
    if bounds is not None:
        fmap.fit_bounds(bounds, padding=(20, 20))
    return root.render()
