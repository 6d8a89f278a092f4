"""Logging of the composition root: one JSON object per line on stderr.

Standard :mod:`logging` throughout; :func:`configure_logging` (called by ``create_app``)
routes the ``gridatlas`` logger through a :class:`~logging.handlers.QueueHandler` to a
listener thread that formats with :class:`JsonFormatter` and writes: the event loop only
enqueues, so a slow log consumer (a full pipe, a busy journald) cannot stall requests.
Access records (``gridatlas.access``, from :class:`api.middleware.AccessLogMiddleware`)
carry their fields in ``record.access``; they are merged into the line as top-level keys.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import logging.handlers
import queue
import sys
import threading
from typing import Any

import orjson

__all__ = ["JsonFormatter", "configure_logging", "stop_logging"]

_HANDLER_NAME = "gridatlas-stderr"
_listener: logging.handlers.QueueListener | None = None
_lock = threading.Lock()


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", …}``; access records add their own fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            line.update(access)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(*, fmt: str = "json", level: str = "INFO", stream: Any = None) -> None:
    """Send ``gridatlas.*`` records to ``stream`` (stderr) as JSON lines or text; idempotent.

    Reconfiguring stops (and flushes) the previous listener first.
    """
    global _listener
    logger = logging.getLogger("gridatlas")
    logger.setLevel(level)
    writer = logging.StreamHandler(stream if stream is not None else sys.stderr)
    writer.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = logging.handlers.QueueHandler(records)
    handler.set_name(_HANDLER_NAME)
    with _lock:
        stop_logging()
        for old in list(logger.handlers):
            if old.get_name() == _HANDLER_NAME:
                logger.removeHandler(old)
        _listener = logging.handlers.QueueListener(records, writer, respect_handler_level=False)
        _listener.start()
        logger.addHandler(handler)
        logger.propagate = False


def stop_logging() -> None:
    """Write out every queued record and stop the listener thread (also run at exit)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None


atexit.register(stop_logging)
