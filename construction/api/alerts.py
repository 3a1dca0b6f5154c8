"""Alerts: copied, forged and revoked labels, for project staff and regulators."""

from __future__ import annotations

from flask.views import MethodView

from construction.api.base import api_blueprint
from construction.auth import authenticate_request
from construction.pagination import paged
from construction.permissions import requires
from construction.schemas import (
    AlertCloseSchema,
    AlertPageSchema,
    AlertQueryArgs,
    AlertSchema,
    PageArgs,
    SecurityEventPageSchema,
)
from construction.services import alerts as service

blp = api_blueprint("alerts", __name__, "Alerts and security events about labels.",
                    url_prefix="/api/v1")


@blp.route("/alerts")
class Alerts(MethodView):
    @requires("alert.read")
    @blp.arguments(AlertQueryArgs(), location="query")
    @blp.response(200, AlertPageSchema)
    def get(self, args):
        """List alerts (copied, forged, revoked labels) with filters, newest first."""
        principal = authenticate_request()
        page, per_page = args.pop("page"), args.pop("per_page")
        return paged(service.list_alerts(principal, service.AlertFilters(**args), page,
                                         per_page))


@blp.route("/alerts/<id(max=9223372036854775807):alert_id>")
class AlertById(MethodView):
    @requires("alert.read")
    @blp.response(200, AlertSchema)
    def get(self, alert_id):
        """Read one alert."""
        return service.alert_for_reading(authenticate_request(), alert_id)


@blp.route("/alerts/<id(max=9223372036854775807):alert_id>/close")
class AlertClose(MethodView):
    @requires("alert.close")
    @blp.arguments(AlertCloseSchema())
    @blp.response(200, AlertSchema)
    def post(self, values, alert_id):
        """Close an alert as confirmed or dismissed (admin, project manager, QC inspector)."""
        return service.close_alert(authenticate_request(), alert_id, values["status"],
                                   values["note"])


@blp.route("/security-events")
class SecurityEvents(MethodView):
    @requires("alert.read")
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, SecurityEventPageSchema)
    def get(self, args):
        """List refused label scans (forged, unknown key, unissued, revoked), newest first."""
        return paged(service.list_security_events(authenticate_request(), args["page"],
                                                  args["per_page"]))
