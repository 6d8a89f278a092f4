"""Row checks shared by the loaders (gis.validation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gis.validation import check_required


@pytest.mark.parametrize(
    "values",
    [
        ["a", "", " ", "\u3000", "\t\n", " b ", None],  # text, as a CSV gives it (an ideographic space is blank)
        ["a", "", " ", "\u3000", "\t\n", " b ", 5.0],  # numbers mixed in, as a spreadsheet gives them
    ],
    ids=["strings", "mixed"],
)
def test_blank_and_missing_values_are_reported_by_row(values):
    df = pd.DataFrame({"id": [f"C{i}" for i in range(len(values))], "name": pd.Series(values, dtype=object)})
    df["_row"] = np.arange(2, len(df) + 2)
    problems = check_required("customers", df, "id", ["name"])
    assert [(p.row, p.id, p.reason) for p in problems] == [
        (row, f"C{row - 2}", "required value is missing") for row in ([3, 4, 5, 6, 8] if values[-1] is None else [3, 4, 5, 6])
    ]


def test_a_swap_is_named_only_when_the_given_order_is_outside_and_the_swapped_one_inside():
    from gis.validation import check_lonlat

    df = pd.DataFrame({"id": ["offenburg", "foshan"], "_row": [2, 3]})
    world = (-180.0, -90.0, 180.0, 90.0)
    # both orders are inside the whole world: the given one is valid, nothing to say
    assert check_lonlat("nodes", df, "id", np.array([7.77, 113.1]), np.array([48.41, 23.0]), world) == []
    foshan = (112.5, 22.5, 113.6, 23.6)
    problems = check_lonlat("nodes", df, "id", np.array([48.41, 23.0]), np.array([7.77, 113.1]), foshan)
    assert [(p.id, p.reason) for p in problems] == [
        ("foshan", "lon/lat look swapped (lat,lon given)"),
        ("offenburg", "outside the service area 112.5,22.5,113.6,23.6"),
    ]
