"""The input contract of the topology engine: grid asset tables of one data version.

The store reader (``api/``) hands the engine plain pandas DataFrames with string ids;
:meth:`GridAssets.from_tables` checks that every required table and column is present and
that boolean state columns really are boolean, and refuses otherwise with an
:class:`~gis.errors.InvalidInput` naming the table and column.  Referential problems
(dangling ids, duplicates, loops) are *not* refused here: :mod:`topology.validate`
reports them, and the graph builders keep the first row of a duplicated id and ignore
elements whose endpoints are unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gis.errors import InvalidInput

__all__ = ["GridAssets", "REQUIRED_COLUMNS", "ID_COLUMNS", "first_rows"]

#: table -> required columns, in the order documented in the design.
REQUIRED_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "nodes": ("id", "kind", "voltage_kv", "lon", "lat"),
    "substations": ("id", "name", "bus_node"),
    "feeders": ("id", "name", "substation_id", "head_switch_id"),
    "segments": ("id", "node_a", "node_b", "in_service", "feeder_id"),
    "switches": ("id", "kind", "node_a", "node_b", "normal_open", "feeder_id"),
    "transformers": ("id", "name", "hv_node", "lv_node", "in_service"),
    "meter_boxes": ("id", "node", "transformer_id"),
    "customers": (
        "account_no", "supply_node", "meter_box_id", "transformer_id",
        "sensitivity", "category", "lon", "lat",
    ),
}

#: table -> its primary id column.
ID_COLUMNS: Mapping[str, str] = {t: ("account_no" if t == "customers" else "id") for t in REQUIRED_COLUMNS}

_BOOL_COLUMNS = {"segments": "in_service", "switches": "normal_open", "transformers": "in_service"}


@dataclass(frozen=True, eq=False)
class GridAssets:
    """All asset tables of one data version (see the module docstring for the columns).

    Frozen: the tables are treated as read-only by every consumer; build a new
    ``GridAssets`` (with a new ``version``) when the data change.
    """

    nodes: pd.DataFrame
    substations: pd.DataFrame
    feeders: pd.DataFrame
    segments: pd.DataFrame
    switches: pd.DataFrame
    transformers: pd.DataFrame
    meter_boxes: pd.DataFrame
    customers: pd.DataFrame
    version: str

    @classmethod
    def from_tables(cls, tables: Mapping[str, pd.DataFrame], version: str) -> GridAssets:
        """Check and wrap the reader's tables.

        Raises :class:`InvalidInput` for a missing table or column, a null primary id, or a
        state column (``in_service``/``normal_open``) that is null or not boolean.
        Extra columns are kept; extra tables are ignored.  O(rows) vectorized.
        """
        if not isinstance(version, str) or not version:
            raise InvalidInput("data version must be a non-empty string", field="version", value=version)
        checked: dict[str, pd.DataFrame] = {}
        for table, columns in REQUIRED_COLUMNS.items():
            if table not in tables:
                raise InvalidInput(f"missing table {table!r}", field=table)
            df = tables[table]
            if not isinstance(df, pd.DataFrame):
                raise InvalidInput(f"table {table!r} is not a DataFrame", field=table, value=type(df).__name__)
            for column in columns:
                if column not in df.columns:
                    raise InvalidInput(f"table {table!r} lacks column {column!r}", field=f"{table}.{column}")
            _check_ids(df, table, ID_COLUMNS[table])
            if table in _BOOL_COLUMNS:
                df = _with_bool_column(df, table, _BOOL_COLUMNS[table])
            checked[table] = df
        return cls(version=version, **checked)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name (a new dict; the frames are shared)."""
        return {name: getattr(self, name) for name in REQUIRED_COLUMNS}


def first_rows(df: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """``df`` without the later rows of a duplicated id (the first row wins).

    The validation report lists the duplicates; the graph builders need unique ids.
    O(n); returns ``df`` itself when the ids are already unique.
    """
    ids = pd.Index(df[id_column])
    if ids.is_unique:
        return df
    return df.loc[~ids.duplicated(keep="first")]


def _check_ids(df: pd.DataFrame, table: str, column: str) -> None:
    null = df[column].isna().to_numpy()
    if null.any():
        row = int(np.flatnonzero(null)[0])
        raise InvalidInput(f"table {table!r} has a null {column}", field=f"{table}.{column}", row=row)


def _with_bool_column(df: pd.DataFrame, table: str, column: str) -> pd.DataFrame:
    """Return ``df`` whose ``column`` is numpy bool, or refuse a null/non-boolean value.

    Accepts bool, nullable boolean without nulls, and 0/1 (numeric or object); vectorized.
    """
    col = df[column]
    if col.dtype == bool:
        return df
    ok = col.isin([True, False]).to_numpy(dtype=bool) & col.notna().to_numpy(dtype=bool)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise InvalidInput(
            f"table {table!r} column {column!r} must be boolean",
            field=f"{table}.{column}", value=col.iloc[row], row=row,
        )
    out = df.copy(deep=False)
    out[column] = col.to_numpy(dtype=bool)
    return out
