"""Switching plans over HTTP: create, read, list, update (If-Match), status changes, impact, exports.

Roles: planners create and change plans; dispatchers, analysts and planners read them and
their impact. Object-level rule: a planner changes only plans they created (``created_by``
is the caller's :attr:`api.auth.Principal.actor`, "key name (key prefix)"); admin changes
any. Approval follows the four-eyes practice of utility switching orders (编制 / 审批):
only an admin may approve (consulting → approved), and never a plan they created
themselves. Every change and every export is recorded with :func:`api.audit.audit`.

Concurrency: ``GET`` returns ``ETag: "<version>"``; ``PUT`` needs ``If-Match`` with that tag
(428 without it, 412 when the plan moved on), so no update is lost. Impact results name
the plan version and the data version they were computed on, and are cached per
(plan, plan version, data version).
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.audit import audit
from api.auth import Principal, allow
from api.datetimes import IsoAwareDateTime, IsoDateTime
from api.deps import ConnDep, SettingsDep, SnapshotDep
from api.exports import export_response
from api.impact_cache import ImpactCache
from api.jsonio import dumps
from api.limits import check_plan_size
from api.outputs import (CSV_BODY, FEATURE_COLLECTION, GEOJSON, XLSX, XLSX_BODY,
                         ExecutionOut, ImpactOut, PlanOut, PlanPage, ScreeningOut, TransitionsOut)
from api.settings import PLAN_STEPS_HARD_CAP, Settings
from api.state import GridSnapshot
from gis.customer_details import read_customer_details
from gis.consultations import plan_windows, round_of
from gis.customer_records import SqlScreeningFacts
from gis.errors import InvalidInput, PreconditionFailed, PreconditionRequired
from gis.models import PLAN_STATUSES
from gis.plans_store import PlanRecord, SqlPlanStore, get_plan, list_plans
from outage_impact import SwitchingPlan, plan_impact
from outage_impact.impact import ImpactResult
from outage_impact.consultation import Contact, Window, area_names, outage_notice
from outage_impact.lifecycle import Actor, Execution, ImpactSnapshot, Notices, PlanLifecycle
from outage_impact.screening import ScreeningRules, screen_accounts
from outage_impact.plan import Step, resolve_steps
from topology.errors import UnknownElement

__all__ = ["router", "PlanBody", "PlanStepIn", "StatusIn", "details_reader", "impact_page"]

router = APIRouter(prefix="/api/v1", tags=["switching plans"])

READERS = ("planner", "dispatcher", "analyst")
#: roles admitted to status changes (and admin); the plan resource's ``next_statuses`` is empty for the others.
MOVERS = ("planner",)
PlanId = Annotated[int, Path(ge=1, le=2**31 - 1, description="plan id")]


class PlanStepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["open", "close", "out_of_service", "in_service"]
    element: str = Field(min_length=1, max_length=64, description="switch id (open/close), segment or transformer id")


class PlanBody(BaseModel):
    """A stored plan: title, optional window (both or neither, with a time zone) and ordered steps."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "title": "季华路 10kV 检修", "window_start": "2026-12-01T09:00:00+08:00",
            "window_end": "2026-12-01T15:00:00+08:00",
            "steps": [{"action": "close", "element": "SW000010"}, {"action": "open", "element": "SW000003"}],
        }]},
    )
    title: str = Field(min_length=1, max_length=300)
    window_start: IsoAwareDateTime | None = Field(default=None, description="with a time zone, e.g. +08:00")
    window_end: IsoAwareDateTime | None = None
    steps: list[PlanStepIn] = Field(min_length=1, max_length=PLAN_STEPS_HARD_CAP)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "consulting"},
        {"status": "executed", "actual_start": "2026-12-01T09:05:00+08:00", "actual_end": "2026-12-01T14:40:00+08:00"},
    ]})
    status: Literal["draft", "consulting", "approved", "executed", "cancelled"]
    actual_start: IsoAwareDateTime | None = Field(default=None, description="executed only: when supply was cut")
    actual_end: IsoAwareDateTime | None = Field(default=None, description="executed only: when supply was restored")


class ExecutionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"actual_start": "2026-12-01T09:05:00+08:00", "actual_end": "2026-12-01T14:40:00+08:00"}]})
    actual_start: IsoAwareDateTime
    actual_end: IsoAwareDateTime


# ------------------------------------------------------------------ helpers
def _plan_json(plan: PlanRecord, principal: Principal) -> dict[str, Any]:
    """The plan resource as ``principal`` sees it: ``next_statuses`` are the moves this caller may make now."""
    iso = (lambda t: t.isoformat() if t is not None else None)
    nexts = PlanLifecycle.next_statuses(actor(principal), plan,
                                        may_move=principal.role in MOVERS or principal.role == "admin")
    return {"id": plan.id, "title": plan.title, "status": plan.status, "version": plan.version,
            "next_statuses": list(nexts),
            "window_start": iso(plan.window_start), "window_end": iso(plan.window_end),
            "created_by": plan.created_by, "created_at": iso(plan.created_at), "updated_at": iso(plan.updated_at),
            "steps": [{"action": a, "element": e} for a, e in plan.steps],
            "links": [{"rel": "self", "href": f"/api/v1/plans/{plan.id}"},
                      {"rel": "impact", "href": f"/api/v1/plans/{plan.id}/impact"}]}


def _etag(plan: PlanRecord) -> str:
    return f'"{plan.version}"'


def _plan_response(plan: PlanRecord, principal: Principal, status_code: int = 200) -> Response:
    headers = {"ETag": _etag(plan), "Vary": "Authorization"}
    if status_code == 201:
        headers["Location"] = f"/api/v1/plans/{plan.id}"
    return Response(dumps(_plan_json(plan, principal)), status_code=status_code, media_type="application/json", headers=headers)


_TAG = re.compile(r'^\s*(W/)?"(\d{1,9})"\s*$')


def _if_match(raw: str | None, *, required: bool) -> int | None:
    """The plan version an ``If-Match`` header names (``"3"``). RFC 9110 compares If-Match
    strongly: a weak tag (``W/"3"``) never matches, so it is a 412."""
    if raw is None:
        if required:
            raise PreconditionRequired('this change needs If-Match: "<version>" (the ETag of the plan you read)',
                                       field="If-Match")
        return None
    match = _TAG.match(raw)
    if match is None:
        if raw.strip() == "*":
            raise PreconditionRequired('If-Match: * names no version; send the ETag you read, e.g. If-Match: "3"',
                                       field="If-Match", value=raw)
        raise PreconditionFailed('If-Match must be one entity tag such as "3"', field="If-Match", value=raw)
    if match.group(1):
        raise PreconditionFailed('a weak entity tag never matches If-Match (RFC 9110 strong comparison); '
                                 'send the ETag as read, e.g. "3"', field="If-Match", value=raw)
    return int(match.group(2))


def _domain_plan(plan: PlanRecord | PlanBody, plan_id: int | None = None) -> SwitchingPlan:
    steps = plan.steps if isinstance(plan, PlanRecord) else [(s.action, s.element) for s in plan.steps]
    return SwitchingPlan(steps=tuple(Step(a, e) for a, e in steps), title=plan.title, plan_id=plan_id,
                         window_start=plan.window_start, window_end=plan.window_end, form="steps")


def _check_against_grid(body: PlanBody, snapshot: GridSnapshot) -> SwitchingPlan:
    """Parse the body as a plan; check every step names an element of the served data version and
    that the steps can be carried out in order."""
    plan = _domain_plan(body)
    try:
        resolve_steps(plan, snapshot.index.has)
    except UnknownElement as exc:
        raise InvalidInput(f"{exc.field.replace('.element', '')}: {exc.message} in data version {snapshot.version}",
                           field=exc.field, value=exc.value) from exc
    # Every step must also be possible in sequence (no closing a closed switch, no paralleling
    # two sources): a stored plan is one the engine can evaluate. InvalidStep / LoopBetweenSources
    # are 422s naming the step.
    plan_impact(snapshot.index, plan)
    return plan


