"""Label keys, issuing, reprinting, printing, and scanning labels (genuine or not)."""

import io
import uuid

import numpy as np
import pypdfium2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from construction.extensions import db
from construction.models import Alert, Label, SecurityEvent
from labels.decode import decode_image
from labels.keys import public_key_from_text
from labels.payload import LabelIdentity, sign, verify

PROBLEM = "application/problem+json"


def _count(world, model, **where):
    with world.app.app_context():
        query = db.select(db.func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return db.session.scalar(query)


def _public_keys(world):
    response = world.app.test_client().get("/api/v1/labels/keys")
    assert response.status_code == 200
    return {key["key_id"]: public_key_from_text(key["public_key"])
            for key in response.get_json()["keys"]}


def test_keys_are_public_and_verify_labels_offline(world):
    component = world.component("planned")
    label = world.label(component["id"])
    keys = _public_keys(world)
    assert label["key_id"] in keys
    result = verify(label["url"], keys)
    assert result.genuine and result.version == 1
    assert result.identity == LabelIdentity(code=component["code"])
    body = world.app.test_client().get("/api/v1/labels/keys").get_json()["keys"][0]
    assert body["algorithm"] == "Ed25519" and "BEGIN PUBLIC KEY" in body["public_key_pem"]


def test_issuing_is_safe_to_repeat_and_reprinting_revokes(world):
    component = world.component("planned")
    first = world.client("factory_worker").post(
        f"/api/v1/components/{component['id']}/labels", json={})
    assert first.status_code == 201 and first.get_json()["version"] == 1
    again = world.client("factory_worker").post(
        f"/api/v1/components/{component['id']}/labels", json={})
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    reprint = world.client("qc_inspector").post(
        f"/api/v1/components/{component['id']}/labels",
        json={"reprint": True, "reason": "torn in the yard"})
    assert reprint.status_code == 201 and reprint.get_json()["version"] == 2
    listed = world.client("regulator").get(f"/api/v1/components/{component['id']}/labels")
    items = listed.get_json()["items"]
    assert [(i["version"], i["current"]) for i in items] == [(2, True), (1, False)]
    assert items[1]["revoked_reason"] == "torn in the yard"


def test_reprinting_is_for_managers_and_qc_with_a_reason(world):
    component = world.component("planned")
    world.label(component["id"])
    url = f"/api/v1/components/{component['id']}/labels"
    refused = world.client("factory_worker").post(url, json={"reprint": True,
                                                             "reason": "torn"})
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    sheet = world.client("factory_worker").post("/api/v1/labels/sheets", json={
        "project_id": world.ids["project_main"], "reprint": True, "reason": "all of them"})
    assert sheet.status_code == 403
    for reason in (None, "", "   "):
        body = {"reprint": True} if reason is None else {"reprint": True, "reason": reason}
        response = world.client("qc_inspector").post(url, json=body)
        assert response.status_code == 422 and "reason" in response.get_json()["errors"]
    assert _count(world, Label, component_id=component["id"]) == 1
    sheet = world.client("project_manager").post("/api/v1/labels/sheets", json={
        "component_ids": [component["id"]], "reprint": True, "reason": "ink faded"})
    assert sheet.status_code == 200
    labels = world.client("admin").get(url).get_json()["items"]
    assert [label["version"] for label in labels] == [2, 1]
    assert labels[1]["revoked_reason"] == "ink faded"


def test_a_reprint_with_an_idempotency_key_happens_once(world):
    component = world.component("planned")
    world.label(component["id"])
    client = world.client("project_manager")
    headers = {"Idempotency-Key": "reprint-" + uuid.uuid4().hex}
    url = f"/api/v1/components/{component['id']}/labels"
    first = client.post(url, json={"reprint": True, "reason": "lost"}, headers=headers)
    second = client.post(url, json={"reprint": True, "reason": "lost"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["version"] == second.get_json()["version"] == 2
    assert _count(world, Label, component_id=component["id"]) == 2


@pytest.mark.parametrize("role,status", [("regulator", 403), ("site_supervisor", 403),
                                         ("other_worker", 404), ("qc_inspector", 201)])
def test_who_may_print(world, role, status):
    component = world.component("planned")
    response = world.client(role).post(f"/api/v1/components/{component['id']}/labels",
                                       json={})
    assert response.status_code == status
    if status != 201:
        assert response.mimetype == PROBLEM


def test_label_versions_are_read_within_scope(world):
    component = world.component("planned")
    world.label(component["id"])
    assert world.client("regulator").get(
        f"/api/v1/components/{component['id']}/labels").status_code == 200
    assert world.client("far_regulator").get(
        f"/api/v1/components/{component['id']}/labels").status_code == 404
    assert world.client().get(
        f"/api/v1/components/{component['id']}/labels").status_code == 401


@pytest.mark.parametrize("kind,media", [("png", "image/png"), ("svg", "image/svg+xml"),
                                        ("pdf", "application/pdf")])
def test_printing_one_label_issues_version_one_once(world, kind, media):
    component = world.component("qc_passed")
    client = world.client("factory_worker")
    url = f"/api/v1/components/{component['id']}/label.{kind}?layout=thermal-62x29"
    first, second = client.post(url), client.post(url)
    assert first.status_code == second.status_code == 200
    assert first.mimetype == media
    if kind != "pdf":  # a PDF carries its creation time
        assert first.data == second.data
    labels = world.client("admin").get(
        f"/api/v1/components/{component['id']}/labels").get_json()["items"]
    assert len(labels) == 1 and labels[0]["print_count"] == 2
    assert labels[0]["last_layout"] == "thermal-62x29"
    if kind == "png":
        image = np.asarray(Image.open(io.BytesIO(first.data)).convert("L"))
        assert [c.text for c in decode_image(image)] == [labels[0]["url"]]
    if kind == "svg":
        assert "质检 QC: user-admin" in first.get_data(as_text=True)  # who passed QC
    # Reading the label back shows the same one and counts no print.
    shown = client.get(url)
    assert shown.status_code == 200 and shown.mimetype == media
    if kind != "pdf":
        assert shown.data == first.data
    assert world.client("admin").get(f"/api/v1/components/{component['id']}/labels") \
        .get_json()["items"][0]["print_count"] == 2


@pytest.mark.parametrize("kind", ["png", "svg", "pdf"])
def test_reading_a_label_never_issues_one(world, kind):
    component = world.component("planned")
    url = f"/api/v1/components/{component['id']}/label.{kind}"
    for _ in range(2):
        response = world.client("factory_worker").get(url)
        assert response.status_code == 409 and response.mimetype == PROBLEM
        body = response.get_json()
        assert body["type"].endswith("/label-not-issued")
        assert f"POST /api/v1/components/{component['id']}/labels" in body["detail"]
    assert _count(world, Label, component_id=component["id"]) == 0
    assert world.client("regulator").get(url).status_code == 403  # may not print
    assert world.client("other_worker").get(url).status_code == 404
    world.label(component["id"])
    assert world.client("factory_worker").get(url).status_code == 200
    assert _count(world, Label, component_id=component["id"]) == 1


def test_label_layout_and_dpi_are_checked(world):
    component = world.component("planned")
    client = world.client("admin")
    for query in ("layout=a5", "dpi=20", "dpi=x"):
        for send in (client.get, client.post):
            response = send(f"/api/v1/components/{component['id']}/label.png?{query}")
            assert response.status_code == 422 and response.mimetype == PROBLEM
    assert _count(world, Label) == 0


def _decode_pdf(data: bytes) -> list[str]:
    texts = []
    for page in pypdfium2.PdfDocument(data):
        bitmap = page.render(scale=200 / 72, grayscale=True).to_pil().convert("L")
        texts += [c.text for c in decode_image(np.asarray(bitmap))]
    return texts


def test_a_sheet_by_storey_decodes_back_to_every_component(world):
    components = [world.component("planned") for _ in range(4)]
    far = world.component("planned", project="far")
    response = world.client("factory_worker").post("/api/v1/labels/sheets", json={
        "project_id": world.ids["project_main"], "storey_id": world.ids["storey_main"],
        "layout": "a4-3x8"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["X-Label-Count"] == "4"
    read = _decode_pdf(response.data)
    urls = {c["id"]: world.label(c["id"])["url"] for c in components}
    assert sorted(read) == sorted(urls.values())
    assert _count(world, Label, component_id=far["id"]) == 0


def test_a_sheet_by_ids_keeps_their_order_and_refuses_foreign_ids(world):
    first, second = world.component("planned"), world.component("planned")
    far = world.component("planned", project="far")
    client = world.client("factory_worker")
    response = client.post("/api/v1/labels/sheets", json={
        "component_ids": [second["id"], first["id"]], "layout": "thermal-100x70"})
    assert response.status_code == 200
    assert len(pypdfium2.PdfDocument(response.data)) == 2
    refused = client.post("/api/v1/labels/sheets", json={"component_ids": [far["id"]]})
    assert refused.status_code == 404 and refused.get_json()["component_ids"] == [far["id"]]


@pytest.mark.parametrize("body", [{}, {"layout": "a4-3x8"}, {"component_ids": []},
                                  {"component_ids": [1], "layout": "letter"},
                                  {"project_id": "x"}])
def test_bad_sheet_requests_are_422(world, body):
    response = world.client("admin").post("/api/v1/labels/sheets", json=body)
    assert response.status_code == 422 and response.mimetype == PROBLEM


def test_a_sheet_too_large_is_refused_before_anything_is_issued(world):
    for _ in range(3):
        world.component("planned")
    world.app.config["LABEL_SHEET_MAX"] = 2
    response = world.client("admin").post("/api/v1/labels/sheets", json={
        "project_id": world.ids["project_main"]})
    assert response.status_code == 422
    assert _count(world, Label) == 0


# --- scanning labels -----------------------------------------------------------------


def test_a_forged_label_is_refused_and_recorded_once(world):
    component = world.component("planned")
    url = world.label(component["id"])["url"]
    last = url[-1]
    forged = url[:-1] + ("A" if last != "A" else "B")
    event_id = str(uuid.uuid4())
    for _ in range(2):  # a retry records nothing new
        response = world.scan(forged, "cast", role="factory_worker", client_event_id=event_id)
        assert response.status_code == 422 and response.mimetype == PROBLEM
        body = response.get_json()
        assert body["type"].endswith("/label-invalid") and body["reason"] == "bad-signature"
    assert _count(world, SecurityEvent, kind="label-invalid") == 1
    alerts = world.client("regulator").get("/api/v1/alerts?kind=label-invalid").get_json()
    assert alerts["total"] == 1 and alerts["items"][0]["component_id"] == component["id"]
    # The component did not move.
    detail = world.client("admin").get(f"/api/v1/components/{component['id']}").get_json()
    assert detail["state"] == "planned"


def test_another_tenants_labels_resolve_to_nothing_and_raise_nothing(world):
    """A worker of another maker scans our genuine, revoked and forged labels."""
    component = world.component("planned")
    revoked = world.label(component["id"])["url"]
    current = world.label(component["id"], reprint=True)["url"]
    forged = current[:-1] + ("A" if current[-1] != "A" else "B")
    answers = {}
    for name, url in (("current", current), ("revoked", revoked), ("forged", forged)):
        response = world.scan(url, "cast", role="other_worker")
        answers[name] = response.get_json()
        assert response.mimetype == PROBLEM
    # Genuine labels, current or revoked, are as unknown as any code: no version told.
    for name in ("current", "revoked"):
        assert answers[name]["type"].endswith("/unknown-code"), answers[name]
        assert "current_version" not in answers[name]
    assert answers["forged"]["type"].endswith("/label-invalid")
    # Nothing lands on our component, our project's alerts or our quality figures.
    assert _count(world, SecurityEvent, component_id=component["id"]) == 0
    assert _count(world, SecurityEvent, kind="label-revoked") == 0
    assert world.client("admin").get("/api/v1/alerts").get_json()["total"] == 0
    # The same scans by our own worker still name our component.
    response = world.scan(revoked, "cast", role="factory_worker")
    assert response.get_json()["type"].endswith("/label-revoked")
    world.scan(current, "cast", role="factory_worker", expect=201)


def test_a_label_signed_with_an_unknown_key_is_invalid(world):
    component = world.component("planned")
    stranger = Ed25519PrivateKey.generate()
    url = sign("https://trace.example.cn", LabelIdentity(code=component["code"]), 1, stranger)
    response = world.scan(url, "cast")
    assert response.status_code == 422 and response.get_json()["reason"] == "unknown-key"


def test_a_revoked_label_is_refused_and_the_new_one_works(world):
    component = world.component("planned")
    old = world.label(component["id"])["url"]
    new = world.label(component["id"], reprint=True)["url"]
    response = world.scan(old, "cast", role="factory_worker")
    assert response.status_code == 422
    body = response.get_json()
    assert body["type"].endswith("/label-revoked")
    assert body["label_version"] == 1 and body["current_version"] == 2
    assert _count(world, SecurityEvent, kind="label-revoked") == 1
    world.scan(new, "cast", role="factory_worker", expect=201)


def test_a_batch_refuses_bad_labels_item_by_item(world):
    good, bad = world.component("planned"), world.component("planned")
    good_url = world.label(good["id"])["url"]
    bad_url = world.label(bad["id"])["url"].replace("?v=1", "?v=2")
    response = world.client("factory_worker").post("/api/v1/scans/batch", json={"items": [
        {"code": good_url, "action": "cast", "client_event_id": str(uuid.uuid4())},
        {"code": bad_url, "action": "cast", "client_event_id": str(uuid.uuid4())}]})
    assert response.status_code == 200
    outcomes = [item["outcome"] for item in response.get_json()["results"]]
    assert outcomes == ["accepted", "rejected"]
    assert response.get_json()["results"][1]["problem"]["type"].endswith("/label-invalid")


HANGZHOU = {"latitude": 30.2741, "longitude": 120.1551}
NEAR_HANGZHOU = {"latitude": 30.2841, "longitude": 120.1651}
BEIJING = {"latitude": 39.9042, "longitude": 116.4074}


def test_the_same_label_far_apart_at_once_is_flagged_as_a_copy(world):
    component = world.component("planned")
    url = world.label(component["id"])["url"]
    world.scan(url, "cast", role="factory_worker", expect=201, location=HANGZHOU)
    world.scan(url, "demould", role="factory_worker", expect=201, location=NEAR_HANGZHOU)
    assert _count(world, Alert) == 0
    response = world.scan(url, "qc_pass", role="qc_inspector", location=BEIJING)
    assert response.status_code == 201  # flagged, not refused: a person decides
    alerts = world.client("regulator").get(
        f"/api/v1/alerts?component_id={component['id']}").get_json()["items"]
    assert [a["kind"] for a in alerts] == ["copy-impossible-travel"]
    assert alerts[0]["detail"]["distance_km"] > 1000
    detail = world.client("regulator").get(f"/api/v1/components/{component['id']}").get_json()
    assert detail["open_alerts"] == ["copy-impossible-travel"]


def test_an_installed_component_seen_away_from_its_site_is_flagged(world):
    with world.app.app_context():
        from construction.models import Project

        project = db.session.get(Project, world.ids["project_main"])
        project.latitude, project.longitude = HANGZHOU["latitude"], HANGZHOU["longitude"]
        db.session.commit()
    component = world.component("accepted_on_site")
    url = world.label(component["id"])["url"]
    world.scan(url, "install", role="site_supervisor", expect=201, location=NEAR_HANGZHOU)
    assert _count(world, Alert) == 0
    # Days later, a scan 50 km away: impossible travel is not the point, the site is.
    far_away = {"latitude": HANGZHOU["latitude"] + 0.45, "longitude": HANGZHOU["longitude"]}
    with world.app.app_context():
        from construction.models import LabelSighting

        db.session.execute(db.update(LabelSighting).values(latitude=None, longitude=None))
        db.session.commit()
    response = world.scan(url, "arrive", role="site_supervisor", location=far_away)
    assert response.status_code == 409  # the lifecycle refuses it anyway
    kinds = [a["kind"] for a in world.client("admin").get("/api/v1/alerts").get_json()["items"]]
    assert kinds == ["copy-installed-elsewhere"]


def test_more_scans_than_the_lifecycle_explains_are_flagged_once(world):
    world.app.config["COPY_SCAN_SLACK"] = 3
    component = world.component("planned")
    url = world.label(component["id"])["url"]
    world.scan(url, "cast", expect=201)  # 1 event: 4 sightings are explained
    for _ in range(3):
        assert world.scan(url, "cast").status_code == 409
    assert _count(world, Alert) == 0
    for _ in range(2):
        world.scan(url, "cast")
    alerts = world.client("admin").get("/api/v1/alerts?kind=copy-too-many-scans").get_json()
    assert alerts["total"] == 1 and alerts["items"][0]["occurrences"] == 2


def test_alerts_are_scoped_filtered_and_closed_by_project_staff(world):
    component = world.component("planned")
    url = world.label(component["id"])["url"]
    world.scan(url[:-1] + ("A" if url[-1] != "A" else "B"), "cast")
    alert = world.client("admin").get("/api/v1/alerts").get_json()["items"][0]
    assert world.client("far_regulator").get("/api/v1/alerts").get_json()["total"] == 0
    assert world.client("far_regulator").get(
        f"/api/v1/alerts/{alert['id']}").status_code == 404
    assert world.client("regulator").get("/api/v1/alerts?status=open").get_json()["total"] == 1
    assert world.client("regulator").get(
        "/api/v1/alerts?kind=copy-too-many-scans").get_json()["total"] == 0
    assert world.client("admin").get("/api/v1/alerts?kind=nonsense").status_code == 422
    close = f"/api/v1/alerts/{alert['id']}/close"
    assert world.client("regulator").post(close, json={"status": "confirmed"}).status_code == 403
    closed = world.client("project_manager").post(close, json={"status": "confirmed",
                                                               "note": "label removed"})
    assert closed.status_code == 200 and closed.get_json()["status"] == "confirmed"
    again = world.client("project_manager").post(close, json={"status": "confirmed"})
    assert again.status_code == 200
    other = world.client("project_manager").post(close, json={"status": "dismissed"})
    assert other.status_code == 409
    # A new forged scan after closing opens a new alert.
    world.scan(url[:-1] + ("A" if url[-1] != "A" else "B"), "cast")
    assert world.client("admin").get("/api/v1/alerts?status=open").get_json()["total"] == 1


def test_security_events_are_listed_within_scope(world):
    component = world.component("planned")
    url = world.label(component["id"])["url"]
    world.scan(url.replace("?v=1", "?v=7"), "cast")
    world.scan("https://evil.example.com/c/ABCDEFGH2?v=1&k=AAAA&s=" + "A" * 103, "cast")
    assert world.client("admin").get("/api/v1/security-events").get_json()["total"] == 2
    regulator = world.client("regulator").get("/api/v1/security-events").get_json()
    assert regulator["total"] == 1 and regulator["items"][0]["component_id"] == component["id"]
