"""The data-quality layer in Chromium against the real app, on both stores (issue 18).

A person turns the layer on in the layer control: the count the filter box shows and the clusters'
numbers equal what /api/v1/data-quality/viewport answers for the same view, every cluster sits where
its coordinates say; filtering by rule changes the count to the API's; at street zoom a flagged
customer's ring is drawn at latLngToContainerPoint (±2 px, from a screenshot) and clicking it opens
that account's customer view.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_data_quality_http import _expected_flags
from tests.map_ui.test_map_browser import (  # noqa: F401  (fixtures)
    _api,
    _assert_at,
    _icon_centre,
    _ink_centre,
    _isolated,
    base_url,
    browser,
    chromium_path,
    open_map,
)

pytestmark = pytest.mark.browser


def _turn_on(m: Any) -> dict[str, Any]:
    m.ready()
    label = m.page.locator(".leaflet-control-layers-overlays label", has_text="客户数据质量")
    label.locator("input").check()
    m.page.locator(".ga-dq").wait_for(state="visible")
    m.page.wait_for_function("() => window.gridatlas.qualityBody !== null")
    return m.page.evaluate("() => window.gridatlas.qualityBody")


def _api_for(m: Any, body: dict[str, Any], **extra: str) -> dict[str, Any]:
    params = {"bbox": ",".join(f"{v:.6f}" for v in body["bbox"]), "zoom": body["zoom"], **extra}
    return _api(m.base_url, "/api/v1/data-quality/viewport?" + urllib.parse.urlencode(params))


def _shown_count(m: Any) -> int:
    return int(m.page.locator(".ga-dq-count").get_attribute("data-count"))


def test_counts_and_clusters_equal_the_api_and_sit_at_their_coordinates(open_map: Any) -> None:
    m = open_map()
    body = _turn_on(m)
    api = _api_for(m, body)
    assert body["mode"] == "clusters" and api["mode"] == "clusters"
    assert api["count"] > 0 and _shown_count(m) == api["count"]
    assert "户有问题" in m.page.locator(".ga-dq-count").inner_text()
    drawn = m.page.locator(".ga-dq-cluster")
    assert drawn.count() == len(api["clusters"])
    shown = sorted(int(t.replace(",", "")) for t in drawn.all_inner_texts())
    assert shown == sorted(c["count"] for c in api["clusters"]) and sum(shown) == api["count"]
    for i, cluster in enumerate(body["clusters"]):
        where = _icon_centre(m, "(g, i) => g.qualityClusters[i]", i)
        assert where["latlng"] == pytest.approx([cluster["lat"], cluster["lon"]], abs=1e-9)
        _assert_at(where, f"data-quality cluster {i} ({cluster['count']})")

    # a person picks a rule: the count becomes the API's for that rule
    m.page.select_option("#ga-dq-rule", "conflicting")
    m.page.wait_for_function("() => window.gridatlas.qualityBody && window.gridatlas.qualityBody.rule === 'conflicting'")
    body = m.page.evaluate("() => window.gridatlas.qualityBody")
    api = _api_for(m, body, rule="conflicting")
    assert 0 < api["count"] < _api_for(m, body)["count"]
    assert _shown_count(m) == api["count"] == int(_expected_flags(365)["conflicting_phone"].sum())
    assert m.page.locator("#ga-dq-field option").all_inner_texts() == ["全部字段", "电话"]
    # the layer off: its box and marks go
    m.page.locator(".leaflet-control-layers-overlays label", has_text="客户数据质量").locator("input").uncheck()
    assert m.page.locator(".ga-dq").count() == 0 and m.page.locator(".ga-dq-cluster").count() == 0
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == [] and m.rec.foreign() == []


def test_a_flagged_customer_is_drawn_at_its_coordinates_and_opens_its_view(open_map: Any, tmp_path: Path) -> None:
    flags = _expected_flags(365)
    conflicting = flags[flags["conflicting_phone"]]
    acct, lon, lat = _isolated([(r.account_no, float(r.lon), float(r.lat)) for r in conflicting.itertuples()], 15)
    m = open_map()
    _turn_on(m)
    m.page.select_option("#ga-dq-rule", "conflicting")
    x, y, left, top = m.page.evaluate(
        """([lon, lat]) => { const g = window.gridatlas, map = g.map;
            map.setView([lat, lon], 19, {animate: false});
            return g.loadQuality().then(() => {
              for (const [k, l] of Object.entries(g.layers)) { if (k !== 'data_quality') map.removeLayer(l); }
              document.querySelectorAll('.leaflet-control-container, .ga-view').forEach(e => e.style.visibility = 'hidden');
              const p = map.latLngToContainerPoint([lat, lon]), r = map.getContainer().getBoundingClientRect();
              return [p.x, p.y, r.left, r.top]; }); }""",
        [lon, lat],
    )
    body = m.page.evaluate("() => window.gridatlas.qualityBody")
    assert body["mode"] == "points" and body["rule"] == "conflicting"
    point = next(p for p in body["points"] if p["account_no"] == acct)
    assert "conflicting:phone" in point["findings"] and (point["lon"], point["lat"]) == (lon, lat)
    assert m.page.evaluate("a => window.gridatlas.qualityMarkers.has(a)", acct)
    m.page.wait_for_timeout(100)                     # the canvas redraws after the layers change
    half = 14
    png = m.page.screenshot(clip={"x": left + x - half, "y": top + y - half, "width": 2 * half, "height": 2 * half})
    (tmp_path / f"dq-{acct}.png").write_bytes(png)
    centre = _ink_centre(png)
    assert centre is not None, f"no ring drawn around {acct} (screenshot {tmp_path}/dq-{acct}.png)"
    _assert_at({"drawn": [x - half + centre[0], y - half + centre[1]], "expected": [x, y]}, f"ring of {acct}")

    # a person clicks the ring: the customer view of that account opens
    m.page.evaluate("() => document.querySelectorAll('.ga-view').forEach(e => e.style.visibility = '')")
    before = len(m.rec.requests)
    m.page.mouse.click(left + x + 5, top + y)        # on the ring's stroke, not its centre
    panel = m.page.locator(".ga-view")
    panel.wait_for(state="visible")
    m.page.wait_for_function("a => document.querySelector('.ga-view').getAttribute('data-account') === a", arg=acct)
    assert m.page.evaluate("() => window.gridatlas.view.account_no") == acct
    # the ring took the click: the map's own click (nearest customer) did not run
    assert not any("/api/v1/nearest" in u for u in m.rec.requests[before:])
    assert any(f"/api/v1/customers/{acct}" in u for u in m.rec.requests[before:])
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == [] and m.rec.foreign() == []
