"""Record scans: the one path by which a component's state changes.

A single scan is a batch of one. A batch resolves all its codes, locks the
components it touches (in id order, so batches never deadlock), applies the
lifecycle in memory in the order given, and writes all events and state
changes in one transaction.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from construction import lifecycle, metrics
from construction.errors import ApiProblem
from construction.extensions import db
from construction.identity import ComponentKey, parse_scanned
from construction.lifecycle import LedgerEntry, Status, TransitionError
from construction.models import Component, ComponentType, Event, Project, User
from construction.permissions import Principal, participant_project_ids
from construction.services import production, progress
from construction.services.alerts import LabelScan, note_label_scans, record_security_events
from construction.services.chain import maybe_seal
from construction.services.labels import LabelCheck, check_label_urls, is_label_url
from labels.codes import CodeError

_RETRIES = 3


@dataclass
class ScanItem:
    """One scan as the client sent it (already validated in shape)."""

    code: str
    action: str
    client_event_id: str
    client_time: datetime | None = None
    location: dict | None = None
    data: dict | None = None
    device: str | None = None
    corrects_event_id: int | None = None


@dataclass
class ScanResult:
    """What became of one scan: accepted, duplicate, rejected (or not-recorded)."""

    outcome: str
    event: dict[str, Any] | None = None
    component: dict[str, Any] | None = None
    problem: ApiProblem | None = None


@dataclass
class _Row:
    id: int
    code: str
    project_id: int
    version: int
    status: Status
    storey_id: int | None = None
    component_type_id: int | None = None
    initial_state: str = ""
    dirty: bool = False
    pending: list[LedgerEntry] = field(default_factory=list)
    pour_id: int | None = None
    joins_pour: bool = False  # a cast named its pour: the component joins it
    gates: production.GateSettings | None = None
    region_code: str = ""


_component = Component.__table__
_event = Event.__table__
_type = ComponentType.__table__
# What the gates ask of a component's type, read with the lock when an action has gates.
_GATE_COLUMNS = (_component.c.pour_id, _type.c.concrete_grade, _type.c.stripping_strength_mpa,
                 _type.c.stripping_strength_percent, _type.c.delivery_strength_mpa,
                 _type.c.delivery_strength_percent, _type.c.checklist_stages)
_GATED_ACTIONS = frozenset(name for name, spec in lifecycle.ACTIONS.items() if spec.gates)
_project = Project.__table__
_LOCK_COLUMNS = (_component.c.id, _component.c.code, _component.c.gtin, _component.c.serial,
                 _component.c.project_id, _component.c.storey_id,
                 _component.c.component_type_id, _component.c.version, _component.c.state,
                 _component.c.on_hold, _component.c.damaged, _component.c.ncr_open,
                 _project.c.region_code)
_WITH_PROJECT = _component.join(_project, _project.c.id == _component.c.project_id)
_KEY_CONDITIONS = {
    "code": _component.c.code.in_(bindparam("codes", expanding=True)),
    "id": _component.c.id.in_(bindparam("ids", expanding=True)),
    "gs1": tuple_(_component.c.gtin, _component.c.serial).in_(
        bindparam("pairs", expanding=True)),
}
# Statements are built once: building them costs more than running them.
_INSERT_EVENTS = insert(_event).returning(_event.c.id, sort_by_parameter_order=True)
_UPDATE_STATES = (
    update(_component)
    .where(and_(_component.c.id == bindparam("b_id"),
                _component.c.version == bindparam("b_version")))
    .values(state=bindparam("b_state"), on_hold=bindparam("b_on_hold"),
            damaged=bindparam("b_damaged"), ncr_open=bindparam("b_ncr_open"),
            version=_component.c.version + 1, updated_at=bindparam("b_now"))
)

_moved = _UPDATE_STATES.returning(_component.c.id.label("moved_id")).cte("moved")
_LEDGER_FIELDS = ("sequence", "content_hash", "chain_hash")  # filled in by the sealer
_EVENT_FIELDS = [column for column in _event.c
                 if column.name not in ("id", "component_id", *_LEDGER_FIELDS)]
_MOVE_AND_INSERT = insert(_event).from_select(
    ["component_id", *(column.name for column in _EVENT_FIELDS)],
    select(_moved.c.moved_id,
           *(bindparam(column.name, type_=column.type) for column in _EVENT_FIELDS)),
).returning(_event.c.id)


@functools.cache
def _lock_statement(kinds: tuple[str, ...], scoped: bool, gated: bool = False):
    """Select and lock components by the given kinds of key, in id order."""
    if gated:
        statement = select(*_LOCK_COLUMNS, *_GATE_COLUMNS).select_from(
            _WITH_PROJECT.join(_type, _type.c.id == _component.c.component_type_id))
    else:
        statement = select(*_LOCK_COLUMNS).select_from(_WITH_PROJECT)
    statement = statement.where(or_(*(_KEY_CONDITIONS[k] for k in kinds)))
    if scoped:
        # The write scope of construction.permissions, with the organization bound late.
        statement = statement.where(_component.c.project_id.in_(
            participant_project_ids(bindparam("organization_id"))))
    # The project's region code (for the region's daily counters) is read under a key-share
    # lock, as a foreign key check takes: scans do not wait for each other or for a project's
    # edits, but a region move (projects.update_project locks the row for update) waits for
    # the scans in flight, and the scans after it read the new region.
    return statement.order_by(_component.c.id).with_for_update(of=_component).suffix_with(
        "FOR KEY SHARE OF project", dialect="postgresql")


# Called in the transaction that writes a group of scans, before it commits: with the
# accepted events (their ids filled in) and the time. Loads record their scan with it.
BeforeCommit = Callable[[list[dict[str, Any]], datetime], None]


def record_scans(principal: Principal, items: list[ScanItem], all_or_nothing: bool = False,
                 before_commit: BeforeCommit | None = None) -> list[ScanResult]:
    """Record scans in order; return one result per item.

    With `all_or_nothing`, one rejected item writes nothing: the rejected items
    come back with their problems and the others with the outcome `not-recorded`.
    """
    look_up_all = False
    # Security events counted against the user's limit, kept across attempts.
    allowance: dict[str, ApiProblem | None] = {}
    for attempt in range(_RETRIES):
        try:
            results = _record(principal, items, look_up_all, allowance, all_or_nothing,
                              before_commit)
            metrics.count_scans(results, items)
            maybe_seal()
            return results
        except IntegrityError:
            # A client event id is already stored (a replay whose action is still
            # allowed, or a concurrent replay): start again, looking every id up.
            db.session.rollback()
            look_up_all = True
            if attempt == _RETRIES - 1:
                raise
        except _StaleVersion:
            # Another transaction moved a component first: start again.
            db.session.rollback()
    raise ApiProblem("conflict", "the components changed while this was recorded; "
                     "send it again", status=409)


class _StaleVersion(Exception):
    pass


@dataclass
class _Scan:
    """One scan of a batch, carried through the steps of `_record`."""

    item: ScanItem
    result: ScanResult | None = None  # set once the scan is answered
    key: ComponentKey | None = None  # the component its code names
    label: LabelCheck | None = None  # the genuine label it was read from
    bad_label: LabelCheck | None = None  # the label it was refused for
    row: _Row | None = None  # its component, locked
    state_before: str = ""  # the component's state when the rule book saw the scan
    event: dict[str, Any] | None = None  # the event to write, once accepted
    refused: bool = False  # the rule book refused it, and it is no replay
    first: _Scan | None = None  # the same scan, accepted earlier in the batch


def _record(principal: Principal, items: list[ScanItem], look_up_all: bool,
            allowance: dict[str, ApiProblem | None], all_or_nothing: bool = False,
            before_commit: BeforeCommit | None = None) -> list[ScanResult]:
    scans = _resolve_codes(principal, items)
    rows, records, existing = _lock_and_load(principal, scans, look_up_all)
    now = datetime.now(UTC)
    new_events = _apply_rule_book(principal, scans, records, existing, now)
    if not look_up_all:
        _answer_replays(principal.user_id, scans)
    if all_or_nothing and any(_is_rejected(scan.result) for scan in scans):
        db.session.rollback()
        return [scan.result if _is_rejected(scan.result) else ScanResult("not-recorded")
                for scan in scans]
    if new_events:
        _write_events_and_counters(new_events, rows, now)
    _note_label_sightings(principal, scans, now, allowance)
    production.pours_from_casts(principal, new_events)
    if before_commit is not None:
        before_commit(new_events, now)
    db.session.commit()
    return _results(principal, scans)


def _resolve_codes(principal: Principal, items: list[ScanItem]) -> list[_Scan]:
    """Find the component key each scan's code names; reject what names none."""
    scans = [_Scan(item) for item in items]
    # A URL must be a genuine, current label; plain codes are typed by hand.
    label_texts = [item.code for item in items if is_label_url(item.code)]
    # Labels resolve within the projects the caller takes part in, as codes do.
    checks = check_label_urls(label_texts, None if principal.is_admin
                              else principal.organization_id) if label_texts else {}
    for scan in scans:
        item = scan.item
        if not lifecycle.role_may(principal.role, item.action):
            scan.result = _rejected(ApiProblem(
                "forbidden-action",
                f"the role '{principal.role}' may not perform '{item.action}'",
                action=item.action, role=principal.role))
            continue
        check = checks.get(item.code)
        if check is not None:
            if check.status == "unknown":
                scan.result = _rejected(_unknown_code(item))
            elif check.genuine:
                scan.key, scan.label = ComponentKey("id", id=check.component_id), check
            else:
                scan.result, scan.bad_label = _rejected(check.problem()), check
            continue
        try:
            scan.key = parse_scanned(item.code)
        except CodeError as error:
            scan.result = _rejected(ApiProblem("invalid-code", str(error), code=item.code))
    return scans


