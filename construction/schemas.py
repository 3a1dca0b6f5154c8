"""Marshmallow schemas for the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from marshmallow import (
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    missing,
    validate,
    validates_schema,
)
from marshmallow.decorators import POST_DUMP, PRE_DUMP

from construction import lifecycle
from construction.models import OrganizationKind
from construction.pagination import page_schema
from labels.render import DEFAULT_LAYOUT, LAYOUTS, LOAD_LAYOUTS


def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("NUL characters are not allowed.")


def _small_json(limit: int):
    def check(value) -> None:
        try:
            encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except ValueError as error:
            raise ValidationError("NaN and Infinity are not JSON numbers.") from error
        if len(encoded) > limit:
            raise ValidationError(f"At most {limit} characters of JSON.")
        if "\x00" in encoded or "\\u0000" in encoded:
            raise ValidationError("NUL characters are not allowed.")

    return check


MAX_ID = 2**31 - 1  # ids of every table but component and event
MAX_BIG_ID = 2**63 - 1
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def ref(big: bool = False, **kw) -> fields.Integer:
    """An id field bounded to what the database column holds."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_BIG_ID if big
                                                               else MAX_ID), **kw)


def moment(**kw) -> fields.AwareDateTime:
    """A time with its UTC offset, between 2000 and 2100."""
    metadata = dict(kw.pop("metadata", {}))
    metadata["description"] = " ".join(filter(None, (
        metadata.get("description"), "(with its UTC offset, from 2000 to 2100)")))
    return fields.AwareDateTime(validate=validate.Range(min=EARLIEST, max=LATEST),
                                metadata=metadata, **kw)


class FullMatch(validate.Regexp):
    """A pattern the whole value must match, documented as an anchored JSON Schema pattern."""

    def __init__(self, expression: str):
        # "^...$" is what JSON Schema (ECMA 262) reads; fullmatch keeps a trailing
        # newline, which "$" alone would let slip, out.
        super().__init__(f"^(?:{expression})$")

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def pattern(expression: str) -> validate.Regexp:
    """A pattern that the whole value must match (no trailing newline slips through)."""
    return FullMatch(expression)


class Rounded(fields.Float):
    """A number kept to a fixed count of decimals, as the database column stores it."""

    def __init__(self, places: int, **kw):
        super().__init__(**kw)
        self.places = places

    def _deserialize(self, value, attr, data, **kwargs):
        number = super()._deserialize(value, attr, data, **kwargs)
        return None if number is None else round(number, self.places)


# JSON Schema's form of the NUL check (PostgreSQL cannot store NUL in text).
NO_NUL = "^[^\\u0000]*$"


def text(max_length: int, required: bool = False, min_length: int = 0, **kw) -> fields.String:
    kw["metadata"] = {"pattern": NO_NUL, **kw.get("metadata", {})}
    return fields.String(required=required,
                         validate=[validate.Length(min=min_length, max=max_length), _no_nul],
                         **kw)


# --- dumping on the capture path --------------------------------------------------------

_Dump = Callable[[Any, str, Any], Any]
_ANY = object  # a field that answers every value as it is


def _value_dump(field: fields.Field) -> tuple[type | None, _Dump] | None:
    """Return how `field` dumps a value, faster: the type whose values (and None) it answers
    as they are, and what dumps any other value exactly as it does; None when only it can."""
    kind = type(field)
    if kind.serialize is not fields.Field.serialize:
        return None
    serializer = next(k for k in kind.__mro__ if "_serialize" in vars(k))
    slow = field._serialize
    if serializer is fields.Field:  # Raw and Boolean: the value as it is
        return _ANY, slow
    if serializer is fields.String:
        return str, slow
    if serializer is fields.Number and kind._format_num is fields.Number._format_num \
            and not field.as_string:
        return field.num_type, slow
    if serializer is fields.Mapping and field.key_field is None and field.value_field is None \
            and field.mapping_type is dict:
        return dict, slow
    if serializer is fields.List:
        inner = _value_dump(field.inner)
        if inner is None:
            return None
        exact, other = inner

        def each(value, attr, obj):
            if type(value) is not list:
                return slow(value, attr, obj)
            return [item if item is None or exact is _ANY or type(item) is exact
                    else other(item, attr, obj) for item in value]
        return None, each
    if serializer is fields.Nested and not (field.many or field.schema.many):
        nested = precompiled_dump(field.schema)
        return None, lambda value, attr, obj: nested(value)
    return None


def precompiled_dump(schema: Schema) -> Callable[[Any], Any]:
    """Return a function that dumps one object exactly as `schema.dump` does.

    Marshmallow's own dump asks every field to fetch its value through the schema's
    accessor and to format it: tens of microseconds per event, a noticeable part of a
    scan and most of the time a 500-item batch spends answering. Built once from the
    same fields, this dump takes a plain dict's values of the field's JSON type as they
    are and leaves anything else (another type, a missing key, a field it does not
    know, an object that is not a dict) to marshmallow, so the answer is the same.
    """
    generic = Schema.dump.__get__(schema)
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP] \
            or type(schema).get_attribute is not Schema.get_attribute:
        return generic
    accessor = schema.get_attribute
    plan = []
    for name, field in schema.dump_fields.items():
        attribute = field.attribute or name
        # Only a field that fetches its value as Field does can have it read from the dict.
        fetched_plainly = field._CHECK_ATTRIBUTE and "." not in attribute \
            and type(field).get_value is fields.Field.get_value
        fast = _value_dump(field) if fetched_plainly and field.dump_default is missing else None
        exact, other = fast or (None, None)
        plan.append((name if field.data_key is None else field.data_key, name, attribute, field,
                     fast is not None, exact, other))

    def dump(obj):
        if type(obj) is not dict:
            return generic(obj, many=False)
        answer = {}
        for key, name, attribute, field, known, exact, other in plan:
            if known:
                value = obj.get(attribute, missing)
                if value is not missing:
                    answer[key] = value if value is None or exact is _ANY \
                        or type(value) is exact else other(value, name, obj)
                    continue
            value = field.serialize(name, obj, accessor=accessor)
            if value is not missing:
                answer[key] = value
        return answer
    return dump


