"""Progress counters kept as events are written, and the reports read from them.

Counters live in one table (ProgressCounter): kind `state` counts components
per (project, storey, type, state) now, kind `pstate` the same per (project,
type, state) for region-wide reads; kind `day` counts transitions per
(project, type, local day, action), kind `pday` the same per (project, local
day, action) for one project's daily curve (a fifth of the rows with five
types, far fewer with the dozens a real project has), and kind `rday` the same
per (region code, local day, action) for a region's curve, whose rows grow with
the days and not with the projects. The scan path adds its deltas in the same
transaction as its events with one multi-row upsert (keys sorted, so two
batches never wait on each other in opposite orders); components created,
moved or deleted through the ORM are counted by mapper events. Reports sum a
few thousand counter rows instead of scanning millions of events.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, delete, exists, func, inspect, select, text, union_all
from sqlalchemy import event as orm_event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from construction.extensions import db
from construction.models import Component, ProgressCounter, Project

_counter = ProgressCounter.__table__


# A counter's key: (kind, project, storey, type, state or action, day, region code).


def state_key(project_id: int, storey_id: int | None, type_id: int, state: str) -> tuple:
    return ("state", project_id, storey_id, type_id, state, None, None)


def project_key(project_id: int, type_id: int, state: str) -> tuple:
    # The same count without storeys: a region's projects read a few hundred rows.
    return ("pstate", project_id, None, type_id, state, None, None)


def _state_move(deltas: Counter, project_id, storey_id, type_id, state, delta: int) -> None:
    deltas[state_key(project_id, storey_id, type_id, state)] += delta
    deltas[project_key(project_id, type_id, state)] += delta


def count_state_move(deltas: Counter, project_id: int, storey_id: int | None, type_id: int,
                     state: str, delta: int) -> None:
    """Add `delta` components in a state at a place to the deltas (for bulk writers)."""
    _state_move(deltas, project_id, storey_id, type_id, state, delta)


def day_key(project_id: int, type_id: int, day: date, action: str) -> tuple:
    return ("day", project_id, None, type_id, action, day, None)


def project_day_key(project_id: int, day: date, action: str) -> tuple:
    # The same count without types: one project's daily curve reads a fifth of the rows.
    return ("pday", project_id, None, None, action, day, None)


def region_day_key(region_code: str, day: date, action: str) -> tuple:
    # The same count without projects: a region's curve reads its days, however many projects.
    return ("rday", None, None, None, action, day, region_code)


def count_transition(deltas: Counter, project_id: int, region_code: str, type_id: int,
                     day: date, action: str, delta: int = 1) -> None:
    """Add `delta` transitions by `action` on a local day to the deltas (for bulk writers)."""
    deltas[day_key(project_id, type_id, day, action)] += delta
    deltas[project_day_key(project_id, day, action)] += delta
    deltas[region_day_key(region_code, day, action)] += delta


def move_region(connection, project_id: int, old: str, new: str) -> None:
    """Move a project's transitions from one region's daily counters to another's."""
    deltas: Counter = Counter()
    for day, action, count in connection.execute(
            select(_counter.c.day, _counter.c.state, _counter.c.count)
            .where(_counter.c.kind == "pday", _counter.c.project_id == project_id)):
        deltas[region_day_key(old, day, action)] -= count
        deltas[region_day_key(new, day, action)] += count
    bump(connection, deltas)


def refill_region_days() -> int:
    """Count the regions' days again from the projects' days, commit; return the counters.

    For an upgrade: transitions the previous release records after migration
    0017 and before its restart reach the projects' days, not the regions'.
    """
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # Writers wait until the counts are redone (readers go on); SQLite's delete
        # below takes its one write lock.
        connection.execute(text("LOCK TABLE progress_counter IN SHARE ROW EXCLUSIVE MODE"))
    connection.execute(delete(_counter).where(_counter.c.kind == "rday"))
    project = Project.__table__
    deltas: Counter = Counter()
    for region_code, day, action, count in connection.execute(
            select(project.c.region_code, _counter.c.day, _counter.c.state,
                   func.sum(_counter.c.count))
            .join(project, project.c.id == _counter.c.project_id)
            .where(_counter.c.kind == "pday")
            .group_by(project.c.region_code, _counter.c.day, _counter.c.state)):
        deltas[region_day_key(region_code, day, action)] += int(count)
    rows = counter_rows(deltas)
    write_rows(connection, rows)
    db.session.commit()
    return len(rows)


def _text(key: tuple) -> str:
    kind, project_id, storey_id, type_id, state, day, region_code = key
    if kind == "rday":
        return f"rday:{region_code}:{state}:{day}"
    return f"{kind}:{project_id}:{storey_id or 0}:{type_id or 0}:{state}:{day or ''}"


def report_day(moment: datetime) -> date:
    """The local calendar day a moment falls on, in the reporting zone."""
    offset = current_app.config["REPORT_UTC_OFFSET_MINUTES"]
    return moment.astimezone(timezone(timedelta(minutes=offset))).date()


