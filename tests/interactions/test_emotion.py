"""The emotion label: each rule with exact inputs, the reasons shown, and the word matcher."""

from __future__ import annotations

import datetime as dt

from interactions.emotion import EmotionRules, emotion_label
from interactions.sensitive_words import DEFAULT_SENSITIVE_WORDS, WordMatcher

NOW = dt.datetime(2026, 10, 31, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
M = WordMatcher(DEFAULT_SENSITIVE_WORDS)


def _i(ident: str, days_ago: float, kind: str = "咨询", text: str = "你好，请问电费怎么交？") -> dict[str, object]:
    return {"id": ident, "kind": kind, "occurred_at": NOW - dt.timedelta(days=days_ago), "text": text}


def _codes(emotion) -> list[str]:
    return [r.code for r in emotion.reasons]


def test_no_contacts_is_calm() -> None:
    e = emotion_label([], now=NOW, matcher=M)
    assert e.label == "calm" and e.reasons == ()


def test_old_and_polite_contacts_stay_calm() -> None:
    e = emotion_label([_i("a", 200, "投诉", "停电太久"), _i("b", 10), _i("c", 40, "表扬", "谢谢")], now=NOW, matcher=M)
    assert e.label == "calm" and _codes(e) == []


def test_one_complaint_in_90_days_is_concerned() -> None:
    e = emotion_label([_i("a", 60, "投诉", "停电太久了")], now=NOW, matcher=M)
    assert e.label == "concerned" and _codes(e) == ["complaint_90d"]
    assert e.reasons[0].interactions == ("a",)
    assert "90" in e.reasons[0].zh and "complaint" in e.reasons[0].en


def test_two_complaints_in_30_days_is_angry() -> None:
    e = emotion_label([_i("a", 3, "投诉", "停电"), _i("b", 20, "投诉", "又停电")], now=NOW, matcher=M)
    assert e.label == "angry"
    assert _codes(e) == ["complaints_30d", "complaint_90d"]
    assert e.reasons[0].interactions == ("b", "a")


def test_sensitive_word_recent_is_angry_older_is_concerned() -> None:
    recent = emotion_label([_i("a", 5, "报修", "再不解决就投诉到１２３９８！")], now=NOW, matcher=M)
    assert recent.label == "angry"
    assert _codes(recent) == ["sensitive_words_30d", "sensitive_words_90d"]
    assert "12398" in recent.reasons[0].zh and "投诉" in recent.reasons[0].zh
    older = emotion_label([_i("a", 45, "报修", "我要找记者，让媒体曝光！")], now=NOW, matcher=M)
    assert older.label == "concerned" and _codes(older) == ["sensitive_words_90d"]
    assert "记者、媒体、曝光" in older.reasons[0].zh


def test_a_reader_without_the_texts_learns_that_sensitive_words_occurred_not_which() -> None:
    contacts = [_i("a", 5, "报修", "再不解决就投诉到１２３９８！"), _i("b", 45, "报修", "我要找记者，让媒体曝光！")]
    shown = emotion_label(contacts, now=NOW, matcher=M)
    hidden = emotion_label(contacts, now=NOW, matcher=M, name_words=False)
    assert hidden.label == shown.label == "angry" and _codes(hidden) == _codes(shown)
    assert [r.interactions for r in hidden.reasons] == [r.interactions for r in shown.reasons]
    for reason in hidden.reasons:
        assert not any(w in reason.zh or w in reason.en for w in ("12398", "投诉到", "记者", "媒体", "曝光"))
    assert hidden.reasons[0].zh == "近30天 1 次联系出现敏感词"
    assert hidden.reasons[1].en == "sensitive words in 2 contact(s) in the last 90 days"


def test_repeat_contacts_are_concerned_and_angry_with_a_complaint() -> None:
    calls = [_i("a", 6), _i("b", 4), _i("c", 1)]
    e = emotion_label(calls, now=NOW, matcher=M)
    assert e.label == "concerned" and _codes(e) == ["repeat_contacts"]
    assert e.reasons[0].interactions == ("a", "b", "c")
    # spread over more than 7 days: not a repeat
    assert emotion_label([_i("a", 20), _i("b", 10), _i("c", 1)], now=NOW, matcher=M).label == "calm"
    angry = emotion_label(calls + [_i("d", 2, "投诉", "电压不稳")], now=NOW, matcher=M)
    assert angry.label == "angry"
    assert _codes(angry) == ["repeat_with_complaint", "repeat_contacts", "complaint_90d"]


def test_thresholds_are_configurable_and_future_contacts_ignored() -> None:
    rules = EmotionRules(angry_complaints_30d=1, repeat_min=2, repeat_days=3)
    e = emotion_label([_i("a", 2, "投诉", "x"), _i("z", -1, "投诉", "曝光")], now=NOW, matcher=M, rules=rules)
    assert e.label == "angry" and _codes(e) == ["complaints_30d", "complaint_90d"]


def test_matcher_reports_overlapping_words_and_is_reusable() -> None:
    m = WordMatcher(["投诉", "投诉到底", "12345", " "])
    assert m.words == ("12345", "投诉到底", "投诉")
    hits = m.find("我要投诉到底，再打１２３４５，投 诉！")
    assert [(h.word, h.start, h.end) for h in hits] == [("投诉到底", 2, 6), ("投诉", 2, 4), ("12345", 9, 14),
                                                        ("投诉", 15, 18)]
    assert m.words_in(None) == [] and WordMatcher([]).find("投诉") == []
