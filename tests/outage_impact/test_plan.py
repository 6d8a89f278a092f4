"""Plan documents: both forms, metadata, and errors that name the field."""

from __future__ import annotations

import datetime as dt

import pytest

from outage_impact import InvalidPlan, Step, SwitchingPlan, load_plans
from outage_impact.plan import resolve_steps
from topology import UnknownElement


def test_steps_form():
    plan = SwitchingPlan.from_dict({
        "title": "T", "id": 42,
        "steps": [{"action": "open", "element": "SW1"}, {"action": "out_of_service", "element": "L2",
                                                          "kind": "segment"}],
        "window_start": "2024-05-07T09:00:00+08:00", "window_end": "2024-05-07T15:30:00+08:00",
    })
    assert plan.steps == (Step("open", "SW1"), Step("out_of_service", "L2", "segment"))
    assert plan.form == "steps" and plan.plan_id == 42
    assert plan.window_minutes == 390
    assert SwitchingPlan.from_dict(plan.to_dict()) == plan


def test_lists_form_expands_make_before_break():
    plan = SwitchingPlan.from_dict({"open": ["SW1", "SW2"], "close": ["TIE1"], "out_of_service": ["L2"],
                                    "in_service": ["T7"]})
    assert [(s.action, s.element) for s in plan.steps] == [
        ("close", "TIE1"), ("in_service", "T7"), ("open", "SW1"), ("open", "SW2"), ("out_of_service", "L2")]
    assert plan.form == "lists"
    assert SwitchingPlan.from_dict(plan.to_dict()) == plan
    assert SwitchingPlan.from_lists(open=["SW1", "SW2"], close=["TIE1"], out_of_service=["L2"],
                                    in_service=["T7"]) == plan


@pytest.mark.parametrize(("doc", "field"), [
    ({"steps": [{"action": "open", "element": "A"}], "colour": "red"}, "colour"),
    ({"steps": [{"action": "toggle", "element": "A"}]}, "steps[0].action"),
    ({"steps": [{"action": "open"}]}, "steps[0].element"),
    ({"steps": [{"action": "open", "element": "A", "why": 1}]}, "steps[0].why"),
    ({"steps": [{"action": "open", "element": ""}]}, "steps[0].element"),
    ({"steps": [{"action": "open", "element": "A", "kind": "segment"}]}, "steps[0].kind"),
    ({"steps": []}, "steps"),
    ({"steps": "open A"}, "steps"),
    ({}, "steps"),
    ({"steps": [{"action": "open", "element": "A"}], "open": ["B"]}, "steps"),
    ({"open": ["A"], "close": ["A"]}, "open[0]"),
    ({"open": ["A", "A"]}, "open[1]"),
    ({"open": "A"}, "open"),
    ({"open": ["A"], "window_start": "2024-05-07T09:00"}, "window_end"),
    ({"open": ["A"], "window_start": "2024-05-07T09:00", "window_end": "2024-05-07T08:00"}, "window_end"),
    ({"open": ["A"], "window_start": "yesterday", "window_end": "2024-05-07T08:00"}, "window_start"),
    ({"open": ["A"], "window_start": "2024-05-07T09:00+08:00", "window_end": "2024-05-07T10:00"}, "window_end"),
    ({"open": ["A"], "title": 5}, "title"),
])
def test_invalid_documents_name_the_field(doc, field):
    with pytest.raises(InvalidPlan) as exc:
        SwitchingPlan.from_dict(doc)
    assert exc.value.field == field
    assert exc.value.status == 422


def test_load_plans_accepts_one_or_many():
    one = {"open": ["SW1"]}
    assert len(load_plans(one)) == 1
    assert len(load_plans([one, {"steps": [{"action": "close", "element": "TIE1"}]}])) == 2
    with pytest.raises(InvalidPlan) as exc:
        load_plans([one, {"open": ["X"], "bad": 1}])
    assert exc.value.field == "plans[1].bad"
    with pytest.raises(InvalidPlan):
        load_plans([])
    with pytest.raises(InvalidPlan):
        load_plans("open SW1")


def test_resolve_steps_rules():
    known = {("switch", "SW1"), ("segment", "L1"), ("transformer", "L1"), ("segment", "L2")}
    exists = lambda kind, eid: (kind, eid) in known  # noqa: E731
    plan = SwitchingPlan.from_dict({"steps": [{"action": "open", "element": "SW1"},
                                              {"action": "out_of_service", "element": "L2"},
                                              {"action": "out_of_service", "element": "L1", "kind": "transformer"}]})
    assert [(r.kind, r.element) for r in resolve_steps(plan, exists)] == [
        ("switch", "SW1"), ("segment", "L2"), ("transformer", "L1")]
    with pytest.raises(InvalidPlan, match="give its kind"):
        resolve_steps(SwitchingPlan.from_dict({"out_of_service": ["L1"]}), exists)
    with pytest.raises(InvalidPlan, match="it is a segment"):
        resolve_steps(SwitchingPlan.from_dict({"open": ["L2"]}), exists)
    with pytest.raises(UnknownElement) as exc:
        resolve_steps(SwitchingPlan.from_dict({"open": ["NOPE"]}), exists)
    assert exc.value.field == "steps[0].element" and exc.value.status == 404


def test_datetime_objects_are_accepted():
    start = dt.datetime(2024, 5, 7, 9)
    plan = SwitchingPlan.from_dict({"open": ["A"], "window_start": start, "window_end": start + dt.timedelta(hours=2)})
    assert plan.window_minutes == 120
