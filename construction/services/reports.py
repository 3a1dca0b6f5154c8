"""Regulator reports: progress, progress over time, stalled components, quality, CSV exports.

Progress and daily figures are sums over the counters the scan path keeps
(services.progress), so they cost the same at a million components as at a
hundred. Every report is limited to what the reader may see: a regulator its
region, others their projects.
"""

from __future__ import annotations

import csv
import functools
import io
from collections import Counter, defaultdict
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from itertools import islice
from typing import Any

from flask import current_app
from sqlalchemy import BigInteger, DateTime, Select, cast, func, literal, select, type_coerce
from sqlalchemy.orm import aliased

from construction.extensions import db
from construction.ledger_format import utf8
from construction.models import (
    NOT_STALLABLE,
    Alert,
    Building,
    Component,
    ComponentType,
    Event,
    Finding,
    Load,
    LoadItem,
    Mould,
    Organization,
    Pour,
    ProgressCounter,
    Project,
    Storey,
    StrengthResult,
    User,
    as_utc,
)
from construction.permissions import Principal, in_scope, readable_region
from construction.services import audit, production


@dataclass
class ReportFilters:
    project_id: int | None = None
    building_id: int | None = None
    storey_id: int | None = None
    component_type_id: int | None = None
    manufacturer_id: int | None = None
    region: str | None = None
    since: date | None = None
    until: date | None = None


def _scoped(principal: Principal, query: Select, project_column, filters: ReportFilters,
            storey_column=None, type_column=None) -> Select:
    query = in_scope(query, principal, project_column)
    if filters.region:
        query = query.where(project_column.in_(select(Project.id).where(
            Project.region_code.startswith(filters.region, autoescape=True))))
    if filters.project_id is not None:
        query = query.where(project_column == filters.project_id)
    if storey_column is not None:
        if filters.storey_id is not None:
            query = query.where(storey_column == filters.storey_id)
        if filters.building_id is not None:
            query = query.where(storey_column.in_(select(Storey.id).where(
                Storey.building_id == filters.building_id)))
    if type_column is not None:
        if filters.component_type_id is not None:
            query = query.where(type_column == filters.component_type_id)
        if filters.manufacturer_id is not None:
            query = query.where(type_column.in_(select(ComponentType.id).where(
                ComponentType.manufacturer_id == filters.manufacturer_id)))
    return query


def _names(model, ids) -> dict[int, str]:
    ids = [i for i in set(ids) if i is not None]
    if not ids:
        return {}
    return dict(db.session.execute(select(model.id, model.name).where(model.id.in_(ids))).all())


def _summary(counts: Counter) -> dict[str, Any]:
    total = sum(counts.values())
    return {"total": total, "by_state": dict(sorted(counts.items())),
            "percent_by_state": {state: round(100 * n / total, 2)
                                 for state, n in sorted(counts.items())} if total else {}}


