"""The unified customer view and its field finder (roles: dispatcher, agent, planner, analyst)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.audit import audit
from api.auth import Principal, allow
from api.customer_view import customer_view, view_fields
from api.datetimes import IsoDateTime
from api.deps import ConnDep, SettingsDep, SnapshotDep
from api.jsonio import dumps
from api.masking import PII_FIELDS
from api.outputs import CustomerViewOut, FieldsOut
from gis.errors import InvalidInput

router = APIRouter(prefix="/api/v1", tags=["customers"])

AccountNo = Annotated[str, Path(min_length=1, max_length=32, description="户号 account number")]
AsOf = Annotated[IsoDateTime | None, Query(description="evaluate 'now' at this time (ISO 8601 with offset); default: now")]


def _audit_pii(request: Request, principal: Principal, account_no: str, view: dict,
               action_detail: str) -> None:
    """Record a read of the customer's personal data when it was shown unmasked (names of fields only)."""
    contact = view.get("contact") or {}
    unmasked = sorted(k for k in PII_FIELDS if contact.get(k) is not None)
    if principal.sees_pii and unmasked:
        audit(request, principal, "customer.pii_read", "customer", account_no,
              {"unmasked": unmasked, "via": action_detail})


def _now(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return dt.datetime.now(dt.timezone.utc)
    if at.tzinfo is None:
        raise InvalidInput("at must carry a time zone offset, e.g. 2026-10-31T12:00:00+08:00", field="at", value=at.isoformat())
    return at


@router.get("/customers/{account_no}", summary="Unified customer view: profile, supply path, outages, contacts, emotion",
            responses={200: {"model": CustomerViewOut}})
def get_customer(request: Request, conn: ConnDep, snapshot: SnapshotDep, settings: SettingsDep,
                 principal: Annotated[Principal, allow("dispatcher", "agent", "planner", "analyst")],
                 account_no: AccountNo, at: AsOf = None) -> Response:
    view = customer_view(conn, snapshot, request.app.state.customer_views, settings, principal, account_no, _now(at))
    _audit_pii(request, principal, account_no, view, "customer view")
    return Response(dumps(view), media_type="application/json")


@router.get("/customers/{account_no}/fields", summary="Field finder: the customer's fields matching a word (容量, capacity…)",
            responses={200: {"model": FieldsOut}})
def find_customer_fields(request: Request, conn: ConnDep, snapshot: SnapshotDep, settings: SettingsDep,
                         principal: Annotated[Principal, allow("dispatcher", "agent", "planner", "analyst")],
                         account_no: AccountNo,
                         q: Annotated[str, Query(min_length=1, max_length=50, description="a word, Chinese or English")],
                         at: AsOf = None) -> Response:
    view = customer_view(conn, snapshot, request.app.state.customer_views, settings, principal, account_no, _now(at))
    fields = view_fields(view, q)
    if any(f["field"] in PII_FIELDS for f in fields):
        _audit_pii(request, principal, account_no, view, "field finder")
    return Response(dumps({"account_no": account_no, "query": q, "count": len(fields), "data": fields}),
                    media_type="application/json")
