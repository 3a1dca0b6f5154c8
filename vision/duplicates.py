"""Find re-used site photos: perceptual hashes pick candidates, feature matching confirms.

A re-used photo is an earlier one re-encoded, resized, cropped, brightened or darkened, or
framed with a border; a new shot of the same wall is not.

Fingerprint (storable, 90 bytes): ten 64-bit DCT perceptual hashes of a 256 px grey copy with
any solid border trimmed: the whole frame and nine 80 % windows on a 3 x 3 grid. Two
fingerprints' distance is the smallest Hamming distance of one frame hash against the other's
frame and windows, so a crop of either photo still lands near a window.

Confirmation, on 640 px grey copies: ORB features (1000), ratio-test matches, a RANSAC
similarity (scale, rotation, translation). A copy must have >= 25 inliers, an inlier ratio
>= 0.45, a median residual <= 1.5 px, a rotation <= 0.75 degrees; after warping the finer photo
onto the coarser one, the pixels must correlate >= 0.85 (clipped pixels left out, so brightness
changes do not count), and sub-pixel phase correlation of tiles across the overlap must agree
with one similarity to 0.75 px - perspective or parallax of a re-shot bends that shift field.

Measured on the corpus (bench/_vision_duplicates.py: 8 curtain-wall shots of one scene, 9 GPS
photos, 15 CrackForest images; 7 copies of each, all saved as JPEG):
- copies flagged as their own original: 224/224 (each transform 32/32), flagged as another
  photo: 0; originals flagged against each other: 0; the 28 curtain-wall pairs confirmed
  without the hash filter: 0 (best inlier ratio 0.27 against >= 0.61 for every copy);
- hash distance: copies <= 10, different photos >= 12 (same scene >= 14), limit 14;
- copies vs closest non-copy: inliers >= 66 vs <= 16, correlation >= 0.95 vs <= 0.70, tile
  misalignment <= 0.53 px;
- a flat wall re-shot after turning the camera (synthetic homography, noise, +8 % gain):
  yaw >= 2 degrees or roll >= 0.75 degrees rejected, yaw 1 degree sometimes flagged, yaw
  <= 0.5 degrees flagged - such a shot cannot be told from a copy by its pixels;
- single thread: fingerprint of a 12 MP photo 3-7 ms; confirmation of a 12 MP photo against a
  copy 27-42 ms including both downscalings (14 ms once both are prepared).
Not covered: rotated or mirrored copies. Crops keeping less than 80 % of each side slip past
the hashes (corner crops at 75 %: 21/32 candidates, at 70 %: 1/32) although confirmation still
finds them (31/32 at 60 %); pass recent photos of the project as `always_confirm` for those.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

CHECK_VERSION = 1

_HASH_INPUT_SIDE = 32
_HASH_LOW_FREQUENCIES = 8
_FINGERPRINT_LONG_SIDE = 256
# 80 % windows on a 3 x 3 grid: a crop keeping 75-85 % of each side lands within about
# 5 % of one of them, which a low-frequency DCT hash tolerates.
_WINDOW_FRACTION = 0.8
_WINDOW_OFFSETS = (0.0, 0.1, 0.2)
_BORDER_MAX_FRACTION = 0.25
_BORDER_STD_MAX = 4.0
_BORDER_MEAN_TOLERANCE = 12.0

# Thresholds sit between the worst copy and the best non-copy measured on the corpus set
# (see the module docstring); lengths in pixels are at the coarser photo's working scale.
MAX_HASH_DISTANCE = 14
_WORK_LONG_SIDE = 640
_ORB_FEATURES = 1000
# ORB keeps no keypoint within its edge threshold (31 px) of the border, so a smaller image
# has none; OpenCV's pyramid fails outright on strips a few pixels across.
_MIN_FEATURE_SIDE_PX = 2 * 31 + 1
_RATIO_TEST = 0.8
_RANSAC_THRESHOLD_PX = 3.0
_MIN_INLIERS = 25
_MIN_INLIER_RATIO = 0.45
_MAX_RESIDUAL_PX = 1.5
_MAX_ROTATION_DEG = 0.75
_MIN_CORRELATION = 0.85
_MAX_MISALIGNMENT_PX = 0.75
_MIN_TILES = 4
_MIN_TILE_RESPONSE = 0.05
_CLIP_LOW = 12
_CLIP_HIGH = 243


@dataclass(frozen=True)
class PhotoFingerprint:
    """Perceptual hashes of one photo: whole frame first, then 80 % windows."""

    hashes: tuple[int, ...]
    width_px: int
    height_px: int
    version: int = CHECK_VERSION

    def to_bytes(self) -> bytes:
        """Pack the fingerprint for a database column."""
        header = struct.pack(">BIIB", self.version, self.width_px, self.height_px, len(self.hashes))
        return header + struct.pack(f">{len(self.hashes)}Q", *self.hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> PhotoFingerprint:
        """Unpack a fingerprint made by to_bytes."""
        version, width_px, height_px, count = struct.unpack_from(">BIIB", data)
        hashes = struct.unpack_from(f">{count}Q", data, struct.calcsize(">BIIB"))
        return cls(tuple(hashes), width_px, height_px, version)

    def to_json(self) -> str:
        """Serialise the fingerprint as JSON with hex hashes."""
        return json.dumps(
            {
                "version": self.version,
                "width_px": self.width_px,
                "height_px": self.height_px,
                "hashes": [f"{value:016x}" for value in self.hashes],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> PhotoFingerprint:
        """Parse a fingerprint made by to_json."""
        data = json.loads(text)
        return cls(
            tuple(int(value, 16) for value in data["hashes"]),
            int(data["width_px"]),
            int(data["height_px"]),
            int(data["version"]),
        )


@dataclass(frozen=True)
class Match:
    """Evidence from comparing two photos; is_copy says whether b re-uses a's pixels."""

    is_copy: bool
    reason: str
    matches: int = 0
    inliers: int = 0
    inlier_ratio: float = 0.0
    residual_px: float = math.inf
    scale: float = 0.0
    rotation_deg: float = 0.0
    overlap_a: float = 0.0
    overlap_b: float = 0.0
    correlation: float = 0.0
    misalignment_px: float = math.inf
    tiles: int = 0


