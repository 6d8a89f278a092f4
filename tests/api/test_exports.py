"""Impact-list exports: exact CSV/XLSX/GeoJSON content, masking by role, streaming and its memory bound."""

from __future__ import annotations

import csv
import io
import json
import math
import tracemalloc

import openpyxl
import pandas as pd
import pytest

from api.exports import EXPORT_COLUMNS, csv_stream, export_records, geojson_stream, xlsx_stream
from api.masking import mask_address, mask_name, mask_phone
from api.settings import Settings
from outage_impact import SwitchingPlan, plan_impact
from tests.conftest import SAMPLE_DIR
from topology import compile_index
from topology.testing import GridBuilder

FUSE = "SW000030"
BREAKER = "SW000007"
CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str).set_index("account_no")


def _expected(client, element: str, *, sees_pii: bool) -> list[dict]:
    """The rows an export must hold, built from the customer archive and the trace routes; a masked
    role (the default ``export_masking``) gets masked names and coordinates rounded to 0.01°."""
    accounts = sorted(client.get(f"/api/v1/trace/switch/{element}/downstream").json()["customers"])
    rows = []
    for acct in accounts:
        c = CUSTOMERS.loc[acct]
        area = client.get(f"/api/v1/customers/{acct}/supply-area").json()
        phone, address = (c.phone, c.address) if sees_pii else (mask_phone(c.phone), mask_address(c.address))
        rows.append({"account_no": acct, "name": c["name"] if sees_pii else mask_name(c["name"]),
                     "address": address, "phone": phone,
                     "feeder_id": area["feeder_id"], "transformer_id": area["transformer_id"],
                     "meter_box_id": c.meter_box_id if isinstance(c.meter_box_id, str) else None,
                     "sensitivity": c.sensitivity if isinstance(c.sensitivity, str) else None,
                     "lon": float(c.lon) if sees_pii else round(float(c.lon), 2),
                     "lat": float(c.lat) if sees_pii else round(float(c.lat), 2)})
    return rows


