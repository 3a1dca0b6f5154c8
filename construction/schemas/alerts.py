"""Alerts (a copied or forged label) and the security events behind them."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from construction.pagination import page_schema
from construction.schemas.base import PageArgs, Period, moment, ref, text
from construction.services.alerts import ALERT_KINDS


class AlertSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    description = fields.Method("_description")
    status = fields.String()
    project_id = fields.Integer(allow_none=True)
    component_id = fields.Integer(allow_none=True)
    label_id = fields.Integer(allow_none=True)
    detail = fields.Dict(allow_none=True)
    occurrences = fields.Integer()
    first_seen_at = fields.AwareDateTime()
    last_seen_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)
    closed_by_user_id = fields.Integer(allow_none=True)
    close_note = fields.String()

    def _description(self, alert) -> str:
        return ALERT_KINDS.get(alert.kind, "")


AlertPageSchema = page_schema(AlertSchema, "AlertPageSchema")


class AlertQueryArgs(PageArgs, Period):
    kind = fields.String(validate=validate.OneOf(tuple(ALERT_KINDS)))
    status = fields.String(validate=validate.OneOf(("open", "confirmed", "dismissed")))
    project_id = ref()
    component_id = ref(big=True)
    since = moment()
    until = moment()


class AlertCloseSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("confirmed", "dismissed")))
    note = text(500, load_default="")


class SecurityEventSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    reason = fields.String()
    scanned_text = fields.String()
    component_id = fields.Integer(allow_none=True)
    label_id = fields.Integer(allow_none=True)
    user_id = fields.Integer()
    organization_id = fields.Integer()
    client_event_id = fields.String(allow_none=True)
    location = fields.Dict(allow_none=True)
    created_at = fields.AwareDateTime()


SecurityEventPageSchema = page_schema(SecurityEventSchema, "SecurityEventPageSchema")
