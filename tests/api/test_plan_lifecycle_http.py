"""Plan lifecycle, outage records, reliability and screening over real HTTP and the CLI, on both stores."""

from __future__ import annotations

import datetime as dt
import io
import json

import openpyxl
import pytest
from sqlalchemy import delete, func, select, update
from typer.testing import CliRunner

from api.cli import app as cli
from gis.db import make_engine
from gis.models import AuditEvent, Customer, Interaction, OutageRecord

FUSE = "SW000030"        # 24 customers downstream in the sample city
WINDOW = {"window_start": "2026-12-20T09:00:00+08:00", "window_end": "2026-12-20T15:00:00+08:00"}
CST = dt.timezone(dt.timedelta(hours=8))


def _plan(title="季华路检修", element=FUSE):
    return {"title": title, **WINDOW, "steps": [{"action": "open", "element": element}]}


def _create(c, **kw) -> dict:
    r = c.post("/api/v1/plans", json=_plan(**kw))
    assert r.status_code == 201, r.text
    return r.json()


def _count(url, model, *where) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(model.__table__).where(*where)).scalar_one()
    finally:
        engine.dispose()


def test_transitions_store_snapshots_and_execution_records_the_outage(api_url, client_as):
    planner, admin = client_as("planner"), client_as("admin")
    plan = _create(planner)
    url = f"/api/v1/plans/{plan['id']}"
    assert planner.post(url + "/status", json={"status": "consulting"}).status_code == 200
    r = planner.post(url + "/status", json={"status": "consulting", "actual_start": "2026-06-01T09:00:00+08:00",
                                            "actual_end": "2026-06-01T12:00:00+08:00"})
    assert r.status_code == 422 and r.json()["field"] == "actual_start"
    assert admin.post(url + "/status", json={"status": "approved"}).status_code == 200
    # executing needs both times or neither
    r = planner.post(url + "/status", json={"status": "executed", "actual_start": "2026-06-01T09:00:00+08:00"})
    assert r.status_code == 422 and r.json()["field"] == "actual_end"
    r = planner.post(url + "/status", json={"status": "executed", "actual_start": "2026-06-01T09:05:00+08:00",
                                            "actual_end": "2026-06-01T12:35:00+08:00"})
    assert r.status_code == 200 and r.json()["status"] == "executed" and r.json()["version"] == 4
    steps = client_as("analyst").get(url + "/transitions").json()["data"]
    assert [(s["from_status"], s["to_status"], s["plan_version"]) for s in steps] == [
        ("draft", "consulting", 2), ("consulting", "approved", 3), ("approved", "executed", 4)]
    assert all(s["affected_count"] == 24 and s["data_version"] >= 1 for s in steps)
    assert steps[1]["role"] == "admin" and steps[0]["actor"] == plan["created_by"]
    assert steps[2]["actual_start"] == "2026-06-01T01:05:00+00:00" and steps[0]["customer_minutes"] == 24 * 360
    outage = client_as("dispatcher").get(f"/api/v1/outages/plan-{plan['id']}").json()
    assert (outage["kind"], outage["customers"], outage["plan_id"]) == ("planned", 24, plan["id"])
    impact = planner.get(url + "/impact", params={"limit": 100, "area": "false"}).json()
    assert [i["account_no"] for i in outage["interruptions"]] == impact["customers"]
    # recording the execution again with the same times is a no-op; other times are refused
    same = {"actual_start": "2026-06-01T09:05:00+08:00", "actual_end": "2026-06-01T12:35:00+08:00"}
    r = planner.put(url + "/execution", json=same)
    assert r.status_code == 200 and r.json()["records_written"] == 0
    r = planner.put(url + "/execution", json={**same, "actual_end": "2026-06-01T13:00:00+08:00"})
    assert r.status_code == 409
    assert _count(api_url.database_url, AuditEvent, AuditEvent.action == "plan.status",
                  AuditEvent.object_id == str(plan["id"])) == 3


