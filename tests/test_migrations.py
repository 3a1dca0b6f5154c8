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


def test_tables_that_never_reuse_an_id_keep_autoincrement_through_the_migrations(tmp_path):
    # SQLite's batch migrations rebuild a table: without being told, they drop AUTOINCREMENT
    # and a deleted row's id would be given again.
    app = _app(f"sqlite:///{tmp_path / 'ids.db'}")
    wanted = sorted(table.name for table in db.metadata.sorted_tables
                    if table.dialect_kwargs.get("sqlite_autoincrement"))
    with app.app_context():
        flask_migrate.upgrade()
        flask_migrate.downgrade(revision="-1")
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            sql = dict(connection.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table'").all())
        db.engine.dispose()
    assert "building" in wanted
    assert [name for name in wanted if "AUTOINCREMENT" not in sql[name]] == []


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


def _insert_as_it_was(table_name: str, **values) -> int:
    """Insert a row through the table as the database has it now; fill other NOT NULLs."""
    import datetime as dt

    from sqlalchemy import Boolean, DateTime, Integer, MetaData, Numeric, Table

    table = Table(table_name, MetaData(), autoload_with=db.session.connection())
    for column in table.columns:
        if column.name in values or column.nullable or column.primary_key \
                or column.server_default is not None:
            continue
        kind = column.type
        values[column.name] = (False if isinstance(kind, Boolean) else
                               0 if isinstance(kind, Integer | Numeric) else
                               dt.datetime.now(dt.UTC) if isinstance(kind, DateTime) else "")
    return db.session.execute(table.insert().values(**values)).inserted_primary_key[0]


def test_key_ids_grow_under_labels_and_checkpoints_already_made(app):
    """0007 widens key ids in place: rows signed with 4-character ids stay, linked."""
    from sqlalchemy import text

    with app.app_context():
        flask_migrate.downgrade(revision="0009")  # the revision before 0007
        # The schema of 0009, not today's models: rows go in through the tables as they were.
        maker = _insert_as_it_was("organization", name="Maker", kind="manufacturer",
                                  region_code="3301")
        user_id = _insert_as_it_was("user_account", name="printer", organization_id=maker,
                                    role="admin")
        project = _insert_as_it_was("project", code="P", name="P", region_code="330106")
        kind = _insert_as_it_was("component_type", project_id=project, name="Wall",
                                 category="wall_panel")
        component_id = _insert_as_it_was("component", code="K7M4Q2P9C", project_id=project,
                                         component_type_id=kind, mark="W-1",
                                         state="planned")
        db.session.execute(text(
            "INSERT INTO label_key (key_id, purpose, algorithm, public_key, created_at) "
            "VALUES ('ABCD', 'label', 'Ed25519', 'k', CURRENT_TIMESTAMP)"))
        db.session.execute(text(
            "INSERT INTO label (component_id, version, key_id, url, issued_at, "
            "issued_by_user_id, print_count, revoked_reason) VALUES (:component, 1, 'ABCD', "
            "'http://x/c/K7M4Q2P9C?v=1&k=ABCD&s=S', CURRENT_TIMESTAMP, :user, 1, '')"),
            {"component": component_id, "user": user_id})
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
