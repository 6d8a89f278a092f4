"""Sensitive words (敏感词) for the emotion label: a configurable word list on the alerts' matcher.

The emotion label and the sensitive-word alerts use one matcher (:class:`interactions.matching.Matcher`):
the same normalization (full-width, separators, zero-width characters, traditional characters
all defeated) and every occurrence of every word, overlapping ones included, with offsets
into the text as written. Chinese has no word boundaries, so a word matches anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from interactions.matching import Entry, Match, Matcher, normalize

__all__ = ["DEFAULT_SENSITIVE_WORDS", "WordHit", "WordMatcher"]

#: Escalation words of a utility's call centre: regulators' and government hotlines, media,
#: lawsuits, compensation, petitions. Replace with ``GRIDATLAS_SENSITIVE_WORDS``.
DEFAULT_SENSITIVE_WORDS: tuple[str, ...] = (
    "投诉", "投诉到底", "12398", "能源局", "曝光", "媒体", "记者", "电视台", "微博曝光",
    "起诉", "法院", "律师", "赔偿", "索赔", "市长热线", "12345", "信访", "上访", "消协", "315",
)

#: A hit: ``word``, ``start`` and ``end`` (offsets into the text as given).
WordHit = Match


class WordMatcher(Matcher):
    """A :class:`Matcher` over a plain word list (no categories); ``words`` longest first."""

    def __init__(self, words: Iterable[str]) -> None:
        cleaned = sorted({w.strip() for w in words if normalize(w.strip())}, key=lambda w: (-len(w), w))
        super().__init__([Entry(w, "", "medium") for w in cleaned])
