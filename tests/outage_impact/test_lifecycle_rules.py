"""The lifecycle's offer of next statuses: the same rules as the moves themselves (no store needed)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from outage_impact.lifecycle import STATUSES, TRANSITIONS, Actor, PlanLifecycle


@dataclass
class _Plan:
    status: str
    created_by: str = "alice (aaaa1111)"
    id: int = 7


ALICE = Actor("alice (aaaa1111)", "planner")
BOB = Actor("bob (bbbb2222)", "planner")
BOSS = Actor("boss (cccc3333)", "admin")
SELF_ADMIN = Actor("alice (aaaa1111)", "admin")


@pytest.mark.parametrize(("who", "status", "expected"), [
    (ALICE, "draft", ("consulting", "cancelled")),
    (ALICE, "consulting", ("cancelled",)),                # four eyes: the author never approves
    (ALICE, "approved", ("executed", "cancelled")),
    (BOB, "draft", ()),                                   # not his plan
    (BOB, "consulting", ()),
    (BOSS, "consulting", ("approved", "cancelled")),
    (SELF_ADMIN, "consulting", ("cancelled",)),           # an admin who wrote it may not approve it either
    (BOSS, "executed", ()),
    (BOSS, "cancelled", ()),
])
def test_next_statuses(who, status, expected):
    assert PlanLifecycle.next_statuses(who, _Plan(status)) == expected


def test_a_role_without_the_status_route_gets_nothing():
    assert PlanLifecycle.next_statuses(BOSS, _Plan("draft"), may_move=False) == ()


def test_every_offer_is_a_transition():
    for status in STATUSES:
        for who in (ALICE, BOB, BOSS, SELF_ADMIN):
            assert set(PlanLifecycle.next_statuses(who, _Plan(status))) <= set(TRANSITIONS[status])