class PrecompiledSchema(Schema):
    """A response schema on the capture path: dumped by `precompiled_dump` (same answer)."""

    @cached_property
    def _precompiled(self) -> Callable[[Any], Any]:
        # Built on first use, when every schema a Nested names by string is defined.
        return precompiled_dump(self)

    def dump(self, obj, *, many: bool | None = None):
        if self.many if many is None else many:  # no answer on the capture path is a list
            return super().dump(obj, many=True)
        return self._precompiled(obj)


class Changeable(Schema):
    """A resource schema whose partial form (PATCH) must change something."""

    @validates_schema
    def _something_to_change(self, data, partial=False, **kwargs):
        if partial and not data:
            raise ValidationError("Send at least one field to change.")


# Pages reach this far into a list: further, the database would read and throw away
# that many rows per request; narrow the list with its filters instead.
MAX_PAGE_OFFSET = 100_000


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000),
                          metadata={"description": "Pages reach the first 100,000 items; "
                                                   "filters narrow longer lists"})
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))

    @validates_schema
    def _within_reach(self, values, **kwargs):
        if (values.get("page", 1) - 1) * values.get("per_page", 50) >= MAX_PAGE_OFFSET:
            raise ValidationError(f"Pages reach the first {MAX_PAGE_OFFSET:,} items; narrow the "
                                  "list with its filters.", "page")


class JsonBoolean(fields.Boolean):
    """A boolean sent as JSON true or false (not 0, 1 or a string)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Not a boolean.")
        return value


class JsonNumber(fields.Float):
    """A number sent as a JSON number (not a string or a boolean)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Not a number.")
        return super()._deserialize(value, attr, data, **kwargs)


# Short names some scanner apps send, read as the full names by copy detection.
COORDINATE_ALIASES = {"lat": "latitude", "lon": "longitude", "lng": "longitude"}
_COORDINATE_RANGES = {"latitude": 90, "longitude": 180}


class LocationSchema(Schema):
    """Where a scan happened: WGS 84 coordinates, and any descriptive keys (site, slot...)."""

    class Meta:
        unknown = INCLUDE

    latitude = JsonNumber(validate=validate.Range(min=-90, max=90),
                          metadata={"description": "Degrees north (WGS 84); with longitude"})
    longitude = JsonNumber(validate=validate.Range(min=-180, max=180),
                           metadata={"description": "Degrees east (WGS 84); with latitude"})
    accuracy_m = JsonNumber(validate=validate.Range(min=0, max=1_000_000),
                            metadata={"description": "Radius of the position's uncertainty"})
    altitude_m = JsonNumber(validate=validate.Range(min=-1000, max=10_000))

    @validates_schema(pass_original=True)
    def _coordinates(self, values, original, **kwargs):
        errors: dict[str, list[str]] = {}
        given = {name: name for name in _COORDINATE_RANGES if name in values}
        for alias, name in COORDINATE_ALIASES.items():
            if alias in original:
                value, limit = original[alias], _COORDINATE_RANGES[name]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    errors[alias] = ["Not a number."]
                elif not -limit <= value <= limit:
                    errors[alias] = [f"Must be between -{limit} and {limit}."]
                if name in given:
                    errors[alias] = [f"Send either {name} or {alias}."]
                given[name] = alias
        if len(given) == 1:
            (name, key), = given.items()
            other = "longitude" if name == "latitude" else "latitude"
            errors[key] = [f"Send {other} too: a position has both."]
        if errors:
            raise ValidationError(errors)


class ScanSchema(Schema):
    code = text(500, required=True, min_length=1, metadata={
        "description": "What the scanner read: the short code (any case, with or without "
                       "dashes), the internal id, or a label URL (a genuine, current label)"})
    action = fields.String(required=True, validate=validate.OneOf(lifecycle.ACTIONS))
    client_event_id = text(64, required=True, min_length=8, metadata={
        "description": "Unique per user: the same id again returns the original event"})
    client_time = moment(load_default=None, allow_none=True)
    location = fields.Nested(LocationSchema, load_default=None, allow_none=True,
                             validate=_small_json(2000))
    data = fields.Dict(load_default=None, allow_none=True, validate=_small_json(8000), metadata={
        "description": "Free data (at most 8,000 characters of JSON); 'connect' and "
                       "'repair' need data.record naming the supporting record"})
    device = text(100, load_default=None, allow_none=True)
    corrects_event_id = ref(big=True, load_default=None, allow_none=True, metadata={
        "description": "Required with the action 'correct' (the event it corrects), and "
                       "refused with any other action"})
    exceptions = fields.List(fields.Nested("LoadExceptionSchema"), load_default=None,
                             allow_none=True, validate=validate.Length(max=500), metadata={
                                 "description": "Only when scanning a load's label with "
                                                "accept_delivery: components rejected or "
                                                "reported damaged instead of accepted"})

    @validates_schema
    def _correction(self, values, **kwargs):
        if values.get("action") == "cast" and (values.get("data") or {}).get("pour") is not None:
            new_pour_errors(values["data"])
        if values.get("action") == "correct" and not values.get("corrects_event_id"):
            raise ValidationError("A correction names the event it corrects.",
                                  "corrects_event_id")
        if values.get("action") != "correct" and values.get("corrects_event_id"):
            raise ValidationError("Only a 'correct' action names an event to correct.",
                                  "corrects_event_id")


