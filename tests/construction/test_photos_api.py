"""Site photos: hardened upload, storage, checks as jobs, findings, progress."""

import io
import socket
from datetime import datetime

import cv2
import numpy as np
import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from construction.extensions import db
from construction.models import Event, Photo, PhotoCheck, Project
from tests.conftest import redis_up
from tests.images import png_declaring
from vision.cracks import width_band

PROBLEM = "application/problem+json"
SITE = (30.272, 120.083)


def jpeg(array: np.ndarray, exif: dict | None = None, orientation: int | None = None,
         taken: str | None = "2026:11:20 10:00:00", gps=SITE, quality: int = 92) -> bytes:
    image = Image.fromarray(array)
    tags = Image.Exif()
    if orientation:
        tags[0x0112] = orientation
    if taken:
        tags[0x8769] = {36867: taken, 36881: "+08:00"}
    if gps:
        def dms(value):
            degrees = int(value)
            minutes = int((value - degrees) * 60)
            return (float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600,
                                                          3))
        tags[0x8825] = {1: "N", 2: dms(gps[0]), 3: "E", 4: dms(gps[1])}
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, exif=tags.tobytes() if (taken or gps or
                                                                         orientation) else b"")
    return buffer.getvalue()


def scene(world, component_id: int, size=(1200, 1600)) -> np.ndarray:
    """A grey wall with the component's printed label stuck on it."""
    png = world.client("admin").post(f"/api/v1/components/{component_id}/label.png"
                                     "?layout=thermal-62x29&dpi=200").data
    label = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    rng = np.random.default_rng(component_id)
    wall = np.clip(rng.normal(150, 12, (*size, 3)), 0, 255).astype(np.uint8)
    top, left = 100, 100
    wall[top:top + label.shape[0], left:left + label.shape[1]] = label
    return wall


def upload(world, files, role="site_supervisor", **fields):
    data = MultiDict({key: str(value) for key, value in fields.items()})
    for name, content in files:
        data.add("image", FileStorage(io.BytesIO(content), filename=name,
                                      content_type="application/octet-stream"))
    # Encoded here: the test client would spool a large body to a file it never closes.
    boundary, body = encode_multipart(data)
    return world.client(role).post("/api/v1/photos", data=body,
                                   content_type=f"multipart/form-data; boundary={boundary}")


def set_site(world):
    with world.app.app_context():
        project = db.session.get(Project, world.ids["project_main"])
        project.latitude, project.longitude = SITE
        db.session.commit()


def test_a_photo_of_a_labelled_component_is_checked_and_linked(world):
    set_site(world)
    component = world.component("accepted_on_site")
    photo = jpeg(scene(world, component["id"]))
    response = upload(world, [("wall.jpg", photo)], component_id=component["id"],
                      claimed_at="2026-11-20T11:00:00+08:00")
    assert response.status_code == 202, response.get_json()
    photo_id = response.get_json()["items"][0]["id"]
    assert response.headers["Location"].endswith(f"/api/v1/photos/{photo_id}")
    body = world.client("regulator").get(f"/api/v1/photos/{photo_id}").get_json()
    assert body["status"] == "done", body["checks"]
    assert set(body["checks"]) == {"labels", "quality", "cracks", "duplicates", "evidence",
                                   "progress"}
    assert all(check["status"] == "done" and check["version"] >= 1
               for check in body["checks"].values())
    assert [c["component_id"] for c in body["components"]] == [component["id"]]
    assert body["components"][0]["genuine"] is True
    labels = body["checks"]["labels"]["result"]["labels"]
    assert labels[0]["pixels_per_module"] >= 3
    quality = body["checks"]["quality"]["result"]
    assert quality["region_source"] == "labels"
    evidence = body["checks"]["evidence"]["result"]
    assert evidence["hours_from_claim"] == 1.0 and evidence["warnings"] == []
    assert evidence["distance_from_site_km"] < 0.01
    # The position is evidence in the database, not in what others see.
    assert body["exif"]["has_gps"] is True and body["exif"]["latitude"] is None
    with world.app.app_context():
        stored = db.session.get(Photo, photo_id)
        assert stored.latitude == pytest.approx(SITE[0], abs=1e-3)
    served = world.client("regulator").get(f"/api/v1/photos/{photo_id}/image")
    assert served.mimetype == "image/jpeg"
    served_image = Image.open(io.BytesIO(served.data))
    assert not served_image.getexif().get_ifd(0x8825) and served_image.size == (1600, 1200)
    overlay = world.client("regulator").get(f"/api/v1/photos/{photo_id}/overlay")
    assert overlay.status_code == 200 and overlay.mimetype == "image/jpeg"
    assert world.client("far_regulator").get(f"/api/v1/photos/{photo_id}").status_code == 404
    history = world.client("regulator").get(f"/api/v1/components/{component['id']}").get_json()
    assert [p["id"] for p in history["evidence"]["photos"]] == [photo_id]
    assert [label["version"] for label in history["evidence"]["labels"]] == [1]


