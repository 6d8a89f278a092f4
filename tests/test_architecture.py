"""The dependency direction of STYLE.md, checked by import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken" in result.stdout, result.stdout


def test_nothing_connects_or_reads_settings_at_import():
    code = (
        "import os; os.environ['GRIDATLAS_DATABASE_URL']='postgresql+psycopg://nobody@127.0.0.1:1/none';"
        "import api.app, api.cli, gis.db, gis.store, loaders.city, topology, outage_impact;"
        "import sqlalchemy.pool as p; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