# Rules across fields, stated in the OpenAPI document (JSON Schema 2020-12) so that
# generated clients know them; the schemas above enforce them.
OPENAPI_RULES = {
    "Scan": {"allOf": [
        {"if": {"properties": {"action": {"const": "correct"}}, "required": ["action"]},
         "then": {"required": ["corrects_event_id"],
                  "properties": {"corrects_event_id": {"type": "integer"}}},
         "else": {"properties": {"corrects_event_id": {"type": "null"}}}},
        {"if": {"properties": {"action": {"enum": [
            name for name, spec in lifecycle.ACTIONS.items() if spec.needs_record]}},
            "required": ["action"]},
         "then": {"required": ["data"], "properties": {"data": {
             "type": "object", "required": ["record"],
             "properties": {"record": {"type": "string",
                                     "pattern": "^[\\s\\S]*\\S[\\s\\S]*$"}}}}}},
    ]},
    "Location": {"dependentRequired": {"latitude": ["longitude"], "longitude": ["latitude"]}},
    "Sheet": {"anyOf": [{"required": ["component_ids"]}, {"required": ["project_id"]}]},
    "LoadPlan": {"oneOf": [{"required": ["storey_ids"]}, {"required": ["component_ids"]}]},
}


class BatchSchema(Schema):
    # Items are validated one by one so that one bad item spoils nothing else.
    items = fields.List(fields.Raw(allow_none=True), required=True,
                        validate=validate.Length(min=1, max=500))


def problem_member(description: str = "Why it was refused") -> fields.Dict:
    """A problem+json body inside an answer (an item refused), as the Problem schema says."""
    return fields.Dict(metadata={"description": f"{description}: a problem (type, title, "
                                                "status, detail and its type's members)",
                                 "allOf": [{"$ref": "#/components/schemas/Problem"}]})


class EventSchema(Schema):
    id = fields.Integer()
    component_id = fields.Integer()
    action = fields.String()
    from_state = fields.String()
    to_state = fields.String()
    user = fields.String()
    organization_id = fields.Integer()
    device = fields.String(allow_none=True)
    client_event_id = fields.String()
    client_time = fields.String(allow_none=True)
    server_time = fields.String()
    location = fields.Dict(allow_none=True)
    data = fields.Dict(allow_none=True)
    corrects_event_id = fields.Integer(allow_none=True)
    biz_step = fields.String()
    disposition = fields.String()


class ComponentStatusSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    state = fields.String()
    on_hold = fields.Boolean()
    damaged = fields.Boolean()
    ncr_open = fields.Boolean()
    allowed_actions = fields.List(fields.String())


class ScanResultSchema(PrecompiledSchema):
    event = fields.Nested(EventSchema)
    component = fields.Nested(ComponentStatusSchema)


class BatchItemResultSchema(Schema):
    index = fields.Integer()
    outcome = fields.String(validate=validate.OneOf(["accepted", "duplicate", "rejected"]))
    client_event_id = fields.String(allow_none=True)
    event = fields.Nested(EventSchema, allow_none=True)
    component = fields.Nested(ComponentStatusSchema, allow_none=True)
    problem = problem_member()


class BatchResultSchema(PrecompiledSchema):
    accepted = fields.Integer()
    duplicate = fields.Integer()
    rejected = fields.Integer()
    results = fields.List(fields.Nested(BatchItemResultSchema))


class OrganizationRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.Enum(OrganizationKind, by_value=True)
    region_code = fields.String()


class ProjectSchema(Changeable):
    id = fields.Integer(dump_only=True)
    code = text(40, required=True, min_length=1)
    name = text(200, required=True, min_length=1)
    region_code = fields.String(required=True, validate=pattern(r"[0-9]{2,12}"))
    address = text(300)
    latitude = Rounded(6, allow_none=True, validate=validate.Range(min=-90, max=90))
    longitude = Rounded(6, allow_none=True, validate=validate.Range(min=-180, max=180))
    participant_ids = fields.List(ref(), load_only=True, validate=validate.Length(max=50))
    participants = fields.Method("_participants", dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)

    def _participants(self, project):
        return [OrganizationRefSchema().dump(p.organization) for p in project.participants]


class BuildingSchema(Changeable):
    id = fields.Integer(dump_only=True)
    project_id = fields.Integer(dump_only=True)
    name = text(100, required=True, min_length=1)


class StoreySchema(Changeable):
    id = fields.Integer(dump_only=True)
    building_id = fields.Integer(dump_only=True)
    name = text(100, required=True, min_length=1)
    elevation_m = Rounded(3, load_default=0.0, validate=validate.Range(min=-200, max=1000))


class ComponentTypeSchema(Changeable):
    id = fields.Integer(dump_only=True)
    project_id = fields.Integer(dump_only=True)
    manufacturer_id = ref(allow_none=True)
    name = text(100, required=True, min_length=1)
    category = fields.String(required=True, validate=validate.OneOf(
        ["wall_panel", "slab", "beam", "column", "stair", "balcony", "module", "other"]))
    drawing = text(100)
    length_mm = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=100_000))
    width_mm = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=100_000))
    height_mm = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=100_000))
    weight_kg = Rounded(1, allow_none=True, validate=validate.Range(min=0, max=1_000_000))
    concrete_grade = fields.String(validate=pattern(r"(C[0-9]{2,3}(/[0-9]{2,3})?)?"))
    stripping_strength_mpa = Rounded(1, allow_none=True, validate=validate.Range(min=1, max=200),
                                     metadata={"description": "Demoulding needs its pour to "
                                                              "reach this (or the percentage)"})
    stripping_strength_percent = Rounded(1, allow_none=True,
                                         validate=validate.Range(min=1, max=150), metadata={
                                             "description": "Of the grade's characteristic "
                                                            "strength: 75 of C30 = 22.5 MPa"})
    delivery_strength_mpa = Rounded(1, allow_none=True, validate=validate.Range(min=1, max=200),
                                    metadata={"description": "Loading and departing need "
                                                             "its pour to reach this"})
    delivery_strength_percent = Rounded(1, allow_none=True,
                                        validate=validate.Range(min=1, max=150))
    checklist_stages = fields.Method("_stages", dump_only=True)

    def _stages(self, component_type):
        return component_type.checklist_stages.split()


