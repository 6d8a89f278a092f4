"""Sensitive-word matching: normalization that defeats the usual evasions, Aho–Corasick, offsets.

Customers (and the people who write to a utility to make trouble) evade a plain substring
search: ``敏 感 词``, ``敏*感#词``, ``敏感詞``, full-width ``ＣＣＴＶ``, zero-width spaces between
the characters. Every text is normalized character by character before matching:

1. NFKC (full-width → half-width, circled digits → digits, compatibility ideographs);
2. traditional → simplified Chinese (OpenCC ``t2s``, applied per character so that every
   normalized character comes from exactly one original one);
3. Latin letters lower-cased and stripped of diacritics (``TÓU SÙ`` → ``tousu``);
4. everything that is not a letter or a digit removed: spaces, punctuation, symbols,
   zero-width and other format characters (Unicode categories Z*, P*, S*, C*, M*).

The table doing this is one ``str.translate`` mapping filled lazily per character (a
character is looked up once per process), so normalizing a message is a single C call.
Offsets are mapped back to the ORIGINAL text only for texts that matched, by replaying the
same table character by character: a match ``[start, end)`` covers the original characters
from the first to the last one that produced it, so a highlight of ``敏 感 词`` spans the
spaces too.

Matching is Aho–Corasick (``ahocorasick-rs``, Rust's ``aho-corasick``) over the normalized lexicon: every occurrence of
every word, overlapping ones included (``投诉到底`` and ``投诉`` both match in ``投诉到底``).
Lexicon words may also match as their pinyin (``pypinyin``, optional per word: short pinyin
strings such as ``jizhe`` would also hit unrelated Latin text). Allow-list phrases (``不投诉``)
suppress every word match that lies inside one of their own matches.

A :class:`Matcher` is immutable and safe to share between threads; a lexicon change builds a
new one and swaps the reference (see :mod:`interactions.lexicon`).
"""

from __future__ import annotations

import threading
import unicodedata
from bisect import bisect_right
from itertools import accumulate
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Entry", "Match", "Matcher", "normalize", "severity_max", "SEVERITIES", "SEVERITY_RANK"]

SEVERITIES = ("low", "medium", "high")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

_KEEP_CATEGORIES = ("L", "N")


class _Table(dict):
    """``ord(char)`` → its normalized form ('' to drop it), computed on first sight."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._t2s = None

    def __missing__(self, code: int) -> str:
        with self._lock:
            char = chr(code)
            if unicodedata.category(char) == "Cs":  # a lone surrogate: nothing to match
                value = ""
            else:
                value = "".join(_one(c, self._convert) for c in unicodedata.normalize("NFKC", char))
            self[code] = value
            return value

    def _convert(self, char: str) -> str:
        if self._t2s is None:
            self._t2s = _opencc_t2s()
        out = self._t2s.convert(char)
        return out if len(out) == 1 else char


def _opencc_t2s():
    """OpenCC's traditional → simplified converter (imported on first use, with a clear error)."""
    try:
        import opencc
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ImportError("traditional → simplified normalization needs OpenCC (pip install opencc)") from exc
    try:
        return opencc.OpenCC("t2s.json")
    except Exception:  # older bindings name the configuration without its extension
        return opencc.OpenCC("t2s")


def _one(char: str, convert) -> str:
    category = unicodedata.category(char)
    if category[0] not in _KEEP_CATEGORIES:
        return ""
    if char.isascii():
        return char.lower()
    if category[0] == "L" and "LATIN" in unicodedata.name(char, ""):
        base = unicodedata.normalize("NFKD", char)[0]
        return base.lower() if base.isascii() else char.lower()
    if "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or "\U00020000" <= char <= "\U0003134f":
        return convert(char)
    return char.lower() if len(char.lower()) == 1 else char


_TABLE = _Table()
_BMP: list[str] | None = None
_BMP_LOCK = threading.Lock()


def _bmp_table() -> list[str]:
    """The table for every Basic Multilingual Plane character, as a list (about 0.3 s, once per
    process): ``str.translate`` indexes a list faster than it looks up a dict."""
    global _BMP
    if _BMP is None:
        with _BMP_LOCK:
            if _BMP is None:
                _BMP = [_TABLE[code] for code in range(0x10000)]
    return _BMP


def normalize(text: str) -> str:
    """``text`` as the matcher sees it (see the module docstring)."""
    if len(text.encode("utf-16-le", "surrogatepass")) == 2 * len(text):  # no character beyond the BMP
        return text.translate(_BMP if _BMP is not None else _bmp_table())
    return text.translate(_TABLE)


class _Lengths(dict):
    """``ord(char)`` → ``chr(len(normalized form))``: one translate call gives every character's length."""

    def __missing__(self, code: int) -> str:
        value = chr(len(_TABLE[code]))
        self[code] = value
        return value


_LENGTHS = _Lengths()
_BMP_LENGTHS: list[str] | None = None


def _cumulative(text: str) -> list[int]:
    """``out[i]``: the length of the normalized form of ``text[:i + 1]`` (C-level translate and accumulate)."""
    global _BMP_LENGTHS
    if len(text.encode("utf-16-le", "surrogatepass")) == 2 * len(text):
        if _BMP_LENGTHS is None:
            _BMP_LENGTHS = [chr(len(piece)) for piece in _bmp_table()]
        lengths = text.translate(_BMP_LENGTHS)
    else:
        lengths = text.translate(_LENGTHS)
    return list(accumulate(lengths.encode("latin-1")))


