"""``gridatlas import city DIR``: the sample city's path into either store.

Reads the files the sample generator writes (``grid.gpkg`` layers in any CRS pyproj
knows, ``customers.csv``, ``interactions.csv``), checks every row (required fields,
duplicate ids, unknown references, enumerations, coordinates inside the service area,
swapped axes, phones parsed into the form every path stores: :mod:`gis.phones`), and then writes everything in ONE transaction with upserts by id. Any
bad row refuses the whole load with :class:`CityImportError` listing the problems, and
nothing already stored is touched. Re-running the same files is a no-op: the files'
content hash is recorded with the data version.

Manual corrections are kept (issue 18): a contact value corrected at a touchpoint
(``PATCH /customers/{a}/contact``) later than the file row's verification date (核实日期) is
not reverted by a re-import; the load writes the stored value and reports the correction it
kept (:attr:`ImportResult.kept_corrections`), as the customer-archive import does. A record's
verification date never goes back to an older one from the file either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from gis.contacts import CONTACT_FIELDS, corrected_accounts, guard_manual_corrections
from gis.errors import InvalidInput
from gis.models import Base, LOCATION_QUALITIES, NODE_KINDS, SEGMENT_KINDS, SWITCH_KINDS
from gis.bulk import bulk_upsert
from gis.interaction_checks import FIELDS, check_columns
from gis.interaction_rollups import local_days, match_callers, place, rebuild_rollups
from gis.phones import parse_phones
from gis.search import reindex_customers
from gis.search.reindex import PreparedRows
from gis.search.side_build import SideBuild
from gis.store import latest_data_version, record_data_version
from gis.tables import GRID_TABLES, columns, id_column, references, required_columns
from gis.validation import (
    BBox,
    Problem,
    check_enum,
    check_lonlat,
    check_meter_box_transformer,
    check_no_nul,
    check_references,
    check_required,
    check_unique,
)

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


@dataclass(frozen=True)
class KeptCorrection:
    """A contact value the import did not write: a manual correction newer than the row's 核实日期."""

    row: int            # line in customers.csv (the header is line 1)
    account_no: str
    field: str
    file_value: str | None
    kept_value: str | None
    reason: str

    def __str__(self) -> str:
        return (f"customers.csv line {self.row}, account {self.account_no}, {self.field}: "
                f"file {self.file_value!r}, kept {self.kept_value!r} — {self.reason}")


@dataclass(frozen=True)
class ImportResult:
    data_version: int
    unchanged: bool
    counts: dict[str, int] = field(default_factory=dict)
    kept_corrections: list[KeptCorrection] = field(default_factory=list)


