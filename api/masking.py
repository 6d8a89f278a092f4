"""Server-side masking of customers' personal data, by the caller's role.

Phones keep their first three and last four digits (138****1234) so a dispatcher's
colleague can still confirm "the number ending 1234"; ID numbers keep the region prefix
and the last four characters; addresses keep the street but hide every digit (house,
building and room numbers). Roles in :data:`api.auth.PII_ROLES` see the values unmasked.
Exports additionally mask names (张*伟: first and last character kept) for the roles the
``export_masking`` setting says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["mask_phone", "mask_id_number", "mask_address", "mask_name", "mask_customer", "mask_history_entry",
           "PII_FIELDS"]

#: Customer fields that hold personal data, and how each is masked.
PII_FIELDS = ("phone", "phone_alt", "id_number", "address", "wechat_openid")

_DIGIT = re.compile(r"\d")


def mask_phone(value: str | None) -> str | None:
    if not value:
        return value
    digits = re.sub(r"\D", "", value)
    if len(digits) == 13 and digits.startswith("86"):  # +86 country code
        digits = digits[2:]
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(value: str | None) -> str | None:
    if not value:
        return value
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_address(value: str | None) -> str | None:
    return _DIGIT.sub("*", value) if value else value


def mask_name(value: str | None) -> str | None:
    """张*伟: the first and last character kept, the ones between hidden (张* for two, * for one)."""
    if not value:
        return value
    if len(value) <= 2:
        return value[0] + "*" if len(value) == 2 else "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def _mask_openid(value: str | None) -> str | None:
    return (value[:4] + "…") if value else value


_MASKS = {
    "phone": mask_phone,
    "phone_alt": mask_phone,
    "id_number": mask_id_number,
    "address": mask_address,
    "wechat_openid": _mask_openid,
}


def mask_customer(record: Mapping[str, Any], *, sees_pii: bool) -> dict[str, Any]:
    """A copy of ``record`` with its PII fields masked unless ``sees_pii``."""
    out = dict(record)
    if not sees_pii:
        for name, mask in _MASKS.items():
            if name in out:
                out[name] = mask(out[name])
    return out


def mask_history_entry(entry: Mapping[str, Any], *, sees_pii: bool, shows_contact: bool) -> dict[str, Any]:
    """A contact-history entry as a role may see it (issue 18).

    The old and new values are masked like the fields themselves; a role whose view has no
    contact panel sees which fields changed but no values; the free-text note (it may hold a
    number or an address) only for roles that see personal data.
    """
    out = dict(entry)
    changes = {}
    for name, change in (entry.get("changes") or {}).items():
        if not shows_contact:
            changes[name] = {}
        elif sees_pii or name not in _MASKS:
            changes[name] = dict(change)
        else:
            changes[name] = {k: _MASKS[name](v) for k, v in change.items()}
    out["changes"] = changes
    if not sees_pii:
        out["note"] = None
    return out
