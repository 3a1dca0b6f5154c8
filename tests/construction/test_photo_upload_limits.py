"""Photo uploads within bounds: pixels per upload, time for inline checks, stalled checks,
and files that must be refused (or taken) cleanly, never with a 500."""

import io
import struct
import threading
import uuid
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import delete, select

from construction.extensions import db
from construction.models import Photo, PhotoCheck
from tests.conftest import redis_up
from tests.construction.test_photos_api import PROBLEM, jpeg, upload
from tests.images import png_declaring


@pytest.fixture
def photo_dir(world, tmp_path):
    """A storage folder of the test's own, to see that nothing was written to it."""
    folder = tmp_path / "photos"
    world.app.config["PHOTO_DIR"] = str(folder)
    world.app.extensions.pop("prefabtrace.storage", None)
    yield folder
    world.app.extensions.pop("prefabtrace.storage", None)


def stored_files(folder) -> list:
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def photo_count(world) -> int:
    with world.app.app_context():
        return db.session.scalar(select(db.func.count()).select_from(Photo))


def noise_photo(seed: int, size=(240, 320)) -> bytes:
    rng = np.random.default_rng(seed)
    return jpeg(rng.integers(0, 256, (*size, 3), dtype=np.uint8))


def encoded(array: np.ndarray, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, kind, **options)
    return buffer.getvalue()


def project(world) -> int:
    return world.ids["project_main"]


# --- where the photos go is checked before anything is written -------------------


def test_an_admin_uploading_to_a_missing_project_gets_404_and_nothing_is_stored(world,
                                                                                photo_dir):
    response = upload(world, [("x.jpg", noise_photo(1))], role="admin", project_id=987654321)
    assert response.status_code == 404, response.get_json()
    assert response.mimetype == PROBLEM and response.get_json()["type"].endswith("/not-found")
    assert stored_files(photo_dir) == [] and photo_count(world) == 0


def test_an_upload_whose_placement_changes_while_decoding_stores_no_row(world, photo_dir,
                                                                       monkeypatch):
    from construction.models import ProjectParticipant
    from construction.services import photos as service

    real_check = service.check_upload

    def leave_the_project(name, data):
        upload = real_check(name, data)
        with world.app.app_context():
            db.session.execute(delete(ProjectParticipant).where(
                ProjectParticipant.organization_id == world.ids["org_supervisor"]))
            db.session.commit()
        return upload

    monkeypatch.setattr(service, "check_upload", leave_the_project)
    response = upload(world, [("x.jpg", noise_photo(3))], project_id=project(world))
    assert response.status_code == 404, response.get_json()
    assert photo_count(world) == 0


# --- SQLite's write lock is not held while photos are decoded ------------------------


@pytest.mark.engine("sqlite")
def test_a_scan_goes_through_while_an_upload_is_being_decoded(world, photo_dir, monkeypatch):
    from construction import extensions
    from construction.services import photos as service

    component = world.component("planned")
    # Held by the upload, the lock would make the scan fail after this long, not hang.
    monkeypatch.setattr(extensions, "_busy_timeout_ms", 2000)
    decoding, release = threading.Event(), threading.Event()
    real_check = service.check_upload

    def blocking_check(name, data):
        decoding.set()
        release.wait(timeout=60)
        return real_check(name, data)

    monkeypatch.setattr(service, "check_upload", blocking_check)
    answers = {}
    uploader = threading.Thread(target=lambda: answers.update(upload=upload(
        world, [("big.jpg", noise_photo(2, size=(1500, 2000)))], project_id=project(world))))
    uploader.start()
    try:
        assert decoding.wait(timeout=60)
        scan = world.scan(component["code"], "cast")
        assert not release.is_set() and uploader.is_alive()  # still decoding
    finally:
        release.set()
        uploader.join()
    assert scan.status_code == 201, scan.get_data(as_text=True)[:300]
    assert answers["upload"].status_code == 202, answers["upload"].get_json()
    assert photo_count(world) == 1


# --- pixels per upload -------------------------------------------------------------


