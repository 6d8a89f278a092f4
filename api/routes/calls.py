"""Incoming calls (来电弹屏, issue 18): the telephony system announces, the agent's map opens the caller.

``POST /api/v1/calls/incoming`` (role ``telephony`` only) takes ``{caller_number, agent_id,
call_id}`` (+ optional ``caller_address``), resolves the caller, stores the call and publishes
an event to the agent's map. ``agent_id`` is the *name* of the API key the agent's map signs
in with (``gridatlas keys create --role agent --name <agent id>``). ``GET /api/v1/calls/{id}``
gives the agent the call with the customer or candidates (masked by role; an agent sees only
the calls offered to them); ``POST /api/v1/calls/{id}/close`` records it as an interaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.audit import audit
from api.auth import Principal, allow
from api.customer_view import stale_rules
from api.deps import ConnDep, SettingsDep
from api.masking import mask_customer, mask_phone
from api.interactions_io import screeners_for
from api.settings import Settings
from gis.audit import record_event
from gis.calls import KeyRules, agent_exists, close_call, read_call, record_call, resolve_caller
from gis.contacts import read_contact, stale_fields
from gis.customer_records import read_customer
from gis.errors import InvalidInput, PermissionDenied
from gis.events import publish
from interactions.ingest import ingest_interactions
from loaders.checks import normalize_phone

__all__ = ["router", "IncomingCall", "CloseCall", "key_rules", "CALLS_CHANNEL"]


def _ingest_one(request: Request, settings: Settings):
    """The closed call's interaction goes through the one ingest: placed, rolled up and screened."""
    screeners = screeners_for(settings, request.app.state.alert_screener)

    def write(conn, record: dict) -> None:
        result = ingest_interactions(conn, [record], service_area=settings.service_area, screeners=screeners)
        if result.rejects:
            problem = result.rejects[0]
            raise InvalidInput(f"the call cannot be recorded: {problem.reason}", field=problem.field, value=problem.value)
    return write

#: The event-bus channel incoming calls are published on (target ``name:<agent_id>``).
CALLS_CHANNEL = "calls"
_CALL_ID = r"^[A-Za-z0-9._:-]{1,59}$"
_SHOWN = ("account_no", "name", "address", "phone", "phone_alt", "category", "sensitivity", "transformer_id",
          "meter_box_id", "lon", "lat", "location_quality")

router = APIRouter(prefix="/api/v1", tags=["calls"])
CallId = Annotated[str, Path(pattern=_CALL_ID, description="the telephony system's call id")]


class IncomingCall(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"caller_number": "13812345678", "agent_id": "agent-07", "call_id": "c-20261206-0001"}]})

    caller_number: str = Field(min_length=1, max_length=40, description="the calling number as the switch shows it")
    agent_id: str = Field(min_length=1, max_length=100, description="the name of the agent's API key (its map signs in with it)")
    call_id: str = Field(pattern=_CALL_ID, description="the telephony system's id of this call")
    caller_address: str | None = Field(default=None, max_length=200,
                                       description="the address the caller gave (IVR / ASR), for suggestions when the number is unknown")


class CloseCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["咨询", "投诉", "报修", "意见", "表扬"] = Field(default="咨询", description="what the call was")
    text: str | None = Field(default=None, max_length=4000, description="the agent's summary")
    account_no: str | None = Field(default=None, min_length=1, max_length=32,
                                   description="the customer the caller turned out to be (a candidate, or for an unknown caller any)")


class CallAnnounced(BaseModel):
    call_id: str
    created: bool
    resolution: Literal["customer", "candidates", "unknown"]
    account_no: str | None
    candidate_count: int
    key_customer: bool
    flags: list[str]
    event_id: int | None = Field(default=None, description="the event published to the agent's map")


class CallOut(BaseModel):
    call_id: str
    status: str
    agent_id: str
    received_at: str
    caller_number: str | None = Field(description="masked for roles that do not see personal data")
    resolution: str
    key_customer: bool
    flags: list[str]
    customer: dict[str, Any] | None = Field(description="the resolved (or, once closed, identified) customer, masked by role")
    candidates: list[dict[str, Any]] = Field(description="customers sharing the number, or address suggestions for an unknown caller")
    stale: list[dict[str, Any]] = Field(description="contact fields of the customer to confirm")
    closed_at: str | None
    interaction_id: str | None


def key_rules(settings: Settings) -> KeyRules:
    return KeyRules(settings.key_customer_sensitivities, settings.key_customer_categories)


def _caller_digits(raw: str) -> str:
    parsed = normalize_phone(raw)
    if parsed is None or isinstance(parsed, tuple):
        reason = parsed[1] if isinstance(parsed, tuple) else "empty"
        raise InvalidInput(f"caller_number: {reason}", field="caller_number", value=raw)
    return parsed


def _publish(conn, call: dict[str, Any]) -> int:
    """Publish the call to its agent's map (the maps signed in with the key named ``agent_id``), in the
    call's transaction. References and non-personal flags only: the map fetches ``GET /calls/{id}``."""
    return publish(conn, CALLS_CHANNEL, {
        "call_id": call["call_id"], "resolution": call["resolution"], "account_no": call["account_no"],
        "candidate_count": len(call["candidates"]), "key_customer": bool(call["flags"]), "flags": call["flags"],
    }, target=f"name:{call['agent_id']}")


