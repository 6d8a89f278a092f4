"""The reliability workbook: numbers stay numbers, text stays text (never a formula)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import numpy as np
import openpyxl
import pandas as pd

from api.reliability_report import report_xlsx
from outage_impact.reliability import reliability_indices

CST = dt.timezone(dt.timedelta(hours=8))


def test_text_from_data_is_never_a_formula():
    start = dt.datetime(2026, 1, 5, 9, tzinfo=CST).timestamp()
    frame = pd.DataFrame({"account_no": ["A"], "kind": ["unplanned"], "start_s": [start], "end_s": [start + 3600]})
    report = reliability_indices(frame, period_start=dt.datetime(2026, 1, 1, tzinfo=CST),
                                 period_end=dt.datetime(2026, 2, 1, tzinfo=CST),
                                 served_accounts=np.array(["A", "B"], dtype=object),
                                 served_groups=np.array(["=HYPERLINK(\"http://x\")", "+F2"], dtype=object))
    report.update(by="feeder", data_version=3)
    data = report_xlsx(report)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheets = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in sheets
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb["by feeder"]
    names = [row[0].value for row in ws.iter_rows(min_row=2)]
    assert names == ['+F2', '=HYPERLINK("http://x")'] and all(row[0].data_type == "s" for row in ws.iter_rows(min_row=2))
    values = {row[0]: row[1] for row in wb["indices"].iter_rows(min_row=5, values_only=True)}
    assert values["saifi"] == 0.5 and values["customer_minutes"] == 60
