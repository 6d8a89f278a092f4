"""Customers' phone numbers, parsed once with ``phonenumbers`` (Google's libphonenumber, region CN).

One rule for every path that stores a customer's phone (``import city``, the customer archive and
layer imports, the contact API, incoming calls): a number is accepted when libphonenumber finds it
a valid Chinese mobile or landline number (with ``+86``/``0086``, separators, full-width digits and
invisible format characters such as U+2066 or a zero-width space allowed), and it is stored as its
national digits: a mobile as 11 digits (``13126282696``), a landline with its trunk 0 and area code
(``075781234567``). Anything else (too short, an unassigned range, a number of another country, a
400/800 service number, an extension) is refused with a reason that says what is expected.

Speed: libphonenumber takes 50–200 µs per number, minutes at a million customers. :func:`parse_phones`
therefore answers the two plain shapes that make up nearly all of an archive from libphonenumber's
own CN metadata (the patterns ``is_valid_number`` and ``number_type`` use): ``1xxxxxxxxxx`` by its
first five digits, vectorized, and ``0xxx…`` with one regular expression per distinct value; every
other value goes through ``phonenumbers.parse``, once per distinct value. Tests check that the
fast paths give the library's answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = ["REGION", "EXPECTED", "PhoneError", "parse_phone", "parse_phones"]

REGION = "CN"
#: What a refused number should look like (the end of every reason).
EXPECTED = "expected an 11-digit mobile 1xxxxxxxxxx or a landline with area code 0xxx-xxxxxxx"
_SEPARATORS = re.compile(r"[\s\-–—.()（）]")
_PLAIN_MOBILE = re.compile(r"1\d{10}")
_PLAIN_LANDLINE = re.compile(r"0\d{9,11}")
_SPECIAL_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail")


class PhoneError(ValueError):
    """A value that is not a customer's phone number; ``reason`` says why, without the value, to
    follow "not a phone number" (e.g. ``EXPECTED``, or "a number outside China (+852)")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _library():
    try:
        import phonenumbers  # noqa: PLC0415 - loaded on first use: most commands never parse a phone
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ImportError("parsing phone numbers needs the 'phonenumbers' package (pip install phonenumbers)") from exc
    return phonenumbers


def _clean(text: str) -> str:
    """Without invisible format characters (bidi marks, BOM, zero-width space: category Cf)."""
    if text.isascii() and text.isprintable():
        return text.strip()
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()


