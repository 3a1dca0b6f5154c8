"""A project's summary: what every panel of the dashboard shows, in one read.

Counts per storey and state are sums of the progress counters the scan path keeps
(services.progress); flag counts read the components' partial flag indexes (flags
are rare); the lists (on hold or damaged, open NCRs, open alerts, stalled pieces,
today's trucks, the next storeys' readiness) are the first few of each, whose
rest the component list pages through with its filters (`on_hold`, `damaged`,
`ncr_open`, `storey_id`, `state`). No component is read one by one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app
from sqlalchemy import case, exists, func, or_, select

from construction import lifecycle
from construction.errors import ApiProblem
from construction.extensions import db
from construction.models import (
    BimModel,
    Building,
    Component,
    ComponentType,
    Event,
    ProgressCounter,
    Project,
    Storey,
)
from construction.permissions import Principal, in_scope
from construction.services import reports
from construction.services.alerts import AlertFilters, list_alerts
from construction.services.deliveries import project_deliveries, readiness

FLAGS = ("on_hold", "damaged", "ncr_open")
STALLED_DAYS = 14
UPCOMING_STOREYS = 3  # storeys whose readiness the dashboard lists, lowest unfinished first
# Up to this many components the grid draws one square each (listed in the summary);
# above it, counts per storey and state.
CELL_LIMIT = 2000


def project_summary(principal: Principal, project_id: int, building_id: int | None = None,
                    limit: int = 50) -> dict[str, Any]:
    """Summarise a project (or one of its buildings) for the dashboard."""
    project = db.session.scalar(in_scope(select(Project).where(Project.id == project_id),
                                         principal, Project.id))
    if project is None:
        raise ApiProblem("not-found", f"no project {project_id}")
    buildings = list(db.session.scalars(select(Building).where(
        Building.project_id == project_id).order_by(Building.id)))
    every_building = [{"id": building.id, "name": building.name} for building in buildings]
    if building_id is not None:
        buildings = [building for building in buildings if building.id == building_id]
        if not buildings:
            raise ApiProblem("not-found", f"no building {building_id} in project {project_id}")
    storeys = _storeys([building.id for building in buildings])
    states, by_type = _state_counts(project_id, building_id)
    flags = _flag_counts(project_id, building_id)
    filters = reports.ReportFilters(project_id=project_id, building_id=building_id)

    def place(storey_id) -> dict[str, Any]:
        counts = states.get(storey_id, Counter())
        flagged = flags.get(storey_id, {})
        return {"total": sum(counts.values()), "by_state": dict(sorted(counts.items())),
                **{flag: flagged.get(flag, 0) for flag in FLAGS}}

    layout = []
    for building in buildings:
        rows = []
        for storey in storeys.get(building.id, []):
            row = {"id": storey.id, "name": storey.name, "elevation_m": storey.elevation_m,
                   **place(storey.id)}
            row["readiness"] = _readiness(row, flags.get(storey.id, {}).get("blocked", 0))
            rows.append(row)
        layout.append({"id": building.id, "name": building.name,
                       "total": sum(row["total"] for row in rows), "storeys": rows})
    overall: Counter = Counter()
    for counts in states.values():
        overall.update(counts)
    total = sum(overall.values())
    return {
        "project": {"id": project.id, "code": project.code, "name": project.name,
                    "buildings": every_building},
        "building_id": building_id,
        "total": total,
        "by_state": dict(sorted((state, n) for state, n in overall.items() if n)),
        "flags": {flag: sum(row.get(flag, 0) for row in flags.values())
                  for flag in (*FLAGS, "on_hold_or_damaged")},
        "buildings": layout,
        # Pieces planned on no storey (only when the whole project is asked for).
        "unplaced": place(None) if building_id is None else None,
        "by_type": _by_type(by_type),
        "cells": _cells(project_id, building_id) if total <= CELL_LIMIT else None,
        "has_model": bool(db.session.scalar(select(exists().where(
            BimModel.project_id == project_id, BimModel.status == "done",
            BimModel.dry_run.is_(False))))),
        "upcoming_storeys": _upcoming(layout),
        "flagged": _flagged(project_id, building_id, limit),
        "open_ncrs": _open_ncrs(project_id, building_id, limit),
        "alerts": _open_alerts(principal, project_id, limit),
        "stalled": reports.stalled(principal, filters, STALLED_DAYS, limit),
        # The curve is the whole project's, against all its planned pieces.
        "daily": reports.daily(principal, reports.ReportFilters(project_id=project_id),
                               planned=total if building_id is None else None),
        "quality": reports.quality(principal, filters),
        "trucks_today": _trucks_today(principal, project_id),
    }


def _storeys(building_ids: list[int]) -> dict[int, list[Storey]]:
    found: dict[int, list[Storey]] = defaultdict(list)
    if building_ids:
        for storey in db.session.scalars(select(Storey).where(
                Storey.building_id.in_(building_ids)).order_by(Storey.elevation_m, Storey.id)):
            found[storey.building_id].append(storey)
    return found


def _in_building(query, storey_column, building_id: int | None):
    if building_id is None:
        return query
    return query.where(storey_column.in_(select(Storey.id).where(
        Storey.building_id == building_id)))


def _state_counts(project_id: int, building_id: int | None
                  ) -> tuple[dict[int | None, Counter], dict[int, Counter]]:
    """Components per storey and state, and per type and state, from the counters."""
    counter = ProgressCounter
    # One counter per (project, storey, type, state): nothing to group.
    query = _in_building(select(counter.storey_id, counter.component_type_id, counter.state,
                                counter.count)
                         .where(counter.kind == "state", counter.project_id == project_id),
                         counter.storey_id, building_id)
    by_storey: dict[int | None, Counter] = defaultdict(Counter)
    by_type: dict[int, Counter] = defaultdict(Counter)
    for storey_id, type_id, state, count in db.session.execute(query):
        count = int(count or 0)  # PostgreSQL sums BIGINT as NUMERIC
        if count:
            by_storey[storey_id][state] += count
            by_type[type_id][state] += count
    return by_storey, by_type


def _flagged_clause(flags=FLAGS):
    # Bare columns: what the flags' partial indexes name, so each is read by its index.
    return or_(*(getattr(Component, flag) for flag in flags))


def _flag_counts(project_id: int, building_id: int | None) -> dict[int | None, dict[str, int]]:
    """Flagged components per storey: each flag, on hold or damaged, and blocked (not scrapped)."""
    def tally(condition):
        return func.sum(case((condition, 1), else_=0))
    query = _in_building(select(
        Component.storey_id, *(tally(getattr(Component, flag)) for flag in FLAGS),
        tally(_flagged_clause(("on_hold", "damaged"))), tally(Component.state != "scrapped"))
        .where(Component.project_id == project_id, _flagged_clause()),
        Component.storey_id, building_id)
    names = (*FLAGS, "on_hold_or_damaged", "blocked")
    return {row[0]: dict(zip(names, (int(n or 0) for n in row[1:]), strict=True))
            for row in db.session.execute(query.group_by(Component.storey_id))}


def _readiness(row: dict[str, Any], blocked: int) -> dict[str, Any]:
    """Where a storey's pieces are, and whether erection can start (as the readiness route says)."""
    places = dict.fromkeys(lifecycle.PLACES, 0)
    for state, count in row["by_state"].items():
        places[lifecycle.PLACE_OF_STATE[state]] += count
    return readiness(places, blocked)


