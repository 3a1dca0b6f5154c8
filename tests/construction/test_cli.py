"""`flask users`, `flask ledger check` and `flask demo load`."""

import json
from urllib.parse import urlsplit

from sqlalchemy import func, select, text

from construction.extensions import db
from construction.models import Component, ComponentType, Event, Storey


def test_users_cli_makes_a_working_token(app, runner):
    result = runner.invoke(args=["users", "create-org", "Hangzhou Station", "--kind",
                                 "regulator", "--region", "3301"])
    assert result.exit_code == 0, result.output
    org_id = int(result.output.split()[1].rstrip(":"))
    result = runner.invoke(args=["users", "create", "inspector-li", "--org", str(org_id),
                                 "--role", "regulator"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1].split()[-1]
    response = app.test_client().get("/api/v1/projects",
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    refused = runner.invoke(args=["users", "create", "bad", "--org", str(org_id),
                                  "--role", "factory_worker", "--no-token"])
    assert refused.exit_code == 0  # a worker in any organization kind is allowed
    wrong = runner.invoke(args=["users", "create", "x", "--org", "999", "--role", "admin"])
    assert wrong.exit_code != 0
    for bad_region in ("%", "", "33a"):
        refused_org = runner.invoke(args=["users", "create-org", f"Wild {bad_region}", "--kind",
                                          "regulator", "--region", bad_region])
        assert refused_org.exit_code != 0 and "region code" in refused_org.output
    duplicate = runner.invoke(args=["users", "create", "inspector-li", "--org", str(org_id),
                                    "--role", "regulator"])
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    assert runner.invoke(args=["users", "token", "1", "--days", "0"]).exit_code != 0
    listing = runner.invoke(args=["users", "list"])
    assert "inspector-li" in listing.output and "pt_" in listing.output


def test_ledger_check_finds_a_tampered_state(world, runner):
    component = world.component("stored")
    assert runner.invoke(args=["ledger", "check"]).exit_code == 0
    with world.app.app_context():
        db.session.execute(text("UPDATE component SET state = 'installed' WHERE id = :id"),
                           {"id": component["id"]})
        db.session.commit()
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 1
    assert f"MISMATCH component {component['id']}" in result.output


def test_ledger_check_finds_a_removed_event(world, runner):
    component = world.component("demoulded")
    with world.app.app_context():
        first = db.session.scalar(select(func.min(Event.id)).where(
            Event.component_id == component["id"]))
        db.session.execute(text("DELETE FROM event WHERE id = :id"), {"id": first})
        db.session.commit()
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 1
    assert "do not replay" in result.output


def test_demo_loads_once_with_tokens_for_every_role(app, runner, tmp_path):
    path = tmp_path / "demo-tokens.json"
    result = runner.invoke(args=["demo", "load", "--tokens", str(path)])
    assert result.exit_code == 0, result.output
    tokens = json.loads(path.read_text())
    assert set(tokens) == {"admin", "project_manager", "factory_worker", "qc_inspector",
                           "site_supervisor", "regulator"}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Component)) >= 550
        assert db.session.scalar(select(func.count()).select_from(ComponentType)) >= 5
        assert db.session.scalar(select(func.count()).select_from(Storey)) == 10
        states = dict(db.session.execute(
            select(Component.state, func.count()).group_by(Component.state)).all())
        marks = db.session.scalar(select(func.count(Component.mark.distinct())))
        components = db.session.scalar(select(func.count()).select_from(Component))
        from construction.models import Label

        labels = db.session.scalars(select(Label.url)).all()
        from construction.models import Load, LoadItem

        loads = dict(db.session.execute(
            select(Load.state, func.count()).group_by(Load.state)).all())
        travelled = db.session.scalar(select(func.count(Component.id)).where(
            Component.state.in_(["loaded", "in_transit", "delivered", "accepted_on_site",
                                 "installed", "connected", "accepted", "rejected"])))
        on_loads = db.session.scalar(select(func.count(LoadItem.component_id.distinct())))
    # Every piece that left the yard went by a load, scanned once per truck.
    assert {"received", "in_transit", "open"} <= set(loads) and on_loads >= travelled > 0
    assert len(labels) == components  # every demo label opens its resolver page
    parts = urlsplit(labels[0])
    page = app.test_client().get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200 and "Genuine label" in page.get_data(as_text=True)
    assert len(states) >= 10 and states["planned"] < components / 2
    assert marks < components  # piece marks repeat
    assert runner.invoke(args=["ledger", "check"]).exit_code == 0
    client = app.test_client()
    for role, token in tokens.items():
        response = client.get("/api/v1/components",
                              headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, role
        assert response.get_json()["total"] == components
    again = runner.invoke(args=["demo", "load", "--tokens", str(path)])
    assert "not loaded" in again.output
    assert json.loads(path.read_text()) == tokens
    path.unlink()
    refreshed = runner.invoke(args=["demo", "load", "--tokens", str(path)])
    assert "new demo tokens" in refreshed.output
    assert set(json.loads(path.read_text())) == set(tokens)


def test_labels_sheet_prints_a_storey(world, runner, tmp_path):
    import numpy as np
    import pypdfium2

    from labels.decode import decode_image

    components = [world.component("planned") for _ in range(3)]
    output = tmp_path / "storey.pdf"
    result = runner.invoke(args=["labels", "sheet", "--project", "P-MAIN", "--building", "B1",
                                 "--storey", "1F", "--layout", "thermal-62x29",
                                 "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert "3 labels on 3 pages" in result.output
    read = set()
    for page in pypdfium2.PdfDocument(output.read_bytes()):
        bitmap = page.render(scale=300 / 72, grayscale=True).to_pil().convert("L")
        read |= {c.text for c in decode_image(np.asarray(bitmap))}
    assert read == {world.label(c["id"])["url"] for c in components}
    missing = runner.invoke(args=["labels", "sheet", "--project", "P-MAIN", "--storey", "9F",
                                  "-o", str(tmp_path / "x.pdf")])
    assert missing.exit_code != 0 and "9F" in missing.output
    unknown = runner.invoke(args=["labels", "sheet", "--project", "NOPE",
                                  "-o", str(tmp_path / "x.pdf")])
    assert unknown.exit_code != 0 and not (tmp_path / "x.pdf").exists()


def test_a_rotated_key_keeps_old_labels_verifying(world, runner, tmp_path):
    import os
    import stat

    folder = tmp_path / "keys"
    world.app.config["LABEL_SIGNING_KEY_FILE"] = str(folder / "key.pem")
    created = runner.invoke(args=["labels", "new-key"])
    assert created.exit_code == 0, created.output
    assert runner.invoke(args=["labels", "new-key"]).exit_code != 0  # never overwritten
    old_component, new_component = world.component("planned"), world.component("planned")
    old_label = world.label(old_component["id"])
    assert len(old_label["key_id"]) == 13 and old_label["key_id"] in created.output
    # What rotations before this one left beside the key.
    (folder / "key.pem.ABCD.retired").write_text("an earlier retired key")
    rotated = runner.invoke(args=["labels", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output
    new_label = world.label(new_component["id"])
    assert new_label["key_id"] != old_label["key_id"]
    # The service's key folder holds the current private key alone.
    assert [p.name for p in folder.iterdir()] == ["key.pem"]
    world.scan(old_label["url"], "cast", expect=201)
    world.scan(new_label["url"], "cast", expect=201)
    keys = {k["key_id"]: k for k in
            world.app.test_client().get("/api/v1/labels/keys").get_json()["keys"]}
    assert keys[old_label["key_id"]]["retired_at"] is not None
    assert keys[new_label["key_id"]]["retired_at"] is None
    listing = runner.invoke(args=["labels", "keys"])
    assert old_label["key_id"] in listing.output and "retired" in listing.output
    # Kept, when asked, in a folder of its own outside the key folder.
    inside = runner.invoke(args=["labels", "rotate-key", "--keep-retired", str(folder)])
    assert inside.exit_code != 0 and "folder of the active key" in inside.output
    assert [p.name for p in folder.iterdir()] == ["key.pem"]
    vault = tmp_path / "vault"
    kept = runner.invoke(args=["labels", "rotate-key", "--keep-retired", str(vault)])
    assert kept.exit_code == 0, kept.output
    assert [p.name for p in vault.iterdir()] == [f"key.pem.{new_label['key_id']}.retired"]
    assert stat.S_IMODE(os.stat(vault).st_mode) == 0o700
    assert [p.name for p in folder.iterdir()] == ["key.pem"]
    world.scan(new_label["url"], "demould", expect=201)


def test_production_needs_an_existing_signing_key(tmp_path, monkeypatch):
    import pytest

    from app import create_app

    monkeypatch.setenv("PREFABTRACE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-real-secret")
    with pytest.raises(RuntimeError, match="LABEL_SIGNING_KEY_FILE"):
        create_app({"LABEL_SIGNING_KEY_FILE": str(tmp_path / "missing.pem")})


def test_a_deactivated_user_is_shut_out_at_once_and_can_come_back(world, runner):
    user_id = world.ids["user_factory_worker"]
    assert world.client("factory_worker").get("/api/v1/components").status_code == 200
    result = runner.invoke(args=["users", "deactivate", str(user_id)])
    assert result.exit_code == 0, result.output
    assert world.client("factory_worker").get("/api/v1/components").status_code == 401
    assert "deactivated" in runner.invoke(args=["users", "list"]).output
    assert runner.invoke(args=["users", "deactivate", "999999"]).exit_code == 1
    assert runner.invoke(args=["users", "activate", str(user_id)]).exit_code == 0
    assert world.client("factory_worker").get("/api/v1/components").status_code == 200


def test_tokens_live_token_default_days_unless_told(world, runner):
    from datetime import UTC, datetime

    from construction.models import ApiToken

    world.app.config["TOKEN_DEFAULT_DAYS"] = 30
    user_id = str(world.ids["user_regulator"])
    assert runner.invoke(args=["users", "token", user_id, "--name", "short"]).exit_code == 0
    assert runner.invoke(args=["users", "token", user_id, "--name", "long", "--days",
                               "400"]).exit_code == 0
    with world.app.app_context():
        lives = {token.name: (token.expires_at - datetime.now(UTC)).days for token in
                 db.session.scalars(db.select(ApiToken).where(
                     ApiToken.name.in_(("short", "long"))))}
    assert lives == {"short": 29, "long": 399}
