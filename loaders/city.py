"""``gridatlas import city DIR``: the sample city's path into either store.

Reads the files the sample generator writes (``grid.gpkg`` layers in any CRS pyproj
knows, ``customers.csv``, ``interactions.csv``), checks every row (required fields,
duplicate ids, unknown references, enumerations, coordinates inside the service area,
swapped axes, phones parsed into the form every path stores: :mod:`gis.phones`), and then
writes everything through the loaders' shared core (:mod:`loaders.core`): ONE transaction with
upserts by id in the models' write order. Any bad row refuses the whole load with
:class:`CityImportError` listing the problems, and nothing already stored is touched.
Re-running the same files (under the same service area) is a no-op, also after another load
came between (:func:`loaders.core.unchanged_version`).

Manual corrections are kept (issue 18): a contact value corrected at a touchpoint
(``PATCH /customers/{a}/contact``) later than the file row's verification date (核实日期) is
not reverted by a re-import; the load writes the stored value and reports the correction it
kept (:attr:`ImportResult.kept_corrections`), as the customer-archive import does. A record's
verification date never goes back to an older one from the file either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from sqlalchemy.engine import Connection, Engine

from gis.errors import InvalidInput
from gis.models import LOCATION_QUALITIES, NODE_KINDS, SEGMENT_KINDS, SWITCH_KINDS
from gis.interaction_checks import FIELDS, check_columns
from gis.interaction_rollups import local_days, match_callers, place, rebuild_rollups
from gis.phones import parse_phones
from gis.search import reindex_customers
from gis.search.reindex import PreparedRows
from gis.search.side_build import SideBuild
from gis.store import latest_data_version
from gis.tables import GRID_TABLES, columns, id_column, references, required_columns
from gis.validation import (
    BBox,
    Problem,
    check_enum,
    check_lonlat,
    check_meter_box_transformer,
    check_references,
    check_required,
    check_unique,
)
from loaders.checks import check_texts, number_errors, split_phones
from loaders.core import KeptCorrection, LoadResult, content_hash, unchanged_version, write_load

__all__ = ["CityImportError", "ImportResult", "KeptCorrection", "import_city", "read_city", "LAYER_ORDER"]

#: Write order: every table after the tables it references (from the models: :mod:`gis.tables`).
LAYER_ORDER = GRID_TABLES
#: Columns a city file must give beyond the models' required ones: a switch's normal state is never guessed.
_ALSO_REQUIRED = {"switches": ("normal_open",)}
_FILES = ("grid.gpkg", "customers.csv", "interactions.csv")

Progress = Callable[[str, int, int], None]


class CityImportError(InvalidInput):
    """The city files have bad rows; nothing was written. ``problems`` lists them all."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(str(first) + more, field=first.field, value=first.value, row=first.row)
        self.problems = problems


#: What a city load returns: the result every loader returns (:mod:`loaders.core`).
ImportResult = LoadResult


def _read_layer(path: Path, layer: str) -> pd.DataFrame:
    """A GeoPackage layer in WGS 84; refuses a layer without a CRS (CRS is a contract)."""
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:
        raise InvalidInput(f"cannot read layer {layer!r} of {path}: {exc}", field=layer) from exc
    if gdf.crs is None:
        raise InvalidInput(
            f"layer {layer!r} of {path} has no CRS; write it with one (e.g. EPSG:4326 or EPSG:4490)",
            field=layer,
        )
    if CRS.from_user_input(gdf.crs) != CRS.from_epsg(4326):
        gdf = gdf.to_crs(4326)  # pyproj: always_xy handled by geopandas (lon/lat order)
    df = pd.DataFrame(gdf.drop(columns="geometry"))
    df["geom"] = gdf.geometry.to_numpy()
    df["_row"] = np.arange(1, len(df) + 1)
    return df


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", field=path.name) from exc
    df["_row"] = np.arange(2, len(df) + 2)  # line number in the file (header is line 1)
    return df


def _numbers(table: str, df: pd.DataFrame, id_col: str, fields: tuple[str, ...], problems: list[Problem]) -> None:
    for name in fields:
        if name not in df:
            continue
        parsed = pd.to_numeric(df[name], errors="coerce")
        bad = parsed.isna().to_numpy() & df[name].notna().to_numpy()
        problems += [
            Problem(table, int(r), str(i), name, v, "not a number")
            for r, i, v in zip(df["_row"][bad], df[id_col][bad], df[name][bad])
        ]
        rows, ids, raw = df["_row"].to_numpy(), df[id_col].to_numpy(dtype=object), df[name].to_numpy(dtype=object)
        problems += [Problem(table, int(rows[k]), str(ids[k]), name, raw[k], reason)  # as every loader (loaders.checks)
                     for k, reason in number_errors(name, parsed.to_numpy(dtype=float, na_value=np.nan))]
        df[name] = parsed


