import itertools
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision import duplicates

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
CURTAIN_WALL = CORPUS / "photos" / "curtainwall" / "images"


def _jpeg(image, quality=90):
    encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def _crop(image, along_y, along_x, keep=0.8):
    height, width = image.shape[:2]
    crop_h, crop_w = round(height * keep), round(width * keep)
    y, x = round((height - crop_h) * along_y), round((width - crop_w) * along_x)
    return image[y : y + crop_h, x : x + crop_w]


def _border(image, fraction, colour):
    pad = round(max(image.shape[:2]) * fraction)
    return cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=colour)


COPIES = {
    "reencoded": lambda image, i: _jpeg(image, 60),
    "resized": lambda image, i: _jpeg(cv2.resize(image, None, fx=0.5, fy=0.5)),
    "cropped-centre": lambda image, i: _jpeg(_crop(image, 0.5, 0.5)),
    "cropped-corner": lambda image, i: _jpeg(_crop(image, i % 2, (i // 2 + 1) % 2)),
    "brightened": lambda image, i: _jpeg(cv2.add(image, (40, 40, 40, 0))),
    "darkened": lambda image, i: _jpeg(cv2.subtract(image, (40, 40, 40, 0))),
    "bordered": lambda image, i: _jpeg(
        _border(image, 0.05 + 0.05 * (i % 2), ((0, 0, 0), (255, 255, 255))[i % 2])
    ),
}


def _scene(seed, height=600, width=800):
    # Blurred noise at several scales plus shapes: texture for features at every pyramid level.
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for cell in (64, 16, 4):
        noise = rng.uniform(0, 255, (height // cell + 1, width // cell + 1, 3)).astype(np.float32)
        image += cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)[:height, :width]
    image /= 3
    for _ in range(40):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(int(value) for value in rng.integers(0, 255, 3))
        cv2.circle(image, centre, int(rng.integers(5, 40)), colour, -1)
    return np.clip(image, 0, 255).astype(np.uint8)


def _view_from(image, yaw_deg, roll_deg=0.0):
    # A flat wall photographed again after turning the camera: a homography, not a similarity.
    height, width = image.shape[:2]
    focal = 1.2 * max(height, width)
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    rotation = cv2.Rodrigues(np.array([0.0, math.radians(yaw_deg), math.radians(roll_deg)]))[0]
    homography = camera @ rotation @ np.linalg.inv(camera)
    view = cv2.warpPerspective(image, homography, (width, height), borderMode=cv2.BORDER_REFLECT)
    noise = np.random.default_rng(1).normal(0, 2.5, view.shape)
    return _jpeg(np.clip(view * 1.08 + noise, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def scene():
    return _scene(0)


def test_fingerprint_round_trips_and_stays_small(scene):
    fp = duplicates.fingerprint(scene)

    assert duplicates.PhotoFingerprint.from_bytes(fp.to_bytes()) == fp
    assert duplicates.PhotoFingerprint.from_json(fp.to_json()) == fp
    assert len(fp.to_bytes()) <= 128
    assert (fp.width_px, fp.height_px, fp.version) == (800, 600, duplicates.CHECK_VERSION)


def test_fingerprint_accepts_grey_and_bgra(scene):
    grey = duplicates.fingerprint(cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY))
    bgra = duplicates.fingerprint(cv2.cvtColor(scene, cv2.COLOR_BGR2BGRA))

    assert duplicates.hash_distance(grey, duplicates.fingerprint(scene)) <= 2
    assert duplicates.hash_distance(bgra, duplicates.fingerprint(scene)) <= 2


@pytest.mark.parametrize("name", sorted(COPIES))
def test_copy_of_synthetic_scene_is_a_candidate_and_confirmed(scene, name):
    copy = COPIES[name](scene, 1)

    earlier = [("a", duplicates.fingerprint(scene))]
    found = duplicates.candidates(duplicates.fingerprint(copy), earlier)
    match = duplicates.confirm(scene, copy)

    assert [key for key, _ in found] == ["a"]
    assert match.is_copy, match
    assert match.inlier_ratio > 0.6


def test_crop_and_border_show_in_the_evidence(scene):
    cropped = duplicates.confirm(scene, _crop(scene, 0.5, 0.5))
    bordered = duplicates.confirm(scene, _border(scene, 0.1, (0, 0, 0)))

    assert cropped.overlap_a == pytest.approx(0.64, abs=0.05)
    assert cropped.scale == pytest.approx(1.0, abs=0.02)
    # 800 x 600 photo inside a 960 x 760 bordered copy.
    assert bordered.overlap_b == pytest.approx(800 * 600 / (960 * 760), abs=0.05)
    assert bordered.overlap_a == pytest.approx(1.0, abs=0.02)


def test_unrelated_photo_is_not_a_candidate_nor_a_copy(scene):
    other = _scene(7)

    earlier = [("a", duplicates.fingerprint(scene))]
    assert duplicates.candidates(duplicates.fingerprint(other), earlier) == []
    assert not duplicates.confirm(scene, other).is_copy


@pytest.mark.parametrize(("yaw_deg", "roll_deg"), [(3.0, 0.0), (5.0, 0.0), (0.0, 2.0)])
def test_wall_shot_again_from_another_angle_is_not_a_copy(scene, yaw_deg, roll_deg):
    match = duplicates.confirm(scene, _view_from(scene, yaw_deg, roll_deg))

    assert not match.is_copy, match
    assert match.reason in {"not-a-similarity", "rotated", "low-inlier-ratio", "pixels-differ"}


def test_find_duplicates_loads_only_candidate_images(scene):
    loaded = []

    def loader(key, image):
        def load():
            loaded.append(key)
            return image

        return load

    other = _scene(7)
    earlier = [
        ("same", duplicates.fingerprint(scene), loader("same", scene)),
        ("other", duplicates.fingerprint(other), loader("other", other)),
    ]
    copy = COPIES["cropped-corner"](scene, 0)

    result = duplicates.find_duplicates(copy, duplicates.fingerprint(copy), earlier)

    assert result.is_duplicate
    assert [found.key for found in result.duplicates] == ["same"]
    assert loaded == ["same"]
    assert result.version == duplicates.CHECK_VERSION


needs_corpus = pytest.mark.skipif(not CURTAIN_WALL.is_dir(), reason="shared corpus absent")


@pytest.fixture(scope="module")
def corpus_photos():
    paths = sorted(CURTAIN_WALL.glob("*.jpg"))
    paths += sorted((CORPUS / "photos" / "exif" / "gps").glob("*.jpg"))[::3]
    paths += sorted((CORPUS / "cracks" / "crackforest" / "images").glob("*.jpg"))[::40]
    return [(path.name, cv2.imread(str(path))) for path in paths]


@needs_corpus
def test_every_corpus_copy_is_flagged_as_its_original_only(corpus_photos):
    earlier = [(name, duplicates.fingerprint(image), image) for name, image in corpus_photos]
    missed, wrong = [], []
    for index, (name, image) in enumerate(corpus_photos):
        for copy_name, make in COPIES.items():
            copy = make(image, index)
            result = duplicates.find_duplicates(copy, duplicates.fingerprint(copy), earlier)
            keys = {found.key for found in result.duplicates}
            if name not in keys:
                missed.append((name, copy_name))
            wrong += [(name, copy_name, key) for key in keys - {name}]

    assert missed == []
    assert wrong == []


@needs_corpus
def test_shots_of_the_same_curtain_wall_are_not_copies(corpus_photos):
    scene = [(name, image) for name, image in corpus_photos if name.startswith("img")]
    prepared = {name: duplicates._prepare(image) for name, image in scene}

    flagged = [
        (name_a, name_b)
        for name_a, name_b in itertools.combinations(prepared, 2)
        if duplicates._confirm_prepared(prepared[name_a], prepared[name_b]).is_copy
    ]
    earlier = [(name, duplicates.fingerprint(image), image) for name, image in scene]
    found = [
        (name, other.key)
        for name, image in scene
        for other in duplicates.find_duplicates(
            image,
            duplicates.fingerprint(image),
            [item for item in earlier if item[0] != name],
        ).duplicates
    ]

    assert len(scene) == 8
    assert flagged == []
    assert found == []


def test_always_confirm_catches_a_crop_the_hashes_miss(scene):
    tight_crop = _jpeg(_crop(scene, 0.0, 1.0, keep=0.55))
    crop_fp = duplicates.fingerprint(tight_crop)
    earlier = [("same", duplicates.fingerprint(scene), scene)]

    by_hash = duplicates.find_duplicates(tight_crop, crop_fp, earlier)
    by_features = duplicates.find_duplicates(tight_crop, crop_fp, earlier, always_confirm={"same"})

    assert duplicates.hash_distance(crop_fp, earlier[0][1]) > duplicates.MAX_HASH_DISTANCE
    assert not by_hash.is_duplicate
    assert [found.key for found in by_features.duplicates] == ["same"]
    assert by_features.duplicates[0].match.overlap_a == pytest.approx(0.55**2, abs=0.05)
