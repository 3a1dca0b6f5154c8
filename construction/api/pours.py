"""Production records: moulds, pours, strength results, checklists, inspections, overrides."""

from __future__ import annotations

from flask import Response, current_app, request
from flask.views import MethodView

from construction.api.base import api_blueprint
from construction.auth import authenticate_request
from construction.errors import ApiProblem
from construction.idempotency import idempotent
from construction.pagination import paged
from construction.permissions import requires
from construction.schemas import (
    ChecklistSchema,
    GateOverrideSchema,
    InspectionSchema,
    InspectionViewSchema,
    MouldSchema,
    PourPageSchema,
    PourQueryArgs,
    PourSchema,
    StrengthImportResultSchema,
    StrengthImportRowSchema,
    StrengthResultSchema,
)
from construction.services import production as service
from construction.services.certificates import certificate_pdf
from construction.services.inspections import record_inspection

blp = api_blueprint("pours", __name__, "Production records: pours, strength, inspections.",
                    url_prefix="/api/v1")

_import_row = StrengthImportRowSchema()


def _created(item, new: bool):
    return item, 201 if new else 200


@blp.route("/moulds")
class Moulds(MethodView):
    @requires("component.read")
    @blp.response(200, MouldSchema(many=True))
    def get(self):
        """List the moulds and beds of the caller's plant."""
        return service.list_moulds(authenticate_request())

    @requires("pour.record")
    @idempotent
    @blp.arguments(MouldSchema())
    @blp.response(201, MouldSchema)
    def post(self, fields):
        """Add a mould or bed to the caller's plant."""
        return service.create_mould(authenticate_request(), fields)


@blp.route("/pours")
class Pours(MethodView):
    @requires("component.read")
    @blp.arguments(PourQueryArgs(), location="query")
    @blp.response(200, PourPageSchema)
    def get(self, args):
        """List pours, newest first."""
        page, per_page = args["page"], args["per_page"]
        pours = service.list_pours(authenticate_request(), args.get("project_id"), page,
                                   per_page)
        return paged(pours, [service.pour_view(pour) for pour in pours.items])

    @requires("pour.record")
    @idempotent
    @blp.arguments(PourSchema())
    @blp.response(201, PourSchema)
    def post(self, fields):
        """Record a pour: one casting on one mould or bed, and the components cast in it."""
        pour = service.create_pour(authenticate_request(), fields)
        return service.pour_view(pour)


@blp.route("/pours/<id(max=9223372036854775807):pour_id>")
class PourById(MethodView):
    @requires("component.read")
    @blp.response(200, PourSchema)
    def get(self, pour_id):
        """Read one pour with its components and strength results."""
        return service.pour_view(service.pour_for_reading(authenticate_request(), pour_id))


@blp.route("/pours/<id(max=9223372036854775807):pour_id>/strength-results")
class PourStrengthResults(MethodView):
    @requires("component.read")
    @blp.response(200, StrengthResultSchema(many=True))
    def get(self, pour_id):
        """List a pour's strength results by age."""
        service.pour_for_reading(authenticate_request(), pour_id)
        return service.strength_results(pour_id)

    @requires("strength.record")
    @blp.arguments(StrengthResultSchema())
    @blp.response(201, StrengthResultSchema)
    @blp.alt_response(200, schema=StrengthResultSchema, description="The same result again")
    def post(self, fields, pour_id):
        """Record a strength result: strength_mpa, or load_kn and area_mm2.

        The same specimen and age again with the same figures answers the
        stored result (200); with other figures, 409.
        """
        return _created(*service.add_strength_result(authenticate_request(), pour_id, fields))


@blp.route("/strength-results/import")
class StrengthImport(MethodView):
    @requires("strength.record")
    @idempotent
    @blp.response(201, StrengthImportResultSchema)
    @blp.doc(requestBody={"content": {"text/csv": {"schema": {"type": "string"}}}})
    def post(self):
        """Import a laboratory's strength results from CSV: every row or none.

        Columns: pour_id, specimen, age_days, tested_at (required), strength_mpa
        or load_kn with area_mm2, laboratory, report_number.
        """
        if request.mimetype not in ("text/csv", "text/plain"):
            raise ApiProblem("unsupported-media-type", "send text/csv")
        try:
            text = request.get_data().decode("utf-8")
        except UnicodeDecodeError as error:
            raise ApiProblem("import-failed", "the file is not UTF-8 text", errors=[
                {"row": None, "field": None, "message": str(error)}]) from error
        results = service.import_strength_csv(authenticate_request(), text,
                                              current_app.config["IMPORT_MAX_ROWS"],
                                              _import_row.load)
        return {"imported": len(results), "ids": [r.id for r in results]}


@blp.route("/component-types/<id:type_id>/checklists")
class Checklists(MethodView):
    @requires("component.read")
    @blp.response(200, ChecklistSchema(many=True))
    def get(self, type_id):
        """List a component type's checklist templates."""
        return service.list_checklists(authenticate_request(), type_id)

    @requires("checklist.manage")
    @blp.arguments(ChecklistSchema())
    @blp.response(201, ChecklistSchema)
    @blp.alt_response(200, schema=ChecklistSchema, description="The stage's checklist replaced")
    def post(self, fields, type_id):
        """Set a component type's checklist for one stage (replacing the one before)."""
        return _created(*service.save_checklist(authenticate_request(), type_id, fields))


@blp.route("/components/<id(max=9223372036854775807):component_id>/inspections")
class ComponentInspections(MethodView):
    @requires("component.read")
    @blp.response(200, InspectionViewSchema(many=True))
    def get(self, component_id):
        """List a component's inspections."""
        return service.list_inspections(authenticate_request(), component_id)

    @requires("inspection.record")
    @idempotent
    @blp.arguments(InspectionSchema())
    @blp.response(201, InspectionViewSchema)
    def post(self, fields, component_id):
        """Record a filled checklist; a failed item opens an NCR with its category."""
        principal = authenticate_request()
        inspection = record_inspection(principal, component_id, fields)
        return next(i for i in service.component_inspections(component_id)
                    if i["id"] == inspection.id)


@blp.route("/components/<id(max=9223372036854775807):component_id>/gate-overrides")
class GateOverrides(MethodView):
    @requires("gate.override")
    @blp.arguments(GateOverrideSchema())
    @blp.response(201, GateOverrideSchema)
    @blp.alt_response(200, schema=GateOverrideSchema, description="The gate was overridden")
    def post(self, fields, component_id):
        """Let one gate pass for a component, with a reason (QC inspectors)."""
        override, new = service.override_gate(authenticate_request(), component_id, fields)
        view = next(o for o in service.component_overrides(component_id)
                    if o["id"] == override.id)
        return view, 201 if new else 200


@blp.route("/components/<id(max=9223372036854775807):component_id>/certificate.pdf")
class Certificate(MethodView):
    @requires("component.read")
    @blp.doc(responses={"200": {"description": "The certificate",
                                "content": {"application/pdf": {}}}})
    def get(self, component_id):
        """Print a component's one-page bilingual quality certificate."""
        principal = authenticate_request()
        body = certificate_pdf(principal, component_id,
                                       current_app.config["PUBLIC_BASE_URL"])
        response = Response(body, mimetype="application/pdf")
        response.headers["Content-Disposition"] = \
            f'inline; filename="certificate-{component_id}.pdf"'
        response.headers["Cache-Control"] = "private, no-store"
        return response