class ComponentSchema(Changeable):
    id = fields.Integer(dump_only=True)
    code = text(16, allow_none=True)
    project_id = ref(required=True)
    component_type_id = ref(required=True)
    storey_id = ref(allow_none=True)
    mark = text(60, required=True, min_length=1)
    install_sequence = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=MAX_ID))
    gtin = fields.String(allow_none=True, validate=pattern(r"[0-9]{14}"))
    serial = fields.String(allow_none=True,
                           validate=pattern(r"[!-~]{1,20}"))
    ifc_global_id = fields.String(allow_none=True, validate=pattern(r"[0-3][0-9A-Za-z_$]{21}"))
    pour_id = fields.Integer(dump_only=True, allow_none=True)
    ifc_class = fields.String(dump_only=True, allow_none=True)
    weight_kg = fields.Float(dump_only=True, allow_none=True)
    volume_m3 = fields.Float(dump_only=True, allow_none=True)
    grid_code = fields.String(dump_only=True, allow_none=True)
    bim_model_id = fields.Integer(dump_only=True, allow_none=True)
    removed_from_model = fields.Boolean(dump_only=True)
    state = fields.String(dump_only=True)
    on_hold = fields.Boolean(dump_only=True)
    damaged = fields.Boolean(dump_only=True)
    ncr_open = fields.Boolean(dump_only=True)
    allowed_actions = fields.Method("_allowed", dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)

    def _allowed(self, component):
        return lifecycle.allowed_actions(lifecycle.Status(
            component.state, component.on_hold, component.damaged, component.ncr_open))


class ModelChangeSchema(Schema):
    bim_model_id = fields.Integer()
    changes = fields.Dict(metadata={"description": "field: [before, after]"})
    at = fields.AwareDateTime()


class ComponentDetailSchema(ComponentSchema):
    events = fields.List(fields.Nested(EventSchema), dump_only=True)
    open_alerts = fields.List(fields.String(), dump_only=True, metadata={
        "description": "Kinds of the open alerts on this component (e.g. a copied label)"})
    evidence = fields.Dict(dump_only=True, metadata={
        "description": "Label versions printed, and photos that show it with their findings"})
    production = fields.Nested("ComponentProductionSchema", dump_only=True, metadata={
        "description": "Its pour with strength results, the gate values, inspections and "
                       "gate overrides"})
    model_changes = fields.List(fields.Nested(ModelChangeSchema), dump_only=True, metadata={
        "description": "What building model imports changed in its plan, oldest first (its "
                       "identity never changes)"})


ComponentPageSchema = page_schema(ComponentSchema, "ComponentPageSchema")



class ComponentQueryArgs(PageArgs):
    project_id = ref()
    building_id = ref()
    storey_id = ref()
    component_type_id = ref()
    state = fields.String(validate=validate.OneOf(lifecycle.STATES))
    mark = text(60)
    q = text(60)
    code = text(500, metadata={"description": "What a scanner read: a short code (any case, "
                               "with dashes), an internal id, or a label URL; exact match"})
    updated_since = moment()
    ifc_global_id = fields.String(validate=pattern(r"[0-3][0-9A-Za-z_$]{21}"), metadata={
        "description": "The element's IFC GlobalId (the building model's key)"})
    removed_from_model = fields.Boolean(metadata={
        "description": "Components gone from the latest import of their model (or not)"})
    on_hold = fields.Boolean(metadata={"description": "Components on hold (true) or not (false)"})
    damaged = fields.Boolean(metadata={"description": "Components marked damaged (or not)"})
    ncr_open = fields.Boolean(metadata={
        "description": "Components with an open non-conformance (NCR) (or not)"})


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
        "description": "The first differences: added, changed (fields: [before, after]), "
                       "removed"})
    uploaded_by_user_id = fields.Integer()
    created_at = fields.AwareDateTime()
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    as_built_url = fields.String()


class ModelConvertingSchema(Schema):
    status = fields.String(validate=validate.OneOf(["converting"]))


class ModelListSchema(Schema):
    items = fields.List(fields.Nested(ModelSchema))


class ImportResultSchema(Schema):
    imported = fields.Integer()
    ids = fields.List(fields.Integer())
    codes = fields.List(fields.String())


LAYOUT_NAMES = tuple(LAYOUTS)


class LabelKeySchema(Schema):
    key_id = fields.String()
    algorithm = fields.String()
    public_key = fields.String(metadata={"description": "Raw 32-byte Ed25519 key, base64"})
    public_key_pem = fields.Method("_pem")
    created_at = fields.AwareDateTime()
    retired_at = fields.AwareDateTime(allow_none=True)
    revoked_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "Set when the key was revoked: labels it signed are refused"})
    revoked_reason = fields.String(allow_none=True)

    def _pem(self, key) -> str:
        from labels.keys import public_key_from_text, public_key_pem

        return public_key_pem(public_key_from_text(key.public_key))


class LabelKeysSchema(Schema):
    keys = fields.List(fields.Nested(LabelKeySchema))


class LedgerKeySchema(LabelKeySchema):
    purpose = fields.String(metadata={"description": "ledger; label for checkpoints signed "
                                                     "before the ledger had a key of its own"})


