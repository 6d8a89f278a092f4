"""Delivering the outbox: a worker that claims due messages and hands them to pluggable senders.

At-least-once with a stable key: a message is marked sent only after its sender returned;
a worker killed in between leaves a claim whose lease runs out, and the next worker sends
the message again with the same ``idempotency_key``, which a gateway that honours the key
turns into one delivery. Failures are retried with exponential backoff and full jitter
(:class:`RetryPolicy`); after the last attempt, or at once for a permanent refusal (an HTTP
4xx other than 408/425/429), the message is dead: visible and retryable through the API.

The worker receives a store with two methods (``gis.outbox.SqlOutboxStore`` is one)::

    claim(worker, *, limit, lease_s) -> [message]     # message: .id .channel .recipient .payload
    finish(worker, outcomes)                          # .idempotency_key .template .attempts …

Senders: :class:`FileSender` (JSON lines to a file; the default) and :class:`WebhookSender`
(an HTTP POST per message, ``Idempotency-Key`` header, timeouts).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from gis.outbox import Outcome

__all__ = ["DeliveryError", "Sender", "FileSender", "WebhookSender", "RetryPolicy", "DeliveryWorker", "BatchReport"]

log = logging.getLogger("gridatlas.outbox")


class DeliveryError(Exception):
    """A sender could not deliver; ``retryable`` False means retrying cannot help (dead at once)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Sender(Protocol):
    def send(self, message: Any) -> None:
        """Deliver ``message`` or raise :class:`DeliveryError`."""

    def close(self) -> None: ...


def _envelope(message: Any) -> dict[str, Any]:
    return {"id": message.id, "channel": message.channel, "template": message.template,
            "recipient": message.recipient, "idempotency_key": message.idempotency_key,
            "payload": message.payload}


class FileSender:
    """Appends one JSON line per delivery to ``path`` (flushed before the message counts as sent)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh = None  # opened on the first message: an idle worker creates no file
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        line = json.dumps({**_envelope(message), "at": dt.datetime.now(dt.timezone.utc).isoformat()},
                          ensure_ascii=False)
        try:
            with self._lock:
                if self._fh is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fh = self.path.open("a", encoding="utf-8")
                self._fh.write(line + "\n")
                self._fh.flush()
        except OSError as exc:
            raise DeliveryError(f"cannot write {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


_RETRYABLE_4XX = {408, 425, 429}


class WebhookSender:
    """POSTs each message as JSON to ``url`` with its key in ``Idempotency-Key``.

    2xx is delivered; a timeout, a connection error or a 5xx/408/425/429 is retryable; any
    other status is a permanent refusal. One pooled client is shared by the worker's threads.
    """

    def __init__(self, url: str, *, timeout_s: float = 5.0, headers: Mapping[str, str] | None = None,
                 pool: int = 16) -> None:
        self.url = url
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), headers=dict(headers or {}),
                                    limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool))

    def send(self, message: Any) -> None:
        try:
            response = self._client.post(self.url, json=_envelope(message),
                                         headers={"Idempotency-Key": message.idempotency_key})
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"gateway timed out: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"gateway unreachable: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return
        text = response.text[:200]
        retryable = response.status_code >= 500 or response.status_code in _RETRYABLE_4XX
        raise DeliveryError(f"gateway answered {response.status_code}: {text}", retryable=retryable)

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt n (1-based) failed: the next one waits ``uniform(0, min(cap, base·2^(n-1)))`` (full jitter)."""

    max_attempts: int = 8
    base_s: float = 2.0
    cap_s: float = 600.0
    rng: Callable[[float, float], float] = field(default=random.uniform, compare=False)

    def next_try(self, attempts: int, now: dt.datetime) -> dt.datetime | None:
        """When to try again after ``attempts`` failed attempts; None when it was the last."""
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.cap_s, self.base_s * 2 ** max(attempts - 1, 0))
        return now + dt.timedelta(seconds=self.rng(0.0, ceiling))


@dataclass(frozen=True)
class BatchReport:
    claimed: int
    sent: int
    retried: int
    dead: int


class DeliveryWorker:
    """Claims batches from ``store`` and delivers them through ``senders`` (channel → sender).

    ``concurrency`` messages of a batch are in flight at once. A channel without a sender is
    a permanent failure (the message goes dead and says so).
    """

    def __init__(self, store: Any, senders: Mapping[str, Sender], *, worker_id: str, policy: RetryPolicy,
                 batch_size: int = 100, lease_s: float = 60.0, concurrency: int = 8) -> None:
        self.store = store
        self.senders = dict(senders)
        self.worker_id = worker_id
        self.policy = policy
        self.batch_size = batch_size
        self.lease_s = lease_s
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="outbox-send")

    def _deliver(self, message: Any) -> Outcome:
        sender = self.senders.get(message.channel)
        try:
            if sender is None:
                raise DeliveryError(f"no sender configured for channel {message.channel!r}", retryable=False)
            sender.send(message)
        except DeliveryError as exc:
            now = dt.datetime.now(dt.timezone.utc)
            nxt = self.policy.next_try(message.attempts, now) if exc.retryable else None
            return Outcome(message.id, sent=False, error=str(exc), next_try_at=nxt)
        except Exception as exc:  # a sender bug must not lose the message: retried like a failure
            log.exception("sender failed on outbox message %s", message.id)
            nxt = self.policy.next_try(message.attempts, dt.datetime.now(dt.timezone.utc))
            return Outcome(message.id, sent=False, error=f"{type(exc).__name__}: {exc}", next_try_at=nxt)
        return Outcome(message.id, sent=True)

    def run_once(self) -> BatchReport:
        """Claim one batch, deliver it, record the outcomes. Returns what happened."""
        batch = self.store.claim(self.worker_id, limit=self.batch_size, lease_s=self.lease_s)
        if not batch:
            return BatchReport(0, 0, 0, 0)
        outcomes: Sequence[Outcome] = list(self._pool.map(self._deliver, batch))
        self.store.finish(self.worker_id, outcomes)
        sent = sum(o.sent for o in outcomes)
        dead = sum(1 for o in outcomes if not o.sent and o.next_try_at is None)
        return BatchReport(len(batch), sent, len(batch) - sent - dead, dead)

    def run(self, stop: threading.Event, *, poll_s: float = 1.0) -> None:
        """Deliver until ``stop`` is set: batch after batch while there is work, else wait ``poll_s``."""
        while not stop.is_set():
            try:
                report = self.run_once()
            except Exception:  # the store is away: keep the worker alive and try again later
                log.exception("outbox worker %s: a batch failed; retrying in %.1f s", self.worker_id, poll_s)
                stop.wait(poll_s)
                continue
            if report.claimed < self.batch_size:
                stop.wait(poll_s)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for sender in {id(s): s for s in self.senders.values()}.values():
            sender.close()
