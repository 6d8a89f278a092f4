"""Date-time inputs of the API: ISO 8601 text within a range every computation can handle.

pydantic's lax ``datetime`` takes numbers as Unix times (``?window_to=0.5`` meant 1970), and a
far date with an offset (``0001-01-01T00:00:00+00:00`` minus a day, ``9999-12-31T23:59:59-01:00``
in UTC) overflows Python's datetime in later arithmetic: a 500. Every date-time parameter and
body field uses :data:`IsoDateTime` / :data:`IsoAwareDateTime`, so such values are a 422 naming
the field.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

__all__ = ["IsoDateTime", "IsoAwareDateTime", "EARLIEST", "LATEST"]

#: Accepted range (in UTC for values with an offset): far from datetime's limits on both sides.
EARLIEST = dt.datetime(1900, 1, 1)
LATEST = dt.datetime(9000, 1, 1)
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_START.match(value.strip()):
        raise ValueError("a date-time is ISO 8601 text such as 2026-12-01T09:00:00+08:00, not a number")
    return value


def _in_range(value: dt.datetime) -> dt.datetime:
    try:
        naive = value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    except OverflowError:
        naive = None
    if naive is None or not EARLIEST <= naive < LATEST:
        raise ValueError(f"a date-time must lie between {EARLIEST.year} and {LATEST.year} (UTC)")
    return value


IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_text), AfterValidator(_in_range)]
IsoAwareDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_range)]
