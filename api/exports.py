"""Streamed exports of impact lists: CSV, XLSX and GeoJSON, one chunk of customers at a time.

The affected customers come from the impact result in account order (``iter_rows``), their
names, addresses and phones from the store a chunk at a time
(:func:`gis.customer_details.read_customer_details`), masked per role before anything is
written: personal data unless the role sees it, and, as the ``export_masking`` setting says
per role, names (张*伟) and coordinates rounded to a precision that points at neither the
house nor the 台区. Memory is bounded by one chunk whatever the list's length:

* **CSV** — UTF-8 with a byte-order mark (Excel opens it with the right encoding), one
  encoded chunk per yield; a text cell that would start a formula gets a leading ``'``
  (:mod:`gis.spreadsheet`).
* **GeoJSON** — an RFC 7946 FeatureCollection written feature by feature; customers
  without coordinates get ``"geometry": null`` (so the row count matches the other
  formats); the data version and plan travel as foreign members.
* **XLSX** — openpyxl's write-only workbook (rows go to a temporary file, not a tree in
  memory; text cells written explicitly as strings, never formulas) saved into a :class:`tempfile.SpooledTemporaryFile` (RAM up to 4 MB, then disk)
  and streamed back in 64 KB chunks. An XLSX file is a zip whose directory is written
  last, so no byte can be sent before the sheet is complete; a spooled file keeps the
  server's memory flat at the cost of first-byte latency. A hand-written streaming zip
  writer would send earlier but would re-implement the OOXML packaging openpyxl gets right.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from fastapi.responses import StreamingResponse

from api.jsonio import dumps
from api.masking import mask_customer, mask_name
from gis.spreadsheet import csv_row, xlsx_row
from outage_impact.impact import ImpactResult

__all__ = ["EXPORT_FORMATS", "EXPORT_COLUMNS", "MEDIA_TYPES", "export_records", "csv_stream",
           "geojson_stream", "xlsx_stream", "export_response"]

EXPORT_FORMATS: tuple[str, ...] = ("csv", "xlsx", "geojson")
#: Columns of every export, in order (transformer_id is the 台区).
EXPORT_COLUMNS: tuple[str, ...] = ("account_no", "name", "address", "phone", "feeder_id", "transformer_id",
                                   "meter_box_id", "sensitivity", "lon", "lat")
MEDIA_TYPES: Mapping[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
}
_XLSX_SPOOL = 4 * 1024 * 1024
_XLSX_CHUNK = 64 * 1024

Details = Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]


def _finite(value: float, decimals: int | None) -> float | None:
    if not math.isfinite(value):
        return None
    return value if decimals is None else round(value, decimals)


def export_records(result: ImpactResult, details: Details, *, sees_pii: bool, chunk_size: int,
                   mask_names: bool = False, coordinate_decimals: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """Chunks of export records (dicts keyed by :data:`EXPORT_COLUMNS`), PII masked unless ``sees_pii``,
    names masked if ``mask_names``, coordinates rounded to ``coordinate_decimals`` (None: exact)."""
    for rows in result.iter_rows(chunk_size):
        info = details([r.account_no for r in rows])
        chunk = []
        for r in rows:
            d = info.get(r.account_no, {})
            rec = {"account_no": r.account_no, "name": d.get("name"), "address": d.get("address"),
                   "phone": d.get("phone"), "feeder_id": r.feeder_id, "transformer_id": r.transformer_id,
                   "meter_box_id": d.get("meter_box_id"), "sensitivity": r.sensitivity,
                   "lon": _finite(r.lon, coordinate_decimals), "lat": _finite(r.lat, coordinate_decimals)}
            if mask_names:
                rec["name"] = mask_name(rec["name"])
            chunk.append(mask_customer(rec, sees_pii=sees_pii))
        yield chunk


def csv_stream(chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    yield b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")
    for chunk in chunks:
        buf.seek(0)
        buf.truncate()
        writer.writerows([csv_row(rec[c] for c in EXPORT_COLUMNS) for rec in chunk])
        yield buf.getvalue().encode("utf-8")


def geojson_stream(chunks: Iterable[list[dict[str, Any]]], meta: Mapping[str, Any]) -> Iterator[bytes]:
    head = dumps({"type": "FeatureCollection", **meta})
    yield head[:-1] + b',"features":['
    first = True
    for chunk in chunks:
        parts = []
        for rec in chunk:
            lon, lat = rec["lon"], rec["lat"]
            geometry = None if lon is None or lat is None else {"type": "Point", "coordinates": [lon, lat]}
            props = {c: rec[c] for c in EXPORT_COLUMNS if c not in ("lon", "lat")}
            parts.append(dumps({"type": "Feature", "id": rec["account_no"], "geometry": geometry,
                                "properties": props}))
        if parts:
            yield (b"" if first else b",") + b",".join(parts)
            first = False
    yield b"]}"


def _openpyxl():
    try:
        import openpyxl
    except ImportError as exc:  # an optional heavy dependency: say which package is missing
        raise RuntimeError("XLSX export needs the 'openpyxl' package: pip install 'openpyxl>=3.1'") from exc
    return openpyxl


def xlsx_stream(chunks: Iterable[list[dict[str, Any]]], sheet: str = "customers") -> Iterator[bytes]:
    openpyxl = _openpyxl()
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(list(EXPORT_COLUMNS))
    for chunk in chunks:
        for rec in chunk:
            ws.append(xlsx_row(ws, [rec[c] for c in EXPORT_COLUMNS]))
    with tempfile.SpooledTemporaryFile(max_size=_XLSX_SPOOL) as spool:
        wb.save(spool)
        spool.seek(0)
        while block := spool.read(_XLSX_CHUNK):
            yield block


def export_response(result: ImpactResult, fmt: str, details: Details, *, sees_pii: bool, chunk_size: int,
                    filename: str, meta: Mapping[str, Any], mask_names: bool = False,
                    coordinate_decimals: int | None = None) -> StreamingResponse:
    """A streamed response of ``result``'s customer list in ``fmt`` (no Content-Length)."""
    chunks = export_records(result, details, sees_pii=sees_pii, chunk_size=chunk_size, mask_names=mask_names,
                            coordinate_decimals=coordinate_decimals)
    if fmt == "csv":
        body: Iterator[bytes] = csv_stream(chunks)
    elif fmt == "geojson":
        body = geojson_stream(chunks, meta)
    elif fmt == "xlsx":
        body = xlsx_stream(chunks)
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    headers = {"Content-Disposition": f'attachment; filename="{filename}.{fmt}"',
               "X-Data-Version": str(meta.get("data_version")), "X-Count": str(result.count)}
    return StreamingResponse(body, media_type=MEDIA_TYPES[fmt], headers=headers)
