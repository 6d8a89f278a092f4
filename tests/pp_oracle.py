"""The ``pp_oracle`` fixture: pandapower itself, in its own interpreter, as the reference.

pandapower 3.x pins pandas<3 while GridAtlas runs on pandas 3, so pandapower lives in a
separate environment: ``$GRIDATLAS_PANDAPOWER_PYTHON``, else ``.venv-pandapower/bin/python``
at the repository root (``scripts/setup.sh --test`` creates it). Without it the tests
are skipped on a developer's machine and FAIL on CI (``CI=true`` or
``GRIDATLAS_REQUIRE_PANDAPOWER=1``), like the PostGIS tests. Import the fixture into a
test module with ``from tests.pp_oracle import pp_oracle  # noqa: F401``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, required_here

__all__ = ["Oracle", "pp_oracle", "pandapower_python"]

_SERVER = Path(__file__).with_name("pandapower_oracle_server.py")


def pandapower_python() -> str | None:
    """The interpreter that has pandapower, or None."""
    env = os.environ.get("GRIDATLAS_PANDAPOWER_PYTHON")
    if env:
        return env
    local = ROOT / ".venv-pandapower" / "bin" / "python"
    return str(local) if local.exists() else None


def _required() -> bool:
    return required_here("pandapower")


class Oracle:
    """A running ``pandapower_oracle_server.py``: build networks, ask which loads lose supply."""

    def __init__(self, python: str, out_dir: Path) -> None:
        self.proc = subprocess.Popen([python, str(_SERVER), str(out_dir)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.built: dict[str, dict] = {}
        self._lost: dict[tuple, dict] = {}

    def _ask(self, req: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the pandapower oracle exited")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"pandapower oracle: {reply['error']}")
        return reply

    def build(self, name: str, source: str, code: str | None = None) -> dict:
        """Build (once) and write the network; returns path, switches [[i, closed]], lines."""
        if name not in self.built:
            self.built[name] = self._ask({"cmd": "build", "name": name, "source": source, "code": code})
        return self.built[name]

    def lost(self, name: str, toggle: Iterable[int] = (), lines_out: Iterable[int] = ()) -> tuple[set[str], bool]:
        """Loads that lose supply, and whether slacks kept apart are joined (answers are cached)."""
        reply = self._reply(name, toggle, lines_out)
        return set(reply["lost"]), reply["joined"]

    def supplied(self, name: str) -> set[str]:
        """Loads supplied in the network's own state."""
        return set(self._reply(name, (), ())["supplied_before"])

    def _reply(self, name: str, toggle: Iterable[int], lines_out: Iterable[int]) -> dict:
        key = (name, tuple(sorted(toggle)), tuple(sorted(lines_out)))
        if key not in self._lost:
            self._lost[key] = self._ask({"cmd": "lost", "name": name, "toggle": list(key[1]), "lines_out": list(key[2])})
        return self._lost[key]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def pp_oracle(tmp_path_factory) -> Iterator[Oracle]:
    python = pandapower_python()
    reason = None
    if python is None:
        reason = "no pandapower interpreter (.venv-pandapower or GRIDATLAS_PANDAPOWER_PYTHON)"
    else:
        probe = subprocess.run([python, "-c", "import pandapower, simbench"], capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            reason = f"{python} cannot import pandapower/simbench: {probe.stderr.strip().splitlines()[-1:]}"
    if reason:
        if _required():
            pytest.fail(f"pandapower is required here (CI/GRIDATLAS_REQUIRE_PANDAPOWER): {reason}", pytrace=False)
        pytest.skip(reason)
    oracle = Oracle(python, tmp_path_factory.mktemp("pandapower"))
    yield oracle
    oracle.close()

