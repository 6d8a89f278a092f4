"""Odd inputs a hostile tester found (issue 17): each is a clear 4xx problem, never a 500 or a dropped connection."""

from __future__ import annotations

import pytest

FUSE = "SW000030"
JSON = {"content-type": "application/json"}


def _problem(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


@pytest.mark.parametrize("body", [b'{"open":[NaN]}', b'{"open":[Infinity]}', b'{"open":["SW000030"],"title":-Infinity}'])
def test_nan_and_infinity_in_a_body_are_400_and_keep_the_connection(client_as, body):
    planner = client_as("planner")
    for path in ("/api/v1/impact", "/api/v1/impact/export", "/api/v1/plans"):
        _problem(planner.post(path, content=body, headers=JSON), 400, "body")
    # the keep-alive connection still serves
    assert planner.post("/api/v1/impact", json={"open": [FUSE]}).status_code == 200


def test_duplicate_json_keys_are_refused(client_as):
    r = client_as("planner").post("/api/v1/impact", content=b'{"open":["SW000030"],"open":["SW000007"]}', headers=JSON)
    assert "open" in _problem(r, 400, "body")["detail"]


@pytest.mark.parametrize("body", [b"{", b'{"open": [}', b"\xff\xfe"])
def test_malformed_json_is_400(client_as, body):
    _problem(client_as("planner").post("/api/v1/impact", content=body, headers=JSON), 400, "body")