# The components locked (by every key that names them), the gates' records, stored replays.
_Loaded = tuple[dict[ComponentKey, _Row], production.GateRecords | None, dict[str, Event]]


def _lock_and_load(principal: Principal, scans: list[_Scan], look_up_all: bool) -> _Loaded:
    """Lock the components the scans name; read the gates' records and, if asked, replays."""
    resolved = [scan for scan in scans if scan.key is not None]
    gated = any(scan.item.action in _GATED_ACTIONS for scan in resolved)
    rows = _lock_components(principal, {scan.key for scan in resolved}, gated)
    for scan in resolved:
        scan.row = rows.get(scan.key)
    records = _gate_records(resolved) if gated else None
    # Replays are rare: on the first attempt only scans that the lifecycle
    # refuses are looked up (a replay of an accepted scan usually is refused
    # now); a replay that slips through hits the unique index, and the retry
    # looks every id up.
    existing = _existing_events(principal.user_id,
                                [scan.item.client_event_id for scan in resolved]) \
        if look_up_all else {}
    return rows, records, existing


def _apply_rule_book(principal: Principal, scans: list[_Scan],
                     records: production.GateRecords | None, existing: dict[str, Event],
                     now: datetime) -> list[dict[str, Any]]:
    """Apply the lifecycle to the scans in order, in memory; return the events to write."""
    new_events: list[dict[str, Any]] = []
    accepted: dict[str, _Scan] = {}  # client event id -> the scan accepted with it
    for scan in scans:
        if scan.key is None or _answered_before_rules(scan, existing, accepted):
            continue
        item, row = scan.item, scan.row
        before = row.status
        after = _status_after(scan, records)
        if after is None:
            continue
        accepted[item.client_event_id] = scan
        if item.action == "cast" and production.scan_pour_id(item.data) is not None:
            row.pour_id, row.joins_pour = production.scan_pour_id(item.data), True
        row.status = after
        row.dirty = True
        row.pending.append(LedgerEntry(-1 - len(new_events), item.action, item.data,
                                       item.corrects_event_id))
        scan.event = _event_row(principal, row, item, before, after, now)
        new_events.append(scan.event)
    return new_events