def test_an_upload_over_the_pixel_budget_is_refused_from_the_headers(world, photo_dir):
    # Six headers of 40 MP: each within PHOTO_MAX_PIXELS, 240 MP together. Their pixel data
    # is a few bytes, so decoding would fail: a 413 says nothing was decoded.
    files = [(f"big-{number}.png", png_declaring(8000, 5000 + number)) for number in range(6)]
    response = upload(world, files, project_id=project(world))
    assert response.status_code == 413, response.get_json()
    body = response.get_json()
    assert response.mimetype == PROBLEM and body["type"].endswith("/image-too-large")
    assert body["max_upload_pixels"] == 200_000_000 and "200,000,000" in body["detail"]
    assert body["declared_pixels"] == sum(8000 * (5000 + n) for n in range(6))
    assert stored_files(photo_dir) == [] and photo_count(world) == 0


def test_the_pixel_budget_is_a_setting_summed_over_the_files(world, photo_dir):
    files = [("a.jpg", noise_photo(2, (300, 300))), ("b.jpg", noise_photo(3, (300, 300)))]
    world.app.config["PHOTO_UPLOAD_MAX_PIXELS"] = 2 * 300 * 300 - 1
    refused = upload(world, files, project_id=project(world))
    assert refused.status_code == 413 and refused.get_json()["max_upload_pixels"] == 179_999
    assert stored_files(photo_dir) == []
    world.app.config["PHOTO_UPLOAD_MAX_PIXELS"] = 2 * 300 * 300
    assert upload(world, files, project_id=project(world)).status_code == 202


# --- time for inline checks, and checks nobody will finish ---------------------------


def _statuses(world, photo_id: int, role="admin") -> tuple[str, dict[str, str]]:
    body = world.client(role).get(f"/api/v1/photos/{photo_id}").get_json()
    return body["status"], {name: check["status"] for name, check in body["checks"].items()}


def test_photos_the_inline_budget_has_no_time_for_stay_pending_until_reanalysed(
        world, runner, photo_dir):
    # No Redis answers there, so no worker can take them over.
    world.app.config.update(PHOTO_INLINE_BUDGET_S=0, REDIS_URL="redis://127.0.0.1:1/0")
    response = upload(world, [("a.jpg", noise_photo(4)), ("b.jpg", noise_photo(5))],
                      project_id=project(world))
    assert response.status_code == 202
    items = response.get_json()["items"]
    assert [item["status"] for item in items] == ["pending", "pending"]
    assert {c["status"] for item in items for c in item["checks"].values()} == {"pending"}
    result = runner.invoke(args=["photos", "reanalyse", "--pending"])
    assert result.exit_code == 0 and "2 photos" in result.output, result.output
    for item in items:
        status, checks = _statuses(world, item["id"])
        assert status == "done" and set(checks.values()) == {"done"}, checks
    again = runner.invoke(args=["photos", "reanalyse", "--pending"])
    assert again.exit_code == 0 and "no photos" in again.output


@pytest.mark.skipif(not redis_up(), reason="Redis is not running on 127.0.0.1:6379")
def test_photos_the_inline_budget_has_no_time_for_go_to_a_worker_serving_the_queue(
        world, runner, photo_dir):
    from redis import Redis
    from rq import Queue, SimpleWorker

    # Not database 15, which another test empties whole when it ends.
    url, name = "redis://127.0.0.1:6379/14", f"prefabtrace-test-handover-{uuid.uuid4().hex}"
    world.app.config.update(PHOTO_INLINE_BUDGET_S=0, REDIS_URL=url, RQ_QUEUE=name)
    connection = Redis.from_url(url)
    queue = Queue(name, connection=connection)
    # A worker announcing that it serves the queue, as `flask photos worker` does on start.
    serving = SimpleWorker([queue], connection=connection)
    serving.register_birth()
    try:
        response = upload(world, [("a.jpg", noise_photo(6))], project_id=project(world))
        item = response.get_json()["items"][0]
        assert response.status_code == 202 and item["status"] == "pending"
        assert queue.count == 1
        serving.register_death()
        result = runner.invoke(args=["photos", "worker", "--burst"])
        assert result.exit_code == 0, result.output
        status, checks = _statuses(world, item["id"])
        assert status == "done" and set(checks.values()) == {"done"}, checks
    finally:
        serving.register_death()
        queue.delete(delete_jobs=True)


