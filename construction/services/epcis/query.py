"""EPCIS 2.0 query: the ledger read as ObjectEvents, page by page.

Every stored event is one ObjectEvent about one component:

- `action` is ADD for `cast` (commissioning: the component's EPC comes into being),
  DELETE for `scrap` (destroying: the EPC should appear in no later event) and
  OBSERVE for everything else (the component is seen, its EPC does not change);
- `eventID` is a name-based UUID (`urn:uuid:`, version 5) of the event's immutable
  identity (id, server time, user, client event id): stable for as long as the
  ledger lives, unlike a content hash, which would change with the component's
  EPC or the public address;
- `epcList` holds the component's label URL without its signature: the GS1 Digital
  Link when the component has GS1 numbers, else `{PUBLIC_BASE_URL}/c/{code}`;
- `bizStep` and `disposition` come from `lifecycle.ACTIONS`; `readPoint` is a `geo:` URI
  when the scan carried coordinates; `bizLocation` names the project;
- our own facts (action, states, user, organization...) are a user extension in the
  `pt:` namespace, declared in the document's `@context`; a component imported from a
  building model carries its IFC GlobalId as `pt:ifcGlobalId` on every event, and in the
  `ilmd` of its commissioning (ADD) event;
- an event voided by a later `correct` carries an `errorDeclaration` whose
  `correctiveEventIDs` name that correction, which is exported as its own event
  (`void_shipping` / `unknown`, with `pt:correctsEventID`).

A load scan that loads or unloads a truck is also an AggregationEvent under the
load's SSCC, placed after the first event it wrote with its own action.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select

from construction import lifecycle
from construction.errors import ApiProblem
from construction.extensions import db
from construction.models import Component, Event, Load, LoadScan, Organization, Project, User
from construction.permissions import Principal, in_scope, project_in_scope
from construction.services import audit, loads
from construction.services.epcis.vocabulary import (
    EPCIS_CONTEXT,
    NAMESPACE,
    PREFIX,
    PROJECT_URN,
    component_epc,
    components_named,
    epc_key,
    epcis_action,
    event_id,
    geo_uri,
    load_scan_event_id,
)


@dataclass
class EventQuery:
    """A SimpleEventQuery as the REST binding's query parameters give it."""

    event_types: list[str] | None = None
    biz_steps: list[str] | None = None
    dispositions: list[str] | None = None
    actions: list[str] | None = None
    ge_event_time: datetime | None = None
    lt_event_time: datetime | None = None
    ge_record_time: datetime | None = None
    lt_record_time: datetime | None = None
    epcs: list[str] | None = None
    project_id: int | None = None
    per_page: int = 30
    after_id: int | None = None


def encode_page_token(after_id: int) -> str:
    """Return the opaque nextPageToken that continues after an event id."""
    return base64.urlsafe_b64encode(f"after:{after_id}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    """Return the event id a nextPageToken continues after, or raise ValueError."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise ValueError("not a token this server issued") from error
    kind, _, number = text.partition(":")
    if kind != "after" or not number.isdigit() or len(number) > 19:
        raise ValueError("not a token this server issued")
    return int(number)


def _matching_actions(query: EventQuery) -> set[str]:
    names = set(lifecycle.ACTIONS)
    if query.event_types is not None and "ObjectEvent" not in query.event_types:
        return set()
    if query.biz_steps is not None:
        names &= {n for n, spec in lifecycle.ACTIONS.items() if spec.biz_step in query.biz_steps}
    if query.dispositions is not None:
        names &= {n for n, spec in lifecycle.ACTIONS.items()
                  if spec.disposition in query.dispositions}
    if query.actions is not None:
        names &= {n for n in lifecycle.ACTIONS if epcis_action(n) in query.actions}
    return names


def query_events(principal: Principal, query: EventQuery,
                 base_url: str) -> tuple[dict[str, Any], int | None]:
    """Return an EPCISQueryDocument of the events matching `query`, and the id to continue after."""
    if query.project_id is not None and not project_in_scope(principal, query.project_id):
        raise ApiProblem("not-found", f"no project {query.project_id}")
    audit.record_export("export.epcis", principal, query)
    events: list[dict[str, Any]] = []
    last_id = None
    object_actions = _matching_actions(query)
    aggregation_actions = _matching_aggregations(query)
    actions = object_actions | aggregation_actions
    epc_condition = components_named(epc_key(epc) for epc in query.epcs) \
        if query.epcs is not None else None
    if actions and (query.epcs is None or epc_condition is not None):
        statement = (
            select(Event, Component.code, Component.gtin, Component.serial,
                   Component.project_id, Component.ifc_global_id,
                   Project.code.label("project_code"),
                   User.name.label("user_name"), Organization.name.label("organization_name"))
            .join(Component, Event.component_id == Component.id)
            .join(Project, Component.project_id == Project.id)
            .join(User, Event.user_id == User.id)
            .join(Organization, Event.organization_id == Organization.id)
            .order_by(Event.id)
            .limit(query.per_page + 1)
        )
        if actions != set(lifecycle.ACTIONS):
            statement = statement.where(Event.action.in_(sorted(actions)))
        statement = in_scope(statement, principal, Component.project_id)
        if query.project_id is not None:
            statement = statement.where(Component.project_id == query.project_id)
        if epc_condition is not None:
            statement = statement.where(epc_condition)
        event_time = func.coalesce(Event.client_time, Event.server_time)
        for column, bound, lower in ((event_time, query.ge_event_time, True),
                                     (event_time, query.lt_event_time, False),
                                     (Event.server_time, query.ge_record_time, True),
                                     (Event.server_time, query.lt_record_time, False)):
            if bound is not None:
                statement = statement.where(column >= bound if lower else column < bound)
        if query.after_id is not None:
            statement = statement.where(Event.id > query.after_id)
        rows = db.session.execute(statement).all()
        if len(rows) > query.per_page:
            rows = rows[:query.per_page]
            last_id = rows[-1].Event.id
        events = _export(rows, base_url, object_actions, aggregation_actions)
    document = {
        "@context": [EPCIS_CONTEXT, {PREFIX: NAMESPACE}],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": datetime.now(UTC).isoformat(),
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery",
                                       "resultsBody": {"eventList": events}}},
    }
    return document, last_id