def _answered_before_rules(scan: _Scan, existing: dict[str, Event],
                           accepted: dict[str, _Scan]) -> bool:
    """Answer a scan of no component, a replay or a repeat within the batch; tell if done."""
    item, row = scan.item, scan.row
    if row is None:
        scan.result = _rejected(_unknown_code(item))
        return True
    earlier = existing.get(item.client_event_id)
    if earlier is not None:
        scan.result = _replay(earlier, row, item)
        return True
    first = accepted.get(item.client_event_id)
    if first is None:
        return False
    if first.item.action != item.action or first.row.id != row.id:
        scan.result = _rejected(_reused(item))
    else:
        scan.first = first
    return True


def _status_after(scan: _Scan, records: production.GateRecords | None) -> Status | None:
    """Return the component's status after the scan, or None when the rule book refuses it."""
    item, row = scan.item, scan.row
    scan.state_before = row.status.state
    try:
        if item.action == "correct":
            return _corrected_status(row, item)
        if records is not None or (item.data and "gates" in item.data):
            item.data = _with_gate_evidence(row, item, records)
        return lifecycle.apply(row.status, item.action, item.data)
    except TransitionError as error:
        problem = _transition_problem(error)
    except ApiProblem as refusal:  # a correction the ledger refuses
        problem = refusal
    scan.result, scan.refused = _rejected(problem), True
    return None