def test_execution_recorded_later_and_cancel_snapshot(api_url, client_as):
    planner, admin = client_as("planner"), client_as("admin")
    plan = _create(planner, title="later")
    url = f"/api/v1/plans/{plan['id']}"
    r = planner.put(url + "/execution", json={"actual_start": "2026-05-01T09:00:00+08:00",
                                             "actual_end": "2026-05-01T10:00:00+08:00"})
    assert r.status_code == 409 and "only an executed plan" in r.json()["detail"]
    for status, who in (("consulting", planner), ("approved", admin), ("executed", planner)):
        assert who.post(url + "/status", json={"status": status}).status_code == 200
    r = planner.put(url + "/execution", json={"actual_start": "2026-05-01T09:00:00+08:00",
                                             "actual_end": "2026-05-01T10:00:00+08:00"})
    assert r.status_code == 200 and r.json()["records_written"] == 24
    other = _create(planner, title="to cancel")
    assert planner.post(f"/api/v1/plans/{other['id']}/status", json={"status": "cancelled"}).status_code == 200
    (step,) = planner.get(f"/api/v1/plans/{other['id']}/transitions").json()["data"]
    assert (step["from_status"], step["to_status"], step["affected_count"]) == ("draft", "cancelled", 24)


def test_outages_api_is_idempotent_and_names_bad_fields(client_as):
    dispatcher = client_as("dispatcher")
    accounts = client_as("planner").post("/api/v1/impact?limit=3", json={"open": [FUSE]}).json()["customers"]
    body = {"outage_id": "F-TEST-1", "kind": "unplanned", "start": "2026-03-01T14:02:00+08:00",
            "end": "2026-03-01T15:10:00+08:00", "account_nos": accounts}
    r = dispatcher.post("/api/v1/outages", json=body)
    assert r.status_code == 201 and r.json() == {"outage_id": "F-TEST-1", "inserted": 3, "unchanged": 0}
    r = dispatcher.post("/api/v1/outages", json=body)
    assert r.status_code == 200 and r.json()["unchanged"] == 3
    r = dispatcher.post("/api/v1/outages", json={**body, "account_nos": ["9999999999"]})
    assert r.status_code == 422 and r.json()["field"] == "account_nos" and r.json()["value"] == "9999999999"
    r = dispatcher.post("/api/v1/outages", json={**body, "kind": "planned"})
    assert r.status_code == 422 and r.json()["field"] == "kind"
    r = dispatcher.post("/api/v1/outages", json={**body, "end": "2026-03-01T16:00:00+08:00"})
    assert r.status_code == 422 and "not changed" in r.json()["detail"]
    r = dispatcher.post("/api/v1/outages", json={**body, "end": "2026-03-01T13:00:00+08:00", "outage_id": "F-X"})
    assert r.status_code == 422 and r.json()["field"] == "end"
    assert client_as("agent").post("/api/v1/outages", json=body).status_code == 403
    got = client_as("analyst").get("/api/v1/outages/F-TEST-1").json()
    assert got["customers"] == 3 and got["start"] == "2026-03-01T06:02:00+00:00"
    listed = client_as("analyst").get("/api/v1/outages", params={"from": "2026-03-01T00:00:00+08:00",
                                                                  "to": "2026-03-02T00:00:00+08:00"}).json()
    assert [o["outage_id"] for o in listed["data"]] == ["F-TEST-1"]
    assert client_as("analyst").get("/api/v1/outages/NOPE").status_code == 404
    # a utility's own outage number may hold Chinese text: the Location header carries it percent-encoded
    r = dispatcher.post("/api/v1/outages", json={**body, "outage_id": "故障/2026-03"})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/api/v1/outages/%E6%95%85%E9%9A%9C%2F2026-03"


