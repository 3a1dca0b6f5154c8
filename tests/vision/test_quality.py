"""Photo quality: sharpness judged where it matters, exposure, resolution."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.quality import SHARPNESS_MIN, assess_quality, sharpness

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def texture(shape=(1200, 1600), seed=1) -> np.ndarray:
    """Panels, joints and speckle: a sharp, plain site scene."""
    rng = np.random.default_rng(seed)
    image = np.full(shape, 140, np.float32)
    for _ in range(60):
        x, y = rng.integers(0, shape[1]), rng.integers(0, shape[0])
        w, h = rng.integers(20, 300, 2)
        image[y:y + h, x:x + w] = rng.integers(60, 220)
    image += rng.normal(0, 6, shape)
    return np.clip(cv2.GaussianBlur(image, (0, 0), 0.7), 0, 255).astype(np.uint8)


def test_a_sharp_photo_is_usable_and_a_blurred_copy_is_not():
    sharp = texture()
    good = assess_quality(sharp)
    assert good.usable and good.warnings == () and good.region_source == "centre"
    bad = assess_quality(cv2.GaussianBlur(sharp, (0, 0), 4))
    assert not bad.usable and "blurred" in bad.warnings


def test_sharpness_does_not_depend_on_contrast():
    sharp = texture().astype(np.float32)
    low_contrast = np.clip(128 + (sharp - 128) * 0.2, 0, 255).astype(np.uint8)
    assert sharpness(low_contrast) > SHARPNESS_MIN
    assert sharpness(low_contrast) == pytest.approx(sharpness(sharp.astype(np.uint8)), rel=0.25)


def test_blurred_noise_is_not_taken_for_detail():
    rng = np.random.default_rng(3)
    noise = np.clip(rng.normal(140, 25, (1200, 1600)), 0, 255).astype(np.uint8)
    assert "blurred" in assess_quality(cv2.GaussianBlur(noise, (0, 0), 6)).warnings


def test_the_region_around_labels_is_what_counts():
    image = cv2.GaussianBlur(texture(), (0, 0), 5)  # a soft background...
    crisp = texture(seed=2)
    image[400:700, 500:900] = crisp[400:700, 500:900]  # ...and a sharp label area
    label = [(600, 500), (800, 500), (800, 600), (600, 600)]
    assert assess_quality(image, [label]).usable
    assert assess_quality(image, [label]).region_source == "labels"
    assert "blurred" in assess_quality(image).warnings


@pytest.mark.parametrize("value,warning", [(15, "underexposed"), (245, "overexposed")])
def test_exposure(value, warning):
    image = np.clip(texture().astype(np.int16) - 140 + value, 0, 255).astype(np.uint8)
    assert warning in assess_quality(image).warnings


def test_small_photos_are_flagged_for_resolution():
    assert "low-resolution" in assess_quality(texture((480, 640))).warnings


@pytest.mark.skipif(not (CORPUS / "photos").exists(), reason="photo corpus absent")
def test_every_real_photo_is_judged_sharp_and_every_blurred_copy_not():
    files = sorted((CORPUS / "photos" / "curtainwall" / "images").glob("*.jpg"))
    files += sorted((CORPUS / "photos" / "exif" / "gps").glob("*.jpg"))
    assert files
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        assert "blurred" not in assess_quality(image).warnings, path.name
        scale = 1600 / max(image.shape)
        sigma = 2 / min(scale, 1.0)  # sigma 2 at the working size
        blurred = cv2.GaussianBlur(image, (0, 0), sigma)
        assert "blurred" in assess_quality(blurred).warnings, path.name
