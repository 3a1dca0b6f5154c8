"""PrefabTrace: the Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from construction.cli import init_commands
from construction.config import load_config
from construction.error_handlers import init_error_handlers
from construction.extensions import init_extensions
from construction.headers import init_security_headers
from construction.logs import configure_logging as configure_log_lines
from construction.rate_limits import init_rate_limits
from construction.routes import register_api


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the PrefabTrace application."""
    app = Flask("construction", instance_relative_config=True)
    app.config.from_mapping(load_config(app.instance_path, config))
    configure_logging(app)
    configure_proxy(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_response_headers(app)
    register_commands(app)
    return app


def configure_proxy(app: Flask) -> None:
    """Trust the configured number of reverse proxies for client address and scheme."""
    hops = app.config["PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def register_extensions(app: Flask) -> None:
    """Bind the database, migrations and the API to the app."""
    init_extensions(app)


def register_blueprints(app: Flask) -> None:
    """Register the API blueprints and the public routes."""
    register_api(app)


def register_error_handlers(app: Flask) -> None:
    """Answer API errors as application/problem+json, spent rate limits with 429."""
    init_error_handlers(app)
    init_rate_limits(app)


def register_response_headers(app: Flask) -> None:
    """Send security headers (CSP, nosniff, framing, referrer, HSTS over TLS) on every answer."""
    init_security_headers(app)


def register_commands(app: Flask) -> None:
    """Register the `flask users`, `flask ledger` and `flask demo` groups."""
    init_commands(app)


def configure_logging(app: Flask) -> None:
    """Log to stderr (JSON or text lines), with a request id and an access line per request."""
    configure_log_lines(app)
