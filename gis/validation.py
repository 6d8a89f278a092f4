"""Row checks shared by every loader: coordinates, ids, references, enumerations.

Each check is vectorized over a whole column and returns :class:`Problem` rows naming
the table, the source row number, the field and the offending value, so a loader can
report every bad row at once instead of stopping at the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Problem",
    "BBox",
    "check_required",
    "check_unique",
    "check_references",
    "check_enum",
    "check_lonlat",
    "check_meter_box_transformer",
    "meter_box_transformer_reason",
]

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Problem:
    """One rejected value: where it is and why."""

    table: str
    row: int
    id: str | None
    field: str
    value: object
    reason: str

    def __str__(self) -> str:
        ident = f" ({self.id})" if self.id else ""
        return f"{self.table} row {self.row}{ident}: {self.field}={self.value!r}: {self.reason}"


def _problems(
    table: str, df: pd.DataFrame, mask: np.ndarray, id_col: str, field: str, reason: str, value_col: str | None = None
) -> list[Problem]:
    idx = np.flatnonzero(mask)
    rows = df["_row"].to_numpy()[idx] if "_row" in df else idx + 1
    ids = df[id_col].to_numpy()[idx] if id_col in df else [None] * len(idx)
    value_col = value_col or field
    values = df[value_col].to_numpy()[idx] if value_col in df else [None] * len(idx)
    return [
        Problem(table, int(r), None if pd.isna(i) else str(i), field, None if _isna(v) else v, reason)
        for r, i, v in zip(rows, ids, values)
    ]


def _isna(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def check_required(table: str, df: pd.DataFrame, id_col: str, fields: Iterable[str]) -> list[Problem]:
    out: list[Problem] = []
    for field in fields:
        if field not in df:
            out.append(Problem(table, 0, None, field, None, "required column is missing"))
            continue
        col = df[field]
        mask = col.isna().to_numpy().copy()
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            mask[~mask] = _blank(col.to_numpy(dtype=object)[~mask])
        out += _problems(table, df, mask, id_col, field, "required value is missing")
    return out


def _blank(values: np.ndarray) -> np.ndarray:
    """Which values are empty or whitespace only.

    Strings (what a CSV gives): ``str.isspace`` and ``len`` mapped in C, ~7x faster than
    converting to numpy strings; other values (numbers from a spreadsheet) through numpy's C
    string functions (~50x a str.strip loop).
    """
    if not len(values):
        return np.zeros(0, dtype=bool)
    try:
        space = np.fromiter(map(str.isspace, values), bool, len(values))
        return space | (np.fromiter(map(len, values), np.intp, len(values)) == 0)
    except TypeError:  # not every value is a str
        pass
    text = np.asarray(values, dtype=np.dtypes.StringDType())
    return (np.strings.str_len(text) == 0) | np.strings.isspace(text)


def check_unique(table: str, df: pd.DataFrame, id_col: str) -> list[Problem]:
    mask = df[id_col].duplicated(keep="first").to_numpy() & df[id_col].notna().to_numpy()
    return _problems(table, df, mask, id_col, id_col, "duplicate id")


def check_references(
    table: str, df: pd.DataFrame, id_col: str, field: str, target: str, known: pd.Index | set, *, nullable: bool
) -> list[Problem]:
    col = df[field]
    present = col.notna().to_numpy()
    mask = present & ~col.isin(known).to_numpy()
    if not nullable:
        mask |= ~present
    return _problems(table, df, mask, id_col, field, f"unknown reference to {target}")


def check_enum(table: str, df: pd.DataFrame, id_col: str, field: str, allowed: Iterable[str], *, nullable: bool = False) -> list[Problem]:
    allowed = list(allowed)
    col = df[field]
    mask = ~col.isin(allowed).to_numpy()
    if nullable:
        mask &= col.notna().to_numpy()
    return _problems(table, df, mask, id_col, field, "must be one of " + "/".join(allowed))


def check_lonlat(table: str, df: pd.DataFrame, id_col: str, lon: np.ndarray, lat: np.ndarray, area: BBox) -> list[Problem]:
    """Coordinates must be finite WGS 84 lon/lat inside the service area; swapped axes are named.

    A swap is named only when the given order lies outside the area and the exchanged one inside:
    with a large area (a whole country, the world) both orders of a valid point may fall inside.
    """
    minx, miny, maxx, maxy = area
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    with np.errstate(invalid="ignore"):
        given_inside = (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)
        swapped = ~given_inside & (lat >= minx) & (lat <= maxx) & (lon >= miny) & (lon <= maxy)
        bad_range = ~swapped & (~np.isfinite(lon) | ~np.isfinite(lat) | (np.abs(lon) > 180) | (np.abs(lat) > 90))
        outside = ~bad_range & ~swapped & ((lon < minx) | (lon > maxx) | (lat < miny) | (lat > maxy))
    coord = np.full(len(lon), None, dtype=object)
    for i in np.flatnonzero(swapped | bad_range | outside):  # text only for the rows reported
        coord[i] = f"{lon[i]},{lat[i]}"
    work = df.assign(_coord=coord)
    return (
        _problems(table, work, bad_range, id_col, "lon,lat", "not a WGS 84 lon,lat coordinate", "_coord")
        + _problems(table, work, swapped, id_col, "lon,lat", "lon/lat look swapped (lat,lon given)", "_coord")
        + _problems(
            table, work, outside, id_col, "lon,lat",
            f"outside the service area {minx},{miny},{maxx},{maxy}", "_coord",
        )
    )


def meter_box_transformer_reason(box: object, box_transformer: object, given: object) -> str:
    """Why a customer whose 表箱 is on another 台区 than its 台区编号 is refused (one text for every loader)."""
    return (f"meter box {box!r} belongs to transformer {box_transformer!r}, not {given!r}: "
            "correct the 台区编号 or the 表箱编号 (a customer is supplied through its meter box)")


def check_meter_box_transformer(table: str, df: pd.DataFrame, id_col: str, box_transformer: pd.Series) -> list[Problem]:
    """Customers whose meter box (``meter_box_id``) is on another transformer than their ``transformer_id``.

    ``box_transformer`` maps meter box id → its transformer id (null when unknown).
    """
    if "meter_box_id" not in df or "transformer_id" not in df:
        return []
    theirs = df["meter_box_id"].map(box_transformer).to_numpy(dtype=object)
    given = df["transformer_id"].to_numpy(dtype=object)
    bad = np.array([not _isna(a) and not _isna(b) and a != b for a, b in zip(theirs, given)], dtype=bool)
    out = []
    for p, box, t in zip(_problems(table, df, bad, id_col, "transformer_id", ""), df["meter_box_id"].to_numpy(dtype=object)[bad],
                         theirs[bad]):
        out.append(Problem(p.table, p.row, p.id, p.field, p.value, meter_box_transformer_reason(box, t, p.value)))
    return out
