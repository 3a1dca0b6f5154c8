"""Components: one, its detail, a page of them, the list's filters and an import's result."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from construction import lifecycle
from construction.pagination import page_schema
from construction.schemas.base import MAX_ID, Changeable, PageArgs, moment, pattern, ref, text
from construction.schemas.production import ComponentProductionSchema
from construction.schemas.scans import EventSchema


class ComponentSchema(Changeable):
    id = fields.Integer(dump_only=True)
    code = text(16, allow_none=True)
    project_id = ref(required=True)
    component_type_id = ref(required=True)
    storey_id = ref(allow_none=True)
    mark = text(60, required=True, min_length=1)
    install_sequence = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=MAX_ID))
    gtin = fields.String(allow_none=True, validate=pattern(r"[0-9]{14}"))
    serial = fields.String(allow_none=True,
                           validate=pattern(r"[!-~]{1,20}"))
    ifc_global_id = fields.String(allow_none=True, validate=pattern(r"[0-3][0-9A-Za-z_$]{21}"))
    pour_id = fields.Integer(dump_only=True, allow_none=True)
    ifc_class = fields.String(dump_only=True, allow_none=True)
    weight_kg = fields.Float(dump_only=True, allow_none=True)
    volume_m3 = fields.Float(dump_only=True, allow_none=True)
    grid_code = fields.String(dump_only=True, allow_none=True)
    bim_model_id = fields.Integer(dump_only=True, allow_none=True)
    removed_from_model = fields.Boolean(dump_only=True)
    state = fields.String(dump_only=True)
    on_hold = fields.Boolean(dump_only=True)
    damaged = fields.Boolean(dump_only=True)
    ncr_open = fields.Boolean(dump_only=True)
    allowed_actions = fields.Method("_allowed", dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)

    def _allowed(self, component):
        return lifecycle.allowed_actions(lifecycle.Status(
            component.state, component.on_hold, component.damaged, component.ncr_open))


class ModelChangeSchema(Schema):
    bim_model_id = fields.Integer()
    changes = fields.Dict(metadata={"description": "field: [before, after]"})
    at = fields.AwareDateTime()


class ComponentDetailSchema(ComponentSchema):
    events = fields.List(fields.Nested(EventSchema), dump_only=True)
    open_alerts = fields.List(fields.String(), dump_only=True, metadata={
        "description": "Kinds of the open alerts on this component (e.g. a copied label)"})
    evidence = fields.Dict(dump_only=True, metadata={
        "description": "Label versions printed, and photos that show it with their findings"})
    production = fields.Nested(ComponentProductionSchema, dump_only=True, metadata={
        "description": "Its pour with strength results, the gate values, inspections and "
                       "gate overrides"})
    model_changes = fields.List(fields.Nested(ModelChangeSchema), dump_only=True, metadata={
        "description": "What building model imports changed in its plan, oldest first (its "
                       "identity never changes)"})


ComponentPageSchema = page_schema(ComponentSchema, "ComponentPageSchema")


class ComponentQueryArgs(PageArgs):
    project_id = ref()
    building_id = ref()
    storey_id = ref()
    component_type_id = ref()
    state = fields.String(validate=validate.OneOf(lifecycle.STATES))
    mark = text(60)
    q = text(60)
    code = text(500, metadata={"description": "What a scanner read: a short code (any case, "
                               "with dashes), an internal id, or a label URL; exact match"})
    updated_since = moment()
    ifc_global_id = fields.String(validate=pattern(r"[0-3][0-9A-Za-z_$]{21}"), metadata={
        "description": "The element's IFC GlobalId (the building model's key)"})
    removed_from_model = fields.Boolean(metadata={
        "description": "Components gone from the latest import of their model (or not)"})
    on_hold = fields.Boolean(metadata={"description": "Components on hold (true) or not (false)"})
    damaged = fields.Boolean(metadata={"description": "Components marked damaged (or not)"})
    ncr_open = fields.Boolean(metadata={
        "description": "Components with an open non-conformance (NCR) (or not)"})


class ImportResultSchema(Schema):
    imported = fields.Integer()
    ids = fields.List(fields.Integer())
    codes = fields.List(fields.String())
