"""What every API blueprint shares."""

from __future__ import annotations

import flask_smorest
import marshmallow
from flask import current_app, request
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
    blueprint.before_request(refuse_query_where_none_is_taken)
    return blueprint


def refuse_query_where_none_is_taken() -> None:
    """A route that takes no query parameters refuses any (422), as a route that takes
    some refuses those it does not know (`StrictParser`): `?lang=en` on a document that
    has no such choice must not look obeyed."""
    if not request.args or request.method == "OPTIONS":
        return
    view = current_app.view_functions.get(request.endpoint)
    view_class = getattr(view, "view_class", None)
    method = "get" if request.method == "HEAD" else request.method.lower()
    handler = getattr(view_class, method, None) if view_class is not None else view
    parameters = getattr(handler, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    if any(parameter.get("in") in ("query", "querystring") for parameter in parameters):
        return
    raise ApiProblem("validation-error", "this route takes no query parameters",
                     errors={"query": {name: ["Unknown field."] for name in request.args}})


def _authorize() -> None:
    authorize_request()


def header_device() -> str | None:
    """Return the device the X-Device-Id header names, if any."""
    device = request.headers.get("X-Device-Id")
    if device is not None and not 1 <= len(device) <= 100:
        raise ApiProblem("validation-error", "X-Device-Id has 1 to 100 characters",
                         errors={"X-Device-Id": ["Length must be between 1 and 100."]})
    return device

