"""Migrations are the only schema path: they build exactly what the models say."""

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from construction.extensions import db
from tests.conftest import _app


def drift(app) -> list:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_an_empty_database_upgraded_has_no_drift(app):
    # The app fixture's database was built from empty by `flask db upgrade`.
    assert drift(app) == []


def test_upgrade_downgrade_upgrade_on_a_new_sqlite_file(tmp_path):
    app = _app(f"sqlite:///{tmp_path / 'fresh.db'}")
    with app.app_context():
        flask_migrate.upgrade()
        assert "event" in inspect(db.engine).get_table_names()
        flask_migrate.downgrade(revision="base")
        assert inspect(db.engine).get_table_names() == ["alembic_version"]
        flask_migrate.upgrade()
    assert drift(app) == []
    with app.app_context():
        db.engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    app = _app(f"sqlite:///{tmp_path / 'pragmas.db'}")
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
        db.engine.dispose()


@pytest.mark.engine("postgresql")
def test_components_leave_room_for_in_place_updates_on_postgresql(app):
    with app.app_context(), db.engine.connect() as connection:
        options = connection.exec_driver_sql(
            "SELECT reloptions FROM pg_class WHERE relname = 'component'").scalar()
    assert "fillfactor=80" in options


def test_sqlite_synchronous_is_configurable(tmp_path):
    app = _app(f"sqlite:///{tmp_path / 'sync.db'}", SQLITE_SYNCHRONOUS="FULL")
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        db.engine.dispose()
