"""Webhooks: subscriptions to events, signed deliveries, and their status."""

from __future__ import annotations

from construction.api.base import api_blueprint

blp = api_blueprint("webhooks", __name__, "Webhook subscriptions and deliveries.",
                    url_prefix="/api/v1/webhooks")
