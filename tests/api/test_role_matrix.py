"""The role × endpoint matrix, over real HTTP on both stores.

For every ``/api/v1`` route, :data:`SAMPLES` holds one representative valid request. Every
role (and an anonymous caller) sends it; the expected status comes from the route's own
``allow(...)`` (read from ``route.dependant``): 2xx for the roles it admits, 403 for the
others, 401 without a key. A route without a sample fails
:func:`test_every_route_has_a_sample`, so a new route cannot skip the matrix.

Adding a route: add ``SAMPLES[("METHOD", "/api/v1/path/{template}")] = Sample(...)``. A
request that needs an object first (a plan to update, its ETag) gets a ``prepare``
function: it receives an admin client and the caller's client and returns the request's fields (``path``,
``params``, ``json``, ``headers``), and runs once per caller, so each caller changes a
fresh object. Routes that return customers also get an entry in
:data:`CUSTOMER_ROUTES_FOR_MASKING`, which checks masking per role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd
import pytest

from api.app import create_app
from api.auth import PII_ROLES, route_is_signed, route_roles
from api.masking import PII_FIELDS, mask_customer
from api.settings import Settings
from fastapi.routing import iter_route_contexts
from gis.models import ROLES
from tests.conftest import SAMPLE_DIR

CUSTOMERS = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str)
FIRST = CUSTOMERS.iloc[0]
CALLERS = (*ROLES, "anonymous")


@dataclass(frozen=True)
class Sample:
    """One valid request for a route; ``prepare(admin_client)`` may supply fields at run time."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[httpx.Client, httpx.Client], dict[str, Any]] | None = None
    stream: bool = False  # an endless response (Server-Sent Events): only its status and headers are read

    def request(self, client: httpx.Client, admin: httpx.Client) -> httpx.Response:
        fields = {"path": self.path, "params": self.params, "json": self.json, "headers": self.headers, "files": None}
        if self.prepare is not None:
            fields.update(self.prepare(admin, client))
        if self.stream:
            with client.stream(self.method, fields["path"], params=fields["params"],
                               headers={**client.headers, **fields["headers"]}) as response:
                if response.status_code >= 300:
                    response.read()
                return response
        return client.request(self.method, fields["path"], params=fields["params"], json=fields["json"],
                              files=fields["files"], headers={**client.headers, **fields["headers"]})


FUSE = "SW000030"  # a fuse with 24 customers downstream in the sample city
PLAN = {"title": "矩阵测试", "window_start": "2026-12-01T09:00:00+08:00", "window_end": "2026-12-01T15:00:00+08:00",
        "steps": [{"action": "open", "element": FUSE}]}


def _own_plan(admin: httpx.Client, caller: httpx.Client) -> tuple[int, str]:
    """A fresh draft plan owned by the caller when the caller may create plans, else by the admin
    (object-level checks admit only a plan's owner and admins)."""
    r = caller.post("/api/v1/plans", json=PLAN)
    if r.status_code != 201:
        r = admin.post("/api/v1/plans", json=PLAN)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.headers["etag"]


