"""Production records: moulds, pours, strength results, checklists, inspections, gate
overrides, and a component's production as its detail shows it."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from construction import lifecycle
from construction.pagination import page_schema
from construction.schemas.base import (
    JsonBoolean,
    JsonNumber,
    PageArgs,
    Rounded,
    moment,
    pattern,
    ref,
    text,
)


class MouldSchema(Schema):
    id = fields.Integer(dump_only=True)
    organization_id = ref(metadata={"description": "The plant (admins only; else the caller's)"})
    name = text(60, required=True, min_length=1)
    kind = fields.String(load_default="mould", validate=validate.OneOf(["mould", "bed"]))
    active = JsonBoolean(load_default=True)


class CuringStepSchema(Schema):
    hours = JsonNumber(required=True, validate=validate.Range(min=0, max=720))
    temperature_c = JsonNumber(required=True, validate=validate.Range(min=-40, max=120))


class SpecimenSchema(Schema):
    id = text(40, required=True, min_length=1)
    size_mm = fields.Integer(load_default=150, validate=validate.OneOf([100, 150, 200]))
    test_ages_days = fields.List(fields.Integer(validate=validate.Range(min=1, max=365)),
                                 load_default=list, validate=validate.Length(max=10))


class PourSchema(Schema):
    id = fields.Integer(dump_only=True)
    project_id = fields.Integer(dump_only=True)
    manufacturer_id = fields.Integer(dump_only=True)
    mould = text(60, required=True, min_length=1, metadata={
        "description": "A mould or bed of the plant (GET /moulds)"})
    mould_kind = fields.String(dump_only=True)
    concrete_grade = fields.String(required=True, validate=pattern(r"C[0-9]{2,3}"))
    cast_at = moment(required=True)
    component_ids = fields.List(ref(big=True), required=True, load_only=True,
                                validate=validate.Length(min=1, max=500))
    mix = text(60)
    supplier_ticket = text(60)
    slump_mm = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=300))
    concrete_temperature_c = Rounded(1, allow_none=True, validate=validate.Range(min=-20,
                                                                                   max=60))
    air_temperature_c = Rounded(1, allow_none=True, validate=validate.Range(min=-40, max=60))
    curing_method = fields.String(load_default="ambient",
                                  validate=validate.OneOf(["ambient", "steam"]))
    curing_profile = fields.List(fields.Nested(CuringStepSchema), allow_none=True,
                                 validate=validate.Length(max=50))
    specimens = fields.List(fields.Nested(SpecimenSchema), allow_none=True,
                            validate=validate.Length(max=50))
    created_at = fields.AwareDateTime(dump_only=True)
    components = fields.List(fields.Dict(), dump_only=True)
    strength_results = fields.List(fields.Nested(lambda: StrengthResultSchema()),
                                   dump_only=True)


class PourSummarySchema(PourSchema):
    class Meta:
        exclude = ("components", "strength_results")


PourPageSchema = page_schema(PourSummarySchema, "PourPageSchema")


class NewPourSchema(PourSchema):
    """A pour described on `cast` scans (data.pour): the pieces cast with it join it."""

    class Meta:
        exclude = ("component_ids",)


def new_pour_errors(data: dict) -> None:
    """Refuse a cast's data.pour that is not a pour, or that comes with data.pour_id."""
    if data.get("pour_id") is not None:
        raise ValidationError({"data": {"pour": ["Name a pour (pour_id) or describe a new "
                                                 "one (pour), not both."]}})
    if not isinstance(data["pour"], dict):
        raise ValidationError({"data": {"pour": ["A pour is an object."]}})
    try:
        NewPourSchema().load(data["pour"])
    except ValidationError as error:
        raise ValidationError({"data": {"pour": error.messages}}) from None


class PourQueryArgs(PageArgs):
    project_id = ref()


class StrengthResultSchema(Schema):
    id = fields.Integer(dump_only=True)
    specimen = text(40, required=True, min_length=1)
    age_days = fields.Integer(required=True, validate=validate.Range(min=1, max=365))
    tested_at = moment(required=True)
    strength_mpa = Rounded(1, allow_none=True, validate=validate.Range(min=0.1, max=200),
                           metadata={"description": "Or load_kn with area_mm2 (converted to "
                                                    "the 150 mm cube)"})
    load_kn = Rounded(1, allow_none=True, validate=validate.Range(min=0.1, max=10_000))
    area_mm2 = Rounded(1, allow_none=True, validate=validate.Range(min=100, max=100_000))
    laboratory = text(100)
    report_number = text(60)


