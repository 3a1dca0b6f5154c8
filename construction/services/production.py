"""Production records: pours, strength results, checklists and gate overrides.

The lifecycle's gates (construction.lifecycle) are checked on evidence; this
module looks the records up for a batch of scans and states that evidence.
Where a gate applies:

- `stripping_strength` (demould) and `delivery_strength` (load, depart): when the
  component's type states that strength (in MPa, or a percentage of its grade's
  characteristic strength). The best result of the component's pour, at any
  age, must reach it; a piece in no pour has no result and is refused.
- `pre_pour_inspection` (cast) and `post_demould_inspection` (qc_pass): when the
  component's type has a checklist template for that stage. The latest
  inspection of the component at that stage must have passed.
- `site_acceptance_inspection` (accept_delivery): when the project asks for it
  (`site_acceptance_required`) and the type has a site acceptance template.

A QC inspector's override (with a reason) lets a gate pass for one component;
the override is named in every event it lets through.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from construction import lifecycle
from construction.errors import ApiProblem, import_failed
from construction.extensions import db
from construction.models import (
    ChecklistTemplate,
    Component,
    ComponentType,
    GateOverride,
    Inspection,
    Mould,
    Organization,
    Pour,
    Project,
    ProjectParticipant,
    StrengthResult,
    User,
)
from construction.pagination import Page, paginate
from construction.permissions import (
    Principal,
    in_scope,
    readable_or_404,
    require,
)
from construction.schemas import NewPourSchema

ITEM_KINDS = ("pass_fail", "measured", "text", "photo")
CURING_METHODS = ("ambient", "steam")
# The age at which a grade's strength is judged (GB/T 50107-2010, 3.0.x: the
# standard-cured specimen at 28 days).
STANDARD_AGE_DAYS = 28
# Pieces still in the mould, or cast: a pour may take them.
POURABLE_STATES = ("planned", "cast")


def characteristic_strength(grade: str | None) -> float | None:
    """Return f_cu,k in MPa of a grade such as 'C30' (the number after C), or None."""
    match = re.match(r"C([0-9]{2,3})", grade or "")
    return float(match.group(1)) if match else None


# --- gates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateSettings:
    """What a component's type asks of its records (read with the scan's lock)."""

    concrete_grade: str | None = None
    stripping_strength_mpa: float | None = None
    stripping_strength_percent: float | None = None
    delivery_strength_mpa: float | None = None
    delivery_strength_percent: float | None = None
    checklist_stages: str = ""

    def required_mpa(self, which: str) -> float | None:
        """Return the stripping or delivery strength in MPa, or None when none is stated."""
        mpa = getattr(self, f"{which}_strength_mpa")
        if mpa is not None:
            return float(mpa)
        percent = getattr(self, f"{which}_strength_percent")
        f_cu_k = characteristic_strength(self.concrete_grade)
        if percent is None or f_cu_k is None:
            return None
        # Rounded up to the 0.1 MPa results are given in: never asks less than the share
        # (75 % of C35 is 26.25 MPa: 26.3, since a 26.2 result is below it).
        share = Decimal(str(f_cu_k)) * Decimal(str(percent)) / 100
        return float(share.quantize(Decimal("0.1"), rounding=ROUND_CEILING))

    def has_checklist(self, stage: str) -> bool:
        return stage in self.checklist_stages.split()

    def applies(self, gate: lifecycle.Gate) -> bool:
        """Tell whether the type states a requirement for this gate."""
        if gate.kind == "strength":
            return self.required_mpa(gate.subject) is not None
        return self.has_checklist(gate.subject)


@dataclass
class GateRecords:
    """The records a batch of scans needs for its gates, read in a few queries."""

    best_strength: dict[int, float] = field(default_factory=dict)  # pour -> MPa
    pour_projects: dict[int, int] = field(default_factory=dict)  # pour -> project
    inspections: dict[tuple[int, str], tuple[int, bool]] = field(default_factory=dict)
    overrides: dict[tuple[int, str], tuple[int, str]] = field(default_factory=dict)
    site_acceptance_projects: set[int] = field(default_factory=set)


def gates_needed(settings: GateSettings | None, action: str) -> bool:
    """Tell whether an action on a component of these settings needs records looked up."""
    spec = lifecycle.ACTIONS.get(action)
    if spec is None or settings is None:
        return False
    return any(settings.applies(gate) for gate in spec.gates)


def scan_pour_id(data: dict | None) -> Any:
    """Return the pour a cast scan names (data.pour_id), or None."""
    return (data or {}).get("pour_id")


def describes_new_pour(item_action: str, data: dict | None) -> bool:
    """Tell whether a scan is a cast that describes its pour (data.pour) instead of naming it."""
    return item_action == "cast" and bool(data) and isinstance(data.get("pour"), dict)


def pours_from_casts(principal: Principal, events: list[dict[str, Any]]) -> None:
    """Put the pieces of new `cast` events that describe their pour (data.pour) in that pour.

    Casts of one request with the same description are one pour. A pour is one
    casting on one mould at one time, so a description naming a mould and a cast
    time that already has a pour in the project joins that pour (the pieces of
    one casting may be scanned one by one). Called before the scans commit: a
    refusal here writes nothing.
    """
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if describes_new_pour(event["action"], event["data"]):
            groups[json.dumps(event["data"]["pour"], sort_keys=True)].append(event)
    if not groups:
        return
    for members in groups.values():
        try:
            fields = NewPourSchema().load(members[0]["data"]["pour"])
        except ValidationError as error:
            raise ApiProblem("validation-error", "the cast describes no valid pour",
                             errors={"data": {"pour": error.messages}}) from None
        components = list(db.session.scalars(select(Component).where(
            Component.id.in_({event["component_id"] for event in members}))))
        projects = {c.project_id for c in components}
        if len(projects) != 1:
            raise ApiProblem("validation-error", "a pour's components belong to one project",
                             errors={"data": {"pour": ["Components of several projects."]}})
        project_id = projects.pop()
        wrong_grade = _grade_errors(components, fields["concrete_grade"])
        if wrong_grade:
            raise ApiProblem("validation-error", "these components cannot be in this pour",
                             errors={"data": {"pour": wrong_grade}})
        pour = _pour_of_casting(principal, fields, project_id)
        taken = sorted(f"{c.code} is in pour {c.pour_id}" for c in components
                       if c.pour_id not in (None, pour.id))
        if taken:
            raise ApiProblem("conflict", "these components are in another pour", status=409,
                             errors={"data": {"pour": taken}})
        for component in components:
            component.pour_id = pour.id
    db.session.flush()


def _pour_of_casting(principal: Principal, fields: dict[str, Any], project_id: int) -> Pour:
    """Return the project's pour on this mould at this time, or a new one."""
    mould = _mould_for(principal, fields.pop("mould"), project_id)
    # One casting per mould at a time: lock the mould so two scans of it agree.
    db.session.execute(select(Mould.id).where(Mould.id == mould.id).with_for_update())
    pour = db.session.scalar(select(Pour).where(
        Pour.project_id == project_id, Pour.mould_id == mould.id,
        Pour.cast_at == fields["cast_at"]))
    if pour is None:
        pour = Pour(project_id=project_id, manufacturer_id=mould.organization_id, mould=mould,
                    created_by_user_id=principal.user_id, **fields)
        db.session.add(pour)
        db.session.flush()
    elif pour.concrete_grade != fields["concrete_grade"]:
        raise ApiProblem("conflict", f"mould {mould.name} has a pour of "
                         f"{pour.concrete_grade} at that time", status=409, pour_id=pour.id)
    return pour


