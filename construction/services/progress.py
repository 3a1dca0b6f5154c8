"""Progress counters kept as events are written, and the reports read from them.

Counters live in one table (ProgressCounter): kind `state` counts components
per (project, storey, type, state) now, kind `pstate` the same per (project,
type, state) for region-wide reads; kind `day` counts transitions per
(project, type, local day, action), kind `pday` the same per (project, local
day, action) for the daily curve (a fifth of the rows with five types, far
fewer with the dozens a real project has). The scan path adds its deltas in the same
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
from sqlalchemy import bindparam, exists, func, inspect, select, union_all
from sqlalchemy import event as orm_event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from construction.models import Component, ProgressCounter

_counter = ProgressCounter.__table__


def state_key(project_id: int, storey_id: int | None, type_id: int, state: str) -> tuple:
    return ("state", project_id, storey_id, type_id, state, None)


def project_key(project_id: int, type_id: int, state: str) -> tuple:
    # The same count without storeys: a region's projects read a few hundred rows.
    return ("pstate", project_id, None, type_id, state, None)


def _state_move(deltas: Counter, project_id, storey_id, type_id, state, delta: int) -> None:
    deltas[state_key(project_id, storey_id, type_id, state)] += delta
    deltas[project_key(project_id, type_id, state)] += delta


def count_state_move(deltas: Counter, project_id: int, storey_id: int | None, type_id: int,
                     state: str, delta: int) -> None:
    """Add `delta` components in a state at a place to the deltas (for bulk writers)."""
    _state_move(deltas, project_id, storey_id, type_id, state, delta)


def day_key(project_id: int, type_id: int, day: date, action: str) -> tuple:
    return ("day", project_id, None, type_id, action, day)


def project_day_key(project_id: int, day: date, action: str) -> tuple:
    # The same count without types: a region's daily curve reads a fifth of the rows.
    return ("pday", project_id, None, None, action, day)


def count_transition(deltas: Counter, project_id: int, type_id: int, day: date,
                     action: str, delta: int = 1) -> None:
    """Add `delta` transitions by `action` on a local day to the deltas (for bulk writers)."""
    deltas[day_key(project_id, type_id, day, action)] += delta
    deltas[project_day_key(project_id, day, action)] += delta


def _text(key: tuple) -> str:
    kind, project_id, storey_id, type_id, state, day = key
    return f"{kind}:{project_id}:{storey_id or 0}:{type_id or 0}:{state}:{day or ''}"


def report_day(moment: datetime) -> date:
    """The local calendar day a moment falls on, in the reporting zone."""
    offset = current_app.config["REPORT_UTC_OFFSET_MINUTES"]
    return moment.astimezone(timezone(timedelta(minutes=offset))).date()


@functools.cache
def _upsert(dialect: str):
    # Built once: a statement with the rows inlined is compiled anew on every
    # call, which cost more than the rest of a scan (measured: 2 ms of 3).
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(_counter).values(
        {name: bindparam(name) for name in ("key", "kind", "project_id", "storey_id",
                                            "component_type_id", "state", "day", "count")})
    return statement.on_conflict_do_update(
        index_elements=[_counter.c.key],
        set_={"count": _counter.c.count + statement.excluded["count"]})


_COLUMNS = ("key", "kind", "project_id", "storey_id", "component_type_id", "state", "day",
            "count")
IN_STATEMENT_ROWS = 8


def counter_rows(deltas: Counter) -> list[dict[str, Any]]:
    """The counter rows to add, keys in a fixed order (so writers never cross)."""
    return [{"key": _text(key), "kind": key[0], "project_id": key[1], "storey_id": key[2],
             "component_type_id": key[3], "state": key[4], "day": key[5], "count": delta}
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
                types: dict[int, tuple[int, int | None, int]]) -> Counter:
    """Deltas for a batch: each moved component (row, state before) and each new event.

    `types` maps a component id to (project, storey, type).
    """
    deltas: Counter = Counter()
    for row, before in moves:
        project_id, storey_id, type_id = types[row.id]
        if before != row.status.state:
            _state_move(deltas, project_id, storey_id, type_id, before, -1)
            _state_move(deltas, project_id, storey_id, type_id, row.status.state, 1)
    for event in events:
        project_id, _, type_id = types[event["component_id"]]
        count_transition(deltas, project_id, type_id, report_day(event["server_time"]),
                         event["action"])
    return deltas


def recount(session) -> dict[tuple, int]:
    """Count by brute force what the state counters should say (for checks and tests)."""
    rows = session.execute(
        select(Component.project_id, Component.storey_id, Component.component_type_id,
               Component.state, func.count())
        .group_by(Component.project_id, Component.storey_id, Component.component_type_id,
                  Component.state)).all()
    return {state_key(*row[:4]): row[4] for row in rows}