class StrengthImportRowSchema(StrengthResultSchema):
    pour_id = ref(big=True, required=True)


class StrengthImportResultSchema(Schema):
    imported = fields.Integer()
    ids = fields.List(fields.Integer())


class ChecklistItemSchema(Schema):
    key = fields.String(required=True, validate=pattern(r"[a-z0-9_]{1,40}"))
    text_en = text(200, required=True, min_length=1)
    text_zh = text(200, required=True, min_length=1)
    kind = fields.String(required=True, validate=validate.OneOf(
        ["pass_fail", "measured", "text", "photo"]))
    category = text(40, metadata={"description": "The NCR category a failure opens"})
    nominal = JsonNumber(allow_none=True, metadata={
        "description": "Measured items: the design value (else the value is the deviation)"})
    tolerance = JsonNumber(validate=validate.Range(min=0, max=10_000), metadata={
        "description": "Measured items: the allowed deviation either way, e.g. 5 (mm)"})
    unit = text(10)


class ChecklistSchema(Schema):
    id = fields.Integer(dump_only=True)
    component_type_id = fields.Integer(dump_only=True)
    stage = fields.String(required=True, validate=validate.OneOf(
        lifecycle.CHECKLIST_STAGES))
    items = fields.List(fields.Nested(ChecklistItemSchema), required=True,
                        validate=validate.Length(min=1, max=100))
    updated_at = fields.AwareDateTime(dump_only=True)


class InspectionAnswerSchema(Schema):
    key = fields.String(required=True, validate=pattern(r"[a-z0-9_]{1,40}"))
    passed = JsonBoolean(allow_none=True)
    value = JsonNumber(allow_none=True, validate=validate.Range(min=-1e6, max=1e6))
    note = text(500, allow_none=True)
    text = text(500, allow_none=True)  # noqa: F811 (the field shadows the helper from here on)
    photo_ids = fields.List(ref(big=True), validate=validate.Length(max=20))


class InspectionSchema(Schema):
    id = fields.Integer(dump_only=True)
    component_id = fields.Integer(dump_only=True)
    template_id = fields.Integer(dump_only=True)
    stage = fields.String(required=True, validate=validate.OneOf(
        lifecycle.CHECKLIST_STAGES))
    inspected_at = moment(load_default=None, allow_none=True)
    results = fields.List(fields.Nested(InspectionAnswerSchema), required=True,
                          validate=validate.Length(min=1, max=100))
    passed = fields.Boolean(dump_only=True)
    inspector = fields.String(dump_only=True)
    ncr_event_id = fields.Integer(dump_only=True, allow_none=True)


class GateOverrideSchema(Schema):
    id = fields.Integer(dump_only=True)
    gate = fields.String(required=True, validate=validate.OneOf(sorted(lifecycle.GATES)))
    reason = text(500, required=True, min_length=3)
    by = fields.String(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class InspectionViewSchema(InspectionSchema):
    results = fields.List(fields.Dict(), dump_only=True, metadata={
        "description": "Each item as filled: key, kind, passed, value, deviation, text, "
                       "note, photo_ids"})


class PourResultSchema(Schema):
    specimen = fields.String()
    age_days = fields.Integer()
    strength_mpa = fields.Float()
    tested_at = fields.AwareDateTime()


class ComponentPourSchema(Schema):
    id = fields.Integer()
    cast_at = fields.AwareDateTime()
    mould = fields.String()
    concrete_grade = fields.String()
    mix = fields.String()
    curing_method = fields.String()
    strength_results = fields.List(fields.Nested(PourResultSchema))


class ComponentProductionSchema(Schema):
    pour = fields.Nested(ComponentPourSchema, allow_none=True)
    stripping_strength_mpa = fields.Float(allow_none=True)
    delivery_strength_mpa = fields.Float(allow_none=True)
    checklist_stages = fields.List(fields.String())
    inspections = fields.List(fields.Nested(InspectionViewSchema))
    gate_overrides = fields.List(fields.Nested(GateOverrideSchema))
