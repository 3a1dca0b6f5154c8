"""GS1 EPCIS 2.0: the ledger read as ObjectEvents, and ObjectEvents captured as scans.

Export. Every stored event is one ObjectEvent about one component:

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

Capture. An EPCISDocument is checked in full first (the shape the GS1 JSON Schema
asks for, written out here because the schema files are not shipped); a document
that is not EPCIS or is malformed is refused whole. Each ObjectEvent about our
components then becomes one scan per EPC, recorded through `record_scans`, so every
lifecycle rule, role check and idempotency applies. Everything else is refused per
event, with its reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, or_, select, tuple_

from construction import lifecycle
from construction.errors import ApiProblem
from construction.extensions import db
from construction.identity import ComponentKey, parse_scanned
from construction.ledger_format import utf8
from construction.lifecycle import Status, TransitionError
from construction.models import (
    Component,
    Event,
    Load,
    LoadScan,
    Organization,
    Project,
    User,
)
from construction.permissions import Principal, in_scope, project_in_scope, require
from construction.services import audit, loads
from construction.services.scans import ScanItem, ScanResult, record_scans
from labels.codes import CodeError
from labels.gs1 import check_digit
from labels.payload import LabelIdentity

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
# Our user extension. A URN, not an address under PUBLIC_BASE_URL: a namespace
# must not change when the server moves.
NAMESPACE = "urn:prefabtrace:epcis:"
PREFIX = "pt"
PROJECT_URN = "urn:prefabtrace:project:"
# Fixed forever: every eventID ever published is derived from it.
_EVENT_ID_NAMESPACE = uuid.UUID("5b0c8f52-4d6e-4f0e-9a51-0c7e2d6b9a13")

BIZ_STEPS = frozenset((
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
    "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
    "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
    "installing", "killing", "loading", "other", "packing", "picking", "receiving",
    "removing", "repackaging", "repairing", "replacing", "reserving", "retail_selling",
    "shipping", "staging_outbound", "stock_taking", "stocking", "storing", "transporting",
    "unloading", "unpacking", "void_shipping", "sensor_reporting", "sampling",
))
DISPOSITIONS = frozenset((
    "active", "container_closed", "damaged", "destroyed", "dispensed", "disposed", "encoded",
    "expired", "in_progress", "in_transit", "inactive", "no_pedigree_match",
    "non_sellable_other", "partially_dispensed", "recalled", "reserved", "retail_sold",
    "returned", "sellable_accessible", "sellable_not_accessible", "stolen", "unknown",
    "available", "completeness_verified", "completeness_inferred", "conformant",
    "container_open", "mismatch_instance", "mismatch_class", "mismatch_quantity",
    "needs_replacement", "non_conformant", "unavailable",
))
ERROR_REASONS = frozenset(("did_not_occur", "incorrect_data"))
BIZ_TRANSACTION_TYPES = frozenset((
    "bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv", "rma",
    "testprd", "testres", "upevt",
))
SOURCE_DESTINATION_TYPES = frozenset(("owning_party", "possessing_party", "location"))
EVENT_TYPES = frozenset(("ObjectEvent", "AggregationEvent", "TransactionEvent",
                         "TransformationEvent", "AssociationEvent"))
EPCIS_ACTIONS = ("ADD", "OBSERVE", "DELETE")

# Full CBV URIs (and the CURIE the EPCIS context defines) name the same values
# as the bare words the JSON binding prefers.
_CBV_FORMS = {
    "bizStep": (re.compile(r"urn:epcglobal:cbv:bizstep:([a-z_]+)"),
                re.compile(r"https?://(?:ref|ns)\.gs1\.org/cbv/BizStep-([a-z_]+)"),
                re.compile(r"cbv:BizStep-([a-z_]+)")),
    "disposition": (re.compile(r"urn:epcglobal:cbv:disp:([a-z_]+)"),
                    re.compile(r"https?://(?:ref|ns)\.gs1\.org/cbv/Disp-([a-z_]+)"),
                    re.compile(r"cbv:Disp-([a-z_]+)")),
}
_VOCABULARY = {"bizStep": BIZ_STEPS, "disposition": DISPOSITIONS}

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]*")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_OFFSET = re.compile(r"([+-])((0[0-9]|1[0-3]):([0-5][0-9])|14:00)")
_VERSION = re.compile(r"\d+(\.\d+)*")
_SGTIN = re.compile(r"urn:epc:id:sgtin:([0-9]{6,12})\.([0-9]{1,7})\.([!-~]{1,60})")
_GEO = re.compile(r"geo:(-?[0-9]+(?:\.[0-9]+)?),(-?[0-9]+(?:\.[0-9]+)?)(?:,[^;]*)?(?:;.*)?")
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


# --- vocabulary and times ------------------------------------------------------


def is_uri(value: Any) -> bool:
    """Tell whether `value` is an absolute URI (scheme, colon, no spaces)."""
    return isinstance(value, str) and len(value) <= 2048 and _URI.fullmatch(value) is not None


def parse_time(value: Any) -> datetime | None:
    """Return an RFC 3339 date-time with its offset, or None when it is not one."""
    if not isinstance(value, str) or _TIME.fullmatch(value) is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def short_vocabulary(kind: str, value: str) -> str | None:
    """Return a CBV value as its bare word, a custom URI as is, or None when it is neither."""
    if value in _VOCABULARY[kind]:
        return value
    for form in _CBV_FORMS[kind]:
        match = form.fullmatch(value)
        if match:
            return match.group(1)
    return value if is_uri(value) else None


def epcis_action(action: str) -> str:
    """Return the EPCIS action of a lifecycle action."""
    if action == "cast":
        return "ADD"
    if action == "scrap":
        return "DELETE"
    return "OBSERVE"


def component_epc(base_url: str, code: str, gtin: str | None, serial: str | None) -> str:
    """Return a component's EPC: its label URL without the signature."""
    identity = LabelIdentity(gtin=gtin, serial=serial) if gtin and serial \
        else LabelIdentity(code=code)
    return base_url.rstrip("/") + identity.path()


