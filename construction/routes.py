"""Every route of the app: the API blueprints under /api/v1 and the public pages."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, request, send_from_directory

from construction import pages, resolver
from construction.api import (
    alerts,
    audit,
    components,
    decode,
    epcis,
    health,
    labels,
    ledger,
    loads,
    models,
    photos,
    pours,
    projects,
    reports,
    scans,
    summary,
    webhooks,
)
from construction.errors import describe_problem_type
from construction.extensions import api, mark_read_only
from construction.permissions import PUBLIC, requires
from construction.schemas import OPENAPI_RULES


def _state_cross_field_rules() -> None:
    schemas = api.spec.components.schemas
    for name, rules in OPENAPI_RULES.items():
        schemas[name].update(rules)
    for name, schema in schemas.items():
        if name.endswith("Patch"):  # a change must change something
            schema.setdefault("minProperties", 1)


def register_api(app: Flask) -> None:
    """Register every blueprint and the locally served docs assets."""
    for module in (scans, components, projects, labels, alerts, decode, photos, epcis,
                   webhooks, ledger, reports, audit, pours, models, loads, summary):
        api.register_blueprint(module.blp)
    api.register_blueprint(labels.public)
    api.register_blueprint(ledger.public)
    _state_cross_field_rules()
    app.register_blueprint(health.bp)
    app.register_blueprint(resolver.bp)
    app.register_blueprint(pages.bp)

    @app.before_request
    def _read_only_for_safe_methods():
        if request.method in ("GET", "HEAD", "OPTIONS"):
            mark_read_only()

    # Swagger UI 5 (it reads OpenAPI 3.1), from the npm registry (scripts/vendor-assets.sh).
    assets = Path(app.static_folder) / "vendor" / "swagger-ui"

    @app.get("/api/v1/problems/<type_>")
    @requires(PUBLIC)
    def problem_type(type_: str):
        """Describe one problem type."""
        return describe_problem_type(type_)

    @app.get("/favicon.ico")
    @requires(PUBLIC)
    def favicon():
        """No icon: answered empty, so browsers (the API docs page asks) log no error."""
        return "", 204, {"Cache-Control": "public, max-age=86400"}

    @app.get("/api/v1/docs-assets/<path:filename>")
    @requires(PUBLIC)
    def docs_assets(filename: str):
        """Serve the Swagger UI files from our own static folder (no CDN)."""
        return send_from_directory(os.fspath(assets), filename, max_age=86400)
