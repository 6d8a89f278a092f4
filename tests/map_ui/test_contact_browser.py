"""Confirm / correct a customer's contact from the customer view, in Chromium against the real app (issue 18).

The fixtures of test_map_browser.py (the sample city on SQLite and PostGIS, uvicorn, Chromium with a
recorder of console errors and foreign requests). A dispatcher opens a stale customer, confirms it
unchanged, corrects the phone (search follows), enters an invalid phone (the field's error, nothing
saved), and meets a concurrent change (412: the conflict message, never an overwrite).
"""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

import pytest

from tests.map_ui.test_map_browser import (  # noqa: F401  (fixtures)
    SAMPLE,
    _KEY,
    _api,
    base_url,
    browser,
    chromium_path,
    open_map,
)

pytestmark = pytest.mark.browser


def _stale_customers() -> list[dict[str, str]]:
    """Sample customers with a surveyed location, a mobile and a verification older than a year."""
    cutoff = dt.date.today() - dt.timedelta(days=400)
    out = []
    with (SAMPLE / "customers.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            if (r["location_quality"] == "surveyed" and r["phone"].startswith("1") and len(r["phone"]) == 11
                    and r["contact_verified_at"] and dt.date.fromisoformat(r["contact_verified_at"]) < cutoff):
                out.append(r)
            if len(out) >= 8:
                break
    assert len(out) >= 5
    return out


STALE = _stale_customers()


def _open_view(m: Any, acct: str) -> Any:
    m.ready()
    m.page.evaluate("acct => window.gridatlas.openView(acct).then(() => true)", acct)
    panel = m.page.locator(".ga-view")
    panel.wait_for(state="visible")
    assert panel.get_attribute("data-account") == acct
    return panel


def _open_form(m: Any, panel: Any) -> Any:
    assert panel.locator(".ga-stale [data-code=contact_unverified]").count() == 1
    button = panel.locator(".ga-stale .ga-contact-open")
    assert button.inner_text() == "核实/更正"              # the browser asks for zh-CN: Chinese only
    button.focus()
    m.page.keyboard.press("Enter")                       # keyboard: Enter opens, the first field takes the focus
    form = panel.locator(".ga-contact-form")
    form.wait_for(state="visible")
    assert m.page.evaluate("() => document.activeElement.name") == "name"
    return form


def _no_errors(m: Any, expected_status: tuple[int, ...] = ()) -> None:
    failed = [f for f in m.rec.failed if not any(f.endswith(f"HTTP {s}") for s in expected_status)]
    console = [c for c in m.rec.console_errors
               if not any(f"status of {s}" in c for s in expected_status)]
    assert console == [] and m.rec.page_errors == [] and failed == [], (console, m.rec.page_errors, failed)
    assert m.rec.foreign() == []
    assert not any("key=" in u or _KEY["token"] in u for u in m.rec.requests)


def _search_accounts(base_url: str, q: str) -> list[str]:
    return [r["account_no"] for r in _api(base_url, f"/api/v1/search?q={q}")["data"]]


def test_confirm_unchanged_clears_the_prompt_and_shows_in_the_history(open_map: Any) -> None:
    acct = STALE[0]["account_no"]
    m = open_map()
    panel = _open_view(m, acct)
    form = _open_form(m, panel)
    assert form.locator("input[name=phone]").input_value() == STALE[0]["phone"]   # the current values
    assert form.locator("select[name=touchpoint]").input_value() == "call_centre"
    # Escape closes, the button opens again
    m.page.keyboard.press("Escape")
    assert panel.locator(".ga-contact-form").count() == 0
    form = _open_form(m, panel)
    form.locator("textarea[name=note]").fill("电话核对无误")
    form.locator(".ga-contact-confirm").click()
    m.page.wait_for_function("acct => window.gridatlas.contactSaved >= 1 && window.gridatlas.view.account_no === acct "
                             "&& !(window.gridatlas.view.stale || []).some(p => p.code === 'contact_unverified')", arg=acct)
    panel.locator(".ga-contact-history li").first.wait_for()
    assert panel.locator(".ga-stale [data-code=contact_unverified]").count() == 0
    assert panel.locator(".ga-contact-form").count() == 0
    history = _api(m.base_url, f"/api/v1/customers/{acct}/contact/history")["data"]
    assert history[0]["confirmed"] is True and history[0]["touchpoint"] == "call_centre"
    items = panel.locator(".ga-contact-history li")
    assert items.count() == len(history)
    first = items.first
    assert first.get_attribute("data-confirmed") == "true"
    text = first.inner_text()
    assert "确认无误" in text and "呼叫中心" in text and "dispatcher" in text and "call centre" not in text
    assert history[0]["actor"] in text and "电话核对无误" in text
    _no_errors(m)


