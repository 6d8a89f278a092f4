"""Consultation over HTTP: send it, read the replies per window, the gateway's reply callback,
and the customer-facing page under ``/c/<token>`` (no API key: the signed link is the credential).

* ``POST /api/v1/plans/{id}/consultation`` (planner who owns the plan, or admin): the
  accounts to consult — or, in one call, the screening's ``consult`` list (``from_screening``,
  the default when no accounts are given) —, optional candidate windows (default: the plan's
  window), the reason and the channel. One transaction writes the consultation rows and one
  outbox message per customer (WeChat template message when the customer record has an
  openid, else an SMS). ``?dry_run=true`` runs it and rolls back: exactly what would be sent.
* ``GET /api/v1/plans/{id}/consultation`` (planner, dispatcher, analyst): replies
  aggregated per candidate window.
* ``POST /api/v1/consultation/replies`` (role ``gateway``: the messaging gateway's own key,
  which may do nothing else): a reply that came back over SMS or WeChat, named by the
  notice's idempotency key (WeChat ``client_msg_id``).
* ``GET /c/{token}`` the page (a refusal page, without any data, for an expired or altered
  link), ``GET /c/{token}/plan`` its data, ``POST /c/{token}/reply`` the customer's answer.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.datetimes import IsoAwareDateTime
from api.audit import audit
from api.auth import Principal, allow
from api.deps import SettingsDep, SnapshotDep
from api.jsonio import dumps
from api.routes.plans import READERS, actor, lifecycle, screening_rules, _plan_result, _read_plan
from api.settings import Settings
from gis.consultations import (
    ContactRow,
    WindowRow,
    consultation_by_key,
    get_consultation,
    plan_windows,
    record_reply,
    replies_of,
    round_of,
    start_consultation,
)
from gis.customer_records import SqlScreeningFacts
from gis.errors import GridAtlasError, InvalidInput
from gis.outbox import state_counts
from map_ui.assets import STATIC_DIR
from outage_impact.consultation import (
    Contact,
    LinkExpired,
    Reply,
    Window,
    area_names,
    check_reply,
    notice,
    sign_link,
    tally,
    verify_link,
    window_text,
)
from outage_impact.screening import screen_accounts

__all__ = ["router", "page_router", "CONSULT_DIR"]

router = APIRouter(prefix="/api/v1", tags=["consultation"])
page_router = APIRouter(include_in_schema=False)
CONSULT_DIR = STATIC_DIR / "consult"
PlanId = Annotated[int, Path(ge=1, le=2**31 - 1, description="plan id")]
_PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: IsoAwareDateTime
    end: IsoAwareDateTime


class ConsultationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "accounts": ["0300100017", "0300100001"], "reason": "10kV 线路检修",
        "windows": [{"start": "2026-12-01T09:00:00+08:00", "end": "2026-12-01T15:00:00+08:00"},
                    {"start": "2026-12-02T09:00:00+08:00", "end": "2026-12-02T15:00:00+08:00"}]},
        {"from_screening": True, "reason": "10kV 线路检修",
         "windows": [{"start": "2026-12-01T09:00:00+08:00", "end": "2026-12-01T15:00:00+08:00"}]}]})
    accounts: list[Annotated[str, Field(min_length=1, max_length=32)]] | None = Field(
        default=None, min_length=1, max_length=20_000,
        description="the customers to consult; leave out (or give from_screening=true) to consult the plan's "
                    "screening `consult` list as it stands now")
    from_screening: bool = Field(
        default=False, description="consult the customers the screening rules put on the `consult` list "
                                   "(GET …/screening); not together with accounts")
    windows: list[WindowIn] | None = Field(default=None, min_length=1, max_length=10,
                                           description="candidate windows, the first proposed; default: the plan's")
    reason: str = Field(min_length=1, max_length=200, description="the reason the customers are told")
    channel: Literal["auto", "sms"] = Field(
        default="auto", description="auto: WeChat when the customer record has an openid, else SMS; sms: SMS to all")


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reply: Literal["accept", "prefer_window", "object"]
    window: int | None = Field(default=None, ge=0, le=9, description="with prefer_window: the candidate's seq")
    reason: str | None = Field(default=None, max_length=500)


class GatewayReplyIn(ReplyIn):
    key: str = Field(min_length=1, max_length=128, description="the notice's idempotency key (WeChat client_msg_id)")


class WindowOut(BaseModel):
    seq: int
    start: str
    end: str
    accept: int
    prefer_other: int
    object: int


class ScreeningCounts(BaseModel):
    consult: int
    notify: int
    phone: int


class ConsultationSent(BaseModel):
    plan_id: int
    dry_run: bool = False
    consulted: int
    already_consulted: list[str]
    messages: dict[str, int]
    windows: list[WindowOut]
    screening: ScreeningCounts | None = Field(
        default=None, description="with from_screening: the list sizes of the screening that chose the customers")


class ConsultationState(BaseModel):
    plan_id: int
    status: str
    reason: str | None
    area_names: list[str]
    consulted: int
    replied: int
    by_reply: dict[str, int]
    windows: list[WindowOut]
    objections: list[dict[str, str | None]]
    messages: dict[str, int]


class ReplyOut(BaseModel):
    consultation: int
    plan_id: int
    reply: str
    window: int | None
    replied_at: str


# ------------------------------------------------------------------ helpers
def _windows(rows: list[WindowRow]) -> list[Window]:
    return [Window(w.seq, w.start, w.end) for w in rows]


def _window_json(windows: list[Window], counts: dict[int, dict[str, int]]) -> list[dict]:
    return [{"seq": w.seq, "start": w.start.isoformat(), "end": w.end.isoformat(), **counts[w.seq]} for w in windows]


_DIGITS = re.compile(r"\d{5,}")


def _mask_digits(text: str | None) -> str | None:
    """Long digit runs (phones, account and ID numbers) in a customer's free text, masked for roles without PII."""
    return None if text is None else _DIGITS.sub(lambda m: m.group()[:2] + "*" * (len(m.group()) - 2), text)


