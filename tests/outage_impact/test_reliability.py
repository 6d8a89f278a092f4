"""IEEE 1366 indices on a hand-computed example (CEMI-n, CELID and a momentary event included)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from gis.errors import InvalidInput
from outage_impact.reliability import ReliabilityOptions, history_minutes, reliability_indices

CST = dt.timezone(dt.timedelta(hours=8))
FROM = dt.datetime(2026, 1, 1, tzinfo=CST)
TO = dt.datetime(2026, 2, 1, tzinfo=CST)           # 31 days = 44,640 minutes
SERVED = np.array(list("ABCDEFGHIJ"), dtype=object)  # N_T = 10
FEEDERS = np.array(["F1"] * 5 + ["F2"] * 5, dtype=object)


def _row(outage, account, kind, start, minutes):
    s = start.timestamp()
    return {"outage_id": outage, "account_no": account, "kind": kind, "start_s": s, "end_s": s + minutes * 60}


def example() -> pd.DataFrame:
    t = dt.datetime(2026, 1, 5, 9, tzinfo=CST)
    rows = [_row("O1", a, "unplanned", t, 60) for a in "ABC"]
    rows += [_row("O2", a, "unplanned", t + dt.timedelta(days=3), 120) for a in "AD"]
    rows += [_row("O3", a, "planned", t + dt.timedelta(days=6), 30) for a in "AE"]
    rows += [_row("O4", a, "unplanned", t + dt.timedelta(days=8), 2) for a in "BF"]     # momentary
    rows += [_row("O5", "A", "unplanned", t + dt.timedelta(days=9), 10)]                 # sustained (> 5 min)
    rows += [_row("O0", "G", "unplanned", dt.datetime(2025, 12, 31, 23, tzinfo=CST), 600)]  # before the period
    return pd.DataFrame(rows)


def test_hand_computed_example():
    r = reliability_indices(example(), period_start=FROM, period_end=TO, served_accounts=SERVED)
    # sustained: A 4 (60+120+30+10 = 220 min), B 60, C 60, D 120, E 30 -> 8 interruptions, 490 min, 5 customers
    assert r["customers_served"] == 10 and r["customer_interruptions"] == 8 and r["customers_interrupted"] == 5
    assert r["saifi"] == pytest.approx(0.8)
    assert r["saidi"] == pytest.approx(49.0)
    assert r["customer_minutes"] == pytest.approx(490.0)
    assert r["caidi"] == pytest.approx(61.25)
    assert r["caifi"] == pytest.approx(1.6)
    assert r["asai"] == pytest.approx(1 - 490 / (10 * 44640))
    assert r["maifi"] == pytest.approx(0.2) and r["momentary_interruptions"] == 2
    assert r["cemi"] == pytest.approx({"1": 0.1, "2": 0.1, "3": 0.1, "4": 0.0, "5": 0.0})
    assert r["celid_s"] == pytest.approx({"1h": 0.4, "3h": 0.0, "8h": 0.0})   # A, B, C, D had ≥ 60 min at once
    assert r["celid_t"] == pytest.approx({"1h": 0.4, "3h": 0.1, "8h": 0.0})   # A's 220 min in total
    p, u = r["planned"], r["unplanned"]
    assert (p["customer_interruptions"], p["customer_minutes"], p["saifi"], p["saidi"]) == (2, 60.0, 0.2, 6.0)
    assert (u["customer_interruptions"], u["customer_minutes"]) == (6, 430.0)
    assert u["saifi"] == pytest.approx(0.6) and u["saidi"] == pytest.approx(43.0) and u["caifi"] == pytest.approx(1.5)
    assert p["maifi"] == 0.0 and u["maifi"] == pytest.approx(0.2)
    assert r["major_event_days"]["applied"] is False


def test_per_feeder():
    r = reliability_indices(example(), period_start=FROM, period_end=TO, served_accounts=SERVED,
                            served_groups=FEEDERS)
    f1, f2 = r["groups"]
    assert (f1["feeder_id"], f1["customers_served"], f1["customer_interruptions"]) == ("F1", 5, 8)
    assert f1["saifi"] == pytest.approx(1.6) and f1["saidi"] == pytest.approx(98.0) and f1["cemi"]["1"] == 0.2
    assert (f2["feeder_id"], f2["customers_served"], f2["saifi"], f2["caidi"]) == ("F2", 5, 0.0, None)
    assert f2["maifi"] == pytest.approx(0.2)   # F's momentary interruption


def test_major_event_days_by_2_5_beta():
    rng = np.random.default_rng(3)
    history = []
    for day in range(60):   # 60 days before the period, each with a few unplanned interruptions
        t = FROM - dt.timedelta(days=60 - day) + dt.timedelta(hours=10)
        minutes = float(rng.integers(20, 90))
        history += [_row(f"H{day}", a, "unplanned", t, minutes) for a in "ABC"[: 1 + day % 3]]
    big = dt.datetime(2026, 1, 20, 8, tzinfo=CST)
    frame = pd.concat([example(), pd.DataFrame(history),
                       pd.DataFrame([_row("TY", a, "unplanned", big, 1440) for a in SERVED])], ignore_index=True)
    r = reliability_indices(frame, period_start=FROM, period_end=TO, served_accounts=SERVED,
                            history=history_minutes(frame),
                            options=ReliabilityOptions(med_min_days=30))
    med = r["major_event_days"]
    h = pd.concat([pd.DataFrame(history), example().query("outage_id == 'O0'")])  # O0: 2025-12-31, before too
    day = pd.to_datetime(h["start_s"], unit="s", utc=True).dt.tz_convert("Asia/Shanghai").dt.date
    daily = ((h["end_s"] - h["start_s"]) / 60).groupby(day).sum() / 10
    logs = np.log(daily.to_numpy())
    t_med = np.exp(logs.mean() + 2.5 * logs.std(ddof=1))
    assert med["applied"] is True and med["t_med"] == pytest.approx(t_med)
    assert [d["date"] for d in med["days"]] == ["2026-01-20"] and med["days"][0]["saidi"] == pytest.approx(1440.0)
    assert med["unplanned_excluding_med"]["customer_minutes"] == pytest.approx(430.0)


def test_bad_period_is_refused():
    with pytest.raises(InvalidInput) as err:
        reliability_indices(example(), period_start=TO, period_end=FROM, served_accounts=SERVED)
    assert err.value.field == "to"


def test_precomputed_days_give_the_same_major_event_days():
    from outage_impact.reliability import interruption_arrays, local_days

    rng = np.random.default_rng(5)
    rows = []
    for day in range(60):
        t = FROM - dt.timedelta(days=60 - day) + dt.timedelta(hours=int(rng.integers(0, 24)))
        rows += [_row(f"H{day}", a, "unplanned", t, float(rng.integers(10, 99))) for a in "ABC"[: 1 + day % 3]]
    rows += [_row("TY", a, "unplanned", dt.datetime(2026, 1, 20, 23, 50, tzinfo=CST), 1440) for a in SERVED]
    frame = pd.concat([example(), pd.DataFrame(rows)], ignore_index=True)
    plain = reliability_indices(frame, period_start=FROM, period_end=TO, served_accounts=SERVED,
                                history=history_minutes(frame))
    rec = interruption_arrays(frame, SERVED)
    days = local_days(rec.start_s, "Asia/Shanghai")
    rec = type(rec)(rec.customer, rec.planned, rec.start_s, rec.end_s, days)
    hist = history_minutes(frame)
    hist["day"] = local_days(hist["start_s"].to_numpy(), "Asia/Shanghai")
    coded = reliability_indices(rec, period_start=FROM, period_end=TO, served_accounts=SERVED, history=hist)
    assert coded["major_event_days"] == plain["major_event_days"]
    assert plain["major_event_days"]["days"][0]["date"] == "2026-01-20"   # 23:50 local is still the 20th
    assert coded["saidi"] == plain["saidi"]
