"""EPCIS 2.0 documents checked in full before anything is captured.

The checks follow the shape the GS1 JSON Schema asks for, written out here because
the schema files are not shipped: a document that is not EPCIS or is malformed is
refused whole, with its errors by JSON path.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from construction.errors import ApiProblem
from construction.services.epcis.vocabulary import (
    BIZ_STEPS,
    BIZ_TRANSACTION_TYPES,
    DISPOSITIONS,
    EPCIS_ACTIONS,
    ERROR_REASONS,
    EVENT_TYPES,
    SOURCE_DESTINATION_TYPES,
    is_uri,
    parse_offset,
    parse_time,
)

_VERSION = re.compile(r"\d+(\.\d+)*")


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
    if "eventTimeZoneOffset" in event and parse_offset(offset) is None:
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
        for at, report in _each_object(errors, f"{where}.sensorReport", reports):
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