def _upcoming(layout: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lowest storeys with a piece still to install, building by building."""
    upcoming = []
    for building in layout:
        for storey in building["storeys"]:
            places = storey["readiness"]["places"]
            if storey["total"] - places["installed"] - places["scrapped"] > 0:
                upcoming.append({"building_id": building["id"], "building": building["name"],
                                 "storey_id": storey["id"], "storey": storey["name"],
                                 **storey["readiness"]})
    return upcoming[:UPCOMING_STOREYS]


def _component_rows(project_id: int, building_id: int | None, *columns, condition=True,
                    limit: int | None = None):
    query = _in_building(select(Component.id, Component.code, Component.mark, Component.state,
                                Component.storey_id, *(getattr(Component, f) for f in FLAGS),
                                *columns)
                         .where(Component.project_id == project_id, condition),
                         Component.storey_id, building_id)
    return db.session.execute(query.order_by(Component.id).limit(limit)).all()


def _cells(project_id: int, building_id: int | None) -> list[dict[str, Any]]:
    """Every component of a small project (or building), for a square each."""
    return [{**_item(row), "install_sequence": row.install_sequence}
            for row in _component_rows(project_id, building_id, Component.install_sequence)]


def _item(row) -> dict[str, Any]:
    return {"id": row.id, "code": row.code, "mark": row.mark, "state": row.state,
            "storey_id": row.storey_id, **{flag: bool(getattr(row, flag)) for flag in FLAGS}}


def _flagged(project_id: int, building_id: int | None, limit: int) -> list[dict[str, Any]]:
    """The first components on hold or damaged, by id."""
    return [_item(row) for row in _component_rows(
        project_id, building_id, condition=_flagged_clause(("on_hold", "damaged")), limit=limit)]


def _open_ncrs(project_id: int, building_id: int | None, limit: int) -> list[dict[str, Any]]:
    """The first components with an open NCR, by id, each with its latest failed check."""
    rows = _component_rows(project_id, building_id, condition=Component.ncr_open, limit=limit)
    latest: dict[int, Any] = {}
    if rows:
        for event in db.session.execute(
                select(Event.component_id, Event.data, Event.client_time, Event.server_time)
                .where(Event.action == "qc_fail",
                       Event.component_id.in_([row.id for row in rows]))
                .order_by(Event.id)):
            latest[event.component_id] = event
    items = []
    for row in rows:
        event = latest.get(row.id)
        data = (event.data or {}) if event else {}
        failed_at = (event.client_time or event.server_time) if event else None
        items.append({**_item(row), "ncr": data.get("ncr"),
                      "reason": data.get("reason") or data.get("category"),
                      "failed_at": failed_at.isoformat() if failed_at else None})
    return items


def _open_alerts(principal: Principal, project_id: int, limit: int) -> dict[str, Any]:
    """The project's open alerts, newest activity first, with their components' marks."""
    page = list_alerts(principal, AlertFilters(status="open", project_id=project_id), 1, limit)
    ids = {alert.component_id for alert in page.items if alert.component_id is not None}
    marks = {row.id: row for row in db.session.execute(
        select(Component.id, Component.code, Component.mark).where(Component.id.in_(ids)))} \
        if ids else {}
    items = []
    for alert in page.items:
        component = marks.get(alert.component_id)
        items.append({"id": alert.id, "kind": alert.kind, "component_id": alert.component_id,
                      "code": component.code if component else None,
                      "mark": component.mark if component else None,
                      "occurrences": alert.occurrences,
                      "last_seen_at": alert.last_seen_at.isoformat()})
    return {"total": page.total, "items": items}


def _trucks_today(principal: Principal, project_id: int) -> dict[str, Any]:
    """Today's loads (in the reporting zone): in transit, planned, then arrived."""
    zone = timezone(timedelta(minutes=current_app.config["REPORT_UTC_OFFSET_MINUTES"]))
    today = datetime.now(zone).date()
    deliveries = project_deliveries(principal, project_id, today, today)
    day = next((entry for entry in deliveries["days"] if entry["date"] == today.isoformat()),
               None)
    return {"date": today.isoformat(),
            "loads": [*day["in_transit"], *day["planned"], *day["arrived"]] if day else []}


def _by_type(by_type: dict[int, Counter]) -> list[dict[str, Any]]:
    names = dict(db.session.execute(select(ComponentType.id, ComponentType.name).where(
        ComponentType.id.in_(list(by_type)))).all()) if by_type else {}
    return [{"id": type_id, "name": names.get(type_id), "total": sum(counts.values()),
             "by_state": dict(sorted(counts.items()))}
            for type_id, counts in sorted(by_type.items())]
