"""`import city` keeps manual contact corrections (issue 18), on both stores.

A phone corrected through the contact API after the file's verification date (核实日期) survives a
re-import of a folder whose customers.csv still has the old number, and the command says so; a row
verified after the correction does win; an unchanged folder stays a no-op.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from gis.contacts import change_contact, read_contact, read_history
from gis.search import search_customers
from loaders.city import import_city
from tests.conftest import SAMPLE_DIR, SERVICE_AREA

runner = CliRunner()
NEW_PHONE = "13900001234"


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _correct_phone(engine, account_no: str) -> None:
    with engine.begin() as conn:
        state = read_contact(conn, account_no)
        change_contact(conn, account_no, if_match=state.etag, changes={"phone": NEW_PHONE}, confirm=False,
                       touchpoint="counter", actor="test", role="agent", now=dt.datetime.now(dt.timezone.utc))


def _stored(engine, account_no: str) -> tuple[str, object]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT phone, contact_verified_at FROM customers WHERE account_no = :a"),
                           {"a": account_no}).one()
    return row[0], row[1]


def test_reimport_keeps_a_newer_manual_correction_and_reports_it(tmp_path, city_store, city_store_url):
    city = tmp_path / "city"
    shutil.copytree(SAMPLE_DIR, city)
    header, rows = _rows(city / "customers.csv")
    target = next(i for i, r in enumerate(rows) if r["phone"].startswith("1") and r["contact_verified_at"])
    acct, old_phone, file_day = rows[target]["account_no"], rows[target]["phone"], rows[target]["contact_verified_at"]
    _correct_phone(city_store, acct)

    # the same folder again: a no-op, the correction untouched
    same = import_city(city_store, city, service_area=SERVICE_AREA)
    assert same.unchanged and same.kept_corrections == []
    assert _stored(city_store, acct)[0] == NEW_PHONE

    # another customer's name changes in the file: a real load, which must not revert the correction
    other = (target + 1) % len(rows)
    rows[other]["name"] = rows[other]["name"] + "（更名）"
    _write(city / "customers.csv", header, rows)
    r = runner.invoke(app, ["import", "city", str(city), "--database-url", city_store_url], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "kept 1 manual correction(s) of 1 customer(s)" in r.output
    assert f"line {target + 2}, account {acct}, phone: file '{old_phone}', kept '{NEW_PHONE}'" in r.output
    phone, day = _stored(city_store, acct)
    assert phone == NEW_PHONE and str(day)[:10] == file_day
    with city_store.connect() as conn:
        assert conn.execute(text("SELECT name FROM customers WHERE account_no = :a"),
                            {"a": rows[other]["account_no"]}).scalar_one() == rows[other]["name"]
        found = {d["account_no"] for d in search_customers(conn, NEW_PHONE).data}
        assert acct in found                                   # the search rows follow the kept value
        assert acct not in {d["account_no"] for d in search_customers(conn, old_phone).data}
        assert read_contact(conn, acct).sources()["phone"]["source"] == "counter"

    # the file's row is now verified later than the correction: the file wins, nothing is reported
    rows[target]["contact_verified_at"] = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    _write(city / "customers.csv", header, rows)
    result = import_city(city_store, city, service_area=SERVICE_AREA)
    assert not result.unchanged and result.kept_corrections == []
    assert _stored(city_store, acct)[0] == old_phone
    with city_store.connect() as conn:
        assert read_contact(conn, acct).sources()["phone"]["source"] == "import"
        assert len(read_history(conn, acct)) == 1


def test_reimport_never_moves_a_confirmation_date_back(tmp_path, city_store):
    city = tmp_path / "city"
    shutil.copytree(SAMPLE_DIR, city)
    header, rows = _rows(city / "customers.csv")
    acct = rows[0]["account_no"]
    now = dt.datetime.now(dt.timezone.utc)
    with city_store.begin() as conn:
        state = read_contact(conn, acct)
        change_contact(conn, acct, if_match=state.etag, changes={}, confirm=True, touchpoint="call_centre",
                       actor="test", role="agent", now=now)
    rows[1]["name"] = rows[1]["name"] + "（更名）"
    _write(city / "customers.csv", header, rows)
    result = import_city(city_store, city, service_area=SERVICE_AREA)
    assert not result.unchanged and result.kept_corrections == []
    assert str(_stored(city_store, acct)[1])[:10] == now.date().isoformat()
