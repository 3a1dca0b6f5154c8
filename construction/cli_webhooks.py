"""`flask webhooks`: deliver webhook events."""

from __future__ import annotations

from flask.cli import AppGroup

webhooks = AppGroup("webhooks", help="Deliver events to webhook subscribers.")
