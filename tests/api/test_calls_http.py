"""Incoming calls over real HTTP on both stores (issue 18): resolve, flag, store, show, close.

The event that reaches the agent's map is read with an SSE client from ``GET /api/v1/events``.
"""

from __future__ import annotations

import datetime as dt
import queue
import time

import httpx
import pandas as pd
import pytest

from api.masking import mask_phone
from gis.api_keys import create_key
from gis.db import make_engine
from tests.conftest import SAMPLE_DIR

CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str)
SHARED = CUSTOMERS[CUSTOMERS.phone.notna() & CUSTOMERS.phone.duplicated(keep=False)].sort_values("account_no")
KEY = CUSTOMERS[CUSTOMERS.sensitivity == "医院"].iloc[0]
PLAIN = CUSTOMERS[CUSTOMERS.sensitivity.isna() & (CUSTOMERS.category == "居民") & CUSTOMERS.phone.notna()
                  & ~CUSTOMERS.phone.duplicated(keep=False)].iloc[5]


@pytest.fixture(scope="module")
def agents(api_url) -> dict[str, str]:
    """Two agents' keys, named by their agent ids (as the agents' maps sign in)."""
    engine = make_engine(api_url.database_url)
    try:
        return {name: create_key(engine, name=name, role="agent")[1] for name in ("agent-07", "agent-08")}
    finally:
        engine.dispose()


def _as(api_url, token: str) -> httpx.Client:
    return httpx.Client(base_url=api_url, timeout=30, headers={"Authorization": f"Bearer {token}"})


def _announce(tel: httpx.Client, call_id: str, number: str, agent: str = "agent-07", **extra) -> httpx.Response:
    return tel.post("/api/v1/calls/incoming", json={"caller_number": number, "agent_id": agent, "call_id": call_id, **extra})


def test_a_known_caller_opens_for_their_agent_only_and_closing_records_an_interaction(api_url, client_as, agents):
    tel = client_as("telephony")
    r = _announce(tel, "c-1", "+86 " + KEY.phone)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["resolution"], body["account_no"], body["key_customer"], body["flags"]) == ("customer", KEY.account_no, True, ["医院"])
    again = _announce(tel, "c-1", KEY.phone)  # the switch retries: the stored call, not a second one
    assert again.status_code == 200 and again.json()["created"] is False
    with _as(api_url, agents["agent-07"]) as mine, _as(api_url, agents["agent-08"]) as other:
        call = mine.get("/api/v1/calls/c-1").json()
        assert call["customer"]["account_no"] == KEY.account_no and call["customer"]["phone"] == KEY.phone
        assert call["caller_number"] == KEY.phone and call["status"] == "open" and call["key_customer"] is True
        r = other.get("/api/v1/calls/c-1")
        assert r.status_code == 403 and r.json()["field"] == "call_id"
        assert other.post("/api/v1/calls/c-1/close", json={"kind": "报修"}).status_code == 403
        closed = mine.post("/api/v1/calls/c-1/close", json={"kind": "报修", "text": "家中停电"})
        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "closed" and closed.json()["interaction_id"] == "call:c-1"
        r = mine.post("/api/v1/calls/c-1/close", json={"kind": "报修"})
        assert r.status_code == 409 and r.json()["field"] == "call_id"
        view = mine.get(f"/api/v1/customers/{KEY.account_no}").json()
        assert "call:c-1" in [i["id"] for i in view["interactions"]["recent"]]
    # a role without personal data sees the number masked; telephony may only announce
    assert client_as("planner").get("/api/v1/calls/c-1").status_code == 403
    assert tel.get("/api/v1/calls/c-1").status_code == 403
    assert client_as("dispatcher").get("/api/v1/calls/c-1").json()["caller_number"] == KEY.phone
    assert mask_phone(KEY.phone) != KEY.phone


