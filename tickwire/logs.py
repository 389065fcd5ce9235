"""JSON log lines for tickwire: one object per line, carrying match, player, connection and
tick when they are known.

Fields come from two places, the later winning:

1. the context: ``with log_context(match="m1", player="p7"):`` sets fields for every log
   call in that block *and in the tasks it starts* (a :mod:`contextvars` variable, so each
   asyncio task sees its own values);
2. the call: ``log.info("joined", extra={"match": "m1", "connection": cid})``.

An event line, whose message is a JSON object (``log.info(json.dumps({"event":
"match_ended", ...}))``, which reads as JSON under plain logging too) or a mapping, has
its fields merged into the line, with ``message`` set to its ``event``: one JSON object,
never JSON quoted inside a JSON string.

Only the names in :data:`CONTEXT_FIELDS` plus any ``extra`` keys that are JSON-friendly
are written. On AWS the lines go to stdout, where the ECS log driver ships them to
CloudWatch Logs (Logs Insights reads the JSON fields directly); the metric lines of
:mod:`tickwire.metrics`'s EMF backend travel the same way.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
import sys
import types
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

__all__ = ["CONTEXT_FIELDS", "JsonFormatter", "configure_logging", "current_context", "log_context"]

CONTEXT_FIELDS = ("match", "player", "connection", "tick")

_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "tickwire_log_context", default=types.MappingProxyType({})
)

# Attributes every LogRecord has: anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log line written inside the block (None removes a field)."""
    merged = {**_context.get(), **fields}
    token = _context.set({k: v for k, v in merged.items() if v is not None})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, Any]:
    return _context.get()


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: ``time``, ``level``, ``logger``, ``message``,
    the context fields, ``extra`` fields, and ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update(_context.get())
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                doc[key] = value
        event = _event_fields(record)
        if event is not None:
            doc["message"] = str(event.get("event", ""))
            doc.update({k: v for k, v in event.items() if k not in _LINE_FIELDS})
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(_jsonable(doc), separators=(",", ":"), ensure_ascii=False)


# Fields of every line an event's own fields may not replace.
_LINE_FIELDS = frozenset({"time", "level", "logger", "message", "exception", "stack"})


def _event_fields(record: logging.LogRecord) -> Mapping[str, Any] | None:
    """The fields of an event line (see the module docstring), or None for a plain one."""
    if isinstance(record.msg, Mapping) and not record.args:
        return record.msg
    text = record.msg
    if not (isinstance(text, str) and text.startswith("{") and text.endswith("}")):
        return None
    if record.args:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def configure_logging(
    level: int | str = logging.INFO, stream: TextIO | None = None, logger: str = ""
) -> logging.Handler:
    """Send ``logger``'s records (the root by default) as JSON lines to ``stream``
    (stderr by default). Returns the handler so a caller can remove it."""
    target = logging.getLogger(logger)
    # "info" and "INFO" both work (command-line flags are typed in either case); an
    # unknown level raises before anything is attached.
    target.setLevel(level.upper() if isinstance(level, str) else level)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    target.addHandler(handler)
    return handler
