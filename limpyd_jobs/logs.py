"""Log formatting: ``JsonFormatter``, one JSON object per line, for log collectors, and
``TextFormatter``, lines with the control characters of what they tell escaped.

``limpyd-jobs-worker --log-format=json`` uses it; in a ``logging.config.dictConfig`` of your
own, name it as a formatter factory::

    "formatters": {"json": {"()": "limpyd_jobs.logs.JsonFormatter"}}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from .validation import printable

#: What the worker tells about a job, as attributes of its log records (``extra=``): each is
#: written, under its name, when a record has it.
EXTRA_FIELDS: tuple[str, ...] = ("worker_id", "queue", "identifier", "ident", "attempt", "duration")


class TextFormatter(logging.Formatter):
    """A ``logging.Formatter`` that escapes control characters (ESC, CR, BEL...) but line feeds
    and tabs: a job's message or identifier cannot rewrite the terminal or the log."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record), newlines=True)


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, ``process``, then those of ``fields`` (default: ``EXTRA_FIELDS``) the record
    has, not None, and ``traceback`` (``stack`` for ``stack_info``) when it holds one.

    Values JSON cannot hold are written as their ``str()``."""

    def __init__(self, fields: Iterable[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fields = tuple(EXTRA_FIELDS if fields is None else fields)

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object, on one line."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in self.fields:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["traceback"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
