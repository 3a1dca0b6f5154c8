"""flask backup: a backup restores into empty stores with the same answers, or is refused."""

import hashlib
import json
import os
import shutil

import flask_migrate
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from construction.extensions import db
from construction.services.backups import BackupError, database_is_empty, postgres_tool
from tests.conftest import _app
from tests.construction.test_photos_api import _free_port, jpeg, scene, upload
from tests.databases import drop_postgres, fresh_postgres
from tests.test_migrations import drift


@pytest.fixture
def app(engine_name, tmp_path, request):
    """An app on a database of its own (a PostgreSQL one is made here) and its own photos."""
    if engine_name == "sqlite":
        path = tmp_path / "live.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = fresh_postgres("backup")
    application = _app(url, PHOTO_DIR=str(tmp_path / "photos"))
    if engine_name == "postgresql":
        with application.app_context():
            flask_migrate.upgrade()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    if engine_name == "postgresql":
        drop_postgres(url)


def _seed(world, photo: bool = True) -> dict:
    """Components in several states, a label, a photo, a checkpoint and an event after it."""
    installed = world.component("installed")
    stored = world.component("stored")
    planned = world.component("planned")
    world.label(stored["id"])
    ids = {"components": [installed["id"], stored["id"], planned["id"]]}
    if photo:
        response = upload(world, [("wall.jpg", jpeg(scene(world, installed["id"], (500, 700))))],
                          project_id=world.ids["project_main"], component_id=installed["id"])
        assert response.status_code == 202, response.get_json()
        ids["photo"] = response.get_json()["items"][0]["id"]
    assert world.client("admin").post("/api/v1/ledger/checkpoints").status_code == 201
    world.scan(planned["code"], "cast", expect=201)  # in no checkpoint yet
    return ids


def _answers(world, ids: dict) -> dict:
    """What the API answers about the seeded data (reads write nothing)."""
    client = world.client("admin")
    paths = ["/api/v1/progress", f"/api/v1/progress?project_id={world.ids['project_main']}",
             "/api/v1/ledger/checkpoints", "/api/v1/ledger/keys", "/api/v1/labels/keys"]
    for component_id in ids["components"]:
        paths += [f"/api/v1/components/{component_id}", f"/api/v1/components/{component_id}/events",
                  f"/api/v1/components/{component_id}/proof"]
    if "photo" in ids:
        paths.append(f"/api/v1/photos/{ids['photo']}")
    answers = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_json())
        answers[path] = response.get_json()
    if "photo" in ids:
        image = client.get(f"/api/v1/photos/{ids['photo']}/image")
        assert image.status_code == 200
        answers["image"] = hashlib.sha256(image.data).hexdigest()
    return answers


