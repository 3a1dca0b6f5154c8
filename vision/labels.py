"""Which labels a site photo shows: every code decoded, with its size in the photo.

The size tells two things: pixels per QR module (below about 3 a label is
too small to be read reliably), and, for a label of known printed size, the
photo's scale in millimetres per pixel around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from labels.decode import ENGINES, decode_image
from labels.qr import ERROR_CORRECTION, qr_matrix
from labels.render import LAYOUTS

CHECK_VERSION = 1
# Retries (a 2x pass, a flattened label) only on photos up to this size: on a
# 12 MP photo with no label they would cost seconds.
RETRY_LIMIT_PIXELS = 4_000_000
MAX_MODULES = 177  # a version 40 symbol, the largest there is
# On a 12 MP photo without a label, zxing-cpp took 32 ms, pyzbar 170 ms and
# OpenCV 216 ms (one core); OpenCV reads the fewest codes of the three, so
# large photos skip it to keep all checks of a photo within 600 ms.
LARGE_PHOTO_ENGINES = tuple((name, read) for name, read in ENGINES if name != "opencv")

Point = tuple[int, int]


@dataclass(frozen=True)
class FoundLabel:
    """One code in the photo: its text, corners, engine, and size in pixels."""

    text: str
    points: tuple[Point, Point, Point, Point]
    engine: str
    side_px: float
    modules: int  # modules across the symbol, quiet zone excluded
    pixels_per_module: float


@dataclass(frozen=True)
class LabelsResult:
    """Every code found in a photo."""

    labels: tuple[FoundLabel, ...]
    version: int = CHECK_VERSION


def label_outline(points, modules: int, layout_name: str | None = None) -> np.ndarray:
    """Return the whole printed label's corners in the photo, from its QR code's corners.

    The label's layout places the symbol on it; unknown layouts take the
    largest extent of all of them, so no printed line escapes.
    """
    layouts = [LAYOUTS[layout_name]] if layout_name in LAYOUTS else list(LAYOUTS.values())
    left = top = right = bottom = 0.0
    for layout in layouts:
        module_mm = layout.qr_mm / (modules + 2 * layout.quiet_modules)
        symbol_mm = module_mm * modules
        qr_x = layout.padding_mm + layout.quiet_modules * module_mm
        qr_y = (layout.label_h_mm - layout.qr_mm) / 2 + layout.quiet_modules * module_mm
        left = min(left, -qr_x / symbol_mm)
        top = min(top, -qr_y / symbol_mm)
        right = max(right, (layout.label_w_mm - qr_x) / symbol_mm)
        bottom = max(bottom, (layout.label_h_mm - qr_y) / symbol_mm)
    unit = np.float32([[0, 0], [1, 0], [1, 1], [0, 1]])
    homography = cv2.getPerspectiveTransform(unit, np.float32(points))
    corners = np.float32([[[left, top]], [[right, top]], [[right, bottom]], [[left, bottom]]])
    return cv2.perspectiveTransform(corners, homography)[:, 0, :]


def labels_mask(shape: tuple[int, int], outlines: list[np.ndarray]) -> np.ndarray:
    """Return a bool mask of the photo covering the given label outlines (and a margin)."""
    mask = np.zeros(shape[:2], np.uint8)
    for outline in outlines:
        centre = outline.mean(axis=0)
        grown = centre + (outline - centre) * 1.08  # the label's edge and its shadow
        cv2.fillConvexPoly(mask, np.round(grown).astype(np.int32), 1)
    return mask.view(bool)


def _side_px(points) -> float:
    corners = np.asarray(points, np.float64)
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)
    return float(sides.mean())


def _modules(text: str) -> int:
    """Modules across the symbol that carries `text`.

    Our labels are encoded by the same encoder at level Q, so re-encoding the text gives
    their exact module count, and for other codes a close one. Another maker's code may
    hold more than level Q can (a long link printed at level M or L, the common defaults):
    then level L, which takes any text a QR symbol can, gives its size, or a close one.
    """
    for level in (ERROR_CORRECTION, "L"):
        try:
            return int(qr_matrix(text, level).shape[0])
        except ValueError:
            continue
    return MAX_MODULES


def find_labels(image: np.ndarray) -> LabelsResult:
    """Decode every code in a photo and measure each one's size."""
    found = []
    large = image.shape[0] * image.shape[1] > RETRY_LIMIT_PIXELS
    engines = list(LARGE_PHOTO_ENGINES) if large else None
    for code in decode_image(image, engines, retry_limit_pixels=RETRY_LIMIT_PIXELS):
        side = _side_px(code.points)
        modules = _modules(code.text)
        found.append(FoundLabel(code.text, code.points, code.engine, round(side, 1), modules,
                                round(side / modules, 2)))
    return LabelsResult(tuple(found))
