"""Every photo check copes with tiny and extreme-aspect images and gives a sensible answer."""

import io

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from vision import cracks, duplicates
from vision.evidence import check_evidence, read_exif
from vision.labels import find_labels
from vision.quality import MIN_JUDGED_SIDE_PX, assess_quality

# Tiny photos, and strips a few pixels across and thousands long, either way round.
SHAPES = st.one_of(
    st.tuples(st.integers(1, 40), st.integers(1, 40)),
    st.tuples(st.integers(1, 12), st.integers(200, 3000)),
    st.tuples(st.integers(200, 3000), st.integers(1, 12)),
)
COMMON = settings(max_examples=40, deadline=None)


def picture(shape: tuple[int, int], colour: bool, seed: int) -> np.ndarray:
    """Noise, or one flat grey when the seed is even (no texture at all)."""
    height, width = shape
    full = (height, width, 3) if colour else (height, width)
    if seed % 2 == 0:
        return np.full(full, seed % 256, np.uint8)
    return np.random.default_rng(seed).integers(0, 256, full, dtype=np.uint8)


def tiny_cases(test):
    """The sizes named in the issue, always tried, beside the generated ones."""
    for shape in ((1, 1), (2, 3), (8, 8), (9, 1000), (1000, 9), (1, 3000), (3000, 2)):
        test = example(shape=shape, colour=True, seed=1)(test)
        test = example(shape=shape, colour=False, seed=2)(test)
    return test


@COMMON
@given(shape=SHAPES, colour=st.booleans(), seed=st.integers(0, 2**16))
@tiny_cases
def test_quality_judges_any_size_and_calls_tiny_photos_too_small(shape, colour, seed):
    image = picture(shape, colour, seed)
    result = assess_quality(image)
    assert (result.width, result.height) == (shape[1], shape[0])
    assert 0 <= result.brightness <= 255 and 0 <= result.sharpness
    assert 0 <= result.shadows_clipped <= 1 and 0 <= result.highlights_clipped <= 1
    x, y, w, h = result.region
    assert 0 <= x and 0 <= y and x + w <= shape[1] and y + h <= shape[0] and w > 0 and h > 0
    if min(shape) < MIN_JUDGED_SIDE_PX:
        assert not result.usable and "too-small" in result.warnings
        assert result.region_source == "whole"
    else:
        assert "low-resolution" in result.warnings  # every shape here is under 1000 px


@COMMON
@given(shape=SHAPES, colour=st.booleans(), seed=st.integers(0, 2**16))
@tiny_cases
def test_quality_around_labels_copes_with_any_size(shape, colour, seed):
    height, width = shape
    label = [(0, 0), (width, 0), (width, height), (0, height)]
    result = assess_quality(picture(shape, colour, seed), [label])
    assert (result.width, result.height) == (width, height)
    assert result.usable is False  # all are small, at best


@pytest.mark.parametrize("method", cracks.METHODS)
@COMMON
@given(shape=SHAPES, colour=st.booleans(), seed=st.integers(0, 2**16))
@tiny_cases
def test_cracks_give_a_mask_of_the_photo_size(method, shape, colour, seed):
    result = cracks.detect_cracks(picture(shape, colour, seed), method=method)
    assert result.mask.shape == shape and result.mask.dtype == bool
    assert 0.0 <= result.crack_fraction <= 1.0
    if not np.any(result.mask):
        assert result.segments == () and result.crack_fraction == 0.0


@COMMON
@given(shape=SHAPES, colour=st.booleans(), seed=st.integers(0, 2**16))
@tiny_cases
def test_duplicates_fingerprint_and_compare_any_size(shape, colour, seed):
    image = picture(shape, colour, seed)
    other = picture(shape, colour, seed + 1)
    fingerprint = duplicates.fingerprint(image)
    assert len(fingerprint.hashes) == 10
    assert (fingerprint.width_px, fingerprint.height_px) == (shape[1], shape[0])
    assert duplicates.PhotoFingerprint.from_bytes(fingerprint.to_bytes()) == fingerprint
    result = duplicates.find_duplicates(
        image, fingerprint,
        [("same", duplicates.fingerprint(image), image),
         ("other", duplicates.fingerprint(other), lambda: other)],
        always_confirm=["same", "other"])
    assert result.candidates_checked == 2
    if min(shape) < 63:
        # Too small to hold a single feature: nothing can be confirmed as a copy.
        assert not result.is_duplicate
        assert {found.match.reason for found in result.rejected} == {"too-few-features"}


@COMMON
@given(shape=SHAPES, colour=st.booleans(), seed=st.integers(0, 2**16))
@tiny_cases
def test_labels_read_nothing_from_any_size_without_a_label(shape, colour, seed):
    assert find_labels(picture(shape, colour, seed)).labels == ()


@COMMON
@given(shape=SHAPES, colour=st.booleans(), seed=st.integers(0, 2**16))
@tiny_cases
def test_evidence_of_a_tiny_photo_is_missing_exif(shape, colour, seed):
    buffer = io.BytesIO()
    Image.fromarray(picture(shape, colour, seed)).save(buffer, "JPEG")
    facts = read_exif(Image.open(io.BytesIO(buffer.getvalue())))
    assert facts.present is False
    assert check_evidence(facts, None, None).warnings == ("no-exif",)