def test_a_shared_number_gives_candidates_and_an_unknown_one_address_suggestions(client_as, agents):
    tel = client_as("telephony")
    number = SHARED.phone.iloc[0]
    r = _announce(tel, "c-2", number)
    assert r.status_code == 201, r.text
    assert r.json()["resolution"] == "candidates" and r.json()["candidate_count"] == 2
    disp = client_as("dispatcher")
    r = _announce(tel, "c-3", "13000000001", agent="test-dispatcher", caller_address=PLAIN.address)
    assert r.status_code == 201, r.text
    assert r.json()["resolution"] == "unknown" and r.json()["key_customer"] is False
    call = disp.get("/api/v1/calls/c-3").json()
    assert call["customer"] is None and PLAIN.account_no in [c["account_no"] for c in call["candidates"]]
    # the agent identifies the caller among the suggestions when closing
    closed = disp.post("/api/v1/calls/c-3/close", json={"kind": "咨询", "account_no": PLAIN.account_no}).json()
    assert closed["customer"]["account_no"] == PLAIN.account_no


def test_bad_announcements_are_named(client_as, agents):
    tel = client_as("telephony")
    cases = [
        ({"caller_number": "12ab", "agent_id": "agent-07", "call_id": "c-9"}, 422, "caller_number"),
        ({"caller_number": PLAIN.phone, "agent_id": "nobody", "call_id": "c-9"}, 422, "agent_id"),
        ({"caller_number": PLAIN.phone, "agent_id": "agent-07", "call_id": "c 9"}, 422, "call_id"),
        ({"caller_number": PLAIN.phone, "agent_id": "agent-07", "call_id": "c-9", "x": 1}, 422, "x"),
    ]
    for body, status, field in cases:
        r = tel.post("/api/v1/calls/incoming", json=body)
        assert r.status_code == status, r.text
        assert r.headers["content-type"] == "application/problem+json" and r.json()["field"] == field
    r = _announce(tel, "c-1x", PLAIN.phone)
    assert r.status_code == 201
    r = _announce(tel, "c-1x", PLAIN.phone, agent="agent-08")
    assert r.status_code == 409 and r.json()["field"] == "call_id"
    assert client_as("dispatcher").get("/api/v1/calls/nope").status_code == 404


def test_a_posted_call_reaches_its_agents_stream_within_a_second_and_no_other(api_url, client_as, agents):
    """Over real HTTP with an SSE client: the agent's map (signed in with the key named after the
    agent id) gets the call; another agent's map does not."""
    from tests.api.test_events_http import Stream

    mine, theirs = Stream(api_url, agents["agent-07"], "calls"), Stream(api_url, agents["agent-08"], "calls")
    try:
        assert mine.next(timeout=10)[0] == "ready" and theirs.next(timeout=10)[0] == "ready"
        r = _announce(client_as("telephony"), "c-sse", KEY.phone)
        assert r.status_code == 201, r.text
        # (a call announced just before this stream opened may still arrive first: skip to this one)
        while (got := mine.next(timeout=5))[1]["payload"].get("call_id") != "c-sse":
            pass
        event, data, ident = got
        # from the publish (in the announcement's transaction) to the agent's stream: the bus's delivery,
        # not the announcement's own time on a loaded machine
        elapsed = time.time() - dt.datetime.fromisoformat(data["created_at"]).timestamp()
        assert (event, ident) == ("calls", r.json()["event_id"])
        assert data["payload"] == {"call_id": "c-sse", "resolution": "customer", "account_no": KEY.account_no,
                                   "candidate_count": 0, "key_customer": True, "flags": ["医院"]}
        assert elapsed < 1.0, f"{elapsed:.2f} s"
        with pytest.raises(queue.Empty):
            while True:  # nothing for the other agent's map (whatever else it may get, never this call)
                assert theirs.next(timeout=1.0)[1]["payload"].get("call_id") != "c-sse"
        # a retried announcement publishes nothing new
        assert _announce(client_as("telephony"), "c-sse", KEY.phone).json()["event_id"] is None
        with pytest.raises(queue.Empty):
            mine.next(timeout=0.5)
    finally:
        mine.close()
        theirs.close()
