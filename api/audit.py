"""Recording audit events from routes, and the admin's audit listing.

Routes call :func:`audit` (coroutine routes :func:`audit_async`) after the action succeeded;
it returns once the event is committed. A route whose event must commit with its change calls
:func:`gis.audit.record_event` inside its own transaction instead. The principal supplies who
and in which role; the token never reaches the trail, and ``details`` say what was done, never
the personal data itself (record ``{"unmasked": ["phone", "address"]}``, not the phone number).

Actions in use: ``customer.pii_read`` (object_kind "customer", object_id the 户号),
``customer.pii_lookup`` (a masked role's search matched a phone or address: which fields and accounts),
``export`` (object_kind e.g. "plan"/"impact", details format and row count), ``import``,
``plan.create`` / ``plan.update`` / ``plan.status`` / ``plan.delete`` (object_kind "plan"),
``key.create`` / ``key.revoke`` (command line).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.auth import Principal, allow
from api.datetimes import IsoDateTime
from api.deps import ConnDep, SettingsDep
from api.limits import page_size
from api.outputs import AuditPage
from gis.audit import query_events

__all__ = ["audit", "audit_async", "router"]


def audit(
    request: Request,
    principal: Principal,
    action: str,
    object_kind: str,
    object_id: str | int | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one event for ``principal`` and return once it is committed.

    The app's :class:`gis.audit.AuditWriter` commits it (group commit, its own connection),
    so a route may call this while holding the request's connection.
    """
    request.app.state.audit.record(**_fields(principal, action, object_kind, object_id, details))


async def audit_async(
    request: Request,
    principal: Principal,
    action: str,
    object_kind: str,
    object_id: str | int | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """:func:`audit` for coroutine routes: awaits the commit on the writer's own loop."""
    await request.app.state.audit.record_async(**_fields(principal, action, object_kind, object_id, details))


def _fields(principal: Principal, action: str, object_kind: str, object_id: str | int | None,
            details: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(actor=principal.actor, role=principal.role, action=action, object_kind=object_kind,
                object_id=None if object_id is None else str(object_id), details=details)


router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get(
    "/audit",
    summary="The audit trail: PII reads, exports, plan changes, alert actions (newest first)",
    description="Append-only: the store refuses to change or delete an event. Filters combine with AND.",
    response_model=None,
    responses={200: {"model": AuditPage, "content": {"application/json": {"example": {
        "data": [{"id": 17, "actor": "95598-gateway (1a2b3c4d)", "role": "agent", "action": "customer.pii_read",
                  "object_kind": "customer", "object_id": "0300100042", "at": "2026-11-23T09:12:03.120000+00:00",
                  "details": {"unmasked": ["phone", "address"]}}],
        "count": 1,
        "links": [{"rel": "self", "href": "/api/v1/audit?action=customer.pii_read&limit=1"},
                  {"rel": "next", "href": "/api/v1/audit?action=customer.pii_read&limit=1&offset=1"}],
    }}}}},
)
def list_audit(
    request: Request,
    conn: ConnDep,
    settings: SettingsDep,
    principal: Annotated[Principal, allow()],
    actor: Annotated[str | None, Query(max_length=100, description="key name and prefix, e.g. `95598-gateway (1a2b3c4d)`")] = None,
    action: Annotated[str | None, Query(max_length=64, examples=["customer.pii_read"])] = None,
    object_kind: Annotated[str | None, Query(max_length=32, examples=["customer"])] = None,
    object_id: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[IsoDateTime | None, Query(description="inclusive, ISO 8601 (without a zone: UTC)")] = None,
    until: Annotated[IsoDateTime | None, Query(description="exclusive, ISO 8601 (without a zone: UTC)")] = None,
    limit: Annotated[int | None, Query(ge=1, description="page size (bounded by the server maximum)")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    size = page_size(limit, settings)
    events = query_events(conn, actor=actor, action=action, object_kind=object_kind, object_id=object_id,
                          since=since, until=until, limit=size + 1, offset=offset)
    links = [{"rel": "self", "href": str(request.url)}]
    if len(events) > size:
        events = events[:size]
        links.append({"rel": "next", "href": str(request.url.include_query_params(offset=offset + size, limit=size))})
    for event in events:
        event["at"] = event["at"].isoformat() if event["at"] is not None else None
    return {"data": events, "count": len(events), "links": links}
