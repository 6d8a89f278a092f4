"""Sensitive words (敏感词) in interaction texts: a configurable list and a reusable matcher.

The emotion label uses it today; sensitive-word alerts reuse the same :class:`WordMatcher`
(one compiled pattern, longest word first, so ``投诉到底`` wins over ``投诉``). Matching is
on the text as written after NFKC normalization (full-width digits such as ``１２３９８``
match ``12398``); Chinese has no word boundaries, so a word matches anywhere in the text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DEFAULT_SENSITIVE_WORDS", "WordHit", "WordMatcher"]

#: Escalation words of a utility's call centre: regulators' and government hotlines, media,
#: lawsuits, compensation, petitions. Replace with ``GRIDATLAS_SENSITIVE_WORDS``.
DEFAULT_SENSITIVE_WORDS: tuple[str, ...] = (
    "投诉", "投诉到底", "12398", "能源局", "曝光", "媒体", "记者", "电视台", "微博曝光",
    "起诉", "法院", "律师", "赔偿", "索赔", "市长热线", "12345", "信访", "上访", "消协", "315",
)


@dataclass(frozen=True, slots=True)
class WordHit:
    word: str
    start: int
    end: int


class WordMatcher:
    """Finds the configured words in texts (non-overlapping, leftmost, longest first)."""

    def __init__(self, words: Iterable[str]) -> None:
        cleaned = sorted({unicodedata.normalize("NFKC", w).strip() for w in words} - {""}, key=lambda w: (-len(w), w))
        self.words: tuple[str, ...] = tuple(cleaned)
        self._pattern = re.compile("|".join(map(re.escape, cleaned))) if cleaned else None

    def find(self, text: str | None) -> list[WordHit]:
        """Every hit in ``text`` (positions in the normalized text)."""
        if not text or self._pattern is None:
            return []
        norm = unicodedata.normalize("NFKC", text)
        return [WordHit(m.group(0), m.start(), m.end()) for m in self._pattern.finditer(norm)]

    def words_in(self, text: str | None) -> list[str]:
        """The distinct words found in ``text``, in order of first appearance."""
        return list(dict.fromkeys(h.word for h in self.find(text)))
