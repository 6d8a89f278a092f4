"""The heat layer in a real browser (issue 14): a manager picks "complaints, last 3 months", sees them per 台区
relative to the customers there and which areas are statistically hot, and gets the API's own numbers.

Chromium (Playwright) against the real app over HTTP on each store, with the sample city plus a planted
cluster of complaints (four neighbouring 台区, posted through ``POST /api/v1/interactions`` two days ago) so
that the Gi* hot spots are real ones. What a person checks: the areas drawn and their rates equal
``GET /api/v1/heat`` for the filters picked in the panel; a hot spot's red outline passes through the
pixels where its vertices project; a click on an area lists the API's interactions for it (texts and
phones masked for an analyst); the heat canvas is coloured at the busiest cell and blank far from any.
Every page must make no console error, no failed request and no request off 127.0.0.1.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import STORES
from tests.map_ui.serving import add_keys, free_socket, sample_city, serving
from tests.map_ui.test_map_browser import (  # noqa: F401  (fixtures)
    READY_TIMEOUT_MS, recorded_page, SAMPLE, VIEWPORT, Recorder, _png_rgb, browser, chromium_path,
)

pytestmark = pytest.mark.browser

KEYS: dict[str, str] = {}
CST = dt.timezone(dt.timedelta(hours=8))
PLANTED_PER_AREA = 15
HOT_RGB = (0xD7, 0x19, 0x1C)       # heat_style.js HOT_COLOUR
COLD_RGB = (0x2C, 0x7B, 0xB6)


def _today() -> dt.date:
    return dt.datetime.now(CST).date()


def _three_months(today: dt.date) -> tuple[str, str]:
    """The panel's "last 3 months": from the day after today − 3 calendar months, to today (inclusive)."""
    y, m = divmod(today.month - 1 - 3, 12)
    year, month = today.year + y, m + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    start = dt.date(year, month, min(today.day, last)) + dt.timedelta(days=1)
    return start.isoformat(), today.isoformat()


def _customers() -> list[dict[str, str]]:
    with (SAMPLE / "customers.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _get(root: str, path: str, key: str = "analyst", params: dict[str, Any] | None = None) -> Any:
    url = root + path + ("?" + urllib.parse.urlencode(params) if params else "")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {KEYS[key]}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)


def _post(root: str, path: str, body: Any, key: str = "dispatcher") -> Any:
    req = urllib.request.Request(root + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {KEYS[key]}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)


