"""Phone numbers parsed with libphonenumber (gis.phones): the stored form, the refusals, and the
fast paths giving exactly the library's answer."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.phones import MOBILE_PREFIX_DIGITS, PhoneError, _mobile_prefix_ok, _patterns, parse_phone, parse_phones


@pytest.mark.parametrize("raw, stored", [
    ("13126282696", "13126282696"),
    ("131 2628 2696", "13126282696"),
    ("+86 131-2628-2696", "13126282696"),
    ("0086 13126282696", "13126282696"),
    ("8613126282696", "13126282696"),
    ("１３１２６２８２６９６", "13126282696"),             # full-width digits from GBK-era systems
    ("\u206613126282696\u2069", "13126282696"),       # pasted with bidi isolation marks
    ("\ufeff131\u200b2628 2696", "13126282696"),       # BOM and a zero-width space
    ("0757-81234567", "075781234567"),
    ("(0757) 8123 4567", "075781234567"),
    ("（0757）81234567", "075781234567"),
    ("+86 757 8123 4567", "075781234567"),
    ("010-12345678", "01012345678"),
])
def test_numbers_are_stored_as_national_digits(raw, stored):
    assert parse_phone(raw) == stored
    assert parse_phones([raw])[0].tolist() == [stored]


@pytest.mark.parametrize("raw, why", [
    ("12", "expected an 11-digit mobile"),
    ("1312628269", "expected an 11-digit mobile"),     # one digit short
    ("17412345678", "expected an 11-digit mobile"),    # 174 (other than 1740x) is not a mobile range
    ("0757-1234567", "expected an 11-digit mobile"),   # Foshan numbers have 8 digits
    ("phone", "expected an 11-digit mobile"),
    ("4001234567", "a service number"),
    ("+852 9123 4567", "outside China (+852)"),
    ("13126282696 ext 12", "an extension"),
])
def test_what_is_not_a_customers_phone_is_refused_with_a_reason(raw, why):
    with pytest.raises(PhoneError) as err:
        parse_phone(raw)
    assert why in err.value.reason and raw not in err.value.reason
    out, errors = parse_phones(["13126282696", raw, None, ""])
    assert out.tolist() == ["13126282696", None, None, None] and errors == {1: err.value.reason}


def _reference(value: str) -> str | PhoneError:
    try:
        return parse_phone(value)
    except PhoneError as exc:
        return exc


_DIGIT = st.sampled_from("0123456789")
_MOBILES = st.builds(lambda a, b, rest: f"1{a}{b}{rest}", st.sampled_from("3456789"), _DIGIT,
                     st.text("0123456789", min_size=8, max_size=8))
_LANDLINES = st.builds(lambda area, rest: f"0{area}{rest}", st.text("0123456789", min_size=2, max_size=3),
                       st.text("0123456789", min_size=7, max_size=8))
_DRESSED = st.one_of(_MOBILES, _LANDLINES).flatmap(lambda n: st.sampled_from(
    [n, f"+86 {n.removeprefix('0')}", f"0086{n.removeprefix('0')}", f"{n[:4]}-{n[4:]}", f" {n} ", f"({n[:4]}){n[4:]}"]))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(_DRESSED, min_size=1, max_size=8))
def test_the_fast_paths_give_the_librarys_answer(values):
    """``parse_phones`` (plain mobiles by prefix, plain landlines by the metadata's patterns, the rest
    through the library) agrees with ``phonenumbers.parse`` for every value, valid or not."""
    out, errors = parse_phones(values)
    for i, value in enumerate(values):
        expected = _reference(value)
        if isinstance(expected, PhoneError):
            assert out[i] is None and errors.get(i) == expected.reason, value
        else:
            assert out[i] == expected and i not in errors, value


def test_five_digits_decide_a_plain_mobile_number():
    """What the vectorized path relies on, checked against the library for every 1[3-9] prefix: the
    verdict of the metadata's patterns does not depend on the last six digits, and it is
    libphonenumber's (a valid MOBILE)."""
    rng = random.Random(17)
    patterns = _patterns()
    for prefix in range(13_000, 20_000):
        head = str(prefix)
        assert len(head) == MOBILE_PREFIX_DIGITS
        verdict = _mobile_prefix_ok(head)
        for tail in ("000000", "999999", f"{rng.randrange(10**6):06d}"):
            number = head + tail
            assert patterns.only_mobile(number) == verdict, number
        try:  # 179xx… and 12xxx… start like carrier prefixes the library strips (then too short)
            number = phonenumbers.parse(head + f"{rng.randrange(10**6):06d}", "CN")
        except phonenumbers.NumberParseException:
            assert not verdict, head
            continue
        is_mobile = phonenumbers.is_valid_number(number) and \
            phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
        assert is_mobile == verdict, head
