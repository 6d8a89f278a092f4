"""The trouble-call layer (issue 15) in a real browser, on each store.

Faults are planted through the API: repair calls (报修) from customers under one transformer, calls
spread over the branches of one feeder-section switch (load switch), plus noise (a lone call elsewhere
and a caller no customer matches). The dispatcher opens the layer's panel (last hour), and the test
checks what a person checks: as many device markers as the API's predictions, each at the pixel where
the map projects the device's lon/lat (±2 px), the list's device ids and call counts, a click that flies
to the device, the layer refreshing by itself when a new call is ingested, another window preset; an
analyst gets the calls at their 台区 points, never at a caller's house.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import STORES
from tests.map_ui.serving import add_keys, free_socket, sample_city, serving
from tests.map_ui.test_map_browser import (  # noqa: F401  (fixtures)
    recorded_page, sign_in_with_panel, SAMPLE, Recorder, browser, chromium_path,
)

pytestmark = pytest.mark.browser

KEYS: dict[str, str] = {}
CST = dt.timezone(dt.timedelta(hours=8))
PLANTED: dict[str, Any] = {}


def _plant(url: str) -> dict[str, Any]:
    """Choose the faults on the compiled sample city: a transformer (3 calls of its customers) and a load
    switch whose calls, one per branch, no device below it explains (checked with the analysis itself),
    on another feeder; a lone call elsewhere. Returns the calls and the expected devices."""
    from api.state import load_snapshot
    from gis.db import make_engine
    from interactions.trouble_calls import Call, analyze
    from topology.protection import protection_index

    engine = make_engine(url)
    try:
        ix = load_snapshot(engine).index
    finally:
        engine.dispose()
    prot = protection_index(ix)
    ids = list(prot.ids)

    def under(d: int) -> list[int]:
        lo, hi = ix.customer_range(int(prot.start[d]), int(prot.end[d]))
        return list(range(lo, hi))

    def top(d: int) -> int:
        while prot.parent[d] >= 0:
            d = int(prot.parent[d])
        return d

    lowest = prot.lowest_above(ix.cust_pos)
    switch = None
    for d in range(len(prot)):
        if prot.kind[d] != "load_switch":
            continue
        branches: dict[int, list[int]] = {}
        for pos in under(d):
            branches.setdefault(int(lowest[pos]), []).append(pos)
        if len(branches) < 6:
            continue
        picked: list[int] = []
        for k in range(3):                                    # round-robin over the branches, one customer at a time
            for members in branches.values():
                if k < len(members):
                    picked.append(members[k])
                    result = analyze(ix, [Call(f"s{i}", a) for i, a in enumerate(ix.accounts(picked).tolist())])
                    if [p.device for p in result.predictions] == [ids[d]] and not result.unexplained:
                        switch = (d, ix.accounts(picked).tolist())
                        break
            if switch:
                break
        if switch:
            break
    assert switch is not None, "the sample city has no load switch to plant a section fault under"
    d_switch, switch_accounts = switch
    transformer = next(d for d in range(len(prot)) if prot.kind[d] == "transformer" and prot.customers[d] >= 10
                       and top(d) != top(d_switch))
    trafo_accounts = ix.accounts(under(transformer)[:3]).tolist()
    taken = {top(d_switch), top(transformer)}
    lone = next(a for pos, a in enumerate(ix.accounts(range(ix.n_customers)).tolist())
                if lowest[pos] >= 0 and top(int(lowest[pos])) not in taken)
    accounts = switch_accounts + trafo_accounts + [lone]
    result = analyze(ix, [Call(f"x{i}", a) for i, a in enumerate(accounts)])
    expected = {ids[d_switch]: len(switch_accounts), ids[transformer]: 3}
    assert {p.device: len(p.calls) for p in result.predictions} == expected
    return {"switch": ids[d_switch], "transformer": ids[transformer], "accounts": accounts, "lone": lone,
            "expected": expected}


@pytest.fixture(scope="module", params=STORES)
def tc_url(request: pytest.FixtureRequest, chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    from api.app import create_app
    from api.settings import Settings

    with sample_city(request, tmp_path_factory, "tc_ui") as url:
        KEYS.update(add_keys(url, {"tc-dispatcher": "dispatcher", "tc-analyst": "analyst"}))
        PLANTED.clear()
        PLANTED.update(_plant(url))
        app = create_app(Settings(database_url=url, environment="test"))
        sock = free_socket()
        try:
            with serving(app, sock, name="uvicorn-tc-ui") as root:
                now = dt.datetime.now(CST)
                calls = [{"id": f"TC{uuid.uuid4().hex[:10]}", "channel": "95598电话", "kind": "报修", "text": "家里停电了",
                          "account_no": a, "occurred_at": (now - dt.timedelta(minutes=40 - i)).isoformat()}
                         for i, a in enumerate(PLANTED["accounts"])]
                calls.append({"id": f"TC{uuid.uuid4().hex[:10]}", "channel": "95598电话", "kind": "报修", "text": "路灯不亮",
                              "caller_phone": "13800009999", "occurred_at": (now - dt.timedelta(minutes=5)).isoformat()})
                assert _api(root, "/api/v1/interactions", "tc-dispatcher", calls)["inserted"] == len(calls)
                yield root
        finally:
            sock.close()


def _api(root: str, path: str, key: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(root + path, data=data, method="POST" if data is not None else "GET",
                                 headers={"Authorization": f"Bearer {KEYS[key]}", "Content-Type": "application/json",
                                          "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


@pytest.fixture()
def signed_in(browser: Any, tc_url: str) -> Iterator[Any]:  # noqa: F811
    contexts = []

    def _open(name: str) -> tuple[Any, Recorder]:
        page, rec = recorded_page(browser, contexts, failed_requests=False)
        sign_in_with_panel(page, tc_url, KEYS[name], until="window.gridatlas.me && window.gridatlas.live.status === 'open'")
        return page, rec

    yield _open
    for context in contexts:
        context.close()


def _clean(rec: Recorder) -> None:
    assert rec.console_errors == [] and rec.page_errors == [] and rec.failed == [], (rec.console_errors, rec.page_errors, rec.failed)
    assert rec.foreign() == [], rec.foreign()
    assert not any(KEYS[k] in u for k in KEYS for u in rec.requests), "a key in a URL"


def _open_panel(page: Any, loads: int = 1) -> dict[str, Any]:
    page.locator(".ga-tc-head").click()
    page.wait_for_function("(n) => window.gridatlas.troubleCalls.state.loads >= n", arg=loads)
    return page.evaluate("() => window.gridatlas.troubleCalls.state.window")


def _answer(root: str, key: str, window: dict[str, str]) -> dict[str, Any]:
    return _api(root, "/api/v1/trouble-calls?" + urlencode({"from": window["from"], "to": window["to"]}), key)


def _marker_offsets(page: Any, predictions: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Per device: (dx, dy) between its marker's centre on screen and the map's projection of the API's lon/lat."""
    return page.evaluate("""(preds) => {
      const map = window.gridatlas.map, box = map.getContainer().getBoundingClientRect(), out = {};
      for (const p of preds) {
        const el = document.querySelector(`.ga-tc-device[data-device="${p.device}"]`);
        if (!el) { out[p.device] = null; continue; }
        const r = el.getBoundingClientRect();
        const want = map.latLngToContainerPoint([p.location.lat, p.location.lon]);
        out[p.device] = [r.left + r.width / 2 - box.left - want.x, r.top + r.height / 2 - box.top - want.y];
      }
      return out; }""", predictions)


