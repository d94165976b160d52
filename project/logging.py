"""Logging setup, applied by `create_app` and the management commands, never at import."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from core.settings import LogFormat, Settings

_EXTRA_FIELDS = ("request_id", "method", "route", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with request fields when present."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _EXTRA_FIELDS:
            if hasattr(record, field):
                payload[field] = getattr(record, field)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload)


# Characters that could end a log line or fake one: C0 and C1 controls, DEL, and
# the Unicode line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape(text: str) -> str:
    """Write control characters as escapes (`\\n`, `\\x1b`), so one record stays one line."""
    return _UNSAFE.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


class PlainFormatter(logging.Formatter):
    """Readable text; the request id is appended when the record has one.

    A message can hold what a client sent (a path, a header): its control
    characters are escaped, so no client can start a line of its own.
    Tracebacks, which are ours, keep their lines.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        """Format the message line with client-supplied text escaped."""
        return escape(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} rid={escape(str(request_id))}" if request_id else line


def configure_logging(settings: Settings) -> None:
    """Install one stderr handler on the `terrapin` logger tree."""
    handler = logging.StreamHandler()
    if settings.log_format is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("terrapin")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    root.propagate = False
