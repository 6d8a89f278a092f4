"""Read pandapower's JSON network files without pandapower, and fetch SimBench networks.

Why not ``pandapower.from_json``: pandapower 3.x pins ``pandas~=2.3`` and fails under
pandas 3 (``create_bus`` already raises ``TypeError: Invalid value 'True' for dtype
'float64'``), while GridAtlas runs on pandas 3. The file format itself is simple and
stable: an envelope ``{"_module": "pandapower.auxiliary", "_class": "pandapowerNet",
"_object": {table: {"_class": "DataFrame", "orient": "split", "_object": "<split JSON>"},
…}}`` (pandapower 2.x and 3.x alike). :func:`read_pandapower_json` decodes exactly that,
with the standard library's JSON parser (no dtype guessing), and refuses anything else with
:class:`~gis.errors.InvalidInput`.

SimBench networks come from the ``simbench`` package (which needs pandapower).
:func:`export_simbench` runs it in this interpreter when it imports, or else in the
interpreter named by ``python`` (or ``GRIDATLAS_PANDAPOWER_PYTHON``): a separate
environment where pandapower and simbench have the pandas they need.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gis.errors import InvalidInput

__all__ = ["PandapowerNet", "read_pandapower_json", "parse_pandapower_json", "export_simbench", "PYTHON_ENV"]

#: environment variable naming a Python interpreter that has pandapower and simbench
PYTHON_ENV = "GRIDATLAS_PANDAPOWER_PYTHON"

#: the tables the loader reads (others are ignored or, when not empty, reported)
_TABLES = ("bus", "line", "switch", "trafo", "trafo3w", "ext_grid", "gen", "sgen", "load",
           "impedance", "dcline", "tcsc", "vsc", "line_dc", "bus_geodata", "line_geodata")


class PandapowerNet(Mapping[str, pd.DataFrame]):
    """The element tables of one pandapower network (empty frames for absent tables)."""

    def __init__(self, tables: dict[str, pd.DataFrame], name: str | None) -> None:
        self._tables = tables
        self.name = name

    def __getitem__(self, key: str) -> pd.DataFrame:
        return self._tables.get(key, pd.DataFrame())

    def __iter__(self):
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)


def read_pandapower_json(path: Path) -> PandapowerNet:
    """Read a file written by ``pandapower.to_json``; :class:`InvalidInput` when it is not one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", field="file", value=str(path)) from exc
    return parse_pandapower_json(text, source=str(path))


def parse_pandapower_json(text: str, *, source: str = "<string>") -> PandapowerNet:
    """Decode pandapower's JSON format (see the module docstring)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source} is not JSON: {exc}", field="file", value=source) from exc
    if not (isinstance(doc, dict) and doc.get("_class") == "pandapowerNet" and isinstance(doc.get("_object"), dict)):
        raise InvalidInput(
            f"{source} is JSON but not a pandapower network (expected the envelope written by "
            "pandapower.to_json: {\"_class\": \"pandapowerNet\", \"_object\": {...}})",
            field="file", value=source,
        )
    body = doc["_object"]
    if "bus" not in body:
        raise InvalidInput(f"{source}: the pandapower network has no bus table", field="bus", value=source)
    tables = {name: _frame(body[name], name, source) for name in _TABLES if name in body}
    name = body.get("name") if isinstance(body.get("name"), str) else None
    return PandapowerNet(tables, name)


def _frame(entry: Any, table: str, source: str) -> pd.DataFrame:
    """One DataFrame of the envelope: ``orient`` split (pandapower's default) or columns."""
    if not isinstance(entry, dict) or entry.get("_class") != "DataFrame":
        raise InvalidInput(f"{source}: table {table!r} is not an encoded DataFrame", field=table)
    raw = entry.get("_object")
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        orient = entry.get("orient", "split")
        if orient == "split":
            df = pd.DataFrame(data["data"], index=data["index"], columns=data["columns"], dtype=object)
        elif orient == "columns":
            df = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in data.items()})
            df.index = [int(i) for i in df.index]
        else:
            raise ValueError(f"unsupported orient {orient!r}")
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"{source}: cannot decode table {table!r}: {exc}", field=table) from exc
    if len(df.index) and not all(isinstance(i, int) for i in df.index):
        raise InvalidInput(f"{source}: table {table!r} has a non-integer index", field=table)
    return df


_SIMBENCH_SCRIPT = (
    "import sys, simbench, pandapower\n"
    "pandapower.to_json(simbench.get_simbench_net(sys.argv[1]), sys.argv[2])\n"
)


def export_simbench(code: str, out: Path, *, python: str | None = None) -> None:
    """Write SimBench network ``code`` as pandapower JSON to ``out``.

    Uses ``python`` (else ``$GRIDATLAS_PANDAPOWER_PYTHON``) as a separate interpreter when
    given; otherwise imports simbench here. Raises :class:`InvalidInput` naming the missing
    package, or the unknown code, with simbench's own message.
    """
    python = python or os.environ.get(PYTHON_ENV)
    if python:
        try:
            done = subprocess.run([python, "-c", _SIMBENCH_SCRIPT, code, str(out)],
                                  capture_output=True, text=True, timeout=600, check=False)
        except OSError as exc:
            raise InvalidInput(f"cannot run {python}: {exc}", field="python", value=python) from exc
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise InvalidInput(f"simbench could not build {code!r} with {python}: {last}", field="code", value=code)
        return
    advice = ("install them in a separate environment (python -m venv pp && pp/bin/pip install simbench) "
              f"and point {PYTHON_ENV} (or --python) at its python")
    if int(pd.__version__.split(".")[0]) >= 3:
        raise InvalidInput(f"the 'simbench' package (and pandapower) need pandas<3, this environment has pandas "
                           f"{pd.__version__}: {advice}", field="simbench", value=code)
    try:
        import pandapower
        import simbench
    except ImportError as exc:
        raise InvalidInput(f"importing SimBench networks needs the 'simbench' package (and pandapower): {advice}",
                           field="simbench", value=code) from exc
    try:
        net = simbench.get_simbench_net(code)
    except Exception as exc:  # noqa: BLE001 - simbench raises bare ValueError/KeyError/etc. for codes
        raise InvalidInput(f"simbench could not build {code!r}: {exc}", field="code", value=code) from exc
    pandapower.to_json(net, str(out))
