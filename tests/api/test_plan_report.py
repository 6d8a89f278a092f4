"""The folium plan report: over real HTTP and the command line on both stores, and opened from a
file in Chromium with every network request refused (it must need none)."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from gis.db import make_engine
from gis.plans_store import create_plan
from map_ui.report import PlanReport, ReportPoint, plan_report_html
from tests.api.test_cli import run

FUSE = "SW000030"  # a fuse with 24 customers downstream in the sample city
PLAN = {"title": "报告测试 <检修>", "window_start": "2026-12-01T09:00:00+08:00", "window_end": "2026-12-01T15:00:00+08:00",
        "steps": [{"action": "open", "element": FUSE}]}
RESOURCE = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*(?:src|href)\s*=\s*["']?(?!data:)([^"' >]+)""", re.I)


def _report(**overrides) -> PlanReport:
    values = dict(
        plan_id=7, title="<script>alert(1)</script>", status="draft", plan_version=2, data_version=1,
        window_start=dt.datetime(2026, 12, 1, 9, tzinfo=dt.timezone.utc), window_end=dt.datetime(2026, 12, 1, 15, tzinfo=dt.timezone.utc),
        count=24, sensitive_count=1, customer_minutes=8640.0, transient_count=0, by_feeder={"F001": 24},
        by_transformer={"T1": 20, "T2": 4},
        area={"type": "Polygon", "coordinates": [[[113.0, 23.0], [113.01, 23.0], [113.01, 23.01], [113.0, 23.0]]]},
        steps=[{"index": 0, "action": "open", "element": "SW1", "kind": "switch", "count": 24, "lon": 113.0, "lat": 23.0}],
        transformers=[ReportPoint("T1", 113.005, 23.004, "一号配变", 20)],
        sensitive=[ReportPoint("0300100001", 113.006, 23.003, "医院")],
    )
    values.update(overrides)
    return PlanReport(**values)


def test_the_report_loads_nothing_from_elsewhere_and_escapes_what_it_shows():
    page = plan_report_html(_report())
    assert RESOURCE.findall(page) == []  # Leaflet inlined, folium's CDN links dropped
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "8,640" in page and "一号配变" in page


def _create_plan(client: httpx.Client) -> dict:
    r = client.post("/api/v1/plans", json=PLAN)
    assert r.status_code == 201, r.text
    return r.json()


def test_report_over_http(api_url):
    with httpx.Client(base_url=api_url, headers=api_url.headers("planner"), timeout=60) as planner:
        plan = _create_plan(planner)
        r = planner.get(f"/api/v1/plans/{plan['id']}/report.html")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert r.headers["content-disposition"] == f'attachment; filename="plan-{plan["id"]}-v1-report.html"'
        page = r.text
        assert RESOURCE.findall(page) == []
        assert "报告测试 &lt;检修&gt;" in page and ">24<" in page  # the customers-out figure
        assert FUSE in page
        missing = planner.get("/api/v1/plans/999999/report.html")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    with httpx.Client(base_url=api_url, headers=api_url.headers("admin"), timeout=60) as admin:
        events = admin.get("/api/v1/audit", params={"action": "export", "object_id": str(plan["id"])}).json()["data"]
        assert any(e["details"].get("format") == "html" for e in events)


def test_report_from_the_command_line(city_store_url, tmp_path):
    engine = make_engine(city_store_url)
    try:
        plan = create_plan(engine, title="命令行报告", steps=[("open", FUSE)], window_start=None, window_end=None,
                           created_by="test")
    finally:
        engine.dispose()
    out = tmp_path / "report.html"
    r = run("report", "plan", str(plan.id), str(out), db=city_store_url)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "24 customers out" in (r.stdout + r.stderr).replace("\n", " ")
    assert "命令行报告" in out.read_text(encoding="utf-8")
    r = run("report", "plan", "999999", str(tmp_path / "none.html"), db=city_store_url)
    assert r.returncode == 2 and "999999" in r.stdout + r.stderr and not (tmp_path / "none.html").exists()


@pytest.mark.browser
def test_the_report_opens_offline_and_shows_the_plans_area(tmp_path):
    from tests.map_ui.test_map_browser import LAUNCH_ARGS, _chromium_or_fail

    chromium = _chromium_or_fail()
    from playwright.sync_api import sync_playwright

    path = tmp_path / "report.html"
    path.write_text(plan_report_html(_report()), encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            refused: list[str] = []
            errors: list[str] = []

            def block(route):
                if route.request.url.startswith(("file:", "data:")):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            page.route("**/*", block)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            page.wait_for_function("typeof L !== 'undefined' && document.querySelector('path.leaflet-interactive')")
            # the shaded area lies inside the map's box, where the map projects the area's corners
            box = page.evaluate("""() => {
                const m = Object.values(window).find(v => v instanceof L.Map);
                const p = document.querySelector('path.leaflet-interactive').getBoundingClientRect();
                const c = m.getContainer().getBoundingClientRect();
                const sw = m.latLngToContainerPoint([23.0, 113.0]), ne = m.latLngToContainerPoint([23.01, 113.01]);
                return {p: [p.left - c.left, p.top - c.top, p.right - c.left, p.bottom - c.top],
                        expected: [sw.x, ne.y, ne.x, sw.y], map: [c.width, c.height]};
            }""")
            px, ex = box["p"], box["expected"]
            assert all(abs(a - b) <= 3 for a, b in zip(px, ex)), box
            assert 0 <= px[0] < px[2] <= box["map"][0] and 0 <= px[1] < px[3] <= box["map"][1], box
            assert page.text_content("dd[data-figure='0']") == "24"
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            assert refused == [] and errors == [], (refused, errors)
        finally:
            browser.close()
