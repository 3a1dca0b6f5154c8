"""Request rate limits on costly or sensitive routes, and their 429 answers.

Flask-Limiter counts, in Redis when REDIS_URL is set (every worker shares the
counts) or else in the process's memory. Each limit is a setting read on every
request: sign-in per address; decoding, uploads and exports per user; and the
security events (refused labels) a user's scans may raise.
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app, render_template, request
from flask_limiter import RateLimitExceeded
from limits import parse, parse_many

from construction.auth import session_principal
from construction.errors import ApiProblem, problem_response
from construction.extensions import limiter

LIMIT_SETTINGS = ("RATE_LIMIT_SIGN_IN", "RATE_LIMIT_DECODE", "RATE_LIMIT_UPLOADS",
                  "RATE_LIMIT_EXPORTS", "RATE_LIMIT_SECURITY_EVENTS")


def _setting(name: str):
    return lambda: current_app.config[name]


def _address() -> str:
    return f"address:{request.remote_addr or ''}"


# Only the form's POST counts: showing the page costs nothing.
sign_in_limit = limiter.limit(_setting("RATE_LIMIT_SIGN_IN"), methods=["POST"],
                              key_func=_address)
decode_limit = limiter.limit(_setting("RATE_LIMIT_DECODE"))
# Photo uploads and CSV imports draw on one allowance, as do the exports.
upload_limit = limiter.shared_limit(_setting("RATE_LIMIT_UPLOADS"), scope="uploads")
export_limit = limiter.shared_limit(_setting("RATE_LIMIT_EXPORTS"), scope="exports")


def _seconds_until(reset_at: float) -> int:
    return max(1, math.ceil(reset_at - time.time()))


def security_event_refusal(user_id: int) -> ApiProblem | None:
    """Count one security event against the user's allowance; return a 429 problem once spent.

    Scans of genuine labels never come here, so they keep working for a user
    over the limit; only the refused labels stop being recorded.
    """
    config = current_app.config
    if not (config["RATELIMIT_ENABLED"] and limiter.enabled and limiter.initialized):
        return None
    item = parse(config["RATE_LIMIT_SECURITY_EVENTS"])
    key = (config["RATELIMIT_KEY_PREFIX"], f"user:{user_id}", "security-events")
    try:
        if limiter.limiter.hit(item, *key):
            return None
        reset_at, _remaining = limiter.limiter.get_window_stats(item, *key)
    except Exception as error:  # as RATELIMIT_SWALLOW_ERRORS: a lost Redis lifts the limit
        current_app.logger.warning("security event limit not checked: %s: %s",
                                   type(error).__name__, str(error)[:200])
        return None
    seconds = _seconds_until(reset_at)
    return ApiProblem("too-many-requests",
                      f"this user's scans raised more than {item} refused labels; this one "
                      f"is refused unrecorded: try again in {seconds} s",
                      retry_after_s=seconds, headers={"Retry-After": str(seconds)})


def answer_rate_limited(error: RateLimitExceeded):
    """Answer a spent limit: problem+json on the API, a page in the user's language elsewhere."""
    current = limiter.current_limit
    seconds = _seconds_until(current.window[0]) if current is not None else 60
    headers = {"Retry-After": str(seconds)}
    if request.path.startswith("/api/"):
        return problem_response("too-many-requests", 429,
                                f"at most {error.limit.limit}; try again in {seconds} s",
                                headers=headers, retry_after_s=seconds)

    session_principal()  # the navigation of whoever is signed in
    return render_template("pages/error.html", status=429, retry_after_s=seconds), 429, headers


@limiter.request_filter
def _limits_off() -> bool:
    # One limiter serves every app of the process (tests build many): each app's
    # own setting decides.
    return not current_app.config["RATELIMIT_ENABLED"]


def init_rate_limits(app: Flask) -> None:
    """Check the limit settings and answer spent limits with 429 and Retry-After."""
    for name in LIMIT_SETTINGS:
        try:
            parse_many(app.config[name])
        except ValueError as error:
            raise RuntimeError(f"{name} is a rate such as '30/minute', not "
                               f"{app.config[name]!r}") from error
    app.register_error_handler(RateLimitExceeded, answer_rate_limited)
