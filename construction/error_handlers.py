"""The app's error handlers: every error on an API path answers application/problem+json.

Refusals of authorisation are stored in the audit log as they are answered.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from construction.errors import ApiProblem, problem_response
from construction.resilience import is_database_unavailable
from construction.services.audit import record_refusal

# Seconds a client is told to wait after a lost database connection (a restart or
# failover takes a few seconds; phones re-send their queue then).
DATABASE_RETRY_AFTER_S = 5

_BY_STATUS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
              405: "method-not-allowed", 409: "conflict", 413: "payload-too-large",
              415: "unsupported-media-type", 422: "validation-error", 429: "too-many-requests",
              500: "internal-error"}
# Refusals of who may do what: each is written to the audit log.
AUTHORISATION_REFUSALS = frozenset({"forbidden", "forbidden-action"})


def _is_api_request() -> bool:
    return request.path.startswith(("/api/", "/health/")) or request.path in ("/health",
                                                                              "/metrics")


def handle_api_problem(error: ApiProblem) -> Response:
    if error.status == 403 and error.type in AUTHORISATION_REFUSALS:
        record_refusal(error.type, error.detail)
    return problem_response(error.type, error.status, error.detail, headers=error.headers,
                            **error.extra)


def handle_http_exception(error: HTTPException):
    if not _is_api_request():
        return error
    status = error.code or 500
    type_ = _BY_STATUS.get(status, "bad-request" if status < 500 else "internal-error")
    extra: dict[str, Any] = {}
    headers = {}
    data = getattr(error, "data", None) or {}
    if "messages" in data:  # webargs validation errors, keyed by location
        messages = data["messages"]
        extra["errors"] = messages["json"] if set(messages) == {"json"} else messages
    if "headers" in data:
        headers = data["headers"]
    valid_methods = getattr(error, "valid_methods", None)
    if status == 405 and valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    detail = data.get("message") or (error.description if status != 422 else
                                     "The request has invalid fields")
    return problem_response(type_, status, detail, headers=headers, **extra)


def handle_unexpected(error: Exception):
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    if is_database_unavailable(error):  # a restart or cut link, not a bug: come back soon
        current_app.logger.warning("database unavailable on %s %s: %s: %s", request.method,
                                   request.path, type(error).__name__,
                                   str(getattr(error, "orig", None) or error).strip()[:200])
        if not _is_api_request():
            return _service_error(503)
        return problem_response("database-unavailable", 503,
                                "The database is not reachable at the moment. Send the "
                                "request again shortly (a scan sent again with the same "
                                "client_event_id is recorded once).",
                                headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})
    if not _is_api_request():
        current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return _service_error(500)
    if isinstance(error, RecursionError):  # JSON nested deeper than the parser goes
        return problem_response("bad-request", 400, "the JSON body is nested too deeply")
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return problem_response("internal-error", 500, "An unexpected error occurred")


def _service_error(status: int) -> Response:
    """A page's 500 or 503 in both languages, from a template that needs no database."""
    label = ({"status": "unverified", "reason": "message", "title_zh": "服务暂时不可用",
              "title_en": "Service unavailable"} if status == 503 else
             {"status": "invalid", "reason": "message", "title_zh": "出错了",
              "title_en": "Something went wrong"})
    response = current_app.make_response((render_template(
        "service_error.html", label=label, status=status,
        retry_after_s=DATABASE_RETRY_AFTER_S), status))
    if status == 503:
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_error_handlers(app: Flask) -> None:
    """Register problem+json handlers for API paths."""
    app.register_error_handler(ApiProblem, handle_api_problem)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