def _reply_json(record) -> dict:
    return {"consultation": record.id, "plan_id": record.plan_id, "reply": record.reply,
            "window": record.preferred_window, "replied_at": record.replied_at.isoformat()}


def _who(request: Request, settings: Settings, body: ConsultationIn, affected) -> tuple[list[str], object | None]:
    """The accounts to consult: the body's list, or the screening's ``consult`` list (one call for a client)."""
    if body.accounts is not None:
        if body.from_screening:
            raise InvalidInput("give either accounts or from_screening=true, not both", field="from_screening",
                               value=True)
        return list(body.accounts), None
    screened = screen_accounts(affected, SqlScreeningFacts(request.app.state.engine), screening_rules(settings),
                               now=dt.datetime.now(dt.timezone.utc))
    accounts = screened.accounts("consult")
    if not accounts:
        raise InvalidInput(f"the screening puts nobody on the consult list (notify {screened.count('notify')}, "
                           f"phone {screened.count('phone')}): nothing to send", field="from_screening", value=True)
    return accounts, screened


# ------------------------------------------------------------------ planner routes
@router.post("/plans/{plan_id}/consultation", summary="Consult customers about a plan's window(s) (notices via the outbox)",
             responses={200: {"model": ConsultationSent},
                        409: {"description": "the plan is not consulting, or other windows were consulted on"}})
def send(request: Request, snapshot: SnapshotDep, settings: SettingsDep, plan_id: PlanId,
         body: Annotated[ConsultationIn, Body()], principal: Annotated[Principal, allow("planner")],
         dry_run: Annotated[bool, Query(description="check and count only: the same transaction, rolled back "
                                                    "(what the map's confirmation shows)")] = False) -> Response:
    plan = _read_plan(request, plan_id)
    lifecycle(request).check_may_change(actor(principal), plan)
    result = _plan_result(request, settings, snapshot, plan)
    accounts, screened = _who(request, settings, body, result.customers)
    transformers = snapshot.assets.transformers
    names = dict(zip(transformers["id"], transformers["name"]))
    area = area_names(result.by_transformer, names)
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=settings.consult_link_ttl_h)
    tz = ZoneInfo(settings.local_timezone)
    base = settings.public_base_url.rstrip("/")

    def make(contacts: list[ContactRow], windows: list[WindowRow]):
        ws = _windows(windows)
        openid = (lambda c: None if body.channel == "sms" else c.wechat_openid)
        return [notice(Contact(c.account_no, c.phone, c.phone_alt, openid(c)), plan_id=plan.id,
                       title=plan.title, windows=ws, area=area, reason=body.reason,
                       link=f"{base}/c/{sign_link(settings.secret_key, c.consultation_id, expires)}",
                       template_id=settings.wechat_template_id, sms_signature=settings.sms_signature, tz=tz)
                for c in contacts]

    windows = None if body.windows is None else [(w.start, w.end) for w in body.windows]
    started = start_consultation(request.app.state.engine, plan_id, accounts=accounts, windows=windows,
                                 reason=body.reason, area_names=area, sent_by=principal.actor, expires_at=expires,
                                 make_messages=make, channel=body.channel, dry_run=dry_run)
    if not dry_run:
        audit(request, principal, "consultation.send", "plan", plan_id,
              {"consulted": started.consulted, "already": len(started.already), **started.messages,
               "from_screening": screened is not None, "channel": body.channel})
    ws = _windows(started.windows)
    out = {"plan_id": plan_id, "dry_run": dry_run, "consulted": started.consulted, "already_consulted": started.already,
           "messages": started.messages, "windows": _window_json(ws, tally(ws, [])),
           "screening": None if screened is None else screened.counts()}
    return Response(dumps(out), media_type="application/json")


