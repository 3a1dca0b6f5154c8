"""EPCIS 2.0 and CBV vocabulary: our namespace, business steps and dispositions, times,
`geo:` URIs, event identifiers, and the EPCs (label URLs, SGTIN URNs) of our components.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, tuple_

from construction.identity import ComponentKey, parse_scanned
from construction.models import Component
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
_SGTIN = re.compile(r"urn:epc:id:sgtin:([0-9]{6,12})\.([0-9]{1,7})\.([!-~]{1,60})")
_GEO = re.compile(r"geo:(-?[0-9]+(?:\.[0-9]+)?),(-?[0-9]+(?:\.[0-9]+)?)(?:,[^;]*)?(?:;.*)?")


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


def parse_offset(value: Any) -> int | None:
    """Return a time zone offset from -13:59 to +14:00 in minutes, or None when it is not one."""
    match = _OFFSET.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    minutes = int(match.group(2)[:2]) * 60 + int(match.group(2)[3:])
    return -minutes if match.group(1) == "-" else minutes


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


def load_scan_event_id(load_scan_id: int) -> str:
    """Return the stable EPCIS eventID of a load scan's AggregationEvent."""
    return f"urn:uuid:{uuid.uuid5(_EVENT_ID_NAMESPACE, f'load-scan|{load_scan_id}')}"


def geo_uri(location: Any) -> str | None:
    """Return the `geo:` URI of a scan's location, or None when it has no usable one."""
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


def geo_location(uri: str) -> dict[str, float] | None:
    """Return the latitude and longitude a `geo:` URI names, or None when it names none."""
    match = _GEO.fullmatch(uri)
    if match is None:
        return None
    latitude, longitude = float(match.group(1)), float(match.group(2))
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return {"latitude": latitude, "longitude": longitude}


def components_named(keys: Iterable[ComponentKey | None]):
    """Return the condition selecting the components that EPC keys name, or None for none."""
    codes, pairs = set(), set()
    for key in keys:
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