def _check_grid(layers: dict[str, pd.DataFrame], area: BBox) -> list[Problem]:
    p: list[Problem] = []
    for name in LAYER_ORDER:
        df = layers[name]
        fields = required_columns(name) + _ALSO_REQUIRED.get(name, ())
        p += check_required(name, df, "id", fields)
        p += check_unique(name, df, "id")
        if name != "feeders":
            geoms = df["geom"].to_numpy()
            empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
            p += [Problem(name, int(r), str(i), "geometry", None, "missing or empty geometry") for r, i in zip(df["_row"][empty], df["id"][empty])]
            ok = ~empty
            if ok.any():
                b = shapely.bounds(geoms[ok])
                sub = df[ok]
                # Check both corners of every geometry's box: a line is inside if its box is.
                low = check_lonlat(name, sub, "id", b[:, 0], b[:, 1], area)
                seen = {q.row for q in low}
                p += low + [q for q in check_lonlat(name, sub, "id", b[:, 2], b[:, 3], area) if q.row not in seen]
                invalid = ~shapely.is_valid(geoms[ok])
                p += [Problem(name, int(r), str(i), "geometry", None, "invalid geometry") for r, i in zip(sub["_row"][invalid], sub["id"][invalid])]
    p += _check_references(layers, LAYER_ORDER)
    p += check_enum("nodes", layers["nodes"], "id", "kind", NODE_KINDS)
    for name, kinds in (("segments", SEGMENT_KINDS), ("switches", SWITCH_KINDS)):
        p += check_enum(name, layers[name], "id", "kind", kinds)
    _numbers("substations", layers["substations"], "id", ("voltage_kv",), p)
    _numbers("transformers", layers["transformers"], "id", ("rated_kva",), p)
    return p


def _check_references(layers: dict[str, pd.DataFrame], names: tuple[str, ...]) -> list[Problem]:
    """Every reference the models declare for ``names`` (:func:`gis.tables.references`), against the
    ids of the referenced layer in this load."""
    p: list[Problem] = []
    known: dict[str, pd.Index] = {}
    for name in names:
        df = layers[name]
        for ref in references(name):
            if ref.target not in known:
                known[ref.target] = pd.Index(layers[ref.target][id_column(ref.target)])
            p += check_references(name, df, id_column(name), ref.column, ref.target, known[ref.target], nullable=ref.nullable)
    return p


def _check_customers(df: pd.DataFrame, layers: dict[str, pd.DataFrame], area: BBox) -> list[Problem]:
    t = "customers"
    p = check_required(t, df, "account_no", required_columns(t) + ("lon", "lat"))
    p += check_unique(t, df, "account_no")
    p += check_enum(t, df, "account_no", "location_quality", LOCATION_QUALITIES)
    p += _check_references({**layers, t: df}, (t,))
    boxes = layers["meter_boxes"].drop_duplicates("id").set_index("id")["transformer_id"]
    p += check_meter_box_transformer(t, df, "account_no", boxes)
    _numbers(t, df, "account_no", ("lon", "lat", "contract_kva"), p)
    has = df["lon"].notna().to_numpy() & df["lat"].notna().to_numpy()
    p += check_lonlat(t, df[has], "account_no", df["lon"][has].to_numpy(), df["lat"][has].to_numpy(), area)
    dates = pd.to_datetime(df["contact_verified_at"], errors="coerce", format="ISO8601")
    bad = dates.isna().to_numpy() & df["contact_verified_at"].notna().to_numpy()
    p += [Problem(t, int(r), str(i), "contact_verified_at", v, "not an ISO date") for r, i, v in zip(df["_row"][bad], df["account_no"][bad], df["contact_verified_at"][bad])]
    df["contact_verified_at"] = dates  # datetime64: written as a date by bulk_upsert, vectorized
    return p