def _hand_example(accounts: list[str]) -> list[tuple[str, str, str, dt.datetime, int]]:
    """The example of tests/outage_impact/test_reliability.py on real accounts, in January 2025."""
    a, b, c, d, e, f, g = accounts[:7]
    t = dt.datetime(2025, 1, 5, 9, tzinfo=CST)
    rows = [("O1", x, "unplanned", t, 60) for x in (a, b, c)]
    rows += [("O2", x, "unplanned", t + dt.timedelta(days=3), 120) for x in (a, d)]
    rows += [("O3", x, "planned", t + dt.timedelta(days=6), 30) for x in (a, e)]
    rows += [("O4", x, "unplanned", t + dt.timedelta(days=8), 2) for x in (b, f)]
    rows += [("O5", a, "unplanned", t + dt.timedelta(days=9), 10)]
    rows += [("O0", g, "unplanned", dt.datetime(2024, 12, 31, 23, tzinfo=CST), 600)]
    return rows


def test_reliability_hand_example_api_cli_xlsx(api_url, client_as, tmp_path):
    planner = client_as("planner")
    accounts = planner.post("/api/v1/impact?limit=10", json={"open": [FUSE]}).json()["customers"]
    rows = _hand_example(accounts)
    csv_path = tmp_path / "outages.csv"
    lines = ["outage_id,kind,start,end,account_no"]
    lines += [f"R25-{o},{k},{s.isoformat()},{(s + dt.timedelta(minutes=m)).isoformat()},{x}" for o, x, k, s, m in rows]
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runner = CliRunner()
    db = ["--database-url", api_url.database_url]
    r = runner.invoke(cli, ["outages", "import", str(csv_path), *db])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["outages", "import", str(csv_path), *db])   # idempotent
    assert r.exit_code == 0 and "0 recorded, 11 already recorded" in r.output.replace("\n", " "), r.output
    served = _count(api_url.database_url, Customer)
    rep = client_as("analyst").get("/api/v1/reliability", params={"from": "2025-01-01", "to": "2025-01-31"}).json()
    assert rep["customers_served"] == served
    assert rep["customer_interruptions"] == 8 and rep["customers_interrupted"] == 5
    assert rep["saifi"] == pytest.approx(8 / served) and rep["saidi"] == pytest.approx(490 / served)
    assert rep["caidi"] == pytest.approx(61.25) and rep["caifi"] == pytest.approx(1.6)
    assert rep["asai"] == pytest.approx(1 - 490 / (served * 44640))
    assert rep["maifi"] == pytest.approx(2 / served)
    assert rep["cemi"]["1"] == pytest.approx(1 / served) and rep["cemi"]["4"] == 0
    assert rep["planned"]["customer_minutes"] == 60 and rep["unplanned"]["customer_minutes"] == 430
    assert rep["major_event_days"]["applied"] is False and "day(s)" in rep["major_event_days"]["reason"]
    by = client_as("planner").get("/api/v1/reliability", params={"from": "2025-01-01", "to": "2025-01-31",
                                                                 "by": "feeder"}).json()
    hit = [g for g in by["groups"] if g["customer_interruptions"]]
    assert len(hit) == 1 and hit[0]["saifi"] == pytest.approx(8 / hit[0]["customers_served"])
    assert sum(g["customers_served"] for g in by["groups"]) <= served
    r = client_as("analyst").get("/api/v1/reliability", params={"from": "2025-01-31", "to": "2025-01-01"})
    assert r.status_code == 422 and r.json()["field"] == "to"
    r = client_as("agent").get("/api/v1/reliability", params={"from": "2025-01-01", "to": "2025-01-31"})
    assert r.status_code == 403
    # CLI: the same numbers under the documented keys
    r = runner.invoke(cli, ["reliability", "--from", "2025-01-01", "--to", "2025-01-31", "--json", *db])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout[r.stdout.index("{"):])
    for key in ("saifi", "saidi", "caidi", "caifi", "asai", "cemi", "customers_served", "customer_minutes"):
        assert out[key] == pytest.approx(rep[key]), key
    # XLSX: numbers are numbers
    x = client_as("analyst").get("/api/v1/reliability.xlsx", params={"from": "2025-01-01", "to": "2025-01-31"})
    assert x.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(x.content))["indices"]
    values = {row[0]: row[1:] for row in ws.iter_rows(min_row=5, values_only=True)}
    assert values["saifi"][0] == pytest.approx(8 / served) and values["customer_minutes"][1:] == (60, 430)


