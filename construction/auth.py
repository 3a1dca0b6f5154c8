"""Who is calling (bearer token, or a page's session cookie) and project scope."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, request, session
from sqlalchemy import Select, select

from construction.errors import ApiProblem
from construction.extensions import lone_read
from construction.models import Project, ProjectParticipant


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user, their role and their organization."""

    user_id: int
    user_name: str
    role: str
    organization_id: int
    organization_kind: str
    region_code: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authenticate_request() -> Principal:
    """Return the caller's principal from the Authorization header, or raise 401.

    Without the header, a page's session cookie signs the caller in; a write
    made that way must carry the page's X-CSRFToken header.
    """
    if "principal" in g:
        return g.principal
    from construction.services.accounts import principal_for_token

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
    from construction.services.accounts import principal_for_session

    user_id, stamp = session.get("user_id"), session.get("stamp")
    if not isinstance(user_id, int) or not isinstance(stamp, str):
        return None
    with lone_read():
        principal = principal_for_session(user_id, stamp)
    if principal is not None:
        g.principal = principal
    return principal


def _check_csrf_header() -> None:
    from flask_wtf.csrf import ValidationError, validate_csrf

    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except ValidationError as error:
        raise ApiProblem("csrf-failed", f"{error}; send the page's token in X-CSRFToken") \
            from error


def readable_or_404(principal: Principal, model, object_id: int, noun: str,
                    project_column=None):
    """Return the row of `model` with this id if the principal may read its project, else 404."""
    from construction.extensions import db

    column = project_column if project_column is not None else model.project_id
    query = select(model).where(model.id == object_id)
    scope = visible_project_ids(principal)
    if scope is not None:
        query = query.where(column.in_(scope))
    row = db.session.scalar(query)
    if row is None:
        raise ApiProblem("not-found", f"no {noun} {object_id}")
    return row


def visible_project_ids(principal: Principal) -> Select | None:
    """Return a select of the project ids `principal` may read (None means all)."""
    if principal.is_admin:
        return None
    if principal.role == "regulator":
        return select(Project.id).where(
            Project.region_code.startswith(principal.region_code, autoescape=True))
    return select(ProjectParticipant.project_id).where(
        ProjectParticipant.organization_id == principal.organization_id
    )
