"""Benchmark of outbox delivery to a local webhook, on SQLite and PostGIS.

    python bench/outbox_bench.py --messages 5000 --repeat 3 --stores sqlite postgis

A gateway that records every ``Idempotency-Key`` (a raw ASGI app under uvicorn, in its own
process so it does not share the worker's GIL) listens on loopback. Each run enqueues
``--messages`` consultation-sized messages into a fresh, migrated store (not timed), then
one in-process :class:`~outage_impact.outbox.DeliveryWorker` (the ``gridatlas worker``
code path: claim a batch, send it ``--concurrency`` at a time through the webhook sender,
record the batch's outcomes in one transaction) drains it; timed from the first claim to
the last outcome committed. Checks that the gateway got every key exactly once. Baseline
(``direct_no_store``): the same sender and thread pool posting the messages with no store,
the ceiling the outbox's store work is measured against (``ratio_to_direct``). Target:
≥ 500 messages/s on both stores. Prints JSON (median, range, per-run figures, load average).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from gis.db import make_engine, migrate  # noqa: E402
from gis.outbox import NewMessage, SqlOutboxStore, enqueue, state_counts  # noqa: E402
from outage_impact.outbox import DeliveryWorker, RetryPolicy, WebhookSender  # noqa: E402

PG_ADMIN = os.environ.get("GRIDATLAS_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _gateway_app():
    seen: dict[str, int] = {}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        more = True
        while more:  # read the body
            msg = await receive()
            more = msg.get("more_body", False)
        if scope["method"] == "GET":
            body = json.dumps({"keys": len(seen), "requests": sum(seen.values()),
                               "duplicates": sum(n - 1 for n in seen.values())}).encode()
            if scope["path"] == "/reset":
                seen.clear()
        else:
            key = dict(scope["headers"]).get(b"idempotency-key", b"").decode()
            seen[key] = seen.get(key, 0) + 1
            body = b'{"ok":true}'
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return app


def _serve_gateway(port: int) -> None:
    import uvicorn

    uvicorn.run(_gateway_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _messages(n: int, run: str) -> list[NewMessage]:
    return [NewMessage(channel="wechat", template="consultation.wechat", recipient=f"oOpenid{i:08d}",
                       payload={"touser": f"oOpenid{i:08d}", "template_id": "OUTAGE_CONSULTATION",
                                "url": f"https://example.invalid/c/{uuid.uuid4().hex}",
                                "data": {"thing1": {"value": "季华路 10kV 检修"}, "time2": {"value": "2026-12-01 09:00~15:00"},
                                         "thing3": {"value": "纺织路台区"}, "thing4": {"value": "线路检修"}},
                                "client_msg_id": f"{run}-{i}"},
                       idempotency_key=f"{run}-{i}", account_no=f"{i:010d}", plan_id=1) for i in range(n)]


def _store(kind: str):
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="outbox-bench-")) / "store.sqlite"
        url = f"sqlite:///{path}"
        return url, lambda: path.unlink(missing_ok=True)
    name = f"ga_i16b_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def run_once(kind: str, n: int, gateway: str, *, batch: int, concurrency: int) -> dict:
    url, cleanup = _store(kind)
    engine = make_engine(url, pool_size=4)
    try:
        migrate(engine)
        run = uuid.uuid4().hex[:8]
        with engine.begin() as conn:
            enqueue(conn, _messages(n, run))
        httpx.get(gateway + "/reset")
        worker = DeliveryWorker(SqlOutboxStore(engine), {"wechat": WebhookSender(gateway + "/send", pool=concurrency)},
                                worker_id="bench", policy=RetryPolicy(), batch_size=batch, lease_s=60,
                                concurrency=concurrency)
        t0 = time.perf_counter()
        while worker.run_once().claimed:
            pass
        elapsed = time.perf_counter() - t0
        worker.close()
        with engine.connect() as conn:
            counts = state_counts(conn)
        seen = httpx.get(gateway + "/stats").json()
        return {"seconds": round(elapsed, 3), "per_s": round(n / elapsed, 1), "sent": counts["sent"],
                "gateway_keys": seen["keys"], "duplicates": seen["duplicates"]}
    finally:
        engine.dispose()
        cleanup()


def direct(n: int, gateway: str, *, concurrency: int) -> dict:
    """Baseline: the same sender and thread pool posting ``n`` messages with no store at all."""
    from concurrent.futures import ThreadPoolExecutor

    httpx.get(gateway + "/reset")
    sender = WebhookSender(gateway + "/send", pool=concurrency)
    run = uuid.uuid4().hex[:8]
    msgs = [type("M", (), {"id": i, "channel": m.channel, "template": m.template, "recipient": m.recipient,
                           "idempotency_key": m.idempotency_key, "payload": m.payload})
            for i, m in enumerate(_messages(n, run))]
    with ThreadPoolExecutor(concurrency) as pool:
        t0 = time.perf_counter()
        list(pool.map(sender.send, msgs))
        elapsed = time.perf_counter() - t0
    sender.close()
    return {"seconds": round(elapsed, 3), "per_s": round(n / elapsed, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--stores", nargs="+", default=["sqlite", "postgis"], choices=["sqlite", "postgis"])
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    port = _free_port()
    proc = multiprocessing.get_context("spawn").Process(target=_serve_gateway, args=(port,), daemon=True)
    proc.start()
    gateway = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(gateway + "/stats", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    out: dict = {"messages": args.messages, "batch": args.batch, "concurrency": args.concurrency,
                 "loadavg_before": os.getloadavg()}
    try:
        base = [direct(args.messages, gateway, concurrency=args.concurrency) for _ in range(args.repeat)]
        base_median = statistics.median(r["per_s"] for r in base)
        out["direct_no_store"] = {"median_per_s": base_median, "min_per_s": min(r["per_s"] for r in base),
                                  "max_per_s": max(r["per_s"] for r in base)}
        for kind in args.stores:
            runs = [run_once(kind, args.messages, gateway, batch=args.batch, concurrency=args.concurrency)
                    for _ in range(args.repeat)]
            rates = [r["per_s"] for r in runs]
            out[kind] = {"median_per_s": statistics.median(rates), "min_per_s": min(rates), "max_per_s": max(rates),
                         "all_delivered_once": all(r["sent"] == r["gateway_keys"] == args.messages
                                                   and r["duplicates"] == 0 for r in runs),
                         "ratio_to_direct": round(statistics.median(rates) / base_median, 2), "runs": runs}
    finally:
        proc.terminate()
        proc.join(5)
    out["loadavg_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
