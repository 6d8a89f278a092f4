"""Live events on the map in a real browser (issues 15 and 18): alert notices and the incoming-call pop-up.

Chromium (Playwright) against the real app over HTTP, on each store, like ``test_map_browser.py``
(whose browser fixtures and recorder this module reuses). The key is typed into the sign-in panel,
never put in a URL; every page must make no console error and no request off 127.0.0.1.
"""

from __future__ import annotations

import csv
import json
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.map_ui.serving import add_keys, free_socket, sample_city, serving

from tests.conftest import STORES
from tests.map_ui.test_map_browser import (  # noqa: F401  (fixtures)
    READY_TIMEOUT_MS, recorded_page, sign_in_with_panel, SAMPLE, Recorder, browser, chromium_path,
)

pytestmark = pytest.mark.browser

KEYS: dict[str, str] = {}
NOTICE_BUDGET_S = 1.0


@pytest.fixture(scope="module", params=STORES)
def live_url(request: pytest.FixtureRequest, chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    """The app over the sample city with a dispatcher, two agents and the telephony system's key."""

    from api.app import create_app
    from api.settings import Settings

    with sample_city(request, tmp_path_factory, "live_ui") as url:
        KEYS.update(add_keys(url, {"live-dispatcher": "dispatcher", "agent-A": "agent", "agent-B": "agent", "switch": "telephony", "live-planner": "planner", "live-analyst": "analyst"}))
        app = create_app(Settings(database_url=url, environment="test"))
        sock = free_socket()
        try:
            with serving(app, sock, name="uvicorn-live-ui") as root:
                yield root
        finally:
            sock.close()


@pytest.fixture()
def signed_in(browser: Any, live_url: str) -> Iterator[Any]:  # noqa: F811
    """``signed_in(key_name)`` -> (page, recorder): /map/ in a fresh context, the key typed into the sign-in panel,
    the map ready and the live stream open."""
    contexts = []

    def _open(name: str) -> tuple[Any, Recorder]:
        page, rec = recorded_page(browser, contexts, failed_requests=False)
        sign_in_with_panel(page, live_url, KEYS[name], until="window.gridatlas.live.status === 'open'")
        return page, rec

    yield _open
    for context in contexts:
        context.close()


def _api(root: str, path: str, key: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(root + path, data=data, method="POST" if data is not None else "GET",
                                 headers={"Authorization": f"Bearer {KEYS[key]}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def _customers() -> list[dict[str, str]]:
    with (SAMPLE / "customers.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _clean(page: Any, rec: Recorder) -> None:
    assert rec.console_errors == [] and rec.page_errors == [] and rec.failed == [], (rec.console_errors, rec.page_errors, rec.failed)
    assert rec.foreign() == [], rec.foreign()
    assert not any(KEYS[k] in u for k in KEYS for u in rec.requests), "a key in a URL"


def _shown_within(page: Any, selector: str, after_epoch_s: float) -> float:
    """Seconds from ``after_epoch_s`` (the POST's return) to the element's ``data-shown-at`` (page clock)."""
    page.wait_for_selector(selector, timeout=5_000)
    shown_ms = float(page.eval_on_selector(selector, "e => e.dataset.shownAt"))
    return shown_ms / 1000 - after_epoch_s


def test_an_alert_ingested_while_the_map_is_open_shows_its_notice_and_resolves_from_it(signed_in: Any, live_url: str) -> None:
    page, rec = signed_in("live-dispatcher")
    customer = _customers()[3]
    msg_id = f"LIVE{uuid.uuid4().hex[:10]}"
    ingest = _api(live_url, "/api/v1/interactions", "live-dispatcher", {
        "id": msg_id, "channel": "微信", "kind": "投诉", "occurred_at": "2026-12-06T09:30:00+08:00",
        "text": "又停电了，我要找电视台曝光你们", "account_no": customer["account_no"]})
    posted = time.time()
    assert ingest["inserted"] == 1, ingest
    alerts = _api(live_url, f"/api/v1/alerts?account_no={customer['account_no']}", "live-dispatcher")["data"]
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    selector = f".ga-notice[data-alert-id='{alert['id']}']"
    delay = _shown_within(page, selector, posted)
    assert delay <= NOTICE_BUDGET_S, f"the notice came {delay:.2f} s after the POST returned"
    notice = page.locator(selector)
    assert notice.locator(".ga-acct").inner_text() == customer["account_no"]
    assert notice.locator(".ga-ta").inner_text() == customer["transformer_id"]
    assert notice.locator(".ga-cat").inner_text() == alert["category"] == "媒体曝光"
    assert page.locator(".ga-notice").count() == 1

    notice.locator(".ga-notice-head").click()                      # the message, matched words highlighted
    assert notice.locator(".ga-msg").inner_text() == "又停电了，我要找电视台曝光你们"
    assert "曝光" in notice.locator("mark").all_inner_texts()
    page.wait_for_function("(a) => { const p = document.querySelector('.leaflet-popup-content');"
                           " return p && p.textContent.includes(a); }", arg=customer["account_no"])  # flown to the customer
    notice.locator(".ga-resolve").click()                           # a note is needed
    assert notice.locator(".ga-notice-msg").inner_text() == "处理完成需填写处理说明。"
    # a live update of the alert arriving while the note is typed rebuilds the notice: the keyboard
    # stays in the note and the words typed so far are kept
    notice.locator(".ga-note").click()
    page.keyboard.type("已回访")
    page.evaluate("(s) => { window.__oldHead = document.querySelector(s + ' .ga-notice-head'); }", selector)
    page.evaluate("(id) => window.gridatlas.showAlert(id)", alert["id"])
    page.wait_for_function("(s) => document.querySelector(s + ' .ga-notice-head') !== window.__oldHead", arg=selector)
    assert page.evaluate("() => document.activeElement.classList.contains('ga-note')")
    assert notice.locator(".ga-note").input_value() == "已回访"
    page.keyboard.type("，客户表示理解")
    assert notice.locator(".ga-note").input_value() == "已回访，客户表示理解"
    notice.locator(".ga-resolve").click()
    page.wait_for_selector(f"{selector}[data-state='resolved']")
    stored = _api(live_url, f"/api/v1/alerts/{alert['id']}", "live-dispatcher")
    assert (stored["state"], stored["note"]) == ("resolved", "已回访，客户表示理解")
    notice.locator(".ga-notice-head").focus()                       # Escape closes the notice the keyboard is in
    page.keyboard.press("Escape")
    page.wait_for_selector(selector, state="detached", timeout=2_000)
    assert page.locator(".ga-notice").count() == 0 and page.evaluate("() => window.gridatlas.notices.size") == 0
    _clean(page, rec)


def test_an_incoming_call_opens_the_customer_on_its_agents_map_only(signed_in: Any, live_url: str) -> None:
    rows = _customers()
    phones = Counter(p for r in rows for p in (r["phone"], r["phone_alt"]) if p)
    customer = next(r for r in rows if r["sensitivity"] == "医院" and r["phone"] and phones[r["phone"]] == 1)
    page_a, rec_a = signed_in("agent-A")
    page_b, rec_b = signed_in("agent-B")
    planner, rec_p = signed_in("live-planner")                   # may follow neither: no 403, an idle stream
    call_id = f"c-{uuid.uuid4().hex[:12]}"
    announced = _api(live_url, "/api/v1/calls/incoming", "switch",
                     {"caller_number": customer["phone"], "agent_id": "agent-A", "call_id": call_id})
    posted = time.time()
    assert (announced["resolution"], announced["account_no"], announced["key_customer"]) == ("customer", customer["account_no"], True)

    page_a.wait_for_function("(a) => { const v = document.querySelector('.ga-view');"
                             " return v && !v.hidden && v.dataset.account === a; }", arg=customer["account_no"], timeout=5_000)
    opened = (
        float(page_a.wait_for_selector(".ga-call[data-view-at]").get_attribute("data-view-at")) / 1000 - posted)
    assert opened <= NOTICE_BUDGET_S, f"the caller's view opened {opened:.2f} s after the POST returned"
    banner = page_a.locator(".ga-call")
    assert banner.is_visible() and banner.get_attribute("data-call-id") == call_id
    assert banner.locator(".ga-call-acct").inner_text() == customer["account_no"]
    assert banner.locator(".ga-caller").inner_text() == customer["phone"]     # agents see personal data unmasked
    assert "重点客户" in banner.locator(".ga-key-flag").inner_text() and "医院" in banner.locator(".ga-key-flag").inner_text()
    page_a.wait_for_function("(c) => window.gridatlas.map.getBounds().contains(L.latLng(c[1], c[0]))",
                             arg=[float(customer["lon"]), float(customer["lat"])])      # the map is on the customer

    banner.locator(".ga-call-kind").select_option("报修")
    banner.locator(".ga-call-text").fill("客户报修：家中无电")
    banner.locator(".ga-call-submit").click()
    banner.locator(".ga-call-closed").wait_for()
    stored = _api(live_url, f"/api/v1/calls/{call_id}", "agent-A")
    assert stored["status"] == "closed" and stored["interaction_id"], stored

    time.sleep(1.0)                                                # B and the planner: nothing, even later
    for page in (page_b, planner):
        assert page.locator(".ga-call").is_hidden()
        assert page.evaluate("() => window.gridatlas.call") is None
        assert page.locator(".ga-view").is_hidden()
    # the channels each role may follow, whatever order the map's modules registered them in
    assert sorted(page_b.evaluate("() => window.gridatlas.live.channels")) == ["alerts", "calls", "trouble_calls"]
    # planners do not read alerts nor take calls; they read /trouble-calls and follow consultation replies
    assert sorted(planner.evaluate("() => window.gridatlas.live.channels")) == ["consultations", "trouble_calls"]
    for page, rec in ((page_a, rec_a), (page_b, rec_b), (planner, rec_p)):
        _clean(page, rec)


def test_the_stream_resumes_with_last_event_id_after_a_drop(signed_in: Any, live_url: str) -> None:
    page, rec = signed_in("agent-B")
    connects = page.evaluate("() => window.gridatlas.live.connects")
    page.evaluate("() => window.gridatlas.liveControl.stop()")
    page.wait_for_function("() => window.gridatlas.live.status === 'closed'")
    call_id = f"c-{uuid.uuid4().hex[:12]}"                       # published while the map is away
    _api(live_url, "/api/v1/calls/incoming", "switch",
         {"caller_number": "13000000000", "agent_id": "agent-B", "call_id": call_id})
    time.sleep(0.5)
    assert page.evaluate("() => window.gridatlas.call") is None
    page.evaluate("() => window.gridatlas.liveControl.start()")   # as after a drop: Last-Event-ID = the last seen
    page.wait_for_function("(c) => window.gridatlas.call && window.gridatlas.call.call_id === c", arg=call_id, timeout=10_000)
    assert page.evaluate("() => window.gridatlas.live.connects") == connects + 1
    assert page.locator(".ga-call-unknown").inner_text() == "未知来电"
    _clean(page, rec)


def test_a_shared_number_offers_the_candidates_to_pick(signed_in: Any, live_url: str) -> None:
    rows = _customers()
    phones = Counter(p for r in rows for p in (r["phone"], r["phone_alt"]) if p)
    number = next(p for p, n in phones.items() if n == 2)
    sharing = sorted(r["account_no"] for r in rows if number in (r["phone"], r["phone_alt"]))
    page, rec = signed_in("agent-A")
    call_id = f"c-{uuid.uuid4().hex[:12]}"
    announced = _api(live_url, "/api/v1/calls/incoming", "switch",
                     {"caller_number": number, "agent_id": "agent-A", "call_id": call_id})
    assert announced["resolution"] == "candidates" and announced["candidate_count"] == 2
    page.wait_for_selector(".ga-call[data-resolution='candidates'] .ga-cand")
    offered = sorted(page.eval_on_selector_all(".ga-cand", "bs => bs.map(b => b.dataset.account)"))
    assert offered == sharing
    assert page.locator(".ga-view").is_hidden()                   # nothing opened before the agent picks
    page.locator(f".ga-cand[data-account='{sharing[1]}']").click()
    page.wait_for_function("(a) => { const v = document.querySelector('.ga-view');"
                           " return v && !v.hidden && v.dataset.account === a; }", arg=sharing[1])
    assert page.locator(".ga-cand.ga-chosen").get_attribute("data-account") == sharing[1]
    _clean(page, rec)


def test_a_role_that_does_not_see_texts_gets_the_count_in_english(signed_in: Any, live_url: str, browser: Any) -> None:  # noqa: F811
    page, rec = signed_in("live-analyst")
    page.evaluate("() => { localStorage.setItem('gridatlas.lang', 'en'); }")
    page.reload(wait_until="load")                                 # the key stays in this tab's sessionStorage
    page.wait_for_function("() => window.gridatlas && window.gridatlas.ready && window.gridatlas.live.status === 'open'",
                           timeout=READY_TIMEOUT_MS)
    customer = _customers()[7]
    _api(live_url, "/api/v1/interactions", "live-dispatcher", {
        "id": f"LIVE{uuid.uuid4().hex[:10]}", "channel": "微信", "kind": "投诉", "occurred_at": "2026-12-06T10:30:00+08:00",
        "text": "再停电就找记者曝光", "account_no": customer["account_no"]})
    notice = page.locator(".ga-notice").first
    notice.wait_for(timeout=5_000)
    assert notice.locator(".ga-acct").inner_text() == customer["account_no"]
    notice.locator(".ga-notice-head").click()
    alert = _api(live_url, f"/api/v1/alerts?account_no={customer['account_no']}", "live-dispatcher")["data"][0]
    words = _api(live_url, f"/api/v1/alerts/{alert['id']}", "live-analyst")["messages"][0]["words"]
    masked = notice.locator(".ga-msg.ga-masked").inner_text()
    assert masked == f"Matched words {words} · messages 1" and words >= 1
    assert "再停电" not in notice.inner_text() and notice.locator("mark").count() == 0
    _clean(page, rec)