def load_gate_records(needs: Iterable[tuple[int, int, int | None]],
                      pour_ids: Iterable[int]) -> GateRecords:
    """Read the records for (component, project, pour) triples and pours named by casts."""
    needs = list(needs)
    records = GateRecords()
    component_ids = {component for component, _, _ in needs}
    pours = {pour for _, _, pour in needs if pour is not None} | set(pour_ids)
    if pours:
        records.best_strength = dict(db.session.execute(
            select(StrengthResult.pour_id, func.max(StrengthResult.strength_mpa))
            .where(StrengthResult.pour_id.in_(pours)).group_by(StrengthResult.pour_id)).all())
        records.pour_projects = dict(db.session.execute(
            select(Pour.id, Pour.project_id).where(Pour.id.in_(pours))).all())
    if component_ids:
        for component_id, stage, inspection_id, passed in db.session.execute(
                select(Inspection.component_id, Inspection.stage, Inspection.id,
                       Inspection.passed)
                .where(Inspection.component_id.in_(component_ids)).order_by(Inspection.id)):
            records.inspections[(component_id, stage)] = (inspection_id, passed)
        for component_id, gate, override_id, reason in db.session.execute(
                select(GateOverride.component_id, GateOverride.gate, GateOverride.id,
                       GateOverride.reason).where(GateOverride.component_id.in_(component_ids))):
            records.overrides[(component_id, gate)] = (override_id, reason)
        projects = {project for _, project, _ in needs}
        records.site_acceptance_projects = set(db.session.scalars(
            select(Project.id).where(Project.id.in_(projects),
                                     Project.site_acceptance_required.is_(True))))
    return records