def _stored_plan(client_as, element=FUSE) -> int:
    r = client_as("planner").post("/api/v1/plans", json={"title": "export test",
                                                        "steps": [{"action": "open", "element": element}]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _from_csv(content: bytes) -> list[dict]:
    assert content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    reader = csv.DictReader(io.StringIO(content[3:].decode("utf-8"), newline=""))
    assert tuple(reader.fieldnames) == EXPORT_COLUMNS
    return [{k: (float(v) if k in ("lon", "lat") else (v or None)) for k, v in row.items()} for row in reader]


@pytest.mark.parametrize("role", ["planner", "dispatcher"])
def test_csv_export_is_exact_and_masked_by_role(client, client_as, role):
    plan_id = _stored_plan(client_as)
    r = client_as(role).get(f"/api/v1/plans/{plan_id}/impact/customers.csv")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == f'attachment; filename="plan-{plan_id}-v1-impact.csv"'
    assert r.headers["x-data-version"] == "1"
    rows = _from_csv(r.content)
    expected = _expected(client, FUSE, sees_pii=role == "dispatcher")
    assert len(rows) == 24 and rows == expected
    if role == "planner":
        assert all("*" in row["phone"] and "*" in row["name"] for row in rows)
        assert all(round(row["lon"], 2) == row["lon"] for row in rows)


@pytest.mark.parametrize("name, masked", [("张伟", "张*"), ("周家帆", "周*帆"), ("欧阳明伟", "欧**伟"), ("陈", "*"),
                                          ("", ""), (None, None)])
def test_mask_name(name, masked):
    assert mask_name(name) == masked


def test_export_masking_is_configurable_per_role():
    settings = Settings(export_masking={"planner": {"names": False, "coordinate_decimals": 3}})
    assert settings.export_masking["planner"].names is False
    assert settings.export_masking["planner"].coordinate_decimals == 3
    assert settings.export_masking["analyst"].names is True  # the other roles keep their defaults
    assert settings.export_masking["dispatcher"].coordinate_decimals is None
    with pytest.raises(ValueError, match="export_masking: unknown role"):
        Settings(export_masking={"visitor": {"names": True}})
    with pytest.raises(ValueError):
        Settings(export_masking={"planner": {"coordinate_decimals": 9}})
    result = _one_transformer(3)
    details = {f"C{i:07d}": {"name": "周家帆", "address": "纺织路4号", "phone": "13126282696", "meter_box_id": None}
               for i in range(3)}
    rows = next(export_records(result, lambda _: details, sees_pii=False, chunk_size=10,
                               mask_names=False, coordinate_decimals=3))
    assert rows[1]["name"] == "周家帆" and rows[1]["phone"] == "131****2696"
    exact = next(export_records(result, lambda _: details, sees_pii=False, chunk_size=10, mask_names=True,
                                coordinate_decimals=None))
    assert exact[1]["name"] == "周*帆" and round(exact[1]["lon"], 3) != exact[1]["lon"]
    assert (rows[1]["lon"], rows[1]["lat"]) == (round(exact[1]["lon"], 3), round(exact[1]["lat"], 3))


def test_xlsx_export_parses_back_to_the_same_rows(client, client_as):
    plan_id = _stored_plan(client_as)
    r = client_as("analyst").get(f"/api/v1/plans/{plan_id}/impact/customers.xlsx")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    wb = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True)
    values = list(wb["customers"].iter_rows(values_only=True))
    assert values[0] == EXPORT_COLUMNS
    rows = [dict(zip(EXPORT_COLUMNS, v)) for v in values[1:]]
    assert rows == _expected(client, FUSE, sees_pii=False)


def test_geojson_export_is_an_rfc7946_feature_collection(client, client_as):
    plan_id = _stored_plan(client_as)
    r = client_as("dispatcher").get(f"/api/v1/plans/{plan_id}/impact/customers.geojson")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    fc = json.loads(r.content)
    assert fc["type"] == "FeatureCollection" and fc["plan_id"] == plan_id
    assert (fc["plan_version"], fc["data_version"], fc["numberMatched"]) == (1, 1, 24)
    expected = _expected(client, FUSE, sees_pii=True)
    assert [f["id"] for f in fc["features"]] == [e["account_no"] for e in expected]
    for feature, exp in zip(fc["features"], expected):
        assert feature["type"] == "Feature" and feature["geometry"] == {"type": "Point", "coordinates": [exp["lon"], exp["lat"]]}
        assert feature["properties"] == {k: v for k, v in exp.items() if k not in ("lon", "lat")}


@pytest.mark.parametrize("fmt", ["csv", "geojson", "xlsx"])
def test_adhoc_export_equals_the_stored_plan_export(client_as, fmt):
    plan_id = _stored_plan(client_as)
    planner = client_as("planner")
    stored = planner.get(f"/api/v1/plans/{plan_id}/impact/customers.{fmt}")
    adhoc = planner.post("/api/v1/impact/export", params={"format": fmt}, json={"open": [FUSE]})
    assert adhoc.status_code == stored.status_code == 200
    if fmt == "csv":
        assert adhoc.content == stored.content
    elif fmt == "geojson":
        a, s = json.loads(adhoc.content), json.loads(stored.content)
        assert a["features"] == s["features"] and a["data_version"] == 1
    else:
        def rows(content):
            return list(openpyxl.load_workbook(io.BytesIO(content), read_only=True)["customers"].iter_rows(values_only=True))
        assert rows(adhoc.content) == rows(stored.content)
    r = planner.post("/api/v1/impact/export", params={"format": "pdf"}, json={"open": [FUSE]})
    assert r.status_code == 422 and r.json()["field"] == "format"
    assert client_as("agent").post("/api/v1/impact/export", json={"open": [FUSE]}).status_code == 403


def test_a_large_export_is_streamed_chunked(client_as):
    plan_id = _stored_plan(client_as, BREAKER)
    with client_as("planner").stream("GET", f"/api/v1/plans/{plan_id}/impact/customers.geojson") as r:
        assert r.status_code == 200
        assert "content-length" not in r.headers and r.headers["transfer-encoding"] == "chunked"
        content = b"".join(r.iter_bytes())
    assert len(json.loads(content)["features"]) == 1115


# ------------------------------------------------------------------ memory bound, 100k rows
N_BIG = 100_000


def _one_transformer(n: int):
    """One transformer with ``n`` customers behind one breaker: opening it cuts them all."""
    g = GridBuilder()
    g.node("BUS")
    g.substation("S1", bus="BUS")
    g.node("N1")
    g.switch("BR1", "BUS", "N1", kind="breaker")
    g.feeder("F1", "S1", "BR1")
    g.node("LV1", kind="lv", voltage_kv=0.4)
    g.transformer("T1", "N1", "LV1")
    for i in range(n):
        g.customer(f"C{i:07d}", "LV1", sensitivity="医院" if i % 1000 == 0 else None)
    result = plan_impact(compile_index(g.build(f"n{n}")), SwitchingPlan.from_dict({"open": ["BR1"]}))
    next(result.iter_rows(1))  # the account order: 8 bytes per affected customer, computed once per result
    return result


@pytest.fixture(scope="module")
def big_result():
    return _one_transformer(N_BIG)


@pytest.fixture(scope="module")
def small_result():
    return _one_transformer(N_BIG // 10)


def _details(accounts):
    # The store's part is tested over HTTP above; here the writers' memory is measured.
    return {a: {"name": f"户{a}", "address": f"佛山市禅城区{a}号", "phone": "13800001234", "meter_box_id": None}
            for a in accounts}


def _stream_peak(make_stream) -> tuple[int, int, bytes]:
    tracemalloc.start()
    try:
        total, tail = 0, b""
        for block in make_stream():
            total += len(block)
            tail = (tail + block)[-200:]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return total, peak, tail


@pytest.mark.parametrize("fmt", ["csv", "geojson", "xlsx"])
def test_streaming_100k_rows_keeps_memory_flat(small_result, big_result, fmt):
    """Peak memory while streaming does not grow with the list: 100k rows cost what 10k rows cost."""
    assert big_result.count == N_BIG

    def make(result):
        def stream():
            chunks = export_records(result, _details, sees_pii=False, chunk_size=500)
            if fmt == "csv":
                return csv_stream(chunks)
            if fmt == "geojson":
                return geojson_stream(chunks, {"data_version": 1})
            return xlsx_stream(chunks)
        return stream

    _, small_peak, _ = _stream_peak(make(small_result))
    total, peak, tail = _stream_peak(make(big_result))
    print(f"{fmt}: {total / 2**20:.1f} MiB streamed, peak {peak / 2**20:.2f} MiB traced (10k rows: {small_peak / 2**20:.2f})")
    if fmt == "xlsx":
        # the finished file sits in the spool (RAM up to 4 MiB, then disk); rows are never held
        assert peak < 4 * 2**20 + 2 * 2**20
    else:
        assert peak < 1.3 * small_peak + 2**18, f"{fmt}: peak {peak} grew with the list (10k rows: {small_peak})"
        assert total > 3 * peak, f"{fmt}: {total} bytes out, peak {peak}"
    if fmt == "csv":
        assert tail.endswith(b"\r\n")
    if fmt == "geojson":
        assert tail.endswith(b"]}")


def test_streamed_100k_row_count_is_exact(big_result):
    chunks = export_records(big_result, _details, sees_pii=True, chunk_size=3000)
    lines = b"".join(csv_stream(chunks)).decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + N_BIG and lines[1].startswith("C0000000,户C0000000,")
    assert lines[-1].startswith("C0099999,")
    accounts = [line.split(",", 1)[0] for line in lines[1:]]
    assert accounts == sorted(accounts) and len(set(accounts)) == N_BIG
    fc = json.loads(b"".join(geojson_stream(export_records(big_result, _details, sees_pii=False, chunk_size=5000), {})))
    assert len(fc["features"]) == N_BIG and fc["features"][0]["properties"]["phone"] == "138****1234"
    assert all(f["geometry"] is None or not math.isnan(f["geometry"]["coordinates"][0]) for f in fc["features"][:10])
