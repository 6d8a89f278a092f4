"""The sensitive-word lexicon: the shipped default, the operators' changes, and the live matcher.

The effective lexicon is the shipped file ``interactions/data/lexicon.json`` with the
store's changes applied (:mod:`gis.lexicon_store`): an added word replaces a shipped one of
the same spelling (a new category or severity), a removed one is gone. Every change is
audited in the same transaction as the change itself.

Hot swap: :class:`LexiconCache` keeps one compiled :class:`~interactions.matching.Matcher`
per process with the lexicon version it was built from. Before screening, a caller asks
:meth:`LexiconCache.matcher` with its connection: one indexed read of the version; when it
moved (a change made by this or any other process) the new matcher is built and then the
reference is swapped, so a message is always screened in full by one matcher, old or new,
and the first message screened after a change committed sees the change.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from gis.audit import record_event
from gis.errors import InvalidInput, NotFound
from gis.lexicon_store import StoredEntry, lexicon_version, put_entry, read_entries
from gis.models import LEXICON_CATEGORIES, LEXICON_SEVERITIES
from interactions.matching import Entry, Matcher, normalize

__all__ = ["CATEGORIES", "SEVERITIES", "DEFAULT_LEXICON_PATH", "LexiconItem", "default_lexicon",
           "effective_lexicon", "build_matcher", "add_word", "remove_word", "add_allow", "remove_allow",
           "LexiconCache"]

CATEGORIES = LEXICON_CATEGORIES
SEVERITIES = LEXICON_SEVERITIES
DEFAULT_LEXICON_PATH = Path(__file__).resolve().parent / "data" / "lexicon.json"


@dataclass(frozen=True, slots=True)
class LexiconItem:
    """One entry of the effective lexicon, with where it comes from (``default`` or ``store``)."""

    kind: str  # "word" or "allow"
    word: str
    category: str | None
    severity: str | None
    pinyin: bool
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "word": self.word, "category": self.category, "severity": self.severity,
                "pinyin": self.pinyin, "source": self.source}


@functools.cache
def default_lexicon(path: Path = DEFAULT_LEXICON_PATH) -> tuple[tuple[Entry, ...], tuple[str, ...]]:
    """The shipped words and allow-list phrases (read once; checked like an operator's addition)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    words = []
    for row, item in enumerate(document["words"], start=1):
        if item.get("category") not in CATEGORIES or item.get("severity") not in SEVERITIES:
            raise InvalidInput(f"{path.name}: word {item.get('word')!r} has an unknown category or severity",
                               field="category", value=item.get("category"), row=row)
        words.append(Entry(item["word"], item["category"], item["severity"], bool(item.get("pinyin", False))))
    return tuple(words), tuple(document.get("allow", ()))


def _apply(stored: Sequence[StoredEntry]) -> list[LexiconItem]:
    words, allow = default_lexicon()
    items: dict[tuple[str, str], LexiconItem] = {}
    for e in words:
        items[("word", e.word)] = LexiconItem("word", e.word, e.category, e.severity, e.pinyin, "default")
    for phrase in allow:
        items[("allow", phrase)] = LexiconItem("allow", phrase, None, None, False, "default")
    for s in stored:
        if s.removed:
            items.pop((s.kind, s.word), None)
        else:
            items[(s.kind, s.word)] = LexiconItem(s.kind, s.word, s.category, s.severity, s.pinyin, "store")
    return sorted(items.values(), key=lambda i: (i.kind != "word", i.category or "", i.word))


def effective_lexicon(conn: Connection) -> tuple[int, list[LexiconItem]]:
    """``(version, items)``: the shipped lexicon with the store's changes applied."""
    version, stored = read_entries(conn)
    return version, _apply(stored)


def build_matcher(version: int, items: Sequence[LexiconItem]) -> Matcher:
    words = [Entry(i.word, i.category or "", i.severity or "medium", i.pinyin) for i in items if i.kind == "word"]
    return Matcher(words, [i.word for i in items if i.kind == "allow"], version=version)


def _audit(conn: Connection, actor: str, role: str, action: str, word: str, details: dict[str, Any]) -> None:
    record_event(conn, actor=actor, role=role, action=action, object_kind="lexicon", object_id=word[:100],
                 details=details)


def _present(conn: Connection, kind: str, word: str) -> bool:
    _, items = effective_lexicon(conn)
    return any(i.kind == kind and i.word == word for i in items)


def add_word(conn: Connection, word: str, *, category: str, severity: str, pinyin: bool = False,
             actor: str, role: str) -> int:
    """Add (or re-classify) a word; audited in ``conn``'s transaction. Returns the new version."""
    word = word.strip()
    if not normalize(word):
        raise InvalidInput("the word has no letter or digit left after normalization", field="word", value=word)
    version = put_entry(conn, kind="word", word=word, category=category, severity=severity, pinyin=pinyin, actor=actor)
    _audit(conn, actor, role, "lexicon.add", word, {"kind": "word", "category": category, "severity": severity,
                                                     "pinyin": pinyin, "version": version})
    return version


def remove_word(conn: Connection, word: str, *, actor: str, role: str) -> int:
    """Remove a word (shipped or added); :class:`NotFound` when the lexicon does not hold it."""
    return _remove(conn, "word", word.strip(), actor, role)


def add_allow(conn: Connection, phrase: str, *, actor: str, role: str) -> int:
    """Add an allow-list phrase (its matches suppress the words they cover)."""
    phrase = phrase.strip()
    if not normalize(phrase):
        raise InvalidInput("the phrase has no letter or digit left after normalization", field="word", value=phrase)
    version = put_entry(conn, kind="allow", word=phrase, actor=actor)
    _audit(conn, actor, role, "lexicon.add", phrase, {"kind": "allow", "version": version})
    return version


def remove_allow(conn: Connection, phrase: str, *, actor: str, role: str) -> int:
    return _remove(conn, "allow", phrase.strip(), actor, role)


def _remove(conn: Connection, kind: str, word: str, actor: str, role: str) -> int:
    if not _present(conn, kind, word):
        label = "word" if kind == "word" else "allow-list phrase"
        raise NotFound(f"the lexicon holds no {label} {word!r}", field="word", value=word)
    version = put_entry(conn, kind=kind, word=word, removed=True, actor=actor)
    _audit(conn, actor, role, "lexicon.remove", word, {"kind": kind, "version": version})
    return version


class LexiconCache:
    """This process's matcher of the current lexicon version (see the module docstring)."""

    def __init__(self) -> None:
        self._matcher: Matcher | None = None
        self._lock = threading.Lock()
        self.builds = 0

    @property
    def current(self) -> Matcher | None:
        """The last matcher built (without asking the store)."""
        return self._matcher

    def matcher(self, conn: Connection) -> Matcher:
        """The matcher of the store's current lexicon version (rebuilt only when it moved)."""
        version = lexicon_version(conn)
        matcher = self._matcher
        if matcher is not None and matcher.version == version:
            return matcher
        with self._lock:  # one build at a time; the others wait for it rather than build their own
            matcher = self._matcher
            if matcher is None or matcher.version != version:
                found, items = effective_lexicon(conn)
                matcher = build_matcher(found, items)
                self._matcher = matcher  # the swap: readers holding the old one finish with it
                self.builds += 1
            return matcher
