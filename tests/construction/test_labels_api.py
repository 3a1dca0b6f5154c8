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


# --- keys: revoked, old short ids, only the issued URL --------------------------------


def _scan_refusal(world, url, role="factory_worker") -> dict:
    response = world.scan(url, "cast", role=role)
    assert response.status_code == 422 and response.mimetype == PROBLEM, response.get_json()
    return response.get_json()


def test_labels_signed_with_a_revoked_key_are_refused_until_reprinted(world, runner, tmp_path):
    from urllib.parse import urlsplit

    world.app.config["LABEL_SIGNING_KEY_FILE"] = str(tmp_path / "keys" / "key.pem")
    component = world.component("planned")
    old = world.label(component["id"])
    kid = old["key_id"]
    refused = runner.invoke(args=["labels", "revoke-key", kid, "--reason", "laptop stolen"])
    assert refused.exit_code != 0 and "rotate it first" in refused.output
    assert runner.invoke(args=["labels", "rotate-key"]).exit_code == 0
    world.scan(old["url"], "cast", expect=201)  # retired, not revoked: still genuine
    revoked = runner.invoke(args=["labels", "revoke-key", kid, "--reason", "laptop stolen"])
    assert revoked.exit_code == 0, revoked.output
    assert "P-MAIN: 1 components" in revoked.output and "--reprint" in revoked.output
    # Offline verifiers see it revoked, and refuse what it signed.
    listed = {k["key_id"]: k for k in
              world.app.test_client().get("/api/v1/labels/keys").get_json()["keys"]}
    assert listed[kid]["revoked_at"] is not None
    assert listed[kid]["revoked_reason"] == "laptop stolen"
    offline = verify(old["url"], _public_keys(world),
                     revoked={k for k, v in listed.items() if v["revoked_at"]})
    assert (offline.genuine, offline.reason) == (False, "revoked-key")
    # Scanned: refused as invalid, recorded and flagged like any invalid label.
    body = _scan_refusal(world, old["url"])
    assert body["type"].endswith("/label-invalid") and body["reason"] == "revoked-key"
    assert _count(world, SecurityEvent, kind="label-invalid", reason="revoked-key") == 1
    alerts = world.client("admin").get(
        f"/api/v1/alerts?component_id={component['id']}").get_json()["items"]
    assert [a["kind"] for a in alerts] == ["label-invalid"]
    parts = urlsplit(old["url"])
    page = world.app.test_client().get(f"{parts.path}?{parts.query}",
                                       headers={"Accept": "application/json"}).get_json()
    assert (page["label"]["status"], page["label"]["reason"]) == ("invalid", "revoked-key")
    assert page["label"]["title_en"] == "Label signed with a revoked key"
    # Printing it again is refused; a reprint signs a new version with the current key.
    image = f"/api/v1/components/{component['id']}/label.png"
    for response in (world.client("factory_worker").post(image),
                     world.client("factory_worker").get(image),
                     world.client("factory_worker").post(
                         f"/api/v1/components/{component['id']}/labels", json={})):
        assert response.status_code == 409 and response.mimetype == PROBLEM
        assert response.get_json()["component_ids"] == [component["id"]]
    new = world.label(component["id"], role="qc_inspector", reprint=True)
    assert new["version"] == 2 and new["key_id"] != kid
    world.scan(new["url"], "demould", expect=201)
    # The old label is now a replaced version: told to remove it.
    assert _scan_refusal(world, old["url"])["type"].endswith("/label-revoked")
    # Revoking again changes nothing; unknown keys and empty reasons are refused.
    again = runner.invoke(args=["labels", "revoke-key", kid, "--reason", "another"])
    assert again.exit_code == 0 and "laptop stolen" in again.output
    assert runner.invoke(args=["labels", "revoke-key", "NOPE", "--reason", "x"]).exit_code != 0
    assert runner.invoke(args=["labels", "revoke-key", new["key_id"],
                               "--reason", " "]).exit_code != 0
    assert "revoked" in runner.invoke(args=["labels", "keys"]).output


