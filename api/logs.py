"""Logging of the composition root: one JSON object per line on stderr.

Standard :mod:`logging` throughout; :func:`configure_logging` (called by ``create_app``)
puts a :class:`JsonFormatter` handler on the ``gridatlas`` logger. Access records
(``gridatlas.access``, from :class:`api.middleware.AccessLogMiddleware`) carry their
fields in ``record.access``; they are merged into the line as top-level keys.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

__all__ = ["JsonFormatter", "configure_logging"]

_HANDLER_NAME = "gridatlas-stderr"


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
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(*, fmt: str = "json", level: str = "INFO", stream: Any = None) -> None:
    """Send ``gridatlas.*`` records to ``stream`` (stderr) as JSON lines or text; idempotent."""
    logger = logging.getLogger("gridatlas")
    logger.setLevel(level)
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