_COLUMNS = ("key", "kind", "project_id", "storey_id", "component_type_id", "state", "day",
            "region_code", "count")


@functools.cache
def _upsert(dialect: str):
    # Built once: a statement with the rows inlined is compiled anew on every
    # call, which cost more than the rest of a scan (measured: 2 ms of 3).
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(_counter).values(
        {name: bindparam(name) for name in _COLUMNS})
    return statement.on_conflict_do_update(
        index_elements=[_counter.c.key],
        set_={"count": _counter.c.count + statement.excluded["count"]})


IN_STATEMENT_ROWS = 8


def counter_rows(deltas: Counter) -> list[dict[str, Any]]:
    """The counter rows to add, keys in a fixed order (so writers never cross)."""
    return [{"key": _text(key), "kind": key[0], "project_id": key[1], "storey_id": key[2],
             "component_type_id": key[3], "state": key[4], "day": key[5],
             "region_code": key[6], "count": delta}
            for key, delta in sorted(deltas.items(), key=lambda item: _text(item[0]))
            if delta]


def write_rows(connection, rows: list[dict[str, Any]]) -> None:
    """Add counter rows, creating the counters they name."""
    if rows:
        connection.execute(_upsert(connection.dialect.name), rows)


def bump(connection, deltas: Counter) -> None:
    """Add the deltas to their counters, creating them (keys in a fixed order)."""
    write_rows(connection, counter_rows(deltas))


def statement_params(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Bind the rows for counting_cte: c{i}_{column}."""
    return {f"c{index}_{name}": row[name] for index, row in enumerate(rows)
            for name in _COLUMNS}


def counting_cte(count: int, moved):
    """A PostgreSQL CTE adding `count` counter rows, only if `moved` returns a row."""
    parts = [select(*[bindparam(f"c{index}_{name}", type_=_counter.c[name].type).label(name)
                      for name in _COLUMNS]).where(exists(select(moved.c.moved_id)))
             for index in range(count)]
    source = union_all(*parts).subquery("counts")
    statement = pg_insert(_counter).from_select(list(_COLUMNS),
                                                select(*[source.c[n] for n in _COLUMNS]))
    statement = statement.on_conflict_do_update(
        index_elements=[_counter.c.key],
        set_={"count": _counter.c.count + statement.excluded["count"]})
    return statement.cte("counted")


# Components changed through the ORM (created, imported, moved, deleted) ------------


@orm_event.listens_for(Component, "after_insert")
def _created(mapper, connection, component: Component) -> None:
    # The state default is applied by the INSERT; the attribute may not be loaded.
    state = component.__dict__.get("state") or "planned"
    deltas: Counter = Counter()
    _state_move(deltas, component.project_id, component.storey_id,
                component.component_type_id, state, 1)
    bump(connection, deltas)


@orm_event.listens_for(Component, "after_update")
def _moved(mapper, connection, component: Component) -> None:
    state = inspect(component)
    before = {}
    for name in ("storey_id", "component_type_id", "state", "project_id"):
        history = state.attrs[name].history
        before[name] = history.deleted[0] if history.deleted else getattr(component, name)
    deltas: Counter = Counter()
    _state_move(deltas, before["project_id"], before["storey_id"], before["component_type_id"],
                before["state"], -1)
    _state_move(deltas, component.project_id, component.storey_id,
                component.component_type_id, component.state, 1)
    bump(connection, deltas)


@orm_event.listens_for(Component, "after_delete")
def _deleted(mapper, connection, component: Component) -> None:
    deltas: Counter = Counter()
    _state_move(deltas, component.project_id, component.storey_id,
                component.component_type_id, component.state, -1)
    bump(connection, deltas)


def scan_deltas(moves: Iterable[tuple[Any, str]], events: Iterable[dict[str, Any]],
                types: dict[int, tuple[int, int | None, int, str]]) -> Counter:
    """Deltas for a batch: each moved component (row, state before) and each new event.

    `types` maps a component id to (project, storey, type, the project's region code).
    """
    deltas: Counter = Counter()
    for row, before in moves:
        project_id, storey_id, type_id, _ = types[row.id]
        if before != row.status.state:
            _state_move(deltas, project_id, storey_id, type_id, before, -1)
            _state_move(deltas, project_id, storey_id, type_id, row.status.state, 1)
    for event in events:
        project_id, _, type_id, region_code = types[event["component_id"]]
        count_transition(deltas, project_id, region_code, type_id,
                         report_day(event["server_time"]), event["action"])
    return deltas


def recount(session) -> dict[tuple, int]:
    """Count by brute force what the state counters should say (for checks and tests)."""
    rows = session.execute(
        select(Component.project_id, Component.storey_id, Component.component_type_id,
               Component.state, func.count())
        .group_by(Component.project_id, Component.storey_id, Component.component_type_id,
                  Component.state)).all()
    return {state_key(*row[:4]): row[4] for row in rows}