def epc_key(epc: str) -> ComponentKey | None:
    """Return the component key an EPC names (label URL or SGTIN URN), or None."""
    match = _SGTIN.fullmatch(epc)
    if match:
        prefix, item, serial = match.groups()
        if len(prefix) + len(item) != 13:
            return None
        body = item[0] + prefix + item[1:]
        return ComponentKey("gs1", gtin=body + check_digit(body),
                            serial=_unescape_urn(serial))
    if not epc.lower().startswith(("http://", "https://")):
        return None  # a bare code or id is not an EPC
    try:
        return parse_scanned(epc)
    except CodeError:
        return None


def _unescape_urn(text: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def event_id(id_: int, server_time: datetime, user_id: int, client_event_id: str) -> str:
    """Return the stable EPCIS eventID of a stored event."""
    name = f"{id_}|{server_time.astimezone(UTC).isoformat()}|{user_id}|{client_event_id}"
    return f"urn:uuid:{uuid.uuid5(_EVENT_ID_NAMESPACE, name)}"


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


def _geo_uri(location: Any) -> str | None:
    if not isinstance(location, dict):
        return None
    latitude, longitude = location.get("latitude"), location.get("longitude")
    for value in (latitude, longitude):
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return f"geo:{round(latitude, 7)},{round(longitude, 7)}"


# --- query ---------------------------------------------------------------------


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


def _epc_condition(epcs: list[str]):
    codes, pairs = set(), set()
    for epc in epcs:
        key = epc_key(epc)
        if key is None:
            continue  # not one of our EPCs: it matches nothing
        if key.kind == "gs1":
            pairs.add((key.gtin, key.serial))
        elif key.kind == "code":
            codes.add(key.code)
    conditions = []
    if codes:
        conditions.append(Component.code.in_(codes))
    if pairs:
        conditions.append(tuple_(Component.gtin, Component.serial).in_(pairs))
    return or_(*conditions) if conditions else None


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
    epc_condition = _epc_condition(query.epcs) if query.epcs is not None else None
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
# accepting the delivery takes them out again.
AGGREGATING_ACTIONS = {"load": "ADD", "accept_delivery": "DELETE"}


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
            scan.client_event_id, scan.component_ids[0])))
        if anchor is None:
            continue  # its first event is on another page, or filtered out
        anchored.setdefault(anchor.Event.id, []).append(
            _aggregation(scan, load, anchor, children, base_url))
    return anchored


