"""Building models: an IFC import, its conversion and the list of imports."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from construction.schemas.base import text
from construction.schemas.precompiled import PrecompiledSchema


class ModelImportArgs(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "Report the counts and the first differences without writing"})
    classes = text(500, metadata={
        "description": "Comma-separated IFC classes to import (default: assemblies, walls, "
                       "slabs, beams, columns, stairs, members, plates, footings, proxies)"})


class ModelSchema(Schema):
    id = fields.Integer()
    project_id = fields.Integer()
    original_name = fields.String()
    size_bytes = fields.Integer()
    content_hash = fields.String()
    schema = fields.String(metadata={"description": "IFC2X3, IFC4 or IFC4X3"})
    authoring_application = fields.String()
    ifc_project_global_id = fields.String(allow_none=True)
    dry_run = fields.Boolean()
    classes = fields.List(fields.String(), allow_none=True)
    status = fields.String(metadata={"description": "pending, running, done or failed"})
    reason = fields.String(metadata={"description": "Why the import failed"})
    added = fields.Integer()
    changed = fields.Integer()
    unchanged = fields.Integer()
    removed = fields.Integer(metadata={"description": "Marked removed_from_model"})
    skipped = fields.Integer()
    skipped_reasons = fields.List(fields.Dict(), allow_none=True, metadata={
        "description": "Why elements were skipped: reason (part_of_element, cast_in_place, "
                       "class_not_imported), ifc_class, count"})
    storeys = fields.List(fields.Dict(), allow_none=True)
    differences = fields.List(fields.Dict(), allow_none=True, metadata={
        "description": "Buildings and storeys renamed, changed or not_renamed (with "
                       "building_id or storey_id; a not_renamed with its reason), then the "
                       "first differences of elements: added, changed (fields: [before, "
                       "after]), removed; last, the counts of what was created"})
    uploaded_by_user_id = fields.Integer()
    created_at = fields.AwareDateTime()
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    as_built_url = fields.String()


class ModelConvertingSchema(Schema):
    status = fields.String(validate=validate.OneOf(["converting"]))


class ModelListSchema(Schema):
    items = fields.List(fields.Nested(ModelSchema))


class ModelStatesSchema(PrecompiledSchema):
    """The components a model page paints, as columns: the i-th of each list is one piece."""

    model_id = fields.Integer()
    project_id = fields.Integer()
    count = fields.Integer(metadata={"description": "How many components (each list's length)"})
    ids = fields.List(fields.Integer())
    global_ids = fields.List(fields.String(), metadata={"description": "IFC GlobalIds"})
    codes = fields.List(fields.String())
    marks = fields.List(fields.String(allow_none=True))
    states = fields.List(fields.String())
    on_hold = fields.List(fields.Boolean())
    damaged = fields.List(fields.Boolean())
    ncr_open = fields.List(fields.Boolean())