def test_the_same_file_again_is_the_same_photo(world):
    component = world.component("planned")
    photo = jpeg(scene(world, component["id"], size=(600, 800)))
    first = upload(world, [("a.jpg", photo)], project_id=world.ids["project_main"])
    again = upload(world, [("b.jpg", photo)], project_id=world.ids["project_main"])
    assert first.status_code == 202 and again.status_code == 200
    assert first.get_json()["items"][0]["id"] == again.get_json()["items"][0]["id"]
    with world.app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Photo)) == 1


def test_exif_orientation_is_applied(world):
    array = np.zeros((100, 200, 3), np.uint8)
    array[:, :100] = 255  # left half white
    response = upload(world, [("turned.jpg", jpeg(array, orientation=6))],
                      project_id=world.ids["project_main"])
    item = response.get_json()["items"][0]
    assert (item["width"], item["height"]) == (100, 200)
    served = np.asarray(Image.open(io.BytesIO(
        world.client("admin").get(f"/api/v1/photos/{item['id']}/image").data)).convert("L"))
    assert served.shape == (200, 100)
    assert served[:90].mean() > 200 and served[110:].mean() < 50  # rotated 90 degrees
    # A thumbnail keeps the orientation and the proportions.
    small = np.asarray(Image.open(io.BytesIO(world.client("admin").get(
        f"/api/v1/photos/{item['id']}/image?max_side=50").data)).convert("L"))
    assert small.shape == (50, 25)
    assert small[:22].mean() > 200 and small[28:].mean() < 50
    response = world.client("admin").get(f"/api/v1/photos/{item['id']}/image?max_side=5")
    assert response.status_code == 422 and response.mimetype == "application/problem+json"


def _truncated_jpeg() -> bytes:
    data = jpeg(np.full((400, 400, 3), 90, np.uint8), taken=None, gps=None)
    return data[: len(data) // 2]


@pytest.mark.parametrize("content,status,kind", [
    (png_declaring(20000, 20000), 413, "image-too-large"),
    (b"GIF89a" + b"\x00" * 200, 415, "unsupported-image"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", 415, "unsupported-image"),
    (b"\x00\x00\x00\x1cftypheic" + b"\x00" * 100, 415, "unsupported-image"),
    (b"", 422, "unreadable-image"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 300, 422, "unreadable-image"),
])
def test_bad_files_are_refused_and_nothing_is_stored(world, content, status, kind):
    good = jpeg(np.full((300, 300, 3), 128, np.uint8))
    response = upload(world, [("good.jpg", good), ("bad.bin", content)],
                      project_id=world.ids["project_main"])
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert response.mimetype == PROBLEM and body["type"].endswith("/" + kind)
    assert body["file"] == "bad.bin"
    with world.app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Photo)) == 0


