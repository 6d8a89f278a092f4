"""Delivery through a REAL local gateway (both stores): failures, timeouts and a killed worker
lose nothing, and the gateway (which honours the idempotency key) delivers nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from gis.outbox import NewMessage, SqlOutboxStore, enqueue, list_messages, state_counts
from outage_impact.outbox import DeliveryWorker, FileSender, RetryPolicy, WebhookSender
from tests.outbox.gateway import running_gateway

ROOT = Path(__file__).resolve().parents[2]


def _fill(engine, n: int) -> list[str]:
    msgs = [NewMessage(channel="wechat" if i % 3 else "sms", template="consultation", recipient=f"openid-{i}",
                       payload={"i": i}, idempotency_key=f"consult-1-{i:05d}", account_no=f"A{i}", plan_id=1)
            for i in range(n)]
    with engine.begin() as conn:
        enqueue(conn, msgs)
    return [m.idempotency_key for m in msgs]


def _worker(engine, sender, *, name="w", max_attempts=10, batch=10, lease_s=30.0, concurrency=4) -> DeliveryWorker:
    senders = {"wechat": sender, "sms": sender}
    return DeliveryWorker(SqlOutboxStore(engine), senders, worker_id=name, batch_size=batch, lease_s=lease_s,
                          concurrency=concurrency, policy=RetryPolicy(max_attempts=max_attempts, base_s=0.05, cap_s=0.2))


def _drain(engine, worker: DeliveryWorker, *, until_s: float = 60) -> None:
    deadline = time.monotonic() + until_s
    while time.monotonic() < deadline:
        worker.run_once()
        with engine.connect() as conn:
            if state_counts(conn)["pending"] == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the outbox did not drain in time")


def test_a_failing_then_timing_out_gateway_recovers_nothing_lost_nothing_duplicated(empty_store):
    keys = _fill(empty_store, 40)
    with running_gateway() as gw:
        gw.script = ["fail"] * 12 + ["timeout"] * 4   # 12 refusals, 4 processed after the client gave up, then fine
        gw.timeout_sleep_s = 1.0
        sender = WebhookSender(gw.url, timeout_s=0.4)
        worker = _worker(empty_store, sender)
        try:
            _drain(empty_store, worker)
        finally:
            worker.close()
        with empty_store.connect() as conn:
            assert state_counts(conn) == {"pending": 0, "sent": 40, "dead": 0}
            sent = list_messages(conn, state="sent", limit=100).items
        assert set(gw.delivered) == set(keys)                       # nothing lost
        assert max(gw.delivered.values()) == 1                      # nothing delivered twice
        assert gw.total_requests >= 40 + 16                         # the failures and timeouts were retried ...
        assert sum(1 for k in keys if gw.requests[k] > 1) >= 4      # ... timed-out ones sent again with their key
        assert all(m.attempts >= 1 for m in sent) and max(m.attempts for m in sent) >= 2
        body = gw.bodies[keys[1]]
        assert body["idempotency_key"] == keys[1] and body["recipient"] == "openid-1" and body["payload"] == {"i": 1}


def test_permanent_refusals_and_the_last_attempt_make_dead_letters(empty_store):
    _fill(empty_store, 3)
    with running_gateway() as gw:
        gw.script = ["reject"]
        gw.default = "fail"
        worker = _worker(empty_store, WebhookSender(gw.url, timeout_s=2), max_attempts=3)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                worker.run_once()
                with empty_store.connect() as conn:
                    if state_counts(conn)["dead"] == 3:
                        break
                time.sleep(0.05)
        finally:
            worker.close()
        with empty_store.connect() as conn:
            dead = list_messages(conn, state="dead").items
        assert len(dead) == 3
        by_attempts = sorted(m.attempts for m in dead)
        assert by_attempts == [1, 3, 3]                 # the 400 at once; the others after their 3rd try
        assert any("400" in m.last_error for m in dead) and any("503" in m.last_error for m in dead)
        assert not gw.delivered


def test_the_file_sender_writes_one_json_line_per_message(empty_store, tmp_path):
    keys = _fill(empty_store, 5)
    out = tmp_path / "outbox.jsonl"
    worker = _worker(empty_store, FileSender(out))
    try:
        _drain(empty_store, worker)
    finally:
        worker.close()
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["idempotency_key"] for line in lines) == keys


def test_a_killed_worker_process_loses_nothing_and_another_worker_finishes(empty_store_url, empty_store):
    keys = _fill(empty_store, 60)
    with running_gateway() as gw:
        gw.delay_s = 0.1                      # slow enough that the kill lands mid-batch
        env = {**os.environ, "GRIDATLAS_DATABASE_URL": empty_store_url, "GRIDATLAS_OUTBOX_SENDER": "webhook",
               "GRIDATLAS_OUTBOX_WEBHOOK_URL": gw.url, "GRIDATLAS_OUTBOX_BATCH_SIZE": "20",
               "GRIDATLAS_OUTBOX_CONCURRENCY": "2", "GRIDATLAS_OUTBOX_LEASE_S": "3",
               "GRIDATLAS_OUTBOX_POLL_INTERVAL_S": "0.1", "GRIDATLAS_LOG_LEVEL": "WARNING"}
        proc = subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while gw.total_requests < 5:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the worker process delivered nothing"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)   # no clean-up, mid-batch
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stderr.close()
        delivered_by_killed = set(gw.delivered)
        with empty_store.connect() as conn:
            counts = state_counts(conn)
            leased = [m for m in list_messages(conn, state="pending", limit=100).items if m.lease_owner]
            recorded = {m.idempotency_key for m in list_messages(conn, state="sent", limit=100).items}
        assert counts["sent"] < 60 and leased, "the kill should have left claimed, unfinished messages"
        assert delivered_by_killed - recorded, "some deliveries of the killed worker were never recorded as sent"
        gw.delay_s = 0.0
        worker = _worker(empty_store, WebhookSender(gw.url, timeout_s=5), name="survivor", batch=25)
        try:
            _drain(empty_store, worker, until_s=90)   # waits out the dead worker's 3 s lease
        finally:
            worker.close()
        with empty_store.connect() as conn:
            assert state_counts(conn) == {"pending": 0, "sent": 60, "dead": 0}
        assert set(gw.delivered) == set(keys) and max(gw.delivered.values()) == 1
        # the messages the killed worker had delivered without recording it went out again, same key
        assert any(gw.requests[k] > 1 for k in delivered_by_killed)