def progress(principal: Principal, filters: ReportFilters) -> dict[str, Any]:
    """Count components by state, overall and by project and type (and building, storey and
    IFC class when one project, building or storey is asked for)."""
    counter = ProgressCounter
    # Storeys only when asked about one project: a whole region reads the
    # per-project counters, a few hundred rows instead of tens of thousands.
    detailed = any(v is not None for v in (filters.project_id, filters.building_id,
                                           filters.storey_id))
    query = _scoped(principal, select(counter.project_id, counter.storey_id,
                                      counter.component_type_id, counter.state,
                                      func.sum(counter.count))
                    .where(counter.kind == ("state" if detailed else "pstate")),
                    counter.project_id, filters, counter.storey_id, counter.component_type_id)
    rows = db.session.execute(query.group_by(counter.project_id, counter.storey_id,
                                             counter.component_type_id, counter.state)).all()
    storeys = dict(db.session.execute(select(Storey.id, Storey.building_id).where(
        Storey.id.in_({r[1] for r in rows if r[1] is not None}))).all()) if rows else {}
    groups: dict[str, dict[Any, Counter]] = defaultdict(lambda: defaultdict(Counter))
    overall: Counter = Counter()
    for project_id, storey_id, type_id, state, count in rows:
        count = int(count or 0)  # PostgreSQL sums BIGINT as NUMERIC
        if not count:
            continue
        overall[state] += count
        groups["project"][project_id][state] += count
        groups["building"][storeys.get(storey_id)][state] += count
        groups["storey"][storey_id][state] += count
        groups["type"][type_id][state] += count
    names = {"project": _names(Project, groups["project"]),
             "building": _names(Building, groups["building"]),
             "storey": _names(Storey, groups["storey"]),
             "type": _names(ComponentType, groups["type"])}
    report = _summary(overall)
    report["by_ifc_class"] = _by_ifc_class(principal, filters) if detailed else []
    for group in ("project", "building", "storey", "type"):
        if group in ("building", "storey") and not detailed:
            report[f"by_{group}"] = []
            continue
        report[f"by_{group}"] = [{"id": key, "name": names[group].get(key), **_summary(counts)}
                                 for key, counts in sorted(groups[group].items(),
                                                           key=lambda item: item[0] or 0)]
    return report


def _by_ifc_class(principal: Principal, filters: ReportFilters) -> list[dict[str, Any]]:
    """Count the components of imported models by IFC class and state (those still in it)."""
    # Read from the components, not the counters (which know no IFC class): asked
    # about one project, building or storey, this groups that project's rows only.
    query = _scoped(principal, select(Component.ifc_class, Component.state, func.count())
                    .where(Component.ifc_class.is_not(None),
                           Component.removed_from_model.is_(False)),
                    Component.project_id, filters, Component.storey_id,
                    Component.component_type_id)
    classes: dict[str, Counter] = defaultdict(Counter)
    for ifc_class, state, count in db.session.execute(
            query.group_by(Component.ifc_class, Component.state)):
        classes[ifc_class][state] += count
    return [{"ifc_class": ifc_class, **_summary(counts)}
            for ifc_class, counts in sorted(classes.items())]


def daily(principal: Principal, filters: ReportFilters,
          planned: int | None = None) -> dict[str, Any]:
    """Transitions per day and action, and the installed-versus-planned curve.

    `planned`: the components planned in all, when the caller has counted them.
    """
    counter = ProgressCounter
    # Per region and day (`rday`) when the reader's scope is regions and no project, type or
    # maker narrows it; per project and day (`pday`) unless a type or maker narrows it.
    by_type = filters.component_type_id is not None or filters.manufacturer_id is not None
    region = readable_region(principal)
    # BIGINT, not PostgreSQL's NUMERIC sum: thousands of Decimals cost more than the query.
    columns = select(counter.day, counter.state, cast(func.sum(counter.count), BigInteger))
    if region is not None and not by_type and filters.project_id is None:
        query = columns.where(counter.kind == "rday")
        for prefix in filter(None, (region, filters.region)):
            query = query.where(counter.region_code.startswith(prefix, autoescape=True))
    else:
        query = _scoped(principal, columns.where(counter.kind == ("day" if by_type else "pday")),
                        counter.project_id, filters,
                        type_column=counter.component_type_id if by_type else None)
    if filters.since is not None:
        query = query.where(counter.day >= filters.since)
    if filters.until is not None:
        query = query.where(counter.day < filters.until)
    rows = db.session.execute(query.group_by(counter.day, counter.state)).all()
    days: dict[date, dict[str, int]] = defaultdict(dict)
    for day, action, count in rows:
        if count:
            days[day][action] = int(count)
    if planned is None:
        planned = int(db.session.scalar(_counted(principal, ReportFilters(
            **{**filters.__dict__, "storey_id": None, "building_id": None}))))
    installed, curve = 0, []
    for day in sorted(days):
        installed += days[day].get("install", 0)
        curve.append({"day": day.isoformat(), "installed": installed, "planned": planned})
    return {"days": [{"day": day.isoformat(), "transitions": days[day]} for day in sorted(days)],
            "installed_vs_planned": curve, "deliveries": _deliveries(principal, filters)}