def test_a_truncated_jpeg_is_refused(world):
    response = upload(world, [("cut.jpg", _truncated_jpeg())],
                      project_id=world.ids["project_main"])
    assert response.status_code == 422
    assert response.get_json()["type"].endswith("/unreadable-image")


def test_size_limits_and_placement_are_checked(world):
    good = jpeg(np.full((300, 300, 3), 128, np.uint8))
    world.app.config["PHOTO_MAX_BYTES"] = 1000
    assert upload(world, [("big.jpg", good)],
                  project_id=world.ids["project_main"]).status_code == 413
    world.app.config["PHOTO_MAX_BYTES"] = 10_000_000
    assert upload(world, [("x.jpg", good)]).status_code == 422  # documents nothing
    assert upload(world, [], project_id=world.ids["project_main"]).status_code == 422
    assert upload(world, [("x.jpg", good)], project_id="abc").status_code == 422
    far = world.component("planned", project="far")
    assert upload(world, [("x.jpg", good)], component_id=far["id"]).status_code == 404
    assert upload(world, [("x.jpg", good)], role="regulator",
                  project_id=world.ids["project_main"]).status_code == 403
    mismatch = upload(world, [("x.jpg", good)], project_id=world.ids["project_far"],
                      storey_id=world.ids["storey_main"], role="admin")
    assert mismatch.status_code == 422
    plain = world.client("admin").post("/api/v1/photos", json={"project_id": 1})
    assert plain.status_code == 415


def test_missing_exif_is_flagged_not_refused_and_far_photos_make_findings(world):
    set_site(world)
    component = world.component("installed")
    stripped = upload(world, [("chat.jpg", jpeg(scene(world, component["id"], (500, 700)),
                                                taken=None, gps=None))],
                      component_id=component["id"])
    assert stripped.status_code == 202
    evidence = stripped.get_json()["items"][0]["checks"]["evidence"]["result"]
    assert evidence["warnings"] == ["no-exif"]
    assert stripped.get_json()["items"][0]["findings"] == [], [
        (f["kind"], f["detail"]) for f in stripped.get_json()["items"][0]["findings"]]
    beijing = upload(world, [("far.jpg", jpeg(scene(world, component["id"], (500, 701)),
                                              gps=(39.9, 116.4),
                                              taken="2026:10:01 09:00:00"))],
                     component_id=component["id"], claimed_at="2026-11-20T10:00:00+08:00")
    item = beijing.get_json()["items"][0]
    assert set(item["checks"]["evidence"]["result"]["warnings"]) == {"time-mismatch",
                                                                     "far-from-site"}
    findings = [f for f in item["findings"] if f["kind"] == "evidence"]
    assert len(findings) == 1 and findings[0]["component_id"] == component["id"]
    assert findings[0]["status"] == "open"
    # Nothing is held on a guess: only a person's confirmation does it.
    detail = world.client("admin").get(f"/api/v1/components/{component['id']}").get_json()
    assert detail["on_hold"] is False
    url = f"/api/v1/findings/{findings[0]['id']}/confirm"
    assert world.client("regulator").post(url, json={"outcome": "hold"}).status_code == 403
    confirmed = world.client("qc_inspector").post(url, json={"outcome": "hold",
                                                             "note": "photo is from Beijing"})
    assert confirmed.status_code == 200, confirmed.get_json()
    assert confirmed.get_json()["status"] == "confirmed" and confirmed.get_json()["event_id"]
    again = world.client("qc_inspector").post(url, json={"outcome": "hold"})
    assert again.status_code == 200 and again.get_json()["event_id"] == \
        confirmed.get_json()["event_id"]
    detail = world.client("admin").get(f"/api/v1/components/{component['id']}").get_json()
    assert detail["on_hold"] is True and detail["events"][-1]["action"] == "hold"
    dismiss = world.client("qc_inspector").post(
        f"/api/v1/findings/{findings[0]['id']}/dismiss", json={})
    assert dismiss.status_code == 409


