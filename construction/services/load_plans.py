"""Load plans: a storey's pieces split into truckloads in erection order, and made loads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from construction.errors import ApiProblem
from construction.extensions import db
from construction.models import Building, Component, ComponentType, LoadItem, Storey
from construction.permissions import Principal, project_in_scope, require
from construction.services.loads import (
    commit_items,
    components_for,
    create_load,
    load_views,
    loadable_refusals,
    refuse_unloadable,
)


@dataclass(frozen=True)
class PlanPiece:
    """A component to plan, in erection order: its storey and weight."""

    component_id: int
    storey_key: Any
    weight_kg: float
    length_mm: int | None = None


@dataclass(frozen=True)
class TruckLimits:
    """What one truck takes."""

    max_weight_kg: float
    max_items: int | None = None
    max_length_mm: int | None = None


def _fits(pieces: list[PlanPiece], limits: TruckLimits) -> bool:
    return sum(p.weight_kg for p in pieces) <= limits.max_weight_kg + 1e-9 and (
        limits.max_items is None or len(pieces) <= limits.max_items)


def plan_loads(pieces: list[PlanPiece], limits: TruckLimits) -> list[list[PlanPiece]]:
    """Split pieces given in erection order into truckloads, the earliest on the first truck.

    A storey's pieces go on one truck when they fit on one, the next truck
    otherwise begun; a storey too big for a truck fills trucks in order. Each
    load comes back in erection order (the caller loads it in reverse).
    """
    for piece in pieces:
        if not _fits([piece], limits) or (limits.max_length_mm is not None
                                          and (piece.length_mm or 0) > limits.max_length_mm):
            raise ValueError(f"component {piece.component_id} does not fit on one truck")
    groups: list[list[PlanPiece]] = []
    for piece in pieces:
        if groups and groups[-1][0].storey_key == piece.storey_key:
            groups[-1].append(piece)
        else:
            groups.append([piece])
    loads: list[list[PlanPiece]] = []
    current: list[PlanPiece] = []
    for group in groups:
        if _fits(current + group, limits):
            current += group
            continue
        if current and _fits(group, limits):
            loads.append(current)
            current = list(group)
            continue
        for piece in group:  # bigger than a truck: it must be split anyway
            if not _fits(current + [piece], limits):
                loads.append(current)
                current = []
            current.append(piece)
    if current:
        loads.append(current)
    return loads


# Components a plan still has to move: not yet on a truck, nor gone.
_TO_DELIVER = ("planned", "cast", "demoulded", "qc_passed", "stored", "rejected")


def propose_load_plan(principal: Principal, project_id: int,
                      values: dict[str, Any]) -> dict[str, Any]:
    """Propose truckloads for storeys or components; with `accept`, create them as loads.

    A storey's pieces that may not be loaded yet stay off the trucks and come back
    in `not_ready`; named components that may not be loaded ride on their trucks
    with the reason, and accepting such a plan is refused for all of them.
    """
    require(principal, "load.plan")
    if not project_in_scope(principal, project_id, write=True):
        raise ApiProblem("not-found", f"no project {project_id}")
    limits = TruckLimits(values["max_weight_kg"], values.get("max_items"),
                         values.get("max_length_mm"))
    query = (select(Component, ComponentType.weight_kg, ComponentType.length_mm,
                    Storey.building_id, Storey.elevation_m)
             .join(ComponentType, Component.component_type_id == ComponentType.id)
             .outerjoin(Storey, Component.storey_id == Storey.id))
    if values.get("component_ids"):
        ids = list(dict.fromkeys(values["component_ids"]))
        components_for(principal, project_id, ids)
        query = query.where(Component.id.in_(ids))
    else:
        storey_ids = list(dict.fromkeys(values["storey_ids"]))
        known = set(db.session.scalars(
            select(Storey.id).join(Building, Storey.building_id == Building.id)
            .where(Storey.id.in_(storey_ids), Building.project_id == project_id)))
        missing = [i for i in storey_ids if i not in known]
        if missing:
            raise ApiProblem("not-found", "no storey of this project: "
                             + ", ".join(str(i) for i in missing[:10]))
        on_trucks = select(LoadItem.component_id).where(LoadItem.active_component_id.isnot(None))
        query = query.where(Component.storey_id.in_(storey_ids),
                            Component.state.in_(_TO_DELIVER), Component.id.not_in(on_trucks))
    limit = current_app.config["LOAD_PLAN_MAX_COMPONENTS"]
    rows = db.session.execute(query.where(Component.project_id == project_id).order_by(
        Storey.building_id, Storey.elevation_m, Storey.id,
        Component.install_sequence.is_(None), Component.install_sequence, Component.mark,
        Component.id).limit(limit + 1)).all()
    if len(rows) > limit:
        raise ApiProblem("validation-error", f"more than {limit} components to plan: plan fewer "
                         "storeys at a time", errors={"storey_ids": [f"Over {limit} components."]})
    # Judged by the `load` action's guards, as loading them is: plan and loads never disagree.
    refusals = loadable_refusals([row.Component for row in rows])
    refused = {refusal["component_id"]: refusal for refusal in refusals}
    if values.get("component_ids"):
        # The planner asked for these pieces: shown on their trucks, never silently dropped.
        if values.get("accept"):
            refuse_unloadable(refusals)
        left_off = []
    else:
        rows = [row for row in rows if row.Component.id not in refused]
        left_off = refusals
    pieces = [PlanPiece(row.Component.id, row.Component.storey_id, row.weight_kg or 0.0,
                        row.length_mm) for row in rows]
    try:
        planned = plan_loads(pieces, limits)
    except ValueError as error:
        raise ApiProblem("over-weight-limit", str(error)) from error
    proposal = []
    for truck in planned:
        loading_order = [p.component_id for p in reversed(truck)]  # the first installed on top
        proposal.append({"component_ids": loading_order,
                         "weight_kg": round(sum(p.weight_kg for p in truck), 1),
                         "piece_count": len(truck),
                         "storey_ids": list(dict.fromkeys(p.storey_key for p in truck)),
                         "not_ready": [refused[i] for i in loading_order if i in refused]})
    if not values.get("accept"):
        return {"loads": proposal, "not_ready": left_off, "accepted": False}
    require(principal, "load.build")
    created = [create_load(principal, {
        "project_id": project_id, "component_ids": truck["component_ids"],
        "max_weight_kg": limits.max_weight_kg,
        **{name: values[name] for name in ("vehicle", "trailer_type") if values.get(name)}},
        commit=False) for truck in proposal]
    commit_items("the plan")
    return {"loads": load_views(created), "not_ready": left_off, "accepted": True}
