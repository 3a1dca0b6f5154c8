"""Web pages for workers, supervisors, managers and regulators.

Server-rendered pages with small JavaScript modules that call the same
/api/v1 as every other client, signed in by the session cookie (writes carry
the page's CSRF token). Text is translated with Flask-Babel (zh_CN, en).
"""

from __future__ import annotations

import functools
import hashlib
import os
from urllib.parse import urlsplit

from babel.messages.extract import extract
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError, generate_csrf

from construction import lifecycle
from construction.auth import session_principal
from construction.error_handlers import handle_http_exception
from construction.extensions import csrf, lone_read
from construction.i18n import LANGUAGES, page_language
from construction.lifecycle_names import (
    ACTION_LABELS,
    ALERT_KIND_LABELS,
    GATE_LABELS,
    LOAD_STATE_LABELS,
    NCR_CATEGORY_LABELS,
    ROLE_LABELS,
    STAGE_LABELS,
    STATE_LABELS,
    in_language,
)
from construction.models import Component, Photo
from construction.permissions import (
    PUBLIC,
    Principal,
    may,
    project_in_scope,
    readable,
    requires,
)
from construction.rate_limits import sign_in_limit
from construction.services import accounts
from construction.services.audit import record_refusal
from construction.services.photos import CHECKS as PHOTO_CHECKS
from construction.services.projects import find_project

bp = Blueprint("pages", __name__)

# Which page the navigation offers to whom: each is open to the holders of a capability.
NAVIGATION = (("pages.scan", _l("Scan"), "scan.record"),
              ("pages.photos", _l("Photos"), "photo.read"),
              ("pages.dashboard", _l("Dashboard"), "page.dashboard"))


