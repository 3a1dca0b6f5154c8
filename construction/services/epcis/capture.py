"""EPCIS 2.0 capture: the ObjectEvents of a document recorded as scans.

A document is checked in full first (`validation.document_events`). Each
ObjectEvent about our components then becomes one scan per EPC, recorded through
`record_scans`, so every lifecycle rule, role check and idempotency applies.
Everything else is refused per event, with its reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from construction import lifecycle
from construction.errors import ApiProblem
from construction.extensions import db
from construction.identity import ComponentKey
from construction.ledger_format import utf8
from construction.lifecycle import Status, TransitionError
from construction.models import Component, Event
from construction.permissions import Principal, in_scope, require
from construction.services.epcis.validation import document_events
from construction.services.epcis.vocabulary import (
    NAMESPACE,
    components_named,
    epc_key,
    geo_location,
    parse_offset,
    parse_time,
    short_vocabulary,
)
from construction.services.scans import ScanItem, ScanResult, record_scans

_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass
class EpcOutcome:
    """What became of one EPC of a captured event."""

    epc: str
    outcome: str  # accepted | duplicate | rejected
    result: ScanResult


@dataclass
class EventOutcome:
    """What became of one captured event: per EPC, or refused as a whole."""

    index: int
    event_id: str | None
    action: str | None = None
    problem: ApiProblem | None = None
    epcs: list[EpcOutcome] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.problem is not None:
            return "rejected"
        kinds = {e.outcome for e in self.epcs}
        if kinds == {"duplicate"}:
            return "duplicate"
        if "rejected" in kinds:
            return "rejected" if kinds == {"rejected"} else "partial"
        return "accepted"


@dataclass
class _Planned:
    outcome: EventOutcome
    time: datetime
    candidates: list[str]
    items: list[tuple[str, int, ScanItem]]  # (epc, component id, scan)


def _extension_names(contexts: list[Any]) -> set[str]:
    prefixes = set()
    for item in contexts:
        if isinstance(item, dict):
            prefixes |= {name for name, value in item.items() if value == NAMESPACE}
    return prefixes


def _extension(event: dict, name: str, prefixes: set[str]) -> Any:
    if NAMESPACE + name in event:
        return event[NAMESPACE + name]
    for prefix in prefixes:
        if f"{prefix}:{name}" in event:
            return event[f"{prefix}:{name}"]
    return None


def _candidates(biz_step: str | None, disposition: str | None) -> list[str]:
    if biz_step is None:
        return []
    return [name for name, spec in lifecycle.ACTIONS.items()
            if spec.biz_step == biz_step and (disposition is None
                                              or spec.disposition == disposition)]


def _event_key(event: dict) -> str:
    """Name an event for idempotency: its eventID, else a hash of its content."""
    if isinstance(event.get("eventID"), str):
        return "id:" + event["eventID"]
    content = {name: value for name, value in event.items() if name != "recordTime"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(utf8(canonical)).hexdigest()


def _client_event_id(event_key: str, component_id: int) -> str:
    digest = hashlib.sha256(f"{event_key}\n{component_id}".encode()).hexdigest()
    return "epcis:" + digest[:58]  # the column holds 64 characters


def capture_document(principal: Principal, document: Any, base_limit: int) -> list[EventOutcome]:
    """Record the ObjectEvents of an EPCIS document as scans; return one outcome per event."""
    require(principal, "scan.record")
    events, contexts = document_events(document, base_limit)
    prefixes = _extension_names(contexts)
    for event in events:
        if isinstance(event.get("@context"), list | dict):
            inner = event["@context"]
            prefixes |= _extension_names(inner if isinstance(inner, list) else [inner])
    epcs_by_event = [event.get("epcList") or [] for event in events]
    components = _components(principal, {epc for epcs in epcs_by_event for epc in epcs})
    planned: list[_Planned] = []
    outcomes = []
    for index, event in enumerate(events):
        outcome = EventOutcome(index, event.get("eventID"))
        outcomes.append(outcome)
        plan = _plan(principal, outcome, event, prefixes, components)
        if plan is not None:
            planned.append(plan)
    count = sum(len(p.items) for p in planned)
    if count > base_limit:
        raise ApiProblem("payload-too-large", f"at most {base_limit} component scans per "
                         f"document; this one names {count}", limit=base_limit)
    # The standard gives a document's order no meaning, the lifecycle needs one:
    # events are recorded by event time (the document's order breaks ties).
    planned.sort(key=lambda p: (p.time, p.outcome.index))
    _choose_actions(principal, planned, components)
    scans = [(plan, epc, item) for plan in planned for epc, _, item in plan.items]
    results = record_scans(principal, [item for _, _, item in scans]) if scans else []
    for (plan, epc, _), result in zip(scans, results, strict=True):
        plan.outcome.action = plan.candidates[0]
        plan.outcome.epcs.append(EpcOutcome(epc, result.outcome, result))
    return outcomes


@dataclass
class _Known:
    id: int
    code: str
    status: Status


def _components(principal: Principal, epcs: set[Any]) -> dict[str, _Known]:
    keys = {epc: epc_key(epc) for epc in epcs if isinstance(epc, str)}
    named = components_named(keys.values())
    if named is None:
        return {}
    statement = select(Component.id, Component.code, Component.gtin, Component.serial,
                       Component.state, Component.on_hold, Component.damaged,
                       Component.ncr_open).where(named)
    # Writes need the organization to take part in the project, as for scans;
    # components elsewhere are answered as unknown.
    statement = in_scope(statement, principal, Component.project_id, write=True)
    by_key = {}
    for row in db.session.execute(statement):
        known = _Known(row.id, row.code, Status(row.state, row.on_hold, row.damaged,
                                                row.ncr_open))
        by_key[ComponentKey("code", code=row.code)] = known
        if row.gtin is not None:
            by_key[ComponentKey("gs1", gtin=row.gtin, serial=row.serial)] = known
    return {epc: by_key[key] for epc, key in keys.items() if key in by_key}


def _refuse(outcome: EventOutcome, type_: str, detail: str, **extra: Any) -> None:
    outcome.problem = ApiProblem(type_, detail, **extra)


def _plan(principal: Principal, outcome: EventOutcome, event: dict, prefixes: set[str],
          components: dict[str, _Known]) -> _Planned | None:
    kind = event["type"]
    if kind != "ObjectEvent":
        _refuse(outcome, "unsupported-event",
                f"only ObjectEvents about components are captured, not {kind}")
        return None
    if "errorDeclaration" in event:
        _refuse(outcome, "unsupported-event",
                "errorDeclaration is not captured: a project manager records a 'correct' "
                "scan naming the wrong event (POST /api/v1/scans)")
        return None
    epcs = event.get("epcList") or []
    if not epcs:
        _refuse(outcome, "unsupported-event",
                "the event names no instance (epcList): class-level quantities and sensor "
                "readings name no component")
        return None
    biz_step = short_vocabulary("bizStep", event["bizStep"]) if "bizStep" in event else None
    disposition = short_vocabulary("disposition", event["disposition"]) \
        if "disposition" in event else None
    candidates = _candidates(biz_step, disposition)
    named = _extension(event, "action", prefixes)
    if isinstance(named, str) and named in candidates:
        candidates = [named]
    if not candidates:
        _refuse(outcome, "unmapped-biz-step", _unmapped(biz_step, disposition),
                biz_step=biz_step, disposition=disposition)
        return None
    if len(candidates) > 1 and disposition is None:
        options = ", ".join(sorted({lifecycle.ACTIONS[c].disposition for c in candidates}))
        _refuse(outcome, "unmapped-biz-step",
                f"bizStep '{biz_step}' needs a disposition to tell the action ({options})",
                biz_step=biz_step, disposition=None)
        return None
    if "correct" in candidates:
        _refuse(outcome, "unmapped-biz-step",
                "void_shipping (a correction) names the event it voids, which EPCIS cannot "
                "say here: a project manager records a 'correct' scan instead",
                biz_step=biz_step, disposition=disposition)
        return None
    if event["action"] == "DELETE" and candidates != ["scrap"]:
        _refuse(outcome, "unmapped-biz-step",
                "action DELETE ends a component's existence: only bizStep destroying "
                "(scrap) may carry it", biz_step=biz_step, disposition=disposition)
        return None
    minutes = parse_offset(event["eventTimeZoneOffset"])
    moment = parse_time(event["eventTime"]).astimezone(timezone(timedelta(minutes=minutes)))
    if not _EARLIEST <= moment < _LATEST:
        _refuse(outcome, "validation-error", "eventTime must lie between 2000 and 2100",
                errors={"eventTime": ["Out of range."]})
        return None
    data, location, device = _scan_details(event, prefixes)
    key = _event_key(event)
    plan = _Planned(outcome, moment, candidates, [])
    for epc in epcs:
        known = components.get(epc)
        if known is None:
            outcome.epcs.append(EpcOutcome(epc, "rejected", ScanResult("rejected", problem=(
                ApiProblem("unknown-epc", f"no component you may act on has the EPC '{epc}'",
                           epc=epc)))))
            continue
        plan.items.append((epc, known.id, ScanItem(
            code=known.code, action=candidates[0],
            client_event_id=_client_event_id(key, known.id), client_time=moment,
            location=location, data=data, device=device)))
    return plan if plan.items else None


def _unmapped(biz_step: str | None, disposition: str | None) -> str:
    if biz_step is None:
        return "the event has no bizStep, so it names no lifecycle action"
    known = sorted({f"{spec.biz_step}/{spec.disposition}" for spec in lifecycle.ACTIONS.values()
                    if spec.name != "correct"})
    if not _candidates(biz_step, None):
        return f"bizStep '{biz_step}' maps to no lifecycle action (known: {', '.join(known)})"
    return (f"bizStep '{biz_step}' with disposition '{disposition}' maps to no lifecycle "
            f"action (known: {', '.join(known)})")


def _scan_details(event: dict, prefixes: set[str]) -> tuple[dict | None, dict | None, str | None]:
    data: dict[str, Any] = {}
    record = _extension(event, "record", prefixes)
    if isinstance(record, str) and 0 < len(record) <= 200:
        data["record"] = record
    if isinstance(event.get("eventID"), str):
        data["epcis_event_id"] = event["eventID"][:300]
    for name, key in (("readPoint", "read_point"), ("bizLocation", "biz_location")):
        if name in event and len(event[name]["id"]) <= 300:
            data[key] = event[name]["id"]
    location = geo_location(event["readPoint"]["id"]) if "readPoint" in event else None
    device = _extension(event, "device", prefixes)
    device = device if isinstance(device, str) and 0 < len(device) <= 100 else None
    return data or None, location, device


def _choose_actions(principal: Principal, planned: list[_Planned],
                    components: dict[str, _Known]) -> None:
    """Pick the action of an ambiguous bizStep by what the lifecycle allows at that point.

    Only `assembling` / `in_progress` is ambiguous (demould and connect), and
    the two start from different states, so the component's state decides; an
    event already recorded keeps its action, so that a re-sent document is
    answered as a replay. The scans are checked again, under lock, when they
    are recorded.
    """
    ambiguous = [item.client_event_id for plan in planned if len(plan.candidates) > 1
                 for _, _, item in plan.items]
    recorded = dict(db.session.execute(
        select(Event.client_event_id, Event.action)
        .where(Event.user_id == principal.user_id, Event.client_event_id.in_(ambiguous))
    ).all()) if ambiguous else {}
    status = {known.id: known.status for known in components.values()}
    for plan in planned:
        for _, component_id, item in plan.items:
            before = status[component_id]
            choice = recorded.get(item.client_event_id) or next(
                (c for c in plan.candidates if before.state in lifecycle.ACTIONS[c].from_states),
                plan.candidates[0])
            item.action = choice
            try:
                status[component_id] = lifecycle.apply(before, choice, item.data)
            except TransitionError:
                pass
        plan.candidates = [plan.items[0][2].action] if plan.items else plan.candidates


def capture_counts(outcomes: list[EventOutcome]) -> dict[str, int]:
    """Count the outcomes of a capture by kind."""
    counts = {"accepted": 0, "duplicate": 0, "partial": 0, "rejected": 0}
    for outcome in outcomes:
        counts[outcome.outcome] += 1
    return counts

