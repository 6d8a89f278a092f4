"""Spreadsheet cells that stay data: neutralizing formula injection in every CSV/XLSX the product writes.

A customer named ``=HYPERLINK("http://…"&A2,"x")`` or ``=cmd|'/C calc'!A0`` must reach a spreadsheet as
text, never as a formula Excel or LibreOffice evaluates. Following the OWASP *CSV Injection* guidance:

* **CSV** — a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written
  with a leading ``'`` (the apostrophe a spreadsheet shows as "this is text"); the csv module quotes
  embedded double quotes and separators. Numbers (``int``/``float``) are left as numbers: ``-0.5`` is data.
* **XLSX** — every text cell is written explicitly as a string cell, so its value is stored unchanged
  (no apostrophe) and never as a formula. Characters XML 1.0 cannot hold (C0 controls other than tab, LF,
  CR) would make openpyxl refuse the whole sheet; they are written as U+FFFD.

Only what is written changes; the stored values are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["FORMULA_PREFIXES", "csv_cell", "csv_row", "xlsx_row"]

#: First characters that make a spreadsheet read a cell as a formula (OWASP; tab and CR precede one).
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def csv_cell(value: Any) -> Any:
    """``value`` safe for a CSV cell: a text starting with a formula character gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    """:func:`csv_cell` over a row (``None`` becomes an empty cell)."""
    return ["" if v is None else csv_cell(v) for v in values]


def xlsx_row(sheet: Any, values: Iterable[Any]) -> list[Any]:
    """Cells for ``sheet.append`` (an openpyxl write-only worksheet): text as explicit string cells."""
    from openpyxl.cell import WriteOnlyCell  # lazily: only XLSX writers need openpyxl

    row: list[Any] = []
    for v in values:
        if isinstance(v, str):
            cell = WriteOnlyCell(sheet, value=_XML_ILLEGAL.sub("\ufffd", v))
            cell.data_type = "s"  # openpyxl would store a text starting with "=" as a formula
            row.append(cell)
        else:
            row.append(v)
    return row
