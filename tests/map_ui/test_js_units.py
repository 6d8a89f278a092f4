"""The map's pure ES modules under node's own test runner (``node --test map_ui/tests/``), run by pytest so
CI runs them: one test that fails when any node test fails. Node missing: skipped locally, failed on CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

MAP_UI = Path(__file__).resolve().parents[2] / "map_ui"


def _required() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true" or os.environ.get("GRIDATLAS_REQUIRE_BROWSER") == "1"


def test_node_unit_tests_of_the_map_modules_pass() -> None:
    node = shutil.which("node")
    if node is None:
        if _required():
            pytest.fail("node is not installed (scripts/setup.sh installs Debian's nodejs); CI requires it", pytrace=False)
        pytest.skip("node is not installed: `apt-get install nodejs` (scripts/setup.sh does it)")
    tests = sorted(str(p.relative_to(MAP_UI)) for p in (MAP_UI / "tests").glob("*.test.mjs"))
    assert tests, "no node tests found under map_ui/tests"
    run = subprocess.run([node, "--test", *tests], cwd=MAP_UI, capture_output=True, text=True, timeout=300)
    summary = [line for line in run.stdout.splitlines() if line.startswith(("# pass", "# fail", "not ok"))]
    assert run.returncode == 0, "node --test failed:\n" + "\n".join(summary) + "\n" + run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout


def test_index_html_preloads_every_module() -> None:
    """index.html lists every module with <link rel=modulepreload> (one round of fetches, not one per import level)."""
    import re

    html = (MAP_UI / "static" / "index.html").read_text(encoding="utf-8")
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/map/([^"]+)">', html))
    modules = {str(p.relative_to(MAP_UI / "static")) for p in (MAP_UI / "static" / "js").rglob("*.js")} - {"js/main.js"}
    assert preloaded == modules, (sorted(modules - preloaded), sorted(preloaded - modules))