def _aggregation(scan: LoadScan, load: Load, anchor, children, base_url: str) -> dict[str, Any]:
    spec = lifecycle.ACTIONS[scan.action]
    body = _timed("AggregationEvent", scan)
    body.update({
        "eventID": f"urn:uuid:{uuid.uuid5(_EVENT_ID_NAMESPACE, f'load-scan|{scan.id}')}",
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


def _timed(kind: str, recorded) -> dict[str, Any]:
    """Start an exported event: its type and times (an event or a load scan)."""
    event_time, offset = _event_time(recorded.client_time, recorded.client_utc_offset_minutes,
                                     recorded.server_time)
    return {"type": kind, "eventTime": event_time, "eventTimeZoneOffset": offset,
            "recordTime": recorded.server_time.astimezone(UTC).isoformat()}


def _locate(body: dict[str, Any], location: Any, project_id: int) -> None:
    geo = _geo_uri(location)
    if geo is not None:
        body["readPoint"] = {"id": geo}
    body["bizLocation"] = {"id": f"{PROJECT_URN}{project_id}"}


def _event_id_of(event: Event) -> str:
    return event_id(event.id, event.server_time, event.user_id, event.client_event_id)


# --- capture: checking the document ----------------------------------------------


class _Errors:
    """Errors found in a document, by JSON path."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.by_path.setdefault(path or "$", []).append(message)

    def problem(self, detail: str) -> ApiProblem:
        shown = dict(list(self.by_path.items())[:100])
        return ApiProblem("invalid-epcis-document", detail, errors=shown)


_DOCUMENT_FIELDS = frozenset(("@context", "id", "type", "schemaVersion", "creationDate",
                              "instanceIdentifier", "sender", "receiver", "epcisHeader",
                              "epcisBody"))
_COMMON_FIELDS = frozenset(("@context", "type", "eventTime", "recordTime",
                            "eventTimeZoneOffset", "eventID", "certificationInfo",
                            "errorDeclaration"))
_OBJECT_FIELDS = _COMMON_FIELDS | {
    "action", "epcList", "quantityList", "bizStep", "disposition", "persistentDisposition",
    "readPoint", "bizLocation", "bizTransactionList", "sourceList", "destinationList",
    "sensorElementList", "ilmd"}
_SENSOR_REPORT_FIELDS = frozenset((
    "type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod",
    "bizRules", "time", "microorganism", "chemicalSubstance", "coordinateReferenceSystem",
    "value", "component", "stringValue", "booleanValue", "hexBinaryValue", "uriValue",
    "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue", "uom"))
_SENSOR_NUMBERS = ("value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue")
_SENSOR_URIS = ("deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "bizRules",
                "microorganism", "chemicalSubstance", "coordinateReferenceSystem", "uriValue")
_SENSOR_METADATA_FIELDS = frozenset(("time", "deviceID", "deviceMetadata", "rawData",
                                     "startTime", "endTime", "dataProcessingMethod",
                                     "bizRules"))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


def _check_names(errors: _Errors, path: str, value: dict, allowed: frozenset[str]) -> None:
    for name in value:
        if name not in allowed and not is_uri(name):
            errors.add(f"{path}.{name}", "Unknown field: extensions are named by a URI or a "
                                         "CURIE whose prefix the @context declares.")


def _check_context(errors: _Errors, path: str, context: Any) -> None:
    items = context if isinstance(context, list) else [context]
    if isinstance(context, list) and len({json.dumps(i, sort_keys=True) for i in items}) \
            != len(items):
        errors.add(path, "Items must be unique.")
    for item in items:
        if not (is_uri(item) or isinstance(item, dict)):
            errors.add(path, "Each @context item is a URI or an object.")


def _check_vocabulary(errors: _Errors, path: str, value: Any, words: frozenset[str]) -> None:
    if not isinstance(value, str) or not (value in words or is_uri(value)):
        errors.add(path, f"Not a CBV value or a URI: {str(value)[:80]!r}.")


def _check_uri(errors: _Errors, path: str, value: Any) -> None:
    if not is_uri(value):
        errors.add(path, "Not a URI.")


def _check_time(errors: _Errors, path: str, value: Any) -> None:
    if parse_time(value) is None:
        errors.add(path, "Not an RFC 3339 date-time with a time zone.")


def _each_object(errors: _Errors, path: str, value: Any):
    """Yield (path, item) for each object in a list, noting whatever is not one."""
    if not isinstance(value, list):
        errors.add(path, "Not a list.")
        return
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            errors.add(where, "Not an object.")
            continue
        yield where, item


def _check_uri_list(errors: _Errors, path: str, value: Any, unique: bool = False) -> None:
    if not isinstance(value, list):
        errors.add(path, "Not a list.")
        return
    for index, item in enumerate(value):
        _check_uri(errors, f"{path}[{index}]", item)
    if unique and all(isinstance(v, str) for v in value) and len(set(value)) != len(value):
        errors.add(path, "Items must be unique.")


def _check_event(errors: _Errors, path: str, event: Any) -> None:
    if not isinstance(event, dict):
        errors.add(path, "An event is an object.")
        return
    kind = event.get("type")
    if not isinstance(kind, str) or not (kind in EVENT_TYPES or is_uri(kind)):
        errors.add(f"{path}.type", "Missing or unknown event type.")
    if "@context" in event:
        _check_context(errors, f"{path}.@context", event["@context"])
    for name in ("eventTime", "eventTimeZoneOffset"):
        if name not in event:
            errors.add(f"{path}.{name}", "Missing data for required field.")
    if "eventTime" in event:
        _check_time(errors, f"{path}.eventTime", event["eventTime"])
    if "recordTime" in event:
        _check_time(errors, f"{path}.recordTime", event["recordTime"])
    offset = event.get("eventTimeZoneOffset")
    if "eventTimeZoneOffset" in event and not (
            isinstance(offset, str) and _OFFSET.fullmatch(offset)):
        errors.add(f"{path}.eventTimeZoneOffset", "Not an offset from -13:59 to +14:00.")
    if "eventID" in event:
        _check_uri(errors, f"{path}.eventID", event["eventID"])
    if "certificationInfo" in event:
        info = event["certificationInfo"]
        if isinstance(info, list):
            _check_uri_list(errors, f"{path}.certificationInfo", info)
        else:
            _check_uri(errors, f"{path}.certificationInfo", info)
    if "errorDeclaration" in event:
        _check_error_declaration(errors, f"{path}.errorDeclaration", event["errorDeclaration"])
    if kind == "ObjectEvent":
        _check_object_event(errors, path, event)


def _check_error_declaration(errors: _Errors, path: str, value: Any) -> None:
    if not isinstance(value, dict):
        errors.add(path, "Not an object.")
        return
    if "declarationTime" not in value:
        errors.add(f"{path}.declarationTime", "Missing data for required field.")
    else:
        _check_time(errors, f"{path}.declarationTime", value["declarationTime"])
    if "reason" in value:
        _check_vocabulary(errors, f"{path}.reason", value["reason"], ERROR_REASONS)
    if "correctiveEventIDs" in value:
        _check_uri_list(errors, f"{path}.correctiveEventIDs", value["correctiveEventIDs"])
    _check_names(errors, path, value, frozenset(("declarationTime", "reason",
                                                 "correctiveEventIDs")))


def _check_object_event(errors: _Errors, path: str, event: dict) -> None:
    _check_names(errors, path, event, _OBJECT_FIELDS)
    action = event.get("action")
    if action not in EPCIS_ACTIONS:
        errors.add(f"{path}.action", "Must be one of: OBSERVE, ADD, DELETE.")
    if "epcList" in event:
        _check_uri_list(errors, f"{path}.epcList", event["epcList"], unique=True)
    quantities = event.get("quantityList")
    if "quantityList" in event:
        _check_quantities(errors, f"{path}.quantityList", quantities)
    sensors = event.get("sensorElementList")
    if "sensorElementList" in event:
        _check_sensors(errors, f"{path}.sensorElementList", sensors)
    if not ("epcList" in event or (isinstance(quantities, list) and quantities)
            or (isinstance(sensors, list) and sensors and "readPoint" in event)):
        errors.add(f"{path}.epcList", "An ObjectEvent names its objects: epcList or "
                                      "quantityList (or sensor data with a readPoint).")
    if "ilmd" in event:
        ilmd = event["ilmd"]
        if not isinstance(ilmd, dict):
            errors.add(f"{path}.ilmd", "Not an object.")
        else:
            for name in ilmd:
                if not is_uri(name):
                    errors.add(f"{path}.ilmd.{name}", "ILMD fields are named by a URI or "
                                                      "a CURIE.")
        if action in ("OBSERVE", "DELETE"):
            errors.add(f"{path}.ilmd", "Only an ADD event carries ilmd.")
    if "bizStep" in event:
        _check_vocabulary(errors, f"{path}.bizStep", event["bizStep"], BIZ_STEPS)
    if "disposition" in event:
        _check_vocabulary(errors, f"{path}.disposition", event["disposition"], DISPOSITIONS)
    if "persistentDisposition" in event:
        _check_persistent(errors, f"{path}.persistentDisposition",
                          event["persistentDisposition"])
    for name in ("readPoint", "bizLocation"):
        if name in event:
            place = event[name]
            if not isinstance(place, dict) or "id" not in place:
                errors.add(f"{path}.{name}", "An object with an id.")
            else:
                _check_uri(errors, f"{path}.{name}.id", place["id"])
    if "bizTransactionList" in event:
        _check_pairs(errors, f"{path}.bizTransactionList", event["bizTransactionList"],
                     "bizTransaction", BIZ_TRANSACTION_TYPES, type_required=False)
    for name, member in (("sourceList", "source"), ("destinationList", "destination")):
        if name in event:
            _check_pairs(errors, f"{path}.{name}", event[name], member,
                         SOURCE_DESTINATION_TYPES, type_required=True)


def _check_quantities(errors: _Errors, path: str, value: Any) -> None:
    for where, item in _each_object(errors, path, value):
        for name in item:
            if name not in ("epcClass", "quantity", "uom"):
                errors.add(f"{where}.{name}", "Unknown field.")
        if "epcClass" not in item:
            errors.add(f"{where}.epcClass", "Missing data for required field.")
        else:
            _check_uri(errors, f"{where}.epcClass", item["epcClass"])
        if "quantity" in item and not _is_number(item["quantity"]):
            errors.add(f"{where}.quantity", "Not a number.")
        if "uom" in item and not (isinstance(item["uom"], str)
                                  and re.fullmatch(r"[A-Z0-9]{2,3}", item["uom"])):
            errors.add(f"{where}.uom", "Not a UN/CEFACT unit code.")


def _check_persistent(errors: _Errors, path: str, value: Any) -> None:
    if not isinstance(value, dict) or not ({"set", "unset"} & set(value)):
        errors.add(path, "An object with set or unset.")
        return
    for name, listed in value.items():
        if name not in ("set", "unset"):
            errors.add(f"{path}.{name}", "Unknown field.")
        elif not isinstance(listed, list) or not listed:
            errors.add(f"{path}.{name}", "A list of at least one disposition.")
        else:
            for index, item in enumerate(listed):
                _check_vocabulary(errors, f"{path}.{name}[{index}]", item, DISPOSITIONS)


def _check_pairs(errors: _Errors, path: str, value: Any, member: str,
                 types: frozenset[str], type_required: bool) -> None:
    for where, item in _each_object(errors, path, value):
        for name in item:
            if name not in ("type", member):
                errors.add(f"{where}.{name}", "Unknown field.")
        if member not in item:
            errors.add(f"{where}.{member}", "Missing data for required field.")
        else:
            _check_uri(errors, f"{where}.{member}", item[member])
        if "type" in item:
            _check_vocabulary(errors, f"{where}.type", item["type"], types)
        elif type_required:
            errors.add(f"{where}.type", "Missing data for required field.")


def _check_sensors(errors: _Errors, path: str, value: Any) -> None:
    for where, element in _each_object(errors, path, value):
        _check_names(errors, where, element, frozenset(("sensorMetadata", "sensorReport")))
        metadata = element.get("sensorMetadata")
        if "sensorMetadata" in element:
            if not isinstance(metadata, dict):
                errors.add(f"{where}.sensorMetadata", "Not an object.")
            else:
                _check_names(errors, f"{where}.sensorMetadata", metadata,
                             _SENSOR_METADATA_FIELDS)
                for name in ("time", "startTime", "endTime"):
                    if name in metadata:
                        _check_time(errors, f"{where}.sensorMetadata.{name}", metadata[name])
        reports = element.get("sensorReport")
        if not isinstance(reports, list) or not reports:
            errors.add(f"{where}.sensorReport", "A list of at least one report.")
            continue
        for number, report in enumerate(reports):
            at = f"{where}.sensorReport[{number}]"
            if not isinstance(report, dict):
                errors.add(at, "Not an object.")
                continue
            _check_names(errors, at, report, _SENSOR_REPORT_FIELDS)
            # The GS1 schema asks for a type, EPCIS 2.0 itself does not (an
            # exception alone is a report): be lenient with what we never use.
            if "type" in report and not isinstance(report["type"], str):
                errors.add(f"{at}.type", "Not a string.")
            for name in _SENSOR_NUMBERS:
                if name in report and not _is_number(report[name]):
                    errors.add(f"{at}.{name}", "Not a number.")
            for name in _SENSOR_URIS:
                if name in report:
                    _check_uri(errors, f"{at}.{name}", report[name])
            if "time" in report:
                _check_time(errors, f"{at}.time", report["time"])
            if "booleanValue" in report and not isinstance(report["booleanValue"], bool):
                errors.add(f"{at}.booleanValue", "Not a boolean.")


def document_events(document: Any, limit: int) -> tuple[list[dict], list[Any]]:
    """Return the events of a valid EPCIS document and its @context items; raise if invalid."""
    errors = _Errors()
    if not isinstance(document, dict):
        errors.add("$", "An EPCIS document is a JSON object.")
        raise errors.problem("the body is not an EPCIS document")
    kind = document.get("type")
    if kind in EVENT_TYPES:
        errors.add("type", "A single event: send it inside an EPCISDocument's "
                           "epcisBody.eventList.")
        raise errors.problem("the body is a single event, not an EPCIS document")
    if kind not in ("EPCISDocument", "EPCISQueryDocument"):
        errors.add("type", "Must be EPCISDocument or EPCISQueryDocument.")
        raise errors.problem("the body is not an EPCIS document")
    required = ("@context", "type", "epcisBody") if kind == "EPCISQueryDocument" else \
        ("@context", "type", "schemaVersion", "creationDate", "epcisBody")
    for name in required:
        if name not in document:
            errors.add(name, "Missing data for required field.")
    _check_names(errors, "$", document, _DOCUMENT_FIELDS)
    if "@context" in document:
        _check_context(errors, "@context", document["@context"])
    version = document.get("schemaVersion")
    if "schemaVersion" in document:
        if not (isinstance(version, str) and _VERSION.fullmatch(version)):
            errors.add("schemaVersion", "Not a version number.")
        elif version.split(".")[0] != "2":
            errors.add("schemaVersion", "Only EPCIS 2 documents are accepted.")
    if "creationDate" in document:
        _check_time(errors, "creationDate", document["creationDate"])
    events, where = _event_list(errors, document, kind)
    if events is not None:
        if len(events) > limit:
            raise ApiProblem("payload-too-large", f"at most {limit} events per document",
                             limit=limit)
        for index, event in enumerate(events):
            _check_event(errors, f"{where}[{index}]", event)
    if errors.by_path:
        raise errors.problem("the document is not valid EPCIS 2.0")
    context = document["@context"]
    return events, context if isinstance(context, list) else [context]


def _event_list(errors: _Errors, document: dict, kind: str) -> tuple[list | None, str]:
    body = document.get("epcisBody")
    if kind == "EPCISQueryDocument":
        where = "epcisBody.queryResults.resultsBody.eventList"
        results = body.get("queryResults") if isinstance(body, dict) else None
        body = results.get("resultsBody") if isinstance(results, dict) else None
    else:
        where = "epcisBody.eventList"
    if "epcisBody" not in document:
        return None, where
    events = body.get("eventList") if isinstance(body, dict) else None
    if not isinstance(events, list):
        errors.add(where, "Missing list of events.")
        return None, where
    return events, where


# --- capture: recording ---------------------------------------------------------


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
    codes = {k.code for k in keys.values() if k is not None and k.kind == "code"}
    pairs = {(k.gtin, k.serial) for k in keys.values() if k is not None and k.kind == "gs1"}
    if not codes and not pairs:
        return {}
    conditions = []
    if codes:
        conditions.append(Component.code.in_(codes))
    if pairs:
        conditions.append(tuple_(Component.gtin, Component.serial).in_(pairs))
    statement = select(Component.id, Component.code, Component.gtin, Component.serial,
                       Component.state, Component.on_hold, Component.damaged,
                       Component.ncr_open).where(or_(*conditions))
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
    moment = parse_time(event["eventTime"])
    zone = _OFFSET.fullmatch(event["eventTimeZoneOffset"])
    minutes = (int(zone.group(2)[:2]) * 60 + int(zone.group(2)[3:])) \
        * (-1 if zone.group(1) == "-" else 1)
    moment = moment.astimezone(timezone(timedelta(minutes=minutes)))
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
    location = None
    match = _GEO.fullmatch(event["readPoint"]["id"]) if "readPoint" in event else None
    if match:
        latitude, longitude = float(match.group(1)), float(match.group(2))
        if -90 <= latitude <= 90 and -180 <= longitude <= 180:
            location = {"latitude": latitude, "longitude": longitude}
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