def _export(rows, base_url: str, object_actions: set[str] | None = None,
            aggregation_actions: set[str] | None = None) -> list[dict[str, Any]]:
    ids = [row.Event.id for row in rows]
    corrected_ids = [row.Event.corrects_event_id for row in rows
                     if row.Event.corrects_event_id is not None]
    # A correction may lie outside this page or filter; its target too.
    corrections = {e.corrects_event_id: e for e in db.session.scalars(
        select(Event).where(Event.corrects_event_id.in_(ids)))} if ids else {}
    targets = {e.id: e for e in db.session.scalars(
        select(Event).where(Event.id.in_(corrected_ids)))} if corrected_ids else {}
    aggregations = _aggregations_anchored(rows, base_url, aggregation_actions or set())
    exported = []
    for row in rows:
        event: Event = row.Event
        if object_actions is not None and event.action not in object_actions:
            exported.extend(aggregations.get(event.id, []))
            continue
        spec = lifecycle.ACTIONS[event.action]
        body = _timed("ObjectEvent", event)
        body.update({
            "eventID": _event_id_of(event),
            "epcList": [component_epc(base_url, row.code, row.gtin, row.serial)],
            "action": epcis_action(event.action),
            "bizStep": spec.biz_step,
            "disposition": spec.disposition,
        })
        if row.ifc_global_id and body["action"] == "ADD":
            # Instance master data: the building model's element this piece is.
            body["ilmd"] = {f"{PREFIX}:ifcGlobalId": row.ifc_global_id}
        _locate(body, event.location, row.project_id)
        correction = corrections.get(event.id)
        if correction is not None:
            declared, _ = _event_time(correction.client_time,
                                      correction.client_utc_offset_minutes,
                                      correction.server_time)
            body["errorDeclaration"] = {"declarationTime": declared, "reason": "incorrect_data",
                                        "correctiveEventIDs": [_event_id_of(correction)]}
        body.update({
            f"{PREFIX}:eventNumber": event.id,
            f"{PREFIX}:action": event.action,
            f"{PREFIX}:stateBefore": event.from_state,
            f"{PREFIX}:stateAfter": event.to_state,
            f"{PREFIX}:user": row.user_name,
            f"{PREFIX}:organization": row.organization_name,
            f"{PREFIX}:project": row.project_code,
            f"{PREFIX}:componentCode": row.code,
        })
        if row.ifc_global_id:
            body[f"{PREFIX}:ifcGlobalId"] = row.ifc_global_id
        if event.device:
            body[f"{PREFIX}:device"] = event.device
        record = (event.data or {}).get("record")
        if isinstance(record, str) and record:
            body[f"{PREFIX}:record"] = record
        target = targets.get(event.corrects_event_id)
        if target is not None:
            body[f"{PREFIX}:correctsEventID"] = _event_id_of(target)
        exported.append(body)
        exported.extend(aggregations.get(event.id, []))
    return exported


# --- loads: loading and unloading as aggregation ---------------------------------------

# A load scan that loads a truck aggregates its components under the load's SSCC;
# accepting the delivery, or rejecting the whole load, takes them out again (the load is
# finished: its pieces may go on another truck).
AGGREGATING_ACTIONS = {"load": "ADD", "accept_delivery": "DELETE", "reject_delivery": "DELETE"}


