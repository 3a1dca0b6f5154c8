"""GET /health: is the service able to do its work."""

from __future__ import annotations

import functools
import importlib.metadata
from datetime import UTC, datetime

from flask import Blueprint, current_app, request, session
from sqlalchemy import func, select, text

from construction.extensions import db
from construction.permissions import PUBLIC, requires

bp = Blueprint("health", __name__)


def _migrations() -> dict:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate

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
    from labels.decode import engines_available

    versions = {"zxing-cpp": importlib.metadata.version("zxing-cpp"),
                "pyzbar": importlib.metadata.version("pyzbar"),
                "opencv": importlib.metadata.version("opencv-python-headless")}
    return {name: {"available": True, "version": versions[name]} if note is None
            else {"available": False, "note": note + "; decoding goes on without it"}
            for name, note in engines_available().items()}


@functools.cache
def label_fonts() -> dict:
    """Report the font label PDFs embed (or why they embed none); fixed per process."""
    from labels.render import label_font

    font = label_font()
    if font.note is None:
        return {"font": font.path, "embedded": True}
    return {"font": None, "embedded": False, "note": font.note}


# Unsealed events are counted up to this many: /health stays cheap however far behind.
UNSEALED_COUNT_CAP = 10_000


def _age_s(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else round(max(0.0, (now - moment).total_seconds()), 1)


def ledger_lag() -> dict:
    """Report how far sealing lags: unsealed events, their oldest age, the newest sealed's age.

    Three index lookups (the partial index of unsealed events, the unique
    sequence): cheap enough for a load balancer's every probe.
    """
    from construction.models import Event, LedgerCheckpoint

    unsealed = db.session.scalar(select(func.count()).select_from(
        select(Event.id).where(Event.sequence.is_(None)).limit(UNSEALED_COUNT_CAP).subquery()))
    oldest_unsealed = db.session.scalar(select(Event.server_time).where(
        Event.sequence.is_(None)).order_by(Event.id).limit(1))
    newest_sealed = db.session.scalar(select(Event.server_time).where(
        Event.sequence.is_not(None)).order_by(Event.sequence.desc()).limit(1))
    newest_checkpoint = db.session.scalar(select(LedgerCheckpoint.created_at).order_by(
        LedgerCheckpoint.sequence.desc()).limit(1))
    now = datetime.now(UTC)
    oldest_age = _age_s(oldest_unsealed, now)
    return {"unsealed_events": unsealed, "oldest_unsealed_age_s": oldest_age,
            "newest_sealed_age_s": _age_s(newest_sealed, now),
            "newest_checkpoint_age_s": _age_s(newest_checkpoint, now),
            "max_lag_s": current_app.config["LEDGER_SEAL_MAX_LAG_S"],
            "ok": oldest_age is None or oldest_age <= current_app.config["LEDGER_SEAL_MAX_LAG_S"]}


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
    report: dict = {"status": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        report["database"] = {"ok": True, "engine": db.engine.dialect.name}
        report["migrations"] = _migrations()
    except Exception as error:  # the report must come back whatever failed
        db.session.rollback()
        report["database"] = {"ok": False, "error": str(error.__class__.__name__)}
        report["migrations"] = {"ok": False}
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


def _signed_in() -> bool:
    from construction.auth import authenticate_request
    from construction.errors import ApiProblem

    if not request.headers.get("Authorization") and not session.get("user_id"):
        return False
    try:
        authenticate_request()
    except ApiProblem:
        return False
    return True
