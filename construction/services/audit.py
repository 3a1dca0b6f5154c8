"""The audit log: who exported, changed accounts, tokens, labels, keys and projects, or was
refused, when, and from where.

A change is recorded in the transaction that makes it, so the change and its
record commit or roll back together. Exports and refusals change nothing:
their records get a short transaction of their own.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, g, has_request_context, request
from sqlalchemy import Select, select

from construction import logs
from construction.extensions import db, write_lock
from construction.models import AuditRecord, utcnow
from construction.pagination import Page, paginate
from construction.permissions import Principal, in_scope, require

ACTIONS = {
    "export.components_csv": "components exported as CSV",
    "export.events_csv": "events exported as CSV",
    "export.epcis": "events read as an EPCIS query document",
    "token.create": "an API token issued",
    "token.revoke": "an API token revoked",
    "user.create": "a user created",
    "user.deactivate": "a user deactivated (tokens and page sessions stopped)",
    "user.activate": "a user activated again",
    "user.password": "a user's page password set",
    "label.reprint": "labels reprinted: new versions, the old ones revoked",
    "key.create": "the label signing key created",
    "key.rotate": "the label signing key rotated",
    "key.revoke": "a label key revoked: labels it signed are refused",
    "ledger.new_key": "the ledger checkpoint signing key created",
    "project.region_change": "a project moved to another region",
    "project.participant_add": "an organization joined a project",
    "project.participant_remove": "an organization left a project (the project was deleted)",
    "authz.refused": "a request refused for the caller's role or scope (403)",
}


def _plain(value: Any) -> Any:
    """Return `value` as JSON can store it (dates as ISO text)."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat()
                                 if hasattr(v, "isoformat") else str(v)))


def _operating_system_user() -> str:
    try:
        return f"os:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in a bare container
        return "os:?"


def record(action: str, subject: str = "", *, project_id: int | None = None,
           detail: dict[str, Any] | None = None,
           principal: Principal | None = None) -> AuditRecord:
    """Add an audit record to the session, to commit with the change it describes.

    Who: the principal given, else the caller of the request; a command names
    the operating-system user and the address "cli".
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    in_request = has_request_context()
    who = principal or (g.get("principal") if in_request else None)
    entry = AuditRecord(
        at=utcnow(), action=action, project_id=project_id, subject=subject[:200],
        detail=_plain(detail) if detail is not None else None,
        user_id=who.user_id if who else None,
        user_name=who.user_name if who else ("" if in_request else _operating_system_user()),
        organization_id=who.organization_id if who else None,
        role=who.role if who else "",
        address=(request.remote_addr or "")[:64] if in_request else "cli",
        request_id=logs.request_id())  # the request's id, as its log lines and answer carry
    db.session.add(entry)
    return entry


@contextmanager
def _own_transaction():
    """Run a short write transaction, with nothing of the request's work in it."""
    db.session.rollback()
    with write_lock():
        try:
            yield
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise


def record_alone(action: str, subject: str = "", **fields: Any) -> None:
    """Write an audit record at once, in a transaction of its own (before an export)."""
    with _own_transaction():
        record(action, subject, **fields)


def record_export(action: str, principal: Principal, filters: Any) -> None:
    """Write the record of an export before it streams: who, and what they asked for."""
    asked = {key: value for key, value in (
        dataclasses.asdict(filters) if dataclasses.is_dataclass(filters) else filters).items()
        if value is not None}
    project_id = asked.get("project_id")
    record_alone(action, f"project {project_id}" if project_id else "every project in scope",
                 project_id=project_id, detail={"filters": asked}, principal=principal)


def record_refusal(problem_type: str, detail: str) -> None:
    """Write the record of a 403; a failure to write it is logged, never answered as a 500."""
    if not has_request_context():
        return
    try:
        with _own_transaction():
            record("authz.refused", f"{request.method} {request.path}",
                   detail={"problem": problem_type, "detail": detail[:500]})
    except Exception:  # the refusal must still be answered as one
        current_app.logger.exception("the audit record of a refusal was not written")


@dataclass
class AuditFilters:
    action: str | None = None
    user_id: int | None = None
    project_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_records(principal: Principal, filters: AuditFilters, page: int,
                 per_page: int) -> Page:
    """List audit records, newest first: all for admins, their projects' for regulators."""
    require(principal, "audit.read")
    # Records without a project (accounts, keys) are for admins alone.
    query = in_scope(matching(filters), principal, AuditRecord.project_id)
    return paginate(query.order_by(AuditRecord.id.desc()), page, per_page)


def newest_records(filters: AuditFilters, limit: int) -> list[AuditRecord]:
    """Return the newest audit records matching the filters, in no scope (for commands)."""
    return list(db.session.scalars(matching(filters).order_by(AuditRecord.id.desc())
                                   .limit(limit)))


def matching(filters: AuditFilters) -> Select:
    """Select the audit records matching the filters, in no scope (commands read them all)."""
    query = select(AuditRecord)
    if filters.action:
        query = query.where(AuditRecord.action == filters.action)
    if filters.user_id is not None:
        query = query.where(AuditRecord.user_id == filters.user_id)
    if filters.project_id is not None:
        query = query.where(AuditRecord.project_id == filters.project_id)
    if filters.since is not None:
        query = query.where(AuditRecord.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditRecord.at < filters.until)
    return query
