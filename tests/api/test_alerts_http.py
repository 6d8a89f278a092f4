"""Alerts, the lexicon, the WeChat callback and trouble calls over real HTTP, on both stores."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
import uuid

import httpx
import pandas as pd
import pytest
from sqlalchemy import func, select

from api.settings import Settings
from gis.db import make_engine
from gis.models import Interaction
from gis.wechat_store import record_interaction
from tests.api.conftest import serve
from tests.api.test_cli import run
from tests.conftest import SAMPLE_DIR, STORES

TOKEN = "gridatlas-test-token"
CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str)
WITH_OPENID = CUSTOMERS[CUSTOMERS.wechat_openid.notna()].iloc[0]


@pytest.fixture(scope="module", params=STORES)
def served(request, tmp_path_factory):
    """A server with the WeChat token set, over a fresh copy of the sample city."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("alerts") / "store.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_templates")["city"], path)
        url = f"sqlite:///{path}"
        yield from serve(url, Settings(database_url=url, wechat_token=TOKEN))
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = cluster.create(f"{cluster.prefix}{uuid.uuid4().hex[:10]}", template=cluster.template("city"))
    try:
        url = cluster.url(name)
        yield from serve(url, Settings(database_url=url, wechat_token=TOKEN))
    finally:
        cluster.drop(name)
        cluster.created.remove(name)


def _signed(timestamp: int | None = None, nonce: str = "n0nce") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sig = hashlib.sha1("".join(sorted((TOKEN, ts, nonce))).encode()).hexdigest()
    return {"signature": sig, "timestamp": ts, "nonce": nonce}


def _xml(content: str, msg_id: str, openid: str = str(WITH_OPENID.wechat_openid), msg_type: str = "text") -> bytes:
    return (f"<xml><ToUserName><![CDATA[gh_utility]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>").encode()


def _client(served, role: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=served, timeout=30, headers=served.headers(role) if role else {})


def _alerts_of(served, account: str) -> list[dict]:
    with _client(served, "dispatcher") as c:
        r = c.get("/api/v1/alerts", params={"account_no": account, "limit": 100})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_the_url_check_echoes_only_for_the_right_signature(served) -> None:
    with _client(served) as c:
        ok = c.get("/api/v1/wechat/callback", params={**_signed(), "echostr": "4711"})
        assert ok.status_code == 200 and ok.text == "4711"
        bad = c.get("/api/v1/wechat/callback", params={**_signed(), "signature": "0" * 40, "echostr": "4711"})
        assert bad.status_code == 403 and bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["field"] == "signature" and "4711" not in bad.text
        stale = c.get("/api/v1/wechat/callback", params={**_signed(int(time.time()) - 3600), "echostr": "1"})
        assert stale.status_code == 403 and stale.json()["field"] == "timestamp"
        missing = c.get("/api/v1/wechat/callback", params={"echostr": "1"})
        assert missing.status_code == 403


