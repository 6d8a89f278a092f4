"""The customer's consultation page in Debian's Chromium (Playwright) on a phone-size screen,
against the real app over HTTP (the fixture pattern of test_map_browser.py).

A customer opens the link their notice carried, sees the plan's windows, area and reason,
prefers the other window and submits; the planner's aggregate shows it. An altered link
shows the refusal page and no data. Skipped without Chromium, failed on CI (CI=true or
GRIDATLAS_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.map_ui.serving import free_socket, root_of, serving

pytestmark = pytest.mark.browser

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
PHONE = {"width": 390, "height": 844}
FUSE = "SW000030"
W0 = {"start": "2026-12-01T09:00:00+08:00", "end": "2026-12-01T15:00:00+08:00"}
W1 = {"start": "2026-12-03T13:00:00+08:00", "end": "2026-12-03T18:00:00+08:00"}


def _chromium() -> str:
    required = os.environ.get("CI", "").strip().lower() == "true" or os.environ.get("GRIDATLAS_REQUIRE_BROWSER") == "1"

    def missing(reason: str) -> None:
        if required:
            pytest.fail(f"{reason}; a browser is required here (CI=true or GRIDATLAS_REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(f"{reason}: apt-get install chromium (and pip install playwright), or set GRIDATLAS_CHROMIUM")

    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the playwright Python package is not installed")
    explicit = os.environ.get("GRIDATLAS_CHROMIUM")
    for candidate in [explicit] if explicit else [shutil.which("chromium"), "/usr/bin/chromium"]:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    missing("no Chromium executable found")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def served(tmp_path_factory, sqlite_templates) -> Iterator[tuple[str, dict[str, str]]]:

    from api.app import create_app
    from api.settings import Settings
    from tests.api.conftest import keys_for

    path = tmp_path_factory.mktemp("consult_page") / "store.sqlite"
    shutil.copyfile(sqlite_templates["city"], path)
    url = f"sqlite:///{path}"
    keys = keys_for(url)
    sock = free_socket()
    app = create_app(Settings(database_url=url, environment="test", rate_limit_per_s=0, public_base_url=root_of(sock),
                              outbox_worker_in_serve=False))
    try:
        with serving(app, sock, name="uvicorn-consult-page") as root:
            yield root, keys
    finally:
        sock.close()


@pytest.fixture(scope="module")
def phone_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    chromium_path = _chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _phone_page(browser: Any) -> tuple[Any, list[str]]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2,
                                  locale="zh-CN", service_workers="block")
    errors: list[str] = []
    context.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).hostname == "127.0.0.1"
                  else route.abort())
    page = context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def _consult(root: str, keys: dict[str, str]) -> tuple[int, str]:
    with httpx.Client(base_url=root, headers={"Authorization": f"Bearer {keys['planner']}"}, timeout=30) as planner, \
            httpx.Client(base_url=root, headers={"Authorization": f"Bearer {keys['admin']}"}, timeout=30) as admin:
        plan = planner.post("/api/v1/plans", json={"title": "季华路配网检修", "window_start": W0["start"],
                                                   "window_end": W0["end"], "steps": [{"action": "open", "element": FUSE}]}).json()
        planner.post(f"/api/v1/plans/{plan['id']}/status", json={"status": "consulting"}).raise_for_status()
        affected = planner.get(f"/api/v1/plans/{plan['id']}/impact", params={"limit": 1, "area": "false"}).json()["customers"]
        planner.post(f"/api/v1/plans/{plan['id']}/consultation",
                     json={"accounts": affected, "windows": [W0, W1], "reason": "更换老旧变压器"}).raise_for_status()
        payload = admin.get("/api/v1/outbox", params={"plan_id": plan["id"]}).json()["data"][0]["payload"]
    link = payload.get("url") or next(w for w in payload["text"].split() if w.startswith("http"))
    return plan["id"], link


def test_a_customer_prefers_another_window_on_a_phone(served, phone_browser):
    root, keys = served
    plan_id, link = _consult(root, keys)
    assert link.startswith(root + "/c/")
    page, errors = _phone_page(phone_browser)
    page.goto(link)
    page.wait_for_selector("#plan:not([hidden])", timeout=30_000)
    assert page.text_content("#title") == "季华路配网检修"
    assert page.text_content("#reason") == "更换老旧变压器"
    assert page.text_content("#area").strip() not in ("", "—")
    windows = page.locator("#windows li").all_text_contents()
    assert windows == ["2026-12-01 09:00~15:00（首选）", "2026-12-03 13:00~18:00（备选）"]
    # fits the phone: nothing wider than the screen
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    page.locator('input[value="prefer_window"]').tap()
    page.select_option("#window", "1")
    page.locator("#submit").tap()
    page.wait_for_selector("#status.done", timeout=30_000)
    assert "已收到" in page.text_content("#status")
    # coming back shows the answer given
    page.reload()
    page.wait_for_selector("#status.done", timeout=30_000)
    assert "希望改期" in page.text_content("#status") and "2026-12-03" in page.text_content("#status")
    assert not errors, errors
    with httpx.Client(base_url=root, headers={"Authorization": f"Bearer {keys['planner']}"}, timeout=30) as planner:
        state = planner.get(f"/api/v1/plans/{plan_id}/consultation").json()
    assert state["windows"][1]["accept"] == 1 and state["windows"][0]["prefer_other"] == 1
    page.context.close()


def test_an_altered_link_shows_the_refusal_page_and_no_data(served, phone_browser):
    root, keys = served
    _, link = _consult(root, keys)
    body, sig = urlsplit(link).path.split("/")[2].split(".")
    altered = f"{root}/c/{body}.{sig[::-1]}"
    page, _ = _phone_page(phone_browser)
    response = page.goto(altered)
    assert response.status == 403
    assert page.text_content("h1") == "链接无效"
    content = page.content()
    assert "季华路配网检修" not in content and "更换老旧变压器" not in content and "2026-12" not in content
    page.context.close()