def _parse_phones(df: pd.DataFrame) -> list[Problem]:
    """Customers' phones in the form every path stores (:mod:`gis.phones`: mobile 11 digits,
    landline 0 + area code + number), in place; a problem for each value that is not a phone.
    A cell with two numbers fills phone_alt as in every loader (:func:`loaders.checks.split_phones`)."""
    p: list[Problem] = []
    split_phones(df)
    for name in ("phone", "phone_alt"):
        if name not in df:
            continue
        raw = df[name].to_numpy(dtype=object)
        parsed, errors = parse_phones([v if isinstance(v, str) else None for v in raw])
        rows, ids = df["_row"].to_numpy(), df["account_no"].to_numpy(dtype=object)
        p += [Problem("customers", int(rows[i]), None if pd.isna(ids[i]) else str(ids[i]), name, raw[i],
                      f"not a phone number ({reason})") for i, reason in sorted(errors.items())]
        df[name] = parsed
    return p


def _check_interactions(df: pd.DataFrame, area: BBox) -> list[Problem]:
    """The interactions file checked by the ingest's own rules (:func:`gis.interaction_checks.check_columns`:
    the same reasons as ``gridatlas interactions import``, a time without an offset in China Standard
    Time, channel aliases resolved, caller phones normalized). When every row is good, ``df`` takes the
    cleaned values (times tz-aware UTC, lon/lat floats)."""
    t = "interactions"
    missing = [f for f in required_columns(t) if f not in df]
    if missing:
        return check_required(t, df, "id", missing)
    checked = check_columns({f: df[f].tolist() for f in FIELDS if f in df}, df["_row"].tolist(), area)
    if checked.problems:
        return checked.problems
    clean = checked.frame.set_axis(df.index)
    df["account_no"] = clean["caller_account_no"]
    for name in ("id", "channel", "kind", "occurred_at", "text", "caller_phone", "wechat_openid", "lon", "lat"):
        if name in df or name in ("occurred_at", "lon", "lat"):
            df[name] = clean[name]
    return []


#: What the search rows are built from (:class:`gis.search.reindex.PreparedRows`), and from
#: how many customers on in a worker process (its start, ~0.5 s, is hidden behind the load).
_SEARCH_COLUMNS = ("account_no", "name", "address", "phone", "phone_alt")
_PREPARE_MIN = 50_000


def _with_points(df: pd.DataFrame) -> pd.DataFrame:
    has = df["lon"].notna().to_numpy() & df["lat"].notna().to_numpy()
    geoms = np.full(len(df), None, dtype=object)
    geoms[has] = shapely.points(df["lon"][has].to_numpy(float), df["lat"][has].to_numpy(float))
    return df.assign(geom=geoms)


def _placed_interactions(df: pd.DataFrame, customers: pd.DataFrame, transformers: pd.DataFrame) -> pd.DataFrame:
    """The contacts matched to this city's customers and placed (cell, day, 台区, feeder), as an
    ingest would (:mod:`gis.interaction_rollups`); the rollups are rebuilt after the write."""
    phones = df["caller_phone"].map(lambda v: v if isinstance(v, str) and v else None) if "caller_phone" in df else [None] * len(df)
    openids = df["wechat_openid"] if "wechat_openid" in df else [None] * len(df)
    keys = customers.reindex(columns=["account_no", "phone", "phone_alt", "wechat_openid", "transformer_id"]).copy()
    geoms = customers["geom"].to_numpy()
    keys["lon"], keys["lat"] = shapely.get_x(geoms), shapely.get_y(geoms)
    matched, how = match_callers(df["account_no"].tolist(), list(phones), list(openids), keys)
    feeders = dict(zip(transformers["id"], transformers["feeder_id"])) if "feeder_id" in transformers else {}
    feeders = {k: v for k, v in feeders.items() if isinstance(v, str)}
    own = df["geom"].to_numpy()
    has = np.array([g is not None for g in own])
    lon = np.full(len(df), np.nan)
    lat = np.full(len(df), np.nan)
    if has.any():
        lon[has], lat[has] = shapely.get_x(own[has]), shapely.get_y(own[has])
    placed = place(matched, lon, lat, keys, feeders)
    return df.assign(caller_account_no=df["account_no"], account_no=matched, matched_by=how,
                     cell=placed["cell"].to_numpy(object), day=local_days(df["occurred_at"]),
                     transformer_id=placed["transformer_id"].to_numpy(object), feeder_id=placed["feeder_id"].to_numpy(object))


#: Rows of interactions.csv read, checked, placed and written at a time: 10M contacts held at once
#: (text, phones, points, the placed copy) took well over 10 GB; a slice of 1M takes about 1 GB.
INTERACTION_CHUNK = 1_000_000


