"""Confirm and correct a customer's contact at a touchpoint, with its history (issue 18).

``GET /api/v1/customers/{account_no}/contact`` gives the contact with its ``ETag``;
``PATCH`` the same path with ``If-Match: <that ETag>`` confirms it (``{"confirm": true}``) or
changes phones, WeChat binding, address text or name spelling, naming the ``touchpoint``.
A change another touchpoint (or an import) made since the read gets 412, never a silent
overwrite; without ``If-Match`` 428. Phones are validated and normalized as the loaders do
(:func:`loaders.checks.normalize_phone`). The change, its history entry, its audit event and
the customer's search rows commit together; the worker's in-memory caller index follows at
once, the other workers' within ``contact_follow_interval_s``.

Which roles may change contacts is ``Settings.contact_editor_roles``: the router is built per
app from the settings, so each route's declared roles are the configured ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.audit import audit
from api.auth import Principal, allow, authenticate
from api.customer_view import stale_rules
from api.deps import ConnDep, SettingsDep
from api.masking import PII_FIELDS, mask_customer, mask_history_entry
from api.settings import Settings
from gis.audit import record_event
from gis.contacts import CONTACT_FIELDS, ContactState, change_contact, parse_etag, read_contact, read_history, stale_fields
from gis.errors import InvalidInput
from gis.events import publish
from loaders.checks import normalize_phone

__all__ = ["build_router", "ContactPatch", "normalize_changes", "CONTACTS_CHANNEL"]

#: The event channel a contact change is published on; each worker's caller index follows it.
CONTACTS_CHANNEL = "contacts"

AccountNo = Annotated[str, Path(min_length=1, max_length=32, description="户号 account number")]
Touchpoint = Literal["call_centre", "counter", "field", "wechat", "import"]
_READERS = ("dispatcher", "agent", "planner", "analyst")


class ContactPatch(BaseModel):
    """A confirmation and/or correction. Fields left out are unchanged; ``null`` clears one (not the name)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"touchpoint": "call_centre", "confirm": True},
        {"touchpoint": "counter", "phone": "139 0000 1234", "note": "客户到营业厅更正手机号"},
    ]})

    touchpoint: Touchpoint = Field(description="where the customer was met: call_centre, counter, field, wechat, import")
    confirm: bool = Field(default=False, description="the customer confirmed the (resulting) contact: sets the verification date")
    note: str | None = Field(default=None, max_length=1000)
    name: str | None = Field(default=None, max_length=200, description="户名 spelling")
    address: str | None = Field(default=None, max_length=500, description="用电地址 text")
    phone: str | None = Field(default=None, max_length=40, description="a Chinese mobile or landline; separators and +86 are stripped")
    phone_alt: str | None = Field(default=None, max_length=40)
    wechat_openid: str | None = Field(default=None, max_length=64, description="the WeChat OpenID binding")


class FieldSource(BaseModel):
    source: str = Field(description="the touchpoint that set the value, or import")
    changed_at: str | None
    verified_at: str | None


class StaleField(BaseModel):
    field: str
    days: int | None = Field(description="days since verified; null: never")
    max_days: int


class HistoryEntry(BaseModel):
    id: int
    account_no: str
    at: str
    actor: str
    role: str
    touchpoint: str
    confirmed: bool
    changes: dict[str, dict[str, str | None]] = Field(description="field -> {old, new}, masked like the field; {} when the role sees no contact values")
    note: str | None
    version: int


class ContactOut(BaseModel):
    account_no: str
    etag: str = Field(description="send as If-Match to change this contact")
    version: int
    contact: dict[str, str | None] | None = Field(description="the values, masked by role; null for roles without the contact panel")
    verified_on: str | None = Field(description="the record's verification date (核实日期)")
    sources: dict[str, FieldSource]
    stale: list[StaleField] = Field(description="the fields to confirm under the configured rules")
    change: HistoryEntry | None = Field(default=None, description="the history entry a PATCH wrote")


class HistoryPage(BaseModel):
    account_no: str
    count: int
    data: list[HistoryEntry]


def normalize_changes(body: ContactPatch) -> dict[str, str | None]:
    """The contact fields the body changes, phones normalized as the loaders do; 422 naming a bad one."""
    changes: dict[str, str | None] = {}
    for name in CONTACT_FIELDS:
        if name not in body.model_fields_set:
            continue
        value = getattr(body, name)
        if name in ("phone", "phone_alt") and value is not None:
            parsed = normalize_phone(value)
            if isinstance(parsed, tuple):
                raise InvalidInput(f"{name}: {parsed[1]}", field=name, value=value)
            value = parsed
        changes[name] = value
    return changes


def _shows_contact(settings: Settings, principal: Principal) -> bool:
    return principal.role == "admin" or "contact" in settings.customer_view_panels.get(principal.role, ())


