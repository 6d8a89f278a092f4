"""``gridatlas import pandapower FILE.json`` / ``import simbench CODE``: study networks into the store.

Mapping (ids keep pandapower's table and index, so results compare with pandapower):

* ``bus`` → node ``bus:<i>`` (kind ``bus``, ``voltage_kv`` = ``vn_kv``).
* ``line`` → segment ``line:<i>`` from ``from_bus`` to ``to_bus`` (``in_service`` kept; kind
  ``overhead`` for type ``ol``, else ``lv_cable`` below 1 kV, else ``cable``).
* ``switch`` by element type: ``b`` → a switch between the two bus nodes; ``l`` → the switch
  cuts the line at that end: the segment starts at a junction node ``bus:<b>/line:<l>`` and
  the switch joins ``bus:<b>`` to it; ``t`` → the same at a transformer terminal
  (``bus:<b>/trafo:<t>``). Several switches at one end are chained in series (any open one
  cuts, as in pandapower). ``normal_open = not closed``; ids ``switch:<i>``.
* ``trafo`` → transformer ``trafo:<i>`` (hv/lv nodes, ``rated_kva = sn_mva * 1000``).
  ``trafo3w``, ``impedance``, ``dcline``, ``tcsc``, ``vsc`` and ``line_dc`` rows are **rejected**
  with a reason (not modelled), and so are the switches at a rejected element.
* Sources: each in-service ``ext_grid`` and in-service ``gen`` with ``slack=True`` becomes a
  substation (``ext_grid:<i>`` / ``gen:<i>``) whose ``bus_node`` is its bus, which the
  topology engine treats as energized. No feeders are created: the engine needs none.
  ``sgen`` and non-slack ``gen`` are **not** sources (anti-islanding: distributed generators
  do not keep a de-energized area supplied) and are not imported.
* ``load`` → customer ``load:<i>`` at its bus (``category`` = SimBench ``profile`` if given,
  else ``load``; ``contract_kva`` = ``sn_mva * 1000`` when given). The point is the bus's:
  ``location_quality`` is ``meter_box`` for a bus below 1 kV (the house connection point) and
  ``transformer`` above (an MV load stands for a 台区 or a customer substation).
* Out of service: lines and trafos keep ``in_service=False``. A bus with ``in_service=False``
  conducts nothing in pandapower; here it stays a node (its loads stay its customers, never
  energized), and every element end at it is moved to its own stub node
  ``bus:<b>/<element>`` so that nothing conducts through it. A source at such a bus, an
  out-of-service ``ext_grid`` or slack ``gen``, is not a source. A load out of service is
  still a customer (its connection exists; only its demand is switched off).

Coordinates: bus geodata (pandapower 3 ``bus.geo`` GeoJSON, or older ``bus_geodata`` x/y)
in the declared CRS, transformed with pyproj; line geodata likewise. ``place_at`` ignores
any geodata and lays the network out schematically around that point
(:func:`loaders.schematic.tree_layout`), recorded in the data version's details. Buses
outside the service area (or without coordinates) are rejected row by row, with every
element at them; when no bus is usable the load is refused (:class:`InvalidInput`).
Accepted rows are written in one transaction through :func:`gis.bulk.bulk_upsert`; the
hash of the converted tables makes a re-import of the same data a no-op.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from sqlalchemy.engine import Engine

from gis.errors import InvalidInput
from gis.tables import write_order
from gis.validation import BBox, check_lonlat
from loaders.checks import text_errors
from loaders.core import LoadResult, tables_hash, unchanged_version, write_load
from loaders.pandapower_json import PandapowerNet
from loaders.rejects import Reject
from loaders.schematic import tree_layout

__all__ = ["Conversion", "PandapowerImport", "convert_net", "import_net", "WRITE_ORDER"]

#: write order: every table after the tables it references (from the models: :mod:`gis.tables`)
WRITE_ORDER = write_order({"substations", "nodes", "segments", "switches", "transformers", "customers"})
_UNMODELLED = {
    "trafo3w": "three-winding transformers are not modelled; split it into two-winding trafos",
    "impedance": "impedance branches are not modelled",
    "dcline": "DC lines are not modelled",
    "tcsc": "TCSC branches are not modelled",
    "vsc": "VSC converters are not modelled",
    "line_dc": "DC lines are not modelled",
}
_SWITCH_KIND = {"CB": "breaker", "LS": "load_switch", "LBS": "load_switch", "DS": "disconnector"}

Progress = Callable[[str, int, int], None]


@dataclass
class Conversion:
    """The store tables of one network, the rejected rows, and what was left out on purpose."""

    tables: dict[str, pd.DataFrame]
    rejects: list[Reject]
    notes: dict[str, Any] = field(default_factory=dict)


#: What an import returns: the result every loader returns (:mod:`loaders.core`); the notes of the
#: conversion are in ``details`` (and in the data version's details).
PandapowerImport = LoadResult


# ------------------------------------------------------------------ small helpers
def _ints(col: pd.Series) -> np.ndarray:
    """Integral values as float (NaN where missing or not an integer)."""
    num = np.array(pd.to_numeric(col, errors="coerce"), dtype=float)  # a copy (pandas 3 views are read-only)
    with np.errstate(invalid="ignore"):
        num[np.isfinite(num) & (num != np.round(num))] = np.nan
    return num


def _bools(col: pd.Series | None, n: int, default: bool) -> np.ndarray:
    if col is None:
        return np.full(n, default)
    return np.array([default if v is None or (isinstance(v, float) and math.isnan(v)) else bool(v) for v in col])


def _col(df: pd.DataFrame, name: str) -> pd.Series | None:
    return df[name] if name in df.columns else None


def _text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip()
    return s or None


def _geojson_coords(v: Any) -> list | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        obj = json.loads(v) if isinstance(v, str) else v
        return obj["coordinates"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None


class _Builder:
    """Converts one network; collects rejects as it goes (see the module docstring)."""

    def __init__(self, net: PandapowerNet, source: str, area: BBox, crs: CRS, place_at: tuple[float, float] | None) -> None:
        self.net, self.source, self.area, self.place_at = net, source, area, place_at
        self.to_wgs84 = None if crs == CRS.from_epsg(4326) else Transformer.from_crs(crs, 4326, always_xy=True)
        self.rejects: list[Reject] = []
        self.notes: dict[str, Any] = {}

    def reject(self, layer: str, index: Any, field_: str, value: Any, reason: str) -> None:
        self.rejects.append(Reject(self.source, layer, index, f"{layer}:{index}", field_,
                                   "" if value is None else str(value), reason))

    def text_ok(self, layer: str, index: Any, field_: str, value: Any, table: str, column: str) -> bool:
        """Whether ``value`` can be stored in ``table.column`` as it is (:func:`loaders.checks.text_errors`:
        no NUL, not too long); otherwise reject (layer, index)."""
        text = _text(value)
        errors = text_errors(table, column, [text])
        if errors:
            self.reject(layer, index, field_, text.replace("\x00", "\\x00"), errors[0][1])
        return not errors

    # -------------------------------------------------------------- buses
    def buses(self) -> None:
        bus = self.net["bus"]
        self.bus_kv = dict(zip(bus.index.tolist(), pd.to_numeric(_col(bus, "vn_kv"), errors="coerce").tolist()))
        self.bus_in_service = dict(zip(bus.index.tolist(), _bools(_col(bus, "in_service"), len(bus), True).tolist()))
        points = self._bus_points(bus)
        ok: dict[int, tuple[float, float]] = {}
        for b in bus.index.tolist():
            kv = self.bus_kv[b]
            if kv is None or not np.isfinite(kv) or kv <= 0:
                self.reject("bus", b, "vn_kv", kv, "must be a positive number (kV)")
            elif b not in points:
                self.reject("bus", b, "geo", None,
                            "no coordinates: give the bus geodata, or --place-at LON,LAT to lay the network out")
            else:
                ok[b] = points[b]
        if ok:
            idx = list(ok)
            lon = np.array([ok[b][0] for b in idx])
            lat = np.array([ok[b][1] for b in idx])
            frame = pd.DataFrame({"id": [f"bus:{b}" for b in idx], "_row": idx})
            for p in check_lonlat("bus", frame, "id", lon, lat, self.area):
                self.reject("bus", p.row, "geo", p.value, p.reason)
                ok.pop(p.row, None)
        if not ok:
            first = self.rejects[0] if self.rejects else None
            hint = "" if self.place_at else " (study networks without real coordinates: use --place-at LON,LAT)"
            raise InvalidInput(f"{self.source}: no usable bus; first problem: {first}{hint}",
                               field="bus", value=None if first is None else first.value)
        self.points = ok

    def _bus_points(self, bus: pd.DataFrame) -> dict[int, tuple[float, float]]:
        if self.place_at is not None:
            roots = [int(b) for t in ("ext_grid", "gen") if "bus" in self.net[t] for b in _ints(self.net[t]["bus"]) if np.isfinite(b)]
            self.notes["coordinates"] = f"schematic layout around {self.place_at[0]},{self.place_at[1]} (not geographic)"
            return tree_layout(bus.index.tolist(), self._all_branches(), roots, self.place_at)
        xy: dict[int, tuple[float, float]] = {}
        geo = _col(bus, "geo")
        if geo is not None:
            for b, v in zip(bus.index.tolist(), geo.tolist()):
                c = _geojson_coords(v)
                if isinstance(c, list) and len(c) >= 2 and all(isinstance(t, (int, float)) for t in c[:2]):
                    xy[b] = (float(c[0]), float(c[1]))
        old = self.net["bus_geodata"]
        if len(old) and {"x", "y"} <= set(old.columns):
            for b, x, y in zip(old.index.tolist(), pd.to_numeric(old["x"], errors="coerce"), pd.to_numeric(old["y"], errors="coerce")):
                if b not in xy and np.isfinite(x) and np.isfinite(y):
                    xy[b] = (float(x), float(y))
        self.notes["coordinates"] = "bus geodata"
        return {b: self._wgs84(x, y) for b, (x, y) in xy.items()}

    def _wgs84(self, x: float, y: float) -> tuple[float, float]:
        if self.to_wgs84 is None:
            return (x, y)
        lon, lat = self.to_wgs84.transform(x, y)
        return (float(lon), float(lat))

    def _all_branches(self) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for t, a, b in (("line", "from_bus", "to_bus"), ("trafo", "hv_bus", "lv_bus"),
                        ("trafo3w", "hv_bus", "mv_bus"), ("trafo3w", "hv_bus", "lv_bus")):
            df = self.net[t]
            if len(df) and a in df and b in df:
                out += [(int(x), int(y)) for x, y in zip(_ints(df[a]), _ints(df[b])) if np.isfinite(x) and np.isfinite(y)]
        sw = self.net["switch"]
        if len(sw):
            et = sw["et"].tolist()
            out += [(int(x), int(y)) for x, y, e in zip(_ints(sw["bus"]), _ints(sw["element"]), et)
                    if e == "b" and np.isfinite(x) and np.isfinite(y)]
        return out

    def bus_ok(self, layer: str, index: Any, field_: str, b: float) -> bool:
        """Whether bus ``b`` is an accepted bus; otherwise reject (layer, index)."""
        if not np.isfinite(b) or int(b) not in self.bus_kv:
            self.reject(layer, index, field_, None if not np.isfinite(b) else int(b), "unknown reference to bus")
            return False
        if int(b) not in self.points:
            self.reject(layer, index, field_, int(b), f"bus:{int(b)} was rejected")
            return False
        return True

    # -------------------------------------------------------------- branches and switches
    def unmodelled(self) -> None:
        for table, reason in _UNMODELLED.items():
            for i in self.net[table].index.tolist():
                self.reject(table, i, "element", table, reason)

    def convert(self) -> Conversion:
        self.buses()
        self.unmodelled()
        lines = self._branches("line", "from_bus", "to_bus")
        # line geometry first: a line refused for its geodata takes its switches with it
        self.line_geoms = {i: self._line_geom(i, row, a, b) for i, (a, b, row) in lines.items()}
        lines = {i: v for i, v in lines.items() if self.line_geoms[i] is not None}
        trafos = self._branches("trafo", "hv_bus", "lv_bus")
        sw = self._switches(lines, trafos)
        ends: dict[tuple[str, int, int], str] = {}   # (table, element, bus) -> node the element starts at
        self.extra_nodes: dict[str, int] = {}        # junction/stub node -> bus for its point
        switch_rows = []
        for (table, elem, b), chain in sorted(sw["ends"].items()):
            node = f"bus:{b}"
            for s in chain:
                nxt = f"bus:{b}/{table}:{elem}" if s == chain[-1] else f"bus:{b}/{table}:{elem}/switch:{s}"
                self.extra_nodes[nxt] = b
                switch_rows.append((s, node, nxt, b))
                node = nxt
            ends[(table, elem, b)] = node
        switch_rows += sw["bus_bus"]
        tables = {
            "substations": self._sources(),
            "segments": self._segments(lines, ends),
            "transformers": self._transformers(trafos, ends),
            "switches": self._switch_table(switch_rows),
            "customers": self._customers(),
        }
        tables["nodes"] = self._nodes(tables["substations"])
        self.notes.update(self._left_out())
        return Conversion({t: tables[t] for t in WRITE_ORDER}, self.rejects, self.notes)

    def _branches(self, table: str, a: str, b: str) -> dict[int, tuple[int, int, pd.Series]]:
        df = self.net[table]
        out = {}
        if not len(df):
            return out
        names = df["name"].tolist() if table == "trafo" and "name" in df else [None] * len(df)
        for i, x, y, name in zip(df.index.tolist(), _ints(df[a]), _ints(df[b]), names):
            if table == "trafo" and not self.text_ok(table, i, "name", name, "transformers", "name"):
                continue
            if self.bus_ok(table, i, a, x) and self.bus_ok(table, i, b, y):
                if int(x) == int(y):
                    self.reject(table, i, b, int(y), f"both ends on bus:{int(x)}")
                else:
                    out[i] = (int(x), int(y), df.loc[i])
        return out

    def _switches(self, lines: dict, trafos: dict) -> dict[str, Any]:
        df = self.net["switch"]
        ends: dict[tuple[str, int, int], list[int]] = {}
        bus_bus = []
        if not len(df):
            return {"ends": ends, "bus_bus": bus_bus}
        known = {"l": ("line", lines, self.net["line"]), "t": ("trafo", trafos, self.net["trafo"])}
        names = df["name"].tolist() if "name" in df else [None] * len(df)
        for s, b, e, et, name in zip(df.index.tolist(), _ints(df["bus"]), _ints(df["element"]), df["et"].tolist(), names):
            if not self.text_ok("switch", s, "name", name, "switches", "name") or not self.bus_ok("switch", s, "bus", b):
                continue
            b = int(b)
            if et == "b":
                if self.bus_ok("switch", s, "element", e):
                    if int(e) == b:
                        self.reject("switch", s, "element", int(e), f"both ends on bus:{b}")
                    else:
                        bus_bus.append((s, f"bus:{b}", f"bus:{int(e)}", b))
            elif et in known:
                table, accepted, raw = known[et]
                if not np.isfinite(e) or int(e) not in raw.index:
                    self.reject("switch", s, "element", None if not np.isfinite(e) else int(e), f"unknown reference to {table}")
                elif int(e) not in accepted:
                    self.reject("switch", s, "element", int(e), f"{table}:{int(e)} was rejected")
                elif b not in accepted[int(e)][:2]:
                    self.reject("switch", s, "bus", b, f"bus:{b} is not an end of {table}:{int(e)}")
                else:
                    ends.setdefault((table, int(e), b), []).append(s)
            elif et == "t3":
                self.reject("switch", s, "element", None if not np.isfinite(e) else int(e), "at a trafo3w, which is not modelled")
            else:
                self.reject("switch", s, "et", et, "element type must be b, l or t")
        return {"ends": ends, "bus_bus": bus_bus}

    def _end(self, table: str, elem: int, b: int, ends: dict) -> str:
        if not self.bus_in_service[b]:
            stub = f"bus:{b}/{table}:{elem}"
            self.extra_nodes[stub] = b
            return stub
        return ends.get((table, elem, b), f"bus:{b}")

    # -------------------------------------------------------------- tables
    def _segments(self, lines: dict, ends: dict) -> pd.DataFrame:
        rows = []
        for i, (a, b, row) in lines.items():
            na, nb = self._end("line", i, a, ends), self._end("line", i, b, ends)
            geom = self.line_geoms[i]
            kind = "overhead" if row.get("type") == "ol" else ("lv_cable" if self.bus_kv[a] < 1 else "cable")
            length = pd.to_numeric(pd.Series([row.get("length_km")]), errors="coerce").iloc[0]
            rows.append({"id": f"line:{i}", "node_a": na, "node_b": nb, "kind": kind,
                         "length_m": float(length) * 1000 if np.isfinite(length) else None,
                         "in_service": bool(_bools(pd.Series([row.get("in_service")]), 1, True)[0]),
                         "feeder_id": None, "geom": geom})
        return pd.DataFrame(rows, columns=["id", "node_a", "node_b", "kind", "length_m", "in_service", "feeder_id", "geom"])

    def _line_geom(self, i: int, row: pd.Series, a: int, b: int) -> shapely.LineString | None:
        coords = None if self.place_at is not None else _geojson_coords(row.get("geo"))
        if coords is None and self.place_at is None and len(self.net["line_geodata"]) and i in self.net["line_geodata"].index:
            coords = self.net["line_geodata"].loc[i].get("coords")
        if isinstance(coords, list) and len(coords) >= 2:
            try:
                pts = [self._wgs84(float(x), float(y)) for x, y, *_ in coords]
            except (TypeError, ValueError):
                pts = None
            if pts is not None:
                lon, lat = np.array(pts).T
                frame = pd.DataFrame({"id": [f"line:{i}"] * len(pts), "_row": [i] * len(pts)})
                bad = check_lonlat("line", frame, "id", lon, lat, self.area)
                if bad:
                    self.reject("line", i, "geo", bad[0].value, bad[0].reason)
                    return None
                return shapely.LineString(pts)
        return shapely.LineString([self.points[a], self.points[b]])

    def _transformers(self, trafos: dict, ends: dict) -> pd.DataFrame:
        rows = []
        for i, (hv, lv, row) in trafos.items():
            sn = pd.to_numeric(pd.Series([row.get("sn_mva")]), errors="coerce").iloc[0]
            if not np.isfinite(sn) or sn <= 0:
                self.reject("trafo", i, "sn_mva", row.get("sn_mva"), "must be a positive number (MVA)")
                continue
            rows.append({"id": f"trafo:{i}", "name": _text(row.get("name")) or f"trafo:{i}",
                         "hv_node": self._end("trafo", i, hv, ends), "lv_node": self._end("trafo", i, lv, ends),
                         "rated_kva": float(sn) * 1000,
                         "in_service": bool(_bools(pd.Series([row.get("in_service")]), 1, True)[0]),
                         "feeder_id": None, "geom": shapely.Point(self.points[hv])})
        return pd.DataFrame(rows, columns=["id", "name", "hv_node", "lv_node", "rated_kva", "in_service", "feeder_id", "geom"])

    def _switch_table(self, rows: list[tuple[int, str, str, int]]) -> pd.DataFrame:
        df = self.net["switch"]
        out = []
        for s, a, b, bus in sorted(rows):
            rec = df.loc[s]
            closed = rec.get("closed")
            if not isinstance(closed, (bool, np.bool_)):
                self.reject("switch", s, "closed", closed, "must be true or false")
                continue
            if rec.get("et") == "b" and not self.bus_in_service[int(b.split(":")[1])]:
                b = f"{b}/switch:{s}"
                self.extra_nodes[b] = bus
            if not self.bus_in_service[bus]:
                a = f"{a}/switch:{s}"
                self.extra_nodes[a] = bus
            out.append({"id": f"switch:{s}", "name": _text(rec.get("name")),
                        "kind": _SWITCH_KIND.get(_text(rec.get("type")) or "", "disconnector"),
                        "node_a": a, "node_b": b, "normal_open": not bool(closed), "feeder_id": None,
                        "geom": shapely.Point(self.points[bus])})
        return pd.DataFrame(out, columns=["id", "name", "kind", "node_a", "node_b", "normal_open", "feeder_id", "geom"])

    def _sources(self) -> pd.DataFrame:
        rows, not_sources = [], []
        for table in ("ext_grid", "gen"):
            df = self.net[table]
            if not len(df):
                continue
            active = _bools(_col(df, "in_service"), len(df), True)
            slack = np.ones(len(df), bool) if table == "ext_grid" else _bools(_col(df, "slack"), len(df), False)
            for i, b, on, sl in zip(df.index.tolist(), _ints(df["bus"]), active, slack):
                if not sl:
                    continue  # a PV generator is not a source
                if not self.bus_ok(table, i, "bus", b):
                    continue
                if not self.text_ok(table, i, "name", df.loc[i].get("name"), "substations", "name"):
                    continue
                if not on or not self.bus_in_service[int(b)]:
                    not_sources.append(f"{table}:{i}")
                    continue
                rows.append({"id": f"{table}:{i}", "name": _text(df.loc[i].get("name")) or f"{table}:{i}",
                             "voltage_kv": float(self.bus_kv[int(b)]), "bus_node": f"bus:{int(b)}",
                             "geom": shapely.Point(self.points[int(b)])})
        if not_sources:
            self.notes["out_of_service_sources"] = not_sources
        return pd.DataFrame(rows, columns=["id", "name", "voltage_kv", "bus_node", "geom"])

    def _customers(self) -> pd.DataFrame:
        df = self.net["load"]
        rows = []
        if not len(df):
            return pd.DataFrame(columns=["account_no"])
        profile = _col(df, "profile")
        for k, (i, b) in enumerate(zip(df.index.tolist(), _ints(df["bus"]))):
            if not self.bus_ok("load", i, "bus", b):
                continue
            b = int(b)
            rec = df.loc[i]
            category = _text(profile.iloc[k]) if profile is not None else None
            if not (self.text_ok("load", i, "name", rec.get("name"), "customers", "name")
                    and self.text_ok("load", i, "profile", category, "customers", "category")):
                continue
            sn = pd.to_numeric(pd.Series([rec.get("sn_mva")]), errors="coerce").iloc[0]
            if np.isfinite(sn) and sn < 0:  # a contract capacity is never negative (the mapped loaders refuse it too)
                self.reject("load", i, "sn_mva", rec.get("sn_mva"), "must not be negative (MVA)")
                continue
            rows.append({
                "account_no": f"load:{i}", "name": _text(rec.get("name")) or f"load:{i}",
                "category": category or "load",
                "contract_kva": float(sn) * 1000 if np.isfinite(sn) else None,
                "supply_node": f"bus:{b}",
                "location_quality": "meter_box" if self.bus_kv[b] < 1 else "transformer",
                "geom": shapely.Point(self.points[b]),
            })
        return pd.DataFrame(rows, columns=["account_no", "name", "category", "contract_kva", "supply_node",
                                           "location_quality", "geom"])

    def _nodes(self, substations: pd.DataFrame) -> pd.DataFrame:
        sub_at = dict(zip(substations["bus_node"], substations["id"]))
        rows = [{"id": f"bus:{b}", "kind": "bus", "voltage_kv": float(self.bus_kv[b]),
                 "substation_id": sub_at.get(f"bus:{b}"), "geom": shapely.Point(p)} for b, p in self.points.items()]
        rows += [{"id": n, "kind": "junction", "voltage_kv": float(self.bus_kv[b]), "substation_id": None,
                  "geom": shapely.Point(self.points[b])} for n, b in sorted(self.extra_nodes.items())]
        return pd.DataFrame(rows, columns=["id", "kind", "voltage_kv", "substation_id", "geom"])

    def _left_out(self) -> dict[str, Any]:
        gen = self.net["gen"]
        pv = int((~_bools(_col(gen, "slack"), len(gen), False)).sum()) if len(gen) else 0
        return {"sgen_not_sources": len(self.net["sgen"]), "gen_not_slack": pv,
                "out_of_service_buses": sorted(f"bus:{b}" for b, on in self.bus_in_service.items() if not on)}


# ------------------------------------------------------------------ public API
def convert_net(
    net: PandapowerNet,
    *,
    source: str,
    service_area: BBox,
    crs: str = "EPSG:4326",
    place_at: tuple[float, float] | None = None,
) -> Conversion:
    """Map ``net`` to store tables and rejected rows (pure; nothing is written).

    Raises :class:`InvalidInput` for an unknown CRS or when no bus is usable.
    """
    try:
        crs_obj = CRS.from_user_input(crs)
    except CRSError as exc:
        raise InvalidInput(f"unknown CRS {crs!r}: {exc}", field="crs", value=crs) from exc
    if place_at is not None:
        lon, lat = place_at
        minx, miny, maxx, maxy = service_area
        if not (minx <= lon <= maxx and miny <= lat <= maxy):
            raise InvalidInput(f"--place-at {lon},{lat} is outside the service area {minx},{miny},{maxx},{maxy}",
                               field="place_at", value=f"{lon},{lat}")
    return _Builder(net, source, service_area, crs_obj, place_at).convert()


def import_net(
    engine: Engine,
    net: PandapowerNet,
    *,
    source: str,
    service_area: BBox,
    crs: str = "EPSG:4326",
    place_at: tuple[float, float] | None = None,
    progress: Progress | None = None,
) -> PandapowerImport:
    """Convert ``net`` and write its accepted rows in ONE transaction (idempotent).

    The hash of the converted tables (:func:`loaders.core.tables_hash`; not of the file: SimBench
    writes its columns in a different order on every run) makes a re-import of the same data a
    no-op (``unchanged=True``; the rejects are recomputed for the report), also after another
    load (:func:`loaders.core.unchanged_version`).
    """
    conv = convert_net(net, source=source, service_area=service_area, crs=crs, place_at=place_at)
    digest = tables_hash(conv.tables)
    result = LoadResult(counts={t: len(df) for t, df in conv.tables.items()}, rejects=conv.rejects,
                        rejected_rows=len(conv.rejects), sha256=digest, details=dict(conv.notes))
    with engine.connect() as conn:
        same = unchanged_version(conn, digest, conv.tables)
    if same is not None:
        result.unchanged, result.data_version = True, same
        return result
    return write_load(engine, conv.tables, result, source=f"pandapower:{source}",
                      source_rows=[int(a.split(":")[1]) for a in conv.tables["customers"]["account_no"]],
                      source_file=source, progress=progress)
