"""Reading one mapped source (GIS layer, CSV or XLSX) into a frame named by model columns.

:func:`preflight` checks that every file, layer and column a mapping names exists before
any data is read (a typo fails in a second, naming the TOML key). :func:`read_source` then
reads the rows through pyogrio (Shapefile, GeoPackage, GeoJSON, FlatGeobuf, …) or pandas
(CSV in UTF-8/GB18030, XLSX), builds geometries from the file, x/y columns or WKT/EWKT,
and transforms them to WGS 84 lon/lat. Row-level problems found while reading (a bad
number in an x column, unparsable WKT, an unknown SRID) become :class:`Reject` rows.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from loaders.crs import crs_label, resolve_crs, to_wgs84
from loaders.mapping import GEOMETRY_TYPES, ID_COLUMN, MappingError, TargetSpec
from loaders.rejects import Reject

__all__ = ["SourceFrame", "objects", "header_columns", "TEXT_SUFFIXES", "SHEET_SUFFIXES", "preflight", "read_source", "decode_text", "source_files"]

TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
SHEET_SUFFIXES = (".xlsx", ".xlsm")
_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_EWKT = re.compile(r"^\s*SRID\s*=\s*(\d+)\s*;\s*(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass
class SourceFrame:
    """A source's rows under model column names (``_row`` = the user's row number, ``geom`` in
    WGS 84, ``_src_geom`` as read), with the reporting labels and the rows rejected so far."""

    spec: TargetSpec
    file: str
    layer: str
    frame: pd.DataFrame
    labels: dict[str, str]
    crs: CRS | None
    encoding: str | None = None
    rejects: list[Reject] = field(default_factory=list)

    @property
    def table(self) -> str:
        return self.spec.table

    def label(self, column: str) -> str:
        return self.labels.get(column, column)

    def reject(self, positions: np.ndarray, column: str, reason: str | list[str], values: object = None) -> None:
        """Reject the rows at ``positions`` (0-based into ``frame``) for ``column``."""
        positions = np.asarray(positions, dtype=int)
        if not len(positions):
            return
        id_col = ID_COLUMN[self.table]
        ids = self.frame[id_col].to_numpy(object)[positions] if id_col in self.frame else [None] * len(positions)
        rows = self.frame["_row"].to_numpy()[positions]
        if values is None:
            values = self.frame[column].to_numpy(object)[positions] if column in self.frame else [None] * len(positions)
        reasons = reason if isinstance(reason, list) else [reason] * len(positions)
        for r, i, v, why in zip(rows, ids, values, reasons):
            self.rejects.append(Reject(self.file, self.layer, int(r), _text(i), self.label(column), _text(v), why))


def objects(values: object, index: pd.Index) -> pd.Series:
    """An object-dtype column (pandas would otherwise turn None into NaN in a string column)."""
    arr = np.empty(len(index), dtype=object)
    arr[:] = list(values) if not isinstance(values, np.ndarray) else values
    return pd.Series(arr, index=index, dtype=object)



def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if np.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, shapely.Geometry):
        return value.wkt[:120]
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def source_files(path: Path) -> list[Path]:
    """The files whose bytes make up a source (a Shapefile is several)."""
    if path.suffix.lower() == ".shp":
        return [p for p in (path.with_suffix(s) for s in _SIDECARS) if p.exists()]
    return [path]


def decode_text(raw: bytes, declared: str | None, where: str, key: str) -> tuple[str, str]:
    """Text of a CSV and the encoding used: the declared one, else UTF-8 (BOM or not), else GB18030."""
    candidates = [declared] if declared else ["utf-8-sig", "gb18030"]
    for enc in candidates:
        try:
            return raw.decode(enc), ("utf-8" if enc == "utf-8-sig" else enc)
        except (UnicodeDecodeError, LookupError):
            continue
    tried = " or ".join(candidates)
    raise MappingError(
        f"{where} cannot be decoded as {tried}; save it as UTF-8 or declare its encoding under {key}, "
        f'e.g. encoding = "gb18030"', field=f"{key} encoding", value=declared or "",
    )


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return "csv"
    if suffix in SHEET_SUFFIXES:
        return "xlsx"
    return "ogr"


#: Column of a CSV's rows that holds the cells beyond the header's (a row to reject, never to shift).
EXTRA_CELLS = "\x00extra cells"


def _read_table_text(path: Path, spec: TargetSpec, *, nrows: int | None = None) -> tuple[pd.DataFrame, str]:
    """A CSV's rows as text; a row with more cells than the header keeps them in :data:`EXTRA_CELLS`.

    pandas would refuse the whole file for one such row (or, for the first row, silently
    take its first cell as an index and shift every row), so the rows are read with one
    column more than the header; a row longer still sends the file through the csv module.
    """
    import io

    where = str(path)
    text, encoding = decode_text(path.read_bytes(), spec.encoding, where, spec.key)
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    options = dict(dtype=str, keep_default_na=False, na_values=[""], sep=sep, skip_blank_lines=False)
    try:
        header = [str(c).strip() for c in pd.read_csv(io.StringIO(text), nrows=0, **options).columns]
        if nrows == 0:
            return pd.DataFrame(columns=header, dtype=object), encoding
        try:
            df = pd.read_csv(io.StringIO(text), header=0, names=[*header, EXTRA_CELLS], index_col=False, nrows=nrows,
                             **options)
        except pd.errors.ParserError:  # a row with two or more extra cells
            df = _ragged_rows(text, sep, header)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise MappingError(f"{where} is not a readable CSV: {exc}", field=f"{spec.key} source", value=str(path)) from exc
    if df[EXTRA_CELLS].isna().all():
        df = df.drop(columns=[EXTRA_CELLS])
    return df, encoding


def _ragged_rows(text: str, sep: str, header: list[str]) -> pd.DataFrame:
    """Every record of ``text`` after the header through the csv module: cells beyond the header's
    joined into :data:`EXTRA_CELLS`, missing ones empty (as pandas reads a short row)."""
    import csv
    import io

    n = len(header)
    rows = []
    for record in itertools.islice(csv.reader(io.StringIO(text, newline=""), delimiter=sep), 1, None):
        cells = [c if c != "" else None for c in record[:n]] + [None] * max(0, n - len(record))
        cells.append(sep.join(record[n:]) if len(record) > n else None)
        rows.append(cells)
    return pd.DataFrame(rows, columns=[*header, EXTRA_CELLS], dtype=object)


def _read_sheet(path: Path, spec: TargetSpec, *, nrows: int | None = None) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401  (pandas' engine for .xlsx)
    except ImportError as exc:
        raise MappingError("reading .xlsx needs the openpyxl package: pip install openpyxl", field=f"{spec.key} source") from exc
    try:
        df = pd.read_excel(path, sheet_name=spec.sheet if spec.sheet is not None else 0, dtype=str, nrows=nrows, engine="openpyxl")
    except ValueError as exc:  # unknown sheet
        raise MappingError(f"{path}: {exc}", field=f"{spec.key} sheet", value=spec.sheet or "") from exc
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on a corrupt workbook
        raise MappingError(f"{path} is not a readable XLSX workbook: {type(exc).__name__}: {exc}",
                           field=f"{spec.key} source", value=str(path)) from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _ogr_layer(path: Path, spec: TargetSpec) -> str | None:
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:  # noqa: BLE001 - GDAL reports unreadable files with several error types
        raise MappingError(f"{path} is not a readable GIS file: {exc}", field=f"{spec.key} source", value=str(path)) from exc
    if spec.layer is not None:
        if spec.layer not in layers:
            raise MappingError(f"{spec.key} layer = {spec.layer!r}: {path} has no such layer; its layers: {', '.join(layers)}",
                               field=f"{spec.key} layer", value=spec.layer)
        return spec.layer
    if len(layers) > 1:
        raise MappingError(f"{path} has {len(layers)} layers ({', '.join(layers)}); say which under {spec.key}: layer = \"…\"",
                           field=f"{spec.key} layer")
    return layers[0] if layers else None


def _columns(path: Path, spec: TargetSpec) -> tuple[list[str], str, object]:
    kind = _kind(path)
    if kind == "csv":
        return list(_read_table_text(path, spec, nrows=0)[0].columns), "", None
    if kind == "xlsx":
        return list(_read_sheet(path, spec, nrows=0).columns), spec.sheet or "", None
    layer = _ogr_layer(path, spec)
    info = pyogrio.read_info(path, layer=layer, encoding=spec.encoding)
    if spec.table in GEOMETRY_TYPES and spec.geometry.kind == "file" and info.get("geometry_type") is None:
        raise MappingError(f"{path} layer {layer} has no geometry; map coordinate columns under {spec.key}: "
                           'geometry = { x = "X", y = "Y" } or { wkt = "WKT" }', field=f"{spec.key} geometry")
    return [str(c) for c in info["fields"]], layer or "", info.get("crs")


def header_columns(spec: TargetSpec) -> list[str]:
    """The column names of ``spec``'s source (CSV/XLSX header or layer fields), read without the rows."""
    assert spec.source is not None
    return _columns(spec.source, spec)[0]


