"""GET /api/v1/events over real HTTP: Server-Sent Events from the store's event table.

A publish from outside the server (another worker, a command) reaches a connected map
within a second; a call targeted at one agent reaches only that agent; two servers over one
PostGIS each deliver what the other's process published.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
import uuid

import httpx
import pytest

from api.settings import Settings
from gis.api_keys import create_key
from gis.db import make_engine
from gis.events import publish
from tests.api.conftest import serve


class Stream:
    """Reads an SSE stream on a thread; ``next()`` returns the next (event, data) pair."""

    def __init__(self, base: str, token: str, channels: str, headers: dict[str, str] | None = None) -> None:
        self.items: queue.Queue = queue.Queue()
        self.status: queue.Queue = queue.Queue()
        self._client = httpx.Client(base_url=base, timeout=httpx.Timeout(30, read=60))
        self._headers = {"Authorization": f"Bearer {token}", **(headers or {})}
        self._channels = channels
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._client.stream("GET", "/api/v1/events", params={"channels": self._channels},
                                     headers=self._headers) as resp:
                self._response = resp
                self.status.put((resp.status_code, resp.headers.get("content-type", "")))
                if resp.status_code != 200:
                    self.items.put(("error", json.loads(resp.read())))
                    return
                event, data, ident = None, None, None
                for line in resp.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = json.loads(line[5:].strip())
                    elif line.startswith("id:"):
                        ident = int(line[3:].strip())
                    elif line == "" and event is not None:
                        self.items.put((event, data, ident))
                        event, data, ident = None, None, None
        except (httpx.HTTPError, RuntimeError):
            pass

    def next(self, timeout: float = 5.0):
        return self.items.get(timeout=timeout)

    def close(self) -> None:
        """Hang up, as a browser closing the map does (the server must see the disconnect)."""
        if self._response is not None:  # unblock the reading thread: shut the socket down under it
            sock = self._response.extensions["network_stream"].get_extra_info("socket")
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._client.close()
        self._thread.join(timeout=5)


def _publish(url: str, channel: str, payload: dict, target: str | None = None) -> int:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            return publish(conn, channel, payload, target=target)
    finally:
        engine.dispose()


def _agent_key(url: str, name: str) -> str:
    engine = make_engine(url)
    try:
        return create_key(engine, name=name, role="agent")[1]
    finally:
        engine.dispose()


def test_an_event_reaches_the_open_stream_within_a_second(api_url):
    stream = Stream(api_url, api_url.keys["dispatcher"], "alerts")
    try:
        assert stream.status.get(timeout=10) == (200, "text/event-stream; charset=utf-8")
        assert stream.next()[0] == "ready"
        sent = time.monotonic()
        event_id = _publish(api_url.database_url, "alerts", {"alert_id": 41, "severity": "high"})
        event, data, ident = stream.next()
        elapsed = time.monotonic() - sent
        assert (event, ident, data["payload"]) == ("alerts", event_id, {"alert_id": 41, "severity": "high"})
        assert elapsed < 1.0, f"{elapsed:.2f} s"
    finally:
        stream.close()


def test_a_call_reaches_only_the_agent_it_is_for(api_url):
    a, b = f"agent-{uuid.uuid4().hex[:6]}", f"agent-{uuid.uuid4().hex[:6]}"
    mine = Stream(api_url, _agent_key(api_url.database_url, a), "calls")
    theirs = Stream(api_url, _agent_key(api_url.database_url, b), "calls")
    try:
        assert mine.next()[0] == "ready" and theirs.next()[0] == "ready"
        _publish(api_url.database_url, "calls", {"call_id": "c-1"}, target=f"name:{a}")
        assert mine.next()[1]["payload"] == {"call_id": "c-1"}
        with pytest.raises(queue.Empty):
            theirs.next(timeout=1.0)
    finally:
        mine.close()
        theirs.close()


def test_a_reconnecting_client_gets_what_it_missed(api_url):
    first = _publish(api_url.database_url, "alerts", {"n": 1})
    second = _publish(api_url.database_url, "alerts", {"n": 2})
    stream = Stream(api_url, api_url.keys["agent"], "alerts", headers={"Last-Event-ID": str(first)})
    try:
        assert stream.next()[0] == "ready"
        event, data, ident = stream.next()
        assert ident == second and data["payload"] == {"n": 2}
    finally:
        stream.close()


@pytest.mark.parametrize(
    ("role", "channels", "status", "field"),
    [("analyst", "calls", 403, "channels"), ("planner", "alerts", 403, "channels"), ("dispatcher", "weather", 422, "channels"), ("dispatcher", ",", 422, "channels")],
)
def test_channels_are_checked_by_name_and_role(api_url, role, channels, status, field):
    resp = httpx.get(f"{api_url}/api/v1/events", params={"channels": channels}, headers=api_url.headers(role), timeout=10)
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["field"] == field


def test_skip_refused_follows_the_channels_the_role_may_follow(api_url):
    """The map asks for alerts,calls whatever the role: an analyst gets alerts only (named in ready), a planner
    none (an idle stream), and neither a 403; without skip_refused a refused channel is a 403."""
    params = {"channels": "alerts,calls", "skip_refused": "true"}
    for role, followed in (("analyst", ["alerts"]), ("planner", [])):
        with httpx.stream("GET", f"{api_url}/api/v1/events", params=params, headers=api_url.headers(role),
                          timeout=httpx.Timeout(10, read=30)) as resp:
            assert resp.status_code == 200
            lines = resp.iter_lines()
            frame = [next(lines) for _ in range(3)]
        assert frame[1] == "event: ready" and json.loads(frame[2][5:])["channels"] == followed, (role, frame)
    alone = httpx.get(f"{api_url}/api/v1/events", params={"channels": "calls"},
                      headers=api_url.headers("analyst"), timeout=10)
    assert alone.status_code == 403 and alone.json()["field"] == "channels"


def test_the_stream_needs_a_key(api_url):
    resp = httpx.get(f"{api_url}/api/v1/events", params={"channels": "alerts"}, timeout=10)
    assert resp.status_code == 401


def test_two_servers_over_one_postgis_each_deliver_the_others_events(pg_cluster):
    """Several workers over one PostGIS: an event published in one process reaches a map on another."""
    name = pg_cluster.create(f"{pg_cluster.prefix}{uuid.uuid4().hex[:10]}", template=pg_cluster.template("city"))
    url = pg_cluster.url(name)
    servers = [serve(url, Settings(database_url=url)), serve(url, Settings(database_url=url))]
    try:
        base_a, base_b = (next(s) for s in servers)
        on_a = Stream(base_a, base_a.keys["agent"], "alerts")
        on_b = Stream(base_b, base_b.keys["agent"], "alerts")
        try:
            assert on_a.next()[0] == "ready" and on_b.next()[0] == "ready"
            sent = time.monotonic()
            _publish(url, "alerts", {"alert_id": 7})
            got = [on_a.next(), on_b.next()]
            assert all(g[1]["payload"] == {"alert_id": 7} for g in got)
            assert time.monotonic() - sent < 1.0
        finally:
            on_a.close()
            on_b.close()
    finally:
        for s in servers:
            s.close()
        pg_cluster.drop(name)
        pg_cluster.created.remove(name)
