"""Who is calling: a bearer token, or a page's session cookie."""

from __future__ import annotations

from flask import current_app, g, request, session
from flask_wtf.csrf import ValidationError, validate_csrf

from construction.errors import ApiProblem
from construction.extensions import lone_read
from construction.permissions import Principal, declared_capability, require
from construction.services.accounts import principal_for_session, principal_for_token

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authenticate_request() -> Principal:
    """Return the caller's principal from the Authorization header, or raise 401.

    Without the header, a page's session cookie signs the caller in; a write
    made that way must carry the page's X-CSRFToken header.
    """
    if "principal" in g:
        return g.principal
    header = request.headers.get("Authorization", "")
    if not header and "user_id" in session:
        principal = session_principal()
        if principal is None:
            raise ApiProblem("unauthorized", "the session has ended; sign in again")
        # The cookie also rides along on links from other sites (SameSite=Lax);
        # only our own pages (or the address bar) may use it, even to read.
        if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
            raise ApiProblem("csrf-failed", "the session is only for this site's own pages")
        if request.method not in SAFE_METHODS:
            _check_csrf_header()
        g.principal = principal
        return principal
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem("unauthorized", "send 'Authorization: Bearer <token>'")
    with lone_read():
        principal = principal_for_token(token.strip())
    if principal is None:
        raise ApiProblem("unauthorized", "the token is unknown, expired or revoked")
    g.principal = principal
    return principal


def session_principal() -> Principal | None:
    """Return the principal of the signed-in page session, or None."""
    if "principal" in g:
        return g.principal
    user_id, stamp = session.get("user_id"), session.get("stamp")
    if not isinstance(user_id, int) or not isinstance(stamp, str):
        return None
    with lone_read():
        principal = principal_for_session(user_id, stamp)
    if principal is not None:
        g.principal = principal
    return principal


def _check_csrf_header() -> None:
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except ValidationError as error:
        raise ApiProblem("csrf-failed", f"{str(error).rstrip('.')}: send the "
                         "page's token in X-CSRFToken") \
            from error


def authorize_request() -> Principal:
    """Authenticate the caller and check the capability the route declares (403 if not held)."""
    principal = authenticate_request()
    view = current_app.view_functions.get(request.endpoint)
    capability = declared_capability(view, request.method)
    if capability is None:
        # A route that declares nothing is open to nobody (a test finds it first).
        raise ApiProblem("forbidden", "this route declares no capability")
    require(principal, capability)
    return principal
