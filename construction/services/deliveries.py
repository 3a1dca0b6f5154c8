"""Deliveries and readiness: where a storey's pieces are, and the trucks of each day."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from construction import lifecycle
from construction.errors import ApiProblem
from construction.extensions import db
from construction.models import Building, Component, ComponentType, Load, LoadItem, Storey
from construction.permissions import Principal, project_in_scope
from construction.services.loads import day_range, iso, load_views


def storey_readiness(principal: Principal, storey_id: int) -> dict[str, Any]:
    """Say where every component of a storey is now, and whether erection can start."""
    storey = db.session.get(Storey, storey_id)
    building = db.session.get(Building, storey.building_id) if storey else None
    if building is None or not project_in_scope(principal, building.project_id):
        raise ApiProblem("not-found", f"no storey {storey_id}")
    loads = {row.component_id: row for row in db.session.execute(
        select(LoadItem.component_id, Load.id, Load.code, Load.sscc, Load.state,
               Load.planned_arrival_at)
        .join(Load, LoadItem.load_id == Load.id)
        .join(Component, LoadItem.component_id == Component.id)
        .where(Component.storey_id == storey_id, LoadItem.active_component_id.isnot(None)))}
    components = []
    counts = dict.fromkeys(lifecycle.PLACES, 0)
    for row in db.session.execute(
        select(Component.id, Component.code, Component.mark, Component.state,
               Component.install_sequence, Component.on_hold, Component.damaged,
               Component.ncr_open, ComponentType.name.label("type_name"))
        .join(ComponentType, Component.component_type_id == ComponentType.id)
        .where(Component.storey_id == storey_id)
        .order_by(Component.install_sequence.is_(None), Component.install_sequence,
                  Component.mark, Component.id)
    ):
        place = lifecycle.PLACE_OF_STATE[row.state]
        counts[place] += 1
        load = loads.get(row.id)
        components.append({
            "id": row.id, "code": row.code, "mark": row.mark, "component_type": row.type_name,
            "install_sequence": row.install_sequence, "state": row.state, "place": place,
            "on_hold": row.on_hold, "damaged": row.damaged, "ncr_open": row.ncr_open,
            "load": {"id": load.id, "code": load.code, "sscc": load.sscc, "state": load.state,
                     "eta": iso(load.planned_arrival_at)} if load else None})
    blocked = sum(1 for c in components if c["place"] != "scrapped"
                  and (c["on_hold"] or c["damaged"] or c["ncr_open"]))
    return {"storey_id": storey.id, "storey": storey.name, "building": building.name,
            "project_id": building.project_id, "component_count": len(components),
            **readiness(counts, blocked), "components": components}


def readiness(places: dict[str, int], blocked: int) -> dict[str, Any]:
    """Say what a storey lacks and whether erection can start, from its components per place.

    `blocked`: its components (scrapped ones aside) on hold, damaged or with an open NCR.
    """
    needed = sum(places.values()) - places["scrapped"]
    missing = needed - places["on_site"] - places["installed"]
    return {"places": places, "missing": missing, "blocked": blocked,
            "can_start": needed > 0 and not missing and not blocked}


def project_deliveries(principal: Principal, project_id: int, since: date | None,
                       until: date | None) -> dict[str, Any]:
    """Count loads planned, in transit (with ETA) and arrived per day for a project."""
    if not project_in_scope(principal, project_id):
        raise ApiProblem("not-found", f"no project {project_id}")
    zone = timezone(timedelta(minutes=current_app.config["REPORT_UTC_OFFSET_MINUTES"]))
    today = datetime.now(zone).date()
    since = since or today - timedelta(days=7)
    until = until or today + timedelta(days=7)
    if until < since or (until - since).days > 366:
        raise ApiProblem("validation-error", "from 1 to 366 days, `until` not before `since`",
                         errors={"until": ["Not before since, within 366 days of it."]})
    start, _ = day_range(since)
    _, end = day_range(until)
    loads = load_views(list(db.session.scalars(
        select(Load).where(Load.project_id == project_id, func.coalesce(
            Load.arrived_at, Load.planned_arrival_at, Load.departed_at,
            Load.planned_departure_at, Load.created_at).between(start, end))
        .order_by(Load.planned_arrival_at, Load.id))), with_items=False)
    days: dict[str, dict[str, list]] = {}

    def put(moment: str | None, kind: str, view: dict[str, Any]) -> None:
        if moment is None:
            return
        day = datetime.fromisoformat(moment).astimezone(zone).date()
        if since <= day <= until:
            days.setdefault(day.isoformat(), {"planned": [], "in_transit": [], "arrived": []})[
                kind].append({key: view[key] for key in (
                    "id", "code", "sscc", "state", "vehicle", "piece_count", "weight_kg",
                    "planned_departure_at", "planned_arrival_at", "arrived_at")}
                | {"eta": view["planned_arrival_at"]})

    for view in loads:
        if view["state"] in ("open", "loaded"):
            put(view["planned_arrival_at"] or view["planned_departure_at"], "planned", view)
        elif view["state"] == "in_transit":
            put(view["planned_arrival_at"] or view["departed_at"], "in_transit", view)
        else:
            put(view["arrived_at"], "arrived", view)
    return {"project_id": project_id, "since": since.isoformat(), "until": until.isoformat(),
            "days": [{"date": day, **{kind: entries for kind, entries in kinds.items()},
                      "counts": {kind: len(entries) for kind, entries in kinds.items()}}
                     for day, kinds in sorted(days.items())]}
