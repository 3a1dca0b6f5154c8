"""Components: list, read with history, create, change, import from CSV."""

from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView

from construction.api.base import api_blueprint
from construction.auth import authenticate_request
from construction.errors import ApiProblem
from construction.idempotency import idempotent
from construction.pagination import paged
from construction.permissions import requires
from construction.rate_limits import upload_limit
from construction.schemas import (
    ComponentDetailSchema,
    ComponentPageSchema,
    ComponentQueryArgs,
    ComponentSchema,
    ImportResultSchema,
)
from construction.services import components as service
from construction.services.alerts import open_alert_kinds
from construction.services.models import component_model_changes
from construction.services.production import component_production
from construction.services.scans import event_view

blp = api_blueprint("components", __name__, "Components: one physical piece each.",
                    url_prefix="/api/v1")


def _with_history(component_id: int):
    component = service.component_for_reading(authenticate_request(), component_id)
    component.events = [event_view(event, user) for event, user in
                        service.component_events(component_id)]
    component.open_alerts = open_alert_kinds(component_id)
    component.evidence = service.component_evidence(component_id)
    component.production = component_production(component)
    component.model_changes = component_model_changes(component_id)
    return component


@blp.route("/components")
class Components(MethodView):
    @requires("component.read")
    @blp.arguments(ComponentQueryArgs(), location="query")
    @blp.response(200, ComponentPageSchema)
    def get(self, args):
        """List components with filters and pagination."""
        principal = authenticate_request()
        page, per_page = args.pop("page"), args.pop("per_page")
        return paged(service.list_components(principal, service.ComponentFilters(**args),
                                             page, per_page))

    @requires("component.change")
    @idempotent
    @blp.arguments(ComponentSchema())
    @blp.response(201, ComponentSchema)
    def post(self, fields):
        """Create a planned component (admin, project manager)."""
        principal = authenticate_request()
        return service.create_component(principal, fields)


@blp.route("/components/<id(max=9223372036854775807):component_id>")
class ComponentById(MethodView):
    @requires("component.read")
    @blp.response(200, ComponentDetailSchema)
    def get(self, component_id):
        """Read one component with its event history."""
        return _with_history(component_id)

    @requires("component.change")
    @blp.arguments(ComponentSchema(partial=True, exclude=("project_id",)))
    @blp.response(200, ComponentSchema)
    def patch(self, fields, component_id):
        """Change a component's identity or plan (admin, project manager)."""
        principal = authenticate_request()
        return service.update_component(principal, component_id, fields)


@blp.route("/components/<id(max=9223372036854775807):component_id>/events")
class ComponentEvents(MethodView):
    @requires("component.read")
    @blp.response(200, ComponentDetailSchema(only=("id", "code", "state", "events")))
    def get(self, component_id):
        """Read one component's events in order."""
        return _with_history(component_id)


@blp.route("/projects/<id:project_id>/components/import")
class ComponentImport(MethodView):
    @upload_limit
    @idempotent
    @blp.response(201, ImportResultSchema)
    @blp.doc(requestBody={"content": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}}}}})
    @requires("component.change")
    def post(self, project_id):
        """Import components from CSV: every row or none.

        Columns: mark, type (required), building, storey, install_sequence,
        gtin, serial, ifc_global_id, code. Row errors come back in `errors`.
        """
        principal = authenticate_request()
        upload = request.files.get("file")
        if upload is not None:
            raw = upload.read()
        elif request.mimetype in ("text/csv", "text/plain"):
            raw = request.get_data()
        else:
            raise ApiProblem("unsupported-media-type",
                             "send text/csv, or multipart/form-data with a 'file' part")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ApiProblem("import-failed", "the file is not UTF-8 text",
                             errors=[{"row": None, "field": None, "message": str(error)}]) \
                from error
        components = service.import_components_csv(
            principal, project_id, text, current_app.config["IMPORT_MAX_ROWS"])
        return {"imported": len(components), "ids": [c.id for c in components],
                "codes": [c.code for c in components]}
