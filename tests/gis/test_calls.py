"""Incoming calls in the store (issue 18), on both stores: resolution from the store and from the
memory index agree, key customers are flagged, closing records an interaction, the stale rule holds."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from api.state import TopologyHolder
from gis.api_keys import create_key, revoke_key
from gis.calls import KeyRules, agent_exists, close_call, read_call, record_call, resolve_caller
from gis.customer_records import read_interactions
from gis.errors import Conflict, InvalidInput, NotFound
from gis.models import SENSITIVITIES
from tests.conftest import SAMPLE_DIR, SERVICE_AREA

CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str)
RULES = KeyRules(SENSITIVITIES, ("大工业",))
NOW = dt.datetime(2026, 12, 6, 6, 0, tzinfo=dt.timezone.utc)


def _record(conn, record):
    """The interactions ingest, as the API passes it."""
    from interactions.ingest import ingest_interactions

    result = ingest_interactions(conn, [record], service_area=SERVICE_AREA)
    assert not result.rejects, result.rejects


def test_resolution_from_the_store_and_the_memory_index_agree(city_store):
    index = TopologyHolder(city_store).refresh().caller_index
    shared = CUSTOMERS[CUSTOMERS.phone.notna() & CUSTOMERS.phone.duplicated(keep=False)].phone.iloc[0]
    big = CUSTOMERS[(CUSTOMERS.category == "大工业") & CUSTOMERS.phone.notna()].iloc[0]
    with city_store.connect() as conn:
        for number in (shared, big.phone, "13000000001"):
            assert resolve_caller(conn, number, rules=RULES) == resolve_caller(conn, number, rules=RULES, index=index)
        several = resolve_caller(conn, shared, rules=RULES)
        assert several.kind == "candidates" and several.candidates == tuple(
            sorted(CUSTOMERS[CUSTOMERS.phone == shared].account_no))
        one = resolve_caller(conn, big.phone, rules=RULES)
        assert (one.kind, one.account_no) == ("customer", big.account_no) and "大工业" in one.flags
        nobody = resolve_caller(conn, "13000000001", rules=RULES, address=CUSTOMERS.address.iloc[3])
        assert nobody.kind == "unknown" and CUSTOMERS.account_no.iloc[3] in nobody.candidates


def test_agents_are_active_agent_keys_by_name(city_store):
    create_key(city_store, name="agent-x", role="agent")
    create_key(city_store, name="planner-x", role="planner")
    record, _ = create_key(city_store, name="agent-gone", role="agent")
    revoke_key(city_store, record.prefix)
    with city_store.connect() as conn:
        assert [agent_exists(conn, n) for n in ("agent-x", "planner-x", "agent-gone", "nobody")] == [True, False, False, False]


def test_close_records_an_interaction_and_the_stale_rule_refuses_first(city_store):
    c = CUSTOMERS[CUSTOMERS.phone.notna() & ~CUSTOMERS.phone.duplicated(keep=False)].iloc[0]
    with city_store.begin() as conn:
        res = resolve_caller(conn, c.phone, rules=RULES)
        call, created = record_call(conn, call_id="k-1", caller_number=c.phone, agent_id="a", resolution=res,
                                    caller_address=None, now=NOW)
        assert created and call["status"] == "open" and call["account_no"] == c.account_no
        assert record_call(conn, call_id="k-1", caller_number=c.phone, agent_id="a", resolution=res,
                           caller_address=None, now=NOW) == (call, False)
        with pytest.raises(Conflict):
            record_call(conn, call_id="k-1", caller_number="13000000009", agent_id="a", resolution=res,
                        caller_address=None, now=NOW)
    with city_store.begin() as conn:
        with pytest.raises(Conflict) as err:
            close_call(conn, "k-1", actor="a", kind="咨询", text_=None, account_no=None, now=NOW,
                       stale=[{"field": "phone", "days": 900, "max_days": 365}], record_interaction=_record)
        assert err.value.field == "contact" and "phone" in str(err.value)
        with pytest.raises(InvalidInput):
            close_call(conn, "k-1", actor="a", kind="chat", text_=None, account_no=None, now=NOW, record_interaction=_record)
        with pytest.raises(NotFound):
            close_call(conn, "k-1", actor="a", kind="咨询", text_=None, account_no="9999999999", now=NOW, record_interaction=_record)
    with city_store.begin() as conn:
        closed = close_call(conn, "k-1", actor="a", kind="投诉", text_="电压低", account_no=None, now=NOW, stale=[], record_interaction=_record)
    assert closed["status"] == "closed" and closed["interaction_id"] == "call:k-1"
    with city_store.connect() as conn:
        [rec] = [r for r in read_interactions(conn, c.account_no) if r["id"] == "call:k-1"]
        assert (rec["channel"], rec["kind"], rec["text"], rec["occurred_at"]) == ("95598电话", "投诉", "电压低", NOW)
        assert read_call(conn, "k-1")["closed_by"] == "a"
