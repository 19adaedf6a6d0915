"""The service's log lines, as text (the default) or as one JSON object a line (``serve --log-format
json``) for a hospital's log pipeline.

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``process`` and ``message``; a
request line also holds ``method``, ``path``, ``status`` and ``duration_ms``. The messages are the
service's own: a method, a service path, a status, a time or a reason, never patient data (uvicorn's
access log and httpx's request log stay off in both formats).
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

TEXT_FORMAT = "%(levelname)s:     [%(process)d] %(name)s: %(message)s"
#: The fields of the lines whose message format is known: the request line of mmsequence.service.app.
_FIELDS = {"%s %s %d %.1f ms": ("method", "path", "status", "duration_ms")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "process": record.process, "message": record.getMessage(),
        }
        names = _FIELDS.get(str(record.msg))
        if names is not None and isinstance(record.args, tuple) and len(record.args) == len(names):
            line.update(zip(names, record.args))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(fmt: str) -> dict[str, Any]:
    """Set up the root logger for ``fmt`` (text or json); returns uvicorn's logging options: in JSON,
    uvicorn's own loggers are left unconfigured, so that their lines reach the JSON handler too."""
    if fmt == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
        return {"log_config": None}
    logging.basicConfig(level=logging.INFO, format=TEXT_FORMAT)
    return {}