def gate_evidence(action: str, component_id: int, project_id: int, pour_id: int | None,
                  settings: GateSettings, records: GateRecords) -> dict[str, dict]:
    """Return the evidence of each gate of `action` that applies, keyed by gate name."""
    evidence: dict[str, dict] = {}
    for gate in lifecycle.ACTIONS[action].gates:
        if not settings.applies(gate):
            continue
        if gate.kind == "strength":
            found: dict[str, Any] = {"required_mpa": settings.required_mpa(gate.subject),
                                     "measured_mpa": records.best_strength.get(pour_id),
                                     "pour_id": pour_id}
        else:
            if gate.subject == "site_acceptance" \
                    and project_id not in records.site_acceptance_projects:
                continue
            inspection_id, passed = records.inspections.get((component_id, gate.subject),
                                                            (None, False))
            found = {"inspection_id": inspection_id, "passed": passed}
        override = records.overrides.get((component_id, gate.name))
        if override is not None and gate.unmet(found) is not None:
            found["override_id"], found["override_reason"] = override
        evidence[gate.name] = found
    return evidence


# --- moulds ------------------------------------------------------------------------------


def list_moulds(principal: Principal) -> list[Mould]:
    """List the moulds of the caller's plant (every plant's for admins and regulators)."""
    query = select(Mould).order_by(Mould.organization_id, Mould.name)
    if principal.role == "regulator":
        query = query.join(Organization, Mould.organization_id == Organization.id).where(
            Organization.region_code.startswith(principal.region_code, autoescape=True))
    elif not principal.is_admin:
        query = query.where(Mould.organization_id == principal.organization_id)
    return list(db.session.scalars(query))


def create_mould(principal: Principal, fields: dict[str, Any]) -> Mould:
    """Add a mould or bed to the caller's plant (an admin names the plant)."""
    organization_id = fields.pop("organization_id", None) if principal.is_admin else None
    organization_id = organization_id or principal.organization_id
    if db.session.get(Organization, organization_id) is None:
        raise ApiProblem("validation-error", "unknown organization",
                         errors={"organization_id": ["No such organization."]})
    mould = Mould(organization_id=organization_id, **{k: v for k, v in fields.items()
                                                      if k != "organization_id"})
    db.session.add(mould)
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise ApiProblem("conflict", f"the plant already has a mould named '{mould.name}'") \
            from error
    return mould


# --- pours -------------------------------------------------------------------------------


def _components_for_pour(principal: Principal, component_ids: list[int]) -> list[Component]:
    # Locked first, then the mould: the order a cast scan takes them in.
    components = list(db.session.scalars(in_scope(
        select(Component).where(Component.id.in_(set(component_ids))), principal,
        Component.project_id, write=True).order_by(Component.id)
        .with_for_update(of=Component)))
    missing = sorted(set(component_ids) - {c.id for c in components})
    if missing:
        raise ApiProblem("not-found", f"no component {missing[0]}")
    return components


def _mould_for(principal: Principal, name: str, project_id: int) -> Mould:
    participants = select(ProjectParticipant.organization_id).where(
        ProjectParticipant.project_id == project_id)
    moulds = list(db.session.scalars(select(Mould).where(
        Mould.name == name, Mould.active.is_(True), Mould.organization_id.in_(participants))))
    own = [m for m in moulds if m.organization_id == principal.organization_id]
    if own or len(moulds) == 1:
        return (own or moulds)[0]
    reason = "Several plants of the project have a mould of this name." if moulds \
        else "No plant of the project has an active mould of this name (POST /moulds)."
    raise ApiProblem("validation-error", "unknown mould", errors={"mould": [reason]})


def _grade_errors(components: list[Component], grade: str) -> list[str]:
    return [f"{c.code} is specified {c.component_type.concrete_grade}" for c in components
            if c.component_type.concrete_grade not in (None, "", grade)]


