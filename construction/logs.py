"""Logs and request ids: one line per event, as JSON or text, one access line per request.

Every request gets an id: the client's `X-Request-ID` when it is sane (1 to 64
visible ASCII characters), else a new one. It is kept in `g.request_id` (the
one place the rest of the app reads it from), sent back in `X-Request-ID` on
every answer (API, pages, errors) and written on every log line of the request.

`LOG_FORMAT=json` writes each record as one JSON object on a line (`time`,
`level`, `logger`, `message`, and within a request `request_id`, `user`,
`organization`, `method`, `route`, `path`; the access line adds `status` and
`duration_ms`); `text` writes the familiar one-line form. Production defaults to
JSON, development to text.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request

from construction import metrics

access_log = logging.getLogger("prefabtrace.access")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SANE_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,64}")
# Set on the handler configure_logging installs, so that a second app changes it in place.
_OURS = "_prefabtrace_handler"
# Attributes every LogRecord has: anything else came in through `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message",
                                                                                 "asctime"}


def request_id() -> str | None:
    """Return the current request's id (None outside a request)."""
    return g.get("request_id") if has_request_context() else None


def request_fields() -> dict:
    """Return who and what the current request is about, for a log line."""
    if not has_request_context():
        return {}
    principal = g.get("principal")
    rule = request.url_rule
    return {"request_id": g.get("request_id"),
            "user": principal.user_name if principal is not None else None,
            "organization": principal.organization_id if principal is not None else None,
            "method": request.method, "route": rule.rule if rule is not None else None,
            "path": request.path}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line, with the request's fields when in one."""
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(
                    timespec="milliseconds").replace("+00:00", "Z"),
                "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        line.update(request_fields())
        line.update((key, value) for key, value in record.__dict__.items()
                    if key not in _STANDARD and not key.startswith("_"))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    """Return the formatter for LOG_FORMAT (json or text)."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise RuntimeError(f"LOG_FORMAT is json or text, not {log_format!r}")


def configure_logging(app: Flask) -> None:
    """Log to stderr at LOG_LEVEL in LOG_FORMAT, and give every request an id and an access line."""
    level = app.config["LOG_LEVEL"]
    chosen = formatter(app.config["LOG_FORMAT"])
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if getattr(handler, _OURS, False)]
    if not root.handlers:  # as logging.basicConfig: a host that set up logging keeps it
        handler = logging.StreamHandler()
        setattr(handler, _OURS, True)
        root.addHandler(handler)
        root.setLevel(level)
        ours = [handler]
    for handler in ours:
        handler.setFormatter(chosen)
    app.logger.setLevel(level)
    access_log.setLevel(level)
    # Alembic announces every plugin it loads at INFO; only its warnings matter here.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # First of all hooks: everything after (authentication, errors) has the id.
    app.before_request(_start_request)
    app.after_request(_finish_request)


def _start_request() -> None:
    g.request_started = time.perf_counter()
    sent = request.headers.get("X-Request-ID", "")
    g.request_id = sent if _SANE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex


def _finish_request(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    response.headers["X-Request-ID"] = g.get("request_id") or ""
    rule = request.url_rule
    # Unmatched paths are one route: a scanner of random URLs must not grow the metrics.
    metrics.observe_request(request.method, rule.rule if rule is not None else "unmatched",
                            response.status_code, seconds)
    duration_ms = round(seconds * 1000, 2)
    access_log.info("%s %s %d %.1f ms request_id=%s", request.method, request.path,
                    response.status_code, duration_ms, g.get("request_id"),
                    extra={"status": response.status_code, "duration_ms": duration_ms})
    return response
