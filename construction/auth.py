"""Bearer-token authentication and project scope."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, request
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


def authenticate_request() -> Principal:
    """Return the caller's principal from the Authorization header, or raise 401."""
    if "principal" in g:
        return g.principal
    from construction.services.accounts import principal_for_token

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem("unauthorized", "send 'Authorization: Bearer <token>'")
    with lone_read():
        principal = principal_for_token(token.strip())
    if principal is None:
        raise ApiProblem("unauthorized", "the token is unknown, expired or revoked")
    g.principal = principal
    return principal


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
