"""Lexicon changes and alert screening on both stores: folding, escalation, states, hot swap."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from gis import alerts_store
from gis.audit import query_events
from gis.errors import Conflict, InvalidInput, NotFound
from gis.models import Customer
from gis.wechat_store import record_interaction
from interactions import lexicon
from interactions.alerts import AlertRules, AlertScreener, change_state
from interactions.lexicon import LexiconCache

T0 = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _customers(engine, n: int = 3) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(Customer.account_no, Customer.transformer_id)
                            .where(Customer.transformer_id.is_not(None)).order_by(Customer.account_no)).all()
    by_area: dict[str, list[str]] = {}
    for account, transformer in rows:
        by_area.setdefault(transformer, []).append(account)
    area = next(t for t, accounts in sorted(by_area.items()) if len(accounts) >= n)
    return [{"account_no": a, "transformer_id": area} for a in by_area[area][:n]]


def _msg(ident: str, account: str | None, text: str, minutes: float = 0, phone: str | None = None) -> dict:
    return {"id": ident, "account_no": account, "channel": "微信", "kind": "投诉", "text": text,
            "occurred_at": T0 + dt.timedelta(minutes=minutes), "caller_phone": phone}


def _ingest(engine, screener, rows):
    with engine.begin() as conn:
        for row in rows:
            record_interaction(conn, row)
        return screener(conn, rows)


def test_a_media_threat_raises_one_alert_with_its_words_place_and_offsets(city_store) -> None:
    c = _customers(city_store, 1)[0]
    screener = AlertScreener(LexiconCache())
    events = _ingest(city_store, screener, [_msg("m1", c["account_no"], "再不来电我就找记 者曝光！"),
                                            _msg("m2", c["account_no"], "停电了请尽快来修")])
    assert [(e.kind, e.category, e.severity) for e in events] == [("new", "媒体曝光", "high")]
    with city_store.connect() as conn:
        alert = alerts_store.get_alert(conn, events[0].alert_id)
        hits = alerts_store.alert_hits(conn, alert["id"])
    assert alert["account_no"] == c["account_no"] and alert["transformer_id"] == c["transformer_id"]
    assert alert["feeder_id"] and alert["state"] == "new" and alert["count"] == 1
    assert [(m["word"], m["start"], m["end"]) for m in hits[0]["matches"]] == [("记者", 7, 10), ("曝光", 10, 12)]
    assert hits[0]["text"][7:10] == "记 者"


def test_repeats_fold_within_the_window_and_open_a_new_alert_after_it(city_store) -> None:
    c = _customers(city_store, 1)[0]["account_no"]
    screener = AlertScreener(LexiconCache(), AlertRules(fold_window=dt.timedelta(hours=2)))
    first = _ingest(city_store, screener, [_msg("f1", c, "我要投诉"), _msg("f2", c, "投 訴你们", 30),
                                           _msg("f3", c, "我要起诉", 40)])
    assert [(e.kind, e.category, e.count) for e in first] == [
        ("new", "投诉升级", 1), ("folded", "投诉升级", 2), ("new", "法律诉讼", 1)]
    assert first[0].alert_id == first[1].alert_id
    later = _ingest(city_store, screener, [_msg("f4", c, "还要投诉到底", 60 * 5)])
    assert [(e.kind, e.severity) for e in later] == [("new", "high")]
    with city_store.begin() as conn:  # a retried batch is screened again: nothing new
        assert screener(conn, [_msg("f4", c, "还要投诉到底", 60 * 5)]) == []


def test_an_unknown_customer_folds_by_caller_phone(city_store) -> None:
    screener = AlertScreener(LexiconCache())
    events = _ingest(city_store, screener, [_msg("p1", None, "记者", 0, "13800000000"),
                                            _msg("p2", None, "记者", 1, "13800000000"),
                                            _msg("p3", None, "记者", 2, None), _msg("p4", None, "记者", 3, None)])
    assert [e.kind for e in events] == ["new", "folded", "new", "new"]


def test_the_allow_list_keeps_a_polite_message_quiet(city_store) -> None:
    c = _customers(city_store, 1)[0]["account_no"]
    assert _ingest(city_store, AlertScreener(LexiconCache()), [_msg("q1", c, "放心，我不投诉，谢谢")]) == []


def test_n_hits_in_an_hour_in_one_area_escalate_once(city_store) -> None:
    cs = _customers(city_store, 3)
    published = []
    screener = AlertScreener(LexiconCache(), AlertRules(escalation_hits=3),
                             publish=lambda conn, channel, payload: published.append((channel, payload)))
    rows = [_msg(f"e{i}", cs[i % 3]["account_no"], "要拉横幅", i * 10) for i in range(5)]
    events = _ingest(city_store, screener, rows[:2])
    assert [e.kind for e in events] == ["new", "new"]
    events = _ingest(city_store, screener, rows[2:])
    kinds = [e.kind for e in events]
    assert kinds == ["new", "folded", "folded", "escalated"]
    escalation = events[-1]
    assert escalation.transformer_id == cs[0]["transformer_id"] and escalation.count == 5
    assert [c for c, _ in published] == ["alerts"] * 6
    assert published[-1][1]["type"] == "alert.escalated" and "text" not in published[-1][1]
    more = _ingest(city_store, screener, [_msg("e9", cs[0]["account_no"], "要拉横幅", 55)])
    assert [e.kind for e in more] == ["folded"]  # one escalation per area and window
    with city_store.connect() as conn:
        assert len(alerts_store.list_escalations(conn, limit=10)) == 1


def test_state_changes_follow_the_workflow_and_are_audited(city_store) -> None:
    c = _customers(city_store, 1)[0]["account_no"]
    events = _ingest(city_store, AlertScreener(LexiconCache()), [_msg("s1", c, "我要找记者")])
    alert_id = events[0].alert_id
    with city_store.begin() as conn:
        with pytest.raises(Conflict) as wrong:
            change_state(conn, alert_id, "resolved", actor="t", role="agent", note="done")
        assert wrong.value.value == "new->resolved"
        with pytest.raises(InvalidInput):
            change_state(conn, alert_id, "resolved", actor="t", role="agent", note=" ")
        change_state(conn, alert_id, "acknowledged", actor="agent-7", role="agent")
        change_state(conn, alert_id, "resolved", actor="agent-7", role="agent", note="回访，已解释")
        with pytest.raises(Conflict):
            change_state(conn, alert_id, "false_positive", actor="t", role="agent")
        with pytest.raises(NotFound):
            change_state(conn, 999999, "acknowledged", actor="t", role="agent")
    with city_store.connect() as conn:
        alert = alerts_store.get_alert(conn, alert_id)
        trail = query_events(conn, object_kind="alert", object_id=str(alert_id), limit=10)
    assert alert["state"] == "resolved" and alert["note"] == "回访，已解释" and alert["state_by"] == "agent-7"
    assert [e["action"] for e in trail] == ["alert.resolve", "alert.ack"]


def test_lexicon_changes_are_audited_and_checked(empty_store) -> None:
    with empty_store.begin() as conn:
        v1 = lexicon.add_word(conn, "停电赔钱", category="法律诉讼", severity="high", actor="cli:ops", role="admin")
        v2 = lexicon.remove_word(conn, "媒体", actor="cli:ops", role="admin")
        v3 = lexicon.add_allow(conn, "不找记者", actor="cli:ops", role="admin")
        with pytest.raises(InvalidInput) as bad:
            lexicon.add_word(conn, "x", category="天气", severity="high", actor="a", role="admin")
        assert bad.value.field == "category"
        with pytest.raises(NotFound):
            lexicon.remove_word(conn, "从未有过", actor="a", role="admin")
    assert (v1, v2, v3) == (1, 2, 3)
    with empty_store.connect() as conn:
        version, items = lexicon.effective_lexicon(conn)
        trail = query_events(conn, object_kind="lexicon", limit=10)
    words = {i.word: i for i in items if i.kind == "word"}
    assert version == 3 and "媒体" not in words and words["停电赔钱"].source == "store"
    assert any(i.kind == "allow" and i.word == "不找记者" for i in items)
    assert [e["action"] for e in trail] == ["lexicon.add", "lexicon.remove", "lexicon.add"]


def test_a_lexicon_change_reaches_the_next_message_under_a_stream(empty_store) -> None:
    """A writer streams messages while the lexicon changes: every message is screened, and every
    message written after the change committed matches the new word."""
    cache = LexiconCache()
    screener = AlertScreener(cache)
    changed = threading.Event()
    results: list[tuple[bool, int]] = []
    errors: list[BaseException] = []

    def stream() -> None:  # until 30 messages after the change (at most 2,000 in all)
        try:
            after_change = 0
            for i in range(2000):
                after = changed.is_set()  # read before the message's transaction starts
                events = _ingest(empty_store, screener, [_msg(f"h{i}", None, "我们要去发改委门口烧纸", i / 10, f"139{i:08d}")])
                results.append((after, len(events)))
                after_change += after
                if after_change >= 30:
                    return
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=stream)
    worker.start()
    while len(results) < 30:
        threading.Event().wait(0.01)
    with empty_store.begin() as conn:
        lexicon.add_word(conn, "烧纸", category="群体事件", severity="high", actor="ops", role="admin")
    changed.set()
    worker.join(120)
    assert not errors and not worker.is_alive()
    categories_after = [n for after, n in results if after]
    assert categories_after and all(n == 2 for n in categories_after)  # 监管投诉 (发改委) and 群体事件 (烧纸)
    assert all(n in (1, 2) for _, n in results) and results[0][1] == 1
    assert cache.builds == 2


def test_another_workers_matcher_learns_of_a_change_before_its_next_message(empty_store) -> None:
    worker_a, worker_b = LexiconCache(), LexiconCache()
    with empty_store.connect() as conn:
        assert worker_b.matcher(conn).find("我们要去烧纸") == []
    with empty_store.begin() as conn:  # the change is made through worker A (or a command)
        lexicon.add_word(conn, "烧纸", category="群体事件", severity="high", actor="ops", role="admin")
        worker_a.matcher(conn)
    with empty_store.connect() as conn:
        assert [m.word for m in worker_b.matcher(conn).find("我们要去烧 纸")] == ["烧纸"]
        assert worker_b.matcher(conn) is worker_b.current  # no rebuild while the version stands
    assert worker_b.builds == 2


class _Meet:
    """An ingest screener that holds each ingest, inside its transaction, until the other one arrives
    (at most ``timeout_s``): both then screen at the same moment. Where the store serializes the
    ingests (SQLite's BEGIN IMMEDIATE), the first waits out the timeout alone."""

    def __init__(self, parties: int = 2, timeout_s: float = 3.0) -> None:
        self.barrier = threading.Barrier(parties)
        self.timeout_s = timeout_s
        self.met = False

    def screen(self, conn, rows) -> None:
        try:
            self.barrier.wait(self.timeout_s)
            self.met = True
        except threading.BrokenBarrierError:
            pass


def _race(engine, run) -> tuple[_Meet, list[BaseException]]:
    """``run(meet, ident, minutes)`` in two threads at once (each on its own connection)."""
    meet = _Meet()
    errors: list[BaseException] = []

    def worker(ident: str, minutes: int) -> None:
        try:
            run(meet, ident, minutes)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"race-{k}", k)) for k in (1, 2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    return meet, errors


def _one_alert_of_two(engine, meet: _Meet, errors: list[BaseException], *, serialized: bool = False, **where: str) -> None:
    assert errors == []
    with engine.connect() as conn:
        alerts = alerts_store.list_alerts(conn, limit=10, **where)
        assert [(a["category"], a["count"], a["state"]) for a in alerts] == [("媒体曝光", 2, "new")]
        assert sorted(h["interaction_id"] for h in alerts_store.alert_hits(conn, alerts[0]["id"])) == ["race-1", "race-2"]
    if serialized:  # the whole ingest takes its lock first, on both stores: the first one waited alone
        assert not meet.met, "two ingests screened at the same time"
    elif engine.dialect.name == "postgresql":  # SQLite serializes writers: there the first one waited alone
        assert meet.met, "the two screenings did not run at the same time"


def test_two_workers_screening_the_same_customer_at_once_open_one_alert(city_store) -> None:
    """Two transactions on two connections write one customer's messages and screen them at the same
    moment: exactly one alert, count 2, both messages (without the fold guard: two alerts on PostGIS)."""
    account = _customers(city_store, 1)[0]["account_no"]
    screener = AlertScreener(LexiconCache(), publish=None)

    def run(meet: _Meet, ident: str, minutes: int) -> None:
        row = _msg(ident, account, "不修好我就找记者曝光", minutes)
        with city_store.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            record_interaction(conn, row)
            meet.screen(conn, [row])
            screener(conn, [row])

    meet, errors = _race(city_store, run)
    _one_alert_of_two(city_store, meet, errors, account_no=account)


def test_two_concurrent_ingests_of_one_unknown_caller_open_one_alert(city_store) -> None:
    """The whole ingest, twice at once (threads, two connections): an unknown caller known by phone only
    folds into one alert, count 2. Ingests now run one after the other on both stores (PostgreSQL: the
    rollup state's row lock, taken first), so the second screens what the first committed."""
    from interactions.ingest import ingest

    screener = AlertScreener(LexiconCache(), publish=None)
    phone = "13912340000"

    def run(meet: _Meet, ident: str, minutes: int) -> None:
        record = {"id": ident, "channel": "微信", "kind": "投诉", "caller_phone": phone,
                  "occurred_at": (T0 + dt.timedelta(minutes=minutes)).isoformat(), "text": "不修好我就找记者曝光"}
        ingest(city_store, [record], service_area=(112.5, 22.5, 113.6, 23.6), screeners=(meet, screener))

    meet, errors = _race(city_store, run)
    _one_alert_of_two(city_store, meet, errors, serialized=True, category="媒体曝光")


def test_a_closed_alert_hands_its_fold_key_to_the_next_one(city_store) -> None:
    c = _customers(city_store, 1)[0]["account_no"]
    screener = AlertScreener(LexiconCache(), publish=None)
    first = _ingest(city_store, screener, [_msg("h1", c, "我要找记者")])
    with city_store.begin() as conn:
        change_state(conn, first[0].alert_id, "false_positive", actor="t", role="agent", publish=None)
    second = _ingest(city_store, screener, [_msg("h2", c, "我要找记者", 5), _msg("h3", c, "我要找记者", 6)])
    assert [(e.kind, e.count) for e in second] == [("new", 1), ("folded", 2)]
    assert second[0].alert_id != first[0].alert_id
