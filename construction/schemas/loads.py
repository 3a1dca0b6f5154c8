"""Loads: building and scanning them, planning them, deliveries and storey readiness."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from construction import lifecycle
from construction.pagination import page_schema
from construction.schemas.base import (
    Changeable,
    JsonBoolean,
    LocationSchema,
    PageArgs,
    Period,
    Rounded,
    moment,
    ref,
    small_json,
    text,
)
from construction.schemas.precompiled import PrecompiledSchema
from construction.schemas.scans import ComponentStatusSchema, EventSchema

LOAD_STATES = lifecycle.LOAD_STATES
LOAD_SCAN_ACTIONS = ("load", "depart", "arrive", "accept_delivery", "reject_delivery")
_COMPONENT_IDS = dict(validate=validate.Length(min=1, max=500))


def _weight(**kw) -> Rounded:
    return Rounded(1, validate=validate.Range(min=0.1, max=1_000_000), **kw)


class LoadFieldsSchema(Changeable):
    """The parts of a load its builder sets."""

    vehicle = text(20, metadata={"description": "The truck's plate"})
    driver = text(100)
    trailer_type = text(40)
    planned_departure_at = moment(allow_none=True)
    planned_arrival_at = moment(allow_none=True)
    note = text(500)
    max_weight_kg = _weight(allow_none=True, metadata={
        "description": "The truck's payload: components beyond it are refused"})
    component_ids = fields.List(ref(big=True), validate=validate.Length(max=500), metadata={
        "description": "The components in loading order (the first goes on first, at the "
                       "bottom); in a change, the whole new list"})


class LoadCreateSchema(LoadFieldsSchema):
    project_id = ref(required=True)


class LoadItemViewSchema(Schema):
    position = fields.Integer()
    component_id = fields.Integer()
    code = fields.String()
    mark = fields.String()
    component_type = fields.String()
    weight_kg = fields.Float(allow_none=True)
    storey = fields.String(allow_none=True)
    state = fields.String()
    on_hold = fields.Boolean()
    damaged = fields.Boolean()
    ncr_open = fields.Boolean()


class LoadSummarySchema(Schema):
    id = fields.Integer()
    project_id = fields.Integer()
    code = fields.String(metadata={"description": "The internal load code (typed by hand)"})
    display_code = fields.String()
    sscc = fields.String(allow_none=True, metadata={
        "description": "The GS1 SSCC, when a GS1 company prefix is configured"})
    sscc_text = fields.String(allow_none=True)
    label_url = fields.String(metadata={
        "description": "The signed link the load label's QR code holds: "
                       "{PUBLIC_BASE_URL}/00/{sscc} (or /l/{code}) with its signature"})
    state = fields.String(validate=validate.OneOf(LOAD_STATES))
    next_actions = fields.List(fields.String())
    vehicle = fields.String()
    driver = fields.String()
    trailer_type = fields.String()
    planned_departure_at = fields.String(allow_none=True)
    planned_arrival_at = fields.String(allow_none=True)
    note = fields.String()
    max_weight_kg = fields.Float(allow_none=True)
    weight_kg = fields.Float()
    piece_count = fields.Integer()
    created_at = fields.String(allow_none=True)
    loaded_at = fields.String(allow_none=True)
    departed_at = fields.String(allow_none=True)
    arrived_at = fields.String(allow_none=True)
    received_at = fields.String(allow_none=True)


class LoadViewSchema(LoadSummarySchema):
    items = fields.List(fields.Nested(LoadItemViewSchema))


LoadPageSchema = page_schema(LoadSummarySchema, "LoadPageSchema")


class LoadQueryArgs(PageArgs):
    project_id = ref()
    state = fields.String(validate=validate.OneOf(LOAD_STATES))
    date = fields.Date(metadata={"description": "The day the truck leaves (planned, else "
                                                "actual), in the reports' time zone"})
    code = text(500, metadata={"description": "What a scanner read: the load label's URL, "
                                              "the SSCC or the load code"})


class LoadItemsSchema(Schema):
    component_ids = fields.List(ref(big=True), required=True, **_COMPONENT_IDS)


class LoadExceptionSchema(Schema):
    component_id = ref(big=True, required=True)
    action = fields.String(required=True,
                           validate=validate.OneOf(("reject_delivery", "report_damage")))
    note = text(500, load_default="")


class LoadScanSchema(Schema):
    # Any action is read here; the load then says which it takes (after it is found).
    action = fields.String(required=True, validate=validate.OneOf(lifecycle.ACTIONS), metadata={
        "description": "One of " + ", ".join(LOAD_SCAN_ACTIONS)})
    client_event_id = text(64, required=True, min_length=8, metadata={
        "description": "Unique per user: the same id again returns the original events"})
    client_time = moment(load_default=None, allow_none=True)
    location = fields.Nested(LocationSchema, load_default=None, allow_none=True,
                             validate=small_json(2000))
    device = text(100, load_default=None, allow_none=True)
    exceptions = fields.List(fields.Nested(LoadExceptionSchema), load_default=None,
                             allow_none=True, validate=validate.Length(max=500), metadata={
                                 "description": "With accept_delivery: components rejected "
                                                "or reported damaged instead of accepted"})


class LoadScanRecordSchema(Schema):
    id = fields.Integer(allow_none=True, metadata={
        "description": "The stored load scan (null when a replay finds none)"})
    action = fields.String()
    client_event_id = fields.String()
    server_time = fields.String(allow_none=True)


class LoadScanResultSchema(PrecompiledSchema):
    load = fields.Nested(LoadViewSchema)
    scan = fields.Nested(LoadScanRecordSchema)
    events = fields.List(fields.Nested(EventSchema))
    components = fields.List(fields.Nested(ComponentStatusSchema))


class LoadPlanSchema(Schema):
    storey_ids = fields.List(ref(), validate=validate.Length(min=1, max=200))
    component_ids = fields.List(ref(big=True), validate=validate.Length(min=1, max=2000))
    max_weight_kg = _weight(required=True)
    max_items = fields.Integer(validate=validate.Range(min=1, max=1000))
    max_length_mm = fields.Integer(validate=validate.Range(min=1, max=100_000))
    accept = JsonBoolean(load_default=False, metadata={
        "description": "Create the proposed loads (every component named in component_ids "
        "must be loadable)"})
    vehicle = text(20)
    trailer_type = text(40)

    @validates_schema
    def _one_selection(self, values, **kwargs):
        if ("storey_ids" in values) == ("component_ids" in values):
            raise ValidationError("Send storey_ids or component_ids.", "storey_ids")


class LoadPlanResultSchema(Schema):
    accepted = fields.Boolean()
    loads = fields.List(fields.Dict())
    not_ready = fields.List(fields.Dict(), metadata={
        "description": "The storeys' pieces left off the trucks, with why they may not be "
        "loaded yet (the load action's refusal)"})


class DeliveriesArgs(Period):
    since = fields.Date()
    until = fields.Date()


class DeliveryLoadSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    sscc = fields.String(allow_none=True)
    state = fields.String(validate=validate.OneOf(LOAD_STATES))
    vehicle = fields.String()
    piece_count = fields.Integer()
    weight_kg = fields.Float()
    planned_departure_at = fields.String(allow_none=True)
    planned_arrival_at = fields.String(allow_none=True)
    arrived_at = fields.String(allow_none=True)
    eta = fields.String(allow_none=True, metadata={"description": "The planned arrival"})


class DeliveryCountsSchema(Schema):
    planned = fields.Integer()
    in_transit = fields.Integer()
    arrived = fields.Integer()


class DeliveryDaySchema(Schema):
    date = fields.String(metadata={"format": "date", "description": "In the reports' time "
                                                                     "zone"})
    planned = fields.List(fields.Nested(DeliveryLoadSchema))
    in_transit = fields.List(fields.Nested(DeliveryLoadSchema))
    arrived = fields.List(fields.Nested(DeliveryLoadSchema))
    counts = fields.Nested(DeliveryCountsSchema)


class DeliveriesSchema(Schema):
    project_id = fields.Integer()
    since = fields.String(metadata={"format": "date"})
    until = fields.String(metadata={"format": "date"})
    days = fields.List(fields.Nested(DeliveryDaySchema), metadata={
        "description": "Days with a load planned, in transit or arrived, oldest first"})


class ReadinessLoadSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    sscc = fields.String(allow_none=True)
    state = fields.String(validate=validate.OneOf(LOAD_STATES))
    eta = fields.String(allow_none=True, metadata={"description": "The planned arrival"})


class ReadinessComponentSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    mark = fields.String()
    component_type = fields.String()
    install_sequence = fields.Integer(allow_none=True)
    state = fields.String()
    place = fields.String(validate=validate.OneOf(lifecycle.PLACES))
    on_hold = fields.Boolean()
    damaged = fields.Boolean()
    ncr_open = fields.Boolean()
    load = fields.Nested(ReadinessLoadSchema, allow_none=True, metadata={
        "description": "The load it is on, if any"})


class ReadinessCountsSchema(Schema):
    """Where a storey's components are and whether erection can start (deliveries.readiness)."""

    places = fields.Dict(keys=fields.String(validate=validate.OneOf(lifecycle.PLACES)),
                         values=fields.Integer(), metadata={
                             "description": "How many components are in each place"})
    can_start = fields.Boolean(metadata={
        "description": "Every component (but scrapped ones) is on site or installed, none "
                       "held, damaged or with an open NCR"})
    missing = fields.Integer(metadata={"description": "Components not yet on site"})
    blocked = fields.Integer(metadata={"description": "Components held, damaged or with an "
                                                      "open NCR"})


class StoreyReadinessSchema(ReadinessCountsSchema):
    storey_id = fields.Integer()
    storey = fields.String()
    building = fields.String()
    project_id = fields.Integer()
    component_count = fields.Integer()
    components = fields.List(fields.Nested(ReadinessComponentSchema))