def _read_plan(request: Request, plan_id: int) -> PlanRecord:
    """Read a plan on a connection released at once: a request never holds two pooled connections."""
    with request.app.state.engine.connect() as conn:
        return get_plan(conn, plan_id)


def lifecycle(request: Request) -> PlanLifecycle:
    """The plan workflow over the app's store (the rules live in :mod:`outage_impact.lifecycle`)."""
    return PlanLifecycle(SqlPlanStore(request.app.state.engine))


def actor(principal: Principal) -> Actor:
    return Actor(principal.actor, principal.role)


def _execution(start, end) -> Execution | None:
    if start is None and end is None:
        return None
    if start is None or end is None:
        missing = "actual_start" if start is None else "actual_end"
        raise InvalidInput("give both actual_start and actual_end (or neither)", field=missing)
    return Execution(start, end)


def snapshot_impact(request: Request, settings: Settings, snapshot: GridSnapshot):
    """``plan -> ImpactSnapshot`` on the served data version (through the impact cache)."""
    def impact(plan: PlanRecord) -> ImpactSnapshot:
        return ImpactSnapshot.of(_plan_result(request, settings, snapshot, plan), snapshot.version)
    return impact


def details_reader(request: Request):
    """account_nos -> contact details, one short-lived connection per chunk (not held while streaming)."""
    engine = request.app.state.engine

    def read(accounts):
        with engine.connect() as conn:
            return read_customer_details(conn, accounts)
    return read


def _cache(request: Request, settings: Settings) -> ImpactCache:
    state = request.app.state
    cache = getattr(state, "plan_impacts", None)
    if cache is None:  # created on first use: one per app (a racing duplicate only costs a miss)
        cache = state.plan_impacts = ImpactCache(settings.plan_impact_cache_size)
    return cache


def _page_size(limit: int | None, settings: Settings) -> int:
    size = limit or settings.default_page_size
    if size > settings.max_page_size:
        raise InvalidInput(f"limit must be at most {settings.max_page_size}", field="limit", value=size)
    return size


def impact_page(request: Request, result: ImpactResult, *, limit: int, offset: int, steps: bool,
                area: bool = True, method: str = "GET") -> dict[str, Any]:
    """Summary of ``result`` plus one page of its (sorted) customers and a next link."""
    body = result.summary(steps=steps, area=area)
    body["customers"] = result.customer_page(offset, limit)
    nxt = offset + len(body["customers"])
    body["page"] = {"offset": offset, "limit": limit, "returned": len(body["customers"]), "total": result.count}
    links = [{"rel": "self", "href": str(request.url), "method": method}]
    if nxt < result.count:
        links.append({"rel": "next", "href": str(request.url.include_query_params(offset=nxt, limit=limit)),
                      "method": method})
    body["links"] = links
    return body


def _plan_result(request: Request, settings: Settings, snapshot: GridSnapshot, plan: PlanRecord) -> ImpactResult:
    key = (plan.id, plan.version, snapshot.version)
    return _cache(request, settings).get(key, lambda: plan_impact(snapshot.index, _domain_plan(plan, plan.id)))


# ------------------------------------------------------------------ routes
@router.post("/plans", status_code=201, summary="Create a switching plan (draft, version 1)",
             response_description="the stored plan; ETag carries its version",
             responses={201: {"model": PlanOut, "headers": {"ETag": {"description": 'the plan version, e.g. "1"'}}}})
def create(request: Request, snapshot: SnapshotDep, settings: SettingsDep, body: Annotated[PlanBody, Body()],
           principal: Annotated[Principal, allow("planner")]) -> Response:
    check_plan_size(len(body.steps), settings)
    _check_against_grid(body, snapshot)
    plan = lifecycle(request).create(actor(principal), title=body.title, window_start=body.window_start,
                                     window_end=body.window_end, steps=[(s.action, s.element) for s in body.steps])
    audit(request, principal, "plan.create", "plan", plan.id, {"version": plan.version, "steps": len(plan.steps)})
    return _plan_response(plan, principal, 201)


