"""Decode labels in a photo: for scanners that cannot read a label."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from construction.api.base import api_blueprint
from construction.auth import authenticate_request
from construction.extensions import mark_read_only
from construction.permissions import requires
from construction.rate_limits import decode_limit
from construction.schemas import DecodeResultSchema
from construction.services import decoding as service

blp = api_blueprint("decode", __name__, "Read label codes in an uploaded photo.",
                    url_prefix="/api/v1")


@blp.route("/decode")
class Decode(MethodView):
    @decode_limit
    @blp.response(200, DecodeResultSchema)
    @blp.doc(requestBody={"content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["image"],
        "properties": {"image": {"type": "string", "format": "binary"}}}}}})
    @requires("label.decode")
    def post(self):
        """Read every code in a photo (JPEG, PNG or WebP) and find its component.

        `genuine` is true or false for label URLs (signature, key and label
        version checked), null for plain codes. `points` are the code's four
        corners in the upright image (EXIF orientation applied).
        """
        mark_read_only()  # nothing is written: keep SQLite's write lock free
        principal = authenticate_request()
        return service.decode_upload(principal, request.files.get("image"))
