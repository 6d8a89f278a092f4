"""The one exception family of GridAtlas.

Domain code raises subclasses of :class:`GridAtlasError` that name the offending field,
row and value; only ``api/`` turns them into HTTP problem+json responses (by ``status``).
"""

from __future__ import annotations

__all__ = [
    "GridAtlasError",
    "NotAuthenticated",
    "PermissionDenied",
    "NotFound",
    "Conflict",
    "PreconditionFailed",
    "PreconditionRequired",
    "InvalidInput",
    "MalformedInput",
    "StoreUnavailable",
    "StoreBusy",
    "PayloadTooLarge",
    "RateLimited",
]


class GridAtlasError(Exception):
    """Base of every domain error; api/ maps subclasses to HTTP statuses."""

    status = 400  # hint for the API mapping
    code = "gridatlas-error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: object = None,
        row: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value
        self.row = row

    def to_dict(self) -> dict[str, object]:
        """Machine-readable form: detail plus whichever of field/value/row are known."""
        out: dict[str, object] = {"detail": self.message}
        for key in ("field", "value", "row"):
            val = getattr(self, key)
            if val is not None:
                out[key] = val if isinstance(val, (int, float, str, bool)) else str(val)
        return out


class NotAuthenticated(GridAtlasError):
    """No credentials, or credentials that match no active API key."""

    status = 401
    code = "not-authenticated"


class PermissionDenied(GridAtlasError):
    """Authenticated, but the caller's role may not do this."""

    status = 403
    code = "forbidden"


class NotFound(GridAtlasError):
    status = 404
    code = "not-found"


class Conflict(GridAtlasError):
    status = 409
    code = "conflict"


class PreconditionFailed(Conflict):
    """The object changed since the client read it (a stale ``If-Match`` version): nothing was written."""

    status = 412
    code = "precondition-failed"


class PreconditionRequired(GridAtlasError):
    """A change that must name the version it was based on (``If-Match``) did not."""

    status = 428
    code = "precondition-required"


class InvalidInput(GridAtlasError):
    status = 422
    code = "invalid-input"


class MalformedInput(GridAtlasError):
    """A request body that cannot be parsed at all (e.g. XML that is not well-formed)."""

    status = 400
    code = "malformed"


class StoreUnavailable(GridAtlasError):
    """The configured store cannot be reached or lacks a required extension."""

    status = 503
    code = "store-unavailable"


class StoreBusy(StoreUnavailable):
    """The store stayed locked by another writer (a SQLite load) for longer than the wait allowed."""

    code = "store-busy"

    def __init__(self, message: str, *, retry_after: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLarge(GridAtlasError):
    """A request body larger than the server accepts."""

    status = 413
    code = "payload-too-large"


class RateLimited(GridAtlasError):
    """The caller made more requests than its rate allows; ``retry_after`` seconds until the next."""

    status = 429
    code = "rate-limited"

    def __init__(self, message: str, *, retry_after: float, field: str | None = None, value: object = None) -> None:
        super().__init__(message, field=field, value=value)
        self.retry_after = retry_after