def test_outage_csv_rejects_and_exit_codes(api_url, client_as, tmp_path):
    account = client_as("planner").post("/api/v1/impact?limit=1", json={"open": [FUSE]}).json()["customers"][0]
    path = tmp_path / "faults.csv"
    path.write_text("outage_id,kind,start,end,account_no\n"
                    f"F-CSV-1,unplanned,2025-02-01T08:00:00+08:00,2025-02-01T09:00:00+08:00,{account}\n"
                    f"F-CSV-2,sometimes,2025-02-01T08:00:00+08:00,2025-02-01T09:00:00+08:00,{account}\n"
                    f"F-CSV-3,unplanned,2025-02-01T08:00:00,2025-02-01T09:00:00+08:00,{account}\n"
                    f"F-CSV-4,unplanned,2025-02-01T10:00:00+08:00,2025-02-01T09:00:00+08:00,{account}\n"
                    "F-CSV-5,unplanned,2025-02-01T08:00:00+08:00,2025-02-01T09:00:00+08:00,=cmd|' /C calc'!A0\n"
                    f"F-CSV-1,planned,2025-02-01T08:00:00+08:00,2025-02-01T09:00:00+08:00,{account}\n",
                    encoding="utf-8")
    runner = CliRunner()
    db = ["--database-url", api_url.database_url]
    r = runner.invoke(cli, ["outages", "import", str(path), *db])
    assert r.exit_code == 3, r.output
    report = (tmp_path / "faults.csv.rejects.csv").read_text(encoding="utf-8-sig").splitlines()
    fields = [line.split(",")[4] for line in report[1:]]
    assert fields == ["kind", "start", "end", "account_no", "kind"], report
    assert _count(api_url.database_url, OutageRecord, OutageRecord.outage_id.like("F-CSV-%")) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("outage,kind,start,end,account_no\n", encoding="utf-8")
    r = runner.invoke(cli, ["outages", "import", str(bad), *db])
    assert r.exit_code == 2 and "outage_id" in r.output


def test_plan_screening_over_the_store(api_url, client_as):
    planner = client_as("planner")
    plan = _create(planner, title="screening")
    accounts = planner.get(f"/api/v1/plans/{plan['id']}/impact", params={"limit": 100}).json()["customers"]
    big, hospital, complainer, repeat = accounts[:4]
    engine = make_engine(api_url.database_url)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        with engine.begin() as conn:
            conn.execute(update(Customer).where(Customer.account_no.in_(accounts))
                         .values(sensitivity=None, contract_kva=10, wechat_openid=None, phone="13800000000",
                                 phone_alt=None))
            conn.execute(delete(Interaction).where(Interaction.account_no.in_(accounts)))  # the sample's complaints
            conn.execute(update(Customer).where(Customer.account_no == big).values(contract_kva=630,
                                                                                   wechat_openid="oBIG"))
            conn.execute(update(Customer).where(Customer.account_no == hospital).values(sensitivity="医院"))
            conn.execute(update(Customer).where(Customer.account_no == complainer).values(phone="0757-83330000"))
            conn.execute(Interaction.__table__.insert().values(
                id="SCREEN-1", account_no=complainer, channel="95598电话", kind="投诉",
                occurred_at=now - dt.timedelta(days=3), text="又停电"))
            for i in range(2):
                conn.execute(OutageRecord.__table__.insert().values(
                    outage_id=f"SCREEN-O{i}", account_no=repeat, kind="unplanned",
                    start_at=now - dt.timedelta(days=10 + i), end_at=now - dt.timedelta(days=10 + i, hours=-1),
                    source="api", recorded_at=now))
    finally:
        engine.dispose()
    r = client_as("dispatcher").get(f"/api/v1/plans/{plan['id']}/screening")
    assert r.status_code == 200, r.text
    body = r.json()
    lists = {c["account_no"]: (name, [x["rule"] for x in c["rules"]])
             for name in ("consult", "notify", "phone") for c in body[name]}
    assert lists[big] == ("consult", ["big_customer", "wechat"])
    assert lists[hospital] == ("phone", ["sensitive_phone"])
    assert lists[complainer] == ("phone", ["complained", "no_channel"])
    assert lists[repeat] == ("consult", ["repeat_interrupted", "sms"])
    assert body["counts"] == {"consult": 2, "notify": 20, "phone": 2}
    assert body["plan_version"] == 1 and "13800000000" not in r.text
    assert client_as("agent").get(f"/api/v1/plans/{plan['id']}/screening").status_code == 403