def _answer_replays(user_id: int, scans: list[_Scan]) -> None:
    """Answer the refused scans that repeat a stored one as their replays."""
    refused = [scan for scan in scans if scan.refused]
    if not refused:
        return
    earlier_events = _existing_events(user_id, [scan.item.client_event_id for scan in refused])
    for scan in refused:
        earlier = earlier_events.get(scan.item.client_event_id)
        if earlier is not None:
            scan.result, scan.refused = _replay(earlier, scan.row, scan.item), False


def _is_rejected(result: ScanResult | None) -> bool:
    return result is not None and result.outcome == "rejected"


def _write_events_and_counters(new_events: list[dict[str, Any]],
                               rows: dict[ComponentKey, _Row], now: datetime) -> None:
    """Write the events, the components' new states, the progress counters and pours joined."""
    # One component may be named by several keys (code, id, GS1): once each.
    moved = {row.id: row for row in rows.values() if row.dirty}
    # Progress counters move in the same transaction as the events.
    places = {row.id: (row.project_id, row.storey_id, row.component_type_id, row.region_code)
              for row in moved.values()}
    counters = progress.counter_rows(progress.scan_deltas(
        [(row, row.initial_state) for row in moved.values()], new_events, places))
    if not _write(new_events, list(moved.values()), now, counters):
        progress.write_rows(db.session.connection(), counters)
    joined = [{"b_id": row.id, "b_pour_id": row.pour_id}
              for row in moved.values() if row.joins_pour]
    if joined:
        db.session.connection().execute(_JOIN_POUR, joined)


def _note_label_sightings(principal: Principal, scans: list[_Scan], now: datetime,
                          allowance: dict[str, ApiProblem | None]) -> None:
    """Count refused labels against the user's limit; note where genuine labels were seen."""
    labelled = [scan for scan in scans if scan.label is not None]
    bad = [scan for scan in scans if scan.bad_label is not None]
    if not labelled and not bad:
        return
    over_limit = record_security_events(
        principal, [(scan.item, scan.bad_label) for scan in bad], now, allowance)
    for scan in bad:
        if scan.item.client_event_id in over_limit:
            scan.result = _rejected(over_limit[scan.item.client_event_id])
    note_label_scans([
        LabelScan(scan.label.label_id, scan.label.component_id, scan.label.project_id,
                  scan.state_before, scan.item.location,
                  "accepted" if scan.event is not None else "refused",
                  principal.user_id, scan.item.client_event_id)
        for scan in labelled
        # Replays and repeats within the batch are not new sightings.
        if scan.event is not None or scan.refused
    ], now)


