"""GET /health: is the service able to do its work."""

from __future__ import annotations

import functools
import importlib.metadata

from flask import Blueprint, current_app
from sqlalchemy import text

from construction.extensions import db

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


@bp.get("/health")
def health():
    """Report the database, migrations, decoders and back ends."""
    report: dict = {"status": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        report["database"] = {"ok": True, "engine": db.engine.dialect.name}
        report["migrations"] = _migrations()
    except Exception as error:  # the report must come back whatever failed
        report["database"] = {"ok": False, "error": str(error.__class__.__name__)}
        report["migrations"] = {"ok": False}
    report["decoders"] = decoders()
    report["labels"] = label_fonts()
    report["back_ends"] = {"storage": current_app.config["STORAGE"],
                           "jobs": current_app.config["JOBS"]}
    healthy = report["database"]["ok"] and report["migrations"]["ok"]
    report["status"] = "ok" if healthy else "unavailable"
    return report, 200 if healthy else 503
