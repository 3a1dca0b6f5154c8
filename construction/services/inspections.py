"""Inspections: a filled checklist judged item by item; a failed one opens an NCR.

The checklists themselves, and reading a component's inspections, are in
construction.services.production.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from construction import lifecycle
from construction.errors import ApiProblem
from construction.extensions import db
from construction.models import ChecklistTemplate, Component, Inspection, Photo
from construction.permissions import Principal, readable_or_404
from construction.services.scans import ScanItem, record_scans


def _judge_item(item: dict[str, Any], answer: dict[str, Any] | None,
                photos: set[int]) -> tuple[dict[str, Any], str | None]:
    """Return the filled item and an error message for a missing or wrong answer."""
    filled = {"key": item["key"], "kind": item["kind"]}
    if answer is None:
        return filled, "Not answered."
    note = answer.get("note") or ""
    photo_ids = answer.get("photo_ids") or []
    if set(photo_ids) - photos:
        return filled, "Photos not of this component's project."
    filled.update(note=note, photo_ids=photo_ids)
    kind = item["kind"]
    if kind == "pass_fail":
        if answer.get("passed") is None:
            return filled, "Give passed: true or false."
        filled["passed"] = bool(answer["passed"])
    elif kind == "measured":
        value = answer.get("value")
        if value is None:
            return filled, "Give the measured value."
        deviation = value - item["nominal"] if item.get("nominal") is not None else value
        filled.update(value=value, deviation=round(deviation, 3),
                      passed=abs(deviation) <= item.get("tolerance", 0) + 1e-9)
    elif kind == "text":
        if not (answer.get("text") or "").strip():
            return filled, "Give the text."
        filled.update(text=answer["text"], passed=answer.get("passed", True) is not False)
    else:  # photo
        if not photo_ids:
            return filled, "A photo is required."
        filled["passed"] = answer.get("passed", True) is not False
    return filled, None


def record_inspection(principal: Principal, component_id: int,
                      fields: dict[str, Any]) -> Inspection:
    """Record a filled checklist; a failed item opens an NCR where the lifecycle allows one."""
    component = readable_or_404(principal, Component, component_id, "component", write=True)
    template = db.session.scalar(select(ChecklistTemplate).where(
        ChecklistTemplate.component_type_id == component.component_type_id,
        ChecklistTemplate.stage == fields["stage"]))
    if template is None:
        raise ApiProblem("validation-error", "no checklist for this type and stage",
                         errors={"stage": [f"The type has no '{fields['stage']}' checklist."]})
    answers = {answer["key"]: answer for answer in fields["results"]}
    wanted = {pid for answer in fields["results"] for pid in answer.get("photo_ids") or []}
    photos = set(db.session.scalars(select(Photo.id).where(
        Photo.id.in_(wanted), Photo.project_id == component.project_id))) if wanted else set()
    results, errors = [], {}
    for item in template.items:
        filled, error = _judge_item(item, answers.pop(item["key"], None), photos)
        results.append(filled)
        if error:
            errors[item["key"]] = [error]
    for key in answers:
        errors[key] = ["Not an item of this checklist."]
    if errors:
        raise ApiProblem("validation-error", "the checklist is not filled in correctly",
                         errors={"results": errors})
    inspection = Inspection(
        component_id=component.id, template_id=template.id, stage=template.stage,
        inspector_user_id=principal.user_id, organization_id=principal.organization_id,
        inspected_at=fields.get("inspected_at") or datetime.now(UTC),
        passed=all(r["passed"] for r in results), results=results)
    db.session.add(inspection)
    db.session.commit()
    if not inspection.passed:
        _open_ncr(principal, component, inspection, template)
    return inspection


def _open_ncr(principal: Principal, component: Component, inspection: Inspection,
              template: ChecklistTemplate) -> None:
    # An NCR is a qc_fail event; before demoulding (no piece yet) and on site
    # (where the supervisor rejects the delivery) the failed inspection itself,
    # holding the gate shut, is the record.
    status = lifecycle.Status(component.state, component.on_hold, component.damaged,
                              component.ncr_open)
    if "qc_fail" not in lifecycle.allowed_actions(status) \
            or not lifecycle.role_may(principal.role, "qc_fail"):
        return
    by_key = {item["key"]: item for item in template.items}
    failed = [r["key"] for r in inspection.results if not r["passed"]]
    category = by_key[failed[0]].get("category") or "inspection"
    result = record_scans(principal, [ScanItem(
        code=component.code, action="qc_fail",
        client_event_id=f"inspection-{inspection.id}-ncr",
        data={"category": category, "record": f"inspection {inspection.id}",
              "inspection_id": inspection.id, "items": failed})])[0]
    if result.event is not None:
        inspection.ncr_event_id = result.event["id"]
        db.session.commit()