def _report_zone() -> timezone:
    return timezone(timedelta(minutes=current_app.config["REPORT_UTC_OFFSET_MINUTES"]))


def _narrowed(principal: Principal, filters: ReportFilters, query: Select, project_column,
              moment_column, storey_column=None, type_column=None) -> Select:
    """Limit `query` to the principal's scope and the filters, and to rows whose
    `moment_column` falls on the report days since..until (until excluded, report zone)."""
    query = _scoped(principal, query, project_column, filters, storey_column, type_column)
    zone = _report_zone()
    if filters.since is not None:
        query = query.where(moment_column >= datetime.combine(filters.since, time(), zone))
    if filters.until is not None:
        query = query.where(moment_column < datetime.combine(filters.until, time(), zone))
    return query


def _deliveries(principal: Principal, filters: ReportFilters) -> list[dict[str, Any]]:
    """Count the loads (truck trips) that arrived on site per day, with their pieces."""
    zone = _report_zone()
    pieces = select(func.count(LoadItem.id)).where(LoadItem.load_id == Load.id) \
        .scalar_subquery()
    query = _narrowed(principal, filters, select(Load.arrived_at, pieces).where(
        Load.arrived_at.isnot(None)), Load.project_id, Load.arrived_at)
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for arrived_at, count in db.session.execute(query):
        day = per_day[arrived_at.astimezone(zone).date()]
        day[0] += 1
        day[1] += count
    return [{"day": day.isoformat(), "loads": loads, "pieces": count}
            for day, (loads, count) in sorted(per_day.items())]


def stalled(principal: Principal, filters: ReportFilters, days: int,
            limit: int) -> dict[str, Any]:
    """Components in progress with no event for `days` days, longest stalled first.

    Both reads stay small at a million components: the oldest come first from
    the partial index on updated_at (pieces in progress only), and the total
    is the pieces in progress (progress counters) less those that moved since
    the cutoff (the same index, from the cutoff on).
    """
    cutoff = datetime.now(UTC) - timedelta(days=days)
    # Values written into the statement: a bound parameter would keep a prepared
    # statement's generic plan from matching the partial index's predicate.
    stallable = Component.state.not_in([literal(state, literal_execute=True)
                                        for state in NOT_STALLABLE])

    def scoped(*columns) -> Select:
        return _scoped(principal, select(*columns).where(stallable), Component.project_id,
                       filters, Component.storey_id, Component.component_type_id)

    query = scoped(Component.id, Component.code, Component.mark, Component.state,
                   Component.updated_at, Component.project_id).where(
        Component.updated_at < cutoff)
    recent = scoped(func.count()).where(Component.updated_at >= cutoff)
    # One statement, so one snapshot: read apart, a scan committed between the two
    # reads would make the difference wrong (even negative).
    total = int(db.session.scalar(select(
        _in_progress(principal, filters).scalar_subquery() - recent.scalar_subquery())))
    rows = db.session.execute(query.order_by(Component.updated_at).limit(limit)).all()
    now = datetime.now(UTC)
    return {"days": days, "total": total, "items": [
        {"id": r.id, "code": r.code, "mark": r.mark, "state": r.state,
         "project_id": r.project_id, "last_change": r.updated_at.isoformat(),
         "days_in_state": (now - r.updated_at).days} for r in rows]}


def _in_progress(principal: Principal, filters: ReportFilters) -> Select:
    """Select the count of the components that can stall, from the progress counters."""
    return _counted(principal, filters, ProgressCounter.state.not_in(NOT_STALLABLE))