def test_a_revocation_by_another_process_counts_at_once(world):
    from construction.models import LabelKey

    component = world.component("planned")
    label = world.label(component["id"])
    world.scan(label["url"], "cast", expect=201)  # the keys are now in this process's memory
    with world.app.app_context():
        db.session.execute(db.update(LabelKey).where(LabelKey.key_id == label["key_id"])
                           .values(revoked_at=db.func.now(), revoked_reason="leaked"))
        db.session.commit()
    body = _scan_refusal(world, label["url"])
    assert body["reason"] == "revoked-key"
    with world.app.app_context():
        db.session.execute(db.update(LabelKey).values(revoked_at=None))
        db.session.commit()


def test_a_key_published_with_a_short_id_keeps_it(world, tmp_path):
    from construction.models import LabelKey
    from labels.keys import public_key_text, write_new_key
    from labels.payload import LEGACY_KEY_ID_LENGTH, key_id

    path = tmp_path / "old-key.pem"
    key = write_new_key(path)
    world.app.config["LABEL_SIGNING_KEY_FILE"] = str(path)
    short = key_id(key.public_key(), LEGACY_KEY_ID_LENGTH)
    with world.app.app_context():  # as published before key ids grew
        db.session.add(LabelKey(key_id=short, public_key=public_key_text(key.public_key())))
        db.session.commit()
    component = world.component("planned")
    label = world.label(component["id"])
    assert label["key_id"] == short and f"&k={short}&s=" in label["url"]
    assert verify(label["url"], _public_keys(world)).genuine
    world.scan(label["url"], "cast", expect=201)
    assert [k["key_id"] for k in world.app.test_client().get(
        "/api/v1/labels/keys").get_json()["keys"]].count(short) == 1


def test_only_the_url_issued_for_the_current_version_is_genuine(world):
    from construction.models import LabelKey
    from labels.keys import public_key_text, read_key
    from labels.payload import key_id

    component = world.component("planned")
    label = world.label(component["id"])
    url, identity = label["url"], LabelIdentity(code=component["code"])
    key = read_key(world.app.config["LABEL_SIGNING_KEY_FILE"])
    # Another published key (a retired one whose private half got out) signs the same label.
    other = Ed25519PrivateKey.generate()
    with world.app.app_context():
        db.session.add(LabelKey(key_id=key_id(other.public_key()),
                                public_key=public_key_text(other.public_key())))
        db.session.commit()
    base = world.app.config["PUBLIC_BASE_URL"]
    re_signed = sign(base, identity, 1, other)
    elsewhere = sign("https://trace.example.cn", identity, 1, key, label["key_id"])
    keys = _public_keys(world)
    assert verify(re_signed, keys).genuine and verify(elsewhere, keys).genuine
    query = url.split("?", 1)[1]
    version, kid, signature = query.split("&")
    altered = {
        re_signed: "not-as-issued",
        elsewhere: "not-as-issued",
        url.replace("http://", "HTTP://", 1): "malformed",
        url.replace("/c/", "/C/", 1): "malformed",
        url.split("?")[0] + f"?{kid}&{version}&{signature}": "malformed",
        url + "&x=1": "malformed",
        url.replace("?v=1", "?x=1&v=1"): "malformed",
    }
    for text, reason in altered.items():
        body = _scan_refusal(world, text)
        assert body["type"].endswith("/label-invalid") and body["reason"] == reason, text
    assert _count(world, SecurityEvent, reason="not-as-issued") == 2
    world.scan(url, "cast", expect=201)


def test_labels_and_certificates_print_with_the_configured_font(world):
    import reportlab

    vera = f"{reportlab.__path__[0]}/fonts/Vera.ttf"
    component = world.component("qc_passed")
    client = world.client("factory_worker")
    label = f"/api/v1/components/{component['id']}/label.pdf"
    assert b"BitstreamVeraSans" not in client.post(label).data
    world.app.config["LABEL_FONT"] = vera
    assert b"BitstreamVeraSans" in client.post(label).data
    certificate = world.client("admin").get(
        f"/api/v1/components/{component['id']}/certificate.pdf")
    assert certificate.status_code == 200 and b"BitstreamVeraSans" in certificate.data
