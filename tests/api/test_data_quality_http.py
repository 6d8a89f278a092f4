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