def _counted(principal: Principal, filters: ReportFilters, *conditions) -> Select:
    """Select the count of the components in states meeting `conditions`, from the counters."""
    counter = ProgressCounter
    by_storey = filters.storey_id is not None or filters.building_id is not None
    return _scoped(principal, select(func.coalesce(func.sum(counter.count), 0)).where(
        counter.kind == ("state" if by_storey else "pstate"), *conditions),
        counter.project_id, filters, counter.storey_id, counter.component_type_id)


def quality(principal: Principal, filters: ReportFilters) -> dict[str, Any]:
    """QC pass rate by manufacturer, NCRs, photo findings, alerts and quality records.

    Every part is narrowed by the same filters: project or region, and the days since..until
    on which its records happened (QC results, NCRs raised, findings made, alerts first
    seen, deliveries rejected, cubes tested, gates overridden, inspections done).
    """
    counter = ProgressCounter
    maker = aliased(Organization)
    qc = _scoped(principal, select(maker.id, maker.name, counter.state, func.sum(counter.count))
                 .join(ComponentType, counter.component_type_id == ComponentType.id)
                 .outerjoin(maker, ComponentType.manufacturer_id == maker.id)
                 .where(counter.kind == "day",
                        counter.state.in_(("qc_pass", "qc_fail", "reject_delivery"))),
                 counter.project_id, filters, type_column=counter.component_type_id)
    if filters.since is not None:
        qc = qc.where(counter.day >= filters.since)
    if filters.until is not None:
        qc = qc.where(counter.day < filters.until)
    by_maker: dict[Any, dict[str, Any]] = {}
    rejected = 0
    for maker_id, name, action, count in db.session.execute(
            qc.group_by(maker.id, maker.name, counter.state)).all():
        if action == "reject_delivery":
            rejected += int(count or 0)
            continue
        entry = by_maker.setdefault(maker_id, {"manufacturer_id": maker_id, "name": name,
                                               "qc_pass": 0, "qc_fail": 0})
        entry[action] += int(count or 0)
    for entry in by_maker.values():
        checked = entry["qc_pass"] + entry["qc_fail"]
        entry["pass_rate"] = round(entry["qc_pass"] / checked, 4) if checked else None

    ncr_events = _narrowed(
        principal, filters,
        select(Event.id, Event.component_id, Event.data, Component.ncr_open)
        .join(Component, Event.component_id == Component.id).where(Event.action == "qc_fail"),
        Component.project_id, Event.server_time, Component.storey_id,
        Component.component_type_id)
    rows = db.session.execute(ncr_events).all()
    # An NCR is open while its piece's is and no later failure replaced it, after the
    # period too: each piece's latest failure of all, not of the days asked for.
    open_pieces = ncr_events.with_only_columns(Event.component_id).where(
        Component.ncr_open.is_(True))
    latest = dict(db.session.execute(
        select(Event.component_id, func.max(Event.id))
        .where(Event.action == "qc_fail", Event.component_id.in_(open_pieces))
        .group_by(Event.component_id)).all()) if any(row.ncr_open for row in rows) else {}
    ncrs: Counter = Counter()
    for row in rows:
        category = (row.data or {}).get("category") or "uncategorised"
        status = "open" if row.ncr_open and latest.get(row.component_id) == row.id \
            else "closed"
        ncrs[(str(category), status)] += 1

    findings = _narrowed(principal, filters, select(Finding.kind, Finding.status, func.count())
                         .group_by(Finding.kind, Finding.status), Finding.project_id,
                         Finding.created_at)
    alerts = _narrowed(principal, filters, select(Alert.kind, Alert.status, func.count())
                       .group_by(Alert.kind, Alert.status), Alert.project_id,
                       Alert.first_seen_at)
    return {
        "qc_by_manufacturer": sorted(by_maker.values(), key=lambda e: e["name"] or ""),
        "ncrs": [{"category": c, "status": s, "count": n} for (c, s), n in sorted(ncrs.items())],
        "photo_findings": [{"kind": k, "status": s, "count": n}
                           for k, s, n in db.session.execute(findings).all()],
        "alerts": [{"kind": k, "status": s, "count": n}
                   for k, s, n in db.session.execute(alerts).all()],
        "rejected_deliveries": rejected,
        **production.quality_records(functools.partial(_narrowed, principal, filters)),
    }


