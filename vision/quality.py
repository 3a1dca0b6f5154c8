"""Is a site photo usable? Sharpness and exposure where it matters, and resolution.

The answer is a warning with reasons, never a rejection: a photo that is soft
in a corner may still prove what it must. Sharpness is judged in the region
that matters — around the labels found in it when there are any, else the
central part of the frame — as the ratio of second-derivative energy to
first-derivative energy on the strongest edges. That ratio falls when an image is blurred but does
not depend on how much contrast or texture the scene has, which is what makes
a single global Laplacian-variance threshold misjudge so many good photos of
plain concrete.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

CHECK_VERSION = 1
# Measured on 37 corpus photos (curtain wall, EXIF samples, every 6th
# CrackForest image), centre region at the 1600 px working size: sharp
# originals 0.39-0.73; blurred with a Gaussian of sigma 2, 0.10-0.16; of
# sigma 1.2, 0.15-0.23.
SHARPNESS_MIN = 0.30
# Below this mean gradient on the strongest edges there is nothing to judge
# (blurred noise can look "sharp"); real photos measured 22-570.
EDGE_MIN = 15.0
WORKING_SIDE_PX = 1600
MIN_SIDE_PX = 1000
# Below this on either side there are too few pixels to tell focus from noise: the photo is
# judged too small, not measured.
MIN_JUDGED_SIDE_PX = 32
DARK_MEAN, BRIGHT_MEAN = 45, 215
CLIPPED_SHARE = 0.15

Box = tuple[int, int, int, int]  # x, y, width, height


@dataclass(frozen=True)
class QualityResult:
    """Whether a photo is usable, the reasons if not, and the measures behind them."""

    usable: bool
    warnings: tuple[str, ...]
    sharpness: float
    brightness: float
    shadows_clipped: float
    highlights_clipped: float
    width: int
    height: int
    region: Box
    region_source: str  # "labels", "centre", or "whole" for a photo too small to judge
    version: int = CHECK_VERSION


def _region(width: int, height: int, labels: Sequence[Sequence[tuple[int, int]]]) -> tuple[Box,
                                                                                            str]:
    if labels:
        points = np.array([p for corners in labels for p in corners], np.float64)
        x0, y0 = points.min(axis=0)
        x1, y1 = points.max(axis=0)
        # Twice the labels' extent: the label and the surface it is stuck on.
        cx, cy, half_w, half_h = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0), (y1 - y0)
        left, top = max(0, int(cx - half_w)), max(0, int(cy - half_h))
        right, bottom = min(width, int(cx + half_w) + 1), min(height, int(cy + half_h) + 1)
        if right - left >= 16 and bottom - top >= 16:
            return (left, top, right - left, bottom - top), "labels"
    return (width // 5, height // 5, width * 3 // 5, height * 3 // 5), "centre"


def edge_measures(gray: np.ndarray) -> tuple[float, float]:
    """Return (sharpness, edge strength) measured on the strongest tenth of the edges."""
    if gray.size == 0:
        return 0.0, 0.0
    height, width = gray.shape
    scale = WORKING_SIDE_PX / max(height, width)
    if scale < 1:
        # Explicit sizes: a long thin strip must not shrink to nothing across.
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    image = gray.astype(np.float32)
    laplacian = np.abs(cv2.Laplacian(image, cv2.CV_32F, ksize=3))
    gradient = (np.abs(cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3))
                + np.abs(cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)))
    # Edges only: flat areas carry sensor noise, which says nothing about focus.
    edges = gradient >= np.percentile(gradient, 90)
    strength = float(gradient[edges].mean())
    return float(laplacian[edges].mean() / (strength + 1e-6)), strength


def sharpness(gray: np.ndarray) -> float:
    """Return the blur-sensitive, contrast-free sharpness of a grayscale image."""
    return edge_measures(gray)[0]


def assess_quality(image: np.ndarray,
                   labels: Iterable[Sequence[tuple[int, int]]] = ()) -> QualityResult:
    """Judge sharpness and exposure around the labels (or the centre) and the resolution."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape
    if min(width, height) < MIN_JUDGED_SIDE_PX:
        return QualityResult(False, ("too-small", "low-resolution"), 0.0,
                             round(float(gray.mean()), 1), round(float((gray <= 5).mean()), 4),
                             round(float((gray >= 250).mean()), 4), width, height,
                             (0, 0, width, height), "whole")
    box, source = _region(width, height, list(labels))
    x, y, w, h = box
    region = gray[y:y + h, x:x + w]
    score, strength = edge_measures(region)
    brightness = float(region.mean())
    shadows = float((region <= 5).mean())
    highlights = float((region >= 250).mean())
    warnings = []
    if score < SHARPNESS_MIN or strength < EDGE_MIN:
        warnings.append("blurred")
    if brightness < DARK_MEAN or shadows > CLIPPED_SHARE:
        warnings.append("underexposed")
    if brightness > BRIGHT_MEAN or highlights > CLIPPED_SHARE:
        warnings.append("overexposed")
    if min(width, height) < MIN_SIDE_PX:
        warnings.append("low-resolution")
    return QualityResult(not warnings, tuple(warnings), round(score, 3), round(brightness, 1),
                         round(shadows, 4), round(highlights, 4), width, height, box, source)
