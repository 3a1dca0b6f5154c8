"""Components: create, change, list, read with history, import from CSV."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.exc import IntegrityError

from construction.errors import ApiProblem, import_failed
from construction.extensions import db
from construction.identity import parse_scanned
from construction.models import (
    Building,
    Component,
    ComponentType,
    Event,
    Finding,
    Label,
    Photo,
    PhotoComponent,
    Storey,
    User,
)
from construction.pagination import Page, paginate
from construction.permissions import Principal, in_scope
from construction.services.projects import project_for_managing
from labels.codes import CodeError, new_code, normalize
from labels.gs1 import gtin_is_valid

IFC_GUID_PATTERN = re.compile(r"[0-3][0-9A-Za-z_$]{21}")
SERIAL_PATTERN = re.compile(r"[!-~]{1,20}")


@dataclass
class ComponentFilters:
    project_id: int | None = None
    building_id: int | None = None
    storey_id: int | None = None
    component_type_id: int | None = None
    state: str | None = None
    mark: str | None = None
    q: str | None = None
    code: str | None = None
    updated_since: datetime | None = None
    ifc_global_id: str | None = None
    removed_from_model: bool | None = None
    on_hold: bool | None = None
    damaged: bool | None = None
    ncr_open: bool | None = None


def visible_component(principal: Principal, component_id: int) -> Component | None:
    """Return a component if the principal may read it, else None."""
    return db.session.scalar(in_scope(select(Component).where(Component.id == component_id),
                                      principal, Component.project_id))


def find_component_id(reference: str) -> int:
    """Return the id of the component a code or an id names, in no scope (for commands), or 404."""
    found = None
    try:
        found = db.session.scalar(select(Component.id).where(
            Component.code == normalize(reference)))
    except CodeError:
        pass
    if found is None and reference.isdigit():
        found = db.session.scalar(select(Component.id).where(Component.id == int(reference)))
    if found is None:
        raise ApiProblem("not-found", f"no component {reference!r}")
    return found


def component_for_reading(principal: Principal, component_id: int) -> Component:
    """Return a component the principal may read, or raise 404."""
    component = visible_component(principal, component_id)
    if component is None:
        raise ApiProblem("not-found", f"no component {component_id}")
    return component


def list_components(principal: Principal, filters: ComponentFilters, page: int,
                    per_page: int) -> Page:
    """Return one page of components matching `filters`."""
    query = in_scope(select(Component), principal, Component.project_id)
    for column, value in ((Component.project_id, filters.project_id),
                          (Component.storey_id, filters.storey_id),
                          (Component.component_type_id, filters.component_type_id),
                          (Component.state, filters.state), (Component.mark, filters.mark),
                          (Component.ifc_global_id, filters.ifc_global_id),
                          (Component.removed_from_model, filters.removed_from_model)):
        if value is not None:
            query = query.where(column == value)
    if filters.building_id is not None:
        query = query.where(Component.storey_id.in_(
            select(Storey.id).where(Storey.building_id == filters.building_id)))
    if filters.q:
        needle = re.sub(r"[\s\-]", "", filters.q).upper()
        query = query.where(or_(Component.code.startswith(needle, autoescape=True),
                                Component.mark.startswith(filters.q, autoescape=True)))
    if filters.code is not None:
        query = query.where(_scanned_key_clause(filters.code))
    if filters.updated_since is not None:
        query = query.where(Component.updated_at >= filters.updated_since)
    for column, wanted in ((Component.on_hold, filters.on_hold),
                           (Component.damaged, filters.damaged),
                           (Component.ncr_open, filters.ncr_open)):
        if wanted is not None:
            # The bare column (not `= true`) is what the flag's partial index names.
            query = query.where(column if wanted else ~column)
    return paginate(query.order_by(Component.id), page, per_page)


def _scanned_key_clause(scanned: str):
    try:
        key = parse_scanned(scanned)
    except CodeError as error:
        raise ApiProblem("validation-error", str(error),
                         errors={"code": [str(error)]}) from error
    if key.kind == "id":
        return Component.id == key.id
    if key.kind == "gs1":
        return and_(Component.gtin == key.gtin, Component.serial == key.serial)
    return Component.code == key.code


def component_events(component_id: int) -> list[tuple[Event, str]]:
    """Return a component's events in order, each with its user's name."""
    return list(db.session.execute(
        select(Event, User.name).join(User, Event.user_id == User.id)
        .where(Event.component_id == component_id).order_by(Event.id)))


def _check_placement(project_id: int, fields: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    type_id = fields.get("component_type_id")
    if type_id is not None:
        component_type = db.session.get(ComponentType, type_id)
        if component_type is None or component_type.project_id != project_id:
            errors["component_type_id"] = ["No such component type in this project."]
    storey_id = fields.get("storey_id")
    if storey_id is not None:
        project_of_storey = db.session.scalar(
            select(Building.project_id).join(Storey, Storey.building_id == Building.id)
            .where(Storey.id == storey_id))
        if project_of_storey != project_id:
            errors["storey_id"] = ["No such storey in this project."]
    return errors


def _check_identity(fields: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if fields.get("code") is not None:
        try:
            fields["code"] = normalize(fields["code"])
        except CodeError as error:
            errors["code"] = [str(error)]
    if (fields.get("gtin") is None) != (fields.get("serial") is None):
        errors["serial"] = ["GTIN and serial go together."]
    if fields.get("gtin") is not None and not gtin_is_valid(fields["gtin"]):
        errors["gtin"] = ["Not a GTIN-14 with a valid check digit."]
    if fields.get("serial") is not None and not SERIAL_PATTERN.fullmatch(fields["serial"]):
        errors["serial"] = ["A serial has 1 to 20 printable ASCII characters."]
    if fields.get("ifc_global_id") is not None and \
            not IFC_GUID_PATTERN.fullmatch(fields["ifc_global_id"]):
        errors["ifc_global_id"] = [
            "Not an IFC GlobalId (22 characters of 0-9, A-Z, a-z, _, $; the first 0-3)."]
    return errors


def _commit_component(what: str) -> None:
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise ApiProblem("conflict", f"{what}: the code, GTIN + serial or IFC GlobalId "
                         "is already used") from error


def create_component(principal: Principal, fields: dict[str, Any]) -> Component:
    """Create a planned component in a project."""
    project_id = fields["project_id"]
    project_for_managing(principal, project_id)
    errors = _check_placement(project_id, fields) | _check_identity(fields)
    if errors:
        raise ApiProblem("validation-error", "the component has invalid fields", errors=errors)
    if fields.get("code") is None:
        fields["code"] = new_code()
    component = Component(**fields)
    db.session.add(component)
    _commit_component("component not created")
    return component


def update_component(principal: Principal, component_id: int,
                     fields: dict[str, Any]) -> Component:
    """Change a component's identity or plan (never its state: that takes an event)."""
    component = component_for_reading(principal, component_id)
    project_for_managing(principal, component.project_id)
    if "code" in fields and fields["code"] is None:
        raise ApiProblem("validation-error", "a component keeps a code",
                         errors={"code": ["Field may not be null."]})
    merged = {"gtin": component.gtin, "serial": component.serial} | fields
    errors = _check_placement(component.project_id, fields) | _check_identity(merged)
    if errors:
        raise ApiProblem("validation-error", "the component has invalid fields", errors=errors)
    for name, value in fields.items():
        setattr(component, name, merged.get(name, value))
    _commit_component("component not changed")
    return component


