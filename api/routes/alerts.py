"""Sensitive-word alerts and the lexicon over HTTP.

Alerts: dispatchers, agents and analysts list and read them; dispatchers and agents move them
along ``new → acknowledged → resolved`` (with a note) or ``false_positive`` (409 naming from
and to otherwise). A message's text and the words highlighted in it are part of the
interaction text: only roles whose customer-view panels include ``interaction_texts``
(``GRIDATLAS_CUSTOMER_VIEW_PANELS``) get them; the others see category, severity, place and
counts. Every state change is audited in the transaction that makes it.

Lexicon: every role reads it; only an admin changes it (audited in the same transaction). A
change reaches every worker's matcher for the next message it screens.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, allow
from api.deps import ConnDep, SettingsDep
from api.limits import page_size
from api.settings import Settings
from gis import alerts_store
from gis.models import ALERT_STATES
from interactions import lexicon as lexicon_domain
from interactions.alerts import change_state

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["alerts"])

READERS = ("dispatcher", "agent", "analyst")
ACTORS = ("dispatcher", "agent")
AlertId = Annotated[int, Path(ge=1, le=2**31 - 1, description="alert id")]
Category = Literal["媒体曝光", "投诉升级", "人身安全", "群体事件", "监管投诉", "法律诉讼"]
Severity = Literal["low", "medium", "high"]


class Link(BaseModel):
    rel: str
    href: str


class AlertOut(BaseModel):
    id: int
    state: Literal["new", "acknowledged", "resolved", "false_positive"]
    category: str
    severity: str
    count: int = Field(description="messages folded into this alert")
    account_no: str | None
    transformer_id: str | None = Field(description="台区 (the customer's transformer)")
    feeder_id: str | None
    channel: str | None
    interaction_id: str = Field(description="the message that raised the alert")
    first_at: dt.datetime
    last_at: dt.datetime
    updated_at: dt.datetime
    state_by: str | None
    note: str | None


class AlertPage(BaseModel):
    data: list[AlertOut]
    count: int
    next: str | None = Field(description="the next page, or null")
    links: list[Link]


class Highlight(BaseModel):
    word: str
    category: str
    severity: str
    start: int = Field(description="offset of the first matched character in the text")
    end: int
    via: str


class AlertMessage(BaseModel):
    interaction_id: str
    occurred_at: dt.datetime
    channel: str | None
    kind: str | None
    text: str | None = Field(description="only for roles that see interaction texts")
    highlights: list[Highlight] | None = Field(description="only for roles that see interaction texts")
    words: int = Field(description="how many word occurrences the message held")


class AlertDetail(AlertOut):
    text_visible: bool
    messages: list[AlertMessage]


class EscalationOut(BaseModel):
    id: int
    transformer_id: str
    feeder_id: str | None
    hits: int
    window_start: dt.datetime
    window_end: dt.datetime
    raised_at: dt.datetime
    alert_ids: list[int]


class EscalationPage(BaseModel):
    data: list[EscalationOut]
    count: int
    next: str | None


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "已回访，客户表示理解"}]})
    note: str | None = Field(default=None, max_length=2000)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "已抢修复电并回访"}]})
    note: str = Field(min_length=1, max_length=2000, description="what was done")


def _page(request: Request, rows: list[dict[str, Any]], size: int, offset: int) -> tuple[list, str | None, list]:
    links = [{"rel": "self", "href": str(request.url)}]
    nxt = None
    if len(rows) > size:
        rows = rows[:size]
        nxt = str(request.url.include_query_params(offset=offset + size, limit=size))
        links.append({"rel": "next", "href": nxt})
    return rows, nxt, links


@router.get("/alerts", summary="Sensitive-word alerts, the most recent hit first (filters; paged with a next link)",
            response_model=AlertPage)
def list_alerts(
    request: Request, conn: ConnDep, settings: SettingsDep, _: Annotated[Principal, allow(*READERS)],
    state: Annotated[Literal["new", "acknowledged", "resolved", "false_positive"] | None,
                     Query(description="one of " + ", ".join(ALERT_STATES))] = None,
    category: Annotated[Category | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
    account_no: Annotated[str | None, Query(max_length=32)] = None,
    transformer_id: Annotated[str | None, Query(max_length=64, description="台区")] = None,
    feeder_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[dt.datetime | None, Query(description="last hit at or after (ISO 8601; no zone: UTC)")] = None,
    until: Annotated[dt.datetime | None, Query(description="last hit before")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> dict[str, Any]:
    size = page_size(limit, settings)
    rows = alerts_store.list_alerts(conn, limit=size + 1, offset=offset, since=since, until=until, state=state,
                                    category=category, severity=severity, account_no=account_no,
                                    transformer_id=transformer_id, feeder_id=feeder_id)
    rows, nxt, links = _page(request, rows, size, offset)
    return {"data": rows, "count": len(rows), "next": nxt, "links": links}


def _sees_texts(settings: Settings, principal: Principal) -> bool:
    return "interaction_texts" in settings.customer_view_panels.get(principal.role, ())


def _detail(conn, settings: Settings, principal: Principal, alert_id: int) -> dict[str, Any]:
    alert = alerts_store.get_alert(conn, alert_id)
    visible = _sees_texts(settings, principal)
    messages = []
    for hit in alerts_store.alert_hits(conn, alert_id):
        matches = list(hit["matches"] or [])
        messages.append({"interaction_id": hit["interaction_id"], "occurred_at": hit["occurred_at"],
                         "channel": hit["channel"], "kind": hit["kind"],
                         "text": hit["text"] if visible else None,
                         "highlights": matches if visible else None, "words": len(matches)})
    return {**alert, "text_visible": visible, "messages": messages}


@router.get("/alerts/escalations", summary="Escalations: at least N alert hits within the window in one 台区",
            response_model=EscalationPage)
def list_escalations(
    request: Request, conn: ConnDep, settings: SettingsDep, _: Annotated[Principal, allow(*READERS)],
    transformer_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> dict[str, Any]:
    size = page_size(limit, settings)
    rows = alerts_store.list_escalations(conn, limit=size + 1, offset=offset, transformer_id=transformer_id)
    rows, nxt, _links = _page(request, rows, size, offset)
    return {"data": rows, "count": len(rows), "next": nxt}


@router.get("/alerts/{alert_id}", summary="One alert with its messages (text and highlights only for roles that "
            "see interaction texts)", response_model=AlertDetail)
def read_alert(conn: ConnDep, settings: SettingsDep, alert_id: AlertId,
               principal: Annotated[Principal, allow(*READERS)]) -> dict[str, Any]:
    return _detail(conn, settings, principal, alert_id)


def _move(request: Request, settings: Settings, principal: Principal, alert_id: int, to: str,
          note: str | None) -> dict[str, Any]:
    engine = request.app.state.engine
    with engine.begin() as conn:
        change_state(conn, alert_id, to, actor=principal.actor, role=principal.role, note=note)
    with engine.connect() as conn:
        return _detail(conn, settings, principal, alert_id)


_CONFLICT = {409: {"description": "the alert's state does not allow this (names from and to)"}}


@router.post("/alerts/{alert_id}/ack", summary="Acknowledge a new alert", response_model=AlertDetail,
             responses=_CONFLICT)
def acknowledge(request: Request, settings: SettingsDep, alert_id: AlertId,
                principal: Annotated[Principal, allow(*ACTORS)],
                body: Annotated[NoteIn | None, Body()] = None) -> dict[str, Any]:
    return _move(request, settings, principal, alert_id, "acknowledged", body.note if body else None)


@router.post("/alerts/{alert_id}/resolve", summary="Resolve an acknowledged alert, saying what was done",
             response_model=AlertDetail, responses=_CONFLICT)
def resolve(request: Request, settings: SettingsDep, alert_id: AlertId, body: Annotated[ResolveIn, Body()],
            principal: Annotated[Principal, allow(*ACTORS)]) -> dict[str, Any]:
    return _move(request, settings, principal, alert_id, "resolved", body.note)


@router.post("/alerts/{alert_id}/false-positive", summary="Close a new or acknowledged alert as a false positive",
             response_model=AlertDetail, responses=_CONFLICT)
def false_positive(request: Request, settings: SettingsDep, alert_id: AlertId,
                   principal: Annotated[Principal, allow(*ACTORS)],
                   body: Annotated[NoteIn | None, Body()] = None) -> dict[str, Any]:
    return _move(request, settings, principal, alert_id, "false_positive", body.note if body else None)


# ------------------------------------------------------------------ lexicon
class LexiconItemOut(BaseModel):
    kind: Literal["word", "allow"]
    word: str
    category: str | None
    severity: str | None
    pinyin: bool
    source: Literal["default", "store"]


class LexiconOut(BaseModel):
    version: int
    data: list[LexiconItemOut]
    count: int


class WordIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"word": "找电视台", "category": "媒体曝光", "severity": "high", "pinyin": False}]})
    word: str = Field(min_length=1, max_length=100)
    category: Category
    severity: Severity
    pinyin: bool = Field(default=False, description="also match the word written in pinyin")


class PhraseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"phrase": "不投诉"}]})
    phrase: str = Field(min_length=1, max_length=100)


class VersionOut(BaseModel):
    version: int = Field(description="the lexicon version after the change")


@router.get("/lexicon", summary="The sensitive-word lexicon in effect: shipped words with the operators' changes",
            response_model=LexiconOut, tags=["lexicon"])
def read_lexicon(conn: ConnDep, _: Annotated[Principal, allow("dispatcher", "planner", "agent", "analyst")],
                 kind: Annotated[Literal["word", "allow"] | None, Query()] = None) -> dict[str, Any]:
    version, items = lexicon_domain.effective_lexicon(conn)
    data = [i.to_dict() for i in items if kind is None or i.kind == kind]
    return {"version": version, "data": data, "count": len(data)}


@router.post("/lexicon/words", summary="Add a word or change its category and severity (admin; audited)",
             response_model=VersionOut, tags=["lexicon"])
def add_word(request: Request, body: Annotated[WordIn, Body()], principal: Annotated[Principal, allow()]) -> dict:
    with request.app.state.engine.begin() as conn:
        version = lexicon_domain.add_word(conn, body.word, category=body.category, severity=body.severity,
                                          pinyin=body.pinyin, actor=principal.actor, role=principal.role)
    return {"version": version}


@router.delete("/lexicon/words/{word}", summary="Remove a word, shipped or added (admin; audited)",
               response_model=VersionOut, tags=["lexicon"])
def remove_word(request: Request, word: Annotated[str, Path(min_length=1, max_length=100)],
                principal: Annotated[Principal, allow()]) -> dict:
    with request.app.state.engine.begin() as conn:
        return {"version": lexicon_domain.remove_word(conn, word, actor=principal.actor, role=principal.role)}


@router.post("/lexicon/allow", summary="Add an allow-list phrase: its matches suppress the words inside (admin)",
             response_model=VersionOut, tags=["lexicon"])
def add_allow(request: Request, body: Annotated[PhraseIn, Body()], principal: Annotated[Principal, allow()]) -> dict:
    with request.app.state.engine.begin() as conn:
        return {"version": lexicon_domain.add_allow(conn, body.phrase, actor=principal.actor, role=principal.role)}


@router.delete("/lexicon/allow/{phrase}", summary="Remove an allow-list phrase (admin; audited)",
               response_model=VersionOut, tags=["lexicon"])
def remove_allow(request: Request, phrase: Annotated[str, Path(min_length=1, max_length=100)],
                 principal: Annotated[Principal, allow()]) -> dict:
    with request.app.state.engine.begin() as conn:
        return {"version": lexicon_domain.remove_allow(conn, phrase, actor=principal.actor, role=principal.role)}
