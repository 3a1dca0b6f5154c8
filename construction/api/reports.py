"""Regulator reports: progress, over time, stalled components, quality, CSV exports."""

from __future__ import annotations

from flask import Response, stream_with_context
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from construction.api.base import api_blueprint
from construction.auth import authenticate_request
from construction.permissions import requires
from construction.rate_limits import export_limit
from construction.schemas import Period, ref
from construction.services import reports as service

blp = api_blueprint("reports", __name__, "Progress, quality and exports for regulators.",
                    url_prefix="/api/v1")


class ReportArgs(Period):
    project_id = ref()
    building_id = ref()
    storey_id = ref()
    component_type_id = ref()
    manufacturer_id = ref()
    region = fields.String(validate=validate.Regexp(r"^[0-9]{2,12}$"), metadata={
        "description": "Administrative division code prefix, e.g. 3301 (Hangzhou)"})
    since = fields.Date()
    until = fields.Date()


class SnapshotArgs(ReportArgs):
    """Where things stand now (states, stalled pieces, the components list): no days to
    narrow by, so since and until are not offered (422), rather than ignored."""

    class Meta:
        exclude = ("since", "until")


class PourExportArgs(ReportArgs):
    """Pours and their cubes belong to no building, storey or type: those filters are not
    offered. Days are the pours' casting days."""

    class Meta:
        exclude = ("building_id", "storey_id", "component_type_id")


class DailyArgs(ReportArgs):
    """Daily counts are kept per project, type and day, not per building or storey: those
    two filters are not offered (422), rather than ignored."""

    class Meta:
        exclude = ("building_id", "storey_id")


class QualityArgs(ReportArgs):
    """Every part of the quality report is narrowed by project or region and by days; the
    other filters would narrow only some of its parts, so they are not offered (422)."""

    class Meta:
        exclude = ("building_id", "storey_id", "component_type_id", "manufacturer_id")


class StalledArgs(SnapshotArgs):
    days = fields.Integer(load_default=14, validate=validate.Range(min=1, max=3650))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class IfcClassProgressSchema(Schema):
    ifc_class = fields.String(metadata={"example": "IfcElementAssembly"})
    total = fields.Integer()
    by_state = fields.Dict(keys=fields.String(), values=fields.Integer())
    percent_by_state = fields.Dict(keys=fields.String(), values=fields.Float())


class ProgressSchema(Schema):
    total = fields.Integer()
    by_state = fields.Dict(keys=fields.String(), values=fields.Integer())
    percent_by_state = fields.Dict(keys=fields.String(), values=fields.Float())
    by_project = fields.List(fields.Dict())
    by_building = fields.List(fields.Dict())
    by_storey = fields.List(fields.Dict())
    by_type = fields.List(fields.Dict())
    by_ifc_class = fields.List(fields.Nested(IfcClassProgressSchema), metadata={
        "description": "Components imported from a building model (IFC) and still in it, by "
                       "IFC class; given when one project, building or storey is asked for "
                       "(else empty)"})


class DailySchema(Schema):
    days = fields.List(fields.Dict())
    installed_vs_planned = fields.List(fields.Dict())
    deliveries = fields.List(fields.Dict(), metadata={
        "description": "Loads (truck trips) arrived on site per day, with their pieces"})


class StalledSchema(Schema):
    days = fields.Integer()
    total = fields.Integer()
    items = fields.List(fields.Dict())


class QualitySchema(Schema):
    qc_by_manufacturer = fields.List(fields.Dict())
    ncrs = fields.List(fields.Dict())
    photo_findings = fields.List(fields.Dict())
    alerts = fields.List(fields.Dict())
    rejected_deliveries = fields.Integer()
    strength = fields.List(fields.Dict(), metadata={
        "description": "28-day strength per manufacturer and grade: count, mean, standard "
                       "deviation, minimum and the GB/T 50107-2010 acceptance verdict"})
    gate_overrides = fields.List(fields.Dict(), metadata={
        "description": "Gates overridden by QC inspectors, per manufacturer, grade and gate"})
    inspection_items = fields.List(fields.Dict(), metadata={
        "description": "Checklist items inspected and failed, per manufacturer and stage; "
                       "each item's key with its checklist's words (text_en, text_zh)"})


