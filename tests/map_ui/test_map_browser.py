"""The dispatcher map in a real browser: Chromium (Playwright) against the real app over HTTP.

A module fixture loads the committed sample city into a temporary SQLite store, serves
``api.app.create_app`` with uvicorn on 127.0.0.1 and a free port, and every test opens
``/map/`` in a fresh browser context that records console errors, failed requests and
the hosts the page talks to.

Chromium: ``GRIDATLAS_CHROMIUM``, else ``chromium`` on PATH, else /usr/bin/chromium. When
it (or the playwright package) is missing the tests are skipped — except on CI
(``CI=true``) or with ``GRIDATLAS_REQUIRE_BROWSER=1``, where they fail.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import struct
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.map_ui.serving import add_keys, free_socket, sample_city, serving

from tests.conftest import STORES, required_here

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "samples" / "foshan"
SERVICE_AREA = (112.5, 22.5, 113.6, 23.6)
_KEY: dict[str, str] = {}  # the dispatcher key the module's server accepts (set by base_url)
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}
DEFAULT_CHROMIUM = "/usr/bin/chromium"                # Debian's package
READY_TIMEOUT_MS = 30_000


# ---------------------------------------------------------------- browser availability
def _browser_required() -> bool:
    return required_here("browser")


def _chromium_or_fail() -> str:
    """Path of the Chromium to drive; skip when it is missing, fail when a browser is required."""

    def missing(reason: str) -> None:
        if _browser_required():
            pytest.fail(f"{reason}; a browser is required here (CI=true or GRIDATLAS_REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(
            f"{reason}: install it with `apt-get install chromium` (and `pip install playwright`), "
            "or point GRIDATLAS_CHROMIUM at a Chromium binary"
        )

    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the playwright Python package is not installed")
    explicit = os.environ.get("GRIDATLAS_CHROMIUM")
    candidates = [explicit] if explicit else [shutil.which("chromium"), DEFAULT_CHROMIUM]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    if explicit:
        missing(f"GRIDATLAS_CHROMIUM={explicit} is not an executable file")
    missing(f"no Chromium executable found (GRIDATLAS_CHROMIUM, chromium on PATH, {DEFAULT_CHROMIUM})")
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def chromium_path() -> str:
    return _chromium_or_fail()


@pytest.fixture(scope="module", params=STORES)
def base_url(request: pytest.FixtureRequest, chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app over the sample city, on each store, served by uvicorn in a background thread."""

    from api.app import create_app
    from api.settings import Settings

    with sample_city(request, tmp_path_factory, "map_ui") as url:
        keys = add_keys(url, {"map-ui-test": "dispatcher", "map-ui-planner": "planner", "map-ui-analyst": "analyst",
                              "map-ui-admin": "admin"})
        _KEY.update(token=keys["map-ui-test"], planner=keys["map-ui-planner"], analyst=keys["map-ui-analyst"],
                    admin=keys["map-ui-admin"])
        app = create_app(Settings(database_url=url, environment="test"))
        sock = free_socket()
        try:
            with serving(app, sock, name="uvicorn-map-ui") as root:
                yield root
        finally:
            sock.close()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Recorder:
    """What a page did: console errors, uncaught exceptions, requests and their failures."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname != "127.0.0.1":
                out.append(url)
        return out


def recorded_page(browser: Any, contexts: list, *, locale: str = "zh-CN", routes: dict[str, Any] | None = None,
                  failed_requests: Any = True) -> tuple[Any, Recorder]:
    """A page in a fresh context (appended to ``contexts`` for the caller to close) that keeps the test
    hermetic — any request off 127.0.0.1 is aborted — and records console errors, uncaught exceptions,
    every request and every HTTP ≥ 400. ``failed_requests``: record requests that failed (True), or only
    those for which it returns true (a layer that aborts superseded loads on purpose), or none (False)."""
    context = browser.new_context(viewport=VIEWPORT, locale=locale, service_workers="block")
    contexts.append(context)
    rec = Recorder()
    context.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).hostname == "127.0.0.1"
                  else route.abort())
    for pattern, handler in (routes or {}).items():
        context.route(pattern, handler)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda msg: rec.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: rec.page_errors.append(str(exc)))
    page.on("request", lambda req: rec.requests.append(req.url))
    if failed_requests:
        keep = failed_requests if callable(failed_requests) else (lambda req: True)
        page.on("requestfailed", lambda req: rec.failed.append(f"{req.url}: {req.failure}") if keep(req) else None)
    page.on("response", lambda resp: rec.failed.append(f"{resp.url}: HTTP {resp.status}") if resp.status >= 400 else None)
    return page, rec


def sign_in_with_panel(page: Any, root: str, key: str, until: str) -> None:
    """/map/ with no key, the key typed into the sign-in panel as a person does; waits for the map and ``until``."""
    page.goto(f"{root}/map/", wait_until="load")
    page.fill("#ga-key", key)
    page.press("#ga-key", "Enter")
    page.wait_for_function("() => window.gridatlas && window.gridatlas.signedIn && window.gridatlas.ready",
                           timeout=READY_TIMEOUT_MS)
    page.evaluate("() => window.gridatlas.ready")
    page.wait_for_function(f"() => {until}")


@dataclass
class MapPage:
    page: Any
    rec: Recorder
    base_url: str

    def ready(self) -> dict[str, int]:
        """Wait for window.gridatlas.ready and return the per-layer counts."""
        self.page.wait_for_function("() => Boolean(window.gridatlas && window.gridatlas.ready)", timeout=READY_TIMEOUT_MS)
        return self.page.evaluate("() => window.gridatlas.ready.then(() => Object.assign({}, window.gridatlas.counts))")


@pytest.fixture()
def open_map(browser: Any, base_url: str) -> Iterator[Any]:
    """``open_map(route=None)`` -> a MapPage on /map/ (optionally with a Playwright route installed first)."""
    contexts = []

    def _open(routes: dict[str, Any] | None = None, locale: str = "zh-CN", key: str | None = "dispatcher",
              query: str = "") -> MapPage:
        page, rec = recorded_page(browser, contexts, locale=locale, routes=routes)
        token = _KEY["token"] if key == "dispatcher" else _KEY.get(key or "", "")
        page.goto(f"{base_url}/map/{query}" + (f"#key={token}" if key else ""), wait_until="load")
        return MapPage(page, rec, base_url)

    yield _open
    for context in contexts:
        context.close()


def _api(base_url: str, path: str, body: Any = None, key: str = "token", method: str | None = None,
         headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {_KEY[key]}", "Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.load(resp)


def _manifest_counts() -> dict[str, int]:
    return json.loads((SAMPLE / "manifest.json").read_text(encoding="utf-8"))["counts"]


def _first_customer() -> str:
    with (SAMPLE / "customers.csv").open(encoding="utf-8", newline="") as fh:
        return next(csv.DictReader(fh))["account_no"]


# ---------------------------------------------------------------- a tiny PNG decoder (no Pillow)
def _png_rgb(data: bytes) -> tuple[int, int, int, list[bytearray]]:
    """(width, height, bytes per pixel, unfiltered rows) of an 8-bit RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    width = height = depth = colour = interlace = 0
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif ctype == b"IDAT":
            idat.append(chunk)
        elif ctype == b"IEND":
            break
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif kind == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 0xFF
        elif kind == 4:
            for x in range(stride):
                if x >= bpp:
                    a, b, c = line[x - bpp], prev[x], prev[x - bpp]
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                else:
                    pred = prev[x]
                line[x] = (line[x] + pred) & 0xFF
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def _png_colours(data: bytes, step: int = 1) -> tuple[int, float]:
    """(distinct RGB colours, share of the most common colour) of an 8-bit RGB/RGBA PNG."""
    width, height, bpp, rows = _png_rgb(data)
    counts: dict[bytes, int] = {}
    for y in range(0, height, step):
        line = rows[y]
        for x in range(0, width * bpp, bpp * step):
            key = bytes(line[x:x + 3])
            counts[key] = counts.get(key, 0) + 1
    total = sum(counts.values())
    return len(counts), max(counts.values()) / total