def create_pour(principal: Principal, fields: dict[str, Any]) -> Pour:
    """Record a pour and the components cast in it."""
    components = _components_for_pour(principal, fields.pop("component_ids"))
    projects = {c.project_id for c in components}
    if len(projects) != 1:
        raise ApiProblem("validation-error", "a pour's components belong to one project",
                         errors={"component_ids": ["Components of several projects."]})
    project_id = projects.pop()
    errors: list[str] = []
    for component in components:
        if component.pour_id is not None:
            errors.append(f"{component.code} is in pour {component.pour_id}")
        elif component.state not in POURABLE_STATES:
            errors.append(f"{component.code} is {component.state}: already past casting")
    errors += _grade_errors(components, fields["concrete_grade"])
    if errors:
        raise ApiProblem("validation-error", "these components cannot be in this pour",
                         errors={"component_ids": errors})
    # One casting per mould at a time, by the rule casts that describe their pour follow:
    # pieces sent for a mould and time that has a pour join it (a piece forgotten in it,
    # cast already, included), and another grade then is 409.
    pour = _pour_of_casting(principal, fields, project_id)
    for component in components:
        component.pour_id = pour.id
    db.session.commit()
    return pour


def pour_for_reading(principal: Principal, pour_id: int, write: bool = False) -> Pour:
    """Return a pour in the principal's scope, or raise 404."""
    return readable_or_404(principal, Pour, pour_id, "pour", write=write)


def list_pours(principal: Principal, project_id: int | None, page: int,
               per_page: int) -> Page:
    """Return one page of pours in scope, newest first."""
    query = in_scope(select(Pour), principal, Pour.project_id)
    if project_id is not None:
        query = query.where(Pour.project_id == project_id)
    return paginate(query.order_by(Pour.cast_at.desc(), Pour.id.desc()), page, per_page)


def pour_view(pour: Pour) -> dict[str, Any]:
    """Return a pour with its mould, components and strength results."""
    components = db.session.execute(
        select(Component.id, Component.code, Component.mark, Component.state)
        .where(Component.pour_id == pour.id).order_by(Component.id)).all()
    return {**{c.key: getattr(pour, c.key) for c in Pour.__table__.columns},
            "mould": pour.mould.name, "mould_kind": pour.mould.kind,
            "components": [dict(row._mapping) for row in components],
            "strength_results": strength_results(pour.id)}


def strength_results(pour_id: int) -> list[StrengthResult]:
    """Return a pour's strength results by age and specimen."""
    return list(db.session.scalars(select(StrengthResult).where(
        StrengthResult.pour_id == pour_id).order_by(StrengthResult.age_days,
                                                    StrengthResult.specimen)))


# --- strength results --------------------------------------------------------------------


def cube_size_factor(area_mm2: float) -> float:
    """Return the size conversion factor of a cube by its loaded area (GB/T 50107-2010, 4.3.2).

    A 150 mm cube is the standard; 100 mm cubes count 0.95 and 200 mm cubes 1.05
    (for grades below C60).
    """
    side = math.sqrt(area_mm2)
    if side < 125:
        return 0.95
    if side > 175:
        return 1.05
    return 1.0


def _strength_of(fields: dict[str, Any]) -> float:
    strength = fields.get("strength_mpa")
    if strength is not None:
        return round(float(strength), 1)
    load_kn, area = fields.get("load_kn"), fields.get("area_mm2")
    if load_kn is None or area is None:
        raise ApiProblem("validation-error", "give strength_mpa, or load_kn and area_mm2",
                         errors={"strength_mpa": ["Missing: or load_kn with area_mm2."]})
    # kN * 1000 / mm2 = N/mm2 = MPa, converted to the 150 mm standard cube.
    return round(load_kn * 1000 / area * cube_size_factor(area), 1)


# A result's stated age and its test day agree within this share of the age (at least a
# day): enough for a laboratory's calendar, not for a 28-day result tested on day 3.
AGE_TOLERANCE = 0.25
CLOCK_SKEW = timedelta(minutes=5)


