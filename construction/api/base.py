"""What every API blueprint shares."""

from __future__ import annotations

import math
from typing import Any

from flask_smorest import Blueprint

from construction.auth import authorize_request
from construction.text_input import refuse_unsound_json


def api_blueprint(name: str, import_name: str, description: str,
                  url_prefix: str = "/api/v1") -> Blueprint:
    """Return a blueprint whose every request must carry a valid token."""
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix, description=description)
    # Authenticate and check the route's capability before anything else, so that
    # a caller without a valid token or the right role learns nothing from validation.
    blueprint.before_request(_authorize)
    # Then refuse text no view should store (lone surrogates, unparseable numbers).
    blueprint.before_request(refuse_unsound_json)
    return blueprint


def _authorize() -> None:
    authorize_request()


def page_of(items: list, page: int, per_page: int, total: int) -> dict[str, Any]:
    """Return one page of a list with its position and totals."""
    return {"items": items, "page": page, "per_page": per_page, "total": total,
            "pages": math.ceil(total / per_page) if total else 0}