def preflight(spec: TargetSpec) -> None:
    """Check the file, layer and every mapped column exist; raise :class:`MappingError` otherwise."""
    path = spec.source
    if path is None or not path.is_file():
        raise MappingError(f"{spec.key} source = {str(path)!r}: no such file", field=f"{spec.key} source", value=str(path))
    columns, layer, file_crs = _columns(path, spec)
    if _kind(path) != "ogr" and spec.table in GEOMETRY_TYPES and spec.geometry.kind == "file" and spec.table != "customers":
        raise MappingError(f"{path} is a table without geometry; add under {spec.key}: "
                           'geometry = { x = "X column", y = "Y column" } or geometry = { wkt = "WKT column" }',
                           field=f"{spec.key} geometry")
    where = f"{path}" + (f" layer {layer}" if layer else "")
    present = set(columns)
    garbled = spec.encoding is None and any(re.search(r"[\u0080-\u00ff]", c) for c in columns)
    hint = (f' (the names look mis-decoded: if the file is GBK, add encoding = "gbk" under {spec.key})' if garbled else "")
    for target, src in spec.columns.items():
        if src not in present:
            raise MappingError(f"[{spec.table}.columns] {target} = {src!r}: {where} has no column {src!r}; its columns: "
                               f"{', '.join(columns)}{hint}", field=f"[{spec.table}.columns] {target}", value=src)
    for name, src in (("x", spec.geometry.x), ("y", spec.geometry.y), ("wkt", spec.geometry.wkt)):
        if src is not None and src not in present:
            raise MappingError(f"{spec.key} geometry.{name} = {src!r}: {where} has no column {src!r}; its columns: "
                               f"{', '.join(columns)}", field=f"{spec.key} geometry.{name}", value=src)
    if spec.table in GEOMETRY_TYPES:
        if spec.geometry.kind == "file" and _kind(path) == "ogr":
            resolve_crs(file_crs, spec.crs, where=where, key=spec.key, fallback=spec.default_crs)
        elif spec.geometry.kind == "xy":
            resolve_crs(None, spec.crs, where=where, key=spec.key, fallback=spec.default_crs)


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats, and a mask of cells that hold something but not a number."""
    cleaned = values.astype("string").str.strip().str.replace(",", "", regex=False)
    parsed = pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(parsed) & cleaned.notna().to_numpy(dtype=bool) & (cleaned.fillna("") != "").to_numpy(dtype=bool)
    return parsed, bad


def _xy_geoms(src: SourceFrame, raw: pd.DataFrame) -> np.ndarray:
    g = src.spec.geometry
    x, bad_x = _numbers(raw[g.x])
    y, bad_y = _numbers(raw[g.y])
    label = f"{g.x},{g.y}"
    src.labels["_xy"] = label
    bad = bad_x | bad_y
    values = [f"{a},{b}" for a, b in zip(raw[g.x].to_numpy(object), raw[g.y].to_numpy(object))]
    src.reject(np.flatnonzero(bad), "_xy", f"coordinate is not a number in {label}", values=np.asarray(values, object)[bad])
    src.frame["_bad"] |= bad
    geoms = np.full(len(raw), None, dtype=object)
    ok = ~np.isnan(x) & ~np.isnan(y) & ~bad
    partial = (np.isnan(x) ^ np.isnan(y)) & ~bad
    src.reject(np.flatnonzero(partial), "_xy", f"only one of {label} is given", values=np.asarray(values, object)[partial])
    src.frame["_bad"] |= partial
    geoms[ok] = shapely.points(x[ok], y[ok])
    return geoms


def _wkt_geoms(src: SourceFrame, raw: pd.DataFrame, default_crs: CRS | None) -> np.ndarray:
    """Geometries from a WKT or EWKT (``SRID=4547;POINT(…)``) column, each row in its own CRS."""
    col = src.spec.geometry.wkt
    src.labels["_wkt"] = col
    text = raw[col].to_numpy(object)
    geoms = np.full(len(raw), None, dtype=object)
    srids = np.full(len(raw), None, dtype=object)
    body = np.full(len(raw), None, dtype=object)
    for i, t in enumerate(text):
        if t is None or (isinstance(t, float) and np.isnan(t)) or not str(t).strip():
            continue
        m = _EWKT.match(str(t))
        srids[i], body[i] = (int(m.group(1)), m.group(2)) if m else (None, str(t))
    present = np.flatnonzero([b is not None for b in body])
    parsed = shapely.from_wkt(body[present].astype(str), on_invalid="ignore") if len(present) else np.array([], dtype=object)
    bad = present[shapely.is_missing(parsed)] if len(present) else present
    src.reject(bad, "_wkt", "not valid WKT", values=text[bad])
    src.frame.loc[bad, "_bad"] = True
    geoms[present] = parsed
    for srid in {s for s in srids[present] if s is not None}:
        rows = np.flatnonzero(srids == srid)
        try:
            crs = CRS.from_epsg(srid)
        except CRSError:
            src.reject(rows, "_wkt", f"unknown CRS EPSG:{srid} in the EWKT SRID", values=text[rows])
            src.frame.loc[rows, "_bad"] = True
            geoms[rows] = None
            continue
        if default_crs is None or not crs.equals(default_crs, ignore_axis_order=True):
            src.frame.loc[rows, "_srid"] = srid
    return geoms


def read_source(spec: TargetSpec) -> SourceFrame:
    """Read ``spec``'s rows (after :func:`preflight`) into a :class:`SourceFrame` in WGS 84."""
    path = spec.source
    assert path is not None
    kind = _kind(path)
    encoding = None
    file_crs = None
    layer = ""
    if kind == "csv":
        raw, encoding = _read_table_text(path, spec)
        first_row = 2
    elif kind == "xlsx":
        raw, first_row, layer = _read_sheet(path, spec), 2, spec.sheet or ""
    else:
        layer = _ogr_layer(path, spec) or ""
        try:
            gdf = pyogrio.read_dataframe(path, layer=layer or None, encoding=spec.encoding)
        except Exception as exc:  # noqa: BLE001 - GDAL read errors come in several types
            raise MappingError(f"cannot read {path} layer {layer}: {exc}", field=f"{spec.key} source", value=str(path)) from exc
        file_crs = getattr(gdf, "crs", None)
        raw, first_row = gdf, 1
    rows = np.arange(first_row, first_row + len(raw))
    if kind != "ogr":  # blank lines keep their number but are not rows
        blank = raw.isna().all(axis=1).to_numpy(dtype=bool)
        if blank.any():
            raw, rows = raw.loc[~blank].reset_index(drop=True), rows[~blank]
    labels = {t: (f"{s} ({t})" if s != t else t) for t, s in spec.columns.items()}
    index = pd.RangeIndex(len(raw))
    frame = pd.DataFrame({t: objects(raw[s].to_numpy(object), index) for t, s in spec.columns.items()}, index=index)
    frame["_row"] = rows
    frame["_bad"] = False
    frame["_srid"] = objects([None] * len(frame), frame.index)
    src = SourceFrame(spec=spec, file=str(path), layer=layer, frame=frame, labels=labels, crs=None, encoding=encoding)
    if EXTRA_CELLS in raw:  # rows longer than the header: rejected alone, the rest is read
        extra = raw[EXTRA_CELLS].notna().to_numpy(dtype=bool)
        src.labels[EXTRA_CELLS] = "(cells beyond the header)"
        src.reject(np.flatnonzero(extra), EXTRA_CELLS,
                   f"the row has more cells than the header's {len(raw.columns) - 1} columns (an unquoted separator "
                   "inside a value?); quote that value or remove the extra cells",
                   values=raw[EXTRA_CELLS].to_numpy(object)[extra])
        frame.loc[extra, "_bad"] = True
    if spec.table not in GEOMETRY_TYPES:
        return src
    where = f"{path}" + (f" layer {layer}" if layer else "")
    declared = spec.crs or spec.default_crs
    g = spec.geometry
    if g.kind == "file":
        if kind != "ogr":  # customers from a table: coordinates, if any, come from lon/lat columns later
            return src
        geoms = np.asarray(raw.geometry.to_numpy(), dtype=object)
        crs = resolve_crs(file_crs, spec.crs, where=where, key=spec.key, fallback=spec.default_crs)
    else:
        if g.kind == "xy":
            geoms = _xy_geoms(src, raw)
            src.labels["geom"] = src.labels["_xy"]
        else:
            declared_crs = CRS.from_user_input(declared) if declared else None
            geoms = _wkt_geoms(src, raw, declared_crs)
            src.labels["geom"] = src.labels["_wkt"]
        has_own = frame["_srid"].notna().to_numpy()
        needs = ~has_own & ~shapely.is_missing(geoms)
        crs = resolve_crs(None, spec.crs, where=where, key=spec.key, fallback=spec.default_crs) if needs.any() or declared else None
    src.crs = crs
    frame["_src_geom"] = objects(geoms, frame.index)
    out = to_wgs84(geoms, crs) if crs is not None else geoms.copy()
    for srid in {s for s in frame["_srid"].dropna()}:
        rows = np.flatnonzero(frame["_srid"].to_numpy(object) == srid)
        out[rows] = to_wgs84(geoms[rows], CRS.from_epsg(int(srid)))
    frame["geom"] = objects(out, frame.index)
    src.labels.setdefault("geom", "geometry")
    if crs is not None:
        src.labels["_crs"] = crs_label(crs)
    return src
