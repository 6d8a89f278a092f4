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
from api.auth import PII_ROLES, route_roles
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

    def request(self, client: httpx.Client, admin: httpx.Client) -> httpx.Response:
        fields = {"path": self.path, "params": self.params, "json": self.json, "headers": self.headers, "files": None}
        if self.prepare is not None:
            fields.update(self.prepare(admin, client))
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


#: One representative valid request per (method, route template). Other branches add theirs.
SAMPLES: dict[tuple[str, str], Sample] = {
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
    ("GET", "/api/v1/customers/{account_no}"): Sample("GET", f"/api/v1/customers/{FIRST.account_no}"),
    ("GET", "/api/v1/customers/{account_no}/fields"):
        Sample("GET", f"/api/v1/customers/{FIRST.account_no}/fields", params={"q": "容量"}),
    ("GET", "/api/v1/nearest"): Sample("GET", "/api/v1/nearest", params={"lon": FIRST.lon, "lat": FIRST.lat, "radius_m": 100}),
    ("GET", "/api/v1/viewport"): Sample("GET", "/api/v1/viewport", params={
        "bbox": f"{float(FIRST.lon) - 0.01},{float(FIRST.lat) - 0.01},{float(FIRST.lon) + 0.01},{float(FIRST.lat) + 0.01}",
        "zoom": 15}),
    ("GET", "/api/v1/search"): Sample("GET", "/api/v1/search", params={"q": FIRST.phone, "limit": 5}),
    ("GET", "/api/v1/tiles/grid/{z}/{x}/{y}"): Sample("GET", "/api/v1/tiles/grid/15/26680/14230"),
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
    ("GET", "/api/v1/plans/{plan_id}/impact"): Sample("GET", "", params={"limit": 5}, prepare=_plan_path("/impact")),
    ("GET", "/api/v1/plans/{plan_id}/impact/customers.{fmt}"):
        Sample("GET", "", prepare=_plan_path("/impact/customers.csv")),
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
}


def _route_table() -> dict[tuple[str, str], frozenset[str]]:
    app = create_app(Settings(database_url="sqlite:///unused-not-opened.sqlite"))
    table = {}
    for route in iter_route_contexts(app.routes):
        path = getattr(route, "path_format", None) or getattr(route, "path", "")
        if not path.startswith("/api/v1"):
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


@pytest.mark.parametrize("caller", CALLERS)
def test_each_role_gets_exactly_what_it_may(api_url, caller):
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
