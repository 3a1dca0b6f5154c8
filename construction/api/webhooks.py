"""Webhooks: subscriptions to events, signed deliveries, and their status."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from construction import lifecycle
from construction.api.base import api_blueprint
from construction.auth import authenticate_request
from construction.pagination import page_schema, paged
from construction.permissions import requires
from construction.schemas import JsonBoolean, PageArgs, pattern, ref, text
from construction.services import webhooks as service

blp = api_blueprint("webhooks", __name__, "Webhook subscriptions and deliveries.",
                    url_prefix="/api/v1/webhooks")

EVENT_NAMES = (*lifecycle.ACTIONS, service.CHECKPOINT)
ACTIONS_FIELD = {
    "allow_none": True,
    "validate": validate.Length(min=1, max=len(EVENT_NAMES)),
    "metadata": {"description": "Lifecycle actions to send; null for every action. "
                                "Regulators and admins may add `checkpoint` (or name it "
                                "alone) for each ledger checkpoint as it is made"},
}


def _actions(**kw) -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(EVENT_NAMES)),
                       **ACTIONS_FIELD, **kw)


class WebhookCreateSchema(Schema):
    url = text(500, required=True, min_length=1, metadata={
        "description": "http(s) URL on a public host; it receives signed POSTs"})
    actions = _actions(load_default=None)
    project_id = ref(load_default=None, allow_none=True)
    region_code = fields.String(load_default=None, allow_none=True,
                                validate=pattern(r"[0-9]{2,12}"), metadata={
                                    "description": "Regulators: their region (default) or "
                                                   "a part of it"})


class WebhookPatchSchema(Schema):
    active = JsonBoolean()
    actions = _actions()

    @validates_schema
    def _something_to_change(self, data, **kwargs):
        if not data:
            raise ValidationError("Send active or actions.")


class WebhookSchema(Schema):
    id = fields.Integer()
    organization_id = fields.Integer()
    created_by_user_id = fields.Integer()
    url = fields.String()
    actions = fields.List(fields.String(), allow_none=True)
    project_id = fields.Integer(allow_none=True)
    region_code = fields.String(allow_none=True)
    active = fields.Boolean()
    after_sequence = fields.Integer(metadata={
        "description": "The last ledger sequence looked at for this subscription"})
    created_at = fields.AwareDateTime()
    last_status = fields.String(metadata={
        "description": "How the latest attempt went: delivered or failed ('' before any)"})
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String()
    last_delivery_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "When the latest attempt was made"})
    circuit = fields.String(metadata={
        "description": "closed; open (nothing is sent until circuit_open_until, after "
                       "WEBHOOK_BREAKER_FAILURES failures in a row); half-open (the next "
                       "attempt probes: a success closes it, a failure opens it again)"})
    consecutive_failures = fields.Integer(metadata={
        "description": "Failed attempts since the last delivered one"})
    circuit_open_until = fields.AwareDateTime(allow_none=True)


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(metadata={
        "description": "Key of the HMAC-SHA256 signatures; shown only in this answer"})


class WebhookDeliverySchema(Schema):
    id = fields.Integer()
    subscription_id = fields.Integer()
    event_id = fields.Integer(allow_none=True, metadata={
        "description": "The event sent (null for a checkpoint)"})
    checkpoint_id = fields.Integer(allow_none=True, metadata={
        "description": "The ledger checkpoint sent (null for an event)"})
    status = fields.String(metadata={"description": "pending, delivered or failed"})
    attempts = fields.Integer()
    next_attempt_at = fields.AwareDateTime()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String()
    created_at = fields.AwareDateTime()
    delivered_at = fields.AwareDateTime(allow_none=True)


class WebhookDetailSchema(WebhookSchema):
    delivery_counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    deliveries = fields.List(fields.Nested(WebhookDeliverySchema), metadata={
        "description": f"The {service.RECENT_DELIVERIES} most recent, newest first"})


WebhookPageSchema = page_schema(WebhookSchema, "WebhookPageSchema")
WebhookDeliveryPageSchema = page_schema(WebhookDeliverySchema, "WebhookDeliveryPageSchema")


class DeliveryQueryArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(("pending", "delivered", "failed")))


@blp.route("")
class Webhooks(MethodView):
    @requires("webhook.manage")
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, WebhookPageSchema)
    def get(self, args):
        """List your organization's webhook subscriptions (admins: all)."""
        return paged(service.list_subscriptions(authenticate_request(), args["page"],
                                                args["per_page"]))

    # No Idempotency-Key here: a replayed answer would have to store the secret.
    @requires("webhook.manage")
    @blp.arguments(WebhookCreateSchema())
    @blp.response(201, WebhookCreatedSchema)
    def post(self, values):
        """Subscribe a URL to the events of a project or region; answer its secret once.

        Events recorded from now on are sent (see `flask webhooks deliver`),
        each signed: `X-PrefabTrace-Signature: sha256=<hex HMAC-SHA256 of
        "{X-PrefabTrace-Timestamp}.{body}" keyed with the secret>`.
        """
        return service.create_subscription(authenticate_request(), **values)


@blp.route("/<id:subscription_id>")
class WebhookById(MethodView):
    @requires("webhook.manage")
    @blp.response(200, WebhookDetailSchema)
    def get(self, subscription_id):
        """Read a subscription: its last status and its recent deliveries."""
        return service.subscription_detail(authenticate_request(), subscription_id)

    @requires("webhook.manage")
    @blp.arguments(WebhookPatchSchema())
    @blp.response(200, WebhookSchema)
    def patch(self, values, subscription_id):
        """Switch a subscription on or off, or change its actions."""
        return service.update_subscription(authenticate_request(), subscription_id, **values)

    @requires("webhook.manage")
    @blp.response(204)
    def delete(self, subscription_id):
        """Deactivate a subscription (it and its deliveries stay on record)."""
        service.deactivate_subscription(authenticate_request(), subscription_id)


@blp.route("/<id:subscription_id>/deliveries")
class WebhookDeliveries(MethodView):
    @requires("webhook.manage")
    @blp.arguments(DeliveryQueryArgs(), location="query")
    @blp.response(200, WebhookDeliveryPageSchema)
    def get(self, args, subscription_id):
        """List a subscription's deliveries, newest first."""
        return paged(service.list_deliveries(authenticate_request(), subscription_id,
                                             args.get("status"), args["page"],
                                             args["per_page"]))


@blp.route("/<id:subscription_id>/deliveries/<id(max=9223372036854775807):delivery_id>/retry")
class WebhookDeliveryRetry(MethodView):
    @requires("webhook.manage")
    @blp.response(202, WebhookDeliverySchema)
    def post(self, subscription_id, delivery_id):
        """Queue a failed delivery for one more attempt now; the deliverer sends it.

        It goes in its turn (after its subscription's older pending
        deliveries); an open circuit is made half-open so that it is the probe.
        Asking again is harmless.
        """
        return service.retry_delivery(authenticate_request(), subscription_id, delivery_id)
