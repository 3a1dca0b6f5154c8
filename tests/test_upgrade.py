"""A database made by an earlier release upgrades: its rows stay, its answers hold, its ledger
verifies, and it takes new work. The fixtures are made by scripts/make_release_fixture.py."""

import json
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import flask_migrate
import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, table

from construction.extensions import db
from construction.models import Event, User
from construction.services.accounts import issue_token
from construction.services.backups import libpq_address, postgres_tool, server_major
from tests.conftest import _app
from tests.databases import drop_postgres, fresh_postgres

RELEASES = Path(__file__).parent / "fixtures" / "releases"


def _load(engine_name: str, dump: Path, tmp_path: Path) -> str:
    """Load a release's SQL dump into a new database; return its URL."""
    if engine_name == "sqlite":
        path = tmp_path / "release.db"
        with closing(sqlite3.connect(path)) as connection:
            connection.executescript(dump.read_text(encoding="utf-8"))
        return f"sqlite:///{path}"
    url = fresh_postgres("upgrade")
    app = _app(url)
    with app.app_context():
        with db.engine.connect() as connection:
            major = server_major(connection)
        address, environment = libpq_address(db.engine.url)
        db.engine.dispose()
    subprocess.run([postgres_tool("psql", major), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                    "--single-transaction", f"--dbname={address}", "-f", str(dump)],
                   env=environment, check=True, capture_output=True)
    return url


def _revision() -> str:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _counts(names) -> dict[str, int]:
    return {name: db.session.scalar(select(func.count()).select_from(table(name)))
            for name in names}


def _ledger() -> list[tuple]:
    return db.session.execute(select(Event.id, Event.component_id, Event.action, Event.sequence,
                                     Event.content_hash, Event.chain_hash)
                              .order_by(Event.id)).all()


def _differences(new, old, where: str = "") -> list[str]:
    """Where `new` does not answer what `old` did (fields added since are allowed)."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{where}: {new!r} is not an object"]
        return [difference for key, value in old.items()
                for difference in (_differences(new[key], value, f"{where}.{key}")
                                   if key in new else [f"{where}.{key}: missing"])]
    if isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            return [f"{where}: {new!r} instead of {old!r}"]
        return [difference for index, (item, was) in enumerate(zip(new, old, strict=True))
                for difference in _differences(item, was, f"{where}[{index}]")]
    return [] if new == old else [f"{where}: {new!r} instead of {old!r}"]


def test_differences_name_changed_and_missing_fields_but_allow_new_ones():
    old = {"state": "installed", "events": [{"action": "cast"}]}
    assert _differences({**old, "added_since": 1}, old) == []
    assert _differences({"state": "accepted", "events": [{}]}, old) == [
        ".state: 'accepted' instead of 'installed'", ".events[0].action: missing"]


DERIVED = {"progress_counter"}


@pytest.mark.parametrize("release", sorted(p.name for p in RELEASES.iterdir() if p.is_dir()))
def test_a_database_made_by_an_earlier_release_upgrades_with_its_rows_and_answers(
        engine_name, release, tmp_path):
    facts = json.loads((RELEASES / release / f"{engine_name}.json").read_text(encoding="utf-8"))
    url = _load(engine_name, RELEASES / release / f"{engine_name}.sql", tmp_path)
    app = _app(url, PHOTO_DIR=str(tmp_path / "photos"))
    try:
        with app.app_context():
            assert _revision() == facts["revision"]
            assert _counts(facts["counts"]) == facts["counts"]  # the dump loaded whole
            before = _ledger()
            db.session.remove()  # SQLite: its write lock, which the migration takes
            flask_migrate.upgrade()
            scripts = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
            assert _revision() == scripts.get_current_head()
            after = _counts(facts["counts"])
            # Counters are derived, and a migration may add some (0015's per-project days).
            assert {t: n for t, n in after.items() if t not in DERIVED} == \
                {t: n for t, n in facts["counts"].items() if t not in DERIVED}
            assert all(after[t] >= facts["counts"][t] for t in DERIVED if t in after)
            assert _ledger() == before
            admin = db.session.scalar(select(User.id).where(User.name == facts["admin_user"]))
            token = issue_token(admin, name="upgrade test")[1]
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        for path, answered in facts["answers"].items():
            response = client.get(path)
            assert response.status_code == 200, (path, response.get_json())
            assert _differences(response.get_json(), answered) == [], path

        runner = app.test_cli_runner()
        for command in (["ledger", "verify", "--workers", "1"], ["ledger", "check"]):
            result = runner.invoke(args=command)
            assert result.exit_code == 0, result.output
        # The upgraded database takes new work, and its ledger goes on verifying.
        cast = next(facts["answers"][f"/api/v1/components/{i}"] for i in facts["components"]
                    if facts["answers"][f"/api/v1/components/{i}"]["state"] == "cast")
        scanned = client.post("/api/v1/scans", json={
            "code": cast["code"], "action": "demould", "client_event_id": "after-upgrade-1"})
        assert scanned.status_code == 201, scanned.get_json()
        assert client.post("/api/v1/ledger/checkpoints").status_code == 201
        result = runner.invoke(args=["ledger", "verify", "--workers", "1"])
        assert result.exit_code == 0, result.output
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if engine_name == "postgresql":
            drop_postgres(url)
