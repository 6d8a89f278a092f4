"""Row checks of one source against its model table: values, types, enums, ids and geometry.

Every problem rejects its row with the source's own column name, the raw value and a
reason that says what to write instead. Checks that need other tables (references,
placement of customers) live in :mod:`loaders.pipeline`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Boolean, Date, Float, String

from gis.models import LOCATION_QUALITIES, NODE_KINDS, SEGMENT_KINDS, SENSITIVITIES, SWITCH_KINDS, Base
from gis.phones import parse_phones
from gis.validation import BBox, Problem, check_lonlat
from loaders.crs import crs_label, swapped_to_wgs84, zone_prefix_hint
from loaders.mapping import GEOMETRY_TYPES, ID_COLUMN, MappingError, TargetSpec, target_columns
from loaders.sources import SourceFrame
from loaders.sources import objects as _objects

__all__ = [
    "ENUMS",
    "BUILTIN_VALUES",
    "BUILTIN_DEFAULTS",
    "DERIVED",
    "check_mapped_required",
    "check_columns",
    "check_geometry",
    "check_texts",
    "normalize_phone",
    "number_errors",
    "split_phones",
    "text_errors",
]

ENUMS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("nodes", "kind"): NODE_KINDS,
    ("segments", "kind"): SEGMENT_KINDS,
    ("switches", "kind"): SWITCH_KINDS,
    ("customers", "location_quality"): LOCATION_QUALITIES,
    ("customers", "sensitivity"): SENSITIVITIES,
}

#: Names utilities' GIS exports commonly use, mapped to the model's values (a mapping adds to these).
BUILTIN_VALUES: Mapping[tuple[str, str], Mapping[str, Any]] = {
    ("switches", "kind"): {
        "断路器": "breaker", "柱上断路器": "breaker", "出线断路器": "breaker", "负荷开关": "load_switch",
        "柱上负荷开关": "load_switch", "load_break": "load_switch", "隔离开关": "disconnector", "刀闸": "disconnector",
        "隔离刀闸": "disconnector", "熔断器": "fuse", "跌落式熔断器": "fuse", "跌落保险": "fuse", "联络开关": "tie",
    },
    ("segments", "kind"): {"架空线": "overhead", "架空线路": "overhead", "架空": "overhead", "电缆": "cable",
                           "电缆线路": "cable", "低压电缆": "lv_cable", "低压线路": "lv_cable"},
    ("nodes", "kind"): {"母线": "bus", "连接点": "junction", "节点": "junction", "杆塔": "pole", "电杆": "pole",
                        "低压": "lv", "低压节点": "lv", "表箱": "meter_box"},
    ("customers", "location_quality"): {"实测": "surveyed", "表箱": "meter_box", "台区": "transformer",
                                        "配变": "transformer", "地理编码": "geocoded"},
    ("customers", "sensitivity"): {"无": None, "否": None, "普通": None},
}
#: Values used when a column is unmapped or a cell is empty (a mapping's [table.defaults] win).
BUILTIN_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "segments": {"in_service": True},
    "switches": {"normal_open": False},
    "transformers": {"in_service": True},
}
#: Columns the loader fills itself when the source does not give them.
DERIVED: Mapping[str, tuple[str, ...]] = {"customers": ("location_quality", "supply_node", "transformer_id")}

_TRUE = {"1", "true", "t", "yes", "y", "是", "常开", "分", "分闸", "断开", "运行", "投运", "在运"}
_FALSE = {"0", "false", "f", "no", "n", "否", "常闭", "合", "合闸", "闭合", "停运", "退运", "退役"}
# in_service: 运行 means True; normal_open: 常开/分 means True. 停运 makes in_service False.
_BOOL_HELP = "write 是/否, true/false, 1/0 (normal_open also 常开/常闭, 分/合; in_service 运行/停运)"
_UNITS = {
    "voltage_kv": ("kv", "千伏"),
    "rated_kva": ("kva", "千伏安"),
    "contract_kva": ("kva", "kw", "千伏安", "千瓦"),
    "length_m": ("m", "米"),
}
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z\u4e00-\u9fff]*)\s*$")
_SPLIT_PHONES = re.compile(r"[/;；,，、|]")


def check_mapped_required(spec: TargetSpec) -> None:
    """Refuse a mapping that neither maps nor defaults a required column (before reading rows)."""
    table = spec.table
    defaults = {**BUILTIN_DEFAULTS.get(table, {}), **spec.defaults}
    for col in Base.metadata.tables[table].columns:
        if col.name == "geom" or col.nullable or col.name in DERIVED.get(table, ()):
            continue
        if col.name not in spec.columns and col.name not in defaults:
            raise MappingError(
                f"[{table}.columns] does not map {col.name}, which {table} requires: add {col.name} = \"<source column>\" "
                f"under [{table}.columns] or a value under [{table}.defaults]",
                field=f"[{table}.columns] {col.name}",
            )


def _is_blank(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return not v.strip()
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _as_text(v: object) -> str | None:
    if _is_blank(v):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (np.floating,)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _number(v: object, column: str) -> float | None | str:
    """A float, None for blank, or an error message."""
    if _is_blank(v):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return float(v)
    m = _NUMBER.match(str(v).replace(",", "").replace("，", ""))
    if m is None:
        return "not a number"
    unit = m.group(2).lower()
    if unit and unit not in _UNITS.get(column, ()):
        return f"not a number (unit {m.group(2)!r} is not understood here)"
    return float(m.group(1))


def _date(v: object) -> Any:
    if _is_blank(v):
        return None
    if hasattr(v, "date") and callable(v.date):
        return v.date()
    s = str(v).strip().replace("/", "-").replace(".", "-")
    m = re.match(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$", s)
    if m:
        s = f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    if re.fullmatch(r"\d{8}", s):
        s = f"{s[:4]}-{s[4:6]}-{s[6:]}"
    try:
        return pd.Timestamp(s).date() if re.match(r"^\d{4}-\d{1,2}-\d{1,2}", s) else "not a date: write YYYY-MM-DD"
    except (ValueError, TypeError):
        return "not a date: write YYYY-MM-DD"


def normalize_phone(raw: object) -> str | None | tuple[str, str]:
    """The stored form of a Chinese phone number (:mod:`gis.phones`: mobile 11 digits, landline
    0 + area code + number); None for blank; ``("error", message)`` when the value is not one."""
    if _is_blank(raw):
        return None
    text = _as_text(raw) or ""
    parsed, errors = parse_phones([text])
    if errors:
        return ("error", f"not a phone number: {text!r} ({errors[0]})")
    return parsed[0]


def split_phones(df: pd.DataFrame) -> bool:
    """A ``phone`` cell with two numbers ("138…/139…") fills ``phone`` and, when empty,
    ``phone_alt`` (in place; every loader of customers does this before parsing). Returns whether
    ``phone_alt`` had to be added."""
    if "phone" not in df:
        return False
    first, second = [], []
    for v in df["phone"].to_numpy(object):
        parts = [p for p in _SPLIT_PHONES.split(v) if p.strip()] if isinstance(v, str) else [v]
        first.append(parts[0] if parts else None)
        second.append(parts[1] if len(parts) > 1 else None)
    df["phone"] = _objects(np.asarray(first, dtype=object), df.index)
    extra = np.asarray(second, dtype=object)
    added = False
    if any(x is not None for x in extra):
        if "phone_alt" not in df:
            df["phone_alt"] = _objects([None] * len(df), df.index)
            added = True
        alt = df["phone_alt"].to_numpy(object).copy()
        fill = np.array([_is_blank(a) and s is not None for a, s in zip(alt, extra)], dtype=bool)
        alt[fill] = extra[fill]
        df["phone_alt"] = _objects(alt, df.index)
    return added


def _split_phones(src: SourceFrame) -> None:
    if split_phones(src.frame):
        src.labels["phone_alt"] = src.label("phone")


def _apply_values(src: SourceFrame, column: str) -> None:
    table = src.table
    vmap = {**BUILTIN_VALUES.get((table, column), {}), **src.spec.values.get(column, {})}
    if not vmap:
        return
    vmap = {str(k).strip(): (None if v == "" else v) for k, v in vmap.items()}
    col = src.frame[column].to_numpy(object)
    src.frame[column] = _objects([vmap[t] if (t := _as_text(v)) is not None and t in vmap else v for v in col], src.frame.index)


def _texts(values: np.ndarray) -> list[str | None]:
    """Stripped text of every cell, None for blanks (fast for the all-text columns CSVs give)."""
    return [(v.strip() or None) if type(v) is str else (None if v is None or (type(v) is float and v != v) else _as_text(v))
            for v in values]


def _phones(texts: list[str | None]) -> tuple[np.ndarray, list[tuple[int, str]]]:
    out, errors = parse_phones(texts)
    return out, [(i, f"not a phone number: {texts[i]!r} ({reason})") for i, reason in errors.items()]


def number_errors(column: str, nums: np.ndarray) -> list[tuple[int, str]]:
    """(position, reason) for each number no loader stores in ``column``: infinite, or negative
    where the column is a quantity (voltages, capacities, lengths). NaN is a blank, not an error."""
    with np.errstate(invalid="ignore"):
        errors = [(int(i), "not a finite number") for i in np.flatnonzero(np.isinf(nums))]
        if column in _UNITS:
            errors += [(int(i), "must not be negative") for i in np.flatnonzero(nums < 0)]
    return errors


def text_errors(table: str, column: str, texts: list[str | None]) -> list[tuple[int, str]]:
    """(position, reason) for each text the store would not keep as given in model column
    ``table.column``: longer than the column, or holding a NUL character (SQLite would keep it
    truncated, PostgreSQL refuses it). Every loader checks text with this."""
    kind = Base.metadata.tables[table].columns[column].type
    length = getattr(kind, "length", None) if isinstance(kind, String) else None
    errors = [(int(i), f"longer than {length} characters") for i, t in enumerate(texts)
              if length and t is not None and len(t) > length]
    errors += [(int(i), "contains a NUL character") for i, t in enumerate(texts) if t is not None and "\x00" in t]
    return errors


def check_texts(table: str, df: pd.DataFrame, id_col: str) -> list[Problem]:
    """:func:`text_errors` for every text column of model table ``table`` in ``df`` (a frame with
    ``_row``), as :class:`gis.validation.Problem` rows (the NUL shown as ``\\x00``)."""
    model = Base.metadata.tables[table].columns
    out: list[Problem] = []
    for name in df.columns:
        if name not in model or not isinstance(model[name].type, String):
            continue
        values = df[name].to_numpy(dtype=object)
        texts = [v if isinstance(v, str) else None for v in values]
        for i, reason in text_errors(table, name, texts):
            ident = df[id_col].iat[i] if id_col in df else None
            out.append(Problem(table, int(df["_row"].iat[i]), None if pd.isna(ident) else str(ident), name,
                               texts[i].replace("\x00", "\\x00"), reason))
    return out


def _convert(table: str, name: str, kind: object, values: np.ndarray) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """``values`` as the model type of column ``name``, and (position, reason) for each bad cell.

    Vectorized for the common case; a cell the fast path cannot read goes through the
    per-cell reader, which accepts units (400kVA), Chinese dates and yes/no words."""
    texts = _texts(values)
    present = np.array([t is not None for t in texts], dtype=bool)
    errors: list[tuple[int, str]] = []
    if isinstance(kind, Float):
        parsed = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        out = np.where(np.isnan(parsed), None, parsed).astype(object)
        for i in np.flatnonzero(present & np.isnan(parsed)):
            r = _number(texts[i], name)
            if isinstance(r, str):
                errors.append((int(i), r))
            else:
                out[i] = r
        errors += number_errors(name, np.array([np.nan if v is None else v for v in out], dtype=float))
        return out, errors
    if isinstance(kind, Boolean):
        lookup = {**{t: True for t in _TRUE}, **{t: False for t in _FALSE}}
        out = np.array([None if t is None else lookup.get(t.lower()) for t in texts], dtype=object)
        errors = [(int(i), "not a yes/no value: " + _BOOL_HELP) for i in np.flatnonzero(present & (out == None))]  # noqa: E711
        return out, errors
    if isinstance(kind, Date):
        parsed = pd.to_datetime(pd.Series(texts, dtype=object), errors="coerce", format="ISO8601")
        out = parsed.dt.date.to_numpy(dtype=object).copy()
        out[parsed.isna().to_numpy()] = None
        for i in np.flatnonzero(present & (out == None)):  # noqa: E711
            r = _date(texts[i])
            if isinstance(r, str):
                errors.append((int(i), r))
            else:
                out[i] = r
        return out, errors
    if table == "customers" and name in ("phone", "phone_alt"):
        return _phones(texts)
    return np.array(texts, dtype=object), text_errors(table, name, texts)


def check_columns(src: SourceFrame) -> None:
    """Apply value maps and defaults, convert every mapped column to its model type, and reject
    rows with bad numbers, dates, yes/no values, enum values, over-long text, missing required
    values, invalid phones and duplicate ids."""
    table, df = src.table, src.frame
    cols = Base.metadata.tables[table].columns
    defaults = {**BUILTIN_DEFAULTS.get(table, {}), **src.spec.defaults}
    if table == "customers":
        _split_phones(src)
    for name in target_columns(table):
        if name in df:
            _apply_values(src, name)
        if name in defaults:
            if name not in df:
                df[name] = _objects([None] * len(df), df.index)
                src.labels[name] = f"{name} (default)"
            col = df[name].to_numpy(object).copy()
            blank = np.array([t is None for t in _texts(col)], dtype=bool)
            col[blank] = defaults[name]
            df[name] = _objects(col, df.index)
        if name not in df:
            continue
        kind = cols[name].type
        values = df[name].to_numpy(object)
        out, errors = _convert(table, name, kind, values)
        if errors:
            pos = np.array([e[0] for e in errors])
            src.reject(pos, name, [e[1] for e in errors])
            df.loc[pos, "_bad"] = True
        df[name] = _objects(out, df.index)
        allowed = ENUMS.get((table, name))
        if allowed is not None:
            bad = np.array([v is not None and v not in allowed for v in out], dtype=bool)
            hint = f" (or map the value under [{table}.values.{name}] in the mapping)"
            src.reject(np.flatnonzero(bad), name, "bad value: must be one of " + ", ".join(allowed) + hint)
            df.loc[bad, "_bad"] = True
        if not cols[name].nullable and name not in DERIVED.get(table, ()):
            missing = np.array([v is None for v in out], dtype=bool)
            missing[[e[0] for e in errors]] = False
            src.reject(np.flatnonzero(missing), name, "required value is missing")
            df.loc[missing, "_bad"] = True
    _check_unique(src)


def _check_unique(src: SourceFrame) -> None:
    df = src.frame
    id_col = ID_COLUMN[src.table]
    ids = df[id_col]
    dup = ids.duplicated(keep="first").to_numpy() & ids.notna().to_numpy()
    if dup.any():
        first_row = df.loc[~ids.duplicated(keep="first") & ids.notna()].set_index(id_col)["_row"]
        reasons = [f"duplicate id: the same {id_col} is on row {int(first_row[i])} of this file" for i in ids[dup]]
        src.reject(np.flatnonzero(dup), id_col, reasons)
        df.loc[dup, "_bad"] = True


def _single(geoms: np.ndarray, expected: str) -> np.ndarray:
    """MultiPoint/MultiLineString exports holding one part (common in Shapefiles) → the part."""
    out = geoms.copy()
    types = shapely.get_type_id(geoms)
    if expected == "Point":
        fix = np.flatnonzero((types == 4) & (shapely.get_num_geometries(geoms) == 1))
        out[fix] = shapely.get_geometry(geoms[fix], 0)
    elif expected == "LineString":
        fix = np.flatnonzero(types == 5)
        if len(fix):
            merged = shapely.line_merge(geoms[fix])
            ok = shapely.get_type_id(merged) == 1
            out[fix[ok]] = merged[ok]
    return out


def check_geometry(src: SourceFrame, area: BBox) -> None:
    """Reject missing, empty, invalid, wrongly typed and misplaced geometries (swapped axes named)."""
    table, df = src.table, src.frame
    if table not in GEOMETRY_TYPES or "geom" not in df:
        return
    expected = GEOMETRY_TYPES[table]
    label = "geom"
    geoms = _single(np.array(df["geom"].to_numpy(), dtype=object), expected)
    has_z = shapely.has_z(geoms)
    if has_z.any():  # the model is 2-D: drop heights (PointZ/LineStringZ exports are common)
        geoms[has_z] = shapely.force_2d(geoms[has_z])
    todo = ~df["_bad"].to_numpy(dtype=bool)
    missing = shapely.is_missing(geoms)
    if table != "customers":
        src.reject(np.flatnonzero(todo & missing), label, "missing geometry")
        df.loc[todo & missing, "_bad"] = True
    present = todo & ~missing
    empty = present & shapely.is_empty(geoms)
    src.reject(np.flatnonzero(empty), label, "empty geometry")
    present &= ~empty
    type_ids = {"Point": 0, "LineString": 1}
    wrong = present & (shapely.get_type_id(geoms) != type_ids[expected])
    if wrong.any():
        types = shapely.get_type_id(geoms[wrong])
        names = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
                 6: "MultiPolygon", 7: "GeometryCollection"}
        src.reject(np.flatnonzero(wrong), label, [f"wrong geometry type: a {names.get(int(t), t)} where {table} needs a {expected}"
                                                  + (" (a MultiLineString whose parts do not join into one line)" if t == 5 else "")
                                                  for t in types])
    present &= ~wrong
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(shapely.bounds(geoms)).all(axis=1)
    invalid = present & finite & ~shapely.is_valid(geoms)  # non-finite: a CRS problem, reported below
    if invalid.any():
        src.reject(np.flatnonzero(invalid), label, [f"invalid geometry: {r}" for r in shapely.is_valid_reason(geoms[invalid])])
    present &= ~invalid
    bad = empty | wrong | invalid
    bad |= _check_coordinates(src, geoms, present, area)
    df.loc[bad, "_bad"] = True
    df["geom"] = _objects(geoms, df.index)


def _check_coordinates(src: SourceFrame, geoms: np.ndarray, present: np.ndarray, area: BBox) -> np.ndarray:
    """Rows whose WGS 84 bounds are non-finite, out of range, swapped or outside ``area``."""
    idx = np.flatnonzero(present)
    bad = np.zeros(len(geoms), dtype=bool)
    if not len(idx):
        return bad
    b = shapely.bounds(geoms[idx])
    work = pd.DataFrame({"_row": idx, "id": np.arange(len(idx))})
    problems = {}
    for x, y in ((b[:, 0], b[:, 1]), (b[:, 2], b[:, 3])):
        for p in check_lonlat(src.table, work, "id", x, y, area):
            problems.setdefault(p.row, p.reason)
    if not problems:
        return bad
    pos = np.array(sorted(problems))
    src_geoms = src.frame["_src_geom"].to_numpy(object) if "_src_geom" in src.frame else geoms
    srids = src.frame["_srid"].to_numpy(object)
    crs = src.crs
    swapped_ok = np.zeros(len(pos), dtype=bool)
    if crs is not None and "_src_geom" in src.frame:
        own = np.array([srids[p] is None for p in pos], dtype=bool)
        if own.any():
            sw = swapped_to_wgs84(src_geoms[pos[own]], crs)
            sb = shapely.bounds(sw)
            minx, miny, maxx, maxy = area
            with np.errstate(invalid="ignore"):
                inside = (sb[:, 0] >= minx) & (sb[:, 2] <= maxx) & (sb[:, 1] >= miny) & (sb[:, 3] <= maxy)
            swapped_ok[np.flatnonzero(own)[inside]] = True
    crs_text = crs_label(crs) if crs is not None else "WGS 84"
    hint = ""
    if crs is not None and "_src_geom" in src.frame:
        xs = shapely.bounds(src_geoms[pos])[:, 2]
        hint = zone_prefix_hint(crs, float(np.nanmax(xs)) if len(xs) and np.isfinite(xs).any() else float("nan"))
    out_reasons = []
    values = []
    for k, p in enumerate(pos):
        sg = src_geoms[p]
        first = shapely.get_coordinates(sg)[0] if sg is not None and not shapely.is_empty(sg) else None
        lon_lat = shapely.get_coordinates(geoms[p])[0]
        shown = f"{first[0]:.6f},{first[1]:.6f}" if first is not None else ""
        shown += f" → lon,lat {lon_lat[0]:.6f},{lon_lat[1]:.6f}" if np.isfinite(lon_lat).all() else " → (cannot be transformed)"
        values.append(shown)
        if swapped_ok[k]:
            out_reasons.append(f"coordinates look swapped: with x and y exchanged the point lies in the service area "
                               f"(source CRS {crs_text}); exchange the x/y columns or the axis order")
        elif not np.isfinite(lon_lat).all():
            out_reasons.append(f"coordinate out of range: it cannot be transformed from {crs_text} to WGS 84 "
                               f"(is the CRS right?){hint}")
        else:
            out_reasons.append(problems[p] + f" (source CRS {crs_text}){hint}")
    src.reject(pos, "geom", out_reasons, values=np.asarray(values, dtype=object))
    bad[pos] = True
    return bad
