"""Health and metrics: /health, /health/live, /health/ready and /metrics."""

from __future__ import annotations

import functools
import importlib.metadata
import ipaddress

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Response, current_app, request, session
from flask_migrate import Migrate
from sqlalchemy import text

from construction import metrics
from construction.auth import authenticate_request
from construction.errors import ApiProblem
from construction.extensions import db
from construction.permissions import PUBLIC, require, requires
from construction.services.labels import label_font
from construction.services.ledger import ledger_lag
from construction.storage import storage
from labels.decode import engines_available

bp = Blueprint("health", __name__)


def _migrations() -> dict:
    heads = current_app.extensions.get("prefabtrace.migration_heads")
    if heads is None:  # reading the scripts takes a quarter of a second: once per process
        migrate: Migrate = current_app.extensions["migrate"].migrate
        heads = set(ScriptDirectory.from_config(migrate.get_config()).get_heads())
        current_app.extensions["prefabtrace.migration_heads"] = heads
    with db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return {"ok": current == heads, "current": sorted(current), "head": sorted(heads)}


@functools.cache
def decoders() -> dict[str, dict]:
    """Report which QR decoding engines run here (and why one does not); fixed per process."""
    versions = {"zxing-cpp": importlib.metadata.version("zxing-cpp"),
                "pyzbar": importlib.metadata.version("pyzbar"),
                "opencv": importlib.metadata.version("opencv-python-headless")}
    return {name: {"available": True, "version": versions[name]} if note is None
            else {"available": False, "note": note + "; decoding goes on without it"}
            for name, note in engines_available().items()}


def label_fonts() -> dict:
    """Report the font label PDFs embed (or why they embed none)."""
    font = label_font()
    if font.note is None:
        return {"font": font.path, "embedded": True}
    return {"font": None, "embedded": False, "note": font.note}


@bp.get("/health")
@requires(PUBLIC)  # a bare liveness answer; details only with a token
def health():
    """Report the database, migrations, ledger sealing, decoders and back ends.

    503 when the database cannot be used; 200 with status `degraded` when
    events wait longer than LEDGER_SEAL_MAX_LAG_S to be sealed (the sealer is
    down or behind: scans are still recorded, so a load balancer must keep
    sending them). Without a valid token or page session the answer is the
    status alone.
    """
    report: dict = {"status": "ok", **_database()}
    if report["migrations"]["ok"]:
        try:
            report["ledger"] = ledger_lag()
        except Exception as error:  # the report must come back whatever failed
            report["ledger"] = {"ok": False, "error": str(error.__class__.__name__)}
        finally:
            db.session.rollback()
    else:
        report["ledger"] = {"ok": False}
    report["decoders"] = decoders()
    report["labels"] = label_fonts()
    report["back_ends"] = {"storage": current_app.config["STORAGE"],
                           "jobs": current_app.config["JOBS"]}
    healthy = report["database"]["ok"] and report["migrations"]["ok"]
    report["status"] = ("unavailable" if not healthy else
                        "ok" if report["ledger"]["ok"] else "degraded")
    if not _signed_in():
        # Versions, file paths and the ledger's figures are for the service's users; a
        # load balancer or a stranger gets the verdict alone.
        report = {"status": report["status"]}
    return report, 200 if healthy else 503


def _database() -> dict:
    """Report whether the database answers and its migrations are at the head."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        return {"database": {"ok": True, "engine": db.engine.dialect.name},
                "migrations": _migrations()}
    except Exception as error:  # the report must come back whatever failed
        db.session.rollback()
        return {"database": {"ok": False, "error": str(error.__class__.__name__)},
                "migrations": {"ok": False}}


@bp.get("/health/live")
@requires(PUBLIC)
def health_live():
    """Say that this process serves requests (no database: a restart would not help it)."""
    return {"status": "alive"}


@bp.get("/health/ready")
@requires(PUBLIC)  # a bare verdict for anyone; what failed only with a token
def health_ready():
    """Report whether this process may take traffic: database, migrations, storage, queue.

    503 problem+json (`not-ready`) naming the checks that failed; a caller
    without a valid token or page session gets the verdict alone.
    """
    checks = _database()
    checks["storage"] = _probe(lambda: _storage().probe())
    if current_app.config["JOBS"] == "rq":
        checks["queue"] = _probe(_ping_redis)
    failed = sorted(name for name, check in checks.items() if not check["ok"])
    signed_in = _signed_in()
    if failed:
        detail = {"failed": failed, "checks": checks} if signed_in else {}
        raise ApiProblem("not-ready", "not ready: " + ", ".join(failed) if signed_in else "",
                         **detail)
    return {"status": "ready", "checks": checks} if signed_in else {"status": "ready"}


def _storage():
    return storage()


def _ping_redis() -> None:
    # Imported here, not at the top: only JOBS=rq loads Redis and RQ.
    from redis import Redis

    connection = Redis.from_url(current_app.config["REDIS_URL"], socket_connect_timeout=1,
                                socket_timeout=1)
    try:
        connection.ping()
    finally:
        connection.close()


def _probe(check) -> dict:
    try:
        check()
    except Exception as error:  # any failure means "not ready", named by its class
        current_app.logger.warning("readiness check failed: %s: %s", type(error).__name__,
                                   str(error).strip()[:200])
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True}


@bp.get("/metrics")
# Public as a route because a caller on this machine (a local Prometheus or
# node agent) needs no token; the view itself refuses everyone else unless
# their token (or page session) holds the `metrics` capability: 401 without
# one, 403 with one that lacks it.
@requires(PUBLIC)
def metrics_view():
    """Expose the service's metrics in Prometheus' text format (loopback or `metrics`)."""
    if not from_loopback():

        require(authenticate_request(), "metrics")
    body, content_type = metrics.exposition(current_app._get_current_object())
    return Response(body, content_type=content_type)


def _loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").strip().strip("[]"))
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def from_loopback() -> bool:
    """Tell whether the request came from this machine, and from no one before it.

    Behind PROXY_HOPS proxies `request.remote_addr` is the client the proxies
    name; the socket's own peer (kept by ProxyFix) must be loopback too, and so
    must every address a forwarding header names: a proxy on this machine
    (declared or not) forwarding a stranger's request makes it a stranger's.
    """
    original = request.environ.get("werkzeug.proxy_fix.orig", {})
    peers = [original.get("REMOTE_ADDR", request.environ.get("REMOTE_ADDR")),
             request.remote_addr]
    peers += request.headers.get("X-Forwarded-For", "").split(",") \
        if request.headers.get("X-Forwarded-For") else []
    if request.headers.get("X-Real-IP"):
        peers.append(request.headers["X-Real-IP"])
    if request.headers.get("Forwarded"):  # RFC 7239's list is not parsed: never trusted
        return False
    return all(_loopback(peer) for peer in peers)


def _signed_in() -> bool:
    if not request.headers.get("Authorization") and not session.get("user_id"):
        return False
    try:
        authenticate_request()
    except ApiProblem:
        return False
    return True