def _results(principal: Principal, scans: list[_Scan]) -> list[ScanResult]:
    """Answer the accepted scans and their repeats, once the events have their ids."""
    for scan in scans:
        if scan.event is not None:
            scan.result = ScanResult("accepted",
                                     event=_event_view(scan.event, principal.user_name),
                                     component=_component_view(scan.row))
        elif scan.first is not None:
            scan.result = ScanResult("duplicate", event=scan.first.result.event,
                                     component=scan.first.result.component)
    return [scan.result for scan in scans]


_JOIN_POUR = (update(_component).where(_component.c.id == bindparam("b_id"))
              .values(pour_id=bindparam("b_pour_id")))


def _gate_records(scans: list[_Scan]) -> production.GateRecords | None:
    """Read the records the batch's gated actions need; None when no gate applies."""
    needs, pours = [], []
    for scan in scans:
        row, item = scan.row, scan.item
        if row is None:
            continue
        named = production.scan_pour_id(item.data) if item.action == "cast" else None
        if isinstance(named, int) and not isinstance(named, bool):
            pours.append(named)
        if named is not None or production.gates_needed(row.gates, item.action):
            needs.append((row.id, row.project_id, row.pour_id))
    if not needs:
        return None
    return production.load_gate_records(needs, pours)


def _with_gate_evidence(row: _Row, item: ScanItem,
                        records: production.GateRecords | None) -> dict | None:
    """Return the scan's data with the gates' evidence, which only the server writes."""
    data = dict(item.data) if item.data else {}
    data.pop("gates", None)
    if records is None:
        return data
    if item.action == "cast":
        _check_pour(row, data.get("pour_id"), records)
    evidence = production.gate_evidence(item.action, row.id, row.project_id, row.pour_id,
                                        row.gates, records) if row.gates else {}
    if evidence:
        data["gates"] = evidence
    return data if data or item.data is not None else None


def _check_pour(row: _Row, pour_id: Any, records: production.GateRecords) -> None:
    if pour_id is None:
        return
    if not isinstance(pour_id, int) or isinstance(pour_id, bool) \
            or records.pour_projects.get(pour_id) != row.project_id:
        raise ApiProblem("validation-error", f"no pour {pour_id!r} in the component's project",
                         errors={"data": {"pour_id": ["No such pour in this project."]}})
    if row.pour_id is not None and row.pour_id != pour_id:
        raise ApiProblem("conflict", f"component {row.code} is in pour {row.pour_id}",
                         pour_id=row.pour_id)


def _unknown_code(item: ScanItem) -> ApiProblem:
    return ApiProblem("unknown-code", f"no component you may act on has the code '{item.code}'",
                      code=item.code)


def _rejected(problem: ApiProblem) -> ScanResult:
    return ScanResult("rejected", problem=problem)


def _reused(item: ScanItem) -> ApiProblem:
    return ApiProblem("client-event-id-reused",
                      f"client_event_id '{item.client_event_id}' was used for another scan",
                      client_event_id=item.client_event_id)


def _transition_problem(error: TransitionError) -> ApiProblem:
    status = error.status
    extra = {"current_state": status.state, "on_hold": status.on_hold,
             "damaged": status.damaged, "ncr_open": status.ncr_open,
             "allowed_actions": lifecycle.allowed_actions(status)}
    return ApiProblem(error.kind, error.detail, **extra, **error.extra)