def _plant_cluster(root: str) -> list[str]:
    """15 complaints in each of four neighbouring 台区 (a seed and its three nearest), two days ago."""
    today = _today()
    per: dict[str, list[str]] = {}
    for r in _customers():
        per.setdefault(r["transformer_id"], []).append(r["account_no"])
    areas = _get(root, "/api/v1/heat", params={"by": "transformer", "from": today.isoformat(), "to": today.isoformat()})["areas"]
    centre = {a["id"]: (a["lon"], a["lat"]) for a in areas}
    seed = sorted(centre)[len(centre) // 2]
    near = sorted(centre, key=lambda t: (math.dist(centre[t], centre[seed]), t))[:4]
    when = f"{today - dt.timedelta(days=2)}T10:00:00+08:00"
    records = [{"id": f"PLANT-{t}-{i}", "account_no": acct, "channel": "95598电话", "kind": "投诉", "occurred_at": when,
                "text": "投诉：一周停电三次", "caller_phone": "13800001111"}
               for t in near for i, acct in enumerate(per[t][:PLANTED_PER_AREA])]
    assert _post(root, "/api/v1/interactions", records)["inserted"] == len(records)
    return near


@pytest.fixture(scope="module", params=STORES)
def heat_url(request: pytest.FixtureRequest, chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    """The app over the sample city with a planted complaint cluster; keys for an analyst (the manager),
    a dispatcher and an agent (who may not read heat)."""
    from api.app import create_app
    from api.settings import Settings

    with sample_city(request, tmp_path_factory, "heat_ui") as url:
        keys = add_keys(url, {f"heat-{role}": role for role in ("analyst", "dispatcher", "agent")})
        KEYS.update({name.removeprefix("heat-"): token for name, token in keys.items()})
        app = create_app(Settings(database_url=url, environment="test"))
        sock = free_socket()
        try:
            with serving(app, sock, name="uvicorn-heat-ui") as root:
                KEYS["planted"] = ",".join(_plant_cluster(root))
                yield root
        finally:
            sock.close()


@pytest.fixture()
def open_heat(browser: Any, heat_url: str) -> Iterator[Any]:  # noqa: F811
    """``open_heat(role, locale)`` -> (page, recorder): /map/ signed in, the map ready."""
    contexts = []

    def _open(role: str = "analyst", locale: str = "zh-CN") -> tuple[Any, Recorder]:
        # a superseded heat load is aborted on purpose: only other failures count
        page, rec = recorded_page(browser, contexts, locale=locale,
                                  failed_requests=lambda req: "ERR_ABORTED" not in (req.failure or ""))
        page.set_default_timeout(20_000)
        page.goto(f"{heat_url}/map/#key={KEYS[role]}", wait_until="load")
        page.wait_for_function("() => window.gridatlas && window.gridatlas.ready", timeout=READY_TIMEOUT_MS)
        page.evaluate("() => window.gridatlas.ready")
        page.wait_for_function("() => window.gridatlas.me")
        return page, rec

    yield _open
    for context in contexts:
        context.close()


def _clean(rec: Recorder) -> None:
    assert rec.console_errors == [] and rec.page_errors == [] and rec.failed == [], (rec.console_errors, rec.page_errors, rec.failed)
    assert rec.foreign() == [], rec.foreign()


def _turn_on(page: Any, layer_label: str = "投诉热力") -> None:
    """Tick the heat overlay in the layer control, as a person does, and wait for the panel's first load."""
    page.locator(".leaflet-control-layers-overlays label", has_text=layer_label).locator("input").check()
    page.wait_for_selector(".ga-heat .ga-heat-kinds input")
    page.wait_for_function("() => window.gridatlas.heat.loads >= 1")


def _settle(page: Any, loads_before: int) -> None:
    """Wait for the load a UI change started (debounced moves and aborted loads included)."""
    page.wait_for_function("(n) => window.gridatlas.heat.loads > n && !document.querySelector('.ga-heat-msg').textContent",
                           arg=loads_before)


def _pick_complaints_per_taiqu(page: Any) -> None:
    """Show 台区 rates; kinds: only 投诉 (the preset stays "last 3 months")."""
    loads = page.evaluate("() => window.gridatlas.heat.loads")
    page.select_option(".ga-heat-mode", "transformer")
    for box in page.locator(".ga-heat-kinds input").all():
        if box.get_attribute("data-value") != "投诉":
            box.uncheck()
    _settle(page, loads)
    page.wait_for_function("() => window.gridatlas.heat.query.startsWith('by=transformer&') && window.gridatlas.heat.query.includes('kinds=%E6%8A%95%E8%AF%89&')")
    page.wait_for_function("() => window.gridatlas.heat.hotspots && window.gridatlas.heat.hotspots.kinds.join() === '投诉'")


def _hide_all_but(page: Any, panes: list[str]) -> None:
    """Only the named map panes stay visible (and no control): a screenshot shows just what they draw."""
    page.evaluate("""(keep) => { const m = window.gridatlas.map;
        Object.entries(m._panes).forEach(([name, el]) => { if (name !== 'mapPane' && name !== 'tilePane')
          el.style.visibility = keep.includes(name) ? 'visible' : 'hidden'; });
        document.querySelectorAll('.leaflet-control-container, .ga-heat-list').forEach(e => e.style.visibility = 'hidden'); }""",
                  panes)
    page.wait_for_timeout(150)


def test_complaints_per_taiqu_are_drawn_with_the_apis_rates(open_heat: Any) -> None:
    page, rec = open_heat("analyst")
    _turn_on(page)
    assert page.locator(".ga-heat-preset").input_value() == "3m"
    _pick_complaints_per_taiqu(page)
    frm, to = page.locator(".ga-heat-from").input_value(), page.locator(".ga-heat-to").input_value()
    assert (frm, to) == _three_months(_today())
    hook = page.evaluate("() => ({q: window.gridatlas.heat.query, drawn: window.gridatlas.heat.drawn, breaks: window.gridatlas.heat.breaks})")
    sent = dict(urllib.parse.parse_qsl(hook["q"]))
    assert (sent["by"], sent["from"], sent["to"], sent["kinds"]) == ("transformer", frm, to, "投诉") and "channels" not in sent
    same = _get(page_root(page), "/api/v1/heat", params={"by": "transformer", "from": frm, "to": to, "kinds": "投诉", "bbox": sent["bbox"]})
    city = _get(page_root(page), "/api/v1/heat", params={"by": "transformer", "from": frm, "to": to, "kinds": "投诉"})
    drawn = {d["id"]: (d["count"], d["customers"], d["rate"]) for d in hook["drawn"]}
    assert drawn == {a["id"]: (a["count"], a["customers"], a["rate"]) for a in same["areas"]}
    assert drawn == {a["id"]: (a["count"], a["customers"], a["rate"]) for a in city["areas"]}   # the whole city is in view
    assert len(drawn) == len({r["transformer_id"] for r in _customers()})
    zeros = [d for d in hook["drawn"] if d["count"] == 0]
    assert zeros and all(d["cls"] == -1 and d["colour"] == "#ffffff" for d in zeros)     # a zero is drawn, as zero
    for d in hook["drawn"]:                                          # every area in the class the legend shows for it
        if d["rate"]:
            lo = 0 if d["cls"] == 0 else hook["breaks"][d["cls"] - 1]
            assert lo < d["rate"] <= hook["breaks"][d["cls"]], d
    legend = page.locator(".ga-heat-legend .ga-heat-lrow[data-cls]")
    assert legend.count() == len(hook["breaks"]) + 1 and legend.first.inner_text().strip() == "0"
    summary = page.locator(".ga-heat-summary").inner_text()
    assert f"{len(drawn)} 个区域" in summary and f"{city['totals']['count']:,} 次诉求" in summary
    hot = _get(page_root(page), "/api/v1/hotspots", params={"by": "transformer", "from": frm, "to": to, "kinds": "投诉"})
    assert {a["id"] for a in hot["areas"] if a["hot"]} & set(KEYS["planted"].split(","))    # the planted cluster is found
    assert f"热点 {hot['hot']}" in summary
    top = sorted((a for a in city["areas"] if a["count"]), key=lambda a: (-a["rate"], a["id"]))[:5]
    items = page.locator(".ga-heat-top-item")
    assert items.evaluate_all("bs => bs.map(b => b.dataset.id)") == [a["id"] for a in top]
    items.first.focus()                                              # the keyboard's way to an area's list
    page.keyboard.press("Enter")
    page.wait_for_selector(f".ga-heat-list[data-id='{top[0]['id']}']:not([hidden])")
    assert page.locator(".ga-heat-list").get_attribute("data-count") == str(top[0]["count"])
    assert page.evaluate("() => document.getElementsByTagName('*').length") < 5000
    _clean(rec)


def page_root(page: Any) -> str:
    parts = urlsplit(page.url)
    return f"{parts.scheme}://{parts.netloc}"


def _near(rows: list[bytearray], bpp: int, x: float, y: float, rgb: tuple[int, int, int], radius: int = 2) -> bool:
    """A pixel of colour ``rgb`` (±40 per channel) within ``radius`` px of (x, y)."""
    for yy in range(round(y) - radius, round(y) + radius + 1):
        for xx in range(round(x) - radius, round(x) + radius + 1):
            if 0 <= yy < len(rows) and 0 <= xx < len(rows[0]) // bpp:
                px = rows[yy][xx * bpp:xx * bpp + 3]
                if all(abs(px[i] - rgb[i]) <= 40 for i in range(3)):
                    return True
    return False


def test_a_taiqu_keeps_its_colour_from_the_city_view_to_a_district(open_heat: Any) -> None:
    """The choropleth's classes are the whole city's (the API's ``breaks``), not those of the areas in view:
    zoomed to a district around the planted cluster, every 台区 keeps the colour it had in the city view
    (with breaks of the areas in view, a district of hot 台区 was coloured as if it were the whole city)."""
    import numpy as np

    from interactions.heat import class_breaks

    page, rec = open_heat("analyst")
    _turn_on(page)
    _pick_complaints_per_taiqu(page)
    q = dict(urllib.parse.parse_qsl(page.evaluate("() => window.gridatlas.heat.query")))
    params = {"by": "transformer", "from": q["from"], "to": q["to"], "kinds": "投诉"}
    api = _get(page_root(page), "/api/v1/heat", params=params)
    city = page.evaluate("() => ({drawn: window.gridatlas.heat.drawn, breaks: window.gridatlas.heat.breaks})")
    assert api["breaks"] and city["breaks"] == api["breaks"]
    colour = {d["id"]: d["colour"] for d in city["drawn"]}
    seed = KEYS["planted"].split(",")[0]
    centre = next(a for a in api["areas"] if a["id"] == seed)
    loads = page.evaluate("() => window.gridatlas.heat.loads")
    page.evaluate("([lat, lon]) => { window.gridatlas.map.setView([lat, lon], 17, {animate: false}); }", [centre["lat"], centre["lon"]])
    _settle(page, loads)
    page.wait_for_function("() => window.gridatlas.heat.query.includes('bbox=') && window.gridatlas.map.getZoom() === 17")
    district = page.evaluate("() => ({drawn: window.gridatlas.heat.drawn, breaks: window.gridatlas.heat.breaks, "
                             "q: window.gridatlas.heat.query})")
    ids = [d["id"] for d in district["drawn"]]
    assert seed in ids and 0 < len(ids) < len(city["drawn"])
    assert district["breaks"] == city["breaks"]
    assert {d["id"]: d["colour"] for d in district["drawn"]} == {i: colour[i] for i in ids}
    # the view's own breaks would have been other ones: this view tells the two apart
    view = _get(page_root(page), "/api/v1/heat", params={**params, "bbox": dict(urllib.parse.parse_qsl(district["q"]))["bbox"]})
    local = class_breaks(np.array([a["count"] for a in view["areas"]]), np.array([a["customers"] for a in view["areas"]]))
    assert local != city["breaks"], local
    _clean(rec)


def test_a_hot_spot_is_outlined_where_the_api_puts_it(open_heat: Any, tmp_path: Any) -> None:
    page, rec = open_heat("analyst")
    _turn_on(page)
    _pick_complaints_per_taiqu(page)
    q = dict(urllib.parse.parse_qsl(page.evaluate("() => window.gridatlas.heat.query")))
    api = _get(page_root(page), "/api/v1/hotspots", params={"by": "transformer", "from": q["from"], "to": q["to"], "kinds": "投诉",
                                                             "format": "geojson"})
    hot = [f for f in api["features"] if f["properties"]["hot"]]
    assert hot, api["inputs"]
    drawn = page.evaluate("() => window.gridatlas.heat.outlines")
    assert sorted((o["id"], o["hot"]) for o in drawn) == sorted((f["id"], f["properties"]["hot"]) for f in api["features"])
    target = hot[0]
    ring = target["geometry"]["coordinates"][0] if target["geometry"]["type"] == "Polygon" else target["geometry"]["coordinates"][0][0]
    loads = page.evaluate("() => window.gridatlas.heat.loads")
    page.evaluate("""(ring) => { window.gridatlas.map.fitBounds(ring.map(([x, y]) => [y, x]), {padding: [160, 160], animate: false}); }""", ring)
    _settle(page, loads)
    _hide_all_but(page, ["gaHeatOutline"])
    points = page.evaluate("(ring) => ring.map(([x, y]) => { const p = window.gridatlas.map.latLngToContainerPoint([y, x]); return [p.x, p.y]; })", ring)
    box = page.locator("#map").bounding_box()
    png = page.screenshot(clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"]})
    (tmp_path / "hotspot.png").write_bytes(png)
    _, _, bpp, rows = _png_rgb(png)
    missing = [p for p in points if not _near(rows, bpp, p[0], p[1], HOT_RGB)]
    assert not missing, f"no red outline within 2 px of vertices {missing} (screenshot {tmp_path / 'hotspot.png'})"
    x0, x1 = int(min(p[0] for p in points)), int(max(p[0] for p in points))
    y0, y1 = int(min(p[1] for p in points)), int(max(p[1] for p in points))
    red = sum(1 for y in range(y0, y1) for x in range(x0, x1) if _near(rows, bpp, x, y, HOT_RGB, radius=0))
    assert 0 < red < 0.15 * (x1 - x0) * (y1 - y0), "an outline, not a filled area"
    _clean(rec)


def _click_area(page: Any, area_id: str) -> None:
    """Hide the grid and customer overlays (the layer control, as a person would) and click inside the area."""
    for label in page.locator(".leaflet-control-layers-overlays label").all():
        if "热力" in label.inner_text() or "heat" in label.inner_text().lower():
            continue
        box = label.locator("input")
        if box.is_checked():
            box.uncheck()
    feature = page.evaluate("(id) => window.gridatlas.heat.body.features.find(f => f.id === id)", area_id)
    ring = feature["geometry"]["coordinates"][0]
    lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)           # a convex hull contains its vertices' mean
    lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    page.evaluate("([lat, lon]) => { window.gridatlas.map.setView([lat, lon], 17, {animate: false}); }", [lat, lon])
    page.wait_for_timeout(100)
    x, y = page.evaluate("([lat, lon]) => { const p = window.gridatlas.map.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }", [lat, lon])
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector(f".ga-heat-list[data-id='{area_id}']:not([hidden])")


def test_a_click_on_an_area_lists_its_interactions_masked_for_an_analyst(open_heat: Any) -> None:
    area = KEYS["planted"].split(",")[0]
    shown = {}
    for role, locale in (("analyst", "zh-CN"), ("dispatcher", "en-US")):
        page, rec = open_heat(role, locale)
        _turn_on(page, "投诉热力" if locale == "zh-CN" else "Complaint heat")
        _pick_complaints_per_taiqu(page)
        if locale == "en-US":
            assert page.locator(".ga-heat-kinds label", has_text="Complaint").locator("input").is_checked()
        q = dict(urllib.parse.parse_qsl(page.evaluate("() => window.gridatlas.heat.query")))
        _click_area(page, area)
        listing = page.locator(".ga-heat-list")
        params = {"from": q["from"], "to": q["to"], "kinds": "投诉", "limit": 20}
        api = _get(page_root(page), f"/api/v1/heat/areas/transformer/{area}/interactions", key=role, params=params)
        assert api["count"] >= PLANTED_PER_AREA
        assert listing.get_attribute("data-count") == str(api["count"])
        assert listing.locator(".ga-heat-count").inner_text().replace(",", "") == str(api["count"])
        assert listing.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)") == [r["id"] for r in api["data"]]
        phones = listing.locator("td.ga-heat-phone").all_inner_texts()
        shown[role] = (listing.get_attribute("data-texts"), phones, listing.locator("td.ga-heat-text").all_inner_texts())
        pager = listing.locator(".ga-heat-page").inner_text()
        assert pager == f"1–{len(api['data'])} / {api['count']}"
        if api["count"] > 20:
            listing.locator(".ga-heat-next").click()
            page.wait_for_function("() => window.gridatlas.heat.list && window.gridatlas.heat.list.offset === 20")
            second = _get(page_root(page), f"/api/v1/heat/areas/transformer/{area}/interactions", key=role, params={**params, "offset": 20})
            assert listing.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)") == [r["id"] for r in second["data"]]
        page.keyboard.press("Escape")
        assert listing.is_hidden()
        _clean(rec)
    texts, phones, cells = shown["analyst"]
    assert texts == "false" and cells == [] and phones
    assert all(re.fullmatch(r"\d{3}\*{4}\d{4}|—", p) for p in phones), phones
    assert "13800001111" not in " ".join(phones)
    texts, phones, cells = shown["dispatcher"]
    assert texts == "true" and "13800001111" in phones and "投诉：一周停电三次" in cells


