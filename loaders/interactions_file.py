"""Reading an interactions file (CSV in UTF-8/GBK, or XLSX) into records for the ingest.

The sample's ``interactions.csv`` columns (``id, account_no, channel, kind, occurred_at, text,
caller_phone, lon, lat``) are read as they are; the Chinese headers of call-centre exports
(工单编号, 户号, 渠道, 类型, 受理时间, 受理内容, 来电号码, 经度, 纬度, 微信openid …,
:data:`HEADERS`) too. A file without the required columns, or that cannot be read or decoded,
is unusable (:class:`loaders.mapping.MappingError`, nothing loaded). Blank lines are skipped;
row numbers are the spreadsheet's (the header is row 1).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from loaders.mapping import MappingError
from loaders.sources import SHEET_SUFFIXES, TEXT_SUFFIXES, decode_text

__all__ = ["HEADERS", "REQUIRED", "InteractionsFile", "read_interactions_file"]

#: field → header names tried in order.
HEADERS: Mapping[str, tuple[str, ...]] = {
    "id": ("id", "工单编号", "交互编号", "编号"),
    "account_no": ("account_no", "户号", "用户编号", "客户编号"),
    "channel": ("channel", "渠道", "受理渠道"),
    "kind": ("kind", "类型", "诉求类型", "业务类型"),
    "occurred_at": ("occurred_at", "受理时间", "发生时间", "时间"),
    "text": ("text", "受理内容", "内容"),
    "caller_phone": ("caller_phone", "来电号码", "联系电话", "电话"),
    "wechat_openid": ("wechat_openid", "微信openid", "微信OpenID", "openid"),
    "lon": ("lon", "经度", "longitude"),
    "lat": ("lat", "纬度", "latitude"),
}
REQUIRED = ("id", "channel", "kind", "occurred_at")


@dataclass
class InteractionsFile:
    """Records keyed by field, each with its spreadsheet row, and how the file was read."""

    records: list[dict[str, Any]]
    rows: list[int]
    columns: dict[str, str]  # field → the file's header
    encoding: str | None


def read_interactions_file(path: Path, *, display_name: str | None = None) -> InteractionsFile:
    """Read ``path`` (.csv/.txt/.tsv or .xlsx); raises :class:`MappingError` when it is unusable."""
    path = Path(path)
    name = display_name or path.name
    suffix = path.suffix.lower()
    encoding = None
    if suffix in TEXT_SUFFIXES:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise MappingError(f"cannot read {name}: {exc}", field="file", value=name) from exc
        text, encoding = decode_text(raw, None, name, "file")
        try:
            df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""],
                             sep="\t" if suffix == ".tsv" else ",", skip_blank_lines=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise MappingError(f"{name} is not a readable CSV: {exc}", field="file", value=name) from exc
    elif suffix in SHEET_SUFFIXES:
        try:
            df = pd.read_excel(path, sheet_name=0, dtype=object, engine="openpyxl")
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on a corrupt workbook
            raise MappingError(f"{name} is not a readable XLSX workbook: {type(exc).__name__}: {exc}",
                               field="file", value=name) from exc
    else:
        raise MappingError(f"{name}: an interactions file must be .csv, .txt, .tsv or .xlsx", field="file", value=name)
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    present = set(df.columns)
    columns = {}
    for fld, names in HEADERS.items():
        hit = next((n for n in names if n in present), None)
        if hit is not None:
            columns[fld] = hit
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        raise MappingError(f"{name} has no column for {', '.join(missing)} (headers tried: "
                           + "; ".join(f"{f}: {'/'.join(HEADERS[f])}" for f in missing) + ")",
                           field=missing[0], value=name)
    df["_row"] = range(2, len(df) + 2)
    sub = df[[*columns.values(), "_row"]]
    blank = sub[list(columns.values())].isna().all(axis=1)
    sub = sub[~blank.to_numpy()]
    renamed = sub.rename(columns={v: k for k, v in columns.items()})
    rows = renamed.pop("_row").astype(int).tolist()
    records = renamed.astype(object).where(renamed.notna(), None).to_dict("records")
    return InteractionsFile(records, rows, columns, encoding)
