"""Switching plans in the store (both backends): CRUD, optimistic locking, the status workflow."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from gis.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from gis.plans_store import change_status, create_plan, delete_plan, get_plan, list_plans, update_plan

CST = dt.timezone(dt.timedelta(hours=8))
T9 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=CST)
T15 = dt.datetime(2026, 12, 1, 15, 0, tzinfo=CST)
STEPS = [("close", "SW000010"), ("open", "SW000003")]


def _new(engine, title="季华路检修", steps=STEPS, start=T9, end=T15, by="alice (aaaa0001)"):
    return create_plan(engine, title=title, steps=steps, window_start=start, window_end=end, created_by=by)


def test_create_and_read_back_exactly(empty_store):
    plan = _new(empty_store)
    assert plan.version == 1 and plan.status == "draft" and plan.created_by == "alice (aaaa0001)"
    with empty_store.connect() as conn:
        again = get_plan(conn, plan.id)
    assert again == plan
    assert again.steps == tuple(STEPS)
    assert again.window_start == T9 and again.window_start.utcoffset() == dt.timedelta(0)  # stored in UTC
    assert again.window_end - again.window_start == dt.timedelta(hours=6)


def test_bad_input_is_refused_and_nothing_stored(empty_store):
    with pytest.raises(InvalidInput) as exc:
        _new(empty_store, steps=[("open", "SW1"), ("toggle", "SW2")])
    assert exc.value.field == "steps[1].action" and exc.value.value == "toggle"
    with pytest.raises(InvalidInput) as exc:
        _new(empty_store, start=T15, end=T9)
    assert exc.value.field == "window_end"
    with pytest.raises(InvalidInput) as exc:
        _new(empty_store, start=T9.replace(tzinfo=None), end=T15)
    assert exc.value.field == "window_start"
    with empty_store.connect() as conn:
        assert list_plans(conn).total == 0


def test_update_replaces_steps_and_bumps_the_version(empty_store):
    plan = _new(empty_store)
    new = update_plan(empty_store, plan.id, expected_version=1, title="改期", steps=[("open", "SW000007")],
                      window_start=None, window_end=None)
    assert (new.version, new.title, new.steps, new.window_start) == (2, "改期", (("open", "SW000007"),), None)
    with pytest.raises(PreconditionFailed) as exc:
        update_plan(empty_store, plan.id, expected_version=1, title="stale", steps=STEPS)
    assert exc.value.status == 412 and "version 2" in exc.value.message
    with empty_store.connect() as conn:
        assert get_plan(conn, plan.id) == new  # the refused update changed nothing
    with pytest.raises(NotFound):
        update_plan(empty_store, 999, expected_version=1, title="x", steps=STEPS)


def test_status_workflow_and_invalid_transitions(empty_store):
    plan = _new(empty_store)
    with pytest.raises(Conflict) as exc:
        change_status(empty_store, plan.id, "executed")
    assert "'draft' to 'executed'" in exc.value.message and exc.value.status == 409
    assert change_status(empty_store, plan.id, "consulting").version == 2
    # consulting plans may still be edited (a customer's reply may move the window)
    update_plan(empty_store, plan.id, expected_version=2, title="征询后改期", steps=STEPS)
    with pytest.raises(PreconditionFailed):
        change_status(empty_store, plan.id, "approved", expected_version=2)
    approved = change_status(empty_store, plan.id, "approved", expected_version=3)
    assert approved.status == "approved" and approved.version == 4
    with pytest.raises(Conflict) as exc:
        update_plan(empty_store, plan.id, expected_version=4, title="too late", steps=STEPS)
    assert "'approved'" in exc.value.message
    with pytest.raises(Conflict):
        delete_plan(empty_store, plan.id)
    assert change_status(empty_store, plan.id, "executed").status == "executed"
    with pytest.raises(Conflict) as exc:
        change_status(empty_store, plan.id, "cancelled")
    assert "'executed' to 'cancelled'" in exc.value.message


def test_only_drafts_are_deleted(empty_store):
    plan = _new(empty_store)
    delete_plan(empty_store, plan.id)
    with empty_store.connect() as conn, pytest.raises(NotFound):
        get_plan(conn, plan.id)


def test_list_filters_and_pages(empty_store):
    day = dt.timedelta(days=1)
    ids = [_new(empty_store, title=f"p{i}", start=T9 + i * day, end=T15 + i * day,
                by="alice (aaaa0001)" if i % 2 == 0 else "bob (bbbb0002)").id for i in range(5)]
    _new(empty_store, title="no window", start=None, end=None)
    change_status(empty_store, ids[1], "consulting")
    with empty_store.connect() as conn:
        assert list_plans(conn).total == 6
        assert [p.id for p in list_plans(conn, status="consulting").items] == [ids[1]]
        assert [p.id for p in list_plans(conn, created_by="bob (bbbb0002)").items] == [ids[1], ids[3]]
        # overlap with [day 2 12:00, day 3 10:00) (CST): plans of day 2 and day 3
        lo, hi = T9 + 2 * day + dt.timedelta(hours=3), T9 + 3 * day + dt.timedelta(hours=1)
        assert [p.id for p in list_plans(conn, window_from=lo, window_to=hi).items] == [ids[2], ids[3]]
        page = list_plans(conn, limit=4, offset=0)
        assert len(page.items) == 4 and page.next_offset == 4
        rest = list_plans(conn, limit=4, offset=4)
        assert rest.next_offset is None and [p.id for p in page.items + rest.items] == sorted(ids + [rest.items[-1].id])
        with pytest.raises(InvalidInput):
            list_plans(conn, status="pending")


def test_concurrent_updates_from_one_version_exactly_one_wins(empty_store):
    plan = _new(empty_store)
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def writer(n: int) -> None:
        barrier.wait()
        try:
            update_plan(empty_store, plan.id, expected_version=1, title=f"writer {n}", steps=[("open", f"SW{n}")])
            outcomes.append(f"won {n}")
        except PreconditionFailed:
            outcomes.append("412")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1 and outcomes.count("412") == 5
    n = int(winners[0].split()[1])
    with empty_store.connect() as conn:
        final = get_plan(conn, plan.id)
    assert (final.version, final.title, final.steps) == (2, f"writer {n}", (("open", f"SW{n}"),))
