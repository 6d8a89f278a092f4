"""The sensitive-word matcher: evasions, overlapping words, the allow-list, pinyin, offsets."""

from __future__ import annotations

import pytest

from interactions.lexicon import build_matcher, default_lexicon
from interactions.matching import Entry, Matcher, normalize

M = Matcher([Entry("敏感词", "媒体曝光", "high"), Entry("投诉", "投诉升级", "medium", pinyin=True),
             Entry("投诉到底", "投诉升级", "high"), Entry("cctv", "媒体曝光", "high"), Entry("12398", "监管投诉", "high")],
            allow=["不投诉"])


def _hits(text: str, matcher: Matcher = M) -> list[tuple[str, int, int, str]]:
    return [(h.word, h.start, h.end, h.text) for h in matcher.find(text)]


@pytest.mark.parametrize("text", ["敏感词", "敏 感 词", "敏*感#词", "敏感詞", "敏\u200b感\u200d词", "敏\u3000感\t词",
                                  "敏_感-词", "敏😀感😀词", "敏，感。词", "敏\u2060感\ufeff词"])
def test_evasions_match_and_highlight_the_original_characters(text: str) -> None:
    assert _hits("他说" + text + "！") == [("敏感词", 2, 2 + len(text), text)]


def test_full_width_letters_and_digits_match() -> None:
    assert _hits("ＣＣＴＶ要来") == [("cctv", 0, 4, "ＣＣＴＶ")]
    assert _hits("打１２３９８") == [("12398", 1, 6, "１２３９８")]
    assert _hits("C C T V") == [("cctv", 0, 7, "C C T V")]


def test_overlapping_words_are_all_reported() -> None:
    assert _hits("我要投诉到底") == [("投诉到底", 2, 6, "投诉到底"), ("投诉", 2, 4, "投诉")]
    both = Matcher([Entry("媒体", "媒体曝光"), Entry("体曝", "媒体曝光"), Entry("曝光", "媒体曝光")])
    assert [(h.word, h.start) for h in both.find("找媒体曝光")] == [("媒体", 1), ("体曝", 2), ("曝光", 3)]


def test_the_allow_list_suppresses_only_what_it_covers() -> None:
    assert _hits("我不投诉了") == []
    assert _hits("我不 投 诉了") == []
    assert _hits("我不投诉了，但是要投诉到底") == [("投诉到底", 9, 13, "投诉到底"), ("投诉", 9, 11, "投诉")]


def test_pinyin_variants_only_for_flagged_words() -> None:
    assert _hits("TOU SU!") == [("投诉", 0, 6, "TOU SU")]
    assert [h.via for h in M.find("tóu sù")] == ["pinyin"]
    assert _hits("mingan ci") == []  # 敏感词 is not flagged for pinyin


def test_texts_without_words_and_empty_lexicons() -> None:
    assert _hits("停电了，请尽快来修") == []
    assert Matcher([]).find("投诉") == [] and M.find(None) == [] and M.find("") == []


def test_normalize_is_what_the_automaton_sees() -> None:
    assert normalize("敏 感 詞，ＡＢＣ①") == "敏感词abc1"


def test_the_shipped_lexicon_builds_and_catches_a_media_threat() -> None:
    words, allow = default_lexicon()
    assert {e.category for e in words} == {"媒体曝光", "投诉升级", "人身安全", "群体事件", "监管投诉", "法律诉讼"}
    assert "不投诉" in allow
    from interactions.lexicon import LexiconItem

    items = [LexiconItem("word", e.word, e.category, e.severity, e.pinyin, "default") for e in words]
    items += [LexiconItem("allow", a, None, None, False, "default") for a in allow]
    matcher = build_matcher(1, items)
    found = {(h.word, h.category, h.severity) for h in matcher.find("再不来修我就找记者曝 光！")}
    assert found == {("记者", "媒体曝光", "high"), ("曝光", "媒体曝光", "high")}
