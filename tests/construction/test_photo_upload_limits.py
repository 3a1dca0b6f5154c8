"""Photo uploads within bounds: pixels per upload, time for inline checks, stalled checks,
and files that must be refused (or taken) cleanly, never with a 500."""

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from construction.extensions import db
from construction.models import Photo
from tests.construction.test_photos_api import PROBLEM, jpeg, upload


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
