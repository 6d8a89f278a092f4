"""The unified customer view, the field finder, map click and viewport over a live server (both stores)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, insert

from gis.db import make_engine
from gis.models import Base

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "foshan"
AT = "2026-10-31T12:00:00+08:00"
AT_UTC = dt.datetime(2026, 10, 31, 4, 0, tzinfo=dt.timezone.utc)


def _customers() -> list[dict[str, str]]:
    with (SAMPLE / "customers.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def sample_customer() -> dict[str, str]:
    return next(c for c in _customers() if c["phone"] and c["contract_kva"] and c["location_quality"] != "surveyed")


def _view(c: httpx.Client, account: str, **params: str) -> dict:
    r = c.get(f"/api/v1/customers/{account}", params={"at": AT, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_supply_path_equals_the_engine_trace(client: httpx.Client, sample_customer: dict[str, str]) -> None:
    acct = sample_customer["account_no"]
    view = _view(client, acct)
    trace = client.get(f"/api/v1/trace/customer/{acct}/upstream").json()
    area = client.get(f"/api/v1/customers/{acct}/supply-area").json()
    assert [(p["kind"], p["id"]) for p in view["supply"]["path"]] == [(p["kind"], p["id"]) for p in trace["path"]]
    chain = view["supply"]["chain"]
    assert chain["substation"]["id"] == trace["path"][-1]["id"] and chain["substation"]["name"]
    assert chain["feeder"]["id"] == area["feeder_id"] and chain["feeder"]["name"]
    assert chain["transformer"]["id"] == area["transformer_id"] and chain["transformer"]["name"]
    assert chain["meter_box"]["id"] == sample_customer["meter_box_id"]
    switches = [p["id"] for p in trace["path"] if p["kind"] == "switch"]
    assert [s["id"] for s in chain["switches"]] == switches[::-1]       # top-down
    assert view["supply"]["normally_supplied"] is True and view["supply"]["energized"] is True
    assert view["profile"]["contract_kva"] == float(sample_customer["contract_kva"])
    assert view["data_version"] == trace["data_version"]


def test_masking_and_panels_per_role(client_as, sample_customer: dict[str, str]) -> None:
    acct, phone = sample_customer["account_no"], sample_customer["phone"]
    for role in ("dispatcher", "agent"):
        v = _view(client_as(role), acct)
        assert v["contact"]["phone"] == phone and v["contact"]["name"] == sample_customer["name"]
        assert set(v["panels"]) >= {"profile", "contact", "supply", "outages", "interactions", "interaction_texts",
                                    "emotion", "stale"}
        assert all("text" in item for item in v["interactions"]["recent"])
    planner = _view(client_as("planner"), acct)
    assert planner["contact"]["phone"] == phone[:3] + "****" + phone[-4:]
    assert planner["pii_masked"] is True and "interaction_texts" not in planner["panels"]
    assert all("text" not in item for item in planner["interactions"]["recent"])
    analyst = _view(client_as("analyst"), acct)
    assert "contact" not in analyst and "contact" not in analyst["panels"]
    assert phone not in str(analyst) and sample_customer["name"] not in str(analyst)
    assert client_as("dispatcher").get("/api/v1/customers/NOPE0000").status_code == 404
    r = client_as("agent").get(f"/api/v1/customers/{acct}", params={"at": "2026-10-31T12:00:00"})
    assert r.status_code == 422 and r.json()["field"] == "at"


def test_field_finder_for_capacity_in_both_languages(client_as, sample_customer: dict[str, str]) -> None:
    acct = sample_customer["account_no"]
    for q in ("容量", "capacity", "CAPACITY"):
        body = client_as("agent").get(f"/api/v1/customers/{acct}/fields", params={"q": q}).json()
        found = {f["field"]: f for f in body["data"]}
        assert set(found) == {"contract_kva", "transformer_kva"}, (q, found)
        assert found["contract_kva"]["value"] == float(sample_customer["contract_kva"])
        assert found["contract_kva"]["label_zh"] == "合同容量" and "capacity" in found["contract_kva"]["label_en"]
    phone = sample_customer["phone"]
    masked = client_as("planner").get(f"/api/v1/customers/{acct}/fields", params={"q": "电话"}).json()["data"]
    assert masked[0]["field"] == "phone" and masked[0]["value"] == phone[:3] + "****" + phone[-4:]
    assert client_as("analyst").get(f"/api/v1/customers/{acct}/fields", params={"q": "电话"}).json()["count"] == 0
    assert client_as("agent").get(f"/api/v1/customers/{acct}/fields", params={"q": "zzz"}).json()["data"] == []


def test_stale_prompts(client: httpx.Client, sample_customer: dict[str, str]) -> None:
    view = _view(client, sample_customer["account_no"])
    codes = {p["code"]: p for p in view["stale"]}
    assert codes["location_approximate"]["quality"] == sample_customer["location_quality"]
    verified = dt.date.fromisoformat(sample_customer["contact_verified_at"])
    age = (AT_UTC.date() - verified).days
    assert ("contact_unverified" in codes) == (age > 365)


def test_plans_in_the_store_show_as_outages_and_cut_energized(client: httpx.Client, api_url, sample_customer) -> None:
    acct = sample_customer["account_no"]
    trace = client.get(f"/api/v1/trace/customer/{acct}/upstream").json()
    switch = next(p["id"] for p in trace["path"] if p["kind"] == "switch")
    engine = make_engine(api_url.database_url)
    plans, steps = Base.metadata.tables["switching_plans"], Base.metadata.tables["plan_steps"]
    try:
        with engine.begin() as conn:
            rows = [
                (9001, "检修（执行中）", "approved", AT_UTC - dt.timedelta(hours=1), AT_UTC + dt.timedelta(hours=5)),
                (9002, "下周计划停电", "consulting", AT_UTC + dt.timedelta(days=7), AT_UTC + dt.timedelta(days=7, hours=6)),
                (9003, "已取消", "cancelled", AT_UTC - dt.timedelta(hours=1), AT_UTC + dt.timedelta(hours=5)),
            ]
            for pid, title, status, start, end in rows:
                conn.execute(insert(plans).values(id=pid, title=title, status=status, window_start=start,
                                                  window_end=end, version=1))
                conn.execute(insert(steps).values(plan_id=pid, seq=0, action="open", element_id=switch))
        view = _view(client, acct)
        assert [p["plan_id"] for p in view["outages"]["current"]] == [9001]
        assert [p["plan_id"] for p in view["outages"]["planned"]] == [9002]
        assert view["outages"]["current"][0]["title"] == "检修（执行中）"
        assert view["supply"]["energized"] is False and view["supply"]["normally_supplied"] is True
        impact = client.post("/api/v1/impact", json={"open": [switch]}).json()
        assert view["outages"]["current"][0]["affected_count"] == impact["count"]
        # before the window: both planned, still energized
        early = _view(client, acct, at="2026-10-30T12:00:00+08:00")
        assert early["outages"]["current"] == [] and early["supply"]["energized"] is True
        assert {p["plan_id"] for p in early["outages"]["planned"]} == {9001, 9002}
        # a customer elsewhere is not affected
        lost = set(impact["customers"])
        assert acct in lost
        other = next(c["account_no"] for c in _customers() if c["account_no"] not in lost)
        unaffected = _view(client, other)
        assert unaffected["outages"]["current"] == [] and unaffected["outages"]["planned"] == []
        assert unaffected["supply"]["energized"] is True
    finally:
        with engine.begin() as conn:
            conn.execute(delete(steps).where(steps.c.plan_id.in_([9001, 9002, 9003])))
            conn.execute(delete(plans).where(plans.c.id.in_([9001, 9002, 9003])))
        engine.dispose()


def test_emotion_panel_has_label_and_reasons(client: httpx.Client) -> None:
    with (SAMPLE / "interactions.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    complaints: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        if r["account_no"] and r["kind"] == "投诉" and r["occurred_at"] >= "2026-10-01":
            complaints.setdefault(r["account_no"], []).append(r)
    acct = next(a for a, items in sorted(complaints.items()) if len(items) >= 2)
    view = _view(client, acct)
    assert view["emotion"]["label"] == "angry"
    codes = [r["code"] for r in view["emotion"]["reasons"]]
    assert "complaints_30d" in codes
    reason = next(r for r in view["emotion"]["reasons"] if r["code"] == "complaints_30d")
    assert set(reason["interactions"]) >= {r["id"] for r in complaints[acct]}
    assert view["interactions"]["complaint_count"] >= 2
    assert sum(view["interactions"]["by_channel"].values()) == view["interactions"]["total"]


def test_nearest_and_viewport(client: httpx.Client, client_as, sample_customer: dict[str, str]) -> None:
    lon, lat = float(sample_customer["lon"]), float(sample_customer["lat"])
    body = client_as("agent").get("/api/v1/nearest", params={"lon": lon, "lat": lat, "radius_m": 30, "k": 3}).json()
    assert body["customers"][0]["distance_m"] == 0.0
    assert sample_customer["account_no"] in {c["account_no"] for c in body["customers"] if c["distance_m"] == 0.0}
    assert body["meter_box"] is not None and body["transformer_area"]["transformer_id"]
    r = client.get("/api/v1/nearest", params={"lon": lon, "lat": lat, "radius_m": 0})
    assert r.status_code == 422 and r.json()["field"] == "radius_m"
    everything = "113.0997,22.9929,113.1405,23.0271"
    zoomed_out = client.get("/api/v1/viewport", params={"bbox": everything, "zoom": 14}).json()
    assert zoomed_out["mode"] == "clusters" and zoomed_out["count"] == 5000
    assert sum(c["count"] for c in zoomed_out["clusters"]) == 5000
    near = f"{lon - 0.0005},{lat - 0.0005},{lon + 0.0005},{lat + 0.0005}"
    points = client.get("/api/v1/viewport", params={"bbox": near, "zoom": 19}).json()
    assert points["mode"] == "points"
    assert sample_customer["account_no"] in {p["account_no"] for p in points["points"]}
    layer = client.get("/api/v1/layers/customers", params={"bbox": near, "limit": 5000}).json()
    assert points["count"] == layer["numberMatched"]
    r = client.get("/api/v1/viewport", params={"bbox": everything, "zoom": 19})
    assert r.status_code == 422 and r.json()["field"] == "bbox" and "zoom" in r.json()["detail"]
    assert client_as("admin").get("/api/v1/viewport", params={"bbox": everything, "zoom": 14}).status_code == 200


def test_panels_per_role_are_configuration(tmp_path) -> None:
    from pydantic import ValidationError

    from api.settings import DEFAULT_VIEW_PANELS, Settings
    custom = dict(DEFAULT_VIEW_PANELS, agent=("profile", "supply"))
    assert Settings(customer_view_panels=custom).customer_view_panels["agent"] == ("profile", "supply")
    for bad, word in (({**custom, "agent": ("profile", "secrets")}, "secrets"),
                      ({k: v for k, v in custom.items() if k != "analyst"}, "analyst"),
                      ({**custom, "janitor": ()}, "janitor")):
        with pytest.raises(ValidationError) as info:
            Settings(customer_view_panels=bad)
        assert word in str(info.value)


def test_a_role_sees_only_its_configured_panels(sqlite_templates, tmp_path) -> None:
    import shutil

    from api.settings import DEFAULT_VIEW_PANELS, Settings
    from tests.api.conftest import serve
    path = tmp_path / "store.sqlite"
    shutil.copyfile(sqlite_templates["city"], path)
    url = f"sqlite:///{path}"
    panels = dict(DEFAULT_VIEW_PANELS, agent=("supply",))
    served = serve(url, Settings(database_url=url, customer_view_panels=panels))
    base = next(served)
    try:
        acct = _customers()[0]["account_no"]
        body = httpx.get(f"{base}/api/v1/customers/{acct}", headers=base.headers("agent"), params={"at": AT}).json()
        assert body["panels"] == ["supply"]
        assert "supply" in body and not ({"profile", "contact", "outages", "interactions", "emotion", "stale"} & set(body))
        fields = httpx.get(f"{base}/api/v1/customers/{acct}/fields", headers=base.headers("agent"),
                           params={"q": "容量"}).json()["data"]
        assert [f["field"] for f in fields] == ["transformer_kva"]      # contract_kva is in the hidden profile
    finally:
        served.close()
