"""What every API blueprint shares."""

from __future__ import annotations

import flask_smorest
import marshmallow
from flask import request
from webargs.flaskparser import FlaskParser

from construction.auth import authorize_request
from construction.errors import ApiProblem
from construction.text_input import refuse_json_sent_as_other, refuse_unsound_json


class StrictParser(FlaskParser):
    """A query parameter that the route does not know is refused (422), not ignored: a
    mistyped filter (`?stat=installed`) would otherwise answer everything, unfiltered."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
                                   "query": marshmallow.RAISE, "querystring": marshmallow.RAISE}


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint, refusing unknown query parameters."""

    ARGUMENTS_PARSER = StrictParser()


def api_blueprint(name: str, import_name: str, description: str,
                  url_prefix: str = "/api/v1") -> Blueprint:
    """Return a blueprint whose every request must carry a valid token."""
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix, description=description)
    # Authenticate and check the route's capability before anything else, so that
    # a caller without a valid token or the right role learns nothing from validation.
    blueprint.before_request(_authorize)
    # Then refuse JSON sent as another type, and text no view should store (lone
    # surrogates, unparseable numbers).
    blueprint.before_request(refuse_json_sent_as_other)
    blueprint.before_request(refuse_unsound_json)
    return blueprint


def _authorize() -> None:
    authorize_request()


def header_device() -> str | None:
    """Return the device the X-Device-Id header names, if any."""
    device = request.headers.get("X-Device-Id")
    if device is not None and not 1 <= len(device) <= 100:
        raise ApiProblem("validation-error", "X-Device-Id has 1 to 100 characters",
                         errors={"X-Device-Id": ["Length must be between 1 and 100."]})
    return device