def _new_result(principal: Principal, pour: Pour, fields: dict[str, Any]) -> StrengthResult:
    tested_at, age_days = fields["tested_at"], fields["age_days"]
    if tested_at < pour.cast_at:
        raise ApiProblem("validation-error", "a specimen is tested after its pour",
                         errors={"tested_at": ["Before the pour was cast."]})
    if tested_at > datetime.now(UTC) + CLOCK_SKEW:
        raise ApiProblem("validation-error", "a result is recorded after its test",
                         errors={"tested_at": ["In the future."]})
    age = (tested_at - pour.cast_at) / timedelta(days=1)
    if abs(age - age_days) > max(1.0, AGE_TOLERANCE * age_days):
        raise ApiProblem(
            "validation-error", f"a {age_days}-day result tested {age:.1f} days after the pour "
            "was cast", errors={"age_days": [
                f"Tested {age:.1f} days after the pour was cast, not about {age_days}."]})
    return StrengthResult(
        pour_id=pour.id, specimen=fields["specimen"], age_days=fields["age_days"],
        tested_at=tested_at, strength_mpa=_strength_of(fields),
        load_kn=fields.get("load_kn"), area_mm2=fields.get("area_mm2"),
        laboratory=fields.get("laboratory") or "", report_number=fields.get("report_number") or "",
        created_by_user_id=principal.user_id)


def _same_result(stored: StrengthResult, new: StrengthResult) -> bool:
    return (stored.strength_mpa, stored.tested_at, stored.laboratory, stored.report_number) \
        == (new.strength_mpa, new.tested_at, new.laboratory, new.report_number)


def _existing_result(pour_id: int, specimen: str, age_days: int) -> StrengthResult | None:
    return db.session.scalar(select(StrengthResult).where(
        StrengthResult.pour_id == pour_id, StrengthResult.specimen == specimen,
        StrengthResult.age_days == age_days))


def add_strength_result(principal: Principal, pour_id: int,
                        fields: dict[str, Any]) -> tuple[StrengthResult, bool]:
    """Record one strength result; return it and whether it is new (a repeat is not)."""
    pour = pour_for_reading(principal, pour_id, write=True)
    new = _new_result(principal, pour, fields)
    stored = _existing_result(pour.id, new.specimen, new.age_days)
    if stored is None:
        db.session.add(new)
        try:
            db.session.commit()
            return new, True
        except IntegrityError:
            db.session.rollback()  # the same result sent twice at once
            stored = _existing_result(pour.id, new.specimen, new.age_days)
    if _same_result(stored, new):
        return stored, False
    raise ApiProblem("conflict", f"specimen {new.specimen} of pour {pour.id} already has a "
                     f"{new.age_days}-day result ({stored.strength_mpa} MPa)",
                     result_id=stored.id)


CSV_COLUMNS = ("pour_id", "specimen", "age_days", "tested_at", "strength_mpa", "load_kn",
               "area_mm2", "laboratory", "report_number")


def import_strength_csv(principal: Principal, text: str, limit: int,
                        load_row) -> list[StrengthResult]:
    """Import a laboratory's results from CSV: every row or none.

    `load_row` validates one row's fields (a marshmallow load) and raises
    ValidationError. Columns: CSV_COLUMNS; strength_mpa or load_kn with area_mm2.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = {"pour_id", "specimen", "age_days", "tested_at"} - set(reader.fieldnames or ())
    if missing:
        raise ApiProblem("import-failed", "the header lacks columns", errors=[
            {"row": 1, "field": name, "message": "Missing column."} for name in sorted(missing)])
    errors: list[dict[str, Any]] = []
    results: list[StrengthResult] = []
    seen: set[tuple[int, str, int]] = set()
    pours: dict[int, Pour | None] = {}
    for number, raw in enumerate(reader, start=2):
        if number - 1 > limit:
            raise ApiProblem("import-failed", f"at most {limit} rows per import",
                             errors=[{"row": number, "field": None, "message": "Too many rows."}])
        values = {k: v for k, v in raw.items() if k in CSV_COLUMNS and v not in (None, "")}
        try:
            fields = load_row(values)
            pour_id = fields.pop("pour_id")
            if pour_id not in pours:
                try:
                    pours[pour_id] = pour_for_reading(principal, pour_id, write=True)
                except ApiProblem:
                    pours[pour_id] = None
            pour = pours[pour_id]
            if pour is None:
                raise ApiProblem("validation-error", f"no pour {pour_id} you may record for",
                                 errors={"pour_id": [f"No pour {pour_id} you may record for."]})
            result = _new_result(principal, pour, fields)
        except ValidationError as error:
            errors += [{"row": number, "field": name, "message": " ".join(map(str, messages))}
                       for name, messages in error.messages.items()]
            continue
        except ApiProblem as problem:
            errors += [{"row": number, "field": name, "message": " ".join(messages)}
                       for name, messages in problem.extra.get("errors", {}).items()]
            continue
        key = (pour.id, result.specimen, result.age_days)
        if key in seen:
            errors.append({"row": number, "field": "specimen",
                           "message": "The same specimen and age twice in the file."})
            continue
        seen.add(key)
        stored = _existing_result(*key)
        if stored is not None and not _same_result(stored, result):
            errors.append({"row": number, "field": "strength_mpa",
                           "message": f"Already recorded as {stored.strength_mpa} MPa."})
        elif stored is None:
            results.append(result)
    if errors:
        raise import_failed(errors)
    db.session.add_all(results)
    db.session.commit()
    return results


# --- checklists and inspections ----------------------------------------------------------


def list_checklists(principal: Principal, type_id: int) -> list[ChecklistTemplate]:
    """List a component type's checklist templates."""
    component_type = _type_in_scope(principal, type_id)
    return list(db.session.scalars(select(ChecklistTemplate).where(
        ChecklistTemplate.component_type_id == component_type.id).order_by(
        ChecklistTemplate.stage)))


