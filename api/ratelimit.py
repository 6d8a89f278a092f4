"""A per-API-key token bucket, held in the process.

Each key may make ``burst`` requests at once and ``rate`` per second sustained; an empty
bucket refuses with 429 and says how long until the next token. The buckets live in the
worker process, not in the store: a shared counter would cost a database write on every
request (the hot paths answer in a few milliseconds from memory), and the limit exists to
stop a runaway client, not to bill it. With N worker processes a key may therefore reach
N × ``rate`` (uvicorn spreads connections over workers): set ``rate_limit_per_s`` to the
per-key budget divided by the worker count when the exact figure matters.
"""

from __future__ import annotations

import threading
import time

from gis.errors import RateLimited

__all__ = ["TokenBuckets"]


class TokenBuckets:
    """key → (tokens, last refill time); thread-safe. ``rate`` 0 turns limiting off."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[object, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_time(self, key: object, now: float | None = None) -> float:
        """Take one token for ``key``: 0.0 when granted, else the seconds until one is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def take(self, key: object, label: str) -> None:
        """Take a token for ``key`` or raise :class:`RateLimited` naming ``label`` (the key prefix)."""
        wait = self.wait_time(key)
        if wait > 0:
            raise RateLimited(
                f"rate limit of {self.rate:g} requests/s (burst {self.burst}) exceeded for key {label}; "
                f"retry in {wait:.2f} s",
                retry_after=wait, field="Authorization", value=label,
            )