@dataclass(frozen=True)
class DuplicateMatch:
    """One earlier photo that the new photo copies."""

    key: Any
    hash_distance: int
    match: Match


@dataclass(frozen=True)
class DuplicateResult:
    """Outcome of the duplicate check for one photo."""

    duplicates: tuple[DuplicateMatch, ...]
    candidates_checked: int
    rejected: tuple[DuplicateMatch, ...] = field(default=())
    version: int = CHECK_VERSION

    @property
    def is_duplicate(self) -> bool:
        """Tell whether any earlier photo was copied."""
        return bool(self.duplicates)


def _gray_downscaled(image: np.ndarray, long_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    # Striding first keeps INTER_AREA cheap on 12 MP input; 2x oversampling before the area
    # filter keeps the aliasing well below what the hashes and matcher notice.
    step = max(1, max(height, width) // (2 * long_side))
    view = image[::step, ::step] if step > 1 else image
    if view.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if view.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        view = cv2.cvtColor(np.ascontiguousarray(view), code)
    height, width = view.shape[:2]
    scale = long_side / max(height, width)
    if scale >= 1.0:
        return np.ascontiguousarray(view, dtype=np.uint8)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(view, size, interpolation=cv2.INTER_AREA)


def _trim_border(gray: np.ndarray) -> np.ndarray:
    # A solid frame added around a copy would otherwise shift every hash; photos rarely have a
    # whole row of one flat colour, and when they do the original is trimmed the same way.
    height, width = gray.shape
    top, bottom, left, right = 0, height, 0, width
    limit_rows = int(height * _BORDER_MAX_FRACTION)
    limit_cols = int(width * _BORDER_MAX_FRACTION)
    data = gray.astype(np.float32)

    def flat(line: np.ndarray, colour: float) -> bool:
        return float(line.std()) <= _BORDER_STD_MAX and (
            abs(float(line.mean()) - colour) <= _BORDER_MEAN_TOLERANCE
        )

    colour = float(data[0, 0])
    while top < limit_rows and flat(data[top, left:right], colour):
        top += 1
    colour = float(data[-1, -1])
    while height - bottom < limit_rows and flat(data[bottom - 1, left:right], colour):
        bottom -= 1
    colour = float(data[0, 0])
    while left < limit_cols and flat(data[top:bottom, left], colour):
        left += 1
    colour = float(data[-1, -1])
    while width - right < limit_cols and flat(data[top:bottom, right - 1], colour):
        right -= 1
    return gray[top:bottom, left:right]


def _phash(gray: np.ndarray) -> int:
    small = cv2.resize(gray, (_HASH_INPUT_SIDE, _HASH_INPUT_SIDE), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small.astype(np.float32))[:_HASH_LOW_FREQUENCIES, :_HASH_LOW_FREQUENCIES]
    bits = (low > np.median(low)).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def fingerprint(image: np.ndarray) -> PhotoFingerprint:
    """Compute the perceptual hashes of a photo (BGR, BGRA or grey)."""
    gray = _trim_border(_gray_downscaled(image, _FINGERPRINT_LONG_SIDE))
    height, width = gray.shape
    hashes = [_phash(gray)]
    window_h = round(height * _WINDOW_FRACTION)
    window_w = round(width * _WINDOW_FRACTION)
    for offset_y in _WINDOW_OFFSETS:
        for offset_x in _WINDOW_OFFSETS:
            y = round(height * offset_y)
            x = round(width * offset_x)
            hashes.append(_phash(gray[y : y + window_h, x : x + window_w]))
    return PhotoFingerprint(tuple(hashes), int(image.shape[1]), int(image.shape[0]))


def hash_distance(a: PhotoFingerprint, b: PhotoFingerprint) -> int:
    """Return the Hamming distance between two fingerprints, allowing a crop of either."""
    # Whole frame against every window both ways: a crop of a is b's frame = one of a's windows.
    first_a, first_b = a.hashes[0], b.hashes[0]
    best = min((first_a ^ value).bit_count() for value in b.hashes)
    return min(best, min((first_b ^ value).bit_count() for value in a.hashes))


def candidates(
    fp: PhotoFingerprint,
    earlier: Iterable[tuple[Any, PhotoFingerprint]],
    max_distance: int = MAX_HASH_DISTANCE,
) -> list[tuple[Any, int]]:
    """List earlier photos whose hashes are close enough to confirm, nearest first."""
    found = []
    for key, other in earlier:
        # Hashes of another check version are computed differently; compare like with like.
        if other.version != fp.version:
            continue
        distance = hash_distance(fp, other)
        if distance <= max_distance:
            found.append((key, distance))
    found.sort(key=lambda item: item[1])
    return found


@dataclass(frozen=True)
class _Prepared:
    gray: np.ndarray
    keypoints: np.ndarray
    descriptors: np.ndarray | None
    downscale: float


def _prepare(image: np.ndarray) -> _Prepared:
    gray = _gray_downscaled(image, _WORK_LONG_SIDE)
    if min(gray.shape) < _MIN_FEATURE_SIDE_PX:
        return _Prepared(gray, np.empty((0, 2), np.float32), None,
                         gray.shape[0] / image.shape[0])
    # A detector per call: creating one costs microseconds and a shared one is not thread-safe.
    detector = cv2.ORB_create(nfeatures=_ORB_FEATURES, fastThreshold=10)
    keypoints, descriptors = detector.detectAndCompute(gray, None)
    points = np.array([kp.pt for kp in keypoints], dtype=np.float32).reshape(-1, 2)
    return _Prepared(gray, points, descriptors, gray.shape[0] / image.shape[0])


def _correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    # Every other pixel of images blurred at sigma 1 loses nothing and costs a quarter.
    mask = mask[::2, ::2]
    values_a = a[::2, ::2][mask].astype(np.float32)
    values_b = b[::2, ::2][mask].astype(np.float32)
    if values_a.size < 100:
        return 0.0
    values_a -= values_a.mean()
    values_b -= values_b.mean()
    denominator = math.sqrt(float(values_a @ values_a) * float(values_b @ values_b))
    return float(values_a @ values_b) / denominator if denominator > 0 else 0.0


def _tile_misalignment_px(
    coarse: np.ndarray, warped: np.ndarray, coverage: np.ndarray, usable: np.ndarray
) -> tuple[float, int]:
    # Sub-pixel shifts of tiles across the overlap: after the similarity, a copy's tiles all agree
    # to a tenth of a pixel, while perspective or parallax of a re-shot bends the shift field.
    height, width = coarse.shape
    tile = max(32, min(height, width) // 6)
    centres, shifts = [], []
    window = cv2.createHanningWindow((tile, tile), cv2.CV_32F)
    for y in range(0, height - tile + 1, tile):
        for x in range(0, width - tile + 1, tile):
            # Clipped pixels of a brightened copy pull the phase peak towards zero shift.
            if not coverage[y : y + tile, x : x + tile].all():
                continue
            if usable[y : y + tile, x : x + tile].mean() < 0.75:
                continue
            patch_a = coarse[y : y + tile, x : x + tile].astype(np.float32)
            patch_b = warped[y : y + tile, x : x + tile].astype(np.float32)
            if patch_a.std() < 4.0 or patch_b.std() < 4.0:
                continue
            (shift_x, shift_y), response = cv2.phaseCorrelate(patch_a, patch_b, window)
            if response < _MIN_TILE_RESPONSE:
                continue
            centres.append((x + tile / 2, y + tile / 2))
            shifts.append((shift_x, shift_y))
    if len(centres) < 4:
        return math.inf, len(centres)
    source = np.array(centres, np.float64)
    target = source + np.array(shifts, np.float64)
    # Least-squares similarity x' = a x - b y + tx, y' = b x + a y + ty over the tile centres.
    ones, zeros = np.ones(len(source)), np.zeros(len(source))
    rows = np.zeros((2 * len(source), 4))
    rows[0::2] = np.column_stack([source[:, 0], -source[:, 1], ones, zeros])
    rows[1::2] = np.column_stack([source[:, 1], source[:, 0], zeros, ones])
    params, *_ = np.linalg.lstsq(rows, target.ravel(), rcond=None)
    deviation = (rows @ params - target.ravel()).reshape(-1, 2)
    return float(np.linalg.norm(deviation, axis=1).max()), len(centres)


def _confirm_prepared(a: _Prepared, b: _Prepared) -> Match:
    if a.descriptors is None or b.descriptors is None or len(a.keypoints) < 8:
        return Match(False, "too-few-features")
    if len(b.keypoints) < 8:
        return Match(False, "too-few-features")
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(b.descriptors, a.descriptors, k=2)
    good = [
        pair[0]
        for pair in pairs
        if len(pair) == 2 and pair[0].distance < _RATIO_TEST * pair[1].distance
    ]
    if len(good) < _MIN_INLIERS:
        return Match(False, "too-few-matches", matches=len(good))
    points_b = b.keypoints[[m.queryIdx for m in good]]
    points_a = a.keypoints[[m.trainIdx for m in good]]
    transform, inlier_mask = cv2.estimateAffinePartial2D(
        points_b,
        points_a,
        method=cv2.RANSAC,
        ransacReprojThreshold=_RANSAC_THRESHOLD_PX,
        maxIters=2000,
        confidence=0.995,
    )
    if transform is None or not np.isfinite(transform).all():
        return Match(False, "no-transform", matches=len(good))
    inliers = inlier_mask.ravel().astype(bool)
    inlier_count = int(inliers.sum())
    projected = points_b[inliers] @ transform[:, :2].T + transform[:, 2]
    residual = float(np.median(np.linalg.norm(projected - points_a[inliers], axis=1)))
    similarity_scale = float(math.hypot(transform[0, 0], transform[1, 0]))
    if not 0.05 < similarity_scale < 20.0:
        return Match(False, "implausible-scale", matches=len(good))
    # Residuals in the coarser photo's pixels, so a half-size copy is judged at its own scale.
    residual_coarse_px = residual / max(similarity_scale, 1.0)
    evidence: dict[str, Any] = dict(
        matches=len(good),
        inliers=inlier_count,
        inlier_ratio=inlier_count / len(good),
        residual_px=residual_coarse_px,
        scale=a.downscale / (similarity_scale * b.downscale),
        rotation_deg=float(math.degrees(math.atan2(transform[1, 0], transform[0, 0]))),
    )
    if inlier_count < _MIN_INLIERS:
        return Match(False, "too-few-inliers", **evidence)
    if evidence["inlier_ratio"] < _MIN_INLIER_RATIO:
        return Match(False, "low-inlier-ratio", **evidence)
    if residual_coarse_px > _MAX_RESIDUAL_PX:
        return Match(False, "large-residual", **evidence)
    if abs(evidence["rotation_deg"]) > _MAX_ROTATION_DEG:
        return Match(False, "rotated", **evidence)

    # Compare pixels in the coarser photo's frame: the finer one, blurred to the same detail,
    # is warped onto it, so a downsized copy is not penalised for the detail it lost.
    if similarity_scale >= 1.0:
        coarse, fine, to_coarse = b.gray, a.gray, cv2.invertAffineTransform(transform)
    else:
        coarse, fine, to_coarse = a.gray, b.gray, transform
    shrink = max(similarity_scale, 1.0 / similarity_scale)
    fine = cv2.GaussianBlur(fine, (0, 0), 0.5 * shrink) if shrink > 1.2 else fine
    height, width = coarse.shape
    warped = cv2.warpAffine(fine, to_coarse, (width, height), flags=cv2.INTER_LINEAR)
    coverage = cv2.warpAffine(
        np.full(fine.shape, 255, np.uint8), to_coarse, (width, height), flags=cv2.INTER_NEAREST
    )
    # Erode so resampling at the overlap edge does not count against the copy.
    coverage = cv2.erode(coverage, np.ones((5, 5), np.uint8)) > 0
    covered_coarse = float(coverage.mean())
    covered_fine = min(1.0, covered_coarse * coarse.size * shrink * shrink / fine.size)
    a_is_fine = similarity_scale >= 1.0
    evidence["overlap_a"] = covered_fine if a_is_fine else covered_coarse
    evidence["overlap_b"] = covered_coarse if a_is_fine else covered_fine
    # Clipped pixels carry no brightness information once a copy is brightened or darkened.
    usable = (
        coverage
        & (coarse > _CLIP_LOW)
        & (coarse < _CLIP_HIGH)
        & (warped > _CLIP_LOW)
        & (warped < _CLIP_HIGH)
    )
    smooth_coarse = cv2.GaussianBlur(coarse, (0, 0), 1.0)
    smooth_warped = cv2.GaussianBlur(warped, (0, 0), 1.0)
    evidence["correlation"] = _correlation(smooth_coarse, smooth_warped, usable)
    if evidence["correlation"] < _MIN_CORRELATION:
        return Match(False, "pixels-differ", **evidence)
    # Last because it is the dearest test and only a near-copy gets this far.
    misalignment, tiles = _tile_misalignment_px(smooth_coarse, smooth_warped, coverage, usable)
    evidence.update(misalignment_px=misalignment, tiles=tiles)
    # Too few textured tiles (small or flat photos) leaves the other tests to decide.
    if tiles >= _MIN_TILES and misalignment > _MAX_MISALIGNMENT_PX:
        return Match(False, "not-a-similarity", **evidence)
    return Match(True, "copy", **evidence)


def confirm(image_a: np.ndarray, image_b: np.ndarray) -> Match:
    """Decide whether photo b re-uses the pixels of photo a, not just the same scene."""
    return _confirm_prepared(_prepare(image_a), _prepare(image_b))


def find_duplicates(
    image: np.ndarray,
    fp: PhotoFingerprint,
    earlier: Iterable[tuple[Any, PhotoFingerprint, np.ndarray | Callable[[], np.ndarray]]],
    max_distance: int = MAX_HASH_DISTANCE,
    always_confirm: Collection[Any] = (),
) -> DuplicateResult:
    """Check a new photo against earlier ones: hash pre-filter, then feature confirmation.

    `earlier` yields (key, fingerprint, image or a function loading it); images are loaded only
    for hash candidates and for the keys in `always_confirm` (e.g. the project's latest photos),
    which are confirmed whatever their hash distance, to catch crops the hashes miss.
    """
    images = {}
    fingerprints = []
    for key, other_fp, other_image in earlier:
        images[key] = other_image
        fingerprints.append((key, other_fp))
    found = candidates(fp, fingerprints, max_distance)
    chosen = {key for key, _ in found}
    found += [
        (key, hash_distance(fp, other_fp))
        for key, other_fp in fingerprints
        if key in always_confirm and key not in chosen
    ]
    if not found:
        return DuplicateResult((), 0)
    new_photo = _prepare(image)
    duplicates, rejected = [], []
    for key, distance in found:
        source = images[key]
        earlier_image = source() if callable(source) else source
        match = _confirm_prepared(_prepare(earlier_image), new_photo)
        (duplicates if match.is_copy else rejected).append(DuplicateMatch(key, distance, match))
    return DuplicateResult(tuple(duplicates), len(found), tuple(rejected))