def test_heat_canvas_is_hot_at_the_busiest_cell_and_blank_far_away(open_heat: Any) -> None:
    page, rec = open_heat("analyst")
    _turn_on(page)
    assert page.locator(".ga-heat-mode").input_value() == "heat"
    q = dict(urllib.parse.parse_qsl(page.evaluate("() => window.gridatlas.heat.query")))
    assert q["by"] == "cell" and "kinds" not in q and "channels" not in q
    api = _get(page_root(page), "/api/v1/heat", params={k: q[k] for k in ("by", "from", "to", "bbox", "zoom")})
    assert page.evaluate("() => window.gridatlas.heat.drawn.length") == len(api["areas"])   # every cell clickable
    busiest = max(api["areas"], key=lambda a: a["count"])
    assert busiest["count"] > 0
    page.wait_for_timeout(100)                                       # Leaflet.heat draws on the next frame
    probe = page.evaluate("""([lat, lon]) => { const g = window.gridatlas, c = g.heat.heatCanvas();
        const p = g.map.latLngToContainerPoint([lat, lon]), ctx = c.getContext('2d');
        const alpha = (x, y) => { const d = ctx.getImageData(Math.round(x) - 2, Math.round(y) - 2, 5, 5).data; let m = 0;
          for (let i = 3; i < d.length; i += 4) m = Math.max(m, d[i]); return m; };
        return {pane: c.parentElement === g.map.getPane('gaHeat'), size: [c.width, c.height], at: alpha(p.x, p.y),
                corner: alpha(6, c.height - 6)}; }""", [busiest["lat"], busiest["lon"]])
    assert probe["pane"] and probe["size"] == [VIEWPORT["width"], VIEWPORT["height"]]
    assert probe["at"] > 100, probe
    corner = page.evaluate("() => window.gridatlas.map.containerPointToLatLng([6, window.gridatlas.map.getSize().y - 6])")
    nearest_km = min(math.dist((a["lon"] * 102, a["lat"] * 111), (corner["lng"] * 102, corner["lat"] * 111)) for a in api["areas"] if a["count"])
    if nearest_km > 0.5:
        assert probe["corner"] == 0, probe
    _clean(rec)