def _filters(args: dict) -> service.ReportFilters:
    return service.ReportFilters(**{k: v for k, v in args.items() if k not in ("days", "limit")})


@blp.route("/progress")
class Progress(MethodView):
    @requires("report.read")
    @blp.arguments(SnapshotArgs(), location="query")
    @blp.response(200, ProgressSchema)
    def get(self, args):
        """Components by state (count and %), by project, building, storey, type, IFC class."""
        return service.progress(authenticate_request(), _filters(args))


@blp.route("/progress/daily")
class ProgressDaily(MethodView):
    @requires("report.read")
    @blp.arguments(DailyArgs(), location="query")
    @blp.response(200, DailySchema)
    def get(self, args):
        """Transitions per day and action, and installed against planned over time."""
        return service.daily(authenticate_request(), _filters(args))


@blp.route("/progress/stalled")
class ProgressStalled(MethodView):
    @requires("report.read")
    @blp.arguments(StalledArgs(), location="query")
    @blp.response(200, StalledSchema)
    def get(self, args):
        """Components in progress with no event for `days` days."""
        return service.stalled(authenticate_request(), _filters(args), args["days"],
                               args["limit"])


@blp.route("/quality")
class Quality(MethodView):
    @requires("report.read")
    @blp.arguments(QualityArgs(), location="query")
    @blp.response(200, QualitySchema)
    def get(self, args):
        """QC pass rate, NCRs, findings, alerts, strength statistics, overrides, inspections."""
        return service.quality(authenticate_request(), _filters(args))


def _csv(lines, name: str) -> Response:
    response = Response(stream_with_context(lines), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/exports/components.csv")
class ComponentsCsv(MethodView):
    @requires("export.read")
    @export_limit
    @blp.arguments(SnapshotArgs(), location="query")
    @blp.doc(responses={"200": {"description": "CSV, UTF-8 with BOM",
                                "content": {"text/csv": {}}}})
    def get(self, args):
        """Components as CSV (UTF-8 with BOM, opens in Excel), streamed."""
        return _csv(service.components_csv(authenticate_request(), _filters(args)),
                    "components.csv")


@blp.route("/exports/events.csv")
class EventsCsv(MethodView):
    @requires("export.read")
    @export_limit
    @blp.arguments(ReportArgs(), location="query")
    @blp.doc(responses={"200": {"description": "CSV, UTF-8 with BOM",
                                "content": {"text/csv": {}}}})
    def get(self, args):
        """Events as CSV (UTF-8 with BOM), oldest first, streamed; since/until by record time."""
        return _csv(service.events_csv(authenticate_request(), _filters(args)), "events.csv")


@blp.route("/exports/pours.csv")
class PoursCsv(MethodView):
    @requires("export.read")
    @blp.arguments(PourExportArgs(), location="query")
    @blp.doc(responses={"200": {"description": "CSV, UTF-8 with BOM",
                                "content": {"text/csv": {}}}})
    def get(self, args):
        """Pours as CSV (UTF-8 with BOM), by casting time, streamed."""
        return _csv(service.pours_csv(authenticate_request(), _filters(args)), "pours.csv")


@blp.route("/exports/strength-results.csv")
class StrengthResultsCsv(MethodView):
    @requires("export.read")
    @blp.arguments(PourExportArgs(), location="query")
    @blp.doc(responses={"200": {"description": "CSV, UTF-8 with BOM",
                                "content": {"text/csv": {}}}})
    def get(self, args):
        """Strength results with their pours as CSV (UTF-8 with BOM), streamed."""
        return _csv(service.strength_results_csv(authenticate_request(), _filters(args)),
                    "strength-results.csv")