@dataclass(frozen=True, slots=True)
class Entry:
    """A lexicon word: its category, severity and whether its pinyin matches too."""

    word: str
    category: str
    severity: str = "medium"
    pinyin: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """One occurrence of a lexicon word in a text; ``start``/``end`` index the ORIGINAL text."""

    word: str
    category: str
    severity: str
    start: int
    end: int
    text: str  # the original characters matched, e.g. "敏 感 詞"
    via: str = "text"  # "text" or "pinyin"

    def to_dict(self) -> dict[str, object]:
        return {"word": self.word, "category": self.category, "severity": self.severity,
                "start": self.start, "end": self.end, "via": self.via}


# payload kinds stored in the automaton
_WORD, _PINYIN, _ALLOW = 0, 1, 2


class Matcher:
    """The compiled lexicon: finds every (overlapping) word occurrence, minus allow-listed ones.

    >>> m = Matcher([Entry("敏感词", "媒体曝光", "high")])
    >>> [(h.word, h.start, h.end) for h in m.find("这是敏 感 詞")]
    [('敏感词', 2, 7)]
    """

    def __init__(self, entries: Iterable[Entry], allow: Iterable[str] = (), *, version: int = 0) -> None:
        import ahocorasick_rs  # a compiled dependency (Rust's aho-corasick): imported where it is used

        self.version = version
        self.entries: tuple[Entry, ...] = tuple(entries)
        self.allow: tuple[str, ...] = tuple(allow)
        patterns: dict[str, list[tuple[int, int]]] = {}
        for i, entry in enumerate(self.entries):
            key = normalize(entry.word)
            if key:
                patterns.setdefault(key, []).append((_WORD, i))
            if entry.pinyin:
                for variant in _pinyin_variants(entry.word):
                    if variant and variant != key:
                        patterns.setdefault(variant, []).append((_PINYIN, i))
        for j, phrase in enumerate(self.allow):
            key = normalize(phrase)
            if key:
                patterns.setdefault(key, []).append((_ALLOW, j))
        self.words: tuple[str, ...] = tuple(dict.fromkeys(e.word for e in self.entries))
        self._automaton = None
        self._payloads: list[tuple[tuple[int, int], ...]] = [tuple(p) for p in patterns.values()]
        if patterns:
            self._automaton = ahocorasick_rs.AhoCorasick(list(patterns), matchkind=ahocorasick_rs.MatchKind.Standard)

    def __len__(self) -> int:
        return len(self.entries)

    def raw_hits(self, normalized: str) -> list[tuple[int, int, tuple[tuple[int, int], ...]]]:
        """``(start, end, payload)`` of every pattern in an already normalized text (the library's
        own loop; :meth:`find` adds normalization, the allow-list and offsets)."""
        if self._automaton is None or not normalized:
            return []
        payloads = self._payloads
        return [(start, end, payloads[i])
                for i, start, end in self._automaton.find_matches_as_indexes(normalized, overlapping=True)]

    def find(self, text: str | None) -> list[Match]:
        """Every lexicon word in ``text`` (overlapping ones too), in order of start then length
        (longest first); offsets index ``text`` as given."""
        if not text or self._automaton is None:
            return []
        normalized = normalize(text)
        hits = self.raw_hits(normalized)
        if not hits:
            return []
        allowed = [(s, e) for s, e, payload in hits if any(kind == _ALLOW for kind, _ in payload)]
        cumulative: list[int] | None = None
        found: dict[tuple[int, int, str], Match] = {}
        for start, end, payload in hits:
            if allowed and any(a <= start and end <= b for a, b in allowed):
                continue
            for kind, index in payload:
                if kind == _ALLOW:
                    continue
                entry = self.entries[index]
                if cumulative is None:
                    cumulative = _cumulative(text)
                # the original characters whose normalized forms hold positions start and end - 1
                o_start = bisect_right(cumulative, start)
                o_end = bisect_right(cumulative, end - 1) + 1
                key = (o_start, o_end, entry.word)
                if key not in found:
                    found[key] = Match(entry.word, entry.category, entry.severity, o_start, o_end,
                                       text[o_start:o_end], "pinyin" if kind == _PINYIN else "text")
        return sorted(found.values(), key=lambda m: (m.start, -(m.end - m.start), m.word))

    def words_in(self, text: str | None) -> list[str]:
        """The distinct lexicon words in ``text``, in order of first appearance."""
        return list(dict.fromkeys(m.word for m in self.find(text)))


def _pinyin_variants(word: str) -> Sequence[str]:
    """The toneless pinyin spellings of ``word`` (every reading of a heteronym), normalized."""
    from pypinyin import Style, pinyin

    readings = pinyin(word, style=Style.NORMAL, heteronym=True, errors="ignore")
    if not readings or len(readings) != sum(1 for c in word if "\u3400" <= c <= "\u9fff"):
        return ()  # a word that is not all Chinese characters has no pinyin variant
    variants = [""]
    for options in readings:
        variants = [v + o for v in variants for o in dict.fromkeys(options)][:16]  # bound heteronym blow-up
    return tuple(normalize(v) for v in variants)


def severity_max(severities: Iterable[str]) -> str:
    """The highest of ``severities`` ('low' when empty)."""
    return max(severities, key=SEVERITY_RANK.__getitem__, default="low")