def test_a_dispatcher_sees_each_probable_device_where_it_stands_and_the_list(signed_in: Any, tc_url: str) -> None:
    page, rec = signed_in("tc-dispatcher")
    assert page.locator(".ga-trouble").is_visible()
    window = _open_panel(page)
    span = dt.datetime.fromisoformat(window["to"].replace("Z", "+00:00")) - dt.datetime.fromisoformat(window["from"].replace("Z", "+00:00"))
    assert span == dt.timedelta(hours=1)                                   # the default: the last hour
    api = _answer(tc_url, "tc-dispatcher", window)
    preds = api["predictions"]
    assert {p["device"]: len(p["calls"]) for p in preds} == PLANTED["expected"]
    assert page.locator(".ga-tc-device").count() == len(preds) == 2
    for device, off in _marker_offsets(page, preds).items():
        assert off is not None and abs(off[0]) <= 2 and abs(off[1]) <= 2, (device, off)
    rows = page.locator(".ga-tc-row")
    assert rows.count() == len(preds)
    shown = [(rows.nth(i).locator(".ga-tc-dev").inner_text(), int(rows.nth(i).locator(".ga-tc-calls").inner_text()),
              rows.nth(i).locator(".ga-tc-cust").inner_text().replace(",", "")) for i in range(rows.count())]
    assert shown == [(p["device"], len(p["calls"]), str(p["customers_affected"])) for p in preds]
    summary = page.locator(".ga-tc-summary").inner_text()
    assert summary.startswith(f"{api['calls']} 条报修") and f"{len(api['unexplained'])} 条未解释" in summary
    assert api["calls"] == len(PLANTED["accounts"]) + 1 and len(api["unexplained"]) == 2   # the lone call, the unknown caller
    lines = page.evaluate("() => { let n = 0; window.gridatlas.layers.trouble_calls.eachLayer((l) => "
                          "{ if (l instanceof L.Polyline && !(l instanceof L.Polygon)) n += 1; }); return n; }")
    assert lines == sum(len(p["calls"]) for p in preds)                     # each explained call linked to its device

    switch = PLANTED["switch"]                                             # a click flies to the device, opens its popup
    page.locator(f".ga-tc-row[data-device='{switch}']").click()
    page.wait_for_selector(".leaflet-popup-content .ga-tc-popup")
    assert switch in page.locator(".leaflet-popup-content").inner_text()
    loc = next(p["location"] for p in preds if p["device"] == switch)
    assert page.evaluate("(c) => window.gridatlas.map.getBounds().contains(L.latLng(c.lat, c.lon))", loc)
    for device, off in _marker_offsets(page, preds).items():              # still in place after the move
        assert abs(off[0]) <= 2 and abs(off[1]) <= 2, (device, off)

    loads = page.evaluate("() => window.gridatlas.troubleCalls.state.loads")
    one_more = {"id": f"TC{uuid.uuid4().hex[:10]}", "channel": "微信", "kind": "报修", "text": "又停电了",
                "account_no": PLANTED["lone"], "occurred_at": dt.datetime.now(CST).isoformat()}
    _api(tc_url, "/api/v1/interactions", "tc-dispatcher", one_more)      # the layer refreshes by itself
    page.wait_for_function("(n) => window.gridatlas.troubleCalls.state.loads > n", arg=loads, timeout=5_000)
    page.wait_for_function("(n) => window.gridatlas.troubleCalls.state.body.calls === n", arg=api["calls"] + 1, timeout=5_000)
    assert page.locator(".ga-tc-summary").inner_text().startswith(f"{api['calls'] + 1} 条报修")

    page.locator(".ga-tc-window").select_option("4h")
    page.wait_for_function("() => { const w = window.gridatlas.troubleCalls.state.window;"
                           " return w && (new Date(w.to) - new Date(w.from)) === 4 * 3600e3; }")
    page.locator(".ga-tc-window").focus()                                  # Escape closes the panel, focus on its head
    page.keyboard.press("Escape")
    assert page.locator(".ga-tc-body").is_hidden()
    assert page.evaluate("() => document.activeElement.classList.contains('ga-tc-head')")
    _clean(rec)