def test_a_wechat_threat_is_recorded_once_screened_and_shown_by_role(served) -> None:
    msg_id = str(int(time.time() * 1000))
    body = _xml("电一直不来，明天我就找电视台曝光你们！", msg_id)
    with _client(served) as c:
        answers = [c.post("/api/v1/wechat/callback", params={**_signed(), "openid": "x"}, content=body)
                   for _ in range(4)]  # the first delivery and WeChat's three retries
    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 4
    engine = make_engine(served.database_url)
    try:
        with engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(Interaction)
                             .where(Interaction.id == f"wx-{msg_id}")).scalar_one()
            row = conn.execute(select(Interaction.account_no, Interaction.channel)
                               .where(Interaction.id == f"wx-{msg_id}")).one()
    finally:
        engine.dispose()
    assert n == 1 and tuple(row) == (WITH_OPENID.account_no, "微信")
    alerts = [a for a in _alerts_of(served, WITH_OPENID.account_no) if a["interaction_id"] == f"wx-{msg_id}"]
    assert len(alerts) == 1 and alerts[0]["category"] == "媒体曝光" and alerts[0]["severity"] == "high"
    assert alerts[0]["transformer_id"] == WITH_OPENID.transformer_id and alerts[0]["feeder_id"]
    alert_id = alerts[0]["id"]
    with _client(served, "agent") as agent, _client(served, "analyst") as analyst, _client(served, "planner") as planner:
        shown = agent.get(f"/api/v1/alerts/{alert_id}").json()
        assert shown["text_visible"] and "电视台" in shown["messages"][0]["text"]
        spans = {(h["word"], shown["messages"][0]["text"][h["start"]:h["end"]]) for h in shown["messages"][0]["highlights"]}
        assert spans == {("电视台", "电视台"), ("曝光", "曝光")}
        hidden = analyst.get(f"/api/v1/alerts/{alert_id}").json()
        assert hidden["text_visible"] is False and hidden["messages"][0]["text"] is None
        assert hidden["messages"][0]["highlights"] is None and hidden["messages"][0]["words"] == 2
        assert "电视台" not in json.dumps(hidden, ensure_ascii=False)
        assert planner.get(f"/api/v1/alerts/{alert_id}").status_code == 403


def test_bad_xml_is_a_400_and_hostile_xml_is_refused(served) -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            b"<xml><Content>&lol2;</Content></xml>")
    xxe = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
           b"<MsgType>text</MsgType><Content>&e;</Content><MsgId>9</MsgId></xml>")
    with _client(served) as c:
        for body in (b"<xml><Content>unclosed", bomb, xxe, b"not xml at all"):
            r = c.post("/api/v1/wechat/callback", params=_signed(), content=body)
            assert r.status_code == 400, body
            assert r.headers["content-type"] == "application/problem+json" and r.json()["field"] == "body"
            assert "root:" not in r.text
        wrong = c.post("/api/v1/wechat/callback", params=_signed(), content=b"<xml><MsgType>text</MsgType></xml>")
        assert wrong.status_code == 422 and wrong.json()["field"] == "CreateTime"
        unsigned = c.post("/api/v1/wechat/callback", params={**_signed(), "nonce": "other"}, content=_xml("记者", "77"))
        assert unsigned.status_code == 403
        image = c.post("/api/v1/wechat/callback", params=_signed(), content=_xml("", "78", msg_type="image"))
        assert image.status_code == 200 and image.text == "success"


def test_alert_workflow_over_http_with_conflicts_naming_from_and_to(served) -> None:
    msg_id = str(int(time.time() * 1000) + 1)
    with _client(served) as c:
        assert c.post("/api/v1/wechat/callback", params=_signed(), content=_xml("我要去法院起诉", msg_id)).text == "success"
    alert = next(a for a in _alerts_of(served, WITH_OPENID.account_no) if a["interaction_id"] == f"wx-{msg_id}")
    path = f"/api/v1/alerts/{alert['id']}"
    with _client(served, "agent") as agent, _client(served, "admin") as admin:
        early = agent.post(path + "/resolve", json={"note": "x"})
        assert early.status_code == 409 and early.json()["value"] == "new->resolved"
        assert agent.post(path + "/ack").json()["state"] == "acknowledged"
        assert agent.post(path + "/resolve", json={}).status_code == 422
        done = agent.post(path + "/resolve", json={"note": "已回访，解释抢修进度"})
        assert done.status_code == 200 and done.json()["state"] == "resolved" and done.json()["note"].startswith("已回访")
        again = agent.post(path + "/false-positive")
        assert again.status_code == 409 and again.json()["value"] == "resolved->false_positive"
        trail = admin.get("/api/v1/audit", params={"object_kind": "alert", "object_id": str(alert["id"])}).json()
        assert [e["action"] for e in trail["data"]] == ["alert.resolve", "alert.ack"]
        listed = agent.get("/api/v1/alerts", params={"state": "resolved", "limit": 1})
        assert listed.status_code == 200 and listed.json()["count"] == 1
        assert agent.get("/api/v1/alerts", params={"state": "closed"}).status_code == 422
        twice = agent.get("/api/v1/alerts?state=new&state=resolved")  # not silently the last one
        assert twice.status_code == 422 and twice.json()["field"] == "state"
        assert agent.get("/api/v1/alerts/999999").status_code == 404