def test_a_finding_confirmed_as_ncr_opens_one(world):
    set_site(world)
    component = world.component("qc_passed")
    item = upload(world, [("far.jpg", jpeg(np.full((400, 400, 3), 128, np.uint8),
                                           gps=(39.9, 116.4)))],
                  component_id=component["id"]).get_json()["items"][0]
    finding = item["findings"][0]
    response = world.client("qc_inspector").post(f"/api/v1/findings/{finding['id']}/confirm",
                                                  json={"outcome": "ncr"})
    assert response.status_code == 200
    detail = world.client("admin").get(f"/api/v1/components/{component['id']}").get_json()
    assert detail["ncr_open"] is True and detail["events"][-1]["action"] == "qc_fail"


def test_storey_progress_counts_components_seen_in_photos(world):
    shown, _hidden = world.component("installed"), world.component("installed")
    upload(world, [("storey.jpg", jpeg(scene(world, shown["id"], (600, 800))))],
           storey_id=world.ids["storey_main"])
    progress = world.client("regulator").get(
        f"/api/v1/storeys/{world.ids['storey_main']}/photo-progress").get_json()
    assert progress["planned"] == 2 and progress["verified_by_photo"] == 1
    verified = [c["id"] for c in progress["components"] if c["verified_by_photo"]]
    assert verified == [shown["id"]]
    assert world.client("far_regulator").get(
        f"/api/v1/storeys/{world.ids['storey_main']}/photo-progress").status_code == 404


def test_a_failed_check_is_visible_and_can_be_rerun(world, runner, monkeypatch, caplog):
    from construction.services import photos

    def broken(photo, image, context):
        raise RuntimeError("quality model missing at s3://secret-bucket/models")

    monkeypatch.setitem(photos.RUNNERS, "quality", broken)
    response = upload(world, [("x.jpg", jpeg(np.full((300, 300, 3), 128, np.uint8)))],
                      project_id=world.ids["project_main"])
    item = response.get_json()["items"][0]
    assert item["status"] == "failed"
    assert item["checks"]["quality"]["status"] == "failed"
    # Readers learn that it failed and where to look, not the internals.
    error = item["checks"]["quality"]["error"]
    assert error.startswith("RuntimeError: the check failed") and "secret-bucket" not in error
    assert "quality model missing at s3://secret-bucket/models" in caplog.text
    assert item["checks"]["evidence"]["status"] == "done"  # the others still ran
    monkeypatch.undo()
    result = runner.invoke(args=["photos", "reanalyse", "--failed"])
    assert result.exit_code == 0, result.output
    again = world.client("admin").get(f"/api/v1/photos/{item['id']}").get_json()
    assert again["status"] == "done" and again["checks"]["quality"]["attempts"] == 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_s3_storage_against_a_real_s3_server(world, runner, monkeypatch):
    moto_server = pytest.importorskip("moto.server")
    import boto3

    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            monkeypatch.setenv(name, value)
        endpoint = f"http://127.0.0.1:{port}"
        world.app.config.update(STORAGE="s3", S3_BUCKET="site-photos", S3_ENDPOINT_URL=endpoint,
                                S3_PREFIX="prefabtrace/")
        world.app.extensions.pop("prefabtrace.storage", None)
        assert runner.invoke(args=["photos", "init-storage"]).exit_code == 0
        component = world.component("planned")
        response = upload(world, [("s3.jpg", jpeg(scene(world, component["id"], (500, 700))))],
                          project_id=world.ids["project_main"])
        assert response.status_code == 202
        item = response.get_json()["items"][0]
        client = boto3.client("s3", endpoint_url=endpoint)
        keys = {o["Key"] for o in client.list_objects_v2(Bucket="site-photos")["Contents"]}
        assert f"prefabtrace/display/{item['content_hash'][:2]}/{item['content_hash']}.jpg" \
            in keys
        assert any(key.startswith("prefabtrace/originals/") for key in keys)
        served = world.client("admin").get(f"/api/v1/photos/{item['id']}/image")
        assert served.status_code == 200 and served.data[:3] == b"\xff\xd8\xff"
        assert item["checks"]["labels"]["status"] == "done"
    finally:
        world.app.extensions.pop("prefabtrace.storage", None)
        server.stop()


