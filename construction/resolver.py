"""The pages a phone opens from a label's QR code: /c/{code}, /01/{gtin}/21/{serial}, and
for loads (truck trips) /00/{sscc} and /l/{code}.

Anyone may open them: they say whether the label is genuine and what the
component is. A signed-in user of the project (bearer token or page session) also gets its
position, history, open alerts and a link to its quality certificate. JSON when
asked with Accept.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template, request, session
from sqlalchemy import select

from construction.auth import authenticate_request
from construction.errors import ApiProblem
from construction.extensions import db
from construction.lifecycle_names import LOAD_STATE_LABELS, STATE_LABELS, bilingual
from construction.models import (
    Building,
    Component,
    ComponentType,
    Load,
    Organization,
    Project,
    Storey,
)
from construction.permissions import PUBLIC, project_in_scope, requires
from construction.services import loads
from construction.services.alerts import open_alert_kinds
from construction.services.components import component_events
from construction.services.labels import check_label_urls, verifying_keys
from labels.codes import CodeError, display, normalize
from labels.payload import LabelIdentity, verify

bp = Blueprint("resolver", __name__)

VERDICTS = {
    "genuine": ("正品标签", "Genuine label"),
    "revoked": ("已作废的标签", "Revoked label"),
    "invalid": ("伪造或被篡改的标签", "Forged or altered label"),
    # An invalid label whose signing key was revoked: a reprint, not the police.
    "revoked-key": ("签名密钥已吊销的标签", "Label signed with a revoked key"),
    "unverified": ("未签名的链接", "Unsigned link"),
}


@bp.get("/c/<code>")
@requires(PUBLIC)  # anyone holding the label; details only for readers in scope
def by_code(code: str):
    """Show the component a short-code label names."""
    try:
        canonical = normalize(code)
    except CodeError:
        abort(404)
    return _resolve(LabelIdentity(code=canonical),
                    Component.code == canonical)


@bp.get("/01/<gtin>/21/<path:serial>")
@requires(PUBLIC)
def by_gs1(gtin: str, serial: str):
    """Show the component a GS1 Digital Link label names."""
    return _resolve(LabelIdentity(gtin=gtin, serial=serial),
                    (Component.gtin == gtin) & (Component.serial == serial))


@bp.get("/00/<sscc>")
@requires(PUBLIC)
def by_sscc(sscc: str):
    """Show the load (truck trip) a GS1 Digital Link load label names."""
    if len(sscc) != 18 or not sscc.isdigit():
        abort(404)
    return _resolve_load(LabelIdentity(sscc=sscc), Load.sscc == sscc)


@bp.get("/l/<code>")
@requires(PUBLIC)
def by_load_code(code: str):
    """Show the load a load-code label names."""
    try:
        canonical = normalize(code)
    except CodeError:
        abort(404)
    return _resolve_load(LabelIdentity(load=canonical), Load.code == canonical)


def _load_verdict(identity: LabelIdentity, load: Load) -> dict[str, Any]:
    if "s" not in request.args:
        return {"status": "unverified", "reason": "unsigned", "version": None}
    keys, revoked = verifying_keys()
    verdicts = [verify(url, keys, revoked) for url in _scanned_urls(identity)]
    best = next((v for v in verdicts if v.genuine), verdicts[0])
    if best.genuine and best.version != load.label_version:
        return {"status": "revoked", "reason": "revoked", "version": best.version,
                "current_version": load.label_version}
    return {"status": "genuine" if best.genuine else "invalid", "reason": best.reason,
            "version": best.version, "current_version": load.label_version}


def _resolve_load(identity: LabelIdentity, condition):
    load = db.session.scalar(select(Load).where(condition))
    if load is None:
        abort(404)
    project = db.session.get(Project, load.project_id)
    verdict = _load_verdict(identity, load)
    zh, en = bilingual(LOAD_STATE_LABELS, load.state)
    view = loads.load_view(load)
    public = {key: view[key] for key in ("code", "display_code", "sscc", "sscc_text", "state",
                                         "piece_count", "weight_kg", "vehicle",
                                         "planned_arrival_at")}
    result: dict[str, Any] = {
        "label": {**verdict, "title_zh": VERDICTS[verdict["status"]][0],
                  "title_en": VERDICTS[verdict["status"]][1]},
        "load": {**public, "project": project.name, "state_zh": zh, "state_en": en},
        "detail": None,
    }
    if _viewer_may_read(project.id):
        result["detail"] = {key: view[key] for key in ("id", "items", "next_actions", "driver",
                                                       "loaded_at", "departed_at",
                                                       "arrived_at", "received_at")}
    return _answer(result, "resolver_load.html")


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


def _scanned_urls(identity: LabelIdentity) -> list[str]:
    query = request.query_string.decode("ascii", errors="replace")
    bases = [request.host_url.rstrip("/") + request.script_root,
             current_app.config["PUBLIC_BASE_URL"].rstrip("/")]
    return [f"{base}{identity.path()}?{query}" for base in dict.fromkeys(bases)]


_SIGNED_FIRST = ["genuine", "revoked", "invalid", "unknown", "unsigned"]
_SIGNED_INVALID = {"revoked-key", "not-as-issued", "not-issued"}


def _label_verdict(identity: LabelIdentity) -> dict[str, Any]:
    if "s" not in request.args:
        return {"status": "unverified", "reason": "unsigned", "version": None}
    checks = check_label_urls(_scanned_urls(identity))
    # Behind a proxy the host seen here may differ from the printed one: the host whose
    # signature verified tells about the label; the other only fails its signature.
    best = min(checks.values(), key=lambda check: _SIGNED_FIRST.index(
        check.status if check.status != "invalid" or check.reason in _SIGNED_INVALID
        else "unsigned"))
    return {"status": best.status, "reason": best.reason, "version": best.version,
            "current_version": best.current_version}


def _viewer_may_read(project_id: int) -> bool:
    # A bearer token, or the session of someone signed in to the pages.
    if "Authorization" not in request.headers and "user_id" not in session:
        return False
    try:
        principal = authenticate_request()
    except ApiProblem:
        return False
    return project_in_scope(principal, project_id)


def _resolve(identity: LabelIdentity, condition):
    row = db.session.execute(
        select(Component, ComponentType, Project, Organization.name)
        .join(ComponentType, Component.component_type_id == ComponentType.id)
        .join(Project, Component.project_id == Project.id)
        .outerjoin(Organization, ComponentType.manufacturer_id == Organization.id)
        .where(condition)).first()
    if row is None:
        abort(404)
    component, component_type, project, maker = row
    verdict = _label_verdict(identity)
    title = VERDICTS.get(verdict["reason"]) or VERDICTS[verdict["status"]]
    zh, en = bilingual(STATE_LABELS, component.state)
    view: dict[str, Any] = {
        "label": {**verdict, "title_zh": title[0], "title_en": title[1]},
        "component": {"type": component_type.name, "category": component_type.category,
                      "manufacturer": maker, "project": project.name,
                      "state": component.state, "state_zh": zh, "state_en": en,
                      "on_hold": component.on_hold, "damaged": component.damaged},
        "detail": None,
    }
    if _viewer_may_read(project.id):
        storey = db.session.execute(
            select(Storey.name, Building.name).join(Building, Storey.building_id == Building.id)
            .where(Storey.id == component.storey_id)).first() if component.storey_id else None
        alerts = open_alert_kinds(component.id)
        view["detail"] = {
            "id": component.id, "code": component.code, "display_code": display(component.code),
            "mark": component.mark, "gtin": component.gtin, "serial": component.serial,
            "building": storey[1] if storey else None, "storey": storey[0] if storey else None,
            "weight_kg": component_type.weight_kg, "concrete_grade": component_type.concrete_grade,
            "ncr_open": component.ncr_open, "open_alerts": list(alerts),
            "certificate_url": f"{request.script_root}/api/v1/components/{component.id}"
                               "/certificate.pdf",
            "events": [{"action": event.action, "to_state": event.to_state, "user": user,
                        "time": (event.client_time or event.server_time).isoformat()}
                       for event, user in component_events(component.id)[-20:]],
        }
    return _answer(view, "resolver.html")