def test_next_statuses_follow_the_lifecycle_for_each_caller(api_url, client_as):
    """GET /plans/{id} offers each caller exactly the moves the status route would accept."""
    from gis.api_keys import create_key
    import httpx

    engine = make_engine(api_url.database_url)
    try:
        other_token = create_key(engine, name="other-planner", role="planner")[1]
    finally:
        engine.dispose()
    planner, admin, analyst, dispatcher = (client_as(r) for r in ("planner", "admin", "analyst", "dispatcher"))
    with httpx.Client(base_url=api_url, timeout=30, headers={"Authorization": f"Bearer {other_token}"}) as other:
        plan = _create(planner, title="next statuses")
        assert plan["next_statuses"] == ["consulting", "cancelled"]
        url = f"/api/v1/plans/{plan['id']}"

        def nexts(c):
            r = c.get(url)
            assert r.status_code == 200, r.text
            return r.json()["next_statuses"]

        assert nexts(planner) == ["consulting", "cancelled"]
        assert nexts(admin) == ["consulting", "cancelled"]
        assert nexts(other) == [] and nexts(analyst) == [] and nexts(dispatcher) == []
        # what is offered is what the server accepts, and what is not offered is refused
        assert other.post(url + "/status", json={"status": "consulting"}).status_code == 403
        r = planner.post(url + "/status", json={"status": "consulting"})
        assert r.status_code == 200 and r.json()["next_statuses"] == ["cancelled"]       # four eyes: not "approved"
        assert planner.post(url + "/status", json={"status": "approved"}).status_code == 403
        assert nexts(admin) == ["approved", "cancelled"]
        # an admin who wrote the plan may not approve it either
        own = _create(admin, title="admin's own")
        admin.post(f"/api/v1/plans/{own['id']}/status", json={"status": "consulting"}).raise_for_status()
        assert admin.get(f"/api/v1/plans/{own['id']}").json()["next_statuses"] == ["cancelled"]
        assert admin.post(f"/api/v1/plans/{own['id']}/status", json={"status": "approved"}).status_code == 403
        r = admin.post(url + "/status", json={"status": "approved"})
        assert r.status_code == 200 and r.json()["next_statuses"] == ["executed", "cancelled"]
        assert nexts(planner) == ["executed", "cancelled"] and nexts(analyst) == []
        planner.post(url + "/status", json={"status": "cancelled"}).raise_for_status()
        assert nexts(planner) == [] and nexts(admin) == []
        # the list carries the same field per caller
        listed = {p["id"]: p for p in planner.get("/api/v1/plans", params={"limit": 200}).json()["data"]}
        assert listed[plan["id"]]["next_statuses"] == []
        listed = {p["id"]: p for p in analyst.get("/api/v1/plans", params={"limit": 200}).json()["data"]}
        assert listed[own["id"]]["next_statuses"] == []