@pytest.mark.skipif(not redis_up(), reason="Redis is not running on 127.0.0.1:6379")
def test_rq_jobs_run_on_a_real_worker(world, runner):
    from redis import Redis

    queue_name = f"prefabtrace-test-{datetime.now().timestamp()}"
    world.app.config.update(JOBS="rq", REDIS_URL="redis://127.0.0.1:6379/15",
                            RQ_QUEUE=queue_name)
    try:
        component = world.component("planned")
        response = upload(world, [("rq.jpg", jpeg(scene(world, component["id"], (500, 700))))],
                          project_id=world.ids["project_main"])
        assert response.status_code == 202
        item = response.get_json()["items"][0]
        assert item["status"] == "pending"
        assert {c["status"] for c in item["checks"].values()} == {"pending"}
        result = runner.invoke(args=["photos", "worker", "--burst"])
        assert result.exit_code == 0, result.output
        done = world.client("admin").get(f"/api/v1/photos/{item['id']}").get_json()
        assert done["status"] == "done", done["checks"]
        assert [c["component_id"] for c in done["components"]] == [component["id"]]
        with world.app.app_context():
            assert db.session.scalar(db.select(db.func.count()).select_from(PhotoCheck).where(
                PhotoCheck.status == "done")) == 6
    finally:
        Redis.from_url("redis://127.0.0.1:6379/15").flushdb()