def _age(world, photo_id: int, seconds: float) -> None:
    """Move a photo's upload and check start times back, as if that much time had passed."""
    with world.app.app_context():
        photo = db.session.get(Photo, photo_id)
        photo.uploaded_at = photo.uploaded_at - timedelta(seconds=seconds)
        for check in db.session.scalars(select(PhotoCheck).where(PhotoCheck.photo_id == photo_id)):
            if check.started_at is not None:
                check.started_at = check.started_at - timedelta(seconds=seconds)
        db.session.commit()


def test_a_photo_whose_worker_was_killed_mid_check_shows_failed_and_is_rerun(
        world, runner, monkeypatch, photo_dir):
    from construction.services import photos

    def killed(photo, image, context):
        # A gunicorn worker past its timeout gets SIGABRT, whose handler calls sys.exit.
        raise SystemExit(1)

    monkeypatch.setitem(photos.RUNNERS, "cracks", killed)
    with pytest.raises(SystemExit):
        upload(world, [("x.jpg", noise_photo(7))], project_id=project(world))
    monkeypatch.undo()
    with world.app.app_context():
        photo_id = db.session.scalar(select(Photo.id))
    status, checks = _statuses(world, photo_id)
    assert status == "pending"
    assert checks == {"labels": "done", "quality": "done", "cracks": "running",
                      "duplicates": "pending", "evidence": "pending", "progress": "pending"}
    _age(world, photo_id, world.app.config["PHOTO_JOB_TIMEOUT"] + 1)
    body = world.client("regulator").get(f"/api/v1/photos/{photo_id}").get_json()
    assert body["status"] == "failed"
    assert {name: c["status"] for name, c in body["checks"].items()} == {
        "labels": "done", "quality": "done", "cracks": "failed", "duplicates": "failed",
        "evidence": "failed", "progress": "failed"}
    assert "stalled" in body["checks"]["cracks"]["error"]
    assert "never started" in body["checks"]["evidence"]["error"]
    listed = world.client("admin").get("/api/v1/photos?status=failed").get_json()
    assert [item["id"] for item in listed["items"]] == [photo_id]
    assert world.client("admin").get("/api/v1/photos?status=pending").get_json()["total"] == 0
    result = runner.invoke(args=["photos", "reanalyse", "--failed"])
    assert result.exit_code == 0 and "1 photos" in result.output, result.output
    body = world.client("admin").get(f"/api/v1/photos/{photo_id}").get_json()
    assert body["status"] == "done", body["checks"]
    assert body["checks"]["cracks"]["attempts"] == 2
    assert body["checks"]["evidence"]["attempts"] == 1


def test_a_photo_left_pending_is_not_stalled_while_its_checks_are_recent(world, photo_dir):
    world.app.config.update(PHOTO_INLINE_BUDGET_S=0, REDIS_URL="redis://127.0.0.1:1/0")
    item = upload(world, [("a.jpg", noise_photo(8))],
                  project_id=project(world)).get_json()["items"][0]
    _age(world, item["id"], world.app.config["PHOTO_JOB_TIMEOUT"] - 60)
    assert _statuses(world, item["id"])[0] == "pending"
    _age(world, item["id"], 120)
    status, checks = _statuses(world, item["id"])
    assert status == "failed" and set(checks.values()) == {"failed"}


# --- tiny photos ---------------------------------------------------------------------


@pytest.mark.parametrize("height,width,kind", [
    (1, 1, "PNG"), (2, 3, "JPEG"), (8, 8, "PNG"), (9, 1000, "JPEG"), (1000, 9, "PNG"),
])
def test_tiny_photos_get_every_check_done(world, photo_dir, height, width, kind):
    array = np.random.default_rng(height * width).integers(0, 256, (height, width, 3),
                                                            dtype=np.uint8)
    earlier = upload(world, [("earlier.jpg", noise_photo(9))], project_id=project(world))
    assert earlier.status_code == 202
    response = upload(world, [(f"tiny.{kind.lower()}", encoded(array, kind))],
                      project_id=project(world))
    assert response.status_code == 202, response.get_json()
    item = response.get_json()["items"][0]
    assert (item["width"], item["height"]) == (width, height)
    assert item["status"] == "done", {n: c["error"] for n, c in item["checks"].items()}
    quality = item["checks"]["quality"]["result"]
    assert quality["usable"] is False and "too-small" in quality["warnings"]
    assert item["checks"]["duplicates"]["result"]["duplicate_of"] == []
    overlay = world.client("admin").get(f"/api/v1/photos/{item['id']}/overlay")
    assert overlay.status_code == 200 and overlay.mimetype == "image/jpeg"


