"""Labels: signing keys, issued labels, printing layouts and sheets, and decoded photos."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from construction import lifecycle
from construction.schemas.base import JsonBoolean, ref, text
from labels.keys import public_key_from_text, public_key_pem
from labels.render import DEFAULT_LAYOUT, LAYOUTS, LOAD_LAYOUTS

LAYOUT_NAMES = tuple(LAYOUTS)


class LabelKeySchema(Schema):
    key_id = fields.String()
    algorithm = fields.String()
    public_key = fields.String(metadata={"description": "Raw 32-byte Ed25519 key, base64"})
    public_key_pem = fields.Method("_pem")
    created_at = fields.AwareDateTime()
    retired_at = fields.AwareDateTime(allow_none=True)
    revoked_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "Set when the key was revoked: labels it signed are refused"})
    revoked_reason = fields.String(allow_none=True)

    def _pem(self, key) -> str:
        return public_key_pem(public_key_from_text(key.public_key))


class LabelKeysSchema(Schema):
    keys = fields.List(fields.Nested(LabelKeySchema))


class LedgerKeySchema(LabelKeySchema):
    purpose = fields.String(metadata={"description": "ledger; label for checkpoints signed "
                                                     "before the ledger had a key of its own"})


class LedgerKeysSchema(Schema):
    keys = fields.List(fields.Nested(LedgerKeySchema))


class LabelSchema(Schema):
    id = fields.Integer()
    component_id = fields.Integer()
    version = fields.Integer()
    url = fields.String()
    key_id = fields.String()
    issued_at = fields.AwareDateTime()
    issued_by_user_id = fields.Integer()
    print_count = fields.Integer()
    last_layout = fields.String(allow_none=True)
    last_printed_at = fields.AwareDateTime(allow_none=True)
    revoked_at = fields.AwareDateTime(allow_none=True)
    revoked_reason = fields.String()
    current = fields.Function(lambda label: label.revoked_at is None)


class LabelListSchema(Schema):
    items = fields.List(fields.Nested(LabelSchema))


class LabelIssueSchema(Schema):
    reprint = JsonBoolean(load_default=False, metadata={
        "description": "Issue a new version and revoke the current one (a damaged or lost "
                       "label; project managers and QC inspectors, with a `reason`). Without "
                       "it, the current label is returned (version 1 is issued when there is "
                       "none)."})
    reason = text(200, load_default="", metadata={"description": "Why the label is reprinted"})


class LoadLabelArgs(Schema):
    layout = fields.String(load_default="thermal-100x70",
                           validate=validate.OneOf(tuple(LOAD_LAYOUTS)))
    dpi = fields.Integer(load_default=300, validate=validate.Range(min=100, max=600),
                         metadata={"description": "PNG only"})


class LayoutArgs(Schema):
    layout = fields.String(load_default=DEFAULT_LAYOUT, validate=validate.OneOf(LAYOUT_NAMES))
    dpi = fields.Integer(load_default=300, validate=validate.Range(min=100, max=1200),
                         metadata={"description": "PNG only"})


class SheetSchema(Schema):
    component_ids = fields.List(ref(big=True), validate=validate.Length(min=1, max=100_000))
    project_id = ref()
    building_id = ref()
    storey_id = ref()
    component_type_id = ref()
    state = fields.String(validate=validate.OneOf(lifecycle.STATES))
    layout = fields.String(load_default="a4-3x8", validate=validate.OneOf(LAYOUT_NAMES))
    reprint = JsonBoolean(load_default=False, metadata={
        "description": "Issue new versions and revoke the current labels (project managers "
                       "and QC inspectors; `reason` required)"})
    reason = text(200, load_default="", metadata={"description": "Why the labels are reprinted"})

    @validates_schema
    def _something_chosen(self, data, **kwargs):
        if not data.get("component_ids") and not data.get("project_id"):
            raise ValidationError("Name component_ids, or a project_id (with optional "
                                  "building_id, storey_id, component_type_id, state).",
                                  "component_ids")


class DecodedComponentSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    mark = fields.String()
    state = fields.String()
    project_id = fields.Integer()


class DecodedCodeSchema(Schema):
    text = fields.String()
    points = fields.List(fields.List(fields.Integer()))
    engine = fields.String()
    component = fields.Nested(DecodedComponentSchema, allow_none=True)
    genuine = fields.Boolean(allow_none=True)
    label_status = fields.String(allow_none=True)


class DecodeResultSchema(Schema):
    codes = fields.List(fields.Nested(DecodedCodeSchema))
    width = fields.Integer()
    height = fields.Integer()