def test_an_analyst_sees_the_calls_at_their_transformer_never_at_a_house(signed_in: Any, tc_url: str) -> None:
    import csv

    with (SAMPLE / "customers.csv").open(encoding="utf-8", newline="") as fh:
        customers = {r["account_no"]: r for r in csv.DictReader(fh)}
    page, rec = signed_in("tc-analyst")
    window = _open_panel(page)
    body = page.evaluate("() => window.gridatlas.troubleCalls.state.body")
    assert body["call_points"] == "transformer"
    assert page.locator(".ga-tc-note").inner_text() == "报修按台区位置显示（您的角色不查看个人信息）。"
    assert page.locator(".ga-tc-device").count() == len(_answer(tc_url, "tc-analyst", window)["predictions"]) == 2
    trafos = _api(tc_url, "/api/v1/layers/transformers?limit=5000", "tc-analyst")["features"]
    points = {f["id"] if "id" in f else f["properties"]["id"]: f["geometry"]["coordinates"] for f in trafos}
    assert body["located_calls"]
    for call in body["located_calls"]:
        house = customers[call["account_no"]]
        assert call["precision"] == "transformer"
        assert [call["lon"], call["lat"]] == pytest.approx(points[call["transformer_id"]])
        assert (round(call["lon"], 5), round(call["lat"], 5)) != (round(float(house["lon"]), 5), round(float(house["lat"]), 5))
    _clean(rec)
