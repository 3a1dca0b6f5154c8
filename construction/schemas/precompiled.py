"""The precompiled dump: answers on the capture path, dumped as marshmallow does, faster."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

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
