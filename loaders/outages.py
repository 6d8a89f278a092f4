"""Recording outages (停电记录): one row per interrupted customer, from a CSV file or the API.

CSV columns (header row, UTF-8 or GBK): ``outage_id, kind, start, end, account_no``; ``kind``
is ``planned`` or ``unplanned`` (计划 / 故障 accepted); ``start`` and ``end`` are ISO 8601
times with a zone (``2026-03-02T08:15:00+08:00``). A row is rejected, with field, value and
reason, when a value is missing or malformed, ``end`` is before ``start``, the account is not
a customer of the store, the outage id is recorded (or earlier in the file) with the other
kind, or the same (outage_id, account_no) is recorded with other times. Everything else is
stored in one transaction; a row recorded identically before is counted as unchanged, so
importing a file twice changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from gis.errors import InvalidInput
from gis.models import OUTAGE_KINDS
from gis.outages_store import (
    InterruptionRow,
    existing_interruptions,
    insert_interruptions,
    known_accounts,
    outage_kinds,
)
from loaders.rejects import Reject

__all__ = ["OUTAGE_COLUMNS", "OutageImport", "import_outages", "record_outage", "parse_time", "parse_kind"]

OUTAGE_COLUMNS = ("outage_id", "kind", "start", "end", "account_no")
_KIND_ALIASES = {"planned": "planned", "unplanned": "unplanned", "计划": "planned", "计划停电": "planned",
                 "预安排": "planned", "故障": "unplanned", "故障停电": "unplanned"}


@dataclass
class OutageImport:
    """What an import did: rows read, new records, records already there, and the rejects."""

    rows: int = 0
    inserted: int = 0
    unchanged: int = 0
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({r.row for r in self.rejects})

    def to_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "inserted": self.inserted, "unchanged": self.unchanged,
                "rejected_rows": self.rejected_rows, "rejects": [r.to_dict() for r in self.rejects]}


def parse_kind(value: str) -> str:
    kind = _KIND_ALIASES.get(value.strip().lower()) if isinstance(value, str) else None
    if kind is None:
        raise ValueError(f"must be one of {', '.join(OUTAGE_KINDS)}")
    return kind


def parse_time(value: str) -> dt.datetime:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValueError("a time is required")
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError("not an ISO 8601 time such as 2026-03-02T08:15:00+08:00") from exc
    if parsed.tzinfo is None:
        raise ValueError("needs a time zone (e.g. +08:00)")
    return parsed


def _decode(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}", field="file", value=str(path)) from exc
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput(f"{path.name} is neither UTF-8 nor GBK text", field="file", value=str(path))


def import_outages(engine: Engine, path: Path, *, progress: Callable[[str, int, int], None] | None = None) -> OutageImport:
    """Validate every row of ``path``, store the good ones atomically, report the rest.

    Raises :class:`InvalidInput` (nothing stored) for an unreadable file or missing columns.
    """
    text = _decode(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in OUTAGE_COLUMNS if c not in header]
    if missing:
        raise InvalidInput(f"{path.name}: missing column(s) {', '.join(missing)}; expected {', '.join(OUTAGE_COLUMNS)}",
                           field=missing[0], value=",".join(header))
    reader.fieldnames = header
    result = OutageImport()
    parsed: list[tuple[int, InterruptionRow]] = []
    name = path.name

    def reject(row: int, ident: str, fld: str, value: object, reason: str) -> None:
        result.rejects.append(Reject(name, "", row, ident, fld, "" if value is None else str(value), reason))

    for rownum, rec in enumerate(reader, start=2):
        result.rows += 1
        ident = (rec.get("outage_id") or "").strip()
        bad = False
        if not ident or len(ident) > 64:
            reject(rownum, ident, "outage_id", ident, "an outage id of 1–64 characters is required")
            bad = True
        account = (rec.get("account_no") or "").strip()
        if not account or len(account) > 32:
            reject(rownum, ident, "account_no", account, "an account number of 1–32 characters is required")
            bad = True
        values: dict[str, object] = {}
        for fld, parse in (("kind", parse_kind), ("start", parse_time), ("end", parse_time)):
            try:
                values[fld] = parse(rec.get(fld) or "")
            except ValueError as exc:
                reject(rownum, ident, fld, rec.get(fld), str(exc))
                bad = True
        if not bad and values["end"] < values["start"]:
            reject(rownum, ident, "end", rec.get("end"), "end is before start")
            bad = True
        if not bad:
            parsed.append((rownum, InterruptionRow(ident, account, values["kind"], values["start"], values["end"])))
    if progress:
        progress("checking against the store", 0, len(parsed))
    with engine.begin() as conn:
        known = known_accounts(conn, [r.account_no for _, r in parsed])
        kinds = outage_kinds(conn, [r.outage_id for _, r in parsed])
        seen = existing_interruptions(conn, [(r.outage_id, r.account_no) for _, r in parsed])
        in_file: dict[tuple[str, str], InterruptionRow] = {}
        good: list[InterruptionRow] = []
        for rownum, r in parsed:
            key = (r.outage_id, r.account_no)
            if r.account_no not in known:
                reject(rownum, r.outage_id, "account_no", r.account_no, "no customer with this account number")
                continue
            kind = kinds.setdefault(r.outage_id, r.kind)
            if kind != r.kind:
                reject(rownum, r.outage_id, "kind", r.kind, f"outage {r.outage_id} is recorded as {kind}")
                continue
            if key in seen and seen[key] != (r.kind, r.start.astimezone(dt.timezone.utc),
                                             r.end.astimezone(dt.timezone.utc)):
                _, start, end = seen[key]
                reject(rownum, r.outage_id, "start", r.start.isoformat(),
                       f"customer {r.account_no} is recorded for this outage as {start.isoformat()} – "
                       f"{end.isoformat()}; a record is not changed")
                continue
            earlier = in_file.get(key)
            if earlier is not None:
                if (earlier.start, earlier.end) != (r.start, r.end):
                    reject(rownum, r.outage_id, "account_no", r.account_no,
                           "the same outage and customer appear earlier in the file with other times")
                continue
            in_file[key] = r
            good.append(r)
        stored = insert_interruptions(conn, good, source="csv")
    result.inserted, result.unchanged = stored.inserted, stored.unchanged
    if progress:
        progress("stored", len(good), len(parsed))
    return result


def record_outage(engine: Engine, *, outage_id: str, kind: str, start: dt.datetime, end: dt.datetime,
                  accounts: Sequence[str], source: str = "api") -> tuple[int, int]:
    """Record one outage's interrupted customers (the API's path); all or nothing.

    Returns ``(inserted, unchanged)``. Raises :class:`InvalidInput` naming the field and value:
    an unknown account, the outage recorded as the other kind, a customer recorded with other times.
    """
    if end < start:
        raise InvalidInput("end is before start", field="end", value=end.isoformat())
    rows = [InterruptionRow(outage_id, a, kind, start, end) for a in dict.fromkeys(accounts)]
    with engine.begin() as conn:
        known = known_accounts(conn, accounts)
        unknown = [a for a in accounts if a not in known]
        if unknown:
            raise InvalidInput(f"no customer with account number {unknown[0]!r}"
                               + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
                               field="account_nos", value=unknown[0])
        recorded = outage_kinds(conn, [outage_id]).get(outage_id)
        if recorded is not None and recorded != kind:
            raise InvalidInput(f"outage {outage_id} is recorded as {recorded}", field="kind", value=kind)
        stored = insert_interruptions(conn, rows, source=source)
    return stored.inserted, stored.unchanged