def _plan_path(suffix: str = "") -> Callable[[httpx.Client, httpx.Client], dict[str, Any]]:
    def prepare(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
        plan_id, etag = _own_plan(admin, caller)
        return {"path": f"/api/v1/plans/{plan_id}{suffix}", "headers": {"If-Match": etag}}
    return prepare


def _upload(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
    """A two-customer archive (re-loading sample customers: an idempotent upsert)."""
    head = (SAMPLE_DIR / "customers.csv").read_text(encoding="utf-8").splitlines()[:3]
    return {"files": {"file": ("customers.csv", ("\n".join(head) + "\n").encode("utf-8"), "text/csv")}}


def _consulted_plan(admin: httpx.Client) -> int:
    """An admin's consulting plan with one customer consulted (one pending outbox message)."""
    plan_id, _ = _own_plan(admin, admin)
    assert admin.post(f"/api/v1/plans/{plan_id}/status", json={"status": "consulting"}).status_code == 200
    affected = admin.get(f"/api/v1/plans/{plan_id}/impact", params={"limit": 1, "area": "false"}).json()["customers"]
    r = admin.post(f"/api/v1/plans/{plan_id}/consultation", json={"accounts": affected, "reason": "检修"})
    assert r.status_code == 200, r.text
    return plan_id


def _consultation(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
    plan_id, _ = _own_plan(admin, caller)
    for client in (caller, admin):
        if client.post(f"/api/v1/plans/{plan_id}/status", json={"status": "consulting"}).status_code == 200:
            break
    affected = admin.get(f"/api/v1/plans/{plan_id}/impact", params={"limit": 1, "area": "false"}).json()["customers"]
    return {"path": f"/api/v1/plans/{plan_id}/consultation", "json": {"accounts": affected, "reason": "检修"}}


def _outbox_message(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
    plan_id = _consulted_plan(admin)
    message = admin.get("/api/v1/outbox", params={"plan_id": plan_id}).json()["data"][0]
    return {"path": f"/api/v1/outbox/{message['id']}/retry"}


def _gateway_reply(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
    plan_id = _consulted_plan(admin)
    message = admin.get("/api/v1/outbox", params={"plan_id": plan_id}).json()["data"][0]
    return {"json": {"key": message["idempotency_key"], "reply": "accept"}}


SECOND = CUSTOMERS.iloc[1]


def _contact_etag(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
    """The current ETag of SECOND's contact (each caller confirms it afresh)."""
    r = admin.get(f"/api/v1/customers/{SECOND.account_no}/contact")
    assert r.status_code == 200, r.text
    return {"headers": {"If-Match": r.headers["etag"]}}


def _call_body(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
    """A fresh call id ringing at the test agent (the key named test-agent)."""
    import uuid

    return {"json": {"caller_number": FIRST.phone, "agent_id": "test-agent", "call_id": f"m-{uuid.uuid4().hex[:12]}"}}


def _call_path(suffix: str = "") -> Callable[[httpx.Client, httpx.Client], dict[str, Any]]:
    def prepare(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
        body = _call_body(admin, caller)["json"]
        r = admin.post("/api/v1/calls/incoming", json=body)
        assert r.status_code == 201, r.text
        return {"path": f"/api/v1/calls/{body['call_id']}{suffix}"}
    return prepare
OUTAGE = {"outage_id": "MATRIX-1", "kind": "unplanned", "start": "2026-03-01T14:02:00+08:00",
          "end": "2026-03-01T15:10:00+08:00", "account_nos": [FIRST.account_no]}


def _outage_path(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
    assert admin.post("/api/v1/outages", json=OUTAGE).status_code in (200, 201)
    return {"path": f"/api/v1/outages/{OUTAGE['outage_id']}"}


def _executed_plan(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
    """An executed plan of the caller's own to record the execution of, made here whatever ran before.

    A planner creates and executes it and an admin approves it (four eyes: nobody approves their own
    plan); for an admin caller a planner of the store under test creates it, so the admin's sample
    does not depend on another role's run. Roles that may not record executions get the same path
    for an admin-made draft: the route refuses their role before reading the plan."""
    is_admin = caller.headers.get("authorization") == admin.headers["authorization"]
    if is_admin:
        with httpx.Client(base_url=admin.base_url, timeout=60,
                          headers={"Authorization": f"Bearer {_STORE['planner_key']}"}) as planner:
            return _execute(admin, planner)
    r = caller.post("/api/v1/plans", json=PLAN)
    if r.status_code != 201:
        return {"path": f"/api/v1/plans/{_own_plan(admin, caller)[0]}/execution"}
    return _execute(admin, caller, r.json()["id"])


def _execute(admin: httpx.Client, planner: httpx.Client, plan_id: int | None = None) -> dict[str, Any]:
    if plan_id is None:
        r = planner.post("/api/v1/plans", json=PLAN)
        assert r.status_code == 201, r.text
        plan_id = r.json()["id"]
    for status, who in (("consulting", planner), ("approved", admin), ("executed", planner)):
        moved = who.post(f"/api/v1/plans/{plan_id}/status", json={"status": status})
        assert moved.status_code == 200, moved.text
    return {"path": f"/api/v1/plans/{plan_id}/execution"}


def _interactions_upload(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
    body = ("id,account_no,channel,kind,occurred_at\n"
            f"MATRIX-F1,{FIRST.account_no},微信,投诉,2026-05-01T09:00:00+08:00\n").encode("utf-8")
    return {"files": {"file": ("interactions.csv", body, "text/csv")}}


HEAT_PARAMS = {"from": "2025-11-01", "to": "2026-10-31", "by": "transformer"}

_ALERTS = iter(range(10**6))
_STORE: dict[str, str] = {}  # the store of the server under test (set by each matrix test)


def make_alert(database_url: str, account_no: str = str(FIRST.account_no), text: str = "我要找记者曝光") -> int:
    """A fresh alert in the served store: a message screened as the ingest does it."""
    import datetime as dt

    from gis.db import make_engine
    from gis.wechat_store import record_interaction
    from interactions.alerts import AlertScreener
    from interactions.lexicon import LexiconCache

    engine = make_engine(database_url)
    try:
        row = {"id": f"matrix-{dt.datetime.now().timestamp()}-{next(_ALERTS)}", "account_no": account_no,
               "channel": "微信", "kind": "投诉", "text": text, "caller_phone": None,
               "occurred_at": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=next(_ALERTS))}
        with engine.begin() as conn:
            record_interaction(conn, row)
            return AlertScreener(LexiconCache())(conn, [row])[0].alert_id
    finally:
        engine.dispose()


def _alert_path(suffix: str = "", ack: bool = False) -> Callable[[httpx.Client, httpx.Client], dict[str, Any]]:
    def prepare(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
        alert_id = make_alert(_STORE["url"])
        if ack:
            assert admin.post(f"/api/v1/alerts/{alert_id}/ack").status_code == 200
        return {"path": f"/api/v1/alerts/{alert_id}{suffix}"}
    return prepare


def _lexicon_word(kind: str) -> Callable[[httpx.Client, httpx.Client], dict[str, Any]]:
    def prepare(admin: httpx.Client, caller: httpx.Client) -> dict[str, Any]:
        word = f"矩阵词{next(_ALERTS)}"
        if kind == "words":
            r = admin.post("/api/v1/lexicon/words", json={"word": word, "category": "媒体曝光", "severity": "low"})
        else:
            r = admin.post("/api/v1/lexicon/allow", json={"phrase": word})
        assert r.status_code == 200, r.text
        return {"path": f"/api/v1/lexicon/{kind}/{word}"}
    return prepare


#: One representative valid request per (method, route template). Other branches add theirs.
SAMPLES: dict[tuple[str, str], Sample] = {
    ("GET", "/api/v1/me"): Sample("GET", "/api/v1/me"),
    ("GET", "/api/v1/layers"): Sample("GET", "/api/v1/layers"),
    ("GET", "/api/v1/layers/{layer}"): Sample("GET", "/api/v1/layers/transformers", params={"limit": 5}),
    ("GET", "/api/v1/trace/{kind}/{element_id}/upstream"):
        Sample("GET", f"/api/v1/trace/customer/{FIRST.account_no}/upstream"),
    ("GET", "/api/v1/trace/{kind}/{element_id}/downstream"):
        Sample("GET", f"/api/v1/trace/transformer/{FIRST.transformer_id}/downstream"),
    ("GET", "/api/v1/customers/{account_no}/supply-area"):
        Sample("GET", f"/api/v1/customers/{FIRST.account_no}/supply-area"),
    ("GET", "/api/v1/validation"): Sample("GET", "/api/v1/validation", params={"limit": 10}),
    ("POST", "/api/v1/impact"): Sample("POST", "/api/v1/impact", params={"steps": "false"}, json={"open": ["SW000003"]}),
    ("POST", "/api/v1/isolation"): Sample("POST", "/api/v1/isolation", json={"element": "SEG000093", "max_alternatives": 2}),
    ("GET", "/api/v1/audit"): Sample("GET", "/api/v1/audit", params={"limit": 5}),
    # -- sensitive-word alerts, lexicon, trouble calls (issue 15)
    ("GET", "/api/v1/alerts"): Sample("GET", "/api/v1/alerts", params={"limit": 5}),
    ("GET", "/api/v1/alerts/escalations"): Sample("GET", "/api/v1/alerts/escalations", params={"limit": 5}),
    ("GET", "/api/v1/alerts/{alert_id}"): Sample("GET", "", prepare=_alert_path()),
    ("POST", "/api/v1/alerts/{alert_id}/ack"): Sample("POST", "", prepare=_alert_path("/ack")),
    ("POST", "/api/v1/alerts/{alert_id}/resolve"):
        Sample("POST", "", json={"note": "已回访"}, prepare=_alert_path("/resolve", ack=True)),
    ("POST", "/api/v1/alerts/{alert_id}/false-positive"): Sample("POST", "", prepare=_alert_path("/false-positive")),
    ("GET", "/api/v1/lexicon"): Sample("GET", "/api/v1/lexicon"),
    ("POST", "/api/v1/lexicon/words"):
        Sample("POST", "/api/v1/lexicon/words", json={"word": "矩阵测试词", "category": "媒体曝光", "severity": "low"}),
    ("DELETE", "/api/v1/lexicon/words/{word}"): Sample("DELETE", "", prepare=_lexicon_word("words")),
    ("POST", "/api/v1/lexicon/allow"): Sample("POST", "/api/v1/lexicon/allow", json={"phrase": "不是要投诉"}),
    ("DELETE", "/api/v1/lexicon/allow/{phrase}"): Sample("DELETE", "", prepare=_lexicon_word("allow")),
    ("GET", "/api/v1/trouble-calls"): Sample("GET", "/api/v1/trouble-calls", params={
        "from": "2026-01-01T00:00:00+08:00", "to": "2026-01-31T00:00:00+08:00"}),
    ("GET", "/api/v1/customers/{account_no}"): Sample("GET", f"/api/v1/customers/{FIRST.account_no}"),
    ("GET", "/api/v1/customers/{account_no}/fields"):
        Sample("GET", f"/api/v1/customers/{FIRST.account_no}/fields", params={"q": "容量"}),
    ("GET", "/api/v1/nearest"): Sample("GET", "/api/v1/nearest", params={"lon": FIRST.lon, "lat": FIRST.lat, "radius_m": 100}),
    ("GET", "/api/v1/viewport"): Sample("GET", "/api/v1/viewport", params={
        "bbox": f"{float(FIRST.lon) - 0.01},{float(FIRST.lat) - 0.01},{float(FIRST.lon) + 0.01},{float(FIRST.lat) + 0.01}",
        "zoom": 15}),
    ("GET", "/api/v1/events"): Sample("GET", "/api/v1/events", params={"channels": "alerts", "skip_refused": "true"},
                                      stream=True),
    ("GET", "/api/v1/search"): Sample("GET", "/api/v1/search", params={"q": FIRST.phone, "limit": 5}),
    ("GET", "/api/v1/tiles/grid/{z}/{x}/{y}"): Sample("GET", "/api/v1/tiles/grid/15/26680/14230"),
    ("GET", "/api/v1/tiles/grid512/{z}/{x}/{y}"): Sample("GET", "/api/v1/tiles/grid512/14/13340/7115"),
    ("GET", "/api/v1/tiles/grid"): Sample("GET", "/api/v1/tiles/grid"),
    ("POST", "/api/v1/tiles/grid/segments"): Sample("POST", "/api/v1/tiles/grid/segments", json={"ids": ["SEG000001"]}),
    ("POST", "/api/v1/imports/customers"): Sample("POST", "/api/v1/imports/customers", prepare=_upload),
    ("POST", "/api/v1/impact/export"):
        Sample("POST", "/api/v1/impact/export", params={"format": "csv"}, json={"open": [FUSE]}),
    ("POST", "/api/v1/plans"): Sample("POST", "/api/v1/plans", json=PLAN),
    ("GET", "/api/v1/plans"): Sample("GET", "/api/v1/plans", params={"limit": 5}),
    ("GET", "/api/v1/plans/{plan_id}"): Sample("GET", "", prepare=_plan_path()),
    ("PUT", "/api/v1/plans/{plan_id}"): Sample("PUT", "", json={**PLAN, "title": "改期"}, prepare=_plan_path()),
    ("DELETE", "/api/v1/plans/{plan_id}"): Sample("DELETE", "", prepare=_plan_path()),
    ("POST", "/api/v1/plans/{plan_id}/status"):
        Sample("POST", "", json={"status": "consulting"}, prepare=_plan_path("/status")),
    ("GET", "/api/v1/plans/{plan_id}/report.html"): Sample("GET", "", prepare=_plan_path("/report.html")),
    ("GET", "/api/v1/plans/{plan_id}/impact"): Sample("GET", "", params={"limit": 5}, prepare=_plan_path("/impact")),
    ("GET", "/api/v1/plans/{plan_id}/impact/customers.{fmt}"):
        Sample("GET", "", prepare=_plan_path("/impact/customers.csv")),
    # -- outbox and consultation (issue 16b)
    ("GET", "/api/v1/outbox"): Sample("GET", "/api/v1/outbox", params={"limit": 5}),
    ("POST", "/api/v1/outbox/{message_id}/retry"): Sample("POST", "", prepare=_outbox_message),
    ("POST", "/api/v1/plans/{plan_id}/consultation"): Sample("POST", "", prepare=_consultation),
    ("GET", "/api/v1/plans/{plan_id}/consultation"): Sample("GET", "", prepare=_plan_path("/consultation")),
    ("POST", "/api/v1/consultation/replies"): Sample("POST", "/api/v1/consultation/replies", prepare=_gateway_reply),
    ("PUT", "/api/v1/plans/{plan_id}/alternatives"): Sample(
        "PUT", "", json={"alternatives": [{"title": "改停", "steps": [{"action": "open", "element": "SW000044"}]}]},
        prepare=_plan_path("/alternatives")),
    ("PUT", "/api/v1/plans/{plan_id}/windows"): Sample(
        "PUT", "", json={"windows": [{"start": PLAN["window_start"], "end": PLAN["window_end"]}]},
        prepare=_plan_path("/windows")),
    ("GET", "/api/v1/plans/{plan_id}/alternatives"): Sample("GET", "", prepare=_plan_path("/alternatives")),
    ("GET", "/api/v1/plans/{plan_id}/recommendation"): Sample("GET", "", prepare=_plan_path("/recommendation")),
    # -- contacts (issue 18)
    ("GET", "/api/v1/customers/{account_no}/contact"): Sample("GET", f"/api/v1/customers/{SECOND.account_no}/contact"),
    ("PATCH", "/api/v1/customers/{account_no}/contact"):
        Sample("PATCH", f"/api/v1/customers/{SECOND.account_no}/contact", json={"touchpoint": "call_centre", "confirm": True},
               prepare=_contact_etag),
    ("GET", "/api/v1/customers/{account_no}/contact/history"):
        Sample("GET", f"/api/v1/customers/{SECOND.account_no}/contact/history"),
    ("GET", "/api/v1/data-quality"): Sample("GET", "/api/v1/data-quality", params={"limit": 5, "stalest": 3}),
    ("GET", "/api/v1/data-quality/viewport"): Sample("GET", "/api/v1/data-quality/viewport", params={
        "bbox": f"{float(FIRST.lon) - 0.01},{float(FIRST.lat) - 0.01},{float(FIRST.lon) + 0.01},{float(FIRST.lat) + 0.01}",
        "zoom": 15, "rule": "stale"}),
    ("POST", "/api/v1/calls/incoming"): Sample("POST", "/api/v1/calls/incoming", prepare=_call_body),
    ("GET", "/api/v1/calls/{call_id}"): Sample("GET", "", prepare=_call_path()),
    ("POST", "/api/v1/calls/{call_id}/close"): Sample("POST", "", json={"kind": "咨询"}, prepare=_call_path("/close")),
    # -- plan lifecycle, outages, reliability, screening (issue 16)
    ("GET", "/api/v1/plans/{plan_id}/transitions"): Sample("GET", "", prepare=_plan_path("/transitions")),
    ("GET", "/api/v1/plans/{plan_id}/screening"): Sample("GET", "", prepare=_plan_path("/screening")),
    ("PUT", "/api/v1/plans/{plan_id}/execution"):
        Sample("PUT", "", json={"actual_start": "2026-06-01T09:00:00+08:00", "actual_end": "2026-06-01T10:00:00+08:00"},
               prepare=_executed_plan),
    ("POST", "/api/v1/outages"): Sample("POST", "/api/v1/outages", json=OUTAGE),
    ("GET", "/api/v1/outages"): Sample("GET", "/api/v1/outages", params={"limit": 5}),
    ("GET", "/api/v1/outages/{outage_id}"): Sample("GET", "", prepare=_outage_path),
    ("GET", "/api/v1/reliability"): Sample("GET", "/api/v1/reliability", params={"from": "2026-01-01", "to": "2026-03-31"}),
    ("GET", "/api/v1/reliability.xlsx"):
        Sample("GET", "/api/v1/reliability.xlsx", params={"from": "2026-01-01", "to": "2026-03-31", "by": "feeder"}),
    # -- interactions and heat (issue 14)
    ("POST", "/api/v1/interactions"): Sample("POST", "/api/v1/interactions", json={
        "id": "MATRIX-1", "account_no": FIRST.account_no, "channel": "95598电话", "kind": "投诉",
        "occurred_at": "2026-05-01T09:00:00+08:00"}),
    ("POST", "/api/v1/imports/interactions"): Sample("POST", "/api/v1/imports/interactions", prepare=_interactions_upload),
    ("GET", "/api/v1/heat"): Sample("GET", "/api/v1/heat", params=HEAT_PARAMS),
    ("GET", "/api/v1/hotspots"): Sample("GET", "/api/v1/hotspots", params=HEAT_PARAMS),
    ("GET", "/api/v1/heat/vocabulary"): Sample("GET", "/api/v1/heat/vocabulary"),
    ("GET", "/api/v1/heat/areas/{by}/{area_id}/interactions"):
        Sample("GET", f"/api/v1/heat/areas/transformer/{FIRST.transformer_id}/interactions",
               params={"from": "2025-11-01", "to": "2026-10-31", "limit": 5}),
}


def _customers_of_layer(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [feature["properties"] for feature in body["features"]]


#: Hook for masking per role: name → (sample request, function extracting customer records
#: from the response body). Each record must carry ``account_no``. The routes that return
#: customers' personal data (customer view, search, nearest, impact lists) are added here at
#: merge; the customers layer is here now (it must carry no PII field for any role).
CUSTOMER_ROUTES_FOR_MASKING: dict[str, tuple[Sample, Callable[[Any], list[dict[str, Any]]]]] = {
    "customers layer": (Sample("GET", "/api/v1/layers/customers", params={"limit": 50}), _customers_of_layer),
    "search": (Sample("GET", "/api/v1/search", params={"q": FIRST.phone, "limit": 5}), lambda body: body["data"]),
    "customer view": (Sample("GET", f"/api/v1/customers/{FIRST.account_no}"),
                      lambda body: [{"account_no": body["account_no"], **(body.get("contact") or {})}]),
    "call": (Sample("GET", "", prepare=_call_path()), lambda body: [body["customer"]]),
    "contact": (Sample("GET", f"/api/v1/customers/{FIRST.account_no}/contact"),
                lambda body: [{"account_no": body["account_no"], **(body.get("contact") or {})}]),
}


def _route_table() -> dict[tuple[str, str], frozenset[str]]:
    app = create_app(Settings(database_url="sqlite:///unused-not-opened.sqlite"))
    table = {}
    for route in iter_route_contexts(app.routes):
        path = getattr(route, "path_format", None) or getattr(route, "path", "")
        if not path.startswith("/api/v1") or route_is_signed(route):  # platform callbacks: own tests
            continue
        for method in route.methods - {"HEAD", "OPTIONS"}:
            table[(method, path)] = route_roles(route)
    return table


ROUTES = _route_table()


def test_every_route_has_a_sample():
    missing = sorted(set(ROUTES) - set(SAMPLES))
    stale = sorted(set(SAMPLES) - set(ROUTES))
    assert not missing, f"add a request sample to SAMPLES for: {missing}"
    assert not stale, f"SAMPLES names routes that no longer exist: {stale}"
    assert all(roles is not None for roles in ROUTES.values())


def _expected(caller: str, roles: frozenset[str]) -> str:
    if caller == "anonymous":
        return "401"
    return "2xx" if caller in roles else "403"


def test_the_admins_execution_sample_needs_no_other_run(api_url):
    """Runs first on a fresh store (before any planner made and executed a plan): the admin's
    ``PUT /plans/{id}/execution`` sample makes its own executed plan and records its execution."""
    _STORE["url"] = api_url.database_url
    _STORE["planner_key"] = api_url.keys["planner"]
    with httpx.Client(base_url=api_url, headers=api_url.headers("admin"), timeout=60) as admin:
        assert admin.get("/api/v1/plans", params={"status": "executed", "limit": 1}).json()["data"] == []
        sample = SAMPLES[("PUT", "/api/v1/plans/{plan_id}/execution")]
        response = sample.request(admin, admin)
        assert response.status_code == 200, response.text
        assert response.json()["records_written"] > 0


@pytest.mark.parametrize("caller", CALLERS)
def test_each_role_gets_exactly_what_it_may(api_url, caller):
    _STORE["url"] = api_url.database_url
    _STORE["planner_key"] = api_url.keys["planner"]
    headers = api_url.headers(caller) if caller != "anonymous" else {}
    wrong = []
    with httpx.Client(base_url=api_url, headers=headers, timeout=60) as client, \
            httpx.Client(base_url=api_url, headers=api_url.headers("admin"), timeout=60) as admin:
        for key, roles in sorted(ROUTES.items()):
            response = SAMPLES[key].request(client, admin)
            expected = _expected(caller, roles)
            got = "2xx" if 200 <= response.status_code < 300 else str(response.status_code)
            if got != expected:
                wrong.append(f"{key}: expected {expected}, got {response.status_code}: {response.text[:200]}")
            elif expected != "2xx":
                assert response.headers["content-type"] == "application/problem+json"
                if expected == "401":
                    assert response.headers["www-authenticate"].startswith("Bearer")
    assert not wrong, f"{caller}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(CUSTOMER_ROUTES_FOR_MASKING))
def test_customer_records_are_masked_by_role(api_url, name):
    """Roles that see PII get the admin's values; the others get exactly the masked values
    (or nothing, where the role's configured panels leave the field out)."""
    sample, extract = CUSTOMER_ROUTES_FOR_MASKING[name]
    with httpx.Client(base_url=api_url, headers=api_url.headers("admin"), timeout=60) as admin:
        reference = {r["account_no"]: r for r in extract(sample.request(admin, admin).json())}
        assert reference, f"{name}: the sample returned no customers"
        for role in ROLES:
            with httpx.Client(base_url=api_url, headers=api_url.headers(role), timeout=60) as client:
                response = sample.request(client, admin)
                if response.status_code == 403:
                    continue
                assert response.status_code == 200, response.text
                records = {r["account_no"]: r for r in extract(response.json())}
                assert records.keys() == reference.keys()
                sees = role in PII_ROLES
                for account, record in records.items():
                    expected = mask_customer(reference[account], sees_pii=sees)
                    for pii in PII_FIELDS:
                        # a role's configured panels may leave a field out; what is shown is masked exactly
                        if pii in record:
                            assert record[pii] == expected.get(pii), (name, role, account, pii)
