"""The planner's consultation loop on the map in a real browser (issue 16), on each store.

Chromium (Playwright) against the real app over HTTP, like ``test_live_browser.py`` (whose browser fixtures
this module reuses). A plan goes draft → consulting → approved → executed from the map: the planner opens it
from the plan list, moves it to consulting, reads the screening lists (counts equal the API's), sends the
consultation after a confirmation that names the number of messages (the outbox then holds exactly those),
watches replies from the customer page and the gateway arrive in the per-window tally within 1 s, reads the
recommendation (equal to the API's) and adopts it; an admin approves from their own map (four eyes), and the
planner executes. The key is typed into the sign-in panel; no console error, no request off 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import STORES
from tests.map_ui.serving import add_keys, free_socket, sample_city, serving
from tests.map_ui.test_map_browser import (  # noqa: F401  (fixtures)
    recorded_page, sign_in_with_panel, Recorder, browser, chromium_path,
)

pytestmark = pytest.mark.browser

KEYS: dict[str, str] = {}
FUSE = "SW000030"          # 24 customers downstream in the sample city
W0 = ("2026-12-01T09:00:00+08:00", "2026-12-01T15:00:00+08:00")
W1_LOCAL = ("2026-12-02T09:00", "2026-12-02T15:00")
REPLY_BUDGET_S = 1.0


@pytest.fixture(scope="module", params=STORES)
def cs_url(request: pytest.FixtureRequest, chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    """The app over the sample city with a planner, an approving admin, a gateway and an analyst key."""

    from api.app import create_app
    from api.settings import Settings

    with sample_city(request, tmp_path_factory, "consult_ui") as url:
        KEYS.update(add_keys(url, {"cs-planner": "planner", "cs-admin": "admin", "cs-gateway": "gateway",
                                   "cs-analyst": "analyst"}))
        app = create_app(Settings(database_url=url, environment="test"))
        sock = free_socket()
        try:
            with serving(app, sock, name="uvicorn-consult-ui") as root:
                yield root
        finally:
            sock.close()


@pytest.fixture()
def signed_in(browser: Any, cs_url: str) -> Iterator[Any]:  # noqa: F811
    contexts = []

    def _open(name: str) -> tuple[Any, Recorder]:
        page, rec = recorded_page(browser, contexts, failed_requests=False)
        sign_in_with_panel(page, cs_url, KEYS[name], until="window.gridatlas.me && window.gridatlas.live.status === 'open'")
        return page, rec

    yield _open
    for context in contexts:
        context.close()


def _api(root: str, path: str, key: str, body: Any = None, method: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(root + path, data=data, method=method or ("POST" if data is not None else "GET"),
                                 headers={"Authorization": f"Bearer {KEYS[key]}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def _post_plain(root: str, path: str, body: Any) -> Any:
    """As the customer's phone: no key."""
    req = urllib.request.Request(root + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def _outbox(root: str, plan_id: int) -> list[dict[str, Any]]:
    return _api(root, f"/api/v1/outbox?plan_id={plan_id}&limit=500", "cs-admin")["data"]


def _clean(rec: Recorder) -> None:
    assert rec.console_errors == [] and rec.page_errors == [] and rec.failed == [], (rec.console_errors, rec.page_errors, rec.failed)
    assert rec.foreign() == [], rec.foreign()
    assert not any(KEYS[k] in u for k in KEYS for u in rec.requests), "a key in a URL"


def _text(page: Any, selector: str) -> str:
    return page.locator(selector).inner_text().replace(",", "").strip()


def _tally(page: Any) -> dict[int, tuple[int, int, int]]:
    rows = page.locator(".ga-cs-tally tr[data-seq]").evaluate_all(
        "rs => rs.map(r => [r.dataset.seq, r.querySelector('.ga-cs-accept').textContent, "
        "r.querySelector('.ga-cs-prefer').textContent, r.querySelector('.ga-cs-object').textContent])")
    return {int(s): (int(a), int(p), int(o)) for s, a, p, o in rows}


def _shown_after(page: Any, after_epoch_s: float, expected: dict[int, tuple[int, int, int]]) -> float:
    """Seconds from ``after_epoch_s`` until the panel showed the tally ``expected`` (page clock)."""
    page.wait_for_function(
        """([after, want]) => { const a = document.querySelector('.ga-consult');
             if (!a || !(Number(a.dataset.repliesShownAt) > after * 1000)) return false;
             const got = {}; a.querySelectorAll('.ga-cs-tally tr[data-seq]').forEach((r) => {
               got[r.dataset.seq] = [r.querySelector('.ga-cs-accept').textContent, r.querySelector('.ga-cs-prefer').textContent,
                                     r.querySelector('.ga-cs-object').textContent].map(Number); });
             return JSON.stringify(got) === JSON.stringify(want); }""",
        arg=[after_epoch_s, {str(k): list(v) for k, v in expected.items()}], timeout=5_000)
    return float(page.eval_on_selector(".ga-consult", "a => a.dataset.repliesShownAt")) / 1000 - after_epoch_s


def test_the_planner_takes_a_plan_from_draft_to_executed_through_the_map(signed_in: Any, cs_url: str, tmp_path) -> None:
    plan = _api(cs_url, "/api/v1/plans", "cs-planner", {"title": "季华路 10kV 检修", "window_start": W0[0], "window_end": W0[1],
                                                        "steps": [{"action": "open", "element": FUSE}]})
    plan_id = plan["id"]
    page, rec = signed_in("cs-planner")
    assert "consultations" in page.evaluate("() => window.gridatlas.live.channels")

    # open the plan from the list; the editor and the consultation panel show it
    page.locator(".ga-consult-open").click()
    page.locator(f".ga-cs-plans li[data-plan-id='{plan_id}'] .ga-cs-pick").click()
    page.wait_for_function("id => window.gridatlas.consultation.state() && window.gridatlas.consultation.state().planId === id "
                           "&& window.gridatlas.plan.state() && window.gridatlas.plan.state().id === id", arg=plan_id)
    assert page.locator(".ga-cs-hint").is_visible()                     # a draft: nothing to send yet
    page.locator(".ga-to-consulting").click()                           # the plan editor's status button
    page.wait_for_function("() => window.gridatlas.consultation.state().plan.status === 'consulting'")

    # the screening lists: counts equal the API's, a page of customers each with the rules that chose them
    screening = _api(cs_url, f"/api/v1/plans/{plan_id}/screening", "cs-planner")
    for name in ("consult", "notify", "phone"):
        assert int(_text(page, f".ga-cs-count[data-list='{name}']")) == screening["counts"][name], name
    shown = page.locator(".ga-cs-customers tr[data-account]").evaluate_all("rs => rs.map(r => r.dataset.account)")
    assert shown == [c["account_no"] for c in screening["consult"][:20]]
    first_rules = page.locator(".ga-cs-customers tr[data-account] >> nth=0").locator(".ga-cs-rule").evaluate_all(
        "cs => cs.map(c => c.dataset.rule)")
    assert first_rules == [r["rule"] for r in screening["consult"][0]["rules"]]
    page.locator(".ga-cs-tab[data-list='notify']").click()
    page.wait_for_function("() => document.querySelector('.ga-cs-customers').dataset.list === 'notify'")
    notify_rows = page.locator(".ga-cs-customers tr[data-account]").count()
    assert notify_rows == min(20, screening["counts"]["notify"])
    if screening["counts"]["notify"] > 20:
        page.locator(".ga-cs-next").click()
        page.wait_for_function("n => document.querySelectorAll('.ga-cs-customers tr[data-account]').length === n",
                               arg=min(20, screening["counts"]["notify"] - 20))

    # send: a second candidate window, then the confirmation names exactly the messages that go out
    page.locator(".ga-cs-add-window").click()
    page.locator(".ga-cs-window[data-seq='1'] .ga-cs-start").fill(W1_LOCAL[0])
    page.locator(".ga-cs-window[data-seq='1'] .ga-cs-start").dispatch_event("change")
    page.locator(".ga-cs-window[data-seq='1'] .ga-cs-end").fill(W1_LOCAL[1])
    page.locator(".ga-cs-window[data-seq='1'] .ga-cs-end").dispatch_event("change")
    page.locator(".ga-cs-send-btn").click()
    page.locator(".ga-cs-confirm").wait_for()
    consult = {c["account_no"]: c["channel"] for c in screening["consult"]}
    assert int(_text(page, ".ga-cs-confirm-total")) == len(consult) > 0
    assert int(_text(page, ".ga-cs-confirm-wechat")) == sum(c == "wechat" for c in consult.values())
    assert int(_text(page, ".ga-cs-confirm-sms")) == sum(c == "sms" for c in consult.values())
    assert _outbox(cs_url, plan_id) == []                               # the confirmation wrote nothing
    page.screenshot(path=str(tmp_path / "consult-confirm.png"))
    page.locator(".ga-cs-confirm-send").click()
    page.locator(".ga-cs-message").wait_for()
    messages = _outbox(cs_url, plan_id)
    assert {m["account_no"]: m["channel"] for m in messages} == consult   # exactly the consult list, one each
    assert page.locator(".ga-cs-tally tr[data-seq]").count() == 2
    assert int(_text(page, ".ga-cs-consulted")) == len(consult)

    # replies: one from the customer's page, one through the gateway; each in the tally within 1 s
    links = {}
    for m in messages:
        url = m["payload"].get("url") or next(w for w in m["payload"]["text"].split() if w.startswith("http"))
        links[m["account_no"]] = urlsplit(url).path
    first, second = sorted(links)[:2]
    t0 = time.time()
    _post_plain(cs_url, links[first] + "/reply", {"reply": "prefer_window", "window": 1})
    done = time.time()
    lag = _shown_after(page, t0, {0: (0, 1, 0), 1: (1, 0, 0)})
    assert lag - (done - t0) < REPLY_BUDGET_S, lag
    t0 = time.time()
    _api(cs_url, "/api/v1/consultation/replies", "cs-gateway",
         {"key": f"consult-{plan_id}-{second}", "reply": "prefer_window", "window": 1})
    done = time.time()
    lag = _shown_after(page, t0, {0: (0, 2, 0), 1: (2, 0, 0)})
    assert lag - (done - t0) < REPLY_BUDGET_S, lag
    api_state = _api(cs_url, f"/api/v1/plans/{plan_id}/consultation", "cs-planner")
    assert {w["seq"]: (w["accept"], w["prefer_other"], w["object"]) for w in api_state["windows"]} == _tally(page)

    # the recommendation equals the API's; adopt it (window 1: nobody asked for another)
    rec_api = _api(cs_url, f"/api/v1/plans/{plan_id}/recommendation", "cs-planner")
    ranking = page.locator(".ga-cs-rank").evaluate_all(
        "rs => rs.map(r => [Number(r.dataset.rank), Number(r.dataset.alternative), Number(r.dataset.window)])")
    assert ranking == [[r["rank"], r["alternative"], r["window"]["seq"]] for r in rec_api["ranking"]]
    assert _text(page, ".ga-cs-why") == rec_api["recommended"]["why"]
    assert rec_api["recommended"]["window"]["seq"] == 1
    page.locator(".ga-cs-best .ga-cs-adopt").click()
    page.wait_for_function("() => /2026-12-02/.test(window.gridatlas.plan.state().window_start || '')")
    stored = _api(cs_url, f"/api/v1/plans/{plan_id}", "cs-planner")
    assert dt.datetime.fromisoformat(stored["window_start"]) == dt.datetime.fromisoformat("2026-12-02T09:00:00+08:00")
    assert stored["steps"] == [{"action": "open", "element": FUSE}]
    page.wait_for_function("() => /采用|Adopted/.test((document.querySelector('.ga-cs-message') || {}).textContent || '')")
    assert page.locator(".ga-cs-best .ga-cs-adopt").count() == 0        # it is the plan now

    # four eyes: an admin approves from their own map; the approval tells everyone else reachable
    admin, rec_admin = signed_in("cs-admin")
    admin.locator(".ga-consult-open").click()
    admin.locator(f".ga-cs-plans li[data-plan-id='{plan_id}'] .ga-cs-pick").click()
    admin.wait_for_function("id => window.gridatlas.plan.state() && window.gridatlas.plan.state().id === id", arg=plan_id)
    admin.locator(".ga-to-approved").click()
    admin.wait_for_function("() => window.gridatlas.plan.state().status === 'approved'")
    notices = [m for m in _outbox(cs_url, plan_id) if m["idempotency_key"].startswith("notice-")]
    reachable = {c["account_no"] for name in ("consult", "notify") for c in screening[name] if c["channel"]}
    assert {m["account_no"] for m in notices} == reachable
    _clean(rec_admin)

    # the planner executes it
    page.evaluate(f"() => window.gridatlas.plan.load({plan_id})")     # the admin's approval moved its version on
    page.locator(".ga-to-executed").click()
    page.wait_for_function("() => window.gridatlas.plan.state().status === 'executed'")
    assert _api(cs_url, f"/api/v1/plans/{plan_id}", "cs-planner")["status"] == "executed"
    transitions = _api(cs_url, f"/api/v1/plans/{plan_id}/transitions", "cs-planner")["data"]
    assert [(t["from_status"], t["to_status"]) for t in transitions] == [
        ("draft", "consulting"), ("consulting", "approved"), ("approved", "executed")]
    page.screenshot(path=str(tmp_path / "consult-executed.png"))
    _clean(rec)


def test_an_analyst_reads_the_tally_but_is_offered_no_sending_or_adopting(signed_in: Any, cs_url: str) -> None:
    plan = _api(cs_url, "/api/v1/plans", "cs-planner", {"title": "只读", "window_start": W0[0], "window_end": W0[1],
                                                        "steps": [{"action": "open", "element": FUSE}]})
    _api(cs_url, f"/api/v1/plans/{plan['id']}/status", "cs-planner", {"status": "consulting"})
    page, rec = signed_in("cs-analyst")
    page.evaluate(f"() => window.gridatlas.consultation.open({plan['id']})")
    page.locator(".ga-cs-screening").wait_for()
    assert page.locator(".ga-cs-send").count() == 0 and page.locator(".ga-cs-adopt").count() == 0
    counts = _api(cs_url, f"/api/v1/plans/{plan['id']}/screening?limit=1", "cs-analyst")["counts"]
    assert int(_text(page, ".ga-cs-count[data-list='consult']")) == counts["consult"]
    _clean(rec)
