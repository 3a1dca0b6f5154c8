"""GS1 EPCIS 2.0: query our events as EPCISQueryDocuments, and capture events from others."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import marshmallow
from flask import current_app, jsonify, request
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from construction.api.base import api_blueprint
from construction.auth import authenticate_request
from construction.errors import problem_body
from construction.permissions import requires
from construction.rate_limits import export_limit
from construction.schemas import (
    EARLIEST,
    LATEST,
    ComponentStatusSchema,
    EventSchema,
    PrecompiledSchema,
    problem_member,
    ref,
)
from construction.services import epcis as service

blp = api_blueprint("epcis", __name__, "GS1 EPCIS 2.0 query and capture.",
                    url_prefix="/api/v1/epcis")

_VERSION_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
_CAPTURE_HEADERS = {**_VERSION_HEADERS, "GS1-Capture-Error-Behaviour": "proceed"}
_QUERY_ANSWER = ("An EPCISQueryDocument (JSON-LD; as application/ld+json when the caller "
                 "prefers it); a `Link: <…>; rel=\"next\"` header points to the next page")
_QUERY_HEADERS = {
    **{name: {"description": f"Always {value}", "schema": {"type": "string"}}
       for name, value in _VERSION_HEADERS.items()},
    "Link": {"description": "The next page (`rel=\"next\"`), while there is one",
             "schema": {"type": "string"}}}
# A '+' in a query string arrives as a space: put it back in time offsets.
_SPACED_OFFSET = re.compile(r"(.*T[0-9:.]+) ([0-9]{2}:[0-9]{2})")


class _Time(fields.String):
    """An RFC 3339 date-time with its offset, between 2000 and 2100."""

    def __init__(self, **kw):
        super().__init__(metadata={"format": "date-time"}, **kw)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a date-time.")
        spaced = _SPACED_OFFSET.fullmatch(value)
        moment = service.parse_time(f"{spaced[1]}+{spaced[2]}" if spaced else value)
        if moment is None:
            raise ValidationError("Not an RFC 3339 date-time with a time zone "
                                  "(e.g. 2026-11-25T10:00:00+08:00).")
        if not EARLIEST <= moment < LATEST:
            raise ValidationError("Must lie between 2000 and 2100.")
        return moment


def _listed(**kw) -> fields.List:
    return fields.List(fields.String(validate=validate.Length(min=1, max=2048)), **kw)


def _split(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [part for value in values for part in re.split(r"[|,]", value) if part]


_STANDARD_UNSUPPORTED = "This EPCIS query parameter is not supported here."


class EventQueryArgs(Schema):
    """SimpleEventQuery parameters (lists: repeat the parameter, or separate by | or ,)."""

    eventType = _listed(attribute="event_types")
    EQ_bizStep = _listed(attribute="biz_steps", metadata={
        "description": "CBV business steps, bare (`loading`) or as URIs"})
    EQ_disposition = _listed(attribute="dispositions")
    EQ_action = fields.List(fields.String(validate=validate.Length(min=1, max=2048), metadata={
        "pattern": "^(ADD|OBSERVE|DELETE)([|,](ADD|OBSERVE|DELETE))*$"}),
        attribute="actions", metadata={"description": "ADD, OBSERVE, DELETE"})
    GE_eventTime = _Time(attribute="ge_event_time")
    LT_eventTime = _Time(attribute="lt_event_time")
    GE_recordTime = _Time(attribute="ge_record_time")
    LT_recordTime = _Time(attribute="lt_record_time")
    MATCH_epc = _listed(attribute="epcs", metadata={
        "description": "Component EPCs: label URLs (GS1 Digital Link or /c/{code}) or "
                       "SGTIN URNs"})
    project_id = ref()
    perPage = fields.Integer(attribute="per_page", load_default=30,
                             validate=validate.Range(min=1, max=500))
    nextPageToken = fields.String(attribute="next_page_token",
                                  validate=validate.Length(max=100))

    @validates_schema(pass_original=True)
    def _known_parameters(self, values, original, **kwargs):
        known = {f.data_key or name for name, f in self.fields.items()}
        unknown = {name: ["Unknown parameter: supported are " + ", ".join(sorted(known)) + "."]
                   for name in original if name not in known}
        if unknown:
            raise ValidationError(unknown)

    @post_load
    def _normalize(self, values, **kwargs):
        errors: dict[str, list[str]] = {}
        for name, kind in (("biz_steps", "bizStep"), ("dispositions", "disposition")):
            listed = _split(values.get(name))
            if listed is not None:
                short = [service.short_vocabulary(kind, v) for v in listed]
                bad = [v for v, s in zip(listed, short, strict=True) if s is None]
                if bad:
                    errors[f"EQ_{kind}"] = [f"Not a CBV value or a URI: {', '.join(bad[:5])}."]
                values[name] = short
        for name in ("event_types", "epcs"):
            values[name] = _split(values.get(name))
        actions = _split(values.get("actions"))
        if actions is not None and set(actions) - set(service.EPCIS_ACTIONS):
            errors["EQ_action"] = ["Must be ADD, OBSERVE or DELETE."]
        values["actions"] = actions
        token = values.pop("next_page_token", None)
        if token is not None:
            try:
                values["after_id"] = service.decode_page_token(token)
            except ValueError as error:
                errors["nextPageToken"] = [f"Invalid token: {error}."]
        if errors:
            raise ValidationError(errors)
        return service.EventQuery(**values)


class CaptureEpcSchema(Schema):
    epc = fields.String()
    outcome = fields.String(metadata={"description": "accepted, duplicate or rejected"})
    event = fields.Nested(EventSchema, metadata={
        "description": "The recorded event, as /scans answers it"})
    component = fields.Nested(ComponentStatusSchema)
    problem = problem_member()


class CaptureEventSchema(Schema):
    index = fields.Integer(metadata={"description": "Position in the document's eventList"})
    eventID = fields.String(allow_none=True)
    outcome = fields.String(metadata={
        "description": "accepted, duplicate, partial (some EPCs refused) or rejected"})
    action = fields.String(metadata={"description": "The lifecycle action it mapped to"})
    problem = problem_member("Why the whole event was refused")
    epcs = fields.List(fields.Nested(CaptureEpcSchema))


class CaptureResultSchema(PrecompiledSchema):
    captureErrorBehaviour = fields.String(metadata={"description": "Always `proceed`"})
    accepted = fields.Integer()
    duplicate = fields.Integer()
    partial = fields.Integer()
    rejected = fields.Integer()
    events = fields.List(fields.Nested(CaptureEventSchema))


_EXPORTED_EVENT = {
    "description": "An EPCIS 2.0 event in JSON-LD: an ObjectEvent per lifecycle event (its "
                   "EPC in epcList), or an AggregationEvent per load scan that loads or "
                   "unloads a truck (parentID the load, childEPCs its components); with "
                   "readPoint, bizLocation, ilmd and errorDeclaration as the standard has "
                   "them, and our own facts as `pt:` extension members",
    "required": ["type", "eventTime", "eventTimeZoneOffset", "recordTime", "eventID",
                 "action", "bizStep", "disposition"],
    "properties": {
        "type": {"enum": ["ObjectEvent", "AggregationEvent"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "eventTimeZoneOffset": {"type": "string"},
        "recordTime": {"type": "string", "format": "date-time"},
        "eventID": {"type": "string"},
        "epcList": {"type": "array", "items": {"type": "string"}},
        "parentID": {"type": "string"},
        "childEPCs": {"type": "array", "items": {"type": "string"}},
        "action": {"enum": list(service.EPCIS_ACTIONS)},
        "bizStep": {"type": "string"},
        "disposition": {"type": "string"},
    },
}


class EpcisResultsBodySchema(Schema):
    eventList = fields.List(fields.Dict(metadata=_EXPORTED_EVENT),
                            metadata={"description": "In ledger order"})


class EpcisQueryResultsSchema(Schema):
    queryName = fields.String(metadata={"description": "Always `SimpleEventQuery`"})
    resultsBody = fields.Nested(EpcisResultsBodySchema)


class EpcisQueryBodySchema(Schema):
    queryResults = fields.Nested(EpcisQueryResultsSchema)


class EpcisQueryDocumentSchema(Schema):
    """An EPCISQueryDocument (EPCIS 2.0 JSON-LD)."""

    at_context = fields.List(fields.Raw(), attribute="@context", data_key="@context", metadata={
        "description": "The EPCIS 2.0 context, and the `pt` prefix of our extension"})
    type = fields.String(metadata={"description": "Always `EPCISQueryDocument`"})
    schemaVersion = fields.String()
    creationDate = fields.String(metadata={"format": "date-time"})
    epcisBody = fields.Nested(EpcisQueryBodySchema)


_query_document = EpcisQueryDocumentSchema()


def _problem(problem) -> dict[str, Any]:
    return problem_body(problem.type, problem.status, problem.detail, **problem.extra)


def _event_result(outcome: service.EventOutcome) -> dict[str, Any]:
    body: dict[str, Any] = {"index": outcome.index, "eventID": outcome.event_id,
                            "outcome": outcome.outcome}
    if outcome.action is not None:
        body["action"] = outcome.action
    if outcome.problem is not None:
        body["problem"] = _problem(outcome.problem)
    epcs = []
    for epc in outcome.epcs:
        item: dict[str, Any] = {"epc": epc.epc, "outcome": epc.outcome}
        result = epc.result
        if result.event is not None:
            item["event"] = result.event
        if result.component is not None:
            item["component"] = result.component
        if result.problem is not None:
            item["problem"] = _problem(result.problem)
        epcs.append(item)
    body["epcs"] = epcs
    return body


@blp.route("/events")
class EpcisEvents(MethodView):
    @requires("export.read")
    @export_limit
    # Unknown parameters reach the schema, which names the supported ones in its refusal.
    @blp.arguments(EventQueryArgs(), location="query", as_kwargs=False,
                   unknown=marshmallow.INCLUDE)
    @blp.response(200, EpcisQueryDocumentSchema, description=_QUERY_ANSWER,
                  headers=_QUERY_HEADERS)
    @blp.alt_response(200, schema=EpcisQueryDocumentSchema,
                      content_type="application/ld+json", success=True,
                      description=_QUERY_ANSWER)
    def get(self, query):
        """Query lifecycle events as an EPCIS 2.0 EPCISQueryDocument.

        Every event is an ObjectEvent about one component: the EPC is its label
        URL without the signature, bizStep and disposition come from the
        lifecycle, our own facts are in the `pt:` extension. Events are in
        ledger order; pages follow the REST binding (`perPage`, `nextPageToken`
        in the `Link` header). Regulators see their region, everyone else their
        projects.
        """
        principal = authenticate_request()
        document, last_id = service.query_events(principal, query,
                                                 current_app.config["PUBLIC_BASE_URL"])
        response = jsonify(_query_document.dump(document))
        if request.accept_mimetypes.best_match(["application/json", "application/ld+json"]) \
                == "application/ld+json":
            response.mimetype = "application/ld+json"
        response.headers.update(_VERSION_HEADERS)
        if last_id is not None:
            arguments = [(k, v) for k, v in request.args.items(multi=True)
                         if k != "nextPageToken"]
            arguments.append(("nextPageToken", service.encode_page_token(last_id)))
            response.headers["Link"] = f'<{request.path}?{urlencode(arguments)}>; rel="next"'
        return response


@blp.route("/capture")
class EpcisCapture(MethodView):
    @blp.doc(requestBody={"required": True, "content": {
        media: {"schema": {"type": "object", "description": "An EPCISDocument (or an "
                                                             "EPCISQueryDocument)"}}
        for media in ("application/json", "application/ld+json")}})
    @requires("scan.record")
    @blp.response(200, CaptureResultSchema)
    def post(self):
        """Capture the ObjectEvents of an EPCIS 2.0 document as lifecycle scans.

        Each event about our components becomes one scan per EPC, with every
        rule of POST /scans: bizStep and disposition give the action, the
        eventID (or a hash of the event) makes a re-sent document record
        nothing twice. The answer is synchronous, one outcome per event;
        refused events do not stop the others (capture error behaviour
        `proceed`). A document that is not valid EPCIS is refused whole (422).
        """
        principal = authenticate_request()
        document = request.get_json()
        outcomes = service.capture_document(principal, document,
                                            current_app.config["BATCH_MAX_ITEMS"])
        return {"captureErrorBehaviour": "proceed", **service.capture_counts(outcomes),
                "events": [_event_result(outcome) for outcome in outcomes]}, _CAPTURE_HEADERS
