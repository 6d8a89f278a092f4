"""A real local messaging gateway for tests: an HTTP server that records every request's
``Idempotency-Key`` and honours it (a key it has already processed is answered 200 again and
not delivered twice). A script of behaviours (``fail``, ``timeout``, ``ok``) decides how the
next requests are answered, so a test can make the gateway fail, time out, then recover.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Gateway:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.script: list[str] = []      # behaviours for the next requests, in order; then ``default``
        self.default = "ok"
        self.delay_s = 0.0               # added to every request (a slow gateway)
        self.timeout_sleep_s = 1.5       # how long a "timeout" request hangs before it is processed
        self.requests: Counter[str] = Counter()   # key -> requests received
        self.delivered: Counter[str] = Counter()  # key -> times delivered to the customer (must stay ≤ 1)
        self.bodies: dict[str, dict] = {}
        self.url = ""

    def next_behaviour(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


def _handler(gw: Gateway):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (a timeout): the work was done all the same

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            key = self.headers.get("Idempotency-Key", "")
            behaviour = gw.next_behaviour()
            with gw.lock:
                gw.requests[key] += 1
            if gw.delay_s:
                time.sleep(gw.delay_s)
            if behaviour == "fail":
                return self._answer(503, {"error": "gateway overloaded"})
            if behaviour == "reject":
                return self._answer(400, {"error": "bad recipient"})
            if behaviour == "timeout":
                time.sleep(gw.timeout_sleep_s)  # processed, but after the client stopped waiting
            with gw.lock:
                if key and key not in gw.delivered:
                    gw.delivered[key] += 1
                    gw.bodies[key] = body
                    duplicate = False
                else:
                    duplicate = True
            self._answer(200, {"ok": True, "duplicate": duplicate})

    return Handler


@contextmanager
def running_gateway() -> Iterator[Gateway]:
    gw = Gateway()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gw))
    server.daemon_threads = True
    gw.url = f"http://127.0.0.1:{server.server_address[1]}/send"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gw
    finally:
        server.shutdown()
        server.server_close()