def _wipe(app, engine_name: str, at_base: bool = False) -> None:
    """Lose the database (no tables, or with `at_base` Alembic's alone, empty) and the photos."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
        if engine_name == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                path = db.engine.url.database + suffix
                if os.path.exists(path):
                    os.remove(path)
        else:
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        if at_base:  # as `flask db downgrade base` leaves a database without rows
            flask_migrate.upgrade()
            flask_migrate.downgrade(revision="base")
        db.engine.dispose()
        assert database_is_empty()
    shutil.rmtree(app.config["PHOTO_DIR"], ignore_errors=True)


def _refused(world, runner, target) -> str:
    """Restore, expect a refusal that wrote nothing; return what it said."""
    refused = runner.invoke(args=["backup", "restore", "--workers", "1", str(target)])
    assert refused.exit_code == 1, refused.output
    with world.app.app_context():
        assert database_is_empty()
    return refused.output


def _stored_files(app) -> list[str]:
    root = app.config["PHOTO_DIR"]
    return sorted(os.path.relpath(os.path.join(folder, name), root)
                  for folder, _, names in os.walk(root) for name in names)


def test_a_backup_restores_the_same_answers_and_a_verified_ledger(world, runner, tmp_path,
                                                                 engine_name):
    ids = _seed(world)
    before = _answers(world, ids)
    files_before = _stored_files(world.app)
    assert files_before  # the photo, its display copy...
    target = tmp_path / "backup"

    made = runner.invoke(args=["backup", "create", str(target)])
    assert made.exit_code == 0, made.output
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["engine"] == engine_name
    assert manifest["alembic_revision"] == manifest["alembic_head"]
    assert manifest["app_version"] and manifest["created_at"].endswith("Z")
    listed = {entry["path"]: entry for entry in manifest["files"]}
    database_file = "database.sqlite3" if engine_name == "sqlite" else "database.dump"
    assert set(listed) == {database_file, "keys/label-keys.json", "keys/ledger-keys.json",
                           *(f"photos/{name}" for name in files_before)}
    for name, entry in listed.items():
        data = (target / name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"], entry["sha256"])
    for name, path in (("label", "/api/v1/labels/keys"), ("ledger", "/api/v1/ledger/keys")):
        assert json.loads((target / f"keys/{name}-keys.json").read_text()) == before[path]
    assert "PRIVATE" not in (target / "keys/label-keys.json").read_text()

    _wipe(world.app, engine_name, at_base=engine_name == "postgresql")
    restored = runner.invoke(args=["backup", "restore", "--workers", "1", str(target)])
    assert restored.exit_code == 0, restored.output
    assert "the chain and every checkpoint hold" in restored.output
    assert "3 components checked, 0 mismatches" in restored.output

    assert _stored_files(world.app) == files_before
    assert _answers(world, ids) == before
    # The restored database goes on: ids and ledger sequences continue where they were.
    extra = world.component("cast")
    world.scan(extra["code"], "demould", expect=201)
    verified = runner.invoke(args=["ledger", "verify", "--workers", "1"])
    assert verified.exit_code == 0, verified.output


def test_a_changed_missing_or_added_file_refuses_the_backup_before_anything_is_written(
        world, runner, tmp_path, engine_name):
    _seed(world, photo=False)
    target = tmp_path / "backup"
    assert runner.invoke(args=["backup", "create", str(target)]).exit_code == 0
    _wipe(world.app, engine_name, at_base=engine_name == "sqlite")
    database_file = target / ("database.sqlite3" if engine_name == "sqlite" else "database.dump")
    original = database_file.read_bytes()
    middle = len(original) // 2
    database_file.write_bytes(original[:middle] + bytes([original[middle] ^ 1])
                              + original[middle + 1:])

    said = _refused(world, runner, target)
    assert f"{database_file.name}: SHA-256 differs from the manifest" in said
    assert "nothing restored" in said

    database_file.write_bytes(original)
    (target / "keys/ledger-keys.json").unlink()
    (target / "photos").mkdir()
    (target / "photos/planted.jpg").write_bytes(b"\xff\xd8\xff")
    said = _refused(world, runner, target)
    assert "keys/ledger-keys.json: missing" in said
    assert "photos/planted.jpg: not in the manifest" in said
    assert _stored_files(world.app) == []


def test_restore_refuses_a_database_or_photo_store_that_is_not_empty(world, runner, tmp_path,
                                                                    engine_name):
    ids = _seed(world, photo=False)
    target = tmp_path / "backup"
    assert runner.invoke(args=["backup", "create", str(target)]).exit_code == 0

    refused = runner.invoke(args=["backup", "restore", "--workers", "1", str(target)])
    assert refused.exit_code == 1 and "is not empty" in refused.output
    component = world.client("admin").get(f"/api/v1/components/{ids['components'][0]}")
    assert component.status_code == 200  # the live database is untouched

    _wipe(world.app, engine_name)
    leftover = os.path.join(world.app.config["PHOTO_DIR"], "originals", "ab", "left.jpg")
    os.makedirs(os.path.dirname(leftover))
    with open(leftover, "wb") as handle:
        handle.write(b"\xff\xd8\xff")
    said = _refused(world, runner, target)
    assert f"the photo store {world.app.config['PHOTO_DIR']} is not empty" in said


def test_restore_refuses_a_backup_of_another_migration_revision_without_upgrade(
        world, runner, tmp_path, engine_name):
    _seed(world, photo=False)
    target = tmp_path / "backup"
    assert runner.invoke(args=["backup", "create", str(target)]).exit_code == 0
    _wipe(world.app, engine_name)
    manifest_path = target / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for revision, says in (("0001", "restore with --upgrade"),
                           ("f00dcafe", "which this code does not know")):
        manifest_path.write_text(json.dumps({**manifest, "alembic_revision": revision}))
        assert says in _refused(world, runner, target)
    manifest_path.write_text(json.dumps(manifest))
    assert runner.invoke(args=["backup", "restore", "--workers", "1", str(target)]).exit_code == 0


def test_a_postgresql_tool_of_another_major_version_is_refused():
    with pytest.raises(BackupError, match="install postgresql-client-99"):
        postgres_tool("pg_dump", 99)


@pytest.fixture
def s3_endpoint(world, runner, monkeypatch):
    """The app's photos in a bucket on a local S3 server (moto); yield its address."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    endpoint = f"http://127.0.0.1:{port}"
    world.app.config.update(STORAGE="s3", S3_BUCKET="site-photos", S3_ENDPOINT_URL=endpoint,
                            S3_PREFIX="prefabtrace/")
    world.app.extensions.pop("prefabtrace.storage", None)
    assert runner.invoke(args=["photos", "init-storage"]).exit_code == 0
    yield endpoint
    world.app.extensions.pop("prefabtrace.storage", None)
    server.stop()


