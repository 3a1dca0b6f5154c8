"""Every GET route, walked with an admin token over a seeded world, adds and removes no row."""

import io
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select, update

from bim.synthetic import build_model, precast_pieces
from construction.extensions import db
from construction.models import LedgerCheckpoint, Mould, WebhookSubscription
from tests.construction.test_photos_api import jpeg, scene, upload


def _row_counts(app) -> dict[str, int]:
    with app.app_context():
        # The audit log records exports (reads, by design); every other table stays as it is.
        counts = {table.name: db.session.scalar(select(func.count()).select_from(table))
                  for table in db.metadata.sorted_tables if table.name != "audit_record"}
        db.session.rollback()
    return counts


def _seed(world) -> dict:
    """Components in several states, labels (one reprinted), a refused scan, a photo,
    a checkpoint a day old with events after it, a webhook: what the GETs read."""
    labelled = world.component("qc_passed")
    unlabelled = world.component("cast")
    gs1 = world.component("planned", gtin="06912345678908", serial="YWQ-3F-0012")
    label = world.label(labelled["id"])
    world.label(labelled["id"], reprint=True)
    gs1_label = world.label(gs1["id"])
    world.scan(label["url"], "store")  # a revoked label: a security event and an alert
    assert world.client("admin").post("/api/v1/ledger/checkpoints").status_code == 201
    with world.app.app_context():
        db.session.execute(update(LedgerCheckpoint).values(
            created_at=datetime.now(UTC) - timedelta(days=2)))
        db.session.add(WebhookSubscription(
            organization_id=world.ids["org_maker"], created_by_user_id=world.ids["user_admin"],
            url="https://hooks.example.cn/prefab", secret="s" * 40, active=False))
        db.session.commit()
        subscription_id = db.session.scalar(select(WebhookSubscription.id))
    world.component("demoulded")  # events after the checkpoint, not yet sealed
    photo = upload(world, [("wall.jpg", jpeg(scene(world, labelled["id"], (500, 700))))],
                   component_id=labelled["id"])
    assert photo.status_code == 202, photo.get_json()
    alerts = world.client("admin").get("/api/v1/alerts").get_json()["items"]
    admin = world.client("admin")
    with world.app.app_context():
        db.session.add(Mould(organization_id=world.ids["org_maker"], name="M-1"))
        db.session.commit()
    pour = admin.post("/api/v1/pours", json={
        "mould": "M-1", "concrete_grade": "C30", "cast_at": "2026-11-25T08:00:00+08:00",
        "component_ids": [gs1["id"]]})
    assert pour.status_code == 201, pour.get_json()
    load = admin.post("/api/v1/loads", json={"project_id": world.ids["project_main"]})
    assert load.status_code == 201, load.get_json()
    model = admin.post(f"/api/v1/projects/{world.ids['project_main']}/models", data={
        "file": (io.BytesIO(build_model(precast_pieces(2, storeys=1), storeys=1)
                            .to_string().encode()), "m.ifc")},
        content_type="multipart/form-data")
    assert model.status_code in (200, 202), model.get_json()
    return {
        "pour_id": [pour.get_json()["id"]], "load_id": [load.get_json()["id"]],
        "model_id": [model.get_json()["id"]], "sscc": ["00069012340000000018"],
        "component_id": [labelled["id"], unlabelled["id"]],
        "alert_id": [alerts[0]["id"]], "photo_id": [photo.get_json()["items"][0]["id"]],
        "project_id": [world.ids["project_main"]], "building_id": [world.ids["building_main"]],
        "storey_id": [world.ids["storey_main"]], "type_id": [world.ids["type_main"]],
        "subscription_id": [subscription_id], "kind": ["png", "svg", "pdf"],
        "type_": ["label-invalid"], "filename": ["css/app.css"],
        "gtin": ["06912345678908"], "serial": ["YWQ-3F-0012"],
        "code": [labelled["code"]], "language": ["en"],
        "query": {"resolver.by_code": urlsplit(label["url"]).query,
                  "resolver.by_gs1": urlsplit(gs1_label["url"]).query},
    }


def _paths(app, values: dict) -> list[str]:
    """Every GET route, with each seeded value for its arguments."""
    paths = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods:
                continue
            combinations = [{}]
            for argument in sorted(rule.arguments):
                name = "language" if rule.endpoint == "pages.choose_language" else argument
                combinations = [{**c, argument: v} for c in combinations for v in values[name]]
            for arguments in combinations:
                try:
                    path = url_for(rule.endpoint, **arguments)
                except ValueError:  # a value this route's converter does not take (svg loads)
                    continue
                query = values["query"].get(rule.endpoint)
                paths.append(f"{path}?{query}" if query else path)
    return paths


def test_no_get_route_adds_or_removes_a_row(world):
    values = _seed(world)
    before = _row_counts(world.app)
    assert before["label"] == 3 and before["ledger_checkpoint"] == 1 and before["photo"] == 1
    client = world.client("admin")
    paths = _paths(world.app, values)
    assert len(paths) > 50
    answered = {}
    for path in paths:
        response = client.get(path)
        body = response.get_data()  # streamed exports run to the end
        response.close()
        answered[path] = response.status_code
        assert response.status_code < 500, (path, body[:300])
    assert _row_counts(world.app) == before, answered
    # The walk reached the routes that used to write, and they answered.
    labelled, unlabelled = values["component_id"]
    assert answered[f"/api/v1/components/{labelled}/label.png"] == 200
    assert answered[f"/api/v1/components/{unlabelled}/label.png"] == 409
    assert answered["/api/v1/ledger/checkpoints"] == 200
