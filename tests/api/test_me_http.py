"""``GET /api/v1/me`` over real HTTP: who the key is and exactly the operations its role may call."""

from __future__ import annotations

import httpx
import pytest

from gis.models import ROLES


def _status(client: httpx.Client, method: str, path: str) -> int:
    return client.request(method, path, json={} if method in {"POST", "PUT", "PATCH"} else None).status_code


@pytest.mark.parametrize("role", ROLES)
def test_me_names_the_key_and_its_role(api_url, client_as, role):
    body = client_as(role).get("/api/v1/me").json()
    assert body["role"] == role
    assert body["name"] == f"test-{role}"
    assert body["prefix"] and body["prefix"] in api_url.keys[role]
    assert api_url.keys[role] not in str(body)
    assert body["sees_pii"] is (role in {"dispatcher", "agent", "admin"})


def test_me_lists_what_the_server_admits_and_nothing_it_refuses(client_as):
    planner = set(client_as("planner").get("/api/v1/me").json()["operations"])
    agent = set(client_as("agent").get("/api/v1/me").json()["operations"])
    admin = set(client_as("admin").get("/api/v1/me").json()["operations"])
    assert "PUT /api/v1/plans/{plan_id}" in planner and "PUT /api/v1/plans/{plan_id}" not in agent
    assert "PATCH /api/v1/customers/{account_no}/contact" in agent
    assert "PATCH /api/v1/customers/{account_no}/contact" not in planner
    assert planner < admin and agent < admin
    assert "POST /api/v1/calls/incoming" not in agent
    # what the list says is what the server does: a listed operation is never 403, an unlisted one always is
    for op in ("GET /api/v1/alerts", "GET /api/v1/heat", "POST /api/v1/lexicon/words", "GET /api/v1/outbox"):
        method, path = op.split(" ", 1)
        status = _status(client_as("planner"), method, path)
        assert (status == 403) is (op not in planner), (op, status)


def test_me_needs_a_key(anonymous):
    r = anonymous.get("/api/v1/me")
    assert r.status_code == 401
