"""Recompute every component's status from its events and compare."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import select

from construction import lifecycle
from construction.extensions import db
from construction.lifecycle import LedgerEntry, Status, TransitionError
from construction.models import Component, Event


@dataclass(frozen=True)
class Mismatch:
    """A component whose stored status differs from what its events imply."""

    component_id: int
    code: str
    stored: Status
    derived: Status | None
    reason: str


def _events_by_component() -> Iterator[tuple[int, list[LedgerEntry]]]:
    rows = db.session.execute(
        select(Event.component_id, Event.id, Event.action, Event.data, Event.corrects_event_id)
        .order_by(Event.component_id, Event.id)
        .execution_options(yield_per=5000))
    for component_id, group in groupby(rows, key=lambda r: r[0]):
        yield component_id, [LedgerEntry(r[1], r[2], r[3], r[4]) for r in group]


def check_ledger(progress: Callable[[int], None] | None = None) -> tuple[int, list[Mismatch]]:
    """Return how many components were checked and the mismatches found."""
    stored = {r.id: (r.code, Status(r.state, r.on_hold, r.damaged, r.ncr_open))
              for r in db.session.execute(
                  select(Component.id, Component.code, Component.state, Component.on_hold,
                         Component.damaged, Component.ncr_open))}
    derived: dict[int, Status | TransitionError] = {}
    for component_id, entries in _events_by_component():
        try:
            derived[component_id] = lifecycle.replay(entries)
        except TransitionError as error:
            derived[component_id] = error
        if progress:
            progress(1)
    mismatches = []
    for component_id, (code, status) in stored.items():
        result = derived.get(component_id, Status())
        if isinstance(result, TransitionError):
            mismatches.append(Mismatch(component_id, code, status, None,
                                       f"the events do not replay: {result.detail}"))
        elif result != status:
            mismatches.append(Mismatch(component_id, code, status, result,
                                       "stored status differs from the events"))
    for component_id in derived.keys() - stored.keys():
        mismatches.append(Mismatch(component_id, "?", Status(), None,
                                   "events for a component that does not exist"))
    return len(stored), mismatches