def _type_in_scope(principal: Principal, type_id: int, write: bool = False) -> ComponentType:
    return readable_or_404(principal, ComponentType, type_id, "component type", write=write)


def save_checklist(principal: Principal, type_id: int,
                   fields: dict[str, Any]) -> tuple[ChecklistTemplate, bool]:
    """Create or replace a type's checklist for one stage; return it and whether it is new."""
    component_type = _type_in_scope(principal, type_id, write=True)
    keys = [item["key"] for item in fields["items"]]
    if len(set(keys)) != len(keys):
        raise ApiProblem("validation-error", "item keys repeat",
                         errors={"items": ["Each item has its own key."]})
    template = db.session.scalar(select(ChecklistTemplate).where(
        ChecklistTemplate.component_type_id == type_id,
        ChecklistTemplate.stage == fields["stage"]))
    created = template is None
    if created:
        template = ChecklistTemplate(component_type_id=type_id, stage=fields["stage"])
        db.session.add(template)
    template.items = fields["items"]
    stages = set(component_type.checklist_stages.split()) | {fields["stage"]}
    component_type.checklist_stages = " ".join(sorted(stages))
    db.session.commit()
    return template, created


def delete_checklists_of_type(type_id: int) -> None:
    """Delete a component type's templates (before the type itself is deleted)."""
    for template in db.session.scalars(select(ChecklistTemplate).where(
            ChecklistTemplate.component_type_id == type_id)):
        db.session.delete(template)


def component_inspections(component_id: int) -> list[dict[str, Any]]:
    """Return a component's inspections in order, each with its inspector's name."""
    rows = db.session.execute(
        select(Inspection, User.name).join(User, Inspection.inspector_user_id == User.id)
        .where(Inspection.component_id == component_id).order_by(Inspection.id))
    return [{**{c.key: getattr(inspection, c.key) for c in Inspection.__table__.columns},
             "inspector": name} for inspection, name in rows]


def list_inspections(principal: Principal, component_id: int) -> list[dict[str, Any]]:
    """List a component's inspections (the component must be in scope)."""
    readable_or_404(principal, Component, component_id, "component")
    return component_inspections(component_id)


def override_gate(principal: Principal, component_id: int,
                  fields: dict[str, Any]) -> tuple[GateOverride, bool]:
    """Let a gate pass for one component, with a reason; return it and whether it is new."""
    require(principal, "gate.override")
    component = readable_or_404(principal, Component, component_id, "component", write=True)
    stored = db.session.scalar(select(GateOverride).where(
        GateOverride.component_id == component.id, GateOverride.gate == fields["gate"]))
    if stored is not None:
        return _same_override(stored, fields), False
    override = GateOverride(component_id=component.id, gate=fields["gate"],
                            reason=fields["reason"], user_id=principal.user_id,
                            organization_id=principal.organization_id)
    db.session.add(override)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return _same_override(db.session.scalar(select(GateOverride).where(
            GateOverride.component_id == component.id,
            GateOverride.gate == fields["gate"])), fields), False
    return override, True