def test_correct_the_phone_and_search_follows(open_map: Any) -> None:
    row = STALE[1]
    acct, old = row["account_no"], row["phone"]
    new = "139" + old[-8:] if not old.startswith("139") else "138" + old[-8:]
    m = open_map()
    panel = _open_view(m, acct)
    form = _open_form(m, panel)
    sent: list[dict[str, Any]] = []
    m.page.on("request", lambda r: sent.append({"headers": r.headers, "body": r.post_data_json})
              if r.method == "PATCH" else None)
    form.locator("input[name=phone]").fill(new)
    form.locator("select[name=touchpoint]").select_option("counter")
    form.locator("input[name=phone]").focus()
    m.page.keyboard.press("Enter")                       # Enter submits: 保存 Save changes
    m.page.wait_for_function("() => window.gridatlas.contactSaved >= 1")
    m.page.wait_for_function("n => window.gridatlas.view.contact.phone === n", arg=new)
    # only the changed field, with the ETag read
    assert sent[0]["body"] == {"phone": new, "touchpoint": "counter"}
    assert sent[0]["headers"]["if-match"]
    assert new in panel.inner_text()
    change = panel.locator(".ga-contact-history li").first.locator(".ga-contact-change[data-field=phone]")
    assert change.inner_text() == f"电话: {old} → {new}"
    assert "营业厅" in panel.locator(".ga-contact-history li").first.inner_text()
    assert acct in _search_accounts(m.base_url, new)
    assert acct not in _search_accounts(m.base_url, old)
    _no_errors(m)


def test_invalid_phone_names_the_field_and_saves_nothing(open_map: Any) -> None:
    acct = STALE[2]["account_no"]
    m = open_map()
    before = _api(m.base_url, f"/api/v1/customers/{acct}/contact")
    panel = _open_view(m, acct)
    form = _open_form(m, panel)
    form.locator("input[name=phone]").fill("12345")
    form.locator(".ga-contact-save").click()
    error = form.locator(".ga-field-error[data-field=phone]")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("电话: not a phone number") and "12345" in error.inner_text()
    assert form.locator("input[name=phone]").get_attribute("aria-invalid") == "true"
    assert m.page.evaluate("() => document.activeElement.name") == "phone"
    assert form.locator(".ga-field-error[data-field=phone_alt]").inner_text() == ""
    after = _api(m.base_url, f"/api/v1/customers/{acct}/contact")
    assert after["version"] == before["version"] and after["contact"] == before["contact"]
    assert _api(m.base_url, f"/api/v1/customers/{acct}/contact/history")["count"] == 0
    assert panel.locator(".ga-stale [data-code=contact_unverified]").count() == 1
    _no_errors(m, expected_status=(422,))


def test_concurrent_change_shows_the_conflict_and_never_overwrites(open_map: Any) -> None:
    row = STALE[3]
    acct = row["account_no"]
    m = open_map()
    panel = _open_view(m, acct)
    form = _open_form(m, panel)
    etag = m.page.evaluate("() => window.gridatlas.contactEtag")
    # another touchpoint changes the address in between
    _api(m.base_url, f"/api/v1/customers/{acct}/contact", {"touchpoint": "field", "address": "佛山市禅城区另一地址1号"},
         method="PATCH", headers={"If-Match": etag})
    form.locator("input[name=address]").fill("佛山市禅城区我的地址2号")
    form.locator(".ga-contact-save").click()
    conflict = form.locator(".ga-contact-conflict")
    conflict.wait_for(state="visible")
    assert "已被他人修改" in conflict.inner_text()
    assert _api(m.base_url, f"/api/v1/customers/{acct}/contact")["contact"]["address"] == "佛山市禅城区另一地址1号"
    # Reload: the view shows the other change, the form opens again with it
    conflict.locator(".ga-contact-reload").click()
    m.page.wait_for_function("() => window.gridatlas.view.contact.address === '佛山市禅城区另一地址1号'")
    panel.locator(".ga-contact-form").wait_for(state="visible")
    assert panel.locator(".ga-contact-form input[name=address]").input_value() == "佛山市禅城区另一地址1号"
    _no_errors(m, expected_status=(412,))


def test_a_role_that_may_not_edit_sees_the_history_but_no_form(open_map: Any) -> None:
    acct = STALE[0]["account_no"]                      # confirmed by the first test (same module server)
    m = open_map(key="planner")
    panel = _open_view(m, acct)
    assert m.page.evaluate("() => window.gridatlas.view.role") == "planner"
    assert panel.locator(".ga-contact-open").count() == 0
    assert panel.locator(".ga-contact-form").count() == 0
    history = _api(m.base_url, f"/api/v1/customers/{acct}/contact/history", key="planner")["data"]
    assert panel.locator(".ga-contact-history li").count() == len(history)
    # forced open (a test hook), the server refuses the change and the form says so clearly
    version = _api(m.base_url, f"/api/v1/customers/{acct}/contact")["version"]
    m.page.evaluate("() => window.gridatlas.openContactForm()")
    form = panel.locator(".ga-contact-form")
    form.locator(".ga-contact-confirm").click()
    refused = form.locator(".ga-contact-forbidden")
    refused.wait_for(state="visible")
    assert "无权修改联系方式" in refused.inner_text()
    assert _api(m.base_url, f"/api/v1/customers/{acct}/contact")["version"] == version
    _no_errors(m, expected_status=(403,))