def test_a_lexicon_change_over_http_applies_to_the_next_message(served) -> None:
    word = f"断电维权{uuid.uuid4().hex[:4]}"
    with _client(served, "admin") as admin, _client(served, "agent") as agent, _client(served) as wx:
        assert agent.post("/api/v1/lexicon/words", json={"word": word, "category": "群体事件",
                                                          "severity": "high"}).status_code == 403
        bad = admin.post("/api/v1/lexicon/words", json={"word": word, "category": "天气", "severity": "high"})
        assert bad.status_code == 422 and bad.json()["field"] == "category"
        before = agent.get("/api/v1/lexicon").json()["version"]
        added = admin.post("/api/v1/lexicon/words", json={"word": word, "category": "群体事件", "severity": "high"})
        assert added.status_code == 200 and added.json()["version"] == before + 1
        msg_id = str(int(time.time() * 1000) + 2)
        assert wx.post("/api/v1/wechat/callback", params=_signed(), content=_xml(f"我们要{word}", msg_id)).status_code == 200
        alert = [a for a in _alerts_of(served, WITH_OPENID.account_no) if a["interaction_id"] == f"wx-{msg_id}"]
        assert [a["category"] for a in alert] == ["群体事件"]
        assert admin.delete(f"/api/v1/lexicon/words/{word}").status_code == 200
        assert admin.delete(f"/api/v1/lexicon/words/{word}").status_code == 404
        words = {i["word"] for i in agent.get("/api/v1/lexicon", params={"kind": "word"}).json()["data"]}
        assert word not in words and "记者" in words