class LedgerKeysSchema(Schema):
    keys = fields.List(fields.Nested(LedgerKeySchema))


class LabelSchema(Schema):
    id = fields.Integer()
    component_id = fields.Integer()
    version = fields.Integer()
    url = fields.String()
    key_id = fields.String()
    issued_at = fields.AwareDateTime()
    issued_by_user_id = fields.Integer()
    print_count = fields.Integer()
    last_layout = fields.String(allow_none=True)
    last_printed_at = fields.AwareDateTime(allow_none=True)
    revoked_at = fields.AwareDateTime(allow_none=True)
    revoked_reason = fields.String()
    current = fields.Function(lambda label: label.revoked_at is None)


class LabelListSchema(Schema):
    items = fields.List(fields.Nested(LabelSchema))


class LabelIssueSchema(Schema):
    reprint = JsonBoolean(load_default=False, metadata={
        "description": "Issue a new version and revoke the current one (a damaged or lost "
                       "label; project managers and QC inspectors, with a `reason`). Without "
                       "it, the current label is returned (version 1 is issued when there is "
                       "none)."})
    reason = text(200, load_default="", metadata={"description": "Why the label is reprinted"})


class LoadLabelArgs(Schema):
    layout = fields.String(load_default="thermal-100x70",
                           validate=validate.OneOf(tuple(LOAD_LAYOUTS)))
    dpi = fields.Integer(load_default=300, validate=validate.Range(min=100, max=600),
                         metadata={"description": "PNG only"})


class LayoutArgs(Schema):
    layout = fields.String(load_default=DEFAULT_LAYOUT, validate=validate.OneOf(LAYOUT_NAMES))
    dpi = fields.Integer(load_default=300, validate=validate.Range(min=100, max=1200),
                         metadata={"description": "PNG only"})


class SheetSchema(Schema):
    component_ids = fields.List(ref(big=True), validate=validate.Length(min=1, max=100_000))
    project_id = ref()
    building_id = ref()
    storey_id = ref()
    component_type_id = ref()
    state = fields.String(validate=validate.OneOf(lifecycle.STATES))
    layout = fields.String(load_default="a4-3x8", validate=validate.OneOf(LAYOUT_NAMES))
    reprint = JsonBoolean(load_default=False, metadata={
        "description": "Issue new versions and revoke the current labels (project managers "
                       "and QC inspectors; `reason` required)"})
    reason = text(200, load_default="", metadata={"description": "Why the labels are reprinted"})

    @validates_schema
    def _something_chosen(self, data, **kwargs):
        if not data.get("component_ids") and not data.get("project_id"):
            raise ValidationError("Name component_ids, or a project_id (with optional "
                                  "building_id, storey_id, component_type_id, state).",
                                  "component_ids")


class AlertSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    description = fields.Method("_description")
    status = fields.String()
    project_id = fields.Integer(allow_none=True)
    component_id = fields.Integer(allow_none=True)
    label_id = fields.Integer(allow_none=True)
    detail = fields.Dict(allow_none=True)
    occurrences = fields.Integer()
    first_seen_at = fields.AwareDateTime()
    last_seen_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)
    closed_by_user_id = fields.Integer(allow_none=True)
    close_note = fields.String()

    def _description(self, alert) -> str:
        from construction.services.alerts import ALERT_KINDS

        return ALERT_KINDS.get(alert.kind, "")


AlertPageSchema = page_schema(AlertSchema, "AlertPageSchema")


class AlertQueryArgs(PageArgs):
    kind = fields.String(validate=validate.OneOf((
        "copy-impossible-travel", "copy-installed-elsewhere", "copy-too-many-scans",
        "label-invalid", "label-revoked")))
    status = fields.String(validate=validate.OneOf(("open", "confirmed", "dismissed")))
    project_id = ref()
    component_id = ref(big=True)
    since = moment()
    until = moment()


class AlertCloseSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("confirmed", "dismissed")))
    note = text(500, load_default="")


class SecurityEventSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    reason = fields.String()
    scanned_text = fields.String()
    component_id = fields.Integer(allow_none=True)
    label_id = fields.Integer(allow_none=True)
    user_id = fields.Integer()
    organization_id = fields.Integer()
    client_event_id = fields.String(allow_none=True)
    location = fields.Dict(allow_none=True)
    created_at = fields.AwareDateTime()


SecurityEventPageSchema = page_schema(SecurityEventSchema, "SecurityEventPageSchema")


class DecodedComponentSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    mark = fields.String()
    state = fields.String()
    project_id = fields.Integer()


class DecodedCodeSchema(Schema):
    text = fields.String()
    points = fields.List(fields.List(fields.Integer()))
    engine = fields.String()
    component = fields.Nested(DecodedComponentSchema, allow_none=True)
    genuine = fields.Boolean(allow_none=True)
    label_status = fields.String(allow_none=True)


class DecodeResultSchema(Schema):
    codes = fields.List(fields.Nested(DecodedCodeSchema))
    width = fields.Integer()
    height = fields.Integer()


class PhotoUploadSchema(Schema):
    project_id = ref()
    component_id = ref(big=True)
    storey_id = ref()
    event_id = ref(big=True)
    claimed_at = moment(metadata={"description": "When the photo is claimed to be taken "
                                                "(default: the event's time)"})


class ImageSizeArgs(Schema):
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


# --- production records ----------------------------------------------------------------------


class MouldSchema(Schema):
    id = fields.Integer(dump_only=True)
    organization_id = ref(metadata={"description": "The plant (admins only; else the caller's)"})
    name = text(60, required=True, min_length=1)
    kind = fields.String(load_default="mould", validate=validate.OneOf(["mould", "bed"]))
    active = JsonBoolean(load_default=True)