# --- CSV exports -----------------------------------------------------------------


# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = frozenset("=+-@\t\r")
# Bytes of CSV text mapped to 1 where a cell can start next (after a comma or a line end),
# 2 for a formula start, 0 otherwise: a cell starts with a formula where 1, 2 follow. (A
# carriage return is 0 here: one inside a cell is found by counting them.)
_CELL_STARTS = bytes(1 if byte in b",\n" else 2 if byte in b"=+-@\t" else 0
                     for byte in range(256))


def spreadsheet_safe(value):
    """Return a cell value a spreadsheet shows as text: a leading quote before a formula."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


def _plain(data: bytes, rows: int, columns: int) -> bool:
    """Whether `rows` lines of `columns` cells joined by commas are as the csv module writes them.

    The csv module quotes a cell holding a comma, a quote or a line break, and writes None
    empty where joining writes "None"; spreadsheet_safe changes a cell that starts with a
    formula. Lines with none of these are the csv module's bytes, safe as they are.
    """
    return (columns > 1 and data.count(b",") == rows * (columns - 1)
            and data.count(b"\n") == rows and data.count(b"\r") == rows
            and b'"' not in data and b"None" not in data
            and b"\x01\x02" not in (b"\n" + data).translate(_CELL_STARTS))


def _csv_lines(header: list[str], rows: Generator) -> Iterator[bytes]:
    """Write the rows as CSV, UTF-8 with a byte-order mark (Excel reads Chinese text then).

    Text from marks, serials, names and locations is the reader's data, never a formula:
    every cell is made safe (numbers stay numbers). `rows` gives lists of tuples. A chunk
    of them is written by joining their cells with commas (`%s` writes what str() gives,
    as the csv module does for what is not text) where that gives the csv module's bytes
    (`_plain`), several times faster than the module; a row it would quote, or with a cell
    that needs a quote mark before a formula, is written by the csv module.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield "\ufeff".encode() + utf8(buffer.getvalue())
    columns = len(header)
    joined = ",".join(["%s"] * columns) + "\r\n"
    with closing(rows):
        for chunk in rows:
            lines = [joined % row for row in chunk]
            data = utf8("".join(lines))
            if _plain(data, len(lines), columns):
                yield data
                continue
            buffer.seek(0)
            buffer.truncate()
            for row, line in zip(chunk, lines, strict=True):
                if _plain(utf8(line), 1, columns):
                    buffer.write(line)
                else:
                    writer.writerow([spreadsheet_safe(value) for value in row])
            yield utf8(buffer.getvalue())


def _chunks(query, size: int = 5000) -> Iterator[list]:
    """The query's rows, `size` at a time, as the database gives them (no ORM objects)."""
    result = db.session.connection().execute(query.execution_options(yield_per=size))
    yield from result.partitions(size)