def _interaction_chunks(path: Path) -> Iterator[pd.DataFrame]:
    """interactions.csv in slices of :data:`INTERACTION_CHUNK` rows, each with its ``_row`` (file line)."""
    first = 2
    try:
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8",
                             chunksize=INTERACTION_CHUNK)
        for df in reader:
            df["_row"] = np.arange(first, first + len(df))
            first += len(df)
            yield df
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", field=path.name) from exc


def _checked_interactions(path: Path, area: BBox) -> tuple[list[Problem], pd.DataFrame | None, int]:
    """Check every row of interactions.csv a slice at a time: (problems, the checked frame when the
    file is one slice, else None, rows). Duplicate ids are found across slices (by a 64-bit hash of
    each id, the colliding ids then named from a second read)."""
    problems: list[Problem] = []
    hashes: list[np.ndarray] = []
    only: pd.DataFrame | None = None
    chunks = 0
    rows = 0
    for df in _interaction_chunks(path):
        chunks += 1
        rows += len(df)
        found = _check_interactions(df, area) + check_texts("interactions", df, "id")
        ids = df["id"]
        hashes.append(np.where(ids.notna().to_numpy(), pd.util.hash_array(ids.fillna("").to_numpy(object)), 0).astype(np.uint64))
        if chunks == 1:
            only, first = df, found  # a one-slice file: exactly the checks (and order) of a whole-file read
        else:
            only = None
            if chunks == 2:
                problems += [q for q in first if q.reason != "duplicate id"]
            problems += [q for q in found if q.reason != "duplicate id"]
    if chunks == 1 and only is not None:
        problems = first
    elif hashes:
        h = np.concatenate(hashes)
        present = h != 0
        values, counts = np.unique(h[present], return_counts=True)
        suspects = set(values[counts > 1].tolist())
        if suspects:
            seen = []
            for df in _interaction_chunks(path):
                hh = pd.util.hash_array(df["id"].fillna("").to_numpy(object))
                pick = np.isin(hh, np.fromiter(suspects, dtype=np.uint64)) & df["id"].notna().to_numpy()
                seen.append(df.loc[pick, ["id", "_row"]])
            both = pd.concat(seen, ignore_index=True)
            problems += check_unique("interactions", both, "id")
    return problems, only, rows


class InteractionSlices:
    """The placed interactions of a city folder too large to hold at once (more than one
    :data:`INTERACTION_CHUNK`): iterating reads, parses and places one slice after the other
    (already checked: :func:`read_city` refused the load if any row was bad)."""

    def __init__(self, path: Path, area: BBox, customers: pd.DataFrame, transformers: pd.DataFrame, rows: int) -> None:
        self.path, self.area, self.customers, self.transformers, self.rows = path, area, customers, transformers, rows

    def __len__(self) -> int:
        return self.rows

    def __iter__(self) -> Iterator[pd.DataFrame]:
        keep = columns("interactions")
        for df in _interaction_chunks(self.path):
            _check_interactions(df, self.area)  # parses times and coordinates (the rows were checked before)
            placed = _placed_interactions(_with_points(df), self.customers, self.transformers)
            yield placed[[c for c in keep if c in placed]]


