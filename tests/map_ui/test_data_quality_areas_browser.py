"""The data-quality AREA layer in Chromium against the real app, on both stores (issue 18).

A person turns the data-quality layer on and picks "share verified per 台区" in its box: as many areas
are drawn as /api/v1/data-quality?format=geojson names (every 台区 with customers), each filled in the
class of the API's share; a click inside an area opens its box with the API's figures and the API's
stalest records of that 台区 (which the sample city's CSV confirms), and its outline is drawn where
latLngToContainerPoint puts its vertices (±2 px, from a screenshot). Per feeder with another period the
shares follow the API's for that period.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from tests.api.test_data_quality_http import CUSTOMERS, _expected
from tests.map_ui.test_data_quality_browser import _turn_on
from tests.map_ui.test_map_browser import (  # noqa: F401  (fixtures)
    _api,
    _assert_at,
    _png_rgb,
    base_url,
    browser,
    chromium_path,
    open_map,
)

pytestmark = pytest.mark.browser

BREAKS = [0.5, 0.7, 0.85, 0.95]
RAMP = ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"]
SELECTED_RGB = (0x1F, 0x5F, 0xA8)


def _cls(share: float) -> int:
    return sum(1 for b in BREAKS if share >= b)


def _pick_mode(m: Any, mode: str, period: str | None = None) -> dict[str, Any]:
    loads = m.page.evaluate("() => window.gridatlas.qualityAreas.loads")
    m.page.select_option("#ga-dq-mode", mode)
    m.page.wait_for_function("([by, n]) => { const h = window.gridatlas.qualityAreas; return h.by === by && h.loads > n; }",
                             arg=[mode, loads])
    if period is not None:
        loads = m.page.evaluate("() => window.gridatlas.qualityAreas.loads")
        m.page.select_option("#ga-dq-period", period)
        m.page.wait_for_function("([p, n]) => { const h = window.gridatlas.qualityAreas; return h.period_days === p && h.loads > n; }",
                                 arg=[int(period), loads])
    return m.page.evaluate("() => { const h = window.gridatlas.qualityAreas; return {by: h.by, drawn: h.drawn, "
                           "period_days: h.period_days, simplify: h.simplify}; }")


def _geojson(m: Any, by: str, simplify: Any = None, period: int | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"group_by": by, "format": "geojson"}
    if simplify:
        params["simplify"] = simplify
    if period:
        params["period_days"] = period
    return _api(m.base_url, "/api/v1/data-quality?" + urllib.parse.urlencode(params))


def _near(rows: list[bytearray], bpp: int, x: float, y: float, rgb: tuple[int, int, int], radius: int = 2) -> bool:
    for yy in range(round(y) - radius, round(y) + radius + 1):
        for xx in range(round(x) - radius, round(x) + radius + 1):
            if 0 <= yy < len(rows) and 0 <= xx < len(rows[0]) // bpp:
                px = rows[yy][xx * bpp:xx * bpp + 3]
                if all(abs(px[i] - rgb[i]) <= 40 for i in range(3)):
                    return True
    return False


def _uncheck_other_overlays(m: Any) -> None:
    """Hide the grid and customer overlays in the layer control, as a person would, keeping the data-quality one."""
    for label in m.page.locator(".leaflet-control-layers-overlays label").all():
        if "客户数据质量" in label.inner_text():
            continue
        box = label.locator("input")
        if box.is_checked():
            box.uncheck()


def _lone_area(features: list[dict[str, Any]]) -> tuple[dict[str, Any], float, float]:
    """A polygon area whose vertices' mean lies in no other area's hull: a click there can only mean it."""
    polys = [(f, shape(f["geometry"])) for f in features if f["geometry"] and f["geometry"]["type"] == "Polygon"]
    for f, poly in sorted(polys, key=lambda p: p[0]["properties"]["share"]):
        ring = f["geometry"]["coordinates"][0][:-1]
        lon, lat = sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)
        pt = shapely.Point(lon, lat)
        if len(ring) >= 4 and all(not g.covers(pt) for o, g in polys if o["id"] != f["id"]):
            return f, lon, lat
    raise AssertionError("no 台区 hull apart from the others in the sample city")


def test_share_per_taiqu_is_drawn_as_the_api_says_and_a_click_lists_its_stalest(open_map: Any, tmp_path: Path) -> None:
    m = open_map()
    _turn_on(m)
    hook = _pick_mode(m, "transformer")
    api = _geojson(m, "transformer", hook["simplify"])
    with_outline = [f for f in api["features"] if f["geometry"] is not None]
    # every 台区 with customers is drawn, no more, each with the API's figures
    assert len(hook["drawn"]) == len(with_outline) == CUSTOMERS.transformer_id.dropna().nunique()
    assert {d["id"]: (d["customers"], d["verified"], d["share"]) for d in hook["drawn"]} == {
        f["id"]: (f["properties"]["customers"], f["properties"]["verified"], f["properties"]["share"]) for f in with_outline}
    exp = _expected("transformer", 365)
    assert {d["id"]: d["share"] for d in hook["drawn"]} == {r.area: r.share for r in exp.itertuples() if isinstance(r.area, str)}
    for d in hook["drawn"]:                                       # filled in the class the legend shows for its share
        assert d["cls"] == _cls(d["share"]) and d["colour"] == RAMP[d["cls"]], d
    assert len({d["cls"] for d in hook["drawn"]}) > 1             # the sample city's 台区 differ
    assert m.page.locator(".ga-dq-count").get_attribute("data-count") == str(len(with_outline))
    assert f"{len(with_outline)} 个区域" in m.page.locator(".ga-dq-count").inner_text()
    legend = m.page.locator(".ga-dq-area-legend .ga-dq-lrow")
    assert legend.all_inner_texts() == ["< 50%", "50% – 70%", "70% – 85%", "85% – 95%", "≥ 95%"]
    assert m.page.locator("#ga-dq-rule").is_hidden() and m.page.locator(".ga-dq-cluster").count() == 0
    assert m.page.locator("#ga-dq-period option").first.inner_text() == "默认 (365 天)"

    # a person clicks inside one 台区 (grid and customers hidden in the layer control)
    target, lon, lat = _lone_area(_geojson(m, "transformer")["features"])
    tid, props = target["id"], target["properties"]
    _uncheck_other_overlays(m)
    ring = target["geometry"]["coordinates"][0]
    m.page.evaluate("(ring) => window.gridatlas.map.fitBounds(ring.map(([x, y]) => [y, x]), {padding: [160, 160], animate: false, maxZoom: 18})",
                    ring)
    m.page.evaluate("() => window.gridatlas.loadQuality().then(() => null)")     # the outlines of the new zoom drawn
    assert m.page.evaluate("() => window.gridatlas.map.getZoom()") >= 15          # exact hulls: the API's own ring
    drawn_ring = m.page.evaluate("(id) => window.gridatlas.qualityAreas.body.features.find(f => f.id === id).geometry", tid)
    assert drawn_ring == target["geometry"]
    x, y = m.page.evaluate("([lat, lon]) => { const p = window.gridatlas.map.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
                           [lat, lon])
    box = m.page.locator("#map").bounding_box()
    m.page.mouse.click(box["x"] + x, box["y"] + y)
    panel = m.page.locator(f".ga-dq-area[data-id='{tid}']:not([hidden])")
    panel.wait_for()
    assert panel.locator(".ga-dq-customers").get_attribute("data-value") == str(props["customers"])
    assert panel.locator(".ga-dq-verified").get_attribute("data-value") == str(props["verified"])
    assert float(panel.locator(".ga-dq-share").get_attribute("data-value")) == props["share"]
    assert panel.locator(".ga-dq-share").inner_text() == f"{round(props['share'] * 1000) / 10:g}%"
    stalest = _api(m.base_url, "/api/v1/data-quality?" + urllib.parse.urlencode(
        {"group_by": "transformer", "transformer_id": tid, "stalest": 20, "limit": 1}))["stalest"]
    shown = panel.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.account)")
    assert shown == [r["account_no"] for r in stalest] and shown
    mine = CUSTOMERS[CUSTOMERS.transformer_id == tid]
    order = mine.assign(known=mine.contact_verified_at.notna()).sort_values(["known", "contact_verified_at", "account_no"])
    assert shown == order.account_no.head(20).tolist()                # never verified first, then the oldest
    when = panel.locator("tbody tr .ga-dq-when").all_inner_texts()
    assert when == [r["contact_verified_at"] or "从未核实" for r in stalest]

    # the open area's outline is where its vertices project
    m.page.evaluate("""() => { const map = window.gridatlas.map;
        Object.entries(map._panes).forEach(([name, el]) => { if (name !== 'mapPane' && name !== 'tilePane')
          el.style.visibility = name === 'gaDqSelected' ? 'visible' : 'hidden'; });
        document.querySelectorAll('.leaflet-control-container, .ga-dq-area').forEach(e => e.style.visibility = 'hidden'); }""")
    m.page.wait_for_timeout(150)
    points = m.page.evaluate("(ring) => ring.map(([x, y]) => { const p = window.gridatlas.map.latLngToContainerPoint([y, x]); return [p.x, p.y]; })",
                             ring)
    png = m.page.screenshot(clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"]})
    (tmp_path / f"dq-area-{tid}.png").write_bytes(png)
    _, _, bpp, rows = _png_rgb(png)
    missing = [p for p in points if not _near(rows, bpp, p[0], p[1], SELECTED_RGB)]
    assert not missing, f"no outline within 2 px of vertices {missing} (screenshot {tmp_path}/dq-area-{tid}.png)"
    far = (min(p[0] for p in points) - 40, min(p[1] for p in points) - 40)
    assert not _near(rows, bpp, far[0], far[1], SELECTED_RGB, radius=3), "an outline, not a smear"
    _assert_at({"drawn": points[0], "expected": m.page.evaluate(
        "([x, y]) => { const p = window.gridatlas.map.latLngToContainerPoint([y, x]); return [p.x, p.y]; }", ring[0])}, f"vertex of {tid}")
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == [] and m.rec.foreign() == []


def test_share_per_feeder_follows_the_period(open_map: Any) -> None:
    m = open_map(locale="en-US")
    m.ready()
    m.page.locator(".leaflet-control-layers-overlays label", has_text="Customer data quality").locator("input").check()
    m.page.locator(".ga-dq").wait_for(state="visible")
    m.page.wait_for_function("() => window.gridatlas.qualityBody !== null")
    hook = _pick_mode(m, "feeder", "90")
    api = _geojson(m, "feeder", hook["simplify"], 90)
    assert api["period_days"] == 90
    drawn = {d["id"]: d["share"] for d in hook["drawn"]}
    assert drawn == {f["id"]: f["properties"]["share"] for f in api["features"] if f["geometry"] is not None}
    assert drawn == {r.area: r.share for r in _expected("feeder", 90).itertuples() if isinstance(r.area, str)}
    year = {f["id"]: f["properties"]["share"] for f in _geojson(m, "feeder", hook["simplify"], 365)["features"] if f["id"]}
    assert any(drawn[i] < year[i] for i in drawn)                 # a shorter period: fewer verified somewhere
    assert "areas" in m.page.locator(".ga-dq-count").inner_text()
    assert m.page.locator(".ga-dq-area-legend .ga-dq-lhead").inner_text() == "Share of customers verified within the period"
    # back to the flagged customers: the rings' box again, and the areas go
    m.page.select_option("#ga-dq-mode", "customers")
    m.page.wait_for_function("() => window.gridatlas.qualityBody !== null && window.gridatlas.qualityBody.period_days === 90")
    assert m.page.evaluate("() => window.gridatlas.qualityAreas.drawn.length") == 0
    assert m.page.locator("#ga-dq-rule").is_visible()
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == [] and m.rec.foreign() == []
