"""The precompiled dump of the capture path answers exactly what marshmallow's dump does."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields

from construction.api.epcis import CaptureResultSchema
from construction.schemas import (
    BatchResultSchema,
    LoadScanResultSchema,
    PrecompiledSchema,
    ScanResultSchema,
    precompiled_dump,
)

EVENT = {"id": 7, "component_id": 3, "action": "cast", "from_state": "planned",
         "to_state": "cast", "user": "user-admin", "organization_id": 1, "device": None,
         "client_event_id": "phone-1-0001", "client_time": "2026-11-25T10:00:00+08:00",
         "server_time": "2026-11-25T02:00:01+00:00", "location": {"latitude": 30.2,
                                                                  "longitude": 120.1},
         "data": None, "corrects_event_id": None, "biz_step": "commissioning",
         "disposition": "active"}
COMPONENT = {"id": 3, "code": "ABC-123-XYZ", "state": "cast", "on_hold": False,
             "damaged": False, "ncr_open": False, "allowed_actions": ["demould", "scrap"]}
PROBLEM = {"type": "/api/v1/problems/invalid-transition", "title": "Not allowed",
           "status": 409, "detail": "no", "current_state": "cast", "allowed_actions": []}

SCHEMAS = (ScanResultSchema, BatchResultSchema, LoadScanResultSchema, CaptureResultSchema)


def _marshmallow(schema: Schema, obj, many: bool = False):
    return Schema.dump(schema, obj, many=many)


def _outcome(dump, obj):
    try:
        return "dumped", dump(obj)
    except Exception as error:  # noqa: BLE001 (both dumps must fail alike)
        return "failed", type(error)


@pytest.mark.parametrize("schema_class,obj", [
    (ScanResultSchema, {"event": EVENT, "component": COMPONENT}),
    (ScanResultSchema, {"event": {**EVENT, "id": "7", "organization_id": 1.9, "user": 5,
                                  "data": {"record": "R"}, "unknown": 1},
                        "component": {**COMPONENT, "on_hold": 1, "allowed_actions": ("a",)},
                        "extra": True}),
    (ScanResultSchema, {"event": None}),
    (ScanResultSchema, {}),
    (ScanResultSchema, SimpleNamespace(event=SimpleNamespace(**EVENT), component=COMPONENT)),
    (BatchResultSchema, {"accepted": 1, "duplicate": 0, "rejected": 1, "results": [
        {"index": 0, "outcome": "accepted", "client_event_id": "e-1", "event": EVENT,
         "component": COMPONENT},
        {"index": 1, "outcome": "rejected", "client_event_id": None, "problem": PROBLEM}]}),
    (LoadScanResultSchema, {"load": {"id": 1, "code": "L-1", "weight_kg": 4850, "items": [
        {"position": 1, "component_id": 3, "weight_kg": None}]},
        "scan": {"id": None, "action": "load", "client_event_id": "e-2", "server_time": None},
        "events": [EVENT], "components": [COMPONENT]}),
    (CaptureResultSchema, {"captureErrorBehaviour": "proceed", "accepted": 1, "duplicate": 0,
                           "partial": 0, "rejected": 0, "events": [{
                               "index": 0, "eventID": None, "outcome": "accepted",
                               "action": "cast", "epcs": [{"epc": "https://x/c/A",
                                                           "outcome": "accepted",
                                                           "event": EVENT,
                                                           "component": COMPONENT}]}]}),
])
def test_the_precompiled_dump_answers_what_marshmallow_answers(schema_class, obj):
    schema = schema_class()
    assert isinstance(schema, PrecompiledSchema)
    assert schema.dump(obj) == _marshmallow(schema, obj)
    assert schema.dump([obj, obj], many=True) == _marshmallow(schema, [obj, obj], many=True)


def test_it_converts_what_is_not_of_the_fields_type_as_the_field_does():
    dumped = ScanResultSchema().dump({"event": {"id": "7", "user": 5, "device": b"d"},
                                      "component": {"on_hold": "yes", "id": 2.5,
                                                    "allowed_actions": ("a", 1)}})
    assert dumped == {"event": {"id": 7, "user": "5", "device": "d"},
                      "component": {"id": 2, "on_hold": "yes", "allowed_actions": ["a", "1"]}}


class _Trimmed(fields.String):
    """A string field that fetches its value its own way."""

    def get_value(self, obj, attr, accessor=None, default=None):
        value = super().get_value(obj, attr, accessor=accessor)
        return value.strip() if isinstance(value, str) else value


def test_fields_it_does_not_know_are_left_to_marshmallow():
    class Hooked(Schema):
        when = fields.AwareDateTime()
        shout = fields.Function(lambda obj: obj["name"].upper())
        name = fields.String(attribute="person.name")
        mark = _Trimmed()

    schema = Hooked()
    obj = {"shout": "x", "name": "ada", "person": {"name": "Ada"}, "mark": " W-1 "}
    assert precompiled_dump(schema)(obj) == _marshmallow(schema, obj) == {
        "shout": "ADA", "name": "Ada", "mark": "W-1"}


def _values(field: fields.Field, depth: int) -> st.SearchStrategy:
    """Values of the field's type, and of any other JSON type."""
    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5) \
        | st.floats(allow_nan=False)
    if depth > 0 and isinstance(field, fields.Nested):
        scalars = scalars | _objects(field.schema, depth - 1)
    if depth > 0 and isinstance(field, fields.List):
        scalars = scalars | st.lists(_values(field.inner, depth - 1), max_size=3)
    if isinstance(field, fields.Dict):
        scalars = scalars | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    return scalars


def _objects(schema: Schema, depth: int = 3) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional={
        **{name: _values(field, depth) for name, field in schema.dump_fields.items()},
        "not_a_field": st.integers()})


@pytest.mark.parametrize("schema_class", SCHEMAS)
# Nested objects are large to draw: on a busy machine that is slow, never wrong.
@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_any_object_dumps_or_fails_the_same(schema_class, data):
    schema = schema_class()
    obj = data.draw(_objects(schema))
    assert _outcome(schema.dump, obj) == _outcome(lambda o: _marshmallow(schema, o), obj)