def _streamed(query: Select, size: int = 5000) -> Iterator[list]:
    """The query's rows, `size` at a time, as the database driver reads them.

    PostgreSQL sends rows as it finds them (psycopg's `stream`, in chunks where libpq can),
    so it finds the next ones while these are written, where a server-side cursor (as in
    `_chunks`) waits for each batch it fetches. psycopg's values are given as they are:
    select only types SQLAlchemy leaves so (text, numbers, JSON, times, which `_iso` makes
    UTC). Times are read in UTC for the rest of the transaction, which the export ends.
    Other databases read through `_chunks`.
    """
    connection = db.session.connection()
    if connection.dialect.driver != "psycopg":
        yield from _chunks(query, size)
        return
    # Imported here, not at the top: a node on SQLite never loads the PostgreSQL driver.
    import psycopg

    compiled = query.compile(dialect=connection.dialect,
                             compile_kwargs={"render_postcompile": True})
    with connection.connection.driver_connection.cursor() as cursor:
        # psycopg reads a time in the session's zone: in UTC it needs no conversion, and
        # its ISO text is written faster.
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")
        # The parameters as given (text, numbers, times with a zone): psycopg adapts them
        # as SQLAlchemy's types would. A stream holds the connection until it ends: closed
        # here, it ends (the query cancelled) when the export stops early.
        with closing(cursor.stream(str(compiled), compiled.params, size=1000 if
                                   psycopg.capabilities.has_stream_chunked() else 1)) as rows:
            while chunk := list(islice(rows, size)):
                yield chunk


def _iso(value: datetime | None) -> str:
    """A time as ISO 8601 text in UTC, read as UTCDateTime reads it."""
    return "" if value is None else as_utc(value).isoformat()


COMPONENT_HEADER = ["id", "code", "mark", "project", "building", "storey", "type",
                    "manufacturer", "state", "on_hold", "damaged", "ncr_open", "gtin", "serial",
                    "updated_at"]
EVENT_HEADER = ["event_id", "sequence", "component_code", "mark", "project", "action",
                "from_state", "to_state", "user", "organization", "client_time",
                "server_time", "latitude", "longitude", "content_hash"]


def components_csv(principal: Principal, filters: ReportFilters) -> Iterator[bytes]:
    """Stream the components matching the filters as CSV (UTF-8 with BOM); audit it first."""
    audit.record_export("export.components_csv", principal, filters)
    maker = aliased(Organization)
    query = _scoped(principal, select(
        Component.id, Component.code, Component.mark, Project.code, Building.name, Storey.name,
        ComponentType.name, maker.name, Component.state, Component.on_hold, Component.damaged,
        Component.ncr_open, Component.gtin, Component.serial, Component.updated_at)
        .join(Project, Component.project_id == Project.id)
        .join(ComponentType, Component.component_type_id == ComponentType.id)
        .outerjoin(maker, ComponentType.manufacturer_id == maker.id)
        .outerjoin(Storey, Component.storey_id == Storey.id)
        .outerjoin(Building, Storey.building_id == Building.id),
        Component.project_id, filters, Component.storey_id, Component.component_type_id)

    def rows():
        for chunk in _chunks(query.order_by(Component.id)):
            yield [(*row[:14], _iso(row[14])) for row in chunk]

    return _csv_lines(COMPONENT_HEADER, rows())


def _events_query(principal: Principal, filters: ReportFilters, *columns) -> Select:
    # Days as every report counts them: in the report zone.
    query = _narrowed(principal, filters, select(*columns)
                      .join(Component, Event.component_id == Component.id)
                      .join(Project, Component.project_id == Project.id)
                      .join(User, Event.user_id == User.id)
                      .join(Organization, Event.organization_id == Organization.id),
                      Component.project_id, Event.server_time, Component.storey_id,
                      Component.component_type_id)
    return query.order_by(Event.id)


def events_csv(principal: Principal, filters: ReportFilters) -> Iterator[bytes]:
    """Stream the events matching the filters as CSV (UTF-8 with BOM), oldest first; audit it."""
    audit.record_export("export.events_csv", principal, filters)
    return event_lines(principal, filters)


def event_lines(principal: Principal, filters: ReportFilters) -> Iterator[bytes]:
    """The events CSV's bytes, a chunk at a time, without the audit record."""
    return _csv_lines(EVENT_HEADER, event_rows(principal, filters))