def _ink_centre(data: bytes, background: tuple[int, int, int] = (0xF3, 0xF1, 0xEC)) -> tuple[float, float] | None:
    """Centre (x, y) of the pixels of a screenshot clip that are not the map's background, or None."""
    width, height, bpp, rows = _png_rgb(data)
    sx = sy = n = 0
    for y in range(height):
        line = rows[y]
        for x in range(width):
            r, g, b = line[x * bpp:x * bpp + 3]
            if abs(r - background[0]) + abs(g - background[1]) + abs(b - background[2]) > 40:
                sx += x
                sy += y
                n += 1
    return (sx / n + 0.5, sy / n + 0.5) if n else None


# ---------------------------------------------------------------- tests
@pytest.mark.parametrize(
    ("env", "outcome"),
    [
        ({}, pytest.skip.Exception),
        ({"CI": "true"}, pytest.fail.Exception),
        ({"CI": "1"}, pytest.fail.Exception),
        ({"GRIDATLAS_REQUIRE_BROWSER": "1"}, pytest.fail.Exception),
        ({"CI": "false"}, pytest.skip.Exception),
    ],
)
def test_missing_chromium_skips_locally_and_fails_on_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], outcome: type[BaseException]
) -> None:
    for name in ("CI", "GRIDATLAS_REQUIRE_BROWSER", "GRIDATLAS_CHROMIUM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(__import__(__name__), "DEFAULT_CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(outcome) as info:
        _chromium_or_fail()
    assert "chromium" in str(info.value).lower()
    if outcome is pytest.skip.Exception:
        assert "apt-get install chromium" in str(info.value)


def _segments_by_voltage() -> tuple[set[str], set[str]]:
    import pyogrio

    frame = pyogrio.read_dataframe(SAMPLE / "grid.gpkg", layer="segments", read_geometry=False)
    lv = frame["kind"] == "lv_cable"
    return set(frame.loc[~lv, "id"]), set(frame.loc[lv, "id"])


def _dom_elements(m: MapPage) -> int:
    return m.page.evaluate("() => document.getElementsByTagName('*').length")


def test_page_draws_the_district_level_of_detail_from_tiles_only(open_map: Any) -> None:
    m = open_map()
    counts = m.ready()

    expected = _manifest_counts()
    mv, lv = _segments_by_voltage()
    zoom = m.page.evaluate("() => window.gridatlas.map.getZoom()")
    assert 15 <= zoom < 17, zoom                         # the sample city fits at district zoom
    # District level of detail: every substation, switch, 台区 and MV segment; no LV line, no meter box.
    for layer in ("substations", "switches", "transformers"):
        assert counts[layer] == expected[layer], (layer, counts[layer], expected[layer])
    drawn = m.page.evaluate(
        """() => { const g = window.gridatlas, f = g.features(), l = g.layers; return {
            segments: Array.from(f.segments.keys()), meter_boxes: f.meter_boxes.size,
            clustered: l.customers.getLayers().reduce((s, m) => s + (m.options.gaCount || 0), 0),
            switches: l.switches.getLayers().length, transformers: l.transformers.getLayers().length,
            substations: l.substations.getLayers().length, band: g.grid.band() }; }"""
    )
    assert drawn["band"] == "district"
    assert set(drawn["segments"]) == mv and not (set(drawn["segments"]) & lv)
    assert drawn["meter_boxes"] == 0
    assert drawn["switches"] == expected["switches"] and drawn["transformers"] == expected["transformers"]
    assert drawn["substations"] == expected["substations"]
    # Customers come from the viewport: at the data extent every customer is in view, as clusters.
    assert counts["customers"] == expected["customers"] and drawn["clustered"] == expected["customers"]
    viewport = m.page.evaluate("() => window.gridatlas.viewport")
    assert viewport["mode"] == "clusters" and viewport["count"] == expected["customers"] and viewport["clusters"] > 1

    # No layer is ever paged in whole: the grid comes as tiles, customers from the viewport.
    assert not [u for u in m.rec.requests if "/api/v1/layers" in u], "whole layers requested"
    tiles = [u for u in m.rec.requests if "/api/v1/tiles/grid" in u and not u.endswith("/tiles/grid")]
    # 512-px tiles: one zoom up in address, the map zoom's content (a third of the requests of 256-px tiles)
    assert tiles and all(f"/tiles/grid512/{int(zoom) - 1}/" in u for u in tiles), tiles
    assert any("/api/v1/viewport?" in u for u in m.rec.requests)

    # The view fits the grid's extent.
    west, south, east, north = m.page.evaluate(
        "() => { const b = window.gridatlas.map.getBounds(); return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }"
    )
    info = _api(m.base_url, "/api/v1/tiles/grid")
    bw, bs, be, bn = info["bounds"]
    assert west <= bw and south <= bs and east >= be and north >= bn

    status = m.page.locator(".ga-status").inner_text()
    assert "已加载" in status and "5,000" in status          # the browser asks for zh-CN
    assert m.page.locator(".ga-errors > div").count() == 0
    legend = m.page.locator(".ga-legend").inner_text()
    assert "10kV 馈线" in legend and "联络 常开" in legend and "Tie" not in legend     # one language: zh
    in_view = m.page.locator(".ga-legend [data-feeder]").evaluate_all("els => els.map(e => e.dataset.feeder)")
    assert len(in_view) == expected["feeders"]            # the whole (small) city is in view

    # Street zoom adds LV lines and meter boxes around the view; the legend lists only the feeders there.
    row = _customer_row()
    m.page.evaluate("([lon, lat]) => { window.gridatlas.map.setView([lat, lon], 20, {animate: false}); "
                    "return window.gridatlas.grid.update().then(() => true); }", [float(row["lon"]), float(row["lat"])])
    street = m.page.evaluate("() => { const f = window.gridatlas.features(); return {band: window.gridatlas.grid.band(), "
                             "lv: Array.from(f.segments.values()).filter(s => s.properties.layer === 'lv').length, "
                             "mb: f.meter_boxes.size}; }")
    assert street["band"] == "street" and street["lv"] > 0 and street["mb"] > 0
    m.page.wait_for_function("n => { const k = document.querySelectorAll('.ga-legend [data-feeder]').length; return k > 0 && k < n; }",
                             arg=expected["feeders"])

    assert _dom_elements(m) < 5000
    assert m.rec.foreign() == [], f"requests to other hosts: {m.rec.foreign()}"
    assert m.rec.failed == [], m.rec.failed
    assert m.rec.console_errors == [], m.rec.console_errors
    assert m.rec.page_errors == [], m.rec.page_errors
    vendor = [u for u in m.rec.requests if "/vendor/" in u]
    assert any(u.endswith("/vendor/leaflet/leaflet.js") for u in vendor)
    assert any(u.endswith("/map/js/main.js") for u in m.rec.requests)


def test_customer_supply_path_highlights_the_traced_segments(open_map: Any) -> None:
    m = open_map()
    m.ready()
    account = _first_customer()
    trace = _api(m.base_url, f"/api/v1/trace/customer/{account}/upstream")
    area = _api(m.base_url, f"/api/v1/customers/{account}/supply-area")
    traced_segments = [r["id"] for r in trace["path"] if r["kind"] == "segment"]
    assert traced_segments, "the sample's first customer should be supplied"

    m.page.evaluate("acct => window.gridatlas.openCustomer(acct).then(() => true)", account)
    popup = m.page.locator(f".leaflet-popup .ga-pop[data-kind=customer][data-id='{account}']")
    popup.wait_for()
    assert account in popup.inner_text()
    m.page.wait_for_function(
        "feeder => { const c = document.querySelector('.leaflet-popup .ga-feeder'); return c && c.textContent === feeder; }",
        arg=area["feeder_id"],
    )
    assert area["transformer_id"] in popup.inner_text()

    popup.locator(".ga-btn-path").click()
    m.page.wait_for_function(
        "acct => { const h = window.gridatlas.highlight; return h && h.kind === 'supply-path' && h.element.id === acct; }",
        arg=account,
    )
    assert m.page.evaluate("() => window.gridatlas.highlightedSegmentIds()") == traced_segments
    assert m.page.locator("path.ga-hl-seg").count() == len(traced_segments)   # drawn on the map
    listed = m.page.locator(".ga-panel .ga-path a").evaluate_all("els => els.map(e => e.dataset.id)")
    assert listed == [r["id"] for r in trace["path"]]
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == []


def test_switch_downstream_highlights_the_traced_transformers(open_map: Any) -> None:
    m = open_map()
    m.ready()
    switches = _api(m.base_url, "/api/v1/layers/switches?limit=5000")["features"]
    switch = next(f["id"] for f in switches if f["properties"]["kind"] == "load_switch" and not f["properties"]["normal_open"])
    down = _api(m.base_url, f"/api/v1/trace/switch/{switch}/downstream")
    assert down["transformers"]

    m.page.evaluate("id => window.gridatlas.openFeature('switches', id).then(() => true)", switch)
    popup = m.page.locator(f".leaflet-popup .ga-pop[data-kind=switch][data-id='{switch}']")
    popup.wait_for()
    assert "常闭" in popup.inner_text() and "normally" not in popup.inner_text()
    popup.locator(".ga-btn-down").click()
    m.page.wait_for_function(
        "id => { const h = window.gridatlas.highlight; return h && h.kind === 'downstream' && h.element.id === id; }",
        arg=switch,
    )
    assert sorted(m.page.evaluate("() => window.gridatlas.highlightedTransformerIds()")) == sorted(down["transformers"])
    assert m.page.evaluate("() => window.gridatlas.highlight.customers.length") == len(down["customers"])
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == []


def test_api_errors_are_shown_in_the_status_box(open_map: Any) -> None:
    problem = {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": "topology is being rebuilt"}

    def fail_traces(route: Any) -> None:
        route.fulfill(status=503, content_type="application/problem+json", body=json.dumps(problem))

    def fail_switches(route: Any) -> None:
        route.fulfill(status=500, content_type="application/problem+json",
                      body=json.dumps({"type": "about:blank", "title": "Internal Server Error", "status": 500, "detail": "boom"}))

    m = open_map({"**/api/v1/trace/**": fail_traces, "**/api/v1/tiles/grid512/1*/**": fail_switches})
    m.page.wait_for_function("() => Boolean(window.gridatlas && window.gridatlas.ready)")
    outcome = m.page.evaluate("() => window.gridatlas.ready.then(() => 'resolved', e => 'rejected: ' + e.message)")
    assert outcome.startswith("rejected") and "boom" in outcome
    errors = m.page.locator(".ga-status .ga-errors")
    assert errors.is_visible()
    assert "500 Internal Server Error: boom" in errors.inner_text()
    assert "部分加载" in m.page.locator(".ga-status").inner_text()

    account = _first_customer()
    m.page.evaluate("acct => window.gridatlas.openCustomer(acct).then(() => true)", account)
    m.page.locator(".leaflet-popup .ga-btn-path").click()
    m.page.wait_for_function("() => document.querySelector('.ga-status .ga-errors').textContent.includes('503')")
    assert "topology is being rebuilt" in errors.inner_text()
    assert m.page.evaluate("() => window.gridatlas.highlight") is None


def test_screenshot_is_a_drawn_map(open_map: Any, tmp_path: Path) -> None:
    m = open_map()
    m.ready()
    m.page.wait_for_timeout(400)                        # let marker-cluster animations settle
    png = m.page.screenshot()
    (tmp_path / "map.png").write_bytes(png)
    colours, dominant = _png_colours(png)
    assert colours > 50, f"only {colours} colours: blank map?"
    assert dominant < 0.95, f"{dominant:.0%} of the map is one colour: nothing drawn?"


# ---------------------------------------------------------------- map click, unified view, search, viewport
def _customer_row(pred: Any = None) -> dict[str, str]:
    with (SAMPLE / "customers.csv").open(encoding="utf-8", newline="") as fh:
        return next(r for r in csv.DictReader(fh) if pred is None or pred(r))


def _empty_spot_near(m: MapPage, lon: float, lat: float) -> tuple[float, float]:
    """Screen coordinates next to a lon/lat where no marker or line catches the click."""
    for dx, dy in ((6, 6), (-6, 6), (6, -6), (-6, -6), (9, 0), (0, 9), (-9, 0), (0, -9), (12, 12), (-12, 12), (12, -12), (-12, -12), (16, 0), (0, 16), (-16, 0), (0, -16)):
        xy = m.page.evaluate(
            """([lon, lat, dx, dy]) => { const g = window.gridatlas, p = g.map.latLngToContainerPoint([lat, lon]);
                const r = g.map.getContainer().getBoundingClientRect(); const x = r.left + p.x + dx, y = r.top + p.y + dy;
                const hit = document.elementFromPoint(x, y);
                if (!hit || hit.closest('.leaflet-marker-icon, .leaflet-control, .ga-view')) return null;
                if (hit.closest('.leaflet-interactive') && hit.tagName !== 'CANVAS') return null;
                const q = L.point(p.x + dx, p.y + dy);      // canvas paths: ask Leaflet whether one is hit there
                for (const group of Object.values(g.layers)) {
                  for (const l of group.getLayers()) if (l._containsPoint && l.options.interactive !== false && l._containsPoint(q)) return null;
                }
                return [x, y]; }""",
            [lon, lat, dx, dy],
        )
        if xy:
            return xy[0], xy[1]
    raise AssertionError("no empty spot next to the customer")


def test_map_click_opens_the_unified_view_of_the_nearest_customer(open_map: Any) -> None:
    m = open_map()
    m.ready()
    row = _customer_row(lambda r: r["contract_kva"] and r["phone"])
    lon, lat = float(row["lon"]), float(row["lat"])
    m.page.evaluate("([lon, lat]) => { window.gridatlas.map.setView([lat, lon], 19, {animate: false}); "
                    "return window.gridatlas.loadViewport().then(() => true); }", [lon, lat])
    assert m.page.evaluate("() => window.gridatlas.viewport.mode") == "points"
    m.page.wait_for_timeout(200)                   # the move's own (debounced) tile update, then everything drawn
    m.page.evaluate("() => Promise.all([window.gridatlas.grid.update(), window.gridatlas.loadViewport()]).then(() => true)")
    x, y = _empty_spot_near(m, lon, lat)
    m.page.mouse.click(x, y)
    panel = m.page.locator(".ga-view")
    panel.wait_for(state="visible")
    nearest = m.page.evaluate("() => window.gridatlas.nearest")
    acct = nearest["customers"][0]["account_no"]
    assert nearest["customers"][0]["distance_m"] <= nearest["radius_m"]
    m.page.wait_for_function("acct => window.gridatlas.view && window.gridatlas.view.account_no === acct", arg=acct)
    assert panel.get_attribute("data-account") == acct

    view = _api(m.base_url, f"/api/v1/customers/{acct}")
    trace = _api(m.base_url, f"/api/v1/trace/customer/{acct}/upstream")
    text = panel.inner_text()
    assert "情绪" in text and ("有电" in text or "停电" in text) and "Emotion" not in text
    chain = panel.locator(".ga-chain li").evaluate_all("els => els.map(e => [e.dataset.kind, e.dataset.id])")
    assert chain[0] == ["substation", trace["path"][-1]["id"]]
    assert chain[-1] == ["meter_box", view["supply"]["chain"]["meter_box"]["id"]]
    if view["contact"]["name"]:
        assert view["contact"]["name"] in text
    # the supply path is highlighted on the map with the engine's trace
    m.page.wait_for_function(
        "acct => { const h = window.gridatlas.highlight; return h && h.kind === 'supply-path' && h.element.id === acct; }", arg=acct)
    assert m.page.evaluate("() => window.gridatlas.highlightedSegmentIds()") == [r["id"] for r in trace["path"] if r["kind"] == "segment"]
    # the field finder
    panel.locator(".ga-finder").fill("容量")
    m.page.wait_for_function("() => (document.querySelector('.ga-view .ga-found').dataset.fields || '').includes('contract_kva')")
    assert "合同容量" in panel.locator(".ga-found").inner_text()
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == []


def test_viewport_clusters_when_zoomed_out_and_points_when_zoomed_in(open_map: Any) -> None:
    m = open_map()
    m.ready()
    out = m.page.evaluate("() => window.gridatlas.viewport")
    assert out["mode"] == "clusters" and out["count"] > out["max_points"]
    assert m.page.locator(".leaflet-marker-icon.ga-cluster").count() == out["clusters"]
    row = _customer_row()
    m.page.evaluate("([lon, lat]) => { window.gridatlas.map.setView([lat, lon], 19, {animate: false}); "
                    "return window.gridatlas.loadViewport().then(() => true); }", [float(row["lon"]), float(row["lat"])])
    inside = m.page.evaluate("() => window.gridatlas.viewport")
    assert inside["mode"] == "points" and inside["points"] == inside["count"] <= inside["max_points"]
    assert m.page.locator(".leaflet-marker-icon.ga-cluster").count() == 0
    assert m.page.evaluate("acct => window.gridatlas.customerFeatures.has(acct)", row["account_no"])
    m.page.evaluate("() => window.gridatlas.fitExtent()")       # animated: the moveend reloads the viewport
    m.page.wait_for_function("() => window.gridatlas.viewport.mode === 'clusters'")
    again = m.page.evaluate("() => window.gridatlas.viewport")
    assert again["mode"] == "clusters" and again["count"] == out["count"]
    assert not m.page.evaluate("acct => window.gridatlas.customerFeatures.has(acct)", row["account_no"])
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == []


def test_search_box_lists_ranked_results_and_opens_the_view(open_map: Any) -> None:
    m = open_map()
    m.ready()
    row = _customer_row(lambda r: len(r["name"]) == 3)
    m.page.locator(".ga-header input[type=search]").fill(row["account_no"])
    m.page.locator(".ga-header button[type=submit]").click()
    first = m.page.locator(".ga-results .ga-result-item").first
    first.wait_for()
    assert first.get_attribute("data-account") == row["account_no"]
    assert "匹配" in m.page.locator(".ga-results").inner_text()
    first.click()
    m.page.wait_for_function("acct => window.gridatlas.view && window.gridatlas.view.account_no === acct", arg=row["account_no"])
    assert m.page.locator(".ga-view").is_visible()
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == []


def test_search_box_renders_the_search_contract(open_map: Any, tmp_path: Path) -> None:
    """The UI side of GET /api/v1/search, fed a contract-shaped answer built from the sample's real rows
    (the endpoint itself is tested where it is built; the test above runs against it once merged)."""
    rows = [_customer_row(lambda r: r["account_no"].endswith("17")), _customer_row(lambda r: r["account_no"].endswith("01"))]

    def answer(route: Any) -> None:
        data = [{"account_no": r["account_no"], "name": r["name"], "address": r["address"], "phone": r["phone"],
                 "category": r["category"], "sensitivity": r["sensitivity"] or None, "transformer_id": r["transformer_id"],
                 "meter_box_id": r["meter_box_id"], "lon": float(r["lon"]), "lat": float(r["lat"]),
                 "location_quality": r["location_quality"], "matched": "name", "score": 1.0 - i / 10}
                for i, r in enumerate(rows)]
        route.fulfill(status=200, content_type="application/json",
                      body=json.dumps({"query": "x", "shape": "name", "count": len(data), "data": data, "suggestions": []}))

    m = open_map({"**/api/v1/search?*": answer})
    m.ready()
    m.page.locator(".ga-header input[type=search]").fill(rows[0]["name"])
    m.page.locator(".ga-header button[type=submit]").click()
    items = m.page.locator(".ga-results .ga-result-item")
    items.first.wait_for()
    assert items.evaluate_all("els => els.map(e => e.dataset.account)") == [r["account_no"] for r in rows]
    assert "匹配: name" in m.page.locator(".ga-results").inner_text()
    items.nth(1).click()
    m.page.wait_for_function("acct => window.gridatlas.view && window.gridatlas.view.account_no === acct", arg=rows[1]["account_no"])
    assert m.page.locator(".ga-results .ga-result-item").count() == 0
    assert m.page.evaluate("() => window.gridatlas.nearest") is None     # picking a result is not a map click
    assert m.page.locator(f".leaflet-popup .ga-pop[data-id='{rows[1]['account_no']}']").count() == 1
    m.page.screenshot(path=str(tmp_path / "view.png"))
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == []


# ---------------------------------------------------------------- drawn positions
def _icon_centre(m: MapPage, js_marker: str, arg: Any) -> dict[str, Any]:
    """Where a DOM marker is drawn (its icon's box centre, container pixels) and where its lon/lat says it is."""
    return m.page.evaluate(
        """([arg]) => { const g = window.gridatlas, mk = (""" + js_marker + """)(g, arg);
            const r = mk._icon.getBoundingClientRect(), c = g.map.getContainer().getBoundingClientRect();
            const p = g.map.latLngToContainerPoint(mk.getLatLng());
            return {drawn: [r.left + r.width / 2 - c.left, r.top + r.height / 2 - c.top], expected: [p.x, p.y],
                    latlng: [mk.getLatLng().lat, mk.getLatLng().lng]}; }""",
        [arg],
    )


def _assert_at(where: dict[str, Any], what: str) -> None:
    (dx, dy), (ex, ey) = where["drawn"], where["expected"]
    assert abs(dx - ex) <= 2 and abs(dy - ey) <= 2, f"{what} drawn at {where['drawn']}, its coordinates say {where['expected']}"


def _canvas_symbol_at(m: MapPage, group: str, lon: float, lat: float, zoom: float, tmp_path: Path, name: str) -> dict[str, Any]:
    """What a person sees of a canvas symbol: with only ``group`` shown, a screenshot of the 24×24 px
    around where lon/lat falls; the centre of its non-background pixels against latLngToContainerPoint."""
    expected = m.page.evaluate(
        """([group, lon, lat, zoom]) => { const g = window.gridatlas, map = g.map;
            map.setView([lat, lon], zoom, {animate: false});
            return Promise.all([g.grid.update(), g.loadViewport()]).then(() => {
              for (const [k, l] of Object.entries(g.layers)) { if (k === group) map.addLayer(l); else map.removeLayer(l); }
              document.querySelectorAll('.leaflet-control-container, .ga-view').forEach(e => e.style.visibility = 'hidden');
              const p = map.latLngToContainerPoint([lat, lon]), r = map.getContainer().getBoundingClientRect();
              return [p.x, p.y, r.left, r.top]; }); }""",
        [group, lon, lat, zoom],
    )
    m.page.wait_for_timeout(100)                      # let the canvas redraw after the layer changes
    x, y, left, top = expected
    half = 12
    clip = {"x": left + x - half, "y": top + y - half, "width": 2 * half, "height": 2 * half}
    png = m.page.screenshot(clip=clip)
    (tmp_path / f"{name}.png").write_bytes(png)
    centre = _ink_centre(png)
    assert centre is not None, f"nothing drawn around {name} (screenshot {tmp_path / name}.png)"
    return {"drawn": [x - half + centre[0], y - half + centre[1]], "expected": [x, y]}


def _isolated(points: list[tuple[str, float, float]], metres: float) -> tuple[str, float, float]:
    """The first point with no other point within ``metres`` (so a screenshot shows it alone)."""
    for pid, lon, lat in points:
        if all(q == pid or (abs(qlon - lon) * 102_000 > metres or abs(qlat - lat) * 111_000 > metres)
               for q, qlon, qlat in points):
            return pid, lon, lat
    raise AssertionError("no isolated point")


def test_clusters_and_customers_are_drawn_at_their_coordinates(open_map: Any, tmp_path: Path) -> None:
    """Every cluster's icon centre is at latLngToContainerPoint of the lon/lat /viewport returned (the
    clusters used to be stacked below the map by a CSS rule), and so is a single customer on the canvas."""
    m = open_map()
    m.ready()
    body = m.page.evaluate("() => window.gridatlas.viewportBody")
    assert body["mode"] == "clusters" and len(body["clusters"]) > 1
    for i, cluster in enumerate(body["clusters"]):
        where = _icon_centre(m, "(g, i) => g.viewportMarkers[i]", i)
        assert where["latlng"] == pytest.approx([cluster["lat"], cluster["lon"]], abs=1e-9)
        _assert_at(where, f"cluster {i} ({cluster['count']} customers)")
    with (SAMPLE / "customers.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh)]
    points = [(r["account_no"], float(r["lon"]), float(r["lat"])) for r in rows]
    plain = {r["account_no"] for r in rows if not r["sensitivity"]}
    acct, lon, lat = _isolated([p for p in points if p[0] in plain] + [p for p in points if p[0] not in plain], 12)
    assert acct in plain
    where = _canvas_symbol_at(m, "customers", lon, lat, 19, tmp_path, f"customer-{acct}")
    _assert_at(where, f"customer {acct}")
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == []


def test_switches_and_transformers_are_drawn_at_their_coordinates(open_map: Any, tmp_path: Path) -> None:
    m = open_map()
    m.ready()
    for layer, group in (("switches", "switches"), ("transformers", "transformers")):
        features = _api(m.base_url, f"/api/v1/layers/{layer}?limit=5000")["features"]
        fid, lon, lat = _isolated([(f["id"], *f["geometry"]["coordinates"]) for f in features], 15)
        where = _canvas_symbol_at(m, group, lon, lat, 18, tmp_path, f"{layer}-{fid}")
        _assert_at(where, f"{layer} {fid}")
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == []


# ---------------------------------------------------------------- sign-in, language
def test_sign_in_panel_takes_a_key_refuses_a_bad_one_and_signs_out(open_map: Any, tmp_path: Path) -> None:
    m = open_map(key=None)
    panel = m.page.locator(".ga-signin")
    panel.wait_for(state="visible")
    assert not [u for u in m.rec.requests if "/api/v1/" in u], "no API call before signing in"
    m.page.locator("#ga-key").fill("ga_not_a_real_key")
    m.page.locator(".ga-signin button[type=submit]").click()
    m.page.wait_for_function("() => document.querySelector('.ga-signin-msg').textContent.includes('密钥被拒绝')")
    assert panel.is_visible()
    assert m.page.evaluate("() => sessionStorage.getItem('gridatlas.apiKey')") is None
    m.page.screenshot(path=str(tmp_path / "signin-refused.png"))
    m.page.locator("#ga-key").fill(_KEY["token"])
    m.page.locator("#ga-key").press("Enter")                       # keyboard only
    m.page.wait_for_function("() => window.gridatlas.signedIn === true")
    counts = m.page.evaluate("() => window.gridatlas.ready.then(() => Object.assign({}, window.gridatlas.counts))")
    assert counts["customers"] == _manifest_counts()["customers"]
    assert not panel.is_visible()
    assert m.page.evaluate("() => sessionStorage.getItem('gridatlas.apiKey')") == _KEY["token"]
    assert _KEY["token"] not in m.page.url
    m.page.locator(".ga-signout").click()
    m.page.wait_for_function("() => { const p = document.querySelector('.ga-signin'); return p && !p.hidden; }")
    assert m.page.evaluate("() => sessionStorage.getItem('gridatlas.apiKey')") is None
    refused = [f for f in m.rec.failed if "HTTP 401" in f]
    assert refused and all("/api/v1/tiles/grid" in f for f in refused)   # only the refused key's check
    assert m.rec.page_errors == []


def test_demo_link_key_leaves_the_address_bar_and_a_401_brings_the_panel_back(open_map: Any) -> None:
    def revoked(route: Any) -> None:
        route.fulfill(status=401, content_type="application/problem+json", headers={"WWW-Authenticate": "Bearer"},
                      body=json.dumps({"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "API key revoked"}))

    m = open_map({"**/api/v1/search?*": revoked})
    m.ready()
    assert "#key=" not in m.page.url and _KEY["token"] not in m.page.url
    m.page.keyboard.press("/")                                      # keyboard: focus the search box
    assert m.page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "搜索客户"
    m.page.keyboard.type("13800000000")
    m.page.keyboard.press("Enter")
    m.page.locator(".ga-signin").wait_for(state="visible")
    assert "API key revoked" in m.page.locator(".ga-signin-msg").inner_text()
    assert m.page.evaluate("() => sessionStorage.getItem('gridatlas.apiKey')") is None
    assert m.rec.page_errors == []


def test_search_results_are_reachable_with_the_keyboard(open_map: Any) -> None:
    m = open_map()
    m.ready()
    row = _customer_row(lambda r: len(r["name"]) == 3)
    box = m.page.locator(".ga-header input[type=search]")
    box.fill(row["account_no"])
    box.press("Enter")
    m.page.locator(".ga-results .ga-result-item").first.wait_for()
    box.press("ArrowDown")
    assert m.page.evaluate("() => document.activeElement.dataset.account") == row["account_no"]
    m.page.keyboard.press("Enter")
    m.page.wait_for_function("acct => window.gridatlas.view && window.gridatlas.view.account_no === acct", arg=row["account_no"])
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == []


def test_english_when_the_browser_asks_for_it_and_the_language_switch(open_map: Any) -> None:
    m = open_map(locale="en-US")
    m.ready()
    assert "Loaded" in m.page.locator(".ga-status").inner_text()
    assert m.page.locator(".ga-header input[type=search]").get_attribute("placeholder") == "Phone, account, name, address"
    assert m.page.evaluate("() => document.documentElement.lang") == "en"
    m.page.locator(".ga-lang").click()                            # 中文
    m.page.wait_for_function("() => document.documentElement.lang === 'zh-CN' && window.gridatlas && window.gridatlas.ready")
    m.page.evaluate("() => window.gridatlas.ready.then(() => true)")
    assert "已加载" in m.page.locator(".ga-status").inner_text()      # still signed in: the key is kept in the tab
    assert m.rec.console_errors == [] and m.rec.page_errors == []


# ---------------------------------------------------------------- the planner's switching-plan editor
def _click_symbol(m: MapPage, lon: float, lat: float, zoom: float = 18) -> None:
    """Centre the map on lon/lat at ``zoom`` and click there with the mouse (the canvas symbol)."""
    xy = m.page.evaluate(
        """([lon, lat, zoom]) => { const g = window.gridatlas; g.map.setView([lat, lon], zoom, {animate: false});
            return g.grid.update().then(() => { const p = g.map.latLngToContainerPoint([lat, lon]),
              r = g.map.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }); }""",
        [lon, lat, zoom],
    )
    m.page.mouse.click(xy[0], xy[1])


def _shown_count(m: MapPage) -> int:
    return int(m.page.locator(".ga-plan .ga-plan-count").inner_text().replace(",", ""))


def _wait_impact(m: MapPage, steps: list[dict[str, str]]) -> dict[str, Any]:
    """Wait until the panel shows the impact of ``steps``; return the API's impact of the same steps."""
    api = _api(m.base_url, "/api/v1/impact?steps=true&area=false", {"steps": steps}, key="planner")
    m.page.wait_for_function(
        """n => { const c = document.querySelector('.ga-plan .ga-plan-count'); const p = window.gridatlas.planImpact;
                  return c && p && p.steps.length === n && c.textContent.replace(/,/g, '') === String(p.count); }""",
        arg=len(steps))
    return api


def test_planner_builds_saves_and_exports_a_plan_by_clicks(open_map: Any, tmp_path: Path) -> None:
    m = open_map(key="planner")
    m.ready()
    switches = _api(m.base_url, "/api/v1/layers/switches?limit=5000")["features"]
    transformers = _api(m.base_url, "/api/v1/layers/transformers?limit=5000")["features"]
    others = [(g["id"], *g["geometry"]["coordinates"]) for g in switches + transformers]

    def alone(f: dict[str, Any], metres: float = 4) -> bool:
        lon, lat = f["geometry"]["coordinates"]
        return all(q == f["id"] or abs(qlon - lon) * 102_000 > metres or abs(qlat - lat) * 111_000 > metres for q, qlon, qlat in others)

    switch = next(f for f in switches if f["properties"]["kind"] == "load_switch" and not f["properties"]["normal_open"] and alone(f)
                  and _api(m.base_url, f"/api/v1/trace/switch/{f['id']}/downstream")["customers"])
    transformer = next(f for f in transformers if alone(f, 1.5))      # each 台区 has its fuse 2 m away: 15 px at zoom 20

    m.page.locator(".ga-plan-open").click()                        # start a plan
    m.page.locator(".ga-plan").wait_for(state="visible")
    _click_symbol(m, *switch["geometry"]["coordinates"], zoom=20)   # a click opens the switch
    steps = [{"action": "open", "element": switch["id"]}]
    api = _wait_impact(m, steps)
    assert _shown_count(m) == api["count"] > 0
    assert m.page.locator(".ga-plan-sensitive").inner_text().replace(",", "") == str(api["sensitive_count"])
    assert m.page.locator("path.ga-plan-area").count() >= 1       # the shaded area
    assert m.page.locator(".leaflet-popup").count() == 0            # a pick, not a popup

    _click_symbol(m, *transformer["geometry"]["coordinates"], zoom=20)
    steps.append({"action": "out_of_service", "element": transformer["id"]})
    api = _wait_impact(m, steps)
    assert _shown_count(m) == api["count"]
    per_step = m.page.locator(".ga-plan-steps .ga-step-count").evaluate_all("els => els.map(e => e.textContent)")
    assert [int(re.sub(r"\D", "", t)) for t in per_step] == [s["count"] for s in api["steps"]]

    m.page.locator(".ga-plan-steps li").nth(0).locator(".ga-step-down").click()      # reorder
    steps = [steps[1], steps[0]]
    _wait_impact(m, steps)
    assert m.page.locator(".ga-plan-steps li").evaluate_all("els => els.map(e => e.dataset.element)") == [s["element"] for s in steps]
    m.page.locator(".ga-plan-steps li").nth(0).locator(".ga-step-remove").click()    # remove
    steps = steps[1:]
    api = _wait_impact(m, steps)
    assert _shown_count(m) == api["count"]

    # isolation: pick equipment -> ranked alternatives -> adopt the best
    m.page.locator(".ga-isolate").click()
    _click_symbol(m, *transformer["geometry"]["coordinates"], zoom=20)
    m.page.locator(".ga-plan-alts li").first.wait_for()
    iso = m.page.evaluate("() => window.gridatlas.isolation")
    assert m.page.locator(".ga-plan-alts li").count() == len(iso["alternatives"]) >= 1
    m.page.locator(".ga-plan-alts li").first.locator(".ga-adopt").click()
    best = iso["alternatives"][0]
    m.page.wait_for_function("n => window.gridatlas.planImpact && window.gridatlas.plan.state().steps.length === n && "
                             "document.querySelector('.ga-plan-alts') === null", arg=len(best["plan"].get("steps") or sum(
                                 len(best["plan"].get(a, [])) for a in ("close", "in_service", "open", "out_of_service"))))
    adopted = m.page.evaluate("() => window.gridatlas.plan.state().steps")
    api = _wait_impact(m, adopted)
    assert _shown_count(m) == api["count"] == best["impact"]["count"]

    # save, then someone else changes it: the conflict is shown, nothing is overwritten; reload
    m.page.locator(".ga-plan-title").fill("测试计划 map editor")
    m.page.locator(".ga-plan-title").dispatch_event("change")
    m.page.locator(".ga-plan-save").click()
    m.page.wait_for_function("() => window.gridatlas.plan.state().id !== null")
    saved = m.page.evaluate("() => window.gridatlas.plan.state()")
    stored = _api(m.base_url, f"/api/v1/plans/{saved['id']}", key="planner")
    assert stored["steps"] == adopted and stored["title"] == "测试计划 map editor" and stored["version"] == saved["version"]
    theirs = [{"action": "open", "element": switch["id"]}]
    _api(m.base_url, f"/api/v1/plans/{saved['id']}", {"title": "changed elsewhere", "steps": theirs}, key="planner",
         method="PUT", headers={"If-Match": f'"{saved["version"]}"'})
    _click_symbol(m, *switch["geometry"]["coordinates"], zoom=20)
    m.page.locator(".ga-plan-save").click()
    m.page.locator(".ga-plan-conflict").wait_for()
    assert _api(m.base_url, f"/api/v1/plans/{saved['id']}", key="planner")["steps"] == theirs     # not overwritten
    m.page.screenshot(path=str(tmp_path / "plan-conflict.png"))
    m.page.locator(".ga-plan-conflict button").click()
    m.page.wait_for_function("() => window.gridatlas.plan.state().title === 'changed elsewhere'")
    assert m.page.evaluate("() => window.gridatlas.plan.state().steps") == theirs

    # status, as the role allows
    m.page.locator(".ga-to-consulting").click()
    m.page.wait_for_function("() => window.gridatlas.plan.state().status === 'consulting'")
    assert _api(m.base_url, f"/api/v1/plans/{saved['id']}", key="planner")["status"] == "consulting"

    # export: downloaded with the key in a header, not in the URL
    with m.page.expect_download() as info:
        m.page.locator(".ga-export-csv").click()
    path = tmp_path / "impact.csv"
    info.value.save_as(path)
    impact = _api(m.base_url, f"/api/v1/plans/{saved['id']}/impact?limit=1", key="planner")
    lines = [line for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    assert len(lines) == impact["count"] + 1
    export_urls = [u for u in m.rec.requests if "/impact/customers.csv" in u]
    assert export_urls and not any("key=" in u for u in export_urls)
    m.page.screenshot(path=str(tmp_path / "plan.png"))
    # Chromium logs the expected 412 of the conflict itself; nothing else may be logged
    assert [e for e in m.rec.console_errors if "412 (Precondition Failed)" not in e] == [] and m.rec.page_errors == []
    assert [f for f in m.rec.failed if "412" not in f] == [], m.rec.failed


def test_city_zoom_draws_substations_and_feeder_trunks_only(open_map: Any, tmp_path: Path) -> None:
    m = open_map()
    m.ready()
    m.page.evaluate("() => { const g = window.gridatlas; g.map.setZoom(12, {animate: false}); "
                    "return Promise.all([g.grid.update(), g.loadViewport()]).then(() => true); }")
    got = m.page.evaluate("""() => { const g = window.gridatlas, f = g.features(); return {
        band: g.grid.band(), trunks: Array.from(f.trunks.keys()), segments: f.segments.size, switches: f.switches.size,
        transformers: f.transformers.size, substations: f.substations.size, viewport: g.viewport.mode,
        customers: g.layers.customers.getLayers().length + g.layers.sensitive_customers.getLayers().length }; }""")
    assert got["band"] == "city" and got["viewport"] == "none" and got["customers"] == 0
    assert got["segments"] == got["switches"] == got["transformers"] == 0
    assert got["substations"] == _manifest_counts()["substations"]
    assert len(got["trunks"]) == _manifest_counts()["feeders"]
    m.page.screenshot(path=str(tmp_path / "city.png"))
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == []


# ---------------------------------------------------------------- one language at a time; actions by role
CJK = re.compile(r"[\u3400-\u9fff]")
LATIN_WORD = re.compile(r"\b(?=[A-Za-z]*[a-z])[A-Za-z]{3,}\b")       # a word, not an id such as SUB0001


def _labels(m: MapPage, selector: str) -> list[str]:
    """The interface's own words in ``selector``: headings, table labels, buttons, section titles, chips of kinds
    (not the data: names, addresses, ids)."""
    return m.page.locator(selector).evaluate(
        """root => Array.from(root.querySelectorAll('h3, h4, th, button, .ga-kind, .ga-tag, .ga-subtitle, b, label'))
             .map(e => e.cloneNode(true)).map(e => { e.querySelectorAll('.ga-chip, [data-feeder]').forEach(c => c.remove());
                                                      return e.textContent.trim(); }).filter(Boolean)""")


def _open_popup_and_view(m: MapPage) -> tuple[list[str], list[str], dict[str, Any]]:
    switches = _api(m.base_url, "/api/v1/layers/switches?limit=5000")["features"]
    switch = next(f["id"] for f in switches if f["properties"]["kind"] == "load_switch" and not f["properties"]["normal_open"])
    m.page.evaluate("id => window.gridatlas.openFeature('switches', id).then(() => true)", switch)
    popup = m.page.locator(f".leaflet-popup .ga-pop[data-kind=switch][data-id='{switch}']")
    popup.wait_for()
    popup_labels = _labels(m, ".leaflet-popup .ga-pop")
    row = next(r for r in csv.DictReader((SAMPLE / "customers.csv").open(encoding="utf-8", newline="")) if r["sensitivity"])
    m.page.evaluate("a => window.gridatlas.openView(a).then(() => true)", row["account_no"])
    m.page.locator(f".ga-view[data-account='{row['account_no']}']").wait_for()
    m.page.wait_for_function("() => window.gridatlas.highlight && window.gridatlas.highlight.kind === 'supply-path'")
    view = _api(m.base_url, f"/api/v1/customers/{row['account_no']}")
    return popup_labels, _labels(m, ".ga-view") + _labels(m, ".ga-panel") + _labels(m, ".ga-legend"), view


def test_popup_view_trace_and_legend_speak_english_only_with_lang_en(open_map: Any, tmp_path: Path) -> None:
    m = open_map(query="?lang=en")
    m.ready()
    popup, rest, view = _open_popup_and_view(m)
    data = {view["account_no"], (view.get("contact") or {}).get("name") or "", (view.get("contact") or {}).get("address") or ""}
    for text in popup + rest:
        for value in data:                 # the customer's own data may be Chinese
            text = text.replace(value, "") if value else text
        assert not CJK.search(text), f"Chinese in an English label: {text!r}"
    assert "Normal state" in popup and "Supply path" in popup and "Downstream" in popup
    view_text = m.page.locator(".ga-view").inner_text()
    assert "Emotion:" in view_text and "Sensitivity" in view_text and "Supply" in view_text
    sens = view["profile"]["sensitivity"]
    english = {"医院": "hospital", "生命支持": "life support", "政府": "government", "重要客户": "key account", "大客户": "large account"}
    assert m.page.locator(".ga-view .ga-tag").first.inner_text() == english[sens]
    assert m.page.locator(".ga-panel h3").inner_text().startswith("Supply path · customer ")
    m.page.screenshot(path=str(tmp_path / "english.png"))
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == []


def test_popup_view_trace_and_legend_speak_chinese_with_lang_zh(open_map: Any) -> None:
    m = open_map(query="?lang=zh", locale="en-US")          # the explicit choice wins over the browser
    m.ready()
    popup, rest, view = _open_popup_and_view(m)
    for text in popup + rest:
        words = [w for w in LATIN_WORD.findall(text) if w not in {"kVA", "kV", "OpenID", "Id"}]
        assert not words, f"English in a Chinese label: {text!r}"
    assert "常态" in popup and "供电路径" in popup
    assert view["profile"]["sensitivity"] in m.page.locator(".ga-view .ga-tag").first.inner_text()
    assert m.page.locator(".ga-panel h3").inner_text().startswith("供电路径 · 客户 ")
    assert m.rec.console_errors == [] and m.rec.page_errors == [] and m.rec.failed == []


def _status_buttons(m: MapPage) -> list[str]:
    return m.page.locator(".ga-plan-actions button[class*='ga-to-']").evaluate_all(
        "els => els.map(e => Array.from(e.classList).find(c => c.startsWith('ga-to-')).slice(6))")


def test_status_buttons_offer_exactly_the_callers_next_statuses(open_map: Any, base_url: str) -> None:
    switches = _api(base_url, "/api/v1/layers/switches?limit=5000")["features"]
    switch = next(f["id"] for f in switches if f["properties"]["kind"] == "load_switch" and not f["properties"]["normal_open"])
    created = _api(base_url, "/api/v1/plans", {"title": "role-aware buttons", "steps": [{"action": "open", "element": switch}]},
                   key="planner")
    plan_id = created["id"]

    m = open_map(key="planner")
    m.ready()
    assert m.page.locator(".ga-plan-open").is_visible()
    m.page.evaluate("id => window.gridatlas.plan.load(id).then(() => true)", plan_id)
    assert _status_buttons(m) == ["consulting", "cancelled"]
    assert m.page.locator(".ga-plan-save").count() == 1
    m.page.locator(".ga-to-consulting").click()
    m.page.wait_for_function("() => window.gridatlas.plan.state().status === 'consulting'")
    assert _status_buttons(m) == ["cancelled"]                       # four eyes: the author does not approve

    a = open_map(key="admin")
    a.ready()
    a.page.evaluate("id => window.gridatlas.plan.load(id).then(() => true)", plan_id)
    assert _status_buttons(a) == ["approved", "cancelled"]

    x = open_map(key="analyst")
    x.ready()
    assert not x.page.locator(".ga-plan-open").is_visible()          # an analyst does not write plans
    x.page.evaluate("id => window.gridatlas.plan.load(id).then(() => true)", plan_id)
    x.page.locator(".ga-plan").wait_for(state="visible")
    assert _status_buttons(x) == []
    assert x.page.locator(".ga-plan-save").count() == 0
    assert x.page.locator(".ga-export-csv").count() == 1            # reading and exporting stay open to it
    for page in (m, a, x):
        assert page.rec.console_errors == [] and page.rec.page_errors == []