def test_trouble_calls_over_http_and_the_command_line(served) -> None:
    """Three repair calls from one transformer's customers in an empty window: that transformer."""
    area = CUSTOMERS.groupby("transformer_id").account_no.apply(list)
    transformer = next(t for t, accounts in area.items() if len(accounts) >= 10)
    start = dt.datetime(2031, 3, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    engine = make_engine(served.database_url)
    try:
        with engine.begin() as conn:
            for i, account in enumerate(sorted(area[transformer])[:3]):
                record_interaction(conn, {"id": f"tc-{i}", "account_no": account, "channel": "95598电话",
                                          "kind": "报修", "text": "家里停电了", "caller_phone": None,
                                          "occurred_at": start + dt.timedelta(minutes=i)})
            record_interaction(conn, {"id": "tc-x", "account_no": None, "channel": "95598电话", "kind": "报修",
                                      "text": "路灯不亮", "caller_phone": "13800000000",
                                      "occurred_at": start + dt.timedelta(minutes=5)})
    finally:
        engine.dispose()
    window = {"from": start.isoformat(), "to": (start + dt.timedelta(hours=1)).isoformat()}
    with _client(served, "dispatcher") as c:
        r = c.get("/api/v1/trouble-calls", params=window)
        assert r.status_code == 200, r.text
        body = r.json()
        assert [(p["device"], p["kind"], p["calls"]) for p in body["predictions"]] == [
            (transformer, "transformer", ["tc-0", "tc-1", "tc-2"])]
        assert body["predictions"][0]["customers_affected"] == len(area[transformer])
        assert body["predictions"][0]["customers"] is None
        assert body["unexplained"] == [{"call": "tc-x", "account_no": None, "reason": "no_customer"}]
        naive = c.get("/api/v1/trouble-calls", params={"from": "2031-03-01T08:00:00", "to": window["to"]})
        assert naive.status_code == 422
        wide = c.get("/api/v1/trouble-calls", params={"from": "2030-01-01T00:00:00+08:00", "to": window["to"]})
        assert wide.status_code == 422 and wide.json()["field"] == "to"
    cli = run("trouble-calls", "--from", window["from"], "--to", window["to"], "--json", db=served.database_url)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["predictions"][0]["device"] == transformer


def test_trouble_calls_give_the_map_devices_areas_and_calls_masked_per_role(served) -> None:
    """Calls under one transformer: the prediction carries the transformer's point (as stored) and an area
    holding its customers; each call is located at its customer for a dispatcher and at its 台区 (never a
    house) for an analyst; GeoJSON for GIS tools carries the same devices and calls."""
    from gis.store import read_asset_tables

    area = CUSTOMERS.groupby("transformer_id").account_no.apply(list)
    transformer = [t for t, accounts in area.items() if len(accounts) >= 10][1]
    callers = CUSTOMERS[CUSTOMERS.account_no.isin(sorted(area[transformer])[:4])].set_index("account_no")
    start = dt.datetime(2031, 4, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    engine = make_engine(served.database_url)
    try:
        with engine.begin() as conn:
            for i, account in enumerate(callers.index):
                record_interaction(conn, {"id": f"tm-{i}", "account_no": account, "channel": "95598电话",
                                          "kind": "报修", "text": "停电", "caller_phone": None,
                                          "occurred_at": start + dt.timedelta(minutes=i)})
        trafos = read_asset_tables(engine)["transformers"].set_index("id")
    finally:
        engine.dispose()
    window = {"from": start.isoformat(), "to": (start + dt.timedelta(hours=1)).isoformat()}
    point = trafos.loc[transformer]
    with _client(served, "dispatcher") as c:
        body = c.get("/api/v1/trouble-calls", params=window).json()
    [p] = body["predictions"]
    assert p["device"] == transformer and p["location"] == pytest.approx({"lon": point.lon, "lat": point.lat})
    assert p["name"] == trafos.loc[transformer, "name"]
    ring = p["area"]["coordinates"][0] if p["area"]["type"] == "Polygon" else p["area"]["coordinates"][0][0]
    xs, ys = [x for x, _ in ring], [y for _, y in ring]
    members = CUSTOMERS[CUSTOMERS.transformer_id == transformer]
    assert min(xs) <= members.lon.astype(float).min() + 1e-6 and max(xs) >= members.lon.astype(float).max() - 1e-6
    assert min(ys) <= members.lat.astype(float).min() + 1e-6 and max(ys) >= members.lat.astype(float).max() - 1e-6
    assert body["call_points"] == "customer"
    located = {c["call"]: c for c in body["located_calls"]}
    assert sorted(located) == [f"tm-{i}" for i in range(4)]
    for i, account in enumerate(callers.index):
        c = located[f"tm-{i}"]
        assert (c["account_no"], c["device"], c["precision"], c["transformer_id"]) == (account, transformer, "customer", transformer)
        assert (c["lon"], c["lat"]) == pytest.approx((float(callers.loc[account, "lon"]), float(callers.loc[account, "lat"])))
    with _client(served, "analyst") as c:
        masked = c.get("/api/v1/trouble-calls", params=window).json()
        geo = c.get("/api/v1/trouble-calls", params=window, headers={"Accept": "application/geo+json"})
    assert masked["call_points"] == "transformer" and [p["device"] for p in masked["predictions"]] == [transformer]
    for c in masked["located_calls"]:
        assert c["precision"] == "transformer"
        assert (c["lon"], c["lat"]) == pytest.approx((point.lon, point.lat))      # the 台区's point, shared by all
        assert (round(c["lon"], 5), round(c["lat"], 5)) != (round(float(callers.loc[c["account_no"], "lon"]), 5),
                                                            round(float(callers.loc[c["account_no"], "lat"]), 5))
    assert geo.status_code == 200 and geo.headers["content-type"].startswith("application/geo+json")
    fc = geo.json()
    kinds = [f["properties"]["feature"] for f in fc["features"]]
    assert fc["type"] == "FeatureCollection" and kinds.count("device") == 1 and kinds.count("call") == 4
    device = next(f for f in fc["features"] if f["properties"]["feature"] == "device")
    assert device["geometry"]["coordinates"] == pytest.approx([point.lon, point.lat]) and device["properties"]["calls"] == 4
    assert all(f["geometry"]["coordinates"] == pytest.approx([point.lon, point.lat])
               for f in fc["features"] if f["properties"]["feature"] == "call")


def test_lexicon_and_alerts_on_the_command_line(served) -> None:
    word = f"命令行词{uuid.uuid4().hex[:4]}"
    r = run("lexicon", "add", word, "--category", "法律诉讼", "--severity", "low", db=served.database_url)
    assert r.returncode == 0, r.stderr
    listed = json.loads(run("lexicon", "list", "--json", db=served.database_url).stdout)
    assert any(i["word"] == word and i["source"] == "store" for i in listed["data"])
    bad = run("lexicon", "add", "x", "--category", "法律诉讼", "--severity", "urgent", db=served.database_url)
    assert bad.returncode == 2 and "severity" in bad.stderr
    assert run("lexicon", "remove", word, db=served.database_url).returncode == 0
    assert run("lexicon", "remove", word, db=served.database_url).returncode == 2
    alerts = json.loads(run("alerts", "list", "--json", db=served.database_url).stdout)
    assert alerts["count"] >= 1 and "fold_key" not in alerts["data"][0]
    with _client(served, "admin") as admin:
        actions = [e["action"] for e in admin.get("/api/v1/audit", params={"object_kind": "lexicon"}).json()["data"]]
    assert actions[:2] == ["lexicon.remove", "lexicon.add"]


def test_a_wechat_alert_reaches_an_open_map_within_a_second(served) -> None:
    """SSE: the agent's map (a real HTTP stream) gets the new alert's reference within 1 s of the
    message arriving, then opens it through the role-masked route."""
    from tests.api.test_events_http import Stream

    stream = Stream(served, served.keys["agent"], "alerts")
    try:
        assert stream.next(timeout=10)[0] == "ready"
        msg_id = str(int(time.time() * 1000) + 3)
        sent = time.monotonic()
        with _client(served) as wx:
            assert wx.post("/api/v1/wechat/callback", params=_signed(), content=_xml("停电三天了，我要跳楼", msg_id)).text == "success"
        event, data, _ = stream.next(timeout=5)
        elapsed = time.monotonic() - sent
        assert event == "alerts" and data["payload"]["type"] == "alert.new", data
        assert data["payload"]["category"] == "人身安全" and data["payload"]["transformer_id"] == WITH_OPENID.transformer_id
        assert "text" not in data["payload"] and WITH_OPENID.account_no not in json.dumps(data)
        assert elapsed < 1.0, f"{elapsed:.2f} s"
        with _client(served, "agent") as agent:
            opened = agent.get(f"/api/v1/alerts/{data['payload']['alert_id']}").json()
        assert "跳楼" in opened["messages"][0]["text"] and opened["account_no"] == WITH_OPENID.account_no
    finally:
        stream.close()


def test_a_state_change_through_the_api_reaches_the_open_map(served) -> None:
    """An ack sent to the API goes out on the bus in its transaction (``change_state``'s own
    publisher: the app keeps no second reference to it on ``app.state``)."""
    from api.app import create_app
    from tests.api.test_events_http import Stream

    assert not hasattr(create_app(Settings(database_url="sqlite:///unused-not-opened.sqlite")).state, "publish")
    msg_id = str(int(time.time() * 1000) + 7)
    with _client(served) as wx:
        assert wx.post("/api/v1/wechat/callback", params=_signed(), content=_xml("再停电我就去跳楼", msg_id)).text == "success"
    alert = next(a for a in _alerts_of(served, str(WITH_OPENID.account_no)) if a["state"] == "new")
    stream = Stream(served, served.keys["agent"], "alerts")
    try:
        assert stream.next(timeout=10)[0] == "ready"
        with _client(served, "agent") as agent:
            assert agent.post(f"/api/v1/alerts/{alert['id']}/ack", json={}).status_code == 200
        deadline = time.monotonic() + 5
        while True:  # the message's own alert.new/alert.folded may still be on its way: skip it
            event, data, _ = stream.next(timeout=max(deadline - time.monotonic(), 0.1))
            if event == "alerts" and data["payload"]["type"] == "alert.state":
                break
        assert data["payload"]["alert_id"] == alert["id"] and data["payload"]["state"] == "acknowledged"
    finally:
        stream.close()


def test_an_alert_ingested_by_one_worker_reaches_a_map_on_another(pg_cluster) -> None:
    """Two servers over one PostGIS: the WeChat message arrives at A, the map is connected to B."""
    from tests.api.test_events_http import Stream

    name = pg_cluster.create(f"{pg_cluster.prefix}{uuid.uuid4().hex[:10]}", template=pg_cluster.template("city"))
    url = pg_cluster.url(name)
    servers = [serve(url, Settings(database_url=url, wechat_token=TOKEN)) for _ in range(2)]
    try:
        base_a, base_b = (next(s) for s in servers)
        on_b = Stream(base_b, base_b.keys["dispatcher"], "alerts")
        try:
            assert on_b.next(timeout=10)[0] == "ready"
            sent = time.monotonic()
            with _client(base_a) as wx:
                assert wx.post("/api/v1/wechat/callback", params=_signed(),
                               content=_xml("小区要集体拉横幅", "424242")).text == "success"
            event, data, _ = on_b.next(timeout=5)
            assert time.monotonic() - sent < 1.0
            assert data["payload"]["type"] == "alert.new" and data["payload"]["category"] == "群体事件"
        finally:
            on_b.close()
    finally:
        for s in servers:
            s.close()
        pg_cluster.drop(name)
        pg_cluster.created.remove(name)


def test_an_interaction_posted_to_the_api_is_screened_in_its_ingest(served) -> None:
    """The interactions ingest (issue 14) runs the alert screener in its own transaction."""
    ident = f"api-{int(time.time() * 1000)}"
    quiet = CUSTOMERS[CUSTOMERS.account_no != WITH_OPENID.account_no].iloc[-1]  # no alert to fold into
    record = {"id": ident, "account_no": quiet.account_no, "channel": "95598电话", "kind": "投诉",
              "occurred_at": "2026-12-01T10:00:00+08:00", "text": "再不来电我就找记者曝光"}
    with _client(served, "dispatcher") as c:
        r = c.post("/api/v1/interactions", json=record)
        assert r.status_code == 200, r.text
        again = c.post("/api/v1/interactions", json=record)  # idempotent by id: no second alert hit
        assert again.status_code == 200, again.text
    alerts = _alerts_of(served, quiet.account_no)
    assert [(a["interaction_id"], a["category"], a["count"]) for a in alerts] == [(ident, "媒体曝光", 1)]
    assert alerts[0]["transformer_id"] == quiet.transformer_id


def test_a_wechat_message_is_counted_in_the_heat_of_its_customers_area(served) -> None:
    """The callback writes through the one ingest, so the message is placed and rolled up."""
    msg_id = str(int(time.time() * 1000) + 7)
    query = {"by": "transformer", "from": "2020-01-01", "to": "2030-12-31", "channels": "微信"}
    with _client(served) as platform, _client(served, "analyst") as analyst:
        before = analyst.get("/api/v1/heat", params=query)
        assert before.status_code == 200, before.text
        answer = platform.post("/api/v1/wechat/callback", params={**_signed(), "openid": "x"},
                               content=_xml("请问什么时候来电", msg_id))
        assert (answer.status_code, answer.text) == (200, "success")
        after = analyst.get("/api/v1/heat", params=query).json()
        before = before.json()

    def count(body):
        return {a["id"]: a["count"] for a in body["areas"]}.get(WITH_OPENID.transformer_id, 0)

    assert count(after) == count(before) + 1