def page(capability: str):
    """Serve a view only to a signed-in user who holds the capability."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = session_principal()
            if principal is None:
                session.pop("user_id", None)
                return redirect(url_for("pages.sign_in", next=request.full_path.rstrip("?")))
            if not may(principal, capability):
                abort(403)
            return view(*args, **kwargs)
        return requires(capability)(wrapper)
    return decorate


# The pages' own forms (sign-in, sign-out, language) are a few fields; uploads go to the API.
PAGE_FORM_MAX_BYTES = 64 * 1024


@bp.before_request
def _protect_forms():
    if request.method == "POST":
        request.max_content_length = PAGE_FORM_MAX_BYTES
        csrf.protect()


@bp.app_context_processor
def _page_context():
    principal = g.get("principal")
    role = principal.role if principal is not None else None
    return {
        "principal": principal,
        "role_label": ROLE_LABELS.get(role, "") if role else "",
        "navigation": [(endpoint, label) for endpoint, label, capability in NAVIGATION
                       if may(principal, capability)],
        "languages": LANGUAGES,
        "locale": page_language(),
    }


@functools.cache
def static_release() -> str:
    """Name this release's static files (a digest of their names, sizes and times)."""
    digest = hashlib.sha256()
    for folder, _dirs, files in sorted(os.walk(os.path.join(bp.root_path, "static"))):
        for name in sorted(files):
            stat = os.stat(os.path.join(folder, name))
            digest.update(f"{folder}/{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


@functools.cache
def script_messages(script: str) -> tuple[str, ...]:
    """Return the texts a page script translates with t("…") (and those of api.js)."""
    found: list[str] = []
    for name in ("api.js", script):
        path = os.path.join(bp.root_path, "static", "js", name)
        with open(path, "rb") as handle:
            found += [message for _line, message, _comments, _context in
                      extract("javascript", handle, keywords={"t": None})]
    return tuple(dict.fromkeys(found))


def page_config(script: str, **extra) -> dict:
    """Return what a page's script needs: token, role, its texts in this language."""
    principal = g.principal
    return {
        "csrf": generate_csrf(), "role": principal.role, "user": principal.user_name,
        "locale": page_language(),
        "states": in_language(STATE_LABELS),
        "actions": in_language(ACTION_LABELS),
        "load_states": in_language(LOAD_STATE_LABELS),
        "stages": in_language(STAGE_LABELS),
        "gates": in_language(GATE_LABELS),
        "ncr_categories": in_language(NCR_CATEGORY_LABELS),
        "alert_kinds": in_language(ALERT_KIND_LABELS),
        "strings": {message: _(message) for message in script_messages(script)},
        **extra,
    }


def _home_for(principal: Principal) -> str:
    for endpoint, _label, capability in NAVIGATION:
        if may(principal, capability):
            return url_for(endpoint)
    return url_for("pages.sign_in")


def _local(target: str | None) -> str | None:
    # Only a path on this site: never send a signed-in user elsewhere.
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and "\\" not in target else None


@bp.get("/")
@requires(PUBLIC)
def index():
    """Send visitors to their first page, or to sign in."""
    principal = session_principal()
    if principal is None:
        return redirect(url_for("pages.sign_in"))
    return redirect(_home_for(principal))


@bp.route("/login", methods=["GET", "POST"])
@requires(PUBLIC)
@sign_in_limit
def sign_in():
    """Sign in to the pages with a user name and password."""
    target = _local(request.values.get("next"))
    if request.method == "POST":
        name = request.form.get("name", "").strip()[:200]
        password = request.form.get("password", "")[:1000]
        address = request.remote_addr or ""
        with lone_read():
            paused = bool(name) and accounts.sign_in_paused(name, address)
        if paused:
            flash(_("Too many wrong passwords. Try again in %(minutes)s minutes.",
                    minutes=current_app.config["SIGN_IN_PAUSE_MINUTES"]), "error")
            return render_template("pages/login.html", next=target, name=name), 429
        with lone_read():
            found = accounts.check_sign_in(name, password) if name and password else None
        if found is None and name:
            accounts.record_sign_in_failure(name, address)
        if found is not None:
            accounts.clear_sign_in_failures(name)
            principal, stamp = found
            _forget_session()  # a new session: nothing carried over but the language
            session.permanent = True
            session.update(user_id=principal.user_id, stamp=stamp)
            current_app.logger.info("page sign-in: %s", principal.user_name)
            return redirect(target or _home_for(principal))
        flash(_("The user name or password is wrong."), "error")
        return render_template("pages/login.html", next=target, name=name), 401
    return render_template("pages/login.html", next=target, name="")


@bp.post("/logout")
@requires(PUBLIC)
def sign_out():
    """End the user's page sessions (on every device)."""
    principal = session_principal()
    if principal is not None:
        accounts.end_page_sessions(principal.user_id)
    _forget_session()
    return redirect(url_for("pages.sign_in"))


def _forget_session() -> None:
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


@bp.get("/language/<code>")
@requires(PUBLIC)
def choose_language(code: str):
    """Switch the pages' language and go back."""
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    return redirect(_local(request.args.get("next")) or url_for("pages.index"))


@bp.get("/scan")
@page("scan.record")
def scan():
    """Scan labels with the camera, a scanner or by hand, and record actions."""
    role = g.principal.role
    return render_template("pages/scan.html", page_data=page_config(
        "scan.js", wasm_url=url_for("static", filename="vendor/zxing_reader.wasm"),
        role_actions=[name for name in lifecycle.RECORDED_ACTIONS
                      if lifecycle.role_may(role, name)],
        needs_record=[name for name, spec in lifecycle.ACTIONS.items() if spec.needs_record],
        stage_order=list(lifecycle.CHECKLIST_STAGES), stage_for_state=lifecycle.STAGE_FOR_STATE,
        may_inspect=may(g.principal, "inspection.record")))


@bp.get("/sw.js")
@requires(PUBLIC)  # the offline scan page's worker: no data in it
def service_worker():
    """Serve the service worker that keeps the scan page usable offline (root scope)."""
    with open(os.path.join(bp.root_path, "static", "js", "sw.js"), encoding="utf-8") as handle:
        script = handle.read()
    lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"]
    script = script.replace("__RELEASE__", static_release()).replace(
        "__PAGE_MAX_AGE_MS__", str(int(lifetime.total_seconds() * 1000)))
    response = Response(script, mimetype="text/javascript")
    # Browsers check for a new worker on every visit; no-cache keeps that cheap.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/photos")
@page("photo.read")
def photos():
    """Upload site photos and list them with their checks."""
    return render_template("pages/photos.html", page_data=page_config(
        "photos.js", may_upload=may(g.principal, "photo.upload")))


@bp.get("/photos/<id:photo_id>")
@page("photo.read")
def photo(photo_id: int):
    """Review one photo: overlay, check results, findings to confirm or dismiss."""
    if not readable(g.principal, Photo, photo_id):
        abort(404)
    role = g.principal.role
    # Confirming a finding records the action behind it: offer only those the role may do.
    outcomes = [outcome for outcome, action in (("hold", "hold"), ("ncr", "qc_fail"))
                if lifecycle.role_may(role, action)]
    return render_template("pages/photo.html", photo_id=photo_id, page_data=page_config(
        "photo.js", photo_id=photo_id, may_decide=may(g.principal, "photo.decide"),
        outcomes=outcomes, checks=list(PHOTO_CHECKS)))


@bp.get("/dashboard")
@page("page.dashboard")
def dashboard():
    """Progress charts, the storey grid, NCRs and alerts of the projects in scope."""
    return render_template("pages/dashboard.html", page_data=page_config(
        "dashboard.js", state_order=list(lifecycle.STATES)))


@bp.get("/projects/<id:project_id>/model")
@page("model.read")
def model(project_id: int):
    """Show the project's building model in 3D, each element coloured by its component's state."""
    if not project_in_scope(g.principal, project_id):
        abort(404)
    project = find_project(project_id=project_id)
    return render_template("pages/model.html", project=project, page_data=page_config(
        "model.js", project_id=project_id, project_code=project.code))


@bp.get("/components/<id:component_id>")
@page("component.read")
def component(component_id: int):
    """Show one component with its history."""
    if not readable(g.principal, Component, component_id):
        abort(404)  # out of scope or absent: the same page
    return render_template("pages/component.html", component_id=component_id,
                           page_data=page_config("component.js",
                                                 component_id=component_id))


@bp.app_errorhandler(CSRFError)
def _csrf_error(error: CSRFError):
    if request.path.startswith("/api/"):
        raise error
    if request.endpoint == "pages.sign_out":
        # A stale form must not leave someone signed in who meant to leave.
        _forget_session()
        return redirect(url_for("pages.sign_in"))
    flash(_("The form expired. Please try again."), "error")
    return redirect(url_for("pages.sign_in", next=_local(request.values.get("next"))))


@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
def _page_error(error):
    """Answer a page's 403 or an unknown address with a page in the user's language."""
    if request.path.startswith("/api/") or request.path == "/health" or (
            request.blueprint not in (None, "pages")):
        return handle_http_exception(error)
    principal = session_principal()  # the navigation of whoever is signed in
    if error.code == 403 and principal is not None:

        record_refusal("forbidden", f"the page is not for the role '{principal.role}'")
    return render_template("pages/error.html", status=error.code), error.code