class CuringStepSchema(Schema):
    hours = JsonNumber(required=True, validate=validate.Range(min=0, max=720))
    temperature_c = JsonNumber(required=True, validate=validate.Range(min=-40, max=120))


class SpecimenSchema(Schema):
    id = text(40, required=True, min_length=1)
    size_mm = fields.Integer(load_default=150, validate=validate.OneOf([100, 150, 200]))
    test_ages_days = fields.List(fields.Integer(validate=validate.Range(min=1, max=365)),
                                 load_default=list, validate=validate.Length(max=10))


class PourSchema(Schema):
    id = fields.Integer(dump_only=True)
    project_id = fields.Integer(dump_only=True)
    manufacturer_id = fields.Integer(dump_only=True)
    mould = text(60, required=True, min_length=1, metadata={
        "description": "A mould or bed of the plant (GET /moulds)"})
    mould_kind = fields.String(dump_only=True)
    concrete_grade = fields.String(required=True, validate=pattern(r"C[0-9]{2,3}"))
    cast_at = moment(required=True)
    component_ids = fields.List(ref(big=True), required=True, load_only=True,
                                validate=validate.Length(min=1, max=500))
    mix = text(60)
    supplier_ticket = text(60)
    slump_mm = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=300))
    concrete_temperature_c = Rounded(1, allow_none=True, validate=validate.Range(min=-20,
                                                                                   max=60))
    air_temperature_c = Rounded(1, allow_none=True, validate=validate.Range(min=-40, max=60))
    curing_method = fields.String(load_default="ambient",
                                  validate=validate.OneOf(["ambient", "steam"]))
    curing_profile = fields.List(fields.Nested(CuringStepSchema), allow_none=True,
                                 validate=validate.Length(max=50))
    specimens = fields.List(fields.Nested(SpecimenSchema), allow_none=True,
                            validate=validate.Length(max=50))
    created_at = fields.AwareDateTime(dump_only=True)
    components = fields.List(fields.Dict(), dump_only=True)
    strength_results = fields.List(fields.Nested(lambda: StrengthResultSchema()),
                                   dump_only=True)


class PourSummarySchema(PourSchema):
    class Meta:
        exclude = ("components", "strength_results")


PourPageSchema = page_schema(PourSummarySchema, "PourPageSchema")


class NewPourSchema(PourSchema):
    """A pour described on `cast` scans (data.pour): the pieces cast with it join it."""

    class Meta:
        exclude = ("component_ids",)


def new_pour_errors(data: dict) -> None:
    """Refuse a cast's data.pour that is not a pour, or that comes with data.pour_id."""
    if data.get("pour_id") is not None:
        raise ValidationError({"data": {"pour": ["Name a pour (pour_id) or describe a new "
                                                 "one (pour), not both."]}})
    if not isinstance(data["pour"], dict):
        raise ValidationError({"data": {"pour": ["A pour is an object."]}})
    try:
        NewPourSchema().load(data["pour"])
    except ValidationError as error:
        raise ValidationError({"data": {"pour": error.messages}}) from None


class PourQueryArgs(PageArgs):
    project_id = ref()


class StrengthResultSchema(Schema):
    id = fields.Integer(dump_only=True)
    specimen = text(40, required=True, min_length=1)
    age_days = fields.Integer(required=True, validate=validate.Range(min=1, max=365))
    tested_at = moment(required=True)
    strength_mpa = Rounded(1, allow_none=True, validate=validate.Range(min=0.1, max=200),
                           metadata={"description": "Or load_kn with area_mm2 (converted to "
                                                    "the 150 mm cube)"})
    load_kn = Rounded(1, allow_none=True, validate=validate.Range(min=0.1, max=10_000))
    area_mm2 = Rounded(1, allow_none=True, validate=validate.Range(min=100, max=100_000))
    laboratory = text(100)
    report_number = text(60)


class StrengthImportRowSchema(StrengthResultSchema):
    pour_id = ref(big=True, required=True)


class StrengthImportResultSchema(Schema):
    imported = fields.Integer()
    ids = fields.List(fields.Integer())


class ChecklistItemSchema(Schema):
    key = fields.String(required=True, validate=pattern(r"[a-z0-9_]{1,40}"))
    text_en = text(200, required=True, min_length=1)
    text_zh = text(200, required=True, min_length=1)
    kind = fields.String(required=True, validate=validate.OneOf(
        ["pass_fail", "measured", "text", "photo"]))
    category = text(40, metadata={"description": "The NCR category a failure opens"})
    nominal = JsonNumber(allow_none=True, metadata={
        "description": "Measured items: the design value (else the value is the deviation)"})
    tolerance = JsonNumber(validate=validate.Range(min=0, max=10_000), metadata={
        "description": "Measured items: the allowed deviation either way, e.g. 5 (mm)"})
    unit = text(10)


class ChecklistSchema(Schema):
    id = fields.Integer(dump_only=True)
    component_type_id = fields.Integer(dump_only=True)
    stage = fields.String(required=True, validate=validate.OneOf(
        ["pre_pour", "post_demould", "pre_delivery", "site_acceptance"]))
    items = fields.List(fields.Nested(ChecklistItemSchema), required=True,
                        validate=validate.Length(min=1, max=100))
    updated_at = fields.AwareDateTime(dump_only=True)


class InspectionAnswerSchema(Schema):
    key = fields.String(required=True, validate=pattern(r"[a-z0-9_]{1,40}"))
    passed = JsonBoolean(allow_none=True)
    value = JsonNumber(allow_none=True, validate=validate.Range(min=-1e6, max=1e6))
    note = text(500, allow_none=True)
    text = text(500, allow_none=True)  # noqa: F811 (the field shadows the helper from here on)
    photo_ids = fields.List(ref(big=True), validate=validate.Length(max=20))


