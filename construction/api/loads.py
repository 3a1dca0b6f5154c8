"""Loads: truck trips, load plans, load scans, load labels and delivery notes, readiness."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView

from construction.api.base import api_blueprint, header_device
from construction.auth import authenticate_request
from construction.idempotency import idempotent
from construction.pagination import paged
from construction.permissions import requires
from construction.schemas import (
    DeliveriesArgs,
    DeliveriesSchema,
    LoadCreateSchema,
    LoadFieldsSchema,
    LoadItemsSchema,
    LoadLabelArgs,
    LoadPageSchema,
    LoadPlanResultSchema,
    LoadPlanSchema,
    LoadQueryArgs,
    LoadScanResultSchema,
    LoadScanSchema,
    LoadViewSchema,
    StoreyReadinessSchema,
)
from construction.services import load_papers
from construction.services import loads as service
from construction.services.deliveries import project_deliveries, storey_readiness
from construction.services.load_plans import propose_load_plan

blp = api_blueprint("loads", __name__, "Loads: truck trips with their components, "
                    "load plans, load scans, load labels and delivery notes.",
                    url_prefix="/api/v1")

_LOAD = "/loads/<id:load_id>"
_load_scan_result = LoadScanResultSchema()


@blp.route("/loads")
class Loads(MethodView):
    @requires("load.read")
    @blp.arguments(LoadQueryArgs(), location="query")
    @blp.response(200, LoadPageSchema)
    def get(self, args):
        """List loads (newest first) by project, state or day of departure."""
        principal = authenticate_request()
        page, per_page = args.pop("page"), args.pop("per_page")
        loads = service.list_loads(principal, service.LoadFilters(**args), page, per_page)
        return paged(loads, service.load_views(loads.items, with_items=False))

    @requires("load.build")
    @idempotent
    @blp.arguments(LoadCreateSchema())
    @blp.response(201, LoadViewSchema)
    def post(self, fields):
        """Open a load: its project, truck and components in loading order.

        Each component must be QC-passed (or in the yard), not on hold, not
        damaged and without an open NCR, and on no other open load. Send an
        Idempotency-Key to make a retry safe.
        """
        principal = authenticate_request()
        return service.load_view(service.create_load(principal, fields))


@blp.route(_LOAD)
class LoadById(MethodView):
    @requires("load.read")
    @blp.response(200, LoadViewSchema)
    def get(self, load_id):
        """Read one load with its components in loading order."""
        return service.load_view(service.load_for(authenticate_request(), load_id))

    @requires("load.build")
    @blp.arguments(LoadFieldsSchema(partial=True))
    @blp.response(200, LoadViewSchema)
    def patch(self, fields, load_id):
        """Change a load's truck, driver or times; while open, its components and their order."""
        principal = authenticate_request()
        return service.load_view(service.update_load(principal, load_id, fields))


@blp.route(f"{_LOAD}/items")
class LoadItems(MethodView):
    @requires("load.build")
    @blp.arguments(LoadItemsSchema())
    @blp.response(200, LoadViewSchema)
    def post(self, values, load_id):
        """Put components on an open load, after those on it (ones already on it stay put)."""
        principal = authenticate_request()
        return service.load_view(service.add_items(principal, load_id, values["component_ids"]))


@blp.route(f"{_LOAD}/items/<id(max=9223372036854775807):component_id>")
class LoadItemById(MethodView):
    @requires("load.build")
    @blp.response(200, LoadViewSchema)
    def delete(self, load_id, component_id):
        """Take a component off an open load (safe to repeat)."""
        principal = authenticate_request()
        return service.load_view(service.remove_item(principal, load_id, component_id))


@blp.route(f"{_LOAD}/scans")
class LoadScans(MethodView):
    @requires("scan.record")
    @blp.arguments(LoadScanSchema())
    @blp.response(201, LoadScanResultSchema)
    @blp.alt_response(200, schema=LoadScanResultSchema, description="A replay: the original "
                      "events")
    def post(self, values, load_id):
        """Record a scan of a load's label: one event per component, all or nothing.

        `load`, `depart`, `arrive`, `accept_delivery` (which may list exceptions:
        components rejected or reported damaged) or `reject_delivery`. When any
        component refuses, nothing is recorded and every refusal is listed.
        """
        principal = authenticate_request()
        load = service.load_for(principal, load_id, write=True)
        return _record(principal, load, values)