def _same_override(stored: GateOverride, fields: dict[str, Any]) -> GateOverride:
    """A repeat of the stored override (a retry), or 409: one decision per gate and piece."""
    if stored.reason != fields["reason"]:
        raise ApiProblem("conflict", f"the {stored.gate} gate of this component was overridden "
                         f"already, for another reason: {stored.reason}", status=409,
                         override_id=stored.id, reason=stored.reason)
    return stored


def component_overrides(component_id: int) -> list[dict[str, Any]]:
    """Return a component's gate overrides with who decided them."""
    rows = db.session.execute(
        select(GateOverride, User.name).join(User, GateOverride.user_id == User.id)
        .where(GateOverride.component_id == component_id).order_by(GateOverride.id))
    return [{"id": o.id, "gate": o.gate, "reason": o.reason, "by": name,
             "created_at": o.created_at} for o, name in rows]


def component_production(component: Component) -> dict[str, Any]:
    """Return a component's pour, gate values, inspections and overrides."""
    settings = settings_of(component.component_type)
    pour = db.session.get(Pour, component.pour_id) if component.pour_id else None
    return {
        "pour": None if pour is None else {
            "id": pour.id, "cast_at": pour.cast_at, "mould": pour.mould.name,
            "concrete_grade": pour.concrete_grade, "mix": pour.mix,
            "curing_method": pour.curing_method,
            "strength_results": [{"specimen": r.specimen, "age_days": r.age_days,
                                  "strength_mpa": r.strength_mpa, "tested_at": r.tested_at}
                                 for r in strength_results(pour.id)]},
        "stripping_strength_mpa": settings.required_mpa("stripping"),
        "delivery_strength_mpa": settings.required_mpa("delivery"),
        "checklist_stages": settings.checklist_stages.split(),
        "inspections": component_inspections(component.id),
        "gate_overrides": component_overrides(component.id),
    }


def settings_of(component_type: ComponentType) -> GateSettings:
    """Return the gate settings of a component type."""
    return GateSettings(component_type.concrete_grade, component_type.stripping_strength_mpa,
                        component_type.stripping_strength_percent,
                        component_type.delivery_strength_mpa,
                        component_type.delivery_strength_percent,
                        component_type.checklist_stages)


# --- concrete strength evaluation (GB/T 50107-2010) --------------------------------------


def evaluate_strength(values: list[float], f_cu_k: float) -> dict[str, Any]:
    """Judge one inspection lot's strength groups by GB/T 50107-2010, clause 5.

    With 10 or more groups, the statistical method of clause 5.1.3 (standard
    deviation unknown): mean >= f_cu,k + lambda1 * S (5.1.3-1) and
    min >= lambda2 * f_cu,k (5.1.3-2), S by formula 5.1.3-3 and taken as
    2.5 MPa when it comes out smaller; lambda1/lambda2 from table 5.1.3
    (10-14 groups: 1.15/0.90; 15-19: 1.05/0.85; 20 or more: 0.95/0.85).
    With fewer than 10, the non-statistical method of clause 5.2.2:
    mean >= lambda3 * f_cu,k (5.2.2-1) and min >= lambda4 * f_cu,k (5.2.2-2),
    lambda3 = 1.15 below C60 and 1.10 from C60, lambda4 = 0.95 (table 5.2.2).
    Clause 5.3.1: a lot meeting them is accepted (合格).
    """
    n = len(values)
    if n == 0:
        return {"count": 0, "mean_mpa": None, "standard_deviation_mpa": None,
                "min_mpa": None, "method": None, "accepted": None}
    mean = sum(values) / n
    minimum = min(values)
    deviation = math.sqrt(max(sum(v * v for v in values) - n * mean * mean, 0.0) / (n - 1)) \
        if n > 1 else None
    if n >= 10:
        lambda1, lambda2 = (1.15, 0.90) if n < 15 else (1.05, 0.85) if n < 20 else (0.95, 0.85)
        s_used = max(deviation, 2.5)
        mean_limit, min_limit = f_cu_k + lambda1 * s_used, lambda2 * f_cu_k
        method = "statistical (GB/T 50107-2010, 5.1.3)"
        factors = {"lambda1": lambda1, "lambda2": lambda2, "s_used_mpa": round(s_used, 2)}
    else:
        lambda3 = 1.15 if f_cu_k < 60 else 1.10
        mean_limit, min_limit = lambda3 * f_cu_k, 0.95 * f_cu_k
        method = "non-statistical (GB/T 50107-2010, 5.2.2)"
        factors = {"lambda3": lambda3, "lambda4": 0.95}
    return {"count": n, "mean_mpa": round(mean, 2),
            "standard_deviation_mpa": None if deviation is None else round(deviation, 2),
            "min_mpa": minimum, "method": method, **factors,
            "mean_limit_mpa": round(mean_limit, 2), "min_limit_mpa": round(min_limit, 2),
            "accepted": mean >= mean_limit - 1e-9 and minimum >= min_limit - 1e-9}