@router.get("/plans/{plan_id}/consultation", summary="Replies to a plan's consultation, aggregated per candidate window",
            responses={200: {"model": ConsultationState}})
def state(request: Request, plan_id: PlanId, principal: Annotated[Principal, allow(*READERS)]) -> Response:
    with request.app.state.engine.connect() as conn:
        info = round_of(conn, plan_id)
        records = replies_of(conn, plan_id)
        windows = _windows(plan_windows(conn, plan_id))
        messages = state_counts(conn, plan_id=plan_id)
    status = _read_plan(request, plan_id).status if info is None else info["status"]
    counts = tally(windows, [Reply(r.account_no, r.reply, r.preferred_window) for r in records])
    by_reply = {k: sum(1 for r in records if r.reply == k) for k in ("accept", "prefer_window", "object")}
    objections = [{"account_no": r.account_no,
                   "reason": r.reason if principal.sees_pii else _mask_digits(r.reason)}
                  for r in records if r.reply == "object"]
    out = {"plan_id": plan_id, "status": status, "reason": info["reason"] if info else None,
           "area_names": info["area_names"] if info else [], "consulted": len(records),
           "replied": sum(by_reply.values()), "by_reply": by_reply, "windows": _window_json(windows, counts),
           "objections": objections, "messages": messages}
    return Response(dumps(out), media_type="application/json")


def _store_reply(request: Request, consultation_id: int, body: ReplyIn, via: str):
    with request.app.state.engine.connect() as conn:
        record = get_consultation(conn, consultation_id)
        windows = _windows(plan_windows(conn, record.plan_id))
    check_reply(body.reply, body.window, body.reason, windows)
    return record_reply(request.app.state.engine, consultation_id, reply=body.reply, preferred_window=body.window,
                        reason=body.reason, via=via)


@router.post("/consultation/replies", summary="A customer's reply relayed by the messaging gateway (role gateway)",
             responses={200: {"model": ReplyOut}, 409: {"description": "the consultation is closed"}})
def gateway_reply(request: Request, body: Annotated[GatewayReplyIn, Body()],
                  principal: Annotated[Principal, allow("gateway")]) -> Response:
    with request.app.state.engine.connect() as conn:
        record = consultation_by_key(conn, body.key)
    stored = _store_reply(request, record.id, body, "gateway")
    audit(request, principal, "consultation.reply", "plan", stored.plan_id,
          {"consultation": stored.id, "reply": stored.reply, "via": "gateway"})
    return Response(dumps(_reply_json(stored)), media_type="application/json")


# ------------------------------------------------------------------ the customer's page (no key)
def _consultation_id(settings: Settings, token: str) -> int:
    return verify_link(settings.secret_key, token)


@page_router.get("/c/{token}")
def page(settings: SettingsDep, token: Annotated[str, Path(max_length=200)]) -> Response:
    try:
        _consultation_id(settings, token)
    except GridAtlasError as exc:
        name = "expired.html" if isinstance(exc, LinkExpired) else "invalid.html"
        return HTMLResponse((CONSULT_DIR / name).read_text(encoding="utf-8"), status_code=exc.status,
                            headers=_PAGE_HEADERS)
    return FileResponse(CONSULT_DIR / "index.html", media_type="text/html", headers=_PAGE_HEADERS)


@page_router.get("/c/{token}/plan")
def page_data(request: Request, settings: SettingsDep, token: Annotated[str, Path(max_length=200)]) -> Response:
    consultation_id = _consultation_id(settings, token)
    tz = ZoneInfo(settings.local_timezone)
    with request.app.state.engine.connect() as conn:
        record = get_consultation(conn, consultation_id)
        info = round_of(conn, record.plan_id) or {}
        windows = _windows(plan_windows(conn, record.plan_id))
    out = {"title": info.get("title"), "reason": info.get("reason"), "area_names": info.get("area_names", []),
           "open": info.get("status") == "consulting",
           "windows": [{"seq": w.seq, "text": window_text(w, tz), "start": w.start.isoformat(),
                        "end": w.end.isoformat()} for w in windows],
           "reply": None if record.reply is None else {"reply": record.reply, "window": record.preferred_window,
                                                        "reason": record.reason}}
    return Response(dumps(out), media_type="application/json", headers=_PAGE_HEADERS)


@page_router.post("/c/{token}/reply")
def page_reply(request: Request, settings: SettingsDep, token: Annotated[str, Path(max_length=200)],
               body: Annotated[ReplyIn, Body()]) -> Response:
    stored = _store_reply(request, _consultation_id(settings, token), body, "page")
    return Response(dumps(_reply_json(stored)), media_type="application/json", headers=_PAGE_HEADERS)
