"""Site photos: uploads, their checks and findings, and the progress they show."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from construction.pagination import page_schema
from construction.schemas.base import PageArgs, moment, ref, text


class PhotoUploadSchema(Schema):
    project_id = ref()
    component_id = ref(big=True)
    storey_id = ref()
    event_id = ref(big=True)
    claimed_at = moment(metadata={"description": "When the photo is claimed to be taken "
                                                "(default: the event's time)"})


class CacheKeyArgs(Schema):
    v = fields.String(validate=validate.Length(max=40), load_only=True, metadata={
        "description": "Any version a page adds to pass the browser's cache; ignored"})


class ImageSizeArgs(CacheKeyArgs):
    max_side = fields.Integer(validate=validate.Range(min=32, max=4096), metadata={
        "description": "Scale down so that neither side is longer (pixels)"})


class PhotoQueryArgs(PageArgs):
    project_id = ref()
    component_id = ref(big=True)
    storey_id = ref()
    status = fields.String(validate=validate.OneOf(("pending", "done", "failed")))


class FindingSchema(Schema):
    id = fields.Integer()
    photo_id = fields.Integer()
    kind = fields.String()
    component_id = fields.Integer(allow_none=True)
    project_id = fields.Integer()
    detail = fields.Dict(allow_none=True)
    status = fields.String()
    outcome = fields.String()
    event_id = fields.Integer(allow_none=True)
    decided_by_user_id = fields.Integer(allow_none=True)
    decided_at = fields.AwareDateTime(allow_none=True)
    note = fields.String()
    created_at = fields.AwareDateTime()


class PhotoCheckSchema(Schema):
    status = fields.String()
    version = fields.Integer(allow_none=True)
    result = fields.Raw(allow_none=True)
    error = fields.String(allow_none=True)
    attempts = fields.Integer()
    finished_at = fields.AwareDateTime(allow_none=True)


class PhotoSchema(Schema):
    id = fields.Integer()
    project_id = fields.Integer()
    component_id = fields.Integer(allow_none=True)
    storey_id = fields.Integer(allow_none=True)
    event_id = fields.Integer(allow_none=True)
    claimed_at = fields.AwareDateTime(allow_none=True)
    taken_at = fields.AwareDateTime(allow_none=True)
    content_hash = fields.String()
    media_type = fields.String()
    size_bytes = fields.Integer()
    width = fields.Integer()
    height = fields.Integer()
    original_name = fields.String()
    uploaded_by_user_id = fields.Integer()
    uploaded_at = fields.AwareDateTime()
    exif = fields.Dict(allow_none=True)
    status = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.Nested(PhotoCheckSchema))
    components = fields.List(fields.Dict())
    findings = fields.List(fields.Nested(FindingSchema))
    image_url = fields.String()
    overlay_url = fields.String()


class PhotoUploadResultSchema(Schema):
    items = fields.List(fields.Nested(PhotoSchema))


PhotoPageSchema = page_schema(PhotoSchema, "PhotoPageSchema")


class FindingDecisionSchema(Schema):
    outcome = fields.String(load_default="none", validate=validate.OneOf(("hold", "ncr", "none")),
                            metadata={"description": "confirm only: hold the component, open "
                                                     "an NCR (qc_fail), or neither"})
    note = text(500, load_default="")


class StoreyProgressSchema(Schema):
    storey_id = fields.Integer()
    storey = fields.String()
    planned = fields.Integer()
    verified_by_photo = fields.Integer()
    components = fields.List(fields.Dict())
