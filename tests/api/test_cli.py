"""The command line as a user runs it (a real subprocess): sample → import → validate."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GRIDATLAS = str(Path(sys.executable).with_name("gridatlas"))


def run(*args: str, db: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if db:
        env["GRIDATLAS_DATABASE_URL"] = db
    return subprocess.run([GRIDATLAS, *args], capture_output=True, text=True, env=env, timeout=300)


def test_sample_import_validate_round_trip(tmp_path, empty_store_url):
    out = tmp_path / "city"
    r = run("sample", str(out), "--customers", "400", "--seed", "7")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} >= {"grid.gpkg", "customers.csv", "interactions.csv", "manifest.json"}
    r = run("import", "city", str(out), db=empty_store_url)
    assert r.returncode == 0, r.stderr
    assert "loaded data version 1" in r.stderr
    r = run("import", "city", str(out), db=empty_store_url)
    assert r.returncode == 0 and "already loaded" in r.stderr
    r = run("validate", "--json", db=empty_store_url)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert not [f for f in report["findings"] if f["severity"] == "error"]


def test_sample_is_deterministic(tmp_path):
    for name in ("a", "b"):
        assert run("sample", str(tmp_path / name), "--customers", "200", "--seed", "3").returncode == 0
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", ["grid.gpkg", "customers.csv", "interactions.csv", "manifest.json"], shallow=False)
    assert not mismatch and not errors


def test_a_bad_city_is_refused_with_row_field_and_value(tmp_path):
    out = tmp_path / "city"
    assert run("sample", str(out), "--customers", "200", "--seed", "1").returncode == 0
    lines = (out / "customers.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[5].split(",")
    cells[header.index("lon")] = "1234"
    lines[5] = ",".join(cells)
    (out / "customers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path}/store.sqlite"
    r = run("import", "city", str(out), db=db)
    assert r.returncode == 2
    assert "nothing was loaded" in r.stderr and "customers row 6" in r.stderr and "1234" in r.stderr


def test_a_bad_database_url_is_a_clear_error():
    r = run("validate", db="mysql://x")
    assert r.returncode == 2 and "database_url" in r.stderr


def test_impact_command_formats(city_store_url, tmp_path):
    plans = tmp_path / "plans.json"
    plans.write_text(json.dumps([{"open": ["SW000003"]}, {"steps": [{"action": "open", "element": "SW000003"}]}]))
    r = run("impact", "--plan", str(plans), db=city_store_url)
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)
    assert len(results) == 2 and results[0]["customers"] == results[1]["customers"] and results[0]["count"] > 0
    r = run("impact", "--open", "SW000003", "--format", "csv", db=city_store_url)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "account_no,feeder_id,transformer_id,sensitivity"
    assert len(r.stdout.splitlines()) == results[0]["count"] + 1
    r = run("impact", "--open", "NOPE", db=city_store_url)
    assert r.returncode == 2 and "NOPE" in r.stderr


def _cli(*args: str, db: str):
    """The command line in this process (typer's runner): for checks that end before any work."""
    from typer.testing import CliRunner

    from api.cli import app

    return CliRunner().invoke(app, list(args), env={"GRIDATLAS_DATABASE_URL": db})


@pytest.mark.parametrize("command", ["heat", "hotspots", "reliability"])
@pytest.mark.parametrize("start, end, named", [
    ("2026-13-01", "2026-12-31", "--from"),      # not a date
    ("2026-01-01", "31.12.2026", "--to"),
    ("2026-12-31", "2026-01-01", "--to"),        # ends before it starts
])
def test_heat_hotspots_and_reliability_read_their_period_one_way(tmp_path, command, start, end, named):
    """One helper (api.cli._period): a bad day or an end before the start is a usage error naming the
    option, before the store is opened (exit 2), for every command that takes a period."""
    r = _cli(command, "--from", start, "--to", end, db=f"sqlite:///{tmp_path}/never-opened.sqlite")
    assert r.exit_code == 2, r.output
    assert f"Invalid value for {named}" in r.output, r.output
    assert not (tmp_path / "never-opened.sqlite").exists()


def test_heat_takes_days_and_reliability_also_zoned_times(tmp_path):
    db = f"sqlite:///{tmp_path}/never-opened.sqlite"
    r = _cli("heat", "--from", "2026-01-01T00:00+08:00", "--to", "2026-12-31", db=db)
    assert r.exit_code == 2 and "Invalid value for --from" in r.output and "YYYY-MM-DD" in r.output, r.output
    r = _cli("reliability", "--from", "2026-01-01T00:00", "--to", "2026-12-31", db=db)
    assert r.exit_code == 2 and "Invalid value for --from" in r.output and "zone" in r.output, r.output


def test_demo_serves_a_store_holding_other_data_as_it_is(tmp_path, empty_store_url):
    """`gridatlas demo` over a store that holds another city: served as it is, the sample city not
    loaded on top (its feeders and customers would mix into the utility's own)."""
    import time

    import httpx
    from sqlalchemy import create_engine, text

    from tests.api.conftest import _free_port, stop_server

    city = tmp_path / "city"
    assert run("sample", str(city), "--customers", "200", "--seed", "3").returncode == 0
    assert run("import", "city", str(city), db=empty_store_url).returncode == 0
    port = _free_port()
    log_path = tmp_path / "demo.log"  # a file, not a pipe: a full pipe would block the server
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen([GRIDATLAS, "demo", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "GRIDATLAS_DATABASE_URL": empty_store_url, "COLUMNS": "300"})
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, log_path.read_text(encoding="utf-8")
                assert time.monotonic() < deadline, "the demo never became ready"
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        finally:
            stop_server(proc)
    out = log_path.read_text(encoding="utf-8")
    assert f"already holds data version 1 (city:{city.resolve()})" in out, out
    assert "demo API key (role admin)" in out
    engine = create_engine(empty_store_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM data_versions")).scalar_one() == 1
            assert conn.execute(text("SELECT count(*) FROM customers")).scalar_one() == 200
    finally:
        engine.dispose()