def event_rows(principal: Principal, filters: ReportFilters) -> Iterator[list[tuple]]:
    """The events CSV's rows formatted in Python, a chunk at a time (any database)."""
    query = _events_query(
        principal, filters, Event.id, Event.sequence, Component.code, Component.mark,
        Project.code, Event.action, Event.from_state, Event.to_state, User.name,
        # Times as the driver reads them (_iso makes them UTC): UTCDateTime's step for
        # each value cost more than formatting it.
        Organization.name, type_coerce(Event.client_time, DateTime(timezone=True)),
        type_coerce(Event.server_time, DateTime(timezone=True)), Event.location,
        Event.content_hash)
    # Closed on any way out: a paused psycopg stream holds its connection's lock, which
    # the request's final rollback would otherwise wait for.
    with closing(_streamed(query)) as chunks:
        for chunk in chunks:
            out = []
            for (event_id, sequence, code, mark, project, action, from_state, to_state, user,
                 organization, client_time, server_time, location, content_hash) in chunk:
                if isinstance(location, dict):
                    latitude = location.get("latitude", "")
                    longitude = location.get("longitude", "")
                else:
                    latitude = longitude = ""
                out.append((event_id, "" if sequence is None else sequence, code, mark,
                            project, action, from_state, to_state, user, organization,
                            _iso(client_time), _iso(server_time), latitude, longitude,
                            content_hash or ""))
            yield out



POUR_HEADER = ["pour_id", "project", "manufacturer", "mould", "cast_at", "concrete_grade",
               "mix", "supplier_ticket", "slump_mm", "concrete_temperature_c",
               "air_temperature_c", "curing_method", "components"]
STRENGTH_HEADER = POUR_HEADER[:7] + ["specimen", "age_days", "tested_at", "strength_mpa",
                                     "load_kn", "area_mm2", "laboratory", "report_number"]


def _pours_query(principal: Principal, filters: ReportFilters, *columns):
    query = select(Pour.id, Project.code, Organization.name, Mould.name, Pour.cast_at,
                   Pour.concrete_grade, Pour.mix, *columns) \
        .join(Project, Pour.project_id == Project.id) \
        .join(Organization, Pour.manufacturer_id == Organization.id) \
        .join(Mould, Pour.mould_id == Mould.id)
    query = _narrowed(principal, filters, query, Pour.project_id, Pour.cast_at)
    if filters.manufacturer_id is not None:
        query = query.where(Pour.manufacturer_id == filters.manufacturer_id)
    return query


def _pour_rows(query, order) -> Iterator[list]:
    for chunk in _chunks(query.order_by(*order)):
        yield [(*row[:4], _iso(row[4]), *row[5:]) for row in chunk]


def pours_csv(principal: Principal, filters: ReportFilters) -> Iterator[bytes]:
    """Stream the pours in scope as CSV (UTF-8 with BOM), by casting time."""
    members = select(func.count()).where(Component.pour_id == Pour.id).scalar_subquery()
    query = _pours_query(principal, filters, Pour.supplier_ticket, Pour.slump_mm,
                         Pour.concrete_temperature_c, Pour.air_temperature_c,
                         Pour.curing_method, members)
    return _csv_lines(POUR_HEADER, _pour_rows(query, (Pour.cast_at, Pour.id)))


def strength_results_csv(principal: Principal, filters: ReportFilters) -> Iterator[bytes]:
    """Stream the strength results of the pours in scope as CSV (UTF-8 with BOM)."""
    query = _pours_query(principal, filters, StrengthResult.specimen, StrengthResult.age_days,
                         StrengthResult.tested_at, StrengthResult.strength_mpa,
                         StrengthResult.load_kn, StrengthResult.area_mm2,
                         StrengthResult.laboratory, StrengthResult.report_number) \
        .join(StrengthResult, StrengthResult.pour_id == Pour.id)

    def rows():
        for chunk in _pour_rows(query, (Pour.id, StrengthResult.age_days,
                                        StrengthResult.specimen)):
            yield [(*row[:9], _iso(row[9]), *row[10:]) for row in chunk]

    return _csv_lines(STRENGTH_HEADER, rows())