def parse_phone(raw: str) -> str:
    """The stored form of ``raw`` (national digits); :class:`PhoneError` when it is not a Chinese
    mobile or landline number. The reference path: :func:`parse_phones` agrees with it."""
    pn = _library()
    text = _clean(raw)
    try:
        number = pn.parse(text, REGION)
    except pn.NumberParseException:
        raise PhoneError(EXPECTED) from None
    if number.country_code != 86:
        raise PhoneError(f"a number outside China (+{number.country_code}); {EXPECTED}")
    if number.extension:
        raise PhoneError(f"an extension is not stored: give the number without it; {EXPECTED}")
    if not pn.is_valid_number(number):
        raise PhoneError(EXPECTED)
    kind = pn.number_type(number)
    if kind not in (pn.PhoneNumberType.MOBILE, pn.PhoneNumberType.FIXED_LINE, pn.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise PhoneError(f"a service number (400/800/95…), not a customer's line; {EXPECTED}")
    digits = re.sub(r"\D", "", pn.format_number(number, pn.PhoneNumberFormat.NATIONAL))
    return digits


class _Patterns:
    """The CN metadata's patterns as ``number_type`` tests them: the general pattern, no special
    type, then fixed line before mobile (a number matching both is FIXED_LINE_OR_MOBILE: left to
    the library). Each is a separate full match, cheapest first."""

    def __init__(self) -> None:
        meta = _library().PhoneMetadata.metadata_for_region(REGION)
        self.general = re.compile(meta.general_desc.national_number_pattern)
        self.specials = [re.compile(d.national_number_pattern) for d in (getattr(meta, name) for name in _SPECIAL_TYPES)
                         if d is not None and d.national_number_pattern]
        self.fixed = re.compile(meta.fixed_line.national_number_pattern)
        self.mobile = re.compile(meta.mobile.national_number_pattern)

    def _plain(self, nsn: str) -> bool:
        return self.general.fullmatch(nsn) is not None and not any(p.fullmatch(nsn) for p in self.specials)

    def only_mobile(self, nsn: str) -> bool:
        return self.mobile.fullmatch(nsn) is not None and self.fixed.fullmatch(nsn) is None and self._plain(nsn)

    def only_fixed(self, nsn: str) -> bool:
        return self.fixed.fullmatch(nsn) is not None and self.mobile.fullmatch(nsn) is None and self._plain(nsn)


@lru_cache(maxsize=1)
def _patterns() -> _Patterns:
    return _Patterns()


#: How many leading digits decide a plain mobile number (see :func:`_mobile_prefix_ok`).
MOBILE_PREFIX_DIGITS = 5


@lru_cache(maxsize=4096)
def _mobile_prefix_ok(prefix: str) -> bool:
    """Whether the 11-digit numbers starting with ``prefix`` (5 digits) are valid mobiles. The CN
    patterns decide a ``1[3-9]``-number by its first five digits (the mobile pattern is a prefix
    followed by any digits; no fixed-line or special pattern matches an 11-digit 1[3-9] number):
    ``tests/gis/test_phones.py`` checks that for every prefix against the library."""
    return _patterns().only_mobile(prefix + "0" * (11 - len(prefix)))


def _fast(text: str) -> str | None:
    """The stored form when ``text`` has one of the plain shapes and the metadata accepts it; None
    to ask the library (which may still accept it)."""
    digits = _SEPARATORS.sub("", text) if not text.isdigit() else text
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not digits.isascii() or not digits.isdigit():
        return None
    if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789":
        return digits if _mobile_prefix_ok(digits[:MOBILE_PREFIX_DIGITS]) else None
    if _PLAIN_LANDLINE.fullmatch(digits) and _patterns().only_fixed(digits[1:]):
        return digits
    return None


def _plain_mobiles(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(plain, prefix): which texts are exactly 11 ASCII digits ``1[3-9]…`` and their first five
    digits as an integer, computed on the texts' UTF-32 code points."""
    codes = texts.astype("U12").view(np.uint32).reshape(len(texts), 12)
    head = codes[:, :11]
    plain = ((codes[:, 10] != 0) & (codes[:, 11] == 0) & ((head >= 48) & (head <= 57)).all(axis=1)
             & (codes[:, 0] == 49) & (codes[:, 1] >= 51))
    prefix = (head[:, :MOBILE_PREFIX_DIGITS].astype(np.int64) - 48) @ (10 ** np.arange(MOBILE_PREFIX_DIGITS - 1, -1, -1))
    return plain, prefix


def parse_phones(values: Sequence[object]) -> tuple[np.ndarray, dict[int, str]]:
    """Stored forms of ``values`` (None for blank) and {position: reason} for the refused ones.

    Vectorized for plain mobile numbers (decided by their first five digits); every other value
    is parsed once per distinct value (see the module notes). Text values only: callers turn
    spreadsheet numbers into text first."""
    values = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    out = np.full(len(values), None, dtype=object)
    errors: dict[int, str] = {}
    at = np.flatnonzero(np.fromiter((type(v) is str and v != "" for v in values), dtype=bool, count=len(values)))
    if not len(at):
        return out, errors
    texts = values[at].astype(object)
    plain, prefix = _plain_mobiles(texts)
    if plain.any():
        keys = np.unique(prefix[plain])
        accepted = keys[[_mobile_prefix_ok(str(int(k))) for k in keys]]
        plain &= np.isin(prefix, accepted)  # a refused plain number goes to the library, which says why
        out[at[plain]] = texts[plain]
    seen: dict[str, str | PhoneError] = {}
    for i, value in zip(at[~plain].tolist(), texts[~plain].tolist()):
        parsed = seen.get(value)
        if parsed is None:
            text = _clean(value)
            fast = _fast(text) if text else None
            if fast is not None:
                parsed = fast
            elif not text:
                parsed = ""
            else:
                try:
                    parsed = parse_phone(text)
                except PhoneError as exc:
                    parsed = exc
            seen[value] = parsed
        if isinstance(parsed, PhoneError):
            errors[i] = parsed.reason
        elif parsed:
            out[i] = parsed
    return out, errors
