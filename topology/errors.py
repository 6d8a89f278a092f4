"""Errors raised by the topology package (subclasses of the one GridAtlas family)."""

from __future__ import annotations

from gis.errors import NotFound

__all__ = ["UnknownElement"]


class UnknownElement(NotFound):
    """An id that names no element of the given kind(s) in the compiled data version."""

    code = "unknown-element"

    def __init__(self, kind: str, element_id: object, *, field: str | None = None) -> None:
        super().__init__(f"unknown {kind} {element_id!r}", field=field or kind, value=element_id)
        self.kind = kind
        self.element_id = element_id