def _out(state: ContactState, settings: Settings, principal: Principal, now: dt.datetime,
         change: dict[str, Any] | None = None) -> dict[str, Any]:
    shows = _shows_contact(settings, principal)
    values = mask_customer(state.values, sees_pii=principal.sees_pii) if shows else None
    return {
        "account_no": state.account_no, "etag": state.etag, "version": state.version, "contact": values,
        "verified_on": state.verified_on.isoformat() if state.verified_on else None, "sources": state.sources(),
        "stale": stale_fields(state, stale_rules(settings), now),
        "change": mask_history_entry(change, sees_pii=principal.sees_pii, shows_contact=shows) if change else None,
    }


def _audit_read(request: Request, principal: Principal, account_no: str, values: dict[str, Any] | None,
                via: str) -> None:
    """Record a read of personal data shown unmasked (field names only)."""
    unmasked = sorted(k for k in PII_FIELDS if values and values.get(k) is not None)
    if principal.sees_pii and unmasked:
        audit(request, principal, "customer.pii_read", "customer", account_no, {"unmasked": unmasked, "via": via})


def build_router(settings: Settings) -> APIRouter:
    """The contact routes, admitting ``settings.contact_editor_roles`` to change contacts."""
    router = APIRouter(prefix="/api/v1", tags=["customers"])
    editors = allow(*settings.contact_editor_roles)

    @router.get("/customers/{account_no}/contact", response_model=ContactOut,
                summary="A customer's contact with its ETag, where each value came from, and the fields to confirm")
    def get_contact(request: Request, conn: ConnDep, settings: SettingsDep,
                    principal: Annotated[Principal, allow(*_READERS)], account_no: AccountNo) -> JSONResponse:
        state = read_contact(conn, account_no)
        body = ContactOut.model_validate(_out(state, settings, principal, dt.datetime.now(dt.timezone.utc)))
        _audit_read(request, principal, account_no, body.contact, "contact")
        return JSONResponse(body.model_dump(mode="json"), headers={"ETag": state.etag})

    @router.patch(
        "/customers/{account_no}/contact", response_model=ContactOut,
        summary="Confirm or correct a customer's contact at a touchpoint (needs If-Match)",
        description="Body: `{\"touchpoint\": \"call_centre\", \"confirm\": true}` to confirm unchanged, or the fields "
                    "to change (phone, phone_alt, wechat_openid, address, name) with an optional note. The response "
                    "carries the new ETag. Search finds the new number at once and no longer the old one.",
        responses={412: {"description": "the contact changed since it was read (or If-Match is malformed)"},
                   428: {"description": "If-Match is missing"}},
        dependencies=[editors])  # the configured roles (a closure: not resolvable from an annotation)
    def patch_contact(request: Request, settings: SettingsDep, principal: Annotated[Principal, Depends(authenticate)],
                      account_no: AccountNo, body: Annotated[ContactPatch, Body()],
                      if_match: Annotated[str | None, Header(description='the ETag read, e.g. "3.1a2b3c4d"')] = None,
                      ) -> JSONResponse:
        expected = parse_etag(if_match)
        changes = normalize_changes(body)
        now = dt.datetime.now(dt.timezone.utc)
        with request.app.state.engine.begin() as conn:  # the change, its history, its audit event: one commit
            state, entry = change_contact(conn, account_no, if_match=expected, changes=changes, confirm=body.confirm,
                                          touchpoint=body.touchpoint, actor=principal.actor, role=principal.role,
                                          now=now, note=body.note)
            record_event(conn, actor=principal.actor, role=principal.role, action="customer.contact_change",
                         object_kind="customer", object_id=account_no,
                         details={"fields": sorted(entry["changes"]), "confirmed": entry["confirmed"],
                                  "touchpoint": body.touchpoint, "version": entry["version"], "history_id": entry["id"]})
            # every worker's caller index follows on this event (an internal channel, not offered to maps)
            publish(conn, CONTACTS_CHANNEL, {"account_no": account_no, "history_id": entry["id"]})
        request.app.state.topology.follow_contacts()  # this worker's caller index answers the new values now
        out = ContactOut.model_validate(_out(state, settings, principal, now, entry))
        return JSONResponse(out.model_dump(mode="json"), headers={"ETag": state.etag})

    @router.get("/customers/{account_no}/contact/history", response_model=HistoryPage,
                summary="Every confirmation and correction of a customer's contact, newest first (masked by role)")
    def contact_history(request: Request, conn: ConnDep, settings: SettingsDep, principal: Annotated[Principal, allow(*_READERS)],
                        account_no: AccountNo,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
        read_contact(conn, account_no)  # 404 for an unknown customer
        shows = _shows_contact(settings, principal)
        data = [mask_history_entry(e, sees_pii=principal.sees_pii, shows_contact=shows)
                for e in read_history(conn, account_no, limit=limit, offset=offset)]
        values = {k: True for e in data for k, v in e["changes"].items() if v}
        _audit_read(request, principal, account_no, values, "contact history")
        return {"account_no": account_no, "count": len(data), "data": data}

    return router