def _content_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for name in _FILES:
        with open(directory / name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


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
    landline 0 + area code + number), in place; a problem for each value that is not a phone."""
    p: list[Problem] = []
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


def read_city(
    directory: Path,
    *,
    service_area: BBox,
    progress: Progress | None = None,
    customers_read: Callable[[pd.DataFrame], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Read and check the city files; returns the tables to write, in write order.

    Each frame holds the table's columns (:func:`gis.tables.columns`) that the files give or the
    load derives, and nothing else (``geom`` as shapely, EPSG:4326).
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
    interactions = _read_csv(directory / "interactions.csv")
    report("validate", total, total)
    problems = _check_grid(layers, service_area) + phone_problems
    problems += _check_customers(customers, layers, service_area)
    problems += _check_interactions(interactions, service_area)
    problems += [q for name, df in (*layers.items(), ("customers", customers), ("interactions", interactions))
                 for q in check_no_nul(name, df, "account_no" if name == "customers" else "id")]
    if problems:
        raise CityImportError(problems)

    for name in ("segments", "transformers"):
        layers[name]["in_service"] = layers[name]["in_service"].fillna(1).astype(bool) if "in_service" in layers[name] else True
    layers["switches"]["normal_open"] = layers["switches"]["normal_open"].astype(bool)
    tables = {name: layers[name] for name in LAYER_ORDER}
    tables["customers"] = _with_points(customers)
    tables["interactions"] = _placed_interactions(_with_points(interactions), tables["customers"], layers["transformers"])
    return {name: df[[c for c in columns(name) if c in df]] for name, df in tables.items()}


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
    digest = _content_hash(directory)
    with engine.connect() as conn:
        latest = latest_data_version(conn)
    if latest is not None and latest["details"].get("sha256") == digest:
        return ImportResult(data_version=latest["id"], unchanged=True, counts=latest["details"].get("counts", {}))

    counts: dict[str, int] = {}
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
        prepared, build = started.get("prepared"), started.get("build")
        with engine.begin() as conn:  # one transaction: all or nothing
            report("manual corrections", 0, 1)
            kept = _keep_manual_corrections(conn, tables["customers"])
            for name, df in tables.items():
                counts[name] = bulk_upsert(conn, name, df, progress=report)
            report("interaction rollups", 0, 1)
            rebuild_rollups(conn)  # the whole table's counts, this load's contacts included
            report("search tables", 0, 1)
            if build is None or not build.swap_in(conn):
                reindex_customers(conn, prepared=prepared)  # the search rows of this load, in its transaction
            if kept:  # the search rows were prepared from the file: the kept values' accounts again
                reindex_customers(conn, sorted({k.account_no for k in kept}))
            version = record_data_version(conn, f"city:{directory.resolve()}", {"sha256": digest, "counts": counts})
    report("done", 1, 1)
    return ImportResult(data_version=version, unchanged=False, counts=counts, kept_corrections=kept)


def _keep_manual_corrections(conn: Connection, customers: pd.DataFrame) -> list[KeptCorrection]:
    """Give the rows of customers corrected at a touchpoint their stored values back where the
    correction is newer than the row's 核实日期 (:func:`gis.contacts.guard_manual_corrections`),
    and keep a stored verification date newer than the file's. ``customers`` (read_city's, in
    file order) is changed in place; returns the corrections kept."""
    corrected = corrected_accounts(conn)
    if not corrected:
        return []
    hits = np.flatnonzero(customers["account_no"].isin(corrected).to_numpy(dtype=bool))
    if not len(hits):
        return []
    verified = customers["contact_verified_at"]
    rows = []
    for i in hits.tolist():
        day = verified.iat[i]
        rows.append({"_pos": i, "account_no": customers["account_no"].iat[i],
                     "contact_verified_at": None if pd.isna(day) else pd.Timestamp(day).date(),
                     **{f: customers[f].iat[i] for f in CONTACT_FIELDS}})
    kept = []
    for pos, name, incoming, stored, reason in guard_manual_corrections(conn, rows):
        customers.iat[pos, customers.columns.get_loc(name)] = stored
        kept.append(KeptCorrection(pos + 2, str(customers["account_no"].iat[pos]), name,
                                   None if incoming is None else str(incoming), stored, reason))
    # a confirmation at a touchpoint later than the file's date stays the record's 核实日期
    c = Base.metadata.tables["customers"]
    accounts = customers["account_no"].to_numpy(object)[hits].tolist()
    stored_days: dict[str, object] = {}
    for start in range(0, len(accounts), 5000):
        q = select(c.c.account_no, c.c.contact_verified_at).where(c.c.account_no.in_(accounts[start:start + 5000]))
        stored_days.update({a: d for a, d in conn.execute(q) if d is not None})
    col = customers.columns.get_loc("contact_verified_at")
    for i, a in zip(hits.tolist(), accounts):
        mine = stored_days.get(a)
        if mine is None:
            continue
        mine = pd.Timestamp(mine)
        theirs = verified.iat[i]
        if pd.isna(theirs) or pd.Timestamp(theirs) < mine:
            customers.iat[i, col] = mine
    return sorted(kept, key=lambda k: (k.row, k.field))
