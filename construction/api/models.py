"""Building models (IFC): import as components, read the import's diff, export as built."""

from __future__ import annotations

import io

from flask import Response, current_app, jsonify, request, send_file
from flask.views import MethodView

from construction.api.base import api_blueprint
from construction.auth import authenticate_request
from construction.errors import ApiProblem
from construction.permissions import requires
from construction.schemas import (
    ModelConvertingSchema,
    ModelImportArgs,
    ModelListSchema,
    ModelSchema,
    ModelStatesSchema,
)
from construction.services import models as service

blp = api_blueprint("models", __name__, "Building models (IFC) and their as-built export.",
                    url_prefix="/api/v1")
_converting = ModelConvertingSchema()


@blp.route("/projects/<id:project_id>/models")
class ProjectModels(MethodView):
    @requires("model.import")
    @blp.arguments(ModelImportArgs(), location="query")
    @blp.response(202, ModelSchema)
    @blp.alt_response(200, schema=ModelSchema,
                      description="This file was imported to this project before: that model")
    @blp.doc(requestBody={"content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}}}}}})
    def post(self, args, project_id):
        """Import an IFC model (multipart `file`, .ifc or .ifczip): 202, then read its status.

        Components are keyed by IFC GlobalId; a re-import is a diff. Bad input
        answers `model-invalid` with the reason and writes nothing.
        """
        principal = authenticate_request()
        limit = current_app.config["MODEL_MAX_BYTES"]
        if request.content_length is not None and request.content_length > limit + 65536:
            raise ApiProblem("model-invalid", f"the upload is larger than {limit:,} bytes",
                             413, reason="too large")
        request.max_content_length = limit + 65536  # room for the multipart envelope
        upload = request.files.get("file") if request.mimetype == "multipart/form-data" \
            else None
        if upload is None:
            raise ApiProblem("validation-error", "send multipart/form-data with a 'file' part",
                             errors={"file": ["Missing data for required field."]})
        classes = [c.strip() for c in (args.get("classes") or "").split(",") if c.strip()]
        model, created = service.submit_model(principal, project_id,
                                              upload.filename or "model.ifc", upload.read(),
                                              args["dry_run"], classes or None)
        if created:
            service.enqueue_model_import(model.id)
        model = service.model_for_reading(principal, model.id)
        if model.status == "failed":  # inline jobs: the failure is known now
            raise ApiProblem("model-invalid", model.reason, reason=model.reason,
                             model_id=model.id)
        return service.model_view(model), 202 if created else 200, \
            {"Location": f"/api/v1/models/{model.id}"}

    @requires("model.read")
    @blp.response(200, ModelListSchema)
    def get(self, project_id):
        """List a project's imported models, newest first."""
        models = service.list_models(authenticate_request(), project_id)
        return {"items": [service.model_view(model) for model in models]}


@blp.route("/models/<id:model_id>")
class ModelById(MethodView):
    @requires("model.read")
    @blp.response(200, ModelSchema)
    def get(self, model_id):
        """Read a model's import: status (pending, running, done, failed), counts, storeys."""
        return service.model_view(service.model_for_reading(authenticate_request(), model_id))


@blp.route("/models/<id:model_id>/as-built.ifc")
class ModelAsBuilt(MethodView):
    @requires("model.read")
    @blp.doc(responses={"200": {"description": "The model with Pset_PrefabTrace on every "
                                               "tracked element", "content": {
                                                   "application/x-step": {}}}})
    def get(self, model_id):
        """Download the model as built: Pset_PrefabTrace (state, dates) on tracked elements."""
        model, data = service.as_built(authenticate_request(), model_id)
        stem = model.original_name.rsplit(".", 1)[0] or f"model-{model.id}"
        # send_file writes any name (洗车房.ifc) as RFC 6266 filename* beside an ASCII one:
        # no header carries raw non-ASCII bytes, which a WSGI server may refuse.
        response = send_file(io.BytesIO(data), mimetype="application/x-step",
                             as_attachment=True, download_name=f"{stem}-as-built.ifc",
                             etag=False, conditional=False)
        response.headers["Cache-Control"] = "private, no-store"
        return response


@blp.route("/models/<id:model_id>/states")
class ModelStates(MethodView):
    @requires("model.read")
    @blp.response(200, ModelStatesSchema)
    def get(self, model_id):
        """Every component of the model's project with a GlobalId, as columns, in one answer.

        What the model page paints the elements with (state, on hold, damaged, NCR
        open); the component list pages through the same pieces with all their fields.
        """
        return service.model_states(authenticate_request(), model_id)


@blp.route("/models/<id:model_id>/geometry")
class ModelGeometry(MethodView):
    @requires("model.read")
    @blp.alt_response(202, schema=ModelConvertingSchema, success=True,
                      description="Being converted: ask again after Retry-After seconds",
                      headers={"Retry-After": {"description": "Seconds to wait",
                                               "schema": {"type": "integer"}}})
    @blp.doc(responses={
        "200": {"description": "The model's elements as binary glTF: one node per element, "
                               "named by its GlobalId, with extras ifc_class, name, storey",
                "content": {"model/gltf-binary": {}}},
        "409": {"description": "The model's import is not done (model-not-ready)"}})
    def get(self, model_id):
        """Download the model's geometry (GLB, converted once per file) for the model page."""
        data = service.model_geometry(authenticate_request(), model_id)
        if data is None:
            response = jsonify(_converting.dump({"status": "converting"}))
            response.status_code = 202
            response.headers["Retry-After"] = "5"
            return response
        response = Response(data, mimetype="model/gltf-binary")
        # The same file always converts to the same geometry: cacheable by the browser.
        response.headers["Cache-Control"] = "private, max-age=86400"
        return response