def _matching_aggregations(query: EventQuery) -> set[str]:
    if query.event_types is not None and "AggregationEvent" not in query.event_types:
        return set()
    names = set(AGGREGATING_ACTIONS)
    if query.biz_steps is not None:
        names = {n for n in names if lifecycle.ACTIONS[n].biz_step in query.biz_steps}
    if query.dispositions is not None:
        names = {n for n in names if lifecycle.ACTIONS[n].disposition in query.dispositions}
    if query.actions is not None:
        names = {n for n in names if AGGREGATING_ACTIONS[n] in query.actions}
    return names


def _aggregations_anchored(rows, base_url: str,
                           actions: set[str]) -> dict[int, list[dict[str, Any]]]:
    """Return the AggregationEvents of load scans, keyed by the id of their first event."""
    load_ids = {row.Event.data.get("load_id") for row in rows
                if row.Event.action in actions and isinstance(row.Event.data, dict)}
    load_ids.discard(None)
    if not load_ids:
        return {}
    by_anchor = {(row.Event.user_id, row.Event.client_event_id): row for row in rows}
    anchored: dict[int, list[dict[str, Any]]] = {}
    scans = [(row.LoadScan, row.Load) for row in db.session.execute(
        select(LoadScan, Load).join(Load, LoadScan.load_id == Load.id)
        .where(LoadScan.load_id.in_(load_ids), LoadScan.action.in_(actions)))]
    children = {row.id: row for row in db.session.execute(
        select(Component.id, Component.code, Component.gtin, Component.serial)
        .where(Component.id.in_({c for scan, _ in scans for c in scan.component_ids})))}
    for scan, load in scans:
        anchor = by_anchor.get((scan.user_id, loads.component_event_id(
            scan.client_event_id, _anchor_component(scan))))
        if anchor is None:
            continue  # its first event is on another page, or filtered out
        anchored.setdefault(anchor.Event.id, []).append(
            _aggregation(scan, load, anchor, children, base_url))
    return anchored


def _anchor_component(scan: LoadScan) -> int:
    """The first component whose event is the scan's own action: not one of the exceptions
    (a piece reported damaged on arrival), whose event a filter on the action leaves out."""
    excepted = {e["component_id"] for e in scan.exceptions or ()}
    return next((c for c in scan.component_ids if c not in excepted), scan.component_ids[0])


def _aggregation(scan: LoadScan, load: Load, anchor, children, base_url: str) -> dict[str, Any]:
    spec = lifecycle.ACTIONS[scan.action]
    body = _timed("AggregationEvent", scan)
    body.update({
        "eventID": load_scan_event_id(scan.id),
        "parentID": loads.epc_of(load),
        "childEPCs": [component_epc(base_url, children[c].code, children[c].gtin,
                                    children[c].serial)
                      for c in scan.component_ids if c in children],
        "action": AGGREGATING_ACTIONS[scan.action],
        "bizStep": spec.biz_step,
        "disposition": spec.disposition,
    })
    _locate(body, scan.location, load.project_id)
    body.update({f"{PREFIX}:action": scan.action, f"{PREFIX}:load": load.code,
                 f"{PREFIX}:user": anchor.user_name,
                 f"{PREFIX}:organization": anchor.organization_name,
                 f"{PREFIX}:project": anchor.project_code})
    if load.sscc:
        body[f"{PREFIX}:sscc"] = load.sscc
    return body


# --- what every exported event carries ---------------------------------------------


def _timed(kind: str, recorded) -> dict[str, Any]:
    """Start an exported event: its type and times (an event or a load scan)."""
    event_time, offset = _event_time(recorded.client_time, recorded.client_utc_offset_minutes,
                                     recorded.server_time)
    return {"type": kind, "eventTime": event_time, "eventTimeZoneOffset": offset,
            "recordTime": recorded.server_time.astimezone(UTC).isoformat()}


def _locate(body: dict[str, Any], location: Any, project_id: int) -> None:
    geo = geo_uri(location)
    if geo is not None:
        body["readPoint"] = {"id": geo}
    body["bizLocation"] = {"id": f"{PROJECT_URN}{project_id}"}


def _event_id_of(event: Event) -> str:
    return event_id(event.id, event.server_time, event.user_id, event.client_event_id)


def _offset_text(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def _event_time(client_time: datetime | None, offset_minutes: int | None,
                server_time: datetime) -> tuple[str, str]:
    if client_time is not None and offset_minutes is not None \
            and abs(offset_minutes) <= 14 * 60:
        zone = timezone(timedelta(minutes=offset_minutes))
        return client_time.astimezone(zone).isoformat(), _offset_text(offset_minutes)
    return (client_time or server_time).astimezone(UTC).isoformat(), "+00:00"
