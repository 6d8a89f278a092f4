"""Normalizing what is indexed and what is typed, so both sides compare equal.

Text is NFKC-folded (full-width ``１２号`` from GBK-era systems becomes ``12号``, the
ideographic space becomes a space), case-folded and stripped of whitespace; phone numbers
keep their digits only, without a ``+86`` / ``0086`` country code. Pinyin keys come from
pypinyin with every reading of each character (heteronyms: 曾 zeng/ceng, 单 dan/shan/chan),
capped as :data:`MAX_READINGS` says. Queries are classified by shape here too.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import lru_cache

from gis.errors import InvalidInput
from gis.phones import PhoneError, parse_phone

__all__ = [
    "MAX_QUERY_LENGTH",
    "MAX_READINGS",
    "HETERONYM_CHARS",
    "MAX_KEY_LENGTH",
    "phone_keys",
    "Query",
    "parse_query",
    "fold_text",
    "compact",
    "normalize_phone",
    "pinyin_keys",
    "trigram_similarity",
]

#: Longest query accepted (characters, after trimming).
MAX_QUERY_LENGTH = 100
#: At most this many pinyin readings are indexed per customer (and as many initials strings).
MAX_READINGS = 16
#: Only the first this-many characters of a name contribute their alternative readings
#: (personal names are 2–4 characters; the rest of a long company name uses its first reading).
HETERONYM_CHARS = 4
#: Pinyin keys longer than this are cut (prefix matching still works on the cut key).
MAX_KEY_LENGTH = 64

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_PHONE_PUNCT = re.compile(r"[\s\-().+/]")
_LATIN_PUNCT = re.compile(r"[\s'’·]")
_NON_DIGIT = re.compile(r"[^0-9]")
_DROP = re.compile(r"[%_\\\"*]")  # LIKE / FTS metacharacters carry no meaning in names or addresses


def fold_text(value: str) -> str:
    """NFKC + casefold; the form both the index and the query use."""
    return unicodedata.normalize("NFKC", value).casefold()


def compact(value: str | None) -> str:
    """Folded text without whitespace and LIKE/FTS metacharacters ('' for None)."""
    if not value:
        return ""
    return _DROP.sub("", "".join(fold_text(value).split()))


def normalize_phone(value: str | None) -> str | None:
    """Digits only, without a +86 / 0086 country code; None when nothing numeric remains."""
    if not value:
        return None
    digits = value if value.isascii() and value.isdigit() else _NON_DIGIT.sub("", unicodedata.normalize("NFKC", value))
    if len(digits) == 15 and digits.startswith("0086") and digits[4] == "1":
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86") and digits[2] == "1":
        digits = digits[2:]
    elif digits.startswith("0086") or (digits.startswith("86") and value.lstrip().startswith(("+", "＋"))):
        # a landline written with the country code: the stored form (0 + area code + number) comes
        # from the one phone parser every loader uses, so a typed +86 757 … finds 0757…
        try:
            return parse_phone(value)
        except PhoneError:
            pass
    return digits or None


def phone_keys(phone: str | None, phone_alt: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(normalized numbers, their 尾号) of one customer's two phone fields.

    A number given twice counts once; two numbers ending in the same four digits give one
    尾号. The store's ``customer_keys`` and the in-memory index both take their phone keys from here, so they cannot disagree.
    """
    p1 = normalize_phone(phone) if phone else None
    p2 = normalize_phone(phone_alt) if phone_alt else None
    if p2 is None or p2 == p1:
        phones: tuple[str, ...] = (p1,) if p1 else ()
    else:
        phones = (p1, p2) if p1 else (p2,)
    last4 = tuple(dict.fromkeys(n[-4:] for n in phones if len(n) >= 4))
    return phones, last4


@lru_cache(maxsize=65536)
def _readings(ch: str) -> tuple[str, ...]:
    """Every toneless reading of one character (lower-case letters), or the character itself."""
    if _CJK.match(ch):
        from pypinyin import Style, pinyin  # lazy: only indexing and pinyin queries need it

        out = tuple(dict.fromkeys(r for r in pinyin(ch, style=Style.NORMAL, heteronym=True)[0] if r.isascii() and r.isalpha()))
        return out or ("",)
    if ch.isascii() and ch.isalnum():
        return (ch.lower(),)
    return ("",)  # punctuation and other scripts contribute nothing


