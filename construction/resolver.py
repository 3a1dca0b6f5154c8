"""The pages a phone opens from a label's QR code: /c/{code}, /01/{gtin}/21/{serial}, and
for loads (truck trips) /00/{sscc} and /l/{code}.

Anyone may open them: they say whether the label is genuine and what the
component is. A signed-in user of the project (bearer token or page session) also gets its
position, history, open alerts and a link to its quality certificate. JSON when
asked with Accept. What a page shows is decided in `services/resolver.py`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request, session

from construction.auth import authenticate_request
from construction.errors import ApiProblem, problem_response
from construction.permissions import PUBLIC, Principal, requires
from construction.services.resolver import component_page, load_page
from labels.codes import CodeError, normalize
from labels.payload import LabelIdentity

bp = Blueprint("resolver", __name__)


@bp.get("/c/<code>")
@requires(PUBLIC)  # anyone holding the label; details only for readers in scope
def by_code(code: str):
    """Show the component a short-code label names."""
    try:
        canonical = normalize(code)
    except CodeError:
        return _unknown()
    return _component(LabelIdentity(code=canonical))


@bp.get("/01/<gtin>/21/<path:serial>")
@requires(PUBLIC)
def by_gs1(gtin: str, serial: str):
    """Show the component a GS1 Digital Link label names."""
    return _component(LabelIdentity(gtin=gtin, serial=serial))


@bp.get("/00/<sscc>")
@requires(PUBLIC)
def by_sscc(sscc: str):
    """Show the load (truck trip) a GS1 Digital Link load label names."""
    if len(sscc) != 18 or not sscc.isdigit():
        return _unknown()
    return _load(LabelIdentity(sscc=sscc))


@bp.get("/l/<code>")
@requires(PUBLIC)
def by_load_code(code: str):
    """Show the load a load-code label names."""
    try:
        canonical = normalize(code)
    except CodeError:
        return _unknown()
    return _load(LabelIdentity(load=canonical))


def _component(identity: LabelIdentity):
    view = component_page(identity, _scanned_urls(identity), _viewer(), request.script_root)
    if view is None:
        return _unknown()
    return _answer(view, "resolver.html")


def _load(identity: LabelIdentity):
    view = load_page(identity, _scanned_urls(identity), _viewer())
    if view is None:
        return _unknown()
    return _answer(view, "resolver_load.html")


def _unknown():
    """Answer a label that names nothing of ours: 404, in both languages or as a problem."""
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == \
            "application/json":
        return problem_response("not-found", 404, "No component or load carries this label.")
    label = {"status": "invalid", "reason": "unknown", "title_zh": "未知标签",
             "title_en": "Unknown label"}
    return render_template("resolver_unknown.html", label=label), 404


def _answer(view: dict[str, Any], template: str):
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if best == "application/json":
        response = jsonify(view)
    else:
        response = current_app.make_response(render_template(template, **view))
    # A verdict depends on the query string and the viewer: never cache it in between.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Vary"] = "Accept, Authorization"
    return response


def _scanned_urls(identity: LabelIdentity) -> list[str] | None:
    """Return the signed addresses the label may carry (as scanned here, as printed), or None."""
    if "s" not in request.args:
        return None
    query = request.query_string.decode("ascii", errors="replace")
    bases = [request.host_url.rstrip("/") + request.script_root,
             current_app.config["PUBLIC_BASE_URL"].rstrip("/")]
    return [f"{base}{identity.path()}?{query}" for base in dict.fromkeys(bases)]


def _viewer() -> Principal | None:
    # A bearer token, or the session of someone signed in to the pages.
    if "Authorization" not in request.headers and "user_id" not in session:
        return None
    try:
        return authenticate_request()
    except ApiProblem:
        return None
