"""The fields and bases every API schema builds on: bounded ids and times, patterns, text
without NUL, JSON-typed booleans and numbers, pages, changes, and where a scan happened."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema


def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("NUL characters are not allowed.")


def small_json(limit: int):
    """Return a check that a JSON value encodes in at most `limit` characters, no NaN or NUL."""

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


def problem_member(description: str = "Why it was refused") -> fields.Dict:
    """A problem+json body inside an answer (an item refused), as the Problem schema says."""
    return fields.Dict(metadata={"description": f"{description}: a problem (type, title, "
                                                "status, detail and its type's members)",
                                 "allOf": [{"$ref": "#/components/schemas/Problem"}]})


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


class Period(Schema):
    """Query arguments with `since` and `until`: one after the other can match nothing, so
    it is refused (422) rather than answered with an empty list. (Equal is allowed: some
    routes count `until` in, as deliveries do.)"""

    @validates_schema
    def _since_not_after_until(self, values, **kwargs):
        since, until = values.get("since"), values.get("until")
        if since is not None and until is not None and since > until:
            raise ValidationError("Comes before since: nothing can match.", "until")


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
