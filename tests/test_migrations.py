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


def test_key_ids_grow_under_labels_and_checkpoints_already_made(app):
    """0007 widens key ids in place: rows signed with 4-character ids stay, linked."""
    from sqlalchemy import text

    from construction.models import (
        Component,
        ComponentType,
        Label,
        Organization,
        OrganizationKind,
        Project,
        Role,
        User,
    )

    with app.app_context():
        flask_migrate.downgrade(revision="0009")  # the revision before 0007
        db.session.execute(text(
            "INSERT INTO label_key (key_id, purpose, algorithm, public_key, created_at) "
            "VALUES ('ABCD', 'label', 'Ed25519', 'k', CURRENT_TIMESTAMP)"))
        maker = Organization(name="Maker", kind=OrganizationKind.manufacturer,
                             region_code="3301")
        user = User(name="printer", organization=maker, role=Role.admin)
        project = Project(code="P", name="P", region_code="330106")
        kind = ComponentType(project=project, name="Wall", category="wall_panel")
        component = Component(code="K7M4Q2P9C", project=project, component_type=kind,
                              mark="W-1")
        db.session.add_all([maker, user, project, kind, component])
        db.session.flush()
        db.session.add(Label(component_id=component.id, version=1, key_id="ABCD",
                             url="http://x/c/K7M4Q2P9C?v=1&k=ABCD&s=S",
                             issued_by_user_id=user.id, print_count=1))
        db.session.execute(text(
            "INSERT INTO ledger_checkpoint (sequence, first_sequence, head_hash, merkle_root, "
            "created_at, key_id, statement, signature) "
            "VALUES (1, 1, 'h', 'm', CURRENT_TIMESTAMP, 'ABCD', '{}', 's')"))
        db.session.commit()
        flask_migrate.upgrade()
        assert db.session.execute(text(
            "SELECT label.key_id, label_key.revoked_at, label_key.revoked_reason FROM label "
            "JOIN label_key ON label_key.key_id = label.key_id")).all() == [("ABCD", None, "")]
        long_id = "ABCDEFGHIJKLM"
        db.session.execute(text(
            "INSERT INTO label_key (key_id, purpose, algorithm, public_key, created_at) "
            f"VALUES ('{long_id}', 'label', 'Ed25519', 'k2', CURRENT_TIMESTAMP)"))
        db.session.execute(text(f"UPDATE ledger_checkpoint SET key_id = '{long_id}'"))
        db.session.commit()
        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
                assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        db.session.remove()
    assert drift(app) == []