def _lock_components(principal: Principal, keys: set[ComponentKey],
                     gated: bool = False) -> dict[ComponentKey, _Row]:
    if not keys:
        return {}
    values = {"codes": [k.code for k in keys if k.kind == "code"],
              "ids": [k.id for k in keys if k.kind == "id"],
              "pairs": [(k.gtin, k.serial) for k in keys if k.kind == "gs1"]}
    params: dict[str, Any] = {name: listed for name, listed in values.items() if listed}
    kinds = tuple(kind for kind, name in (("code", "codes"), ("id", "ids"), ("gs1", "pairs"))
                  if name in params)
    # Writes need the organization to take part in the project (regulators,
    # who may not write at all, never get here: their role has no actions).
    scoped = not principal.is_admin
    if scoped:
        params["organization_id"] = principal.organization_id
    found: dict[ComponentKey, _Row] = {}
    connection = db.session.connection()  # on SQLite, takes the write lock (timed there)
    started = time.monotonic()
    locked = connection.execute(_lock_statement(kinds, scoped, gated), params).all()
    if connection.dialect.name == "postgresql":
        # Mostly waiting for rows another transaction holds: the lock wait, as seen here.
        metrics.LOCK_WAIT_SECONDS.labels("postgresql").observe(time.monotonic() - started)
    for r in locked:
        row = _Row(r.id, r.code, r.project_id, r.version,
                   Status(r.state, r.on_hold, r.damaged, r.ncr_open), r.storey_id,
                   r.component_type_id, r.state, region_code=r.region_code)
        if gated:
            row.pour_id = r.pour_id
            row.gates = production.GateSettings(
                r.concrete_grade, r.stripping_strength_mpa, r.stripping_strength_percent,
                r.delivery_strength_mpa, r.delivery_strength_percent, r.checklist_stages)
        found[ComponentKey("code", code=r.code)] = row
        found[ComponentKey("id", id=r.id)] = row
        if r.gtin is not None:
            found[ComponentKey("gs1", gtin=r.gtin, serial=r.serial)] = row
    return {key: found[key] for key in keys if key in found}


def _existing_events(user_id: int, client_event_ids: list[str]) -> dict[str, Event]:
    if not client_event_ids:
        return {}
    events = db.session.scalars(
        select(Event).where(Event.user_id == user_id,
                            Event.client_event_id.in_(set(client_event_ids)))
    ).all()
    return {event.client_event_id: event for event in events}


def _replay(earlier: Event, row: _Row, item: ScanItem) -> ScanResult:
    if earlier.component_id != row.id or earlier.action != item.action:
        return _rejected(_reused(item))
    user_name = db.session.get(User, earlier.user_id).name
    return ScanResult("duplicate", event=event_view(earlier, user_name),
                      component=_component_view(row))


def _corrected_status(row: _Row, item: ScanItem) -> Status:
    target_id = item.corrects_event_id
    if target_id is None:
        raise ApiProblem("validation-error", "a correction names the event it corrects",
                         errors={"corrects_event_id": ["Missing data for required field."]})
    history = [LedgerEntry(e.id, e.action, e.data, e.corrects_event_id)
               for e in db.session.scalars(
                   select(Event).where(Event.component_id == row.id).order_by(Event.id))]
    history += row.pending
    target = next((e for e in history if e.id == target_id), None)
    if target is None:
        raise ApiProblem("invalid-correction",
                         f"event {target_id} is not an event of component {row.code}")
    if target.action == "correct":
        raise ApiProblem("invalid-correction", "a correction cannot itself be corrected")
    if any(e.corrects_event_id == target_id for e in history):
        raise ApiProblem("invalid-correction", f"event {target_id} is already corrected")
    try:
        return lifecycle.replay(history + [LedgerEntry(0, "correct", None, target_id)])
    except TransitionError as error:
        raise ApiProblem(
            "invalid-correction",
            f"without event {target_id} the later events no longer follow: {error.detail}; "
            "correct the later events first") from error


