"""The process's log format: text for people (the default) or one JSON object per line for log pipelines.

A JSON line carries the request id and, with tracing on, the trace id of the request it was written for, so a
pipeline can join the lines of one request, and a line to its trace. In JSON mode uvicorn's own loggers (errors
and the access log, which is then on) write through the same formatter, so every line of stderr parses.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from uvicorn.config import LOGGING_CONFIG

from motivnet_serve.core import tracing
from motivnet_serve.router.request_context import request_id
from motivnet_serve.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """`{"timestamp", "level", "logger", "message", "request_id", "trace_id"}` and `exception` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
            "trace_id": tracing.trace_id(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def _utc(created: float) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. 2026-12-04T13:45:14.123Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def configure_logging(settings: Settings) -> dict[str, Any] | None:
    """Sets up the root logger; returns the `log_config` uvicorn is to use (None: leave its loggers to the
    root's handler, which JSON mode needs, and is what `uvicorn.Config(log_config=None)` means)."""
    level = settings.log_level.upper()
    if settings.log_format == "text":
        logging.basicConfig(level=level, format=TEXT_FORMAT)
        return LOGGING_CONFIG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return None
