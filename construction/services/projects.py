"""Projects, buildings, storeys and component types."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from construction.errors import ApiProblem
from construction.extensions import db
from construction.models import (
    Building,
    Component,
    ComponentType,
    Organization,
    Project,
    ProjectParticipant,
    Storey,
)
from construction.permissions import Principal, in_scope, may, project_in_scope, require
from construction.services import audit, progress
from construction.services.production import delete_checklists_of_type


def find_project(code: str | None = None, project_id: int | None = None) -> Project:
    """Return the project with this code (or id), in no scope (commands name any), or 404."""
    project = (db.session.get(Project, project_id) if project_id is not None else
               db.session.scalar(select(Project).where(Project.code == code)))
    if project is None:
        raise ApiProblem("not-found", f"no project {code if code is not None else project_id!r}")
    return project


def project_for_reading(principal: Principal, project_id: int) -> Project:
    """Return a project the principal may read, or raise 404."""
    project = db.session.get(Project, project_id)
    if project is None or not project_in_scope(principal, project_id):
        raise ApiProblem("not-found", f"no project {project_id}")
    return project


def project_for_managing(principal: Principal, project_id: int) -> Project:
    """Return a project the principal may change, or raise 404/403."""
    project = project_for_reading(principal, project_id)
    require(principal, "project.change")
    if not project_in_scope(principal, project_id, write=True):
        raise ApiProblem("not-found", f"no project {project_id}")
    return project


def list_projects(principal: Principal) -> list[Project]:
    """List the projects the principal may read."""
    query = in_scope(select(Project).order_by(Project.id), principal, Project.id)
    return list(db.session.scalars(query))


def _commit_unique(what: str, flush_only: bool = False) -> None:
    try:
        db.session.flush() if flush_only else db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise ApiProblem("conflict", f"{what} already exists") from error


def _set_participants(project: Project, organization_ids: list[int]) -> list[int]:
    """Add the organizations not yet taking part; return their ids."""
    # No autoflush: a clash in the pending project must surface at commit, as a 409.
    with db.session.no_autoflush:
        known = set(db.session.scalars(
            select(Organization.id).where(Organization.id.in_(organization_ids))))
        missing = sorted(set(organization_ids) - known)
        if missing:
            db.session.rollback()
            raise ApiProblem("validation-error", "unknown organizations",
                             errors={"participant_ids": [f"no organization {i}"
                                                         for i in missing]})
        current = {p.organization_id for p in project.participants}
        added = sorted(set(organization_ids) - current)
        for organization_id in added:
            db.session.add(ProjectParticipant(project=project, organization_id=organization_id))
    return added


def _audit_participants(project: Project, organization_ids: list[int], action: str,
                        **detail) -> None:
    if not organization_ids:
        return
    with db.session.no_autoflush:  # a clash in the pending project surfaces at commit
        names = dict(db.session.execute(select(Organization.id, Organization.name)
                                        .where(Organization.id.in_(organization_ids))).all())
    for organization_id in organization_ids:
        audit.record(action, f"organization {organization_id} in project {project.code}",
                     project_id=project.id, detail={
                         "organization_id": organization_id,
                         "organization_name": names.get(organization_id, ""), **detail})


def create_project(principal: Principal, fields: dict[str, Any]) -> Project:
    """Create a project; the creator's organization takes part in it."""
    require(principal, "project.create")
    participant_ids = list(fields.pop("participant_ids", []))
    project = Project(**fields)
    db.session.add(project)
    if principal.role != "admin":
        participant_ids.append(principal.organization_id)
    added = _set_participants(project, participant_ids)
    # The project's id is needed for its audit records: a clash shows at this flush.
    _commit_unique(f"a project with code '{fields.get('code')}'", flush_only=True)
    _audit_participants(project, added, "project.participant_add", project_created=True)
    db.session.commit()
    return project


def update_project(principal: Principal, project_id: int, fields: dict[str, Any]) -> Project:
    """Change a project's fields or add participants."""
    project = project_for_managing(principal, project_id)
    if "region_code" in fields and fields["region_code"] != project.region_code \
            and not may(principal, "project.move_region"):
        raise ApiProblem("forbidden", "only an admin moves a project to another region")
    participant_ids = fields.pop("participant_ids", None)
    if "region_code" in fields and fields["region_code"] != project.region_code:
        audit.record("project.region_change", f"project {project.code}", project_id=project.id,
                     detail={"from": project.region_code, "to": fields["region_code"]})
        # Its past transitions now count in the new region's daily curve. The row lock first:
        # it waits for the scans in flight (they hold a key-share lock on the project until
        # they commit), so their counts are among those moved, and holds off the next ones.
        db.session.execute(select(Project.id).where(Project.id == project.id)
                           .with_for_update())
        progress.move_region(db.session.connection(), project.id, project.region_code,
                             fields["region_code"])
    for name, value in fields.items():
        setattr(project, name, value)
    if participant_ids is not None:
        _audit_participants(project, _set_participants(project, participant_ids),
                            "project.participant_add")
    _commit_unique(f"a project with code '{project.code}'")
    return project


def _refuse_if_used(count_query, what: str) -> None:
    if db.session.scalar(count_query):
        raise ApiProblem("in-use", f"{what} still has components")


