"""Photo uploads within bounds: pixels per upload, time for inline checks, stalled checks,
and files that must be refused (or taken) cleanly, never with a 500."""

import io
import struct

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from construction.extensions import db
from construction.models import Photo
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