# --- odd and broken files --------------------------------------------------------------


def _tiff_ifd(entries, next_offset=0) -> bytes:
    """A little-endian TIFF header and one IFD at offset 8 (the body of an EXIF block)."""
    body = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    for tag, kind, count, value in entries:
        body += struct.pack("<HHII", tag, kind, count, value)
    return body + struct.pack("<I", next_offset)


def _with_app1(data: bytes, block: bytes) -> bytes:
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(block) + 2) + block + data[2:]


GREY = np.full((48, 64, 3), 120, np.uint8)


def _broken_files() -> list:
    noisy = np.random.default_rng(11).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    png, webp = encoded(noisy, "PNG"), encoded(noisy, "WEBP")
    return [
        pytest.param(b"", 422, "unreadable-image", id="zero-byte"),
        pytest.param(png[: len(png) // 2], 422, "unreadable-image", id="truncated-png"),
        pytest.param(png[:20], 422, "unreadable-image", id="png-cut-in-its-header"),
        pytest.param(png_declaring(4000, 3000, 2), 422, "unreadable-image",
                     id="png-header-declares-12mp-data-short"),
        pytest.param(png_declaring(7100, 7100), 413, "image-too-large",
                     id="png-header-declares-more-than-50mp"),
        pytest.param(encoded(GREY, "JPEG")[:200], 422, "unreadable-image",
                     id="jpeg-cut-in-its-header"),
        pytest.param(webp[: len(webp) // 2], 422, "unreadable-image", id="truncated-webp"),
        pytest.param(b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 50, 422, "unreadable-image",
                     id="webp-garbage"),
        pytest.param(encoded(GREY, "GIF"), 415, "unsupported-image", id="gif"),
        pytest.param(encoded(GREY, "TIFF"), 415, "unsupported-image", id="tiff"),
    ]


@pytest.mark.parametrize("content,status,kind", _broken_files())
def test_broken_or_unsupported_files_are_refused_cleanly_and_nothing_is_stored(
        world, photo_dir, content, status, kind):
    response = upload(world, [("good.jpg", noise_photo(12)), ("bad.bin", content)],
                      project_id=project(world))
    assert response.status_code == status, response.get_json()
    assert response.mimetype == PROBLEM and response.get_json()["type"].endswith("/" + kind)
    assert response.get_json()["file"] == "bad.bin"
    assert stored_files(photo_dir) == [] and photo_count(world) == 0


def _odd_exif_files() -> list:
    plain = encoded(GREY, "JPEG")
    big = Image.Exif()
    big[0x010E] = "d" * 64_000  # an image description filling the whole APP1 segment
    # An orientation with two values (SHORT 6, 6 packed in the entry).
    sideways = b"Exif\x00\x00" + _tiff_ifd([(0x0112, 3, 2, 6 | 6 << 16)])
    huge_make = Image.Exif()
    huge_make[0x010F] = "M" * 5_000_000
    loop = b"Exif\x00\x00" + _tiff_ifd([(0x8825, 4, 1, 8), (0x8769, 4, 1, 8)], next_offset=8)
    return [
        pytest.param(encoded(GREY, "JPEG", exif=big.tobytes()), id="jpeg-64kb-exif"),
        pytest.param(_with_app1(plain, sideways), id="jpeg-odd-orientation"),
        pytest.param(encoded(GREY, "PNG", exif=huge_make.tobytes()), id="png-5mb-exif"),
        pytest.param(_with_app1(plain, loop), id="jpeg-exif-pointing-at-itself"),
        pytest.param(_with_app1(plain, b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff"),
                     id="jpeg-exif-claiming-65535-entries"),
        pytest.param(encoded(GREY, "WEBP"), id="webp"),
    ]


@pytest.mark.parametrize("content", _odd_exif_files())
def test_photos_with_odd_or_huge_exif_are_taken_with_what_can_be_read(world, photo_dir,
                                                                      content):
    response = upload(world, [("odd.bin", content)], project_id=project(world))
    assert response.status_code == 202, response.get_json()
    item = response.get_json()["items"][0]
    assert {item["width"], item["height"]} == {48, 64}
    assert len(item["exif"]["camera"] or "") <= 100
    assert item["status"] == "done", {n: c["error"] for n, c in item["checks"].items()}
