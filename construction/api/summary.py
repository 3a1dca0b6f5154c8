"""A project's summary: every figure and first list the dashboard shows, in one answer."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from construction.api.base import api_blueprint
from construction.api.reports import DailySchema, QualitySchema, StalledSchema
from construction.auth import authenticate_request
from construction.permissions import requires
from construction.schemas import DeliveryLoadSchema, ReadinessCountsSchema, ref
from construction.services import summary as service

blp = api_blueprint("summary", __name__, "A project's figures for the dashboard.",
                    url_prefix="/api/v1")


class SummaryArgs(Schema):
    building_id = ref(metadata={"description": "Only this building of the project"})


def _counts() -> fields.Dict:
    return fields.Dict(keys=fields.String(), values=fields.Integer(),
                       metadata={"description": "Components per lifecycle state"})


class PlaceCountsSchema(Schema):
    total = fields.Integer()
    by_state = _counts()
    on_hold = fields.Integer()
    damaged = fields.Integer()
    ncr_open = fields.Integer()


class StoreySummarySchema(PlaceCountsSchema):
    id = fields.Integer()
    name = fields.String()
    elevation_m = fields.Float()
    readiness = fields.Nested(ReadinessCountsSchema, metadata={
        "description": "As GET /storeys/{id}/readiness counts it"})


class BuildingSummarySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    total = fields.Integer()
    storeys = fields.List(fields.Nested(StoreySummarySchema), metadata={
        "description": "Lowest first"})


class ListedComponentSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    mark = fields.String()
    state = fields.String()
    storey_id = fields.Integer(allow_none=True)
    on_hold = fields.Boolean()
    damaged = fields.Boolean()
    ncr_open = fields.Boolean()


class CellSchema(ListedComponentSchema):
    install_sequence = fields.Integer(allow_none=True)


class OpenNcrSchema(ListedComponentSchema):
    ncr = fields.String(allow_none=True, metadata={"description": "The NCR's number"})
    reason = fields.String(allow_none=True)
    failed_at = fields.String(allow_none=True, metadata={
        "description": "When the check that opened it failed"})


class UpcomingStoreySchema(ReadinessCountsSchema):
    building_id = fields.Integer()
    building = fields.String()
    storey_id = fields.Integer()
    storey = fields.String()


class AlertListSchema(Schema):
    total = fields.Integer()
    items = fields.List(fields.Dict())


class TrucksTodaySchema(Schema):
    date = fields.String()
    loads = fields.List(fields.Nested(DeliveryLoadSchema), metadata={
        "description": "In transit, planned, then arrived (as GET /projects/{id}/deliveries)"})


class ProjectSummarySchema(Schema):
    project = fields.Dict(metadata={"description": "id, code, name and every building"})
    building_id = fields.Integer(allow_none=True)
    total = fields.Integer()
    by_state = _counts()
    flags = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "Components on_hold, damaged, ncr_open, on_hold_or_damaged"})
    buildings = fields.List(fields.Nested(BuildingSummarySchema))
    unplaced = fields.Nested(PlaceCountsSchema, allow_none=True, metadata={
        "description": "Components on no storey (null when one building is asked for)"})
    by_type = fields.List(fields.Dict())
    cells = fields.List(fields.Nested(CellSchema), allow_none=True, metadata={
        "description": f"Every component, when there are at most {service.CELL_LIMIT} "
                       "(else null: the grid shows counts per storey and state)"})
    has_model = fields.Boolean(metadata={"description": "A building model is imported"})
    upcoming_storeys = fields.List(fields.Nested(UpcomingStoreySchema), metadata={
        "description": "The lowest storeys with pieces to install, with their readiness"})
    flagged = fields.List(fields.Nested(ListedComponentSchema), metadata={
        "description": "The first components on hold or damaged (the component list "
                       "pages through the rest: on_hold=true, damaged=true)"})
    open_ncrs = fields.List(fields.Nested(OpenNcrSchema), metadata={
        "description": "The first components with an open NCR (ncr_open=true for the rest)"})
    alerts = fields.Nested(AlertListSchema)
    stalled = fields.Nested(StalledSchema)
    daily = fields.Nested(DailySchema)
    quality = fields.Nested(QualitySchema)
    trucks_today = fields.Nested(TrucksTodaySchema)


@blp.route("/projects/<id:project_id>/summary")
class ProjectSummary(MethodView):
    @requires("report.read")
    @blp.arguments(SummaryArgs(), location="query")
    @blp.response(200, ProjectSummarySchema)
    def get(self, args, project_id):
        """Summarise a project for the dashboard: counts per storey, state and flag, first lists.

        One read for every panel: components per building, storey and state (from
        counters kept as scans are recorded), flag counts, each storey's readiness,
        the first 50 components on hold or damaged and with open NCRs, open alerts,
        stalled components, progress per day, quality records and today's trucks.
        """
        return service.project_summary(authenticate_request(), project_id,
                                       args.get("building_id"))