def read_city(
    directory: Path,
    *,
    service_area: BBox,
    progress: Progress | None = None,
    customers_read: Callable[[pd.DataFrame], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Read and check the city files; returns the tables to write, in write order.

    Each frame holds the table's columns (:func:`gis.tables.columns`) that the files give or the
    load derives, and nothing else (``geom`` as shapely, EPSG:4326). Interactions are checked a
    slice at a time (:data:`INTERACTION_CHUNK` rows); a file of more than one slice comes back as
    :class:`InteractionSlices`, which places each slice as it is iterated (10M contacts do not fit
    in memory at once).
    Raises :class:`CityImportError` listing every bad row, or :class:`InvalidInput`.
    ``customers_read`` is called with the customers as read, before the rest is read and
    anything is checked (a load starts building their search rows then).
    """
    directory = Path(directory)
    report = progress or (lambda stage, done, total: None)
    total = len(LAYER_ORDER) + 2
    report("read customers", 0, total)
    customers = _read_csv(directory / "customers.csv")
    phone_problems = _parse_phones(customers)  # before the search rows are built from them
    if customers_read is not None:
        customers_read(customers)
    layers = {}
    for i, name in enumerate(LAYER_ORDER):
        report(f"read {name}", i + 1, total)
        layers[name] = _read_layer(directory / "grid.gpkg", name)
    report("read interactions", len(LAYER_ORDER) + 1, total)
    interaction_problems, interactions, interaction_rows = _checked_interactions(directory / "interactions.csv", service_area)
    report("validate", total, total)
    problems = _check_grid(layers, service_area) + phone_problems
    problems += _check_customers(customers, layers, service_area)
    problems += interaction_problems
    problems += [q for name, df in (*layers.items(), ("customers", customers))
                 for q in check_texts(name, df, "account_no" if name == "customers" else "id")]
    if problems:
        raise CityImportError(problems)

    for name in ("segments", "transformers"):
        layers[name]["in_service"] = layers[name]["in_service"].fillna(1).astype(bool) if "in_service" in layers[name] else True
    layers["switches"]["normal_open"] = layers["switches"]["normal_open"].astype(bool)
    tables = {name: layers[name] for name in LAYER_ORDER}
    tables["customers"] = _with_points(customers)
    out: dict[str, Any] = {name: df[[c for c in columns(name) if c in df]] for name, df in tables.items()}
    if interactions is not None:  # one slice: placed now, a frame like every other table
        placed = _placed_interactions(_with_points(interactions), tables["customers"], layers["transformers"])
        out["interactions"] = placed[[c for c in columns("interactions") if c in placed]]
    else:
        out["interactions"] = InteractionSlices(directory / "interactions.csv", service_area, tables["customers"],
                                                layers["transformers"], interaction_rows)
    return out


def import_city(
    engine: Engine,
    directory: Path,
    *,
    service_area: BBox,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate the city files in ``directory`` and load them atomically into the store.

    Every table goes through :func:`gis.bulk.bulk_upsert` in ONE transaction. Raises
    :class:`CityImportError` (every bad row) or :class:`InvalidInput` (a missing or
    unreadable file, or a row the store's own checks refuse); then nothing is written.
    """
    directory = Path(directory)
    for name in _FILES:
        if not (directory / name).is_file():
            raise InvalidInput(f"{directory} has no {name}: not a city directory", field="directory", value=str(directory))
    report = progress or (lambda stage, done, total: None)
    # the service area decides which rows are refused: a load under another one is not the same load
    digest = content_hash([b"city", repr(tuple(service_area)).encode(), *(directory / name for name in _FILES)])
    with engine.connect() as conn:  # the same content as the newest version: not even read
        same = unchanged_version(conn, digest)
        latest = latest_data_version(conn) if same is not None else None
    if same is not None:
        return LoadResult(data_version=same, unchanged=True, sha256=digest, counts=latest["details"].get("counts", {}))

    with ExitStack() as stack:
        started: dict[str, object] = {}

        def start_search_rows(customers: pd.DataFrame) -> None:
            # A large city's search rows are built in a worker process while the rest is read
            # and the database writes the tables (a small one's in this process: starting an
            # interpreter costs more). On PostgreSQL they become whole search tables on
            # side connections, swapped in by the load's transaction.
            if len(customers) < _PREPARE_MIN or not set(_SEARCH_COLUMNS) <= set(customers.columns):
                return
            columns = [customers[c].to_numpy(dtype=object, na_value=None) for c in _SEARCH_COLUMNS]
            prepared = started["prepared"] = stack.enter_context(PreparedRows(columns, dialect=engine.dialect.name))
            if engine.dialect.name == "postgresql":
                started["build"] = stack.enter_context(SideBuild(engine, prepared))

        tables = read_city(directory, service_area=service_area, progress=report, customers_read=start_search_rows)
        result = LoadResult(sha256=digest, counts={name: len(df) for name, df in tables.items()})
        with engine.connect() as conn:  # loaded before, another load since: unchanged if no stored row would change
            same = unchanged_version(conn, digest, tables)
        if same is not None:
            result.unchanged, result.data_version = True, same
            return result
        prepared, build = started.get("prepared"), started.get("build")

        def search_rows(conn: Connection, customers: pd.DataFrame) -> None:
            if build is None or not build.swap_in(conn):
                reindex_customers(conn, prepared=prepared)  # the search rows of this load, in its transaction

        def rollups(conn: Connection) -> None:
            report("interaction rollups", 0, 1)
            rebuild_rollups(conn)  # the whole table's counts, this load's contacts included

        return write_load(engine, tables, result, source=f"city:{directory.resolve()}",
                          source_rows=np.arange(2, len(tables["customers"]) + 2), source_file="customers.csv",
                          progress=report, search_rows=search_rows, also=rollups)