def delete_project(principal: Principal, project_id: int) -> None:
    """Delete an empty project with its buildings, storeys and types."""
    project = project_for_managing(principal, project_id)
    _refuse_if_used(select(func.count()).where(Component.project_id == project_id), "the project")
    for building in project.buildings:
        for storey in building.storeys:
            db.session.delete(storey)
        db.session.delete(building)
    for component_type in db.session.scalars(
            select(ComponentType).where(ComponentType.project_id == project_id)):
        db.session.delete(component_type)
    _audit_participants(project, [p.organization_id for p in project.participants],
                        "project.participant_remove", project_deleted=True)
    for participant in project.participants:
        db.session.delete(participant)
    db.session.delete(project)
    db.session.commit()


def create_building(principal: Principal, project_id: int, fields: dict[str, Any]) -> Building:
    """Add a building to a project."""
    project_for_managing(principal, project_id)
    building = Building(project_id=project_id, **fields)
    db.session.add(building)
    _commit_unique(f"a building named '{fields.get('name')}'")
    return building


def building_for(principal: Principal, building_id: int, manage: bool = False) -> Building:
    """Return a building the principal may read (or change), or raise."""
    building = db.session.get(Building, building_id)
    if building is None:
        raise ApiProblem("not-found", f"no building {building_id}")
    (project_for_managing if manage else project_for_reading)(principal, building.project_id)
    return building


def update_building(principal: Principal, building_id: int, fields: dict[str, Any]) -> Building:
    """Rename a building."""
    building = building_for(principal, building_id, manage=True)
    for name, value in fields.items():
        setattr(building, name, value)
    _commit_unique(f"a building named '{building.name}'")
    return building


def delete_building(principal: Principal, building_id: int) -> None:
    """Delete a building with no components."""
    building = building_for(principal, building_id, manage=True)
    storey_ids = [s.id for s in building.storeys]
    _refuse_if_used(select(func.count()).where(Component.storey_id.in_(storey_ids)),
                    "the building")
    for storey in building.storeys:
        db.session.delete(storey)
    db.session.delete(building)
    db.session.commit()


def create_storey(principal: Principal, building_id: int, fields: dict[str, Any]) -> Storey:
    """Add a storey to a building."""
    building_for(principal, building_id, manage=True)
    storey = Storey(building_id=building_id, **fields)
    db.session.add(storey)
    _commit_unique(f"a storey named '{fields.get('name')}'")
    return storey


def storey_for(principal: Principal, storey_id: int, manage: bool = False) -> Storey:
    """Return a storey the principal may read (or change), or raise."""
    storey = db.session.get(Storey, storey_id)
    if storey is None:
        raise ApiProblem("not-found", f"no storey {storey_id}")
    building_for(principal, storey.building_id, manage)
    return storey


def update_storey(principal: Principal, storey_id: int, fields: dict[str, Any]) -> Storey:
    """Change a storey's name or elevation."""
    storey = storey_for(principal, storey_id, manage=True)
    for name, value in fields.items():
        setattr(storey, name, value)
    _commit_unique(f"a storey named '{storey.name}'")
    return storey


def delete_storey(principal: Principal, storey_id: int) -> None:
    """Delete a storey with no components."""
    storey = storey_for(principal, storey_id, manage=True)
    _refuse_if_used(select(func.count()).where(Component.storey_id == storey_id), "the storey")
    db.session.delete(storey)
    db.session.commit()


def list_component_types(principal: Principal, project_id: int) -> list[ComponentType]:
    """List a project's component types."""
    project_for_reading(principal, project_id)
    return list(db.session.scalars(select(ComponentType)
                                   .where(ComponentType.project_id == project_id)
                                   .order_by(ComponentType.id)))


def create_component_type(principal: Principal, project_id: int,
                          fields: dict[str, Any]) -> ComponentType:
    """Add a component type to a project."""
    project_for_managing(principal, project_id)
    _check_manufacturer(fields)
    component_type = ComponentType(project_id=project_id, **fields)
    db.session.add(component_type)
    _commit_unique(f"a component type named '{fields.get('name')}'")
    return component_type


def _check_manufacturer(fields: dict[str, Any]) -> None:
    manufacturer_id = fields.get("manufacturer_id")
    if manufacturer_id is not None and db.session.get(Organization, manufacturer_id) is None:
        raise ApiProblem("validation-error", "unknown manufacturer",
                         errors={"manufacturer_id": ["No such organization."]})


def component_type_for(principal: Principal, type_id: int, manage: bool = False) -> ComponentType:
    """Return a component type the principal may read (or change), or raise."""
    component_type = db.session.get(ComponentType, type_id)
    if component_type is None:
        raise ApiProblem("not-found", f"no component type {type_id}")
    (project_for_managing if manage else project_for_reading)(principal,
                                                              component_type.project_id)
    return component_type


def update_component_type(principal: Principal, type_id: int,
                          fields: dict[str, Any]) -> ComponentType:
    """Change a component type."""
    component_type = component_type_for(principal, type_id, manage=True)
    _check_manufacturer(fields)
    for name, value in fields.items():
        setattr(component_type, name, value)
    _commit_unique(f"a component type named '{component_type.name}'")
    return component_type


def delete_component_type(principal: Principal, type_id: int) -> None:
    """Delete a component type no component uses."""
    component_type = component_type_for(principal, type_id, manage=True)
    _refuse_if_used(select(func.count()).where(Component.component_type_id == type_id),
                    "the component type")
    delete_checklists_of_type(type_id)
    db.session.delete(component_type)
    db.session.commit()