@router.get("/plans", summary="List switching plans (filters; paged with a next link)",
            responses={200: {"model": PlanPage}})
def list_(request: Request, conn: ConnDep, settings: SettingsDep, principal: Annotated[Principal, allow(*READERS)],
          status: Annotated[Literal["draft", "consulting", "approved", "executed", "cancelled"] | None,
                            Query(description="one of " + ", ".join(PLAN_STATUSES))] = None,
          created_by: Annotated[str | None, Query(max_length=100)] = None,
          window_from: Annotated[IsoDateTime | None, Query(description="plans whose window ends after this")] = None,
          window_to: Annotated[IsoDateTime | None, Query(description="plans whose window starts before this")] = None,
          limit: Annotated[int | None, Query(ge=1)] = None,
          offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> Response:
    size = _page_size(limit, settings)
    page = list_plans(conn, status=status, created_by=created_by, window_from=window_from, window_to=window_to,
                      limit=size, offset=offset)
    links = [{"rel": "self", "href": str(request.url)}]
    if page.next_offset is not None:
        links.append({"rel": "next", "href": str(request.url.include_query_params(offset=page.next_offset, limit=size))})
    body = {"data": [_plan_json(p, principal) for p in page.items], "count": page.total, "links": links}
    return Response(dumps(body), media_type="application/json")


@router.get("/plans/{plan_id}",
            summary="One switching plan with its steps and the statuses the caller may move it to; ETag = its version",
            responses={200: {"model": PlanOut}})
def read(conn: ConnDep, plan_id: PlanId, principal: Annotated[Principal, allow(*READERS)]) -> Response:
    return _plan_response(get_plan(conn, plan_id), principal)


@router.put("/plans/{plan_id}", summary="Replace title, window and steps (needs If-Match)",
            responses={200: {"model": PlanOut},
                       412: {"description": "the plan changed since it was read"},
                       428: {"description": "If-Match is missing"}})
def replace(request: Request, snapshot: SnapshotDep, settings: SettingsDep, plan_id: PlanId,
            body: Annotated[PlanBody, Body()], principal: Annotated[Principal, allow("planner")],
            if_match: Annotated[str | None, Header(description='the ETag read, e.g. "3"')] = None) -> Response:
    expected = _if_match(if_match, required=True)
    service = lifecycle(request)
    service.check_may_change(actor(principal), service.get(plan_id))
    check_plan_size(len(body.steps), settings)
    _check_against_grid(body, snapshot)
    plan = service.update(actor(principal), plan_id, expected_version=expected, title=body.title,
                          window_start=body.window_start, window_end=body.window_end,
                          steps=[(s.action, s.element) for s in body.steps])
    audit(request, principal, "plan.update", "plan", plan_id, {"from_version": expected, "version": plan.version})
    return _plan_response(plan, principal)


@router.post("/plans/{plan_id}/status", summary="Move a plan along draft → consulting → approved → executed / cancelled",
             responses={200: {"model": PlanOut},
                        409: {"description": "the transition is not allowed from the current status"},
                        412: {"description": "If-Match is given and does not match the plan's version"},
                        428: {"description": "If-Match: * names no version"}})
def set_status(request: Request, snapshot: SnapshotDep, settings: SettingsDep, plan_id: PlanId,
               body: Annotated[StatusIn, Body()], principal: Annotated[Principal, allow(*MOVERS)],
               if_match: Annotated[str | None, Header(description="optional: the ETag read")] = None) -> Response:
    expected = _if_match(if_match, required=False)
    plan = lifecycle(request).change_status(
        actor(principal), plan_id, body.status, expected_version=expected,
        impact=snapshot_impact(request, settings, snapshot), execution=_execution(body.actual_start, body.actual_end),
        notices=approval_notices(request, settings, snapshot))
    return _plan_response(plan, principal)


def approval_notices(request: Request, settings: Settings, snapshot: GridSnapshot):
    """``(plan, impact snapshot) -> Notices``: the outage notices an approval sends.

    Why at approval and not with the consultation: the window is only final once the plan is
    approved (replies may move it, an alternative may be adopted), and a utility must tell every
    affected customer of a planned outage in advance (供电营业规则: seven days before) — a notice
    sent with the consultation could announce a window that never happens. So the approval
    tells every affected customer who is not on the screening's call-by-phone list (they get a
    call from a person), by WeChat, else SMS to a mobile number, the approved window (the plan's,
    else its first candidate window). Keys ``notice-<plan>-<account>`` keep it idempotent.
    """
    engine = request.app.state.engine

    def build(plan: PlanRecord, impact: ImpactSnapshot) -> Notices:
        with engine.connect() as conn:
            windows = plan_windows(conn, plan.id)
            info = round_of(conn, plan.id)
        if plan.window_start is not None and plan.window_end is not None:
            window = Window(0, plan.window_start, plan.window_end)
        elif windows:
            window = Window(windows[0].seq, windows[0].start, windows[0].end)
        else:
            return Notices(skipped="the plan has neither a window nor candidate windows: no time to announce")
        if not impact.customers:
            return Notices(skipped="nobody is affected")
        screened = screen_accounts(impact.customers, SqlScreeningFacts(engine), screening_rules(settings),
                                   now=dt.datetime.now(dt.timezone.utc))
        by_phone = set(screened.accounts("phone"))
        transformers = snapshot.assets.transformers
        names = dict(zip(transformers["id"], transformers["name"]))
        area = area_names({k: v for k, v in impact.by_transformer.items() if k != "null"}, names)
        reason = (info or {}).get("reason") or plan.title
        tz = ZoneInfo(settings.local_timezone)

        def make(contacts) -> list:
            out = []
            for account_no, phone, phone_alt, openid in contacts:
                message = outage_notice(Contact(account_no, phone, phone_alt, openid), plan_id=plan.id,
                                        title=plan.title, window=window, area=area, reason=reason,
                                        template_id=settings.wechat_notice_template_id,
                                        sms_signature=settings.sms_signature, tz=tz)
                if message is not None:
                    out.append(message)
            return out

        return Notices(accounts=tuple(a for a in impact.customers if a not in by_phone), make=make)

    return build


@router.put("/plans/{plan_id}/execution", summary="Record an executed plan's actual start and end (idempotent)",
            response_model=None,
            responses={409: {"description": "the plan is not executed, or its execution was recorded with other times"},
                       200: {"model": ExecutionOut, "content": {"application/json": {"example": {"plan_id": 7, "outage_id": "plan-7",
                                                                          "records_written": 24}}}}})
def record_execution(request: Request, plan_id: PlanId, body: Annotated[ExecutionIn, Body()],
                     principal: Annotated[Principal, allow("planner")]) -> dict[str, Any]:
    written = lifecycle(request).record_execution(actor(principal), plan_id, Execution(body.actual_start,
                                                                                        body.actual_end))
    return {"plan_id": plan_id, "outage_id": f"plan-{plan_id}", "records_written": written}


@router.get("/plans/{plan_id}/transitions", summary="A plan's status changes with their impact snapshots",
            dependencies=[allow(*READERS)], response_model=None,
            responses={200: {"model": TransitionsOut, "content": {"application/json": {"example": {"data": [{
                "plan_version": 2, "from_status": "draft", "to_status": "consulting", "actor": "ops (1a2b3c4d)",
                "role": "planner", "at": "2026-12-01T01:00:00+00:00", "data_version": 1, "affected_count": 24,
                "sensitive_count": 0, "customer_minutes": 8640.0, "groups": {"by_feeder": {"F01": 24}},
                "impact_error": None, "actual_start": None, "actual_end": None}]}}}}})
def transitions(request: Request, plan_id: PlanId) -> dict[str, Any]:
    return {"data": lifecycle(request).transitions(plan_id)}


@router.delete("/plans/{plan_id}", status_code=204, summary="Delete a draft plan (If-Match optional)",
               responses={412: {"description": "If-Match is given and does not match the plan's version"},
                          409: {"description": "the plan is not a draft"},
                          428: {"description": "If-Match: * names no version"}})
def remove(request: Request, plan_id: PlanId, principal: Annotated[Principal, allow("planner")],
           if_match: Annotated[str | None, Header()] = None) -> Response:
    expected = _if_match(if_match, required=False)
    lifecycle(request).delete(actor(principal), plan_id, expected_version=expected)
    audit(request, principal, "plan.delete", "plan", plan_id, {"version": expected})
    return Response(status_code=204)


@router.get("/plans/{plan_id}/impact", summary="Impact of a stored plan: summary and a page of customers",
            dependencies=[allow(*READERS)], responses={200: {"model": ImpactOut}})
def impact(request: Request, snapshot: SnapshotDep, settings: SettingsDep, plan_id: PlanId,
           limit: Annotated[int | None, Query(ge=1)] = None, offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
           steps: Annotated[bool, Query(description="include each step's counts")] = True,
           area: Annotated[bool, Query(description="include the outage area polygon for the map")] = True) -> Response:
    size = _page_size(limit, settings)
    plan = _read_plan(request, plan_id)
    result = _plan_result(request, settings, snapshot, plan)
    body = impact_page(request, result, limit=size, offset=offset, steps=steps, area=area)
    body.update(plan_id=plan.id, plan_version=plan.version, plan_status=plan.status, data_version=snapshot.version)
    body["links"] += [{"rel": f"export-{f}", "href": f"/api/v1/plans/{plan.id}/impact/customers.{f}"}
                      for f in ("csv", "xlsx", "geojson")]
    return Response(dumps(body), media_type="application/json",
                    headers={"ETag": f'"p{plan.version}-d{snapshot.version}"'})


@router.get(
    "/plans/{plan_id}/impact/customers.{fmt}",
    summary="The affected customers of a stored plan as CSV, XLSX or GeoJSON (streamed)",
    response_class=Response,
    responses={200: {"content": {"text/csv": CSV_BODY, GEOJSON: FEATURE_COLLECTION, XLSX: XLSX_BODY},
                     "description": "account_no, name, address, phone (masked unless the role sees PII), "
                                    "feeder_id, transformer_id (台区), meter_box_id, sensitivity, lon, lat "
                                    "(names masked and coordinates rounded for the roles GRIDATLAS_EXPORT_MASKING "
                                    "says: by default planner and analyst)"}},
)
def export(request: Request, snapshot: SnapshotDep, settings: SettingsDep, plan_id: PlanId,
           fmt: Literal["csv", "xlsx", "geojson"], principal: Annotated[Principal, allow(*READERS)]) -> Response:
    plan = _read_plan(request, plan_id)
    result = _plan_result(request, settings, snapshot, plan)
    audit(request, principal, "export", "plan", plan_id,
           {"format": fmt, "rows": result.count, "plan_version": plan.version, "data_version": snapshot.version,
            "pii": principal.sees_pii})
    meta = {"plan_id": plan.id, "plan_version": plan.version, "data_version": snapshot.version,
            "numberMatched": result.count}
    masking = settings.export_masking[principal.role]
    return export_response(result, fmt, details_reader(request), sees_pii=principal.sees_pii,
                           chunk_size=settings.export_chunk_size, filename=f"plan-{plan.id}-v{plan.version}-impact",
                           meta=meta,
                           mask_names=masking.names, coordinate_decimals=masking.coordinate_decimals)


@router.get(
    "/plans/{plan_id}/report.html",
    summary="A static map report of the plan's impact: one self-contained HTML file (opens with no network)",
    description=(
        "Drawn with folium: the shaded outage area, the affected 台区 sized by customers out, the steps on the "
        "map, the sensitive customers, and the figures by feeder and 台区. Leaflet is inlined; nothing is "
        "loaded from the network. Holds account numbers and sensitivity classes, no contact details."
    ),
    response_class=Response,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                     "description": "the report, as an attachment named plan-<id>-v<version>-report.html"}},
)
def report(request: Request, snapshot: SnapshotDep, settings: SettingsDep, plan_id: PlanId,
           principal: Annotated[Principal, allow(*READERS)]) -> Response:
    from api.plan_report import build_plan_report
    from map_ui.report import plan_report_html

    plan = _read_plan(request, plan_id)
    result = _plan_result(request, settings, snapshot, plan)
    page = plan_report_html(build_plan_report(snapshot, plan, result))
    audit(request, principal, "export", "plan", plan_id,
          {"format": "html", "rows": result.count, "plan_version": plan.version, "data_version": snapshot.version})
    name = f"plan-{plan.id}-v{plan.version}-report.html"
    return Response(page, media_type="text/html; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def screening_rules(settings: Settings) -> ScreeningRules:
    """The screening rules the settings configure (``GRIDATLAS_SCREENING_*``)."""
    return ScreeningRules(phone_sensitivities=tuple(settings.screening_phone_sensitivities),
                          consult_sensitivities=tuple(settings.screening_consult_sensitivities),
                          big_kva=settings.screening_big_kva, repeat_count=settings.screening_repeat_count,
                          repeat_days=settings.screening_repeat_days,
                          complaint_days=settings.screening_complaint_days,
                          actions=dict(settings.screening_rule_actions))


@router.get("/plans/{plan_id}/screening",
            summary="The plan's affected customers screened by rules: to consult, to notify, to call",
            description="Each list sorted by account; `counts` are the whole lists' sizes. With `limit` (and "
                        "`offset`) each list holds that page only (the map pages them). No contact details: "
                        "channels and rules only.",
            dependencies=[allow(*READERS)],
            responses={200: {"model": ScreeningOut, "content": {"application/json": {"example": {
                "plan_id": 7, "plan_version": 2, "data_version": 1, "as_of": "2026-11-20T02:00:00+00:00",
                "counts": {"consult": 1, "notify": 1, "phone": 1},
                "consult": [{"account_no": "0300100420", "channel": "wechat", "rules": [
                    {"rule": "big_customer", "action": "consult", "reason": "contract 630 kVA ≥ 315 kVA"},
                    {"rule": "wechat", "action": "channel", "reason": "reachable by WeChat (openid on record)"}]}],
                "notify": [{"account_no": "0300100001", "channel": "sms", "rules": [
                    {"rule": "affected", "action": "notify", "reason": "in the plan's impact; no rule asks more"}]}],
                "phone": [{"account_no": "0300100777", "channel": None, "rules": [
                    {"rule": "sensitive_phone", "action": "phone", "reason": "sensitive customer: 医院"}]}],
                "rules": {"big_kva": 315.0}}}}}})
def screening(request: Request, snapshot: SnapshotDep, settings: SettingsDep, plan_id: PlanId,
              limit: Annotated[int | None, Query(ge=1, description="page size of each list (default: whole lists)")] = None,
              offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="first entry of each list's page")] = 0
              ) -> Response:
    if limit is not None:
        _page_size(limit, settings)
    plan = _read_plan(request, plan_id)
    result = _plan_result(request, settings, snapshot, plan)
    now = dt.datetime.now(dt.timezone.utc)
    screened = screen_accounts(result.customers, SqlScreeningFacts(request.app.state.engine),
                               screening_rules(settings), now=now)
    body = {"plan_id": plan.id, "plan_version": plan.version, "data_version": snapshot.version,
            **screened.to_dict(offset=offset, limit=limit)}
    return Response(dumps(body), media_type="application/json")