def quality_records(narrowed) -> dict[str, Any]:
    """Strength statistics, gate overrides and inspection failures per manufacturer and grade.

    `narrowed(query, project_column, moment_column)` limits a query to the reader's scope
    and the report's filters (reports.quality gives it).
    """
    maker_names = dict(db.session.execute(select(Organization.id, Organization.name)).all())

    groups: dict[tuple[int, str], list[float]] = defaultdict(list)
    for maker, grade, strength in db.session.execute(narrowed(
            select(Pour.manufacturer_id, Pour.concrete_grade, StrengthResult.strength_mpa)
            .join(StrengthResult, StrengthResult.pour_id == Pour.id)
            .where(StrengthResult.age_days == STANDARD_AGE_DAYS), Pour.project_id,
            StrengthResult.tested_at).order_by(StrengthResult.id)):
        groups[(maker, grade)].append(strength)
    strength = []
    for (maker, grade), values in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1])):
        f_cu_k = characteristic_strength(grade)
        verdict = evaluate_strength(values, f_cu_k) if f_cu_k else {"count": len(values)}
        strength.append({"manufacturer_id": maker, "manufacturer": maker_names.get(maker),
                         "concrete_grade": grade, "age_days": STANDARD_AGE_DAYS, **verdict})
    overrides = [
        {"manufacturer_id": maker, "manufacturer": maker_names.get(maker),
         "concrete_grade": grade, "gate": gate, "count": count}
        for maker, grade, gate, count in db.session.execute(narrowed(
            select(ComponentType.manufacturer_id, ComponentType.concrete_grade,
                   GateOverride.gate, func.count())
            .join(Component, GateOverride.component_id == Component.id)
            .join(ComponentType, Component.component_type_id == ComponentType.id)
            .group_by(ComponentType.manufacturer_id, ComponentType.concrete_grade,
                      GateOverride.gate), Component.project_id, GateOverride.created_at))]
    items: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    newest_template: dict[tuple, int] = {}
    for maker, stage, template_id, results in db.session.execute(narrowed(
            select(ComponentType.manufacturer_id, Inspection.stage, Inspection.template_id,
                   Inspection.results)
            .join(Component, Inspection.component_id == Component.id)
            .join(ComponentType, Component.component_type_id == ComponentType.id),
            Component.project_id, Inspection.inspected_at)):
        for result in results:
            group = (maker, stage, result["key"])
            counts = items[group]
            counts[0] += 1
            counts[1] += 0 if result.get("passed") else 1
            newest_template[group] = max(newest_template.get(group, 0), template_id)
    texts = _item_texts(set(newest_template.values()))
    failures = []
    for group, (n, failed) in sorted(items.items(),
                                     key=lambda i: (i[0][0] or 0, i[0][1], i[0][2])):
        maker, stage, key = group
        # Types may word one item apart: the checklist made last has the say. One that has
        # dropped the item since gives it no words (null).
        text = texts.get((newest_template[group], key), {})
        failures.append({"manufacturer_id": maker, "manufacturer": maker_names.get(maker),
                         "stage": stage, "item": key, "text_en": text.get("text_en"),
                         "text_zh": text.get("text_zh"), "inspected": n, "failed": failed,
                         "failure_rate": round(failed / n, 4)})
    return {"strength": strength, "gate_overrides": overrides, "inspection_items": failures}


def _item_texts(template_ids: set[int]) -> dict[tuple[int, str], dict[str, str]]:
    """Return each checklist item's text in both languages, by template and item key."""
    if not template_ids:
        return {}
    return {(template_id, item["key"]): {"text_en": item.get("text_en"),
                                         "text_zh": item.get("text_zh")}
            for template_id, template_items in db.session.execute(
                select(ChecklistTemplate.id, ChecklistTemplate.items)
                .where(ChecklistTemplate.id.in_(template_ids)))
            for item in template_items}
