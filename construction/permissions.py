"""Who may do what: one table of capabilities by role, and the project scopes of every query.

A capability names one kind of act (`photo.upload`). `CAPABILITIES` says which roles
hold it, beside the lifecycle's table of who may perform which action on a component
(`construction.lifecycle.ACTIONS`, checked per scan). Every route declares the
capability it needs with `@requires(...)` (or `@requires(PUBLIC)`); the API checks it
before the view runs, and a test walks the app's routes and fails for any route
without a declaration.

Scope: an admin reads and writes every project; a regulator reads the projects of
its region (the region code is a prefix: region 33 sees 3301 and 3302) and writes
none; everyone else reads and writes the projects their organization takes part in.
What is out of scope does not exist for the caller: 404, never 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from construction.errors import ApiProblem
from construction.extensions import db
from construction.lifecycle import ROLES, role_actions
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


def principal_from(row: Any) -> Principal:
    """Build the principal of a user row joined with its organization.

    `row` has the user's `id`, `name` and `role`, and the organization's
    `organization_id`, `kind` and `region_code` (enums or their values).
    """
    return Principal(user_id=row.id, user_name=row.name, role=_value(row.role),
                     organization_id=row.organization_id,
                     organization_kind=_value(row.kind), region_code=row.region_code)


def _value(member: Any) -> str:
    return getattr(member, "value", member)


EVERYONE = frozenset(ROLES)
# Roles that work on projects (regulators oversee them and only read).
STAFF = EVERYONE - {"regulator"}
MANAGERS = frozenset({"admin", "project_manager"})
QUALITY = MANAGERS | {"qc_inspector"}
# Roles with at least one lifecycle action: they record scans and EPCIS events.
CAPTURING = frozenset(role for role in ROLES if role_actions(role))

# Anyone, signed in or not (public keys, liveness, the label resolver's pages).
PUBLIC = "public"

CAPABILITIES: dict[str, frozenset[str]] = {
    # Reading what is in scope.
    "project.read": EVERYONE,
    "component.read": EVERYONE,
    "photo.read": EVERYONE,
    "alert.read": EVERYONE,
    "report.read": EVERYONE,
    "export.read": EVERYONE,
    "ledger.read": EVERYONE,
    "model.read": EVERYONE,  # import status and the as-built model (a regulator's CIM reads it)
    "webhook.manage": EVERYONE,  # one's own subscriptions, to what one may read
    "webhook.checkpoints": frozenset({"admin", "regulator"}),  # the ledger's checkpoints
    # Planning projects and their components.
    "project.create": MANAGERS,
    "project.change": MANAGERS,
    "project.move_region": frozenset({"admin"}),  # the region decides who oversees it
    "component.change": MANAGERS,
    "model.import": MANAGERS,
    # Recording what happens to components (each action's roles: lifecycle.ACTIONS).
    "scan.record": CAPTURING,
    "label.decode": STAFF,  # regulators read records, not photos of labels
    "label.print": QUALITY | {"factory_worker"},
    "label.reprint": QUALITY,  # a reprint revokes the printed label
    # Loads: factory workers build and load them, site supervisors receive them (by
    # scanning, with the lifecycle's roles per action), project managers plan them.
    "load.read": EVERYONE,
    "load.build": MANAGERS | {"factory_worker"},
    "load.plan": MANAGERS,
    # Photos and what their checks find.
    "photo.upload": STAFF,
    "photo.decide": QUALITY | {"site_supervisor"},
    "photo.reanalyse": MANAGERS,
    "alert.close": QUALITY,
    # Production records: pours and moulds, strength results, checklists, inspections.
    "pour.record": QUALITY | {"factory_worker"},
    "strength.record": QUALITY,
    "checklist.manage": QUALITY,
    "inspection.record": QUALITY | {"site_supervisor"},
    "gate.override": frozenset({"admin", "qc_inspector"}),  # always with a reason
    # Sealing the ledger on demand.
    "ledger.checkpoint": frozenset({"admin", "regulator"}),
    # Who exported, changed accounts, keys or projects, or was refused.
    "audit.read": frozenset({"admin", "regulator"}),
    # Operations: the service's metrics (a caller on the machine itself needs no token).
    "metrics": frozenset({"admin"}),
    # Pages: the dashboard is for those who follow progress, not the factory floor.
    "page.dashboard": EVERYONE - {"factory_worker"},
}

# Routes the frameworks add (static files, the API's documentation): public.
FRAMEWORK_ENDPOINTS = frozenset({"static", "api-docs.openapi_json",
                                 "api-docs.openapi_swagger_ui"})


def may(principal: Principal | None, capability: str) -> bool:
    """Return whether the principal holds the capability (anyone holds PUBLIC)."""
    return capability == PUBLIC or (principal is not None and role_may(principal.role, capability))


def role_may(role: str, capability: str) -> bool:
    """Return whether a role holds a capability."""
    return role in CAPABILITIES[capability]


def require(principal: Principal, capability: str) -> None:
    """Raise 403 unless the principal holds the capability."""
    if not may(principal, capability):
        problem = "forbidden-action" if capability in ("scan.record",) else "forbidden"
        raise ApiProblem(problem, f"the role '{principal.role}' may not {_PHRASES[capability]}")


_PHRASES = {
    "project.read": "read projects", "component.read": "read components",
    "photo.read": "read photos", "alert.read": "read alerts", "report.read": "read reports",
    "export.read": "export", "ledger.read": "read the ledger",
    "webhook.manage": "subscribe to webhooks",
    "webhook.checkpoints": "receive checkpoints: only regulators and admins do",
    "project.create": "create projects",
    "project.change": "change projects",
    "project.move_region": "move a project to another region (only an admin does)",
    "component.change": "change components", "scan.record": "record actions: it may only read",
    "label.decode": "scan labels", "label.print": "print labels",
    "load.read": "read loads", "load.build": "build loads: factory workers build them",
    "load.plan": "plan loads: project managers plan them",
    "label.reprint": "reprint labels: reprinting is for project managers and QC inspectors",
    "photo.upload": "upload photos", "photo.decide": "decide findings",
    "photo.reanalyse": "reanalyse photos", "alert.close": "close alerts",
    "ledger.checkpoint": "ask for checkpoints: only admins and regulators do",
    "page.dashboard": "open the dashboard", "audit.read": "read the audit log",
    "pour.record": "record pours", "strength.record": "record strength results",
    "checklist.manage": "manage checklists", "inspection.record": "record inspections",
    "gate.override": "override gates: only QC inspectors do",
    "model.read": "read building models", "model.import": "import building models",
    "metrics": "read the service's metrics: only admins do",
}


def requires(capability: str):
    """Declare the capability a view needs; the API checks it before the view runs."""
    if capability != PUBLIC and capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")

    def declare(view):
        view.capability = capability
        return view
    return declare


def declared_capability(view_function, method: str) -> str | None:
    """Return the capability a route's view declares for an HTTP method, or None."""
    view_class = getattr(view_function, "view_class", None)
    if view_class is not None:
        name = "get" if method == "HEAD" else method.lower()
        view_function = getattr(view_class, name, None)
    return getattr(view_function, "capability", None)


