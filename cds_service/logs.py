"""Structured logs: one JSON object per line, for the service's own loggers and gunicorn's.

A record becomes ``{"ts", "level", "logger", "message", ...extra}``: the fields a caller passed
with ``extra=`` are kept as they are. What is never written, whatever the level: request bodies,
tokens, patient names, ids, notes or codes. Callers pass ids and fixed words only, and an
exception is written as its type and the code locations it passed through, never its message or
the values in it (a pydantic error, for one, repeats the input it rejected).
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import traceback
from datetime import UTC, datetime
from typing import Any

# LogRecord's own attributes: everything else on a record came from ``extra=``.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}

#: Third-party loggers kept at WARNING whatever the level: urllib3 logs every URL it requests at
#: DEBUG, and a FHIR search URL holds the patient's id.
QUIET_LOGGERS = ("urllib3", "requests", "charset_normalizer", "PIL", "asyncio")


# gunicorn's own messages that carry what a client sent: the raw URI (on an error, and when a
# worker timeout aborts a request), a header line or request line its parser refused, the bytes
# read before a client went away. Each is written as its fixed words only.
_GUNICORN_REQUEST_TEMPLATES = {
    "Error handling request %s %s": "Error handling request",
    "Error handling request %s": "Error handling request",
    "Ignored premature client disconnection. %s": "Ignored premature client disconnection",
    "Closing connection. %s": "Closing connection",
}
_INVALID_REQUEST = re.compile(r"Invalid request from ip=([0-9A-Fa-f:.\[\]]*): ([A-Za-z ]{1,60})")


class GunicornRequestFilter(logging.Filter):
    """Takes the request's own text out of gunicorn's log records (see above): an invalid
    request keeps the client's address and the kind of problem ("Invalid HTTP Header"), never
    the offending line; an error keeps no URI."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("gunicorn"):
            return True
        template = record.msg if isinstance(record.msg, str) else ""
        fixed = _GUNICORN_REQUEST_TEMPLATES.get(template)
        if fixed is not None:
            record.msg, record.args = fixed, ()
        elif template.startswith("Invalid request from ip="):
            match = _INVALID_REQUEST.match(template)
            kind = match.group(2).strip() if match else "malformed request"
            record.msg = "Invalid request refused by the HTTP parser"
            record.args = ()
            record.client_ip = match.group(1) if match else None
            record.problem = kind
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _, tb = record.exc_info
            entry["exc_type"] = exc_type.__name__
            entry["stack"] = [f"{frame.filename}:{frame.lineno} in {frame.name}"
                              for frame in traceback.extract_tb(tb)][-12:]
        return json.dumps(entry, ensure_ascii=False, default=_plain, separators=(",", ":"))

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return ""  # never the message; format() writes the type and the stack


def _plain(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def logging_config(level: str = "info") -> dict:
    """A ``logging.config.dictConfig`` dict: JSON lines on stderr for every logger, gunicorn's
    included (gunicorn's ``logconfig_dict`` takes this same dict)."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "filters": {"gunicorn_request": {"()": f"{__name__}.GunicornRequestFilter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr",
                                "filters": ["gunicorn_request"]}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
            **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        },
    }


def configure(level: str = "info") -> None:
    logging.config.dictConfig(logging_config(level))