class InspectionSchema(Schema):
    id = fields.Integer(dump_only=True)
    component_id = fields.Integer(dump_only=True)
    template_id = fields.Integer(dump_only=True)
    stage = fields.String(required=True, validate=validate.OneOf(
        ["pre_pour", "post_demould", "pre_delivery", "site_acceptance"]))
    inspected_at = moment(load_default=None, allow_none=True)
    results = fields.List(fields.Nested(InspectionAnswerSchema), required=True,
                          validate=validate.Length(min=1, max=100))
    passed = fields.Boolean(dump_only=True)
    inspector = fields.String(dump_only=True)
    ncr_event_id = fields.Integer(dump_only=True, allow_none=True)


class GateOverrideSchema(Schema):
    id = fields.Integer(dump_only=True)
    gate = fields.String(required=True, validate=validate.OneOf(sorted(lifecycle.GATES)))
    reason = text(500, required=True, min_length=3)
    by = fields.String(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class InspectionViewSchema(InspectionSchema):
    results = fields.List(fields.Dict(), dump_only=True, metadata={
        "description": "Each item as filled: key, kind, passed, value, deviation, text, "
                       "note, photo_ids"})


class PourResultSchema(Schema):
    specimen = fields.String()
    age_days = fields.Integer()
    strength_mpa = fields.Float()
    tested_at = fields.AwareDateTime()


class ComponentPourSchema(Schema):
    id = fields.Integer()
    cast_at = fields.AwareDateTime()
    mould = fields.String()
    concrete_grade = fields.String()
    mix = fields.String()
    curing_method = fields.String()
    strength_results = fields.List(fields.Nested(PourResultSchema))


class ComponentProductionSchema(Schema):
    pour = fields.Nested(ComponentPourSchema, allow_none=True)
    stripping_strength_mpa = fields.Float(allow_none=True)
    delivery_strength_mpa = fields.Float(allow_none=True)
    checklist_stages = fields.List(fields.String())
    inspections = fields.List(fields.Nested(InspectionViewSchema))
    gate_overrides = fields.List(fields.Nested(GateOverrideSchema))


# --- loads -----------------------------------------------------------------------------

LOAD_STATES = lifecycle.LOAD_STATES
LOAD_SCAN_ACTIONS = ("load", "depart", "arrive", "accept_delivery", "reject_delivery")
_COMPONENT_IDS = dict(validate=validate.Length(min=1, max=500))


def _weight(**kw) -> Rounded:
    return Rounded(1, validate=validate.Range(min=0.1, max=1_000_000), **kw)


class LoadFieldsSchema(Changeable):
    """The parts of a load its builder sets."""

    vehicle = text(20, metadata={"description": "The truck's plate"})
    driver = text(100)
    trailer_type = text(40)
    planned_departure_at = moment(allow_none=True)
    planned_arrival_at = moment(allow_none=True)
    note = text(500)
    max_weight_kg = _weight(allow_none=True, metadata={
        "description": "The truck's payload: components beyond it are refused"})
    component_ids = fields.List(ref(big=True), validate=validate.Length(max=500), metadata={
        "description": "The components in loading order (the first goes on first, at the "
                       "bottom); in a change, the whole new list"})


class LoadCreateSchema(LoadFieldsSchema):
    project_id = ref(required=True)


class LoadItemViewSchema(Schema):
    position = fields.Integer()
    component_id = fields.Integer()
    code = fields.String()
    mark = fields.String()
    component_type = fields.String()
    weight_kg = fields.Float(allow_none=True)
    storey = fields.String(allow_none=True)
    state = fields.String()
    on_hold = fields.Boolean()
    damaged = fields.Boolean()
    ncr_open = fields.Boolean()


class LoadSummarySchema(Schema):
    id = fields.Integer()
    project_id = fields.Integer()
    code = fields.String(metadata={"description": "The internal load code (typed by hand)"})
    display_code = fields.String()
    sscc = fields.String(allow_none=True, metadata={
        "description": "The GS1 SSCC, when a GS1 company prefix is configured"})
    sscc_text = fields.String(allow_none=True)
    label_url = fields.String(metadata={
        "description": "The signed link the load label's QR code holds: "
                       "{PUBLIC_BASE_URL}/00/{sscc} (or /l/{code}) with its signature"})
    state = fields.String(validate=validate.OneOf(LOAD_STATES))
    next_actions = fields.List(fields.String())
    vehicle = fields.String()
    driver = fields.String()
    trailer_type = fields.String()
    planned_departure_at = fields.String(allow_none=True)
    planned_arrival_at = fields.String(allow_none=True)
    note = fields.String()
    max_weight_kg = fields.Float(allow_none=True)
    weight_kg = fields.Float()
    piece_count = fields.Integer()
    created_at = fields.String(allow_none=True)
    loaded_at = fields.String(allow_none=True)
    departed_at = fields.String(allow_none=True)
    arrived_at = fields.String(allow_none=True)
    received_at = fields.String(allow_none=True)


class LoadViewSchema(LoadSummarySchema):
    items = fields.List(fields.Nested(LoadItemViewSchema))


LoadPageSchema = page_schema(LoadSummarySchema, "LoadPageSchema")


class LoadQueryArgs(PageArgs):
    project_id = ref()
    state = fields.String(validate=validate.OneOf(LOAD_STATES))
    date = fields.Date(metadata={"description": "The day the truck leaves (planned, else "
                                                "actual), in the reports' time zone"})
    code = text(500, metadata={"description": "What a scanner read: the load label's URL, "
                                              "the SSCC or the load code"})


class LoadItemsSchema(Schema):
    component_ids = fields.List(ref(big=True), required=True, **_COMPONENT_IDS)


class LoadExceptionSchema(Schema):
    component_id = ref(big=True, required=True)
    action = fields.String(required=True,
                           validate=validate.OneOf(("reject_delivery", "report_damage")))
    note = text(500, load_default="")


class LoadScanSchema(Schema):
    # Any action is read here; the load then says which it takes (after it is found).
    action = fields.String(required=True, validate=validate.OneOf(lifecycle.ACTIONS), metadata={
        "description": "One of " + ", ".join(LOAD_SCAN_ACTIONS)})
    client_event_id = text(64, required=True, min_length=8, metadata={
        "description": "Unique per user: the same id again returns the original events"})
    client_time = moment(load_default=None, allow_none=True)
    location = fields.Nested(LocationSchema, load_default=None, allow_none=True,
                             validate=_small_json(2000))
    device = text(100, load_default=None, allow_none=True)
    exceptions = fields.List(fields.Nested(LoadExceptionSchema), load_default=None,
                             allow_none=True, validate=validate.Length(max=500), metadata={
                                 "description": "With accept_delivery: components rejected "
                                                "or reported damaged instead of accepted"})


class LoadScanRecordSchema(Schema):
    id = fields.Integer(allow_none=True, metadata={
        "description": "The stored load scan (null when a replay finds none)"})
    action = fields.String()
    client_event_id = fields.String()
    server_time = fields.String(allow_none=True)


class LoadScanResultSchema(PrecompiledSchema):
    load = fields.Nested(LoadViewSchema)
    scan = fields.Nested(LoadScanRecordSchema)
    events = fields.List(fields.Nested(EventSchema))
    components = fields.List(fields.Nested(ComponentStatusSchema))


class LoadPlanSchema(Schema):
    storey_ids = fields.List(ref(), validate=validate.Length(min=1, max=200))
    component_ids = fields.List(ref(big=True), validate=validate.Length(min=1, max=2000))
    max_weight_kg = _weight(required=True)
    max_items = fields.Integer(validate=validate.Range(min=1, max=1000))
    max_length_mm = fields.Integer(validate=validate.Range(min=1, max=100_000))
    accept = JsonBoolean(load_default=False, metadata={
        "description": "Create the proposed loads (every component must be loadable)"})
    vehicle = text(20)
    trailer_type = text(40)

    @validates_schema
    def _one_selection(self, values, **kwargs):
        if ("storey_ids" in values) == ("component_ids" in values):
            raise ValidationError("Send storey_ids or component_ids.", "storey_ids")


class LoadPlanResultSchema(Schema):
    accepted = fields.Boolean()
    loads = fields.List(fields.Dict())


class DeliveriesArgs(Schema):
    since = fields.Date()
    until = fields.Date()


class DeliveryLoadSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    sscc = fields.String(allow_none=True)
    state = fields.String(validate=validate.OneOf(LOAD_STATES))
    vehicle = fields.String()
    piece_count = fields.Integer()
    weight_kg = fields.Float()
    planned_departure_at = fields.String(allow_none=True)
    planned_arrival_at = fields.String(allow_none=True)
    arrived_at = fields.String(allow_none=True)
    eta = fields.String(allow_none=True, metadata={"description": "The planned arrival"})


class DeliveryCountsSchema(Schema):
    planned = fields.Integer()
    in_transit = fields.Integer()
    arrived = fields.Integer()


class DeliveryDaySchema(Schema):
    date = fields.String(metadata={"format": "date", "description": "In the reports' time "
                                                                     "zone"})
    planned = fields.List(fields.Nested(DeliveryLoadSchema))
    in_transit = fields.List(fields.Nested(DeliveryLoadSchema))
    arrived = fields.List(fields.Nested(DeliveryLoadSchema))
    counts = fields.Nested(DeliveryCountsSchema)


class DeliveriesSchema(Schema):
    project_id = fields.Integer()
    since = fields.String(metadata={"format": "date"})
    until = fields.String(metadata={"format": "date"})
    days = fields.List(fields.Nested(DeliveryDaySchema), metadata={
        "description": "Days with a load planned, in transit or arrived, oldest first"})


class ReadinessLoadSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    sscc = fields.String(allow_none=True)
    state = fields.String(validate=validate.OneOf(LOAD_STATES))
    eta = fields.String(allow_none=True, metadata={"description": "The planned arrival"})


class ReadinessComponentSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    mark = fields.String()
    component_type = fields.String()
    install_sequence = fields.Integer(allow_none=True)
    state = fields.String()
    place = fields.String(validate=validate.OneOf(lifecycle.PLACES))
    on_hold = fields.Boolean()
    damaged = fields.Boolean()
    ncr_open = fields.Boolean()
    load = fields.Nested(ReadinessLoadSchema, allow_none=True, metadata={
        "description": "The load it is on, if any"})


class ReadinessCountsSchema(Schema):
    """Where a storey's components are and whether erection can start (services.loads.readiness)."""

    places = fields.Dict(keys=fields.String(validate=validate.OneOf(lifecycle.PLACES)),
                         values=fields.Integer(), metadata={
                             "description": "How many components are in each place"})
    can_start = fields.Boolean(metadata={
        "description": "Every component (but scrapped ones) is on site or installed, none "
                       "held, damaged or with an open NCR"})
    missing = fields.Integer(metadata={"description": "Components not yet on site"})
    blocked = fields.Integer(metadata={"description": "Components held, damaged or with an "
                                                      "open NCR"})


class StoreyReadinessSchema(ReadinessCountsSchema):
    storey_id = fields.Integer()
    storey = fields.String()
    building = fields.String()
    project_id = fields.Integer()
    component_count = fields.Integer()
    components = fields.List(fields.Nested(ReadinessComponentSchema))