def _site_scene(seed: int, size=(900, 1200)) -> np.ndarray:
    """A busy, textured scene with plenty of features (panels, bolts, stains)."""
    rng = np.random.default_rng(seed)
    image = np.full((*size, 3), 128, np.uint8)
    for _ in range(300):
        x, y = int(rng.integers(0, size[1])), int(rng.integers(0, size[0]))
        w, h = (int(v) for v in rng.integers(5, 120, 2))
        image[y:y + h, x:x + w] = rng.integers(20, 235, 3)
    noise = rng.normal(0, 4, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def test_a_reused_photo_is_flagged_even_from_another_project(world):
    original = _site_scene(1)
    first = upload(world, [("site.jpg", jpeg(original))], role="admin",
                   project_id=world.ids["project_main"]).get_json()["items"][0]
    assert first["checks"]["duplicates"]["result"]["duplicate_of"] == []
    height, width = original.shape[:2]
    cropped = original[height // 10: height - height // 10, width // 10: width - width // 10]
    brighter = np.clip(cropped.astype(np.int16) + 30, 0, 255).astype(np.uint8)
    copy = upload(world, [("copy.jpg", jpeg(brighter, quality=70))], role="admin",
                  project_id=world.ids["project_far"]).get_json()["items"][0]
    duplicates = copy["checks"]["duplicates"]["result"]
    assert duplicates["duplicate_of"] == [first["id"]]
    assert duplicates["matches"][0]["project_id"] == world.ids["project_main"]
    assert "duplicate" in [f["kind"] for f in copy["findings"]]
    other = upload(world, [("new.jpg", jpeg(_site_scene(2)))], role="admin",
                   project_id=world.ids["project_main"]).get_json()["items"][0]
    assert other["checks"]["duplicates"]["result"]["duplicate_of"] == []
    assert "duplicate" not in [f["kind"] for f in other["findings"]]
    listed = world.client("admin").get(
        f"/api/v1/photos?project_id={world.ids['project_far']}").get_json()
    assert [p["id"] for p in listed["items"]] == [copy["id"]] and listed["total"] == 1
    assert "duplicate" in [f["kind"] for f in listed["items"][0]["findings"]]
    assert len(listed["items"][0]["checks"]) == 6
    everything = world.client("admin").get("/api/v1/photos").get_json()
    assert [p["id"] for p in everything["items"]] == [other["id"], copy["id"], first["id"]]


def cracked(wall: np.ndarray, seed: int) -> np.ndarray:
    """Draw a meandering dark crack, 4 px wide, right across the wall below its label."""
    rng = np.random.default_rng(seed)
    height, width = wall.shape[:2]
    xs = np.arange(150, width - 150, 8)
    ys = height * 0.65 + np.cumsum(rng.normal(0, 6, len(xs)))
    points = np.column_stack([xs, ys]).round().astype(np.int32)
    wall = wall.copy()
    cv2.polylines(wall, [points], False, (70, 70, 70), thickness=4)
    return wall


def test_a_crack_becomes_a_finding_with_its_width_band(world, monkeypatch):
    set_site(world)
    component = world.component("installed")
    item = upload(world, [("cracked.jpg", jpeg(cracked(scene(world, component["id"]), 1)))],
                  component_id=component["id"]).get_json()["items"][0]
    result = item["checks"]["cracks"]["result"]
    assert result["method"] == "classic" and result["mm_per_px"] > 0
    main = max(result["segments"], key=lambda s: s["length_px"])
    # About 4 px of a 1600 px photo at about 0.1 mm a pixel: wider than 0.3 mm.
    assert main["width_band"] == width_band(main["width_p90_mm"]) == "above-0.3"
    assert main["finding"] is True and main["contrast"] >= 1.5
    found = [f for f in item["findings"] if f["kind"] == "crack"]
    assert len(found) == 1
    detail = found[0]["detail"]
    assert detail["width_band"] == "above-0.3" and detail["width_bands"]["above-0.3"] >= 1
    assert detail["candidates"] >= detail["segments"] >= 1 and detail["longest_mm"] > 100

    # Candidates below the minimum length are shown, but none becomes a finding.
    monkeypatch.setitem(world.app.config, "CRACK_MIN_LENGTH_MM", 10_000.0)
    item = upload(world, [("short.jpg", jpeg(cracked(scene(world, component["id"]), 2)))],
                  component_id=component["id"]).get_json()["items"][0]
    segments = item["checks"]["cracks"]["result"]["segments"]
    assert segments and not any(s["finding"] for s in segments)
    assert [f for f in item["findings"] if f["kind"] == "crack"] == []


def test_the_crack_network_is_chosen_by_configuration(world, monkeypatch):
    monkeypatch.setitem(world.app.config, "CRACK_DETECTOR", "net")
    component = world.component("installed")
    item = upload(world, [("net.jpg", jpeg(cracked(scene(world, component["id"]), 3)))],
                  component_id=component["id"]).get_json()["items"][0]
    result = item["checks"]["cracks"]["result"]
    assert result["method"] == "net" and result["segments"]
    assert [f["kind"] for f in item["findings"]] == ["crack"]


def test_another_tenants_event_component_storey_or_project_is_answered_as_absent(world):
    far = world.component("cast", project="far")
    with world.app.app_context():
        far_event = db.session.scalar(db.select(Event.id).where(
            Event.component_id == far["id"]))
    photo = jpeg(np.full((64, 64, 3), 128, np.uint8))
    for field, theirs in (("event_id", far_event), ("component_id", far["id"]),
                          ("storey_id", world.ids["storey_far"]),
                          ("project_id", world.ids["project_far"])):
        answers = [upload(world, [("a.jpg", photo)], role="factory_worker", **{field: value})
                   for value in (theirs, 999_999)]
        assert {a.status_code for a in answers} == {404}, field
        details = [a.get_json()["detail"] for a in answers]
        # The same words for theirs as for one that does not exist, but for the id asked.
        assert details[0].replace(str(theirs), "999999") == details[1], details
    with world.app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Photo)) == 0