def _event_row(principal: Principal, row: _Row, item: ScanItem, before: Status,
               after: Status, now: datetime) -> dict[str, Any]:
    offset = None
    client_time = None
    if item.client_time is not None:
        delta = item.client_time.utcoffset()
        offset = int(delta.total_seconds() // 60) if delta is not None else None
        client_time = item.client_time.astimezone(UTC)
    return {
        "component_id": row.id, "action": item.action,
        "from_state": before.state, "to_state": after.state,
        "user_id": principal.user_id, "organization_id": principal.organization_id,
        "device": item.device, "client_event_id": item.client_event_id,
        "client_time": client_time, "client_utc_offset_minutes": offset,
        "server_time": now, "location": item.location, "data": item.data,
        "corrects_event_id": item.corrects_event_id if item.action == "correct" else None,
    }


def _write(new_events: list[dict[str, Any]], rows: list[_Row], now: datetime,
           counters: list[dict[str, Any]]) -> bool:
    """Insert the events and move the components; fill in the events' ids.

    Return whether the counters were written too (one scan on PostgreSQL).
    """
    connection = db.session.connection()
    if (len(new_events) == 1 and connection.dialect.name == "postgresql"
            and len(counters) <= progress.IN_STATEMENT_ROWS):
        # One scan on PostgreSQL: the update, the insert and the counters go in
        # one statement (data-modifying CTEs), saving round trips on the
        # hottest path; the counters move only if the component did.
        params = {**new_events[0], **_state_params(rows[0], now),
                  **progress.statement_params(counters)}
        event_id = connection.execute(_move_insert_count(len(counters)), params).scalar()
        if event_id is None:
            raise _StaleVersion()
        new_events[0]["id"] = event_id
        rows[0].version += 1
        return True
    ids = connection.execute(_INSERT_EVENTS, new_events).scalars().all()
    for position, event_id in enumerate(ids):
        new_events[position]["id"] = event_id
    _write_states(rows, now)
    return False


@functools.cache
def _move_insert_count(counters: int):
    if counters == 0:
        return _MOVE_AND_INSERT
    return _MOVE_AND_INSERT.add_cte(progress.counting_cte(counters, _moved))


def _state_params(row: _Row, now: datetime) -> dict[str, Any]:
    return {"b_id": row.id, "b_version": row.version, "b_state": row.status.state,
            "b_on_hold": row.status.on_hold, "b_damaged": row.status.damaged,
            "b_ncr_open": row.status.ncr_open, "b_now": now}


def _write_states(rows: list[_Row], now: datetime) -> None:
    params = [_state_params(row, now) for row in rows]
    result = db.session.connection().execute(_UPDATE_STATES, params)
    if result.rowcount >= 0 and result.rowcount != len(rows):
        raise _StaleVersion()
    for row in rows:
        row.version += 1


def _component_view(row: _Row) -> dict[str, Any]:
    return {"id": row.id, "code": row.code, "state": row.status.state,
            "on_hold": row.status.on_hold, "damaged": row.status.damaged,
            "ncr_open": row.status.ncr_open,
            "allowed_actions": lifecycle.allowed_actions(row.status)}


def _iso(value: datetime | None, offset_minutes: int | None = None) -> str | None:
    if value is None:
        return None
    if offset_minutes is not None:
        value = value.astimezone(timezone(timedelta(minutes=offset_minutes)))
    return value.isoformat()


def _event_view(row: dict[str, Any], user_name: str) -> dict[str, Any]:
    spec = lifecycle.ACTIONS[row["action"]]
    return {
        "id": row["id"], "component_id": row["component_id"], "action": row["action"],
        "from_state": row["from_state"], "to_state": row["to_state"],
        "user": user_name, "organization_id": row["organization_id"],
        "device": row["device"], "client_event_id": row["client_event_id"],
        "client_time": _iso(row["client_time"], row["client_utc_offset_minutes"]),
        "server_time": _iso(row["server_time"]), "location": row["location"],
        "data": row["data"], "corrects_event_id": row["corrects_event_id"],
        "biz_step": spec.biz_step, "disposition": spec.disposition,
    }


def event_view(event: Event, user_name: str) -> dict[str, Any]:
    """Return the API view of a stored event."""
    return _event_view({c.key: getattr(event, c.key) for c in Event.__table__.columns},
                       user_name)
