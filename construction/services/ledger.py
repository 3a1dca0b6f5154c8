"""The ledger's state: every component's status recomputed from its events, and sealing lag."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby

from flask import current_app
from sqlalchemy import func, select

from construction import lifecycle
from construction.extensions import db
from construction.lifecycle import LedgerEntry, Status, TransitionError
from construction.models import Component, Event, LedgerCheckpoint


def event_count() -> int:
    """Count the ledger's events (sealed or not)."""
    return db.session.scalar(select(func.count()).select_from(Event))


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


# Unsealed events are counted up to this many: /health stays cheap however far behind.
UNSEALED_COUNT_CAP = 10_000


def _age_s(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else round(max(0.0, (now - moment).total_seconds()), 1)


def ledger_lag() -> dict:
    """Report how far sealing lags: unsealed events, their oldest age, the newest sealed's age.

    Three index lookups (the partial index of unsealed events, the unique
    sequence): cheap enough for a load balancer's every probe.
    """
    unsealed = db.session.scalar(select(func.count()).select_from(
        select(Event.id).where(Event.sequence.is_(None)).limit(UNSEALED_COUNT_CAP).subquery()))
    oldest_unsealed = db.session.scalar(select(Event.server_time).where(
        Event.sequence.is_(None)).order_by(Event.id).limit(1))
    newest_sealed = db.session.scalar(select(Event.server_time).where(
        Event.sequence.is_not(None)).order_by(Event.sequence.desc()).limit(1))
    newest_checkpoint = db.session.scalar(select(LedgerCheckpoint.created_at).order_by(
        LedgerCheckpoint.sequence.desc()).limit(1))
    now = datetime.now(UTC)
    oldest_age = _age_s(oldest_unsealed, now)
    return {"unsealed_events": unsealed, "oldest_unsealed_age_s": oldest_age,
            "newest_sealed_age_s": _age_s(newest_sealed, now),
            "newest_checkpoint_age_s": _age_s(newest_checkpoint, now),
            "max_lag_s": current_app.config["LEDGER_SEAL_MAX_LAG_S"],
            "ok": oldest_age is None or oldest_age <= current_app.config["LEDGER_SEAL_MAX_LAG_S"]}
