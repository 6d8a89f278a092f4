"""Fast JSON encoding for large payloads (orjson, numpy-aware)."""

from __future__ import annotations

import orjson

__all__ = ["dumps"]


def dumps(obj: object) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
