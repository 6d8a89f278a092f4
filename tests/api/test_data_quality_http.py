"""Data-quality figures over real HTTP on both stores (issue 18), checked against the sample
city's own CSV computed with pandas: shares per 台区 and per feeder, stalest records first."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd

from tests.conftest import SAMPLE_DIR

CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str)
TRANSFORMERS = gpd.read_file(SAMPLE_DIR / "grid.gpkg", layer="transformers")[["id", "feeder_id"]]


def _expected(group_by: str, days: int) -> pd.DataFrame:
    since = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=days)).isoformat()
    df = CUSTOMERS.merge(TRANSFORMERS, left_on="transformer_id", right_on="id", how="left")
    df["area"] = df["transformer_id"] if group_by == "transformer" else df["feeder_id"]
    df["v"] = df["contact_verified_at"].fillna("") >= since
    g = df.groupby("area", dropna=False).agg(customers=("account_no", "size"), verified=("v", "sum")).reset_index()
    g["share"] = (g["verified"] / g["customers"]).round(4)
    return g.sort_values(["share", "area"], key=lambda s: s if s.name == "share" else s.fillna("~"))


def test_shares_per_transformer_and_feeder_worst_first(client_as):
    analyst = client_as("analyst")
    for group_by in ("transformer", "feeder"):
        body = analyst.get("/api/v1/data-quality", params={"group_by": group_by, "period_days": 365,
                                                           "limit": 5000, "stalest": 0}).json()
        exp = _expected(group_by, 365)
        got = {a["id"]: (a["customers"], a["verified"]) for a in body["areas"]}
        assert got == {r.area: (r.customers, r.verified) for r in exp.itertuples()}
        shares = [a["share"] for a in body["areas"]]
        assert shares == sorted(shares)
        assert body["totals"]["customers"] == len(CUSTOMERS)
        assert body["totals"]["verified"] == int(exp["verified"].sum())


def test_stalest_first_and_paging(client_as):
    c = client_as("agent")
    body = c.get("/api/v1/data-quality", params={"stalest": 10, "limit": 3}).json()
    order = CUSTOMERS.assign(never=CUSTOMERS.contact_verified_at.notna()).sort_values(
        ["never", "contact_verified_at", "account_no"])
    assert [r["account_no"] for r in body["stalest"]] == order.account_no.head(10).tolist()
    assert len(body["areas"]) == 3 and any(link["rel"] == "next" for link in body["links"])
    nxt = c.get(next(link["href"] for link in body["links"] if link["rel"] == "next")).json()
    assert nxt["areas"][0]["share"] >= body["areas"][-1]["share"]
    tr = CUSTOMERS.transformer_id.iloc[0]
    only = c.get("/api/v1/data-quality", params={"transformer_id": tr, "stalest": 1000, "limit": 1}).json()["stalest"]
    assert sorted(r["account_no"] for r in only) == sorted(CUSTOMERS[CUSTOMERS.transformer_id == tr].account_no)
    r = c.get("/api/v1/data-quality", params={"group_by": "street"})
    assert r.status_code == 422 and r.json()["field"] == "group_by"


# ---------------------------------------------------------------- the in-memory index against the store's full scans
def test_index_answers_exactly_as_the_full_scan(api_url, client_as):
    """/data-quality answers from the snapshot's index; the store's own GROUP BY gives the same areas,
    in the same order, with the same oldest date, and the same totals."""
    from gis.data_quality import verification_by_area, verification_totals
    from gis.db import make_engine

    analyst = client_as("analyst")
    since = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=700)
    engine = make_engine(api_url.database_url)
    try:
        with engine.connect() as conn:
            for group_by in ("transformer", "feeder"):
                scan = verification_by_area(conn, group_by=group_by, since=since, limit=5000)
                body = analyst.get("/api/v1/data-quality", params={"group_by": group_by, "period_days": 700,
                                                                   "limit": 5000, "stalest": 0}).json()
                assert [{k: v for k, v in a.items() if k != "flagged"} for a in body["areas"]] == scan
            assert {k: v for k, v in body["totals"].items() if k != "flagged"} == verification_totals(conn, since=since)
    finally:
        engine.dispose()


def _phones_valid(s: pd.Series) -> pd.Series:
    d = s.fillna("").str.replace(r"[\s\-–—().（）]", "", regex=True).str.replace(r"^(?:\+86|0086)", "", regex=True)
    return d.str.match(r"^(?:1[3-9]\d{9}|0\d{9,11})$") | s.isna()


def _expected_flags(days: int) -> pd.DataFrame:
    """Per customer of the CSV: stale / missing / invalid / conflicting phone, computed with pandas."""
    since = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=days)).isoformat()
    df = CUSTOMERS.copy()
    df["stale"] = df["contact_verified_at"].fillna("") < since
    df["missing_phone"] = df["phone"].isna() & df["phone_alt"].isna()
    df["invalid_phone"] = ~(_phones_valid(df["phone"]) & _phones_valid(df["phone_alt"]))
    digits = df["phone"].str.replace(r"[\s\-–—().（）]", "", regex=True)
    names = df[digits.notna()].groupby(digits[digits.notna()])["name"].nunique()
    df["conflicting_phone"] = digits.map(names).fillna(0) > 1
    return df


def _whole_city(c) -> tuple[str, float]:
    tiles = c.get("/api/v1/tiles/grid").json()
    b = tiles["bounds"]
    return ",".join(str(v) for v in (b[0] - 0.001, b[1] - 0.001, b[2] + 0.001, b[3] + 0.001)), 13


def test_viewport_counts_and_points_match_the_rules(client_as):
    agent = client_as("agent")
    bbox, zoom = _whole_city(agent)
    exp = _expected_flags(365)
    assert exp["conflicting_phone"].sum() > 0 and exp["stale"].sum() > 0   # the sample has both
    for rule, field, column in (("stale", None, "stale"), ("conflicting", "phone", "conflicting_phone"),
                                ("invalid", "phone", "invalid_phone"), ("missing", "phone", "missing_phone")):
        params = {"bbox": bbox, "zoom": zoom, "rule": rule, "period_days": 365}
        if field:
            params["field"] = field
        body = agent.get("/api/v1/data-quality/viewport", params=params).json()
        assert body["customers"] == len(CUSTOMERS)
        assert body["count"] == int(exp[column].sum()), rule
        if body["mode"] == "clusters":
            assert sum(c["count"] for c in body["clusters"]) == body["count"]
        else:
            assert sorted(p["account_no"] for p in body["points"]) == sorted(exp[exp[column]].account_no)
    # street zoom: single customers with their findings and coordinates
    conflicting = exp[exp["conflicting_phone"]].iloc[0]
    lon, lat = float(conflicting.lon), float(conflicting.lat)
    body = agent.get("/api/v1/data-quality/viewport", params={
        "bbox": f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}", "zoom": 18, "period_days": 365}).json()
    assert body["mode"] == "points"
    point = next(p for p in body["points"] if p["account_no"] == conflicting.account_no)
    assert "conflicting:phone" in point["findings"]
    assert ("stale" in point["findings"]) == bool(conflicting.stale)
    assert (point["lon"], point["lat"]) == (lon, lat)
    # any rule: every customer with one finding or more
    anyrule = exp["stale"] | exp["missing_phone"] | exp["invalid_phone"] | exp["conflicting_phone"]
    body = agent.get("/api/v1/data-quality/viewport", params={"bbox": bbox, "zoom": zoom, "period_days": 365}).json()
    assert body["count"] == int(anyrule.sum())
    figures = agent.get("/api/v1/data-quality", params={"rule": "conflicting", "limit": 5000, "stalest": 0}).json()
    assert figures["totals"]["flagged"] == int(exp["conflicting_phone"].sum())
    assert sum(a["flagged"] for a in figures["areas"]) == figures["totals"]["flagged"]


def test_viewport_bad_input_is_named(client_as):
    agent = client_as("agent")
    bbox, zoom = _whole_city(agent)
    for params, field in (({"bbox": bbox, "zoom": zoom, "rule": "conflicting", "field": "address"}, "field"),
                          ({"bbox": bbox, "zoom": zoom, "rule": "dirty"}, "rule"),
                          ({"bbox": "113,23,120,30", "zoom": 16}, "bbox"),
                          ({"bbox": "1,2,3", "zoom": 16}, "bbox")):
        r = agent.get("/api/v1/data-quality/viewport", params=params)
        assert r.status_code == 422, params
        body = r.json()
        named = body.get("field") or (body.get("errors") or [{}])[0].get("field", "")
        assert field in str(named), (params, body)


def test_a_confirmation_leaves_the_stale_set_at_once(client_as):
    """The index follows a contact change in the worker that made it: the customer is no longer stale."""
    agent = client_as("agent")
    exp = _expected_flags(365)
    row = exp[exp["stale"]].iloc[0]
    lon, lat = float(row.lon), float(row.lat)
    params = {"bbox": f"{lon - 0.0005},{lat - 0.0005},{lon + 0.0005},{lat + 0.0005}", "zoom": 19, "rule": "stale",
              "period_days": 365}
    before = agent.get("/api/v1/data-quality/viewport", params=params).json()
    assert row.account_no in {p["account_no"] for p in before["points"]}
    totals = agent.get("/api/v1/data-quality", params={"period_days": 365, "stalest": 0}).json()["totals"]
    etag = agent.get(f"/api/v1/customers/{row.account_no}/contact").headers["ETag"]
    r = agent.patch(f"/api/v1/customers/{row.account_no}/contact", headers={"If-Match": etag},
                    json={"touchpoint": "call_centre", "confirm": True})
    assert r.status_code == 200, r.text
    after = agent.get("/api/v1/data-quality/viewport", params=params).json()
    assert row.account_no not in {p["account_no"] for p in after["points"]}
    assert after["count"] == before["count"] - 1
    now = agent.get("/api/v1/data-quality", params={"period_days": 365, "stalest": 0}).json()["totals"]
    assert now["verified"] == totals["verified"] + 1


def test_geojson_gives_every_area_with_the_heat_outline(client_as):
    """format=geojson (the map's area layer): every 台区 / feeder, the same figures as the JSON pages, each with
    the heat layer's hull of its customers as geometry; the customers without an area have none."""
    analyst = client_as("analyst")
    for group_by in ("transformer", "feeder"):
        r = analyst.get("/api/v1/data-quality", params={"group_by": group_by, "period_days": 365, "format": "geojson"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
        body = r.json()
        pages = analyst.get("/api/v1/data-quality", params={"group_by": group_by, "period_days": 365, "limit": 5000,
                                                             "stalest": 0}).json()   # checked against the CSV above
        got = {f["id"]: {k: v for k, v in f["properties"].items() if k != "by"} for f in body["features"]}
        assert got == {a["id"]: {k: v for k, v in a.items() if k != "flagged"} for a in pages["areas"]}
        assert len(got) == (CUSTOMERS.transformer_id.nunique(dropna=False) if group_by == "transformer" else len(pages["areas"]))
        assert body["totals"] == {k: v for k, v in pages["totals"].items() if k != "flagged"} and all(f["properties"]["by"] == group_by for f in body["features"])
        assert body["count"] == len(body["features"]) and body["period_days"] == 365
        heat = analyst.get("/api/v1/heat", params={"by": group_by, "from": "2026-01-01", "to": "2026-01-02",
                                                     "format": "geojson"}).json()
        outlines = {f["id"]: f["geometry"] for f in heat["features"]}
        for f in body["features"]:
            if f["id"] is None:
                assert f["geometry"] is None
            else:
                assert f["geometry"] == outlines[f["id"]] and f["geometry"]["type"] in ("Polygon", "MultiPolygon", "Point", "LineString")
    r = analyst.get("/api/v1/data-quality", params={"format": "kml"})
    assert r.status_code == 422 and r.json()["field"] == "format"