def _record(principal, load, values) -> tuple[dict, int]:
    scan = service.LoadScanRequest(
        action=values["action"], client_event_id=values["client_event_id"],
        client_time=values.get("client_time"), location=values.get("location"),
        device=values.get("device") or header_device(), exceptions=values.get("exceptions"))
    body, recorded = service.record_load_scan(principal, load, scan)
    return body, 201 if recorded else 200


def record_scanned_load(principal, text: str, values) -> tuple[dict, int]:
    """Answer a scan (POST /scans) whose code names a load: act on the whole load.

    Return the answer, dumped through its schema, and its status.
    """
    body, status = _record(principal, service.find_load(principal, text), values)
    return _load_scan_result.dump(body), status


def _accepts_plan(body) -> bool:
    # A proposal writes nothing: only accepting a plan needs its Idempotency-Key kept.
    return isinstance(body, dict) and body.get("accept") is True


@blp.route("/projects/<id:project_id>/load-plans")
class LoadPlans(MethodView):
    @requires("load.plan")
    @idempotent(when=_accepts_plan)
    @blp.arguments(LoadPlanSchema())
    @blp.response(200, LoadPlanResultSchema)
    @blp.alt_response(201, schema=LoadPlanResultSchema, description="Accepted: the loads made")
    def post(self, values, project_id):
        """Propose truckloads in erection order within the truck's limits; `accept` creates them.

        The earliest-installed pieces travel first and ride on top (loaded
        last); a storey's pieces share a truck when they fit on one. Send an
        Idempotency-Key with `accept` to make a retry safe.
        """
        principal = authenticate_request()
        result = propose_load_plan(principal, project_id, values)
        return result, 201 if result["accepted"] else 200


@blp.route("/projects/<id:project_id>/deliveries")
class ProjectDeliveries(MethodView):
    @requires("load.read")
    @blp.arguments(DeliveriesArgs(), location="query")
    @blp.response(200, DeliveriesSchema)
    def get(self, args, project_id):
        """List loads planned, in transit (with ETA) and arrived per day."""
        return project_deliveries(authenticate_request(), project_id,
                                          args.get("since"), args.get("until"))


@blp.route("/storeys/<id:storey_id>/readiness")
class StoreyReadiness(MethodView):
    @requires("load.read")
    @blp.response(200, StoreyReadinessSchema)
    def get(self, storey_id):
        """Say where each component of a storey is and whether erection can start."""
        return storey_readiness(authenticate_request(), storey_id)


_MEDIA = {"png": "image/png", "pdf": "application/pdf"}


@blp.route(f"{_LOAD}/label.<any(png, pdf):kind>")
class LoadLabel(MethodView):
    @requires("load.read")
    @blp.arguments(LoadLabelArgs(), location="query")
    @blp.doc(responses={"200": {"description": "The load label", "content": {
        "image/png": {}, "application/pdf": {}}}})
    def get(self, args, load_id, kind):
        """Print a load's label (A4 or thermal 100 x 70 mm) with its signed QR code."""
        code, body = load_papers.print_load_label(authenticate_request(), load_id, kind,
                                                  args["layout"], args["dpi"])
        return _file(body, _MEDIA[kind], f"load-{code}.{kind}")


@blp.route(f"{_LOAD}/delivery-note.pdf")
class LoadDeliveryNote(MethodView):
    @requires("load.read")
    @blp.doc(responses={"200": {"description": "The delivery note",
                                "content": {"application/pdf": {}}}})
    def get(self, load_id):
        """Print a load's bilingual delivery note (送货单) in unloading order."""
        load = service.printable_load(authenticate_request(), load_id)
        return _file(load_papers.delivery_note(load), "application/pdf",
                     f"delivery-note-{load.code}.pdf")


def _file(body: bytes, media_type: str, name: str) -> Response:
    response = Response(body, mimetype=media_type)
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