def pinyin_keys(name: str | None) -> tuple[list[str], list[str]]:
    """Full pinyin strings and initials strings for ``name``: every reading combination.

    The combinations are the product of each character's readings, alternatives taken for
    the first :data:`HETERONYM_CHARS` characters only, enumerated in pypinyin's reading order
    and cut at :data:`MAX_READINGS` (单丽 → ``danli, chanli, shanli``; initials ``dl, cl, sl``).
    """
    text = compact(name)
    if not text:
        return [], []
    options = [(_readings(ch) if i < HETERONYM_CHARS else _readings(ch)[:1]) for i, ch in enumerate(text)]
    full: dict[str, None] = {}
    initials: dict[str, None] = {}
    for combo in itertools.islice(itertools.product(*options), MAX_READINGS):
        key = "".join(combo)[:MAX_KEY_LENGTH]
        if key:
            full[key] = None
            initials["".join(r[0] for r in combo if r)[:MAX_KEY_LENGTH]] = None
    return list(full), list(initials)


def _trigrams(value: str) -> set[str]:
    return {value[i : i + 3] for i in range(len(value) - 2)}


def trigram_similarity(query: str, field: str) -> float:
    """Share of the query's trigrams found in ``field`` (1.0: every trigram occurs there).

    Like pg_trgm's word similarity, it asks how well the query matches some part of a long
    field (a full address), not the whole of it; computed in Python so both stores agree.
    """
    tq = _trigrams(query)
    if not tq or not field:
        return 0.0
    return len(tq & _trigrams(field)) / len(tq)


class Query:
    """A validated query with its shape and the normalized forms each index needs.

    ``shape`` is one of phone, account, name, pinyin, address, mixed. ``digits`` is set for
    numeric queries, ``latin`` for pinyin, ``terms`` (compact, each a fragment to match) for
    Chinese and mixed text.
    """

    __slots__ = ("raw", "shape", "digits", "latin", "terms", "text")

    def __init__(self, raw: str, shape: str, *, digits: str = "", latin: str = "", terms: tuple[str, ...] = ()) -> None:
        self.raw = raw
        self.shape = shape
        self.digits = digits
        self.latin = latin
        self.terms = terms
        self.text = "".join(terms)

    def __repr__(self) -> str:
        return f"Query({self.raw!r}, shape={self.shape!r})"


def parse_query(raw: object) -> Query:
    """Validate ``raw`` and classify it; :class:`InvalidInput` on field ``q`` when absurd."""
    if not isinstance(raw, str):
        raise InvalidInput("the query must be text", field="q", value=raw)
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co") for ch in raw):
        raise InvalidInput("the query contains control characters", field="q", value=raw.encode("unicode_escape").decode()[:120])
    # Invisible format characters (bidi marks U+202A–U+202E / U+2066–U+2069, BOM, zero-width space)
    # come with text pasted from chat and phone apps: dropped, never matched.
    text = unicodedata.normalize("NFKC", "".join(ch for ch in raw if unicodedata.category(ch) != "Cf")).strip()
    if not text:
        raise InvalidInput("the query is empty: type a phone number, account number, name, pinyin or address", field="q", value=raw)
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"the query is longer than {MAX_QUERY_LENGTH} characters", field="q", value=text[:40] + "…")
    bare = _PHONE_PUNCT.sub("", text)
    if bare.isascii() and bare.isdigit():
        digits = normalize_phone(text) or ""
        looks_phone = (
            bare != text  # separators or +86: someone typed a phone number
            or len(digits) in (4, 7, 8)
            or (len(digits) == 11 and digits[0] == "1")
            or (len(digits) in (11, 12) and digits[0] == "0")
        )
        return Query(raw, "phone" if looks_phone else "account", digits=digits)
    latin = _LATIN_PUNCT.sub("", text).lower()
    if latin.isascii() and latin.isalpha():
        return Query(raw, "pinyin", latin=latin)
    terms = tuple(t for t in (compact(part) for part in text.split()) if t)
    if not terms:
        raise InvalidInput("the query has nothing to search for", field="q", value=raw)
    joined = "".join(terms)
    if all(_CJK.match(ch) for ch in joined):
        shape = "name" if len(terms) == 1 and len(joined) <= 4 else "address"
    else:
        shape = "mixed"
    return Query(raw, shape, terms=terms)