@pytest.mark.engine("sqlite")
def test_an_s3_store_is_listed_with_hashes_and_must_hold_its_objects_to_restore(
        world, runner, tmp_path, s3_endpoint):
    import boto3

    ids = _seed(world)
    before = _answers(world, ids)
    target = tmp_path / "backup"
    made = runner.invoke(args=["backup", "create", str(target)])
    assert made.exit_code == 0, made.output
    assert not (target / "photos").exists()
    listing = json.loads((target / "photos-s3.json").read_text())
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    stored = {item["Key"]: item["Size"] for item in
              client.list_objects_v2(Bucket="site-photos")["Contents"]}
    assert {f"prefabtrace/{o['key']}": o["size"] for o in listing["objects"]} == stored
    for item in listing["objects"]:
        body = client.get_object(Bucket="site-photos", Key=f"prefabtrace/{item['key']}")
        assert hashlib.sha256(body["Body"].read()).hexdigest() == item["sha256"]
    assert listing["commands"]["copy_out"] == (
        f"aws s3 sync --endpoint-url {s3_endpoint} s3://site-photos/prefabtrace/ DESTINATION")

    _wipe(world.app, "sqlite")
    gone = f"prefabtrace/{listing['objects'][0]['key']}"
    kept = client.get_object(Bucket="site-photos", Key=gone)["Body"].read()
    client.delete_object(Bucket="site-photos", Key=gone)
    said = _refused(world, runner, target)
    assert "missing from s3://site-photos/prefabtrace/" in said and "aws s3 sync" in said

    client.put_object(Bucket="site-photos", Key=gone, Body=kept)
    restored = runner.invoke(args=["backup", "restore", "--workers", "1", str(target)])
    assert restored.exit_code == 0, restored.output
    assert _answers(world, ids) == before


def test_a_backup_of_an_older_revision_restores_with_upgrade_and_is_migrated(
        world, runner, tmp_path, engine_name):
    # Made before the downgrade: this release's code writes columns the older schema lacks.
    component = world.component("planned")
    with world.app.app_context():
        scripts = ScriptDirectory.from_config(world.app.extensions["migrate"].migrate.get_config())
        older = scripts.get_revision(scripts.get_current_head()).down_revision
        db.session.remove()
        flask_migrate.downgrade(revision=older)
    target = tmp_path / "backup"
    assert runner.invoke(args=["backup", "create", str(target)]).exit_code == 0
    assert json.loads((target / "manifest.json").read_text())["alembic_revision"] == older
    _wipe(world.app, engine_name)

    assert "restore with --upgrade" in _refused(world, runner, target)
    restored = runner.invoke(args=["backup", "restore", "--upgrade", "--workers", "1", str(target)])
    assert restored.exit_code == 0, restored.output
    assert f"upgraded from {older} to {scripts.get_current_head()}" in restored.output
    assert drift(world.app) == []
    answer = world.client("admin").get(f"/api/v1/components/{component['id']}")
    assert answer.status_code == 200 and answer.get_json()["code"] == component["code"]
