"""Site photos: upload, checks, images with overlays, findings, storey progress."""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView
from marshmallow import ValidationError

from construction.api.base import api_blueprint
from construction.auth import authenticate_request
from construction.errors import ApiProblem
from construction.jobs import enqueue_analysis
from construction.pagination import paged
from construction.permissions import requires
from construction.rate_limits import upload_limit
from construction.schemas import (
    CacheKeyArgs,
    FindingDecisionSchema,
    FindingSchema,
    ImageSizeArgs,
    PhotoPageSchema,
    PhotoQueryArgs,
    PhotoSchema,
    PhotoUploadResultSchema,
    PhotoUploadSchema,
    StoreyProgressSchema,
)
from construction.services import photos as service

blp = api_blueprint("photos", __name__, "Site photos and what their checks found.",
                    url_prefix="/api/v1")
_upload_fields = PhotoUploadSchema()
BIG = "9223372036854775807"


@blp.route("/photos")
class Photos(MethodView):
    @upload_limit
    @blp.response(202, PhotoUploadResultSchema)
    @blp.alt_response(200, schema=PhotoUploadResultSchema,
                      description="Every file was uploaded before: the photos as they are")
    @blp.doc(requestBody={"content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["image"], "properties": {
            "image": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "project_id": {"type": "integer"}, "component_id": {"type": "integer"},
            "storey_id": {"type": "integer"}, "event_id": {"type": "integer"},
            "claimed_at": {"type": "string", "format": "date-time"}}}}}})
    @requires("photo.upload")
    def post(self):
        """Upload one or more site photos (multipart `image`, repeatable); checks follow.

        Every file is checked before any is stored: JPEG, PNG or WebP by magic
        bytes, size, declared pixel count (before decoding, per photo and for all
        of them together), and a full decode.
        The same file sent again to the same project is the same photo.
        """
        principal = authenticate_request()
        if request.mimetype != "multipart/form-data":
            raise ApiProblem("unsupported-media-type", "send multipart/form-data with 'image'")
        try:
            fields = _upload_fields.load(request.form.to_dict())
        except ValidationError as error:
            raise ApiProblem("validation-error", "the form fields are not valid",
                             errors=error.messages) from error
        files = [(upload.filename or "photo", upload.read())
                 for upload in request.files.getlist("image")]
        stored = service.store_photos(principal, files, fields)
        new = [photo.id for photo, created in stored if created]
        if new:
            enqueue_analysis(new)
        items = service.photo_views([service.photo_for_reading(principal, photo.id)
                                     for photo, _ in stored])
        headers = {"Location": f"/api/v1/photos/{items[0]['id']}"}
        return {"items": items}, 202 if new else 200, headers

    @requires("photo.read")
    @blp.arguments(PhotoQueryArgs(), location="query")
    @blp.response(200, PhotoPageSchema)
    def get(self, args):
        """List photos (filters: project, component, storey, status), newest first."""
        principal = authenticate_request()
        page, per_page = args.pop("page"), args.pop("per_page")
        photos = service.list_photos(principal, args, page, per_page)
        return paged(photos, service.photo_views(photos.items))


@blp.route(f"/photos/<id(max={BIG}):photo_id>")
class PhotoById(MethodView):
    @requires("photo.read")
    @blp.response(200, PhotoSchema)
    def get(self, photo_id):
        """Read a photo: its checks (pending, running, done, failed), components, findings."""
        return service.photo_view(service.photo_for_reading(authenticate_request(), photo_id))


def _jpeg(data: bytes, name: str) -> Response:
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    return response


@blp.route(f"/photos/<id(max={BIG}):photo_id>/image")
class PhotoImage(MethodView):
    @requires("photo.read")
    @blp.arguments(ImageSizeArgs(), location="query")
    @blp.doc(responses={"200": {"description": "The photo as JPEG",
                                "content": {"image/jpeg": {}}}})
    def get(self, args, photo_id):
        """The photo upright, without EXIF (no GPS leaves the system); max_side for a thumbnail."""
        photo = service.photo_for_reading(authenticate_request(), photo_id)
        return _jpeg(service.display_image(photo, args.get("max_side")),
                     f"photo-{photo.id}.jpg")


@blp.route(f"/photos/<id(max={BIG}):photo_id>/overlay")
class PhotoOverlay(MethodView):
    @requires("photo.read")
    @blp.arguments(CacheKeyArgs(), location="query")
    @blp.doc(responses={"200": {"description": "The photo with its overlay as JPEG",
                                "content": {"image/jpeg": {}}}})
    def get(self, _args, photo_id):
        """The photo with label boxes (green genuine, red not) and crack candidates (red)."""
        photo = service.photo_for_reading(authenticate_request(), photo_id)
        return _jpeg(service.overlay_image(photo), f"photo-{photo.id}-overlay.jpg")


@blp.route(f"/photos/<id(max={BIG}):photo_id>/reanalyse")
class PhotoReanalyse(MethodView):
    @requires("photo.reanalyse")
    @blp.response(202, PhotoSchema)
    def post(self, photo_id):
        """Run a photo's checks again (admin, project manager)."""
        principal = authenticate_request()
        photo = service.photo_for_reading(principal, photo_id)
        enqueue_analysis([photo.id])
        return service.photo_view(service.photo_for_reading(principal, photo_id))


@blp.route(f"/findings/<id(max={BIG}):finding_id>/<any(confirm, dismiss):decision>")
class FindingDecision(MethodView):
    @requires("photo.decide")
    @blp.arguments(FindingDecisionSchema())
    @blp.response(200, FindingSchema)
    def post(self, values, finding_id, decision):
        """Confirm a finding (outcome hold, ncr or none) or dismiss it; repeatable."""
        return service.decide_finding(authenticate_request(), finding_id, decision,
                                      values["outcome"], values["note"])


@blp.route("/storeys/<id:storey_id>/photo-progress")
class StoreyPhotoProgress(MethodView):
    @requires("photo.read")
    @blp.response(200, StoreyProgressSchema)
    def get(self, storey_id):
        """Each planned component of a storey and the photos that show it."""
        return service.storey_photo_progress(authenticate_request(), storey_id)
