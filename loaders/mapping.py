"""The mapping file (TOML): which source file, layer and columns feed which model table.

A mapping is checked completely when it is parsed (unknown tables, keys, target columns,
geometry specs, CRS strings) and every error names the TOML key to fix, e.g.
``[switches.columns] kind``. Whether the named files, layers and columns exist is checked
by :func:`loaders.sources.preflight` before any data is read.

Format (one table per target; every key but ``source`` is optional)::

    crs = "EPSG:4547"               # default CRS for layers that have none
    [switches]
    source = "export/开关.shp"       # relative to the mapping file
    layer = "开关"                   # GeoPackage / multi-layer files
    crs = "EPSG:4547"                # used when the file has no CRS; must agree if it has one
    encoding = "gb18030"             # CSV / Shapefile text encoding (CSV is detected when absent)
    sheet = "Sheet1"                 # XLSX sheet (default: the first)
    geometry = { x = "X坐标", y = "Y坐标" }   # or { wkt = "WKT" }; default: the file's geometry
    [switches.columns]               # target = "source column"
    id = "设备编码"
    kind = "开关类型"
    [switches.defaults]              # used when the column is unmapped or the cell is empty
    normal_open = false
    [switches.values.kind]           # source value = model value (added to the built-in maps)
    "柱上断路器" = "breaker"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyproj import CRS
from pyproj.exceptions import CRSError

from gis.errors import InvalidInput
from gis.tables import LOADED_TABLES, columns, geometry_type, id_column

__all__ = [
    "TABLE_ORDER",
    "ID_COLUMN",
    "GEOMETRY_TYPES",
    "MappingError",
    "GeometrySpec",
    "TargetSpec",
    "LayerMapping",
    "load_mapping",
    "parse_mapping",
    "target_columns",
    "parse_crs",
    "identity_mapping",
]

#: Load order: every table after the tables it references (from the models: :mod:`gis.tables`).
TABLE_ORDER = LOADED_TABLES
ID_COLUMN = {t: id_column(t) for t in TABLE_ORDER}
#: The geometry type each spatial table holds (feeders have none).
GEOMETRY_TYPES = {t: kind for t in TABLE_ORDER if (kind := geometry_type(t)) is not None}
_TARGET_KEYS = {"source", "layer", "crs", "encoding", "sheet", "geometry", "columns", "defaults", "values"}


class MappingError(InvalidInput):
    """The mapping file (or a file, layer or column it names) is unusable; nothing was loaded."""


@dataclass(frozen=True)
class GeometrySpec:
    """Where a row's geometry comes from: the file's own, x/y columns, or a WKT/EWKT column."""

    kind: str = "file"  # file | xy | wkt
    x: str | None = None
    y: str | None = None
    wkt: str | None = None

    def source_columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.x, self.y, self.wkt) if c)


@dataclass(frozen=True)
class TargetSpec:
    """One model table's source: file, layer, CRS, column map, defaults and value maps."""

    table: str
    source: Path | None
    layer: str | None = None
    crs: str | None = None
    default_crs: str | None = None  # the top-level crs: used only when neither the file nor [table] crs gives one
    encoding: str | None = None
    sheet: str | None = None
    geometry: GeometrySpec = field(default_factory=GeometrySpec)
    columns: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The TOML table this spec came from, for messages."""
        return f"[{self.table}]"


@dataclass(frozen=True)
class LayerMapping:
    """A parsed mapping file: its path, raw bytes (for the load's content hash) and targets in load order."""

    path: Path | None
    raw: bytes
    targets: Mapping[str, TargetSpec]


def target_columns(table: str) -> tuple[str, ...]:
    """The model columns a source may fill (everything but the geometry)."""
    return columns(table, geometry=False)


def parse_crs(text: str, key: str) -> CRS:
    """A CRS pyproj knows, or a :class:`MappingError` naming the TOML key."""
    try:
        return CRS.from_user_input(text)
    except CRSError as exc:
        raise MappingError(
            f"{key} crs = {text!r} is not a CRS pyproj knows ({exc}); write e.g. crs = \"EPSG:4547\"",
            field=f"{key} crs", value=text,
        ) from exc


def _expect(value: Any, kind: type | tuple[type, ...], key: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise MappingError(f"{key} must be {what}, not {value!r}", field=key, value=str(value))
    return value


def _geometry(raw: Any, key: str) -> GeometrySpec:
    if raw is None or raw == "file":
        return GeometrySpec()
    _expect(raw, dict, key, 'a table such as { x = "X", y = "Y" } or { wkt = "WKT" } (or "file")')
    keys = set(raw)
    if keys == {"x", "y"}:
        return GeometrySpec("xy", x=_expect(raw["x"], str, f"{key}.x", "a column name"),
                            y=_expect(raw["y"], str, f"{key}.y", "a column name"))
    if keys == {"wkt"}:
        return GeometrySpec("wkt", wkt=_expect(raw["wkt"], str, f"{key}.wkt", "a column name"))
    raise MappingError(f"{key} must have either x and y, or wkt; found {sorted(keys)}", field=key, value=str(sorted(keys)))


def _target(table: str, raw: Any, base: Path | None, default_crs: str | None, *, require_source: bool) -> TargetSpec:
    key = f"[{table}]"
    _expect(raw, dict, key, "a table")
    unknown = set(raw) - _TARGET_KEYS
    if unknown:
        raise MappingError(f"{key} has unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(_TARGET_KEYS))}",
                           field=key, value=", ".join(sorted(unknown)))
    allowed = set(target_columns(table))
    source = raw.get("source")
    path = None
    if source is None:
        if require_source:
            raise MappingError(f"{key} needs source = \"path/to/file\" (relative to the mapping file)", field=f"{key} source")
    else:
        _expect(source, str, f"{key} source", "a path string")
        path = Path(source) if base is None else (base / source)
    columns = dict(_expect(raw.get("columns", {}), dict, f"[{table}.columns]", "a table of target = \"source column\""))
    defaults = dict(_expect(raw.get("defaults", {}), dict, f"[{table}.defaults]", "a table of target = value"))
    values = dict(_expect(raw.get("values", {}), dict, f"[{table}.values]", "a table of value maps"))
    for section, names in (("columns", columns), ("defaults", defaults), ("values", values)):
        bad = sorted(set(names) - allowed)
        if bad:
            raise MappingError(
                f"[{table}.{section}] names {', '.join(bad)}, not a column of {table}; columns: {', '.join(sorted(allowed))}",
                field=f"[{table}.{section}] {bad[0]}", value=bad[0],
            )
    for name, src in columns.items():
        _expect(src, str, f"[{table}.columns] {name}", "a source column name (a string)")
    for name, vmap in values.items():
        _expect(vmap, dict, f"[{table}.values.{name}]", "a table of \"source value\" = model value")
    crs = raw.get("crs")
    if crs is not None:
        parse_crs(_expect(crs, str, f"{key} crs", 'a string such as "EPSG:4547"'), key)
    for opt in ("layer", "encoding", "sheet"):
        if raw.get(opt) is not None:
            _expect(raw[opt], str, f"{key} {opt}", "a string")
    geometry = _geometry(raw.get("geometry"), f"{key} geometry")
    if table == "feeders" and geometry.kind != "file":
        raise MappingError("[feeders] has no geometry in the model; remove its geometry key", field="[feeders] geometry")
    return TargetSpec(
        table=table, source=path, layer=raw.get("layer"), crs=crs, default_crs=default_crs, encoding=raw.get("encoding"),
        sheet=raw.get("sheet"), geometry=geometry, columns=columns, defaults=defaults, values=values,
    )


def parse_mapping(text: str, *, base: Path | None, name: str = "mapping", require_source: bool = True) -> dict[str, TargetSpec]:
    """Targets of a mapping's TOML text, in load order; ``base`` resolves relative sources."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{name} is not valid TOML: {exc}", field=name) from exc
    default_crs = doc.pop("crs", None)
    if default_crs is not None:
        parse_crs(_expect(default_crs, str, "crs", 'a string such as "EPSG:4547"'), "top-level")
    unknown = sorted(set(doc) - set(TABLE_ORDER))
    if unknown:
        raise MappingError(f"{name}: unknown table [{unknown[0]}]; tables: {', '.join(TABLE_ORDER)}",
                           field=f"[{unknown[0]}]", value=unknown[0])
    return {t: _target(t, doc[t], base, default_crs, require_source=require_source) for t in TABLE_ORDER if t in doc}


def load_mapping(path: Path) -> LayerMapping:
    """Read and check a mapping file; sources resolve relative to its folder."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read the mapping file {path}: {exc}", field="mapping", value=str(path)) from exc
    targets = parse_mapping(text, base=path.parent, name=str(path))
    if not targets:
        raise MappingError(f"{path} maps no table; add e.g. [nodes] with source = \"grid.gpkg\"", field="mapping", value=str(path))
    return LayerMapping(path=path, raw=raw, targets=targets)


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def identity_mapping(source: str, tables: list[str], *, per_table_source: Mapping[str, str] | None = None) -> str:
    """A mapping that reads GridAtlas' own export back (column names equal to the model's)."""
    lines = ["# Identity mapping written by `gridatlas export`: the export read back as it is.", ""]
    for table in tables:
        src = (per_table_source or {}).get(table, source)
        lines.append(f"[{table}]")
        lines.append(f"source = {_toml_str(src)}")
        if per_table_source is None:
            lines.append(f"layer = {_toml_str(table)}")
        lines.append(f"[{table}.columns]")
        lines += [f"{c} = {_toml_str(c)}" for c in target_columns(table)]
        lines.append("")
    return "\n".join(lines)