def readable_project_ids(principal: Principal) -> Select | None:
    """Return a select of the project ids the principal may read (None means all)."""
    region = readable_region(principal)
    if region == "":
        return None
    if region is not None:
        return select(Project.id).where(Project.region_code.startswith(region, autoescape=True))
    return participant_project_ids(principal.organization_id)


NO_REGION = "-"  # a prefix of no region code: region codes are digits


def readable_region(principal: Principal) -> str | None:
    """Return the region code prefix whose projects are all the principal reads.

    "" for all projects (an admin); None when the scope is a list of projects,
    not a region (the participants' organizations).
    """
    if principal.is_admin:
        return ""
    if principal.role == "regulator":
        # Fail closed: a regulator without a region (only a direct database write makes
        # one; organizations are created with 2-12 digits) oversees nothing, not everything.
        return principal.region_code or NO_REGION
    return None


def writable_project_ids(principal: Principal) -> Select | None:
    """Return a select of the project ids the principal may change (None means all)."""
    if principal.is_admin:
        return None
    if principal.role == "regulator":
        return select(Project.id).where(Project.id.is_(None))
    return participant_project_ids(principal.organization_id)


def participant_project_ids(organization_id) -> Select:
    """Return a select of the projects an organization takes part in (id or bind parameter)."""
    return select(ProjectParticipant.project_id).where(
        ProjectParticipant.organization_id == organization_id)


def in_scope(query: Select, principal: Principal, project_column, write: bool = False) -> Select:
    """Return `query` limited to rows whose `project_column` is in the principal's scope."""
    scope = (writable_project_ids if write else readable_project_ids)(principal)
    return query if scope is None else query.where(project_column.in_(scope))


def readable_or_404(principal: Principal, model, object_id: int, noun: str,
                    project_column=None, write: bool = False):
    """Return the row of `model` with this id if its project is in scope, else raise 404."""
    column = project_column if project_column is not None else model.project_id
    query = in_scope(select(model).where(model.id == object_id), principal, column, write)
    row = db.session.scalar(query)
    if row is None:
        raise ApiProblem("not-found", f"no {noun} {object_id}")
    return row


def readable(principal: Principal, model, object_id: int, project_column=None) -> bool:
    """Return whether the row of `model` with this id exists and its project is in scope."""
    column = project_column if project_column is not None else model.project_id
    return db.session.scalar(in_scope(select(model.id).where(model.id == object_id),
                                      principal, column)) is not None


def project_in_scope(principal: Principal, project_id: int, write: bool = False) -> bool:
    """Return whether the project exists and is in the principal's scope."""
    query = in_scope(select(Project.id).where(Project.id == project_id), principal,
                     Project.id, write)
    return db.session.scalar(query) is not None