def test_a_role_that_may_not_read_heat_is_not_offered_the_layer(open_heat: Any) -> None:
    page, rec = open_heat("agent")
    labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert labels and not any("热力" in label for label in labels)
    page, rec2 = open_heat("analyst")
    assert any("投诉热力" in label for label in page.locator(".leaflet-control-layers-overlays label").all_inner_texts())
    _clean(rec)
    _clean(rec2)


def test_the_panel_never_runs_under_the_scale_and_status_line(open_heat: Any) -> None:
    """The panel's height follows the room the top-left corner leaves (a search result list opens above
    it); it scrolls instead of covering the scale and the status line at the bottom."""
    page, rec = open_heat("dispatcher")
    _turn_on(page)
    gap = """() => { const r = document.querySelector('.ga-heat').getBoundingClientRect();
        const below = [...document.querySelector('.leaflet-bottom.leaflet-left').children]
          .map((e) => e.getBoundingClientRect()).filter((b) => b.height > 0);
        return {top: r.top, bottom: r.bottom, below: Math.min(...below.map((b) => b.top))}; }"""
    before = page.evaluate(gap)
    assert before["bottom"] <= before["below"], before
    page.fill(".ga-search input", "03001000")             # an account prefix: a list of results opens above the panel
    page.keyboard.press("Enter")
    page.wait_for_selector(".ga-result-item")
    page.wait_for_timeout(100)                            # the ResizeObserver runs before the next frame
    after = page.evaluate(gap)
    assert after["top"] > before["top"] + 100, (before, after)  # the results pushed the panel down…
    assert after["bottom"] <= after["below"], (before, after)   # …and it still ends above the scale
    _clean(rec)
