"""Scans: one scan or a batch of them, and the events and component states they answer."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from construction import lifecycle
from construction.schemas.base import LocationSchema, moment, problem_member, ref, small_json, text
from construction.schemas.precompiled import PrecompiledSchema
from construction.schemas.production import new_pour_errors


class ScanSchema(Schema):
    code = text(500, required=True, min_length=1, metadata={
        "description": "What the scanner read: the short code (any case, with or without "
                       "dashes), the internal id, or a label URL (a genuine, current label)"})
    action = fields.String(required=True, validate=validate.OneOf(lifecycle.ACTIONS))
    client_event_id = text(64, required=True, min_length=8, metadata={
        "description": "Unique per user: the same id again returns the original event"})
    client_time = moment(load_default=None, allow_none=True)
    location = fields.Nested(LocationSchema, load_default=None, allow_none=True,
                             validate=small_json(2000))
    data = fields.Dict(load_default=None, allow_none=True, validate=small_json(8000), metadata={
        "description": "Free data (at most 8,000 characters of JSON); 'connect' and "
                       "'repair' need data.record naming the supporting record"})
    device = text(100, load_default=None, allow_none=True)
    corrects_event_id = ref(big=True, load_default=None, allow_none=True, metadata={
        "description": "Required with the action 'correct' (the event it corrects), and "
                       "refused with any other action"})
    # Named, not imported: the loads' schemas build on this module's.
    exceptions = fields.List(fields.Nested("LoadExceptionSchema"), load_default=None,
                             allow_none=True, validate=validate.Length(max=500), metadata={
                                 "description": "Only when scanning a load's label with "
                                                "accept_delivery: components rejected or "
                                                "reported damaged instead of accepted"})

    @validates_schema
    def _correction(self, values, **kwargs):
        if values.get("action") == "cast" and (values.get("data") or {}).get("pour") is not None:
            new_pour_errors(values["data"])
        if values.get("action") == "correct" and not values.get("corrects_event_id"):
            raise ValidationError("A correction names the event it corrects.",
                                  "corrects_event_id")
        if values.get("action") != "correct" and values.get("corrects_event_id"):
            raise ValidationError("Only a 'correct' action names an event to correct.",
                                  "corrects_event_id")


class BatchSchema(Schema):
    # Items are validated one by one so that one bad item spoils nothing else.
    items = fields.List(fields.Raw(allow_none=True), required=True,
                        validate=validate.Length(min=1, max=500))


class EventSchema(Schema):
    id = fields.Integer()
    component_id = fields.Integer()
    action = fields.String()
    from_state = fields.String()
    to_state = fields.String()
    user = fields.String()
    organization_id = fields.Integer()
    device = fields.String(allow_none=True)
    client_event_id = fields.String()
    client_time = fields.String(allow_none=True)
    server_time = fields.String()
    location = fields.Dict(allow_none=True)
    data = fields.Dict(allow_none=True)
    corrects_event_id = fields.Integer(allow_none=True)
    biz_step = fields.String()
    disposition = fields.String()


class ComponentStatusSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    state = fields.String()
    on_hold = fields.Boolean()
    damaged = fields.Boolean()
    ncr_open = fields.Boolean()
    allowed_actions = fields.List(fields.String())


class ScanResultSchema(PrecompiledSchema):
    event = fields.Nested(EventSchema)
    component = fields.Nested(ComponentStatusSchema)


class BatchItemResultSchema(Schema):
    index = fields.Integer()
    outcome = fields.String(validate=validate.OneOf(["accepted", "duplicate", "rejected"]))
    client_event_id = fields.String(allow_none=True)
    event = fields.Nested(EventSchema, allow_none=True)
    component = fields.Nested(ComponentStatusSchema, allow_none=True)
    problem = problem_member()


class BatchResultSchema(PrecompiledSchema):
    accepted = fields.Integer()
    duplicate = fields.Integer()
    rejected = fields.Integer()
    results = fields.List(fields.Nested(BatchItemResultSchema))