@router.post("/calls/incoming", status_code=201, response_model=CallAnnounced,
             summary="The telephony system announces a call ringing at an agent (来电弹屏)",
             responses={200: {"description": "the same call announced again: the stored call", "model": CallAnnounced},
                        409: {"description": "the call id was announced before with another number or agent"}})
def incoming_call(request: Request, settings: SettingsDep, principal: Annotated[Principal, allow("telephony")],
                  body: Annotated[IncomingCall, Body()]) -> JSONResponse:
    digits = _caller_digits(body.caller_number)
    snapshot = request.app.state.topology.snapshot
    index = snapshot.caller_index if snapshot is not None else None
    now = dt.datetime.now(dt.timezone.utc)
    with request.app.state.engine.begin() as conn:
        if not agent_exists(conn, body.agent_id):
            raise InvalidInput(f"agent_id: no active agent key is named {body.agent_id!r} (create it with "
                               "`gridatlas keys create --role agent --name <agent id>`)", field="agent_id", value=body.agent_id)
        resolution = resolve_caller(conn, digits, rules=key_rules(settings), index=index, address=body.caller_address)
        call, created = record_call(conn, call_id=body.call_id, caller_number=digits, agent_id=body.agent_id,
                                    resolution=resolution, caller_address=body.caller_address, now=now)
        event_id = _publish(conn, call) if created else None
        if created:
            record_event(conn, actor=principal.actor, role=principal.role, action="call.incoming", object_kind="call",
                         object_id=body.call_id, details={"agent_id": body.agent_id, "resolution": call["resolution"],
                                                          "candidates": len(call["candidates"])})
    out = CallAnnounced(call_id=call["call_id"], created=created, resolution=call["resolution"],
                        account_no=call["account_no"], candidate_count=len(call["candidates"]),
                        key_customer=bool(call["flags"]), flags=call["flags"], event_id=event_id)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


def _may_see(principal: Principal, call: dict[str, Any]) -> None:
    if principal.role == "agent" and call["agent_id"] != principal.name:
        raise PermissionDenied("this call was offered to another agent", field="call_id", value=call["call_id"])


def _shown(record: dict[str, Any] | None, principal: Principal) -> dict[str, Any] | None:
    if record is None:
        return None
    return mask_customer({k: record.get(k) for k in _SHOWN}, sees_pii=principal.sees_pii)


def _call_out(conn, call: dict[str, Any], principal: Principal, settings: Settings) -> dict[str, Any]:
    customer = read_customer(conn, call["account_no"]) if call["account_no"] else None
    stale = stale_fields(read_contact(conn, call["account_no"]), stale_rules(settings),
                         dt.datetime.now(dt.timezone.utc)) if customer else []
    candidates = [r for r in (read_customer(conn, a) for a in call["candidates"]) if r is not None]
    number = call["caller_number"] if principal.sees_pii else mask_phone(call["caller_number"])
    return {
        "call_id": call["call_id"], "status": call["status"], "agent_id": call["agent_id"],
        "received_at": call["received_at"].isoformat(), "caller_number": number, "resolution": call["resolution"],
        "key_customer": bool(call["flags"]), "flags": call["flags"], "customer": _shown(customer, principal),
        "candidates": [_shown(r, principal) for r in candidates], "stale": stale,
        "closed_at": call["closed_at"].isoformat() if call["closed_at"] else None,
        "interaction_id": call["interaction_id"],
    }


def _audit_shown(request: Request, principal: Principal, out: dict[str, Any]) -> None:
    shown = [r["account_no"] for r in ([out["customer"]] if out["customer"] else []) + out["candidates"]]
    if principal.sees_pii and shown:
        audit(request, principal, "customer.pii_read", "call", out["call_id"],
              {"unmasked": ["name", "phone", "address"], "accounts": shown})


@router.get("/calls/{call_id}", response_model=CallOut,
            summary="An incoming call with its customer, candidates or suggestions (the agent's pop-up)")
def get_call(request: Request, conn: ConnDep, settings: SettingsDep,
             principal: Annotated[Principal, allow("agent", "dispatcher")], call_id: CallId) -> dict[str, Any]:
    call = read_call(conn, call_id)
    _may_see(principal, call)
    out = _call_out(conn, call, principal, settings)
    _audit_shown(request, principal, out)
    return out


@router.post("/calls/{call_id}/close", response_model=CallOut,
             summary="Close a call: it is recorded as an interaction (a stale contact may have to be confirmed first)",
             responses={409: {"description": "closed already, or the contact must be confirmed first"}})
def close(request: Request, settings: SettingsDep, principal: Annotated[Principal, allow("agent", "dispatcher")],
          call_id: CallId, body: Annotated[CloseCall, Body()]) -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc)
    with request.app.state.engine.begin() as conn:
        call = read_call(conn, call_id)
        _may_see(principal, call)
        account = body.account_no or call["account_no"]
        stale = None
        if settings.calls_require_fresh_contact and account is not None:
            stale = stale_fields(read_contact(conn, account), stale_rules(settings), now)
        call = close_call(conn, call_id, actor=principal.actor, kind=body.kind, text_=body.text, account_no=body.account_no,
                          now=now, stale=stale, record_interaction=_ingest_one(request, settings))
        record_event(conn, actor=principal.actor, role=principal.role, action="call.close", object_kind="call",
                     object_id=call_id, details={"interaction_id": call["interaction_id"], "kind": body.kind})
        out = _call_out(conn, call, principal, settings)
    return out