IMPORT_COLUMNS = ("mark", "type", "building", "storey", "install_sequence", "gtin", "serial",
                  "ifc_global_id", "code")


def import_components_csv(principal: Principal, project_id: int, text: str,
                          max_rows: int) -> list[Component]:
    """Create components from CSV rows; on any row error import nothing."""
    project_for_managing(principal, project_id)
    if "\x00" in text:
        raise ApiProblem("import-failed", "the file contains NUL characters",
                         errors=[{"row": text.count("\n", 0, text.index("\x00")) + 1,
                                  "field": None, "message": "NUL character"}])
    try:
        return _import_rows(project_id, csv.DictReader(io.StringIO(text.lstrip("\ufeff"))),
                            max_rows)
    except csv.Error as error:
        raise ApiProblem("import-failed", "the file is not valid CSV",
                         errors=[{"row": None, "field": None, "message": str(error)}]) from error


def _import_rows(project_id: int, reader: csv.DictReader, max_rows: int) -> list[Component]:
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("mark", "type") if c not in header]
    unknown = [c for c in header if c not in IMPORT_COLUMNS]
    if missing or unknown:
        errors = []
        if missing:
            errors.append({"row": 1, "field": None, "message": f"missing columns: {missing}"})
        if unknown:
            errors.append({"row": 1, "field": None,
                           "message": f"unknown columns: {unknown}; known: {list(IMPORT_COLUMNS)}"})
        raise ApiProblem("import-failed", "the header is not valid", errors=errors)
    reader.fieldnames = header

    types = {t.name: t.id for t in db.session.scalars(
        select(ComponentType).where(ComponentType.project_id == project_id))}
    storeys = {(b_name, s_name): s_id for s_id, s_name, b_name in db.session.execute(
        select(Storey.id, Storey.name, Building.name).join(Building)
        .where(Building.project_id == project_id))}

    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    errors: list[dict[str, Any]] = []
    seen: dict[tuple, int] = {}
    for line_number, raw in enumerate(reader, start=2):
        if line_number - 1 > max_rows:
            raise ApiProblem("import-failed", f"at most {max_rows} rows per import",
                             errors=[{"row": line_number, "field": None,
                                      "message": "too many rows"}])
        if None in raw:
            errors.append({"row": line_number, "field": None, "message": "too many cells"})
            continue
        cells = {k: (v or "").strip() for k, v in raw.items()}
        row_errors: list[tuple[str, str]] = []
        fields: dict[str, Any] = {"project_id": project_id, "mark": cells["mark"]}
        if not 1 <= len(cells["mark"]) <= 60:
            row_errors.append(("mark", "a mark of 1 to 60 characters is required"))
        if cells["type"] not in types:
            row_errors.append(("type", f"no component type named '{cells['type']}'"))
        else:
            fields["component_type_id"] = types[cells["type"]]
        building, storey = cells.get("building", ""), cells.get("storey", "")
        if building or storey:
            if (building, storey) not in storeys:
                row_errors.append(("storey", f"no storey '{storey}' in building '{building}'"))
            else:
                fields["storey_id"] = storeys[(building, storey)]
        if cells.get("install_sequence"):
            sequence = cells["install_sequence"]
            if sequence.isascii() and sequence.isdigit() and int(sequence) < 2**31:
                fields["install_sequence"] = int(sequence)
            else:
                row_errors.append(("install_sequence", "not a whole number from 0 to 2³¹-1"))
        for name in ("gtin", "serial", "ifc_global_id", "code"):
            fields[name] = cells.get(name) or None
        for name, messages in _check_identity(fields).items():
            row_errors.extend((name, m) for m in messages)
        for key in (("code", fields["code"]), ("gs1", fields["gtin"], fields["serial"]),
                    ("ifc", fields["ifc_global_id"])):
            if key[-1] is None:
                continue
            if key in seen:
                row_errors.append((key[0], f"repeats row {seen[key]}"))
            seen[key] = line_number
        if row_errors:
            errors.extend({"row": line_number, "field": f, "message": m} for f, m in row_errors)
        else:
            rows.append(fields)
            lines.append(line_number)
    errors.extend(_clashes_with_stored(project_id, rows, lines))
    if errors:
        raise import_failed(errors)
    if not rows:
        raise ApiProblem("import-failed", "the file has no rows", errors=[])
    components = []
    for fields in rows:
        fields["code"] = fields["code"] or new_code()
        components.append(Component(**fields))
    db.session.add_all(components)
    _commit_component("nothing imported")
    return components


def _clashes_with_stored(project_id: int, rows: list[dict[str, Any]],
                         lines: list[int]) -> list[dict[str, Any]]:
    clashes = []
    codes = {r["code"]: i for i, r in enumerate(rows) if r["code"]}
    guids = {r["ifc_global_id"]: i for i, r in enumerate(rows) if r["ifc_global_id"]}
    pairs = {(r["gtin"], r["serial"]): i for i, r in enumerate(rows) if r["gtin"]}
    if codes:
        for code in db.session.scalars(select(Component.code).where(Component.code.in_(codes))):
            clashes.append(("code", code, codes[code]))
    if guids:
        for guid in db.session.scalars(select(Component.ifc_global_id).where(
                Component.project_id == project_id, Component.ifc_global_id.in_(guids))):
            clashes.append(("ifc_global_id", guid, guids[guid]))
    if pairs:
        for gtin, serial in db.session.execute(
                select(Component.gtin, Component.serial)
                .where(tuple_(Component.gtin, Component.serial).in_(list(pairs)))):
            clashes.append(("serial", f"{gtin}/{serial}", pairs[(gtin, serial)]))
    return [{"row": lines[index], "field": field, "message": f"'{value}' is already used"}
            for field, value, index in clashes]


def component_evidence(component_id: int) -> dict[str, list[dict[str, Any]]]:
    """Return what documents a component: its label versions and the photos that show it."""
    labels = [{"version": label.version, "issued_at": label.issued_at,
               "print_count": label.print_count, "last_printed_at": label.last_printed_at,
               "revoked_at": label.revoked_at, "revoked_reason": label.revoked_reason}
              for label in db.session.scalars(select(Label).where(
                  Label.component_id == component_id).order_by(Label.version))]
    shown = select(PhotoComponent.photo_id).where(PhotoComponent.component_id == component_id)
    photos = []
    for photo in db.session.scalars(select(Photo).where(
            or_(Photo.component_id == component_id, Photo.id.in_(shown)))
            .order_by(Photo.id)):
        findings = db.session.execute(select(Finding.kind, Finding.status).where(
            Finding.photo_id == photo.id)).all()
        photos.append({"id": photo.id, "uploaded_at": photo.uploaded_at,
                       "taken_at": photo.taken_at, "status": photo.status,
                       "findings": [{"kind": kind, "status": status} for kind, status in findings],
                       "url": f"/api/v1/photos/{photo.id}"})
    return {"labels": labels, "photos": photos}
