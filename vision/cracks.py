"""Crack map of a concrete surface photo: a valley filter (default) or a small network.

Two methods share the preparation (a grey copy at most ``WORK_SIDE_PX`` px a side, light
flattened and contrast in texture-noise units) and the measuring (centreline length, width
from the mask, in full-size px and in mm with a scale, each crack's contrast and width band):

- ``"classic"`` (default): the hand-designed valley detector described below;
- ``"net"``: ``models/crack_net.onnx`` run by OpenCV's DNN module, a U-Net of about 155,000
  parameters trained on synthetic cracks only (``scripts/train_crack_net.py``;
  ``models/README.md`` states its data and licence), its mask kept where the logit is above
  ``NET_LOGIT_THRESHOLD``, regions filtered by span, darkness, coherence, elongation and bend, each
  region's mask trimmed to its centreline and its pixels darker than ``NET_MASK_DARKNESS``.
  Measured by ``bench/_vision_cracks.py`` (F1 at 2 px; P/R): CrackForest 060-118 0.769
  (0.95/0.65), masonry 0.502 (0.56/0.46), UAV75 0.302 (0.25/0.39); curtain wall up to 0.57 %
  flagged, 3.0 candidates per photo. Better than the classic on masonry, worse on the rest
  and in candidate count: opt-in until a better one is trained.

The classic method, on a grey copy scaled so its long side is at most ``WORK_SIDE_PX`` px:

1. Flatten illumination and normalise contrast: subtract a Gaussian background
   (sigma ``BACKGROUND_SIGMA_PX``) and divide by the local standard deviation, so the
   thresholds below are in units of surface-texture noise, whatever the exposure.
2. Multi-scale Hessian valley strength at sigma 1, 2 and 3 px: the largest eigenvalue
   (positive across a thin dark line), minus half the other eigenvalue's magnitude (blobs and
   pits) and minus half the gradient magnitude (one-sided steps such as panel edges),
   scale-normalised; the maximum over scales is kept.
3. Hysteresis: regions above ``LOW_THRESHOLD`` that contain a pixel above ``HIGH_THRESHOLD``.
4. Centrelines by non-maximum suppression across the valley, then each region is judged on its
   centreline: extent along its main axis >= ``MIN_SPAN_PX``; mean normalised intensity
   <= ``MAX_MEAN_DARKNESS`` (a real crack is darker than the texture around it); mean local
   orientation coherence <= ``MAX_COHERENCE`` (joints, panel edges, frames and mats are straight
   over a 17 px window, cracks meander).
5. Widen the kept regions by up to ``GROW_RADIUS_PX`` into pixels darker than
   ``GROW_DARKNESS`` (the valley filter is narrower than wide cracks).
6. Join the pieces less than about ``2 * GROUP_GAP_PX`` apart into one crack (the filter
   breaks a faint crack into pieces) and keep a crack only when its pixels span
   ``MIN_CRACK_SPAN_PX`` along their main axis (a lone speck of texture does not) and
   ``MIN_CRACK_BREADTH_PX`` across it (a joint with a ragged edge, whose direction changes
   too often for the coherence test, still lies in a narrow straight band). Scale the
   mask back to the input size and measure each crack, one candidate each: length from its
   centreline, width from the mask's distance transform, both in full-resolution px (and mm
   when a scale is given).

Thresholds (in working px and noise units) were chosen by grid search on CrackForest images
001-059 only, maximising pixel F1 at 2 px tolerance subject to at most 0.9 % flagged on every
curtain-wall photo; the chosen point lies inside a plateau (F1 within 0.003 of the best):
background sigma 30 (tried 6-60), thresholds 0.7/0.25 (tried 0.6-0.8 / 0.2-0.3), span 25
(20-35), darkness -1.5 (-1.2 to -1.6), coherence 0.9 (0.7-0.95), growth 4 px below -2.0.
Step 6 was added later and chosen the same way, on the same images and limit (``bench/
_vision_cracks.py --tune GROUP_GAP_PX=4,6,8,10 MIN_CRACK_SPAN_PX=0,40,50,60,70,80
MIN_CRACK_BREADTH_PX=0``, then ``--tune ... MIN_CRACK_BREADTH_PX=0,2,3,4,5,6,8``): gap 6 px,
span 60 px (F1 0.834 against 0.830 without it; plateau: gap 4-10, span 40-70 within 0.003),
then breadth 6 px (5 and 6 px best at 0.835; 0 to 4 px 0.834, 8 px 0.833). The breadth rule
came after gap and span had been measured on the held-out sets (UAV75 0.430 with them alone),
so UAV75's figure below is not as blind as the others.
No learned weights: CrackForest is licensed for non-commercial research only.

Measured (``bench/_vision_cracks.py``; tolerance 2 px, pixel totals per set; before step 6
in brackets): CrackForest 001-059 (tuning) F1 0.835 P 0.89 R 0.79, 1.5 candidates per image
(0.830, 4.8); 060-118 (held out) F1 0.881 P 0.94 R 0.83, 1.7 (0.888, 5.2); curtain-wall
photos (no cracks) max 0.04 % flagged, 0.1 candidates per photo (0.19 %, 2.0). On surfaces
it never saw: masonry F1 0.295 P 0.45 R 0.22, 0.8 candidates (0.309, 2.5); UAV75 F1 0.456
P 0.38 R 0.58, 3.2 candidates (0.365, 17.4). A 4000x3000 photo takes about 100-120 ms on
one core. Lengths run about 10 % long (short side branches count), widths about 1 working px
wide.

Limits: a crack that is straight over 17 working px (about 70 px of a 12 MP photo) is
rejected like a joint, and so is one whose pixels all lie in a straight band 6 working px
wide; a crack shorter than 60 working px (about 240 px of a 12 MP photo) with nothing near
it is taken for a speck; pieces chain into one candidate, so a branched crack, a crazed
patch or parallel cracks within about 12 working px are one candidate whose length sums
them all; cracks narrower than one working px (about 4 px of a 12 MP photo)
fade in the downscale; widths are quantised to the working grid (about 4 full-size px).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CHECK_VERSION = 4
METHODS = ("net", "classic")
DEFAULT_METHOD = "classic"
MODEL_PATH = Path(__file__).resolve().parent / "models" / "crack_net.onnx"
WIDTH_BANDS_MM = (0.2, 0.3)
WIDTH_BANDS = ("below-0.2", "0.2-0.3", "above-0.3")  # narrowest first

WORK_SIDE_PX = 1024
BACKGROUND_SIGMA_PX = 30.0
HESSIAN_SIGMAS_PX = (1.0, 2.0, 3.0)
BLOB_WEIGHT = 0.5
EDGE_WEIGHT = 0.5
HIGH_THRESHOLD = 0.7
LOW_THRESHOLD = 0.25
MIN_SPAN_PX = 25.0
MAX_MEAN_DARKNESS = -1.5
COHERENCE_RADIUS_PX = 8
MAX_COHERENCE = 0.9
GROW_RADIUS_PX = 4
GROW_DARKNESS = -2.0
GROUP_GAP_PX = 6
MIN_CRACK_SPAN_PX = 60.0
MIN_CRACK_BREADTH_PX = 6.0
POLYLINE_STEP_PX = 8.0
# Network: a pixel is crack above NET_LOGIT_THRESHOLD; a region is kept when its centreline
# spans NET_MIN_SPAN_PX (the classic minimum, fixed beforehand), is darker on average than
# NET_MAX_DARKNESS (texture-noise units), no straighter than NET_MAX_COHERENCE (joints), and
# its span squared is NET_MIN_ELONGATION times its area (blotches are not), and its
# centreline strays from its main axis by at least NET_MIN_BEND of its span (joints do not).
# Of a kept region, the mask keeps the centreline and its neighbours and the pixels darker
# than NET_MASK_DARKNESS (texture-noise units; inf keeps it all). All chosen on CrackForest
# 001-059: logit threshold, elongation and darkness by scripts/train_crack_net.py --tune,
# then coherence, bend and mask darkness within the curtain-wall limit, as the classic's
# thresholds were (bench/_vision_cracks.py --method net --tune; models/README.md).
NET_LOGIT_THRESHOLD = -3.0
NET_MIN_SPAN_PX = MIN_SPAN_PX
NET_MAX_DARKNESS = -1.5
NET_MAX_COHERENCE = 0.9
NET_MIN_ELONGATION = 6.0
NET_MIN_BEND = 0.02
NET_MASK_DARKNESS = -2.0


@dataclass(frozen=True)
class CrackSegment:
    """One connected crack: main-axis polyline, centreline length and widths (full-size px)."""

    polyline: tuple[tuple[float, float], ...]
    length_px: float
    width_px: float
    width_p90_px: float
    length_mm: float | None = None
    width_mm: float | None = None
    width_p90_mm: float | None = None
    # How much darker than the surface around it, in units of the surface's texture noise.
    contrast: float = 0.0
    # The width class from the 90th-percentile width (see width_band); None without a scale.
    width_band: str | None = None


@dataclass(frozen=True)
class CrackResult:
    """Crack mask at input size, the cracks found, the flagged share and the check version."""

    mask: np.ndarray
    segments: tuple[CrackSegment, ...]
    crack_fraction: float
    version: int = CHECK_VERSION
    method: str = DEFAULT_METHOD


def detect_cracks(image: np.ndarray, mm_per_px: float | None = None,
                  ignore: np.ndarray | None = None, method: str = DEFAULT_METHOD) -> CrackResult:
    """Find cracks in a BGR or grey uint8 photo of a concrete surface.

    `ignore` (bool, image-sized) marks what is not concrete, such as the
    labels stuck on it: their printed lines are never cracks. `method` is
    "classic" (the valley filter, default) or "net" (the network).
    """
    if method not in METHODS:
        raise ValueError(f"unknown crack method {method!r}; use one of {METHODS}")
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    height, width = grey.shape
    scale = min(1.0, WORK_SIDE_PX / max(height, width))
    if scale < 1.0:
        # Explicit sizes: a long thin strip must not shrink to nothing across.
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    normalised = _normalise(grey.astype(np.float32))
    ignored = None
    if ignore is not None and ignore.any():
        ignored = cv2.resize(ignore.view(np.uint8), (grey.shape[1], grey.shape[0]),
                             interpolation=cv2.INTER_AREA) > 0
    find = _classic_regions if method == "classic" else _net_regions
    work_mask, width_mask, keep, owner, ys, xs, angle, darkness = find(normalised, ignored)
    segments = _segments(width_mask, keep, owner, ys, xs, angle, darkness, scale, mm_per_px)
    if scale < 1.0:
        mask = cv2.resize(work_mask.view(np.uint8), (width, height),
                          interpolation=cv2.INTER_NEAREST).view(bool)
    else:
        mask = work_mask
    fraction = float(np.count_nonzero(mask)) / mask.size
    return CrackResult(mask=mask, segments=segments, crack_fraction=fraction, method=method)


def _classic_regions(normalised, ignored):
    strength, hessian_diff, hessian_xy = _valley_strength(normalised)
    if ignored is not None:
        strength[ignored] = 0.0
    low = strength > LOW_THRESHOLD
    count, labels = cv2.connectedComponents(low.view(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[strength > HIGH_THRESHOLD])] = True
    keep[0] = False

    ys, xs, normal_angle = _centreline(strength, hessian_diff, hessian_xy, low)
    owner = labels[ys, xs]
    span, _, darkness, coherence, smooth_angle = _region_shape(
        owner, ys, xs, normal_angle, normalised, count)
    keep &= (span >= MIN_SPAN_PX) & (darkness <= MAX_MEAN_DARKNESS) & (coherence <= MAX_COHERENCE)

    work_mask = keep[labels]
    if work_mask.any():
        disc = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * GROW_RADIUS_PX + 1, 2 * GROW_RADIUS_PX + 1))
        near = cv2.dilate(work_mask.view(np.uint8), disc).view(bool)
        work_mask |= near & (normalised < GROW_DARKNESS)
        if ignored is not None:
            work_mask &= ~ignored
    work_mask, *crack = _cracks_of_pieces(work_mask, keep[owner], ys, xs, smooth_angle,
                                          normalised)
    return (work_mask, work_mask, *crack)


def _cracks_of_pieces(work_mask, chosen, ys, xs, angle, normalised):
    """Join pieces up to about 2 * GROUP_GAP_PX apart into one crack; keep those big enough.

    The valley filter breaks a faint crack into pieces; a speck of texture stays alone. Each
    piece is widened by GROUP_GAP_PX and what then touches is one crack. `chosen` marks the
    centreline pixels (ys, xs, angle) of the pieces kept so far (all on `work_mask`). Returns
    the mask of the cracks kept, which crack labels are kept (0 is the background), and each
    of their centreline pixels' label, position, angle and the crack's mean darkness.
    """
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * GROUP_GAP_PX + 1,) * 2)
    count, group = cv2.connectedComponents(cv2.dilate(work_mask.view(np.uint8), disc),
                                           connectivity=8)
    my, mx = np.nonzero(work_mask)
    span, breadth = _extents(group[my, mx], mx, my, count)
    keep = (span >= MIN_CRACK_SPAN_PX) & (breadth >= MIN_CRACK_BREADTH_PX)
    keep[0] = False
    ys, xs, angle = ys[chosen], xs[chosen], angle[chosen]
    owner = group[ys, xs]
    pixels = np.maximum(np.bincount(owner, minlength=count), 1)
    darkness = np.bincount(owner, normalised[ys, xs], count) / pixels
    return work_mask & keep[group], keep, owner, ys, xs, angle, darkness


def _extents(owner, xs, ys, count):
    """Each label's extent along its main axis and across it: a uniform bar's of the
    same variance."""
    pixels = np.maximum(np.bincount(owner, minlength=count), 1).astype(np.float64)
    dx = xs - (np.bincount(owner, xs, count) / pixels)[owner]
    dy = ys - (np.bincount(owner, ys, count) / pixels)[owner]
    sxx = np.bincount(owner, dx * dx, count) / pixels
    syy = np.bincount(owner, dy * dy, count) / pixels
    sxy = np.bincount(owner, dx * dy, count) / pixels
    radius = np.sqrt(((sxx - syy) / 2) ** 2 + sxy**2)
    major, minor = (sxx + syy) / 2 + radius, np.maximum((sxx + syy) / 2 - radius, 0.0)
    return np.sqrt(12 * major), np.sqrt(12 * minor)


_local = threading.local()


def _network() -> cv2.dnn.Net:
    # One network per thread: an OpenCV Net keeps its buffers and is not thread-safe.
    net = getattr(_local, "net", None)
    if net is None:
        net = _local.net = cv2.dnn.readNetFromONNX(str(MODEL_PATH))
    return net


def crack_logits(normalised: np.ndarray) -> np.ndarray:
    """Return the network's crack logit per pixel of a surface from normalise_surface."""
    height, width = normalised.shape
    # The network halves the image four times: pad to a multiple of 16.
    padded = cv2.copyMakeBorder(np.clip(normalised, -8.0, 8.0), 0, -height % 16, 0, -width % 16,
                                cv2.BORDER_REFLECT)
    net = _network()
    net.setInput(padded[None, None])
    return net.forward()[0, 0, :height, :width]


def _net_regions(normalised, ignored, logits=None):
    logits = crack_logits(normalised) if logits is None else logits.copy()
    if ignored is not None:
        logits[ignored] = -20.0
    found = logits > NET_LOGIT_THRESHOLD
    count, labels = cv2.connectedComponents(found.view(np.uint8), connectivity=8)
    # Centreline: where the logit peaks across the crack; the direction comes from the
    # Hessian of the smoothed logit map (a bright ridge there is a dark valley in the photo).
    # Smoothing wider than a crack leaves one peak across even a crack of flat top.
    ridge = cv2.GaussianBlur(-np.minimum(logits, 4.0), (0, 0), 2.5)
    dxx = cv2.Sobel(ridge, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(ridge, cv2.CV_32F, 0, 2, ksize=3)
    dxy = cv2.Sobel(ridge, cv2.CV_32F, 1, 1, ksize=3) * 0.25
    ys, xs, normal_angle = _centreline(-ridge, (dxx - dyy) * 0.125, dxy, found)
    owner = labels[ys, xs]
    span, breadth, darkness, coherence, smooth_angle = _region_shape(
        owner, ys, xs, normal_angle, normalised, count)
    # Blotches (blow holes, stains) are as long as they are wide; a crack is far longer.
    area = np.bincount(labels.ravel(), minlength=count)
    elongation = span * span / np.maximum(area, 1)
    # A joint or board edge is straight over its whole length, its centreline within a pixel
    # or two of one line however long it is; a crack wanders from its main axis.
    bend = breadth / np.maximum(span, 1.0)
    keep = ((span >= NET_MIN_SPAN_PX) & (darkness <= NET_MAX_DARKNESS)
            & (coherence <= NET_MAX_COHERENCE) & (elongation >= NET_MIN_ELONGATION)
            & (bend >= NET_MIN_BEND))
    keep[0] = False
    work_mask = keep[labels]
    # Widths from where the network is confident (logit above 2), before the trim below: a
    # faint wide crack is not darker than NET_MASK_DARKNESS across all its width. Its pieces
    # are not joined as the classic's are: that cost F1 on CrackForest 001-059 (0.760 to
    # 0.741 with the classic's settings), the network's tuning set.
    width_mask = work_mask & (logits > 2.0)
    # The mask above runs wider than a thin crack (it is there to find faint ones): of it keep
    # the centreline with its neighbours and the pixels darker than NET_MASK_DARKNESS, as the
    # classic keeps only the dark pixels it grows into.
    line = np.zeros_like(work_mask)
    chosen = keep[owner]
    line[ys[chosen], xs[chosen]] = True
    work_mask &= cv2.dilate(line.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool) | (
        normalised < NET_MASK_DARKNESS)
    return work_mask, width_mask, keep, owner, ys, xs, smooth_angle, darkness


def normalise_surface(grey: np.ndarray) -> np.ndarray:
    """Return a grey uint8 image with light flattened and contrast in texture-noise units."""
    return np.clip(_normalise(grey.astype(np.float32)), -8.0, 8.0)


def _normalise(grey: np.ndarray) -> np.ndarray:
    # Dividing by local texture contrast makes one threshold fit dull and busy surfaces alike.
    detail = grey - _wide_blur(grey)
    spread = _wide_blur(detail * detail)
    return detail / (np.sqrt(spread) + 1.0)


def _wide_blur(values: np.ndarray) -> np.ndarray:
    # A 180 px Gaussian costs more than the rest of the check; blurring an 8x smaller copy and
    # interpolating back gives the same smooth background for a fraction of the time.
    height, width = values.shape
    small = cv2.resize(values, (max(1, width // 8), max(1, height // 8)),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), BACKGROUND_SIGMA_PX / 8, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _valley_strength(normalised: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    best = diff_best = xy_best = None
    for sigma in HESSIAN_SIGMAS_PX:
        smooth = cv2.GaussianBlur(normalised, (0, 0), sigma)
        # Sobel 3x3 second derivatives carry a factor 4, first derivatives a factor 8.
        dxx = cv2.Sobel(smooth, cv2.CV_32F, 2, 0, ksize=3)
        dyy = cv2.Sobel(smooth, cv2.CV_32F, 0, 2, ksize=3)
        dxy = cv2.Sobel(smooth, cv2.CV_32F, 1, 1, ksize=3) * 0.25
        gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
        half_diff = (dxx - dyy) * 0.125
        mean = (dxx + dyy) * 0.125
        radius = cv2.magnitude(half_diff, dxy)
        across, along = mean + radius, mean - radius
        gradient = cv2.magnitude(gx, gy) * 0.125
        # A dark line curves up across it (across > 0) and stays flat along it; a step edge
        # has a strong gradient at the same place, a pit curves in both directions.
        strength = sigma * sigma * (across - BLOB_WEIGHT * np.abs(along))
        strength -= EDGE_WEIGHT * sigma * gradient
        if best is None:
            best, diff_best, xy_best = strength, half_diff, dxy
        else:
            better = strength > best
            best = np.maximum(best, strength)
            diff_best[better] = half_diff[better]
            xy_best[better] = dxy[better]
    return best, diff_best, xy_best


def _centreline(strength, hessian_diff, hessian_xy, low):
    ys, xs = np.nonzero(low)
    normal_angle = 0.5 * np.arctan2(hessian_xy[ys, xs], hessian_diff[ys, xs])
    # Keep a pixel only where the valley peaks across its own direction (4 quantised normals).
    step = np.round(normal_angle / (np.pi / 4)).astype(np.int64) % 4
    offsets = np.array([(0, 1), (1, 1), (1, 0), (1, -1)])
    dy, dx = offsets[step, 0], offsets[step, 1]
    height, width = strength.shape
    value = strength[ys, xs]
    ahead = strength[np.clip(ys + dy, 0, height - 1), np.clip(xs + dx, 0, width - 1)]
    behind = strength[np.clip(ys - dy, 0, height - 1), np.clip(xs - dx, 0, width - 1)]
    # Strict on one side so a flat-topped valley keeps one line, not two.
    peak = (value > ahead) & (value >= behind)
    return ys[peak], xs[peak], normal_angle[peak]


def _region_shape(owner, ys, xs, normal_angle, normalised, count):
    pixels = np.maximum(np.bincount(owner, minlength=count), 1).astype(np.float64)
    span, breadth = _extents(owner, xs, ys, count)
    darkness = np.bincount(owner, normalised[ys, xs], count) / pixels

    # Orientation coherence: length of the mean doubled-angle vector of nearby centreline pixels.
    shape = normalised.shape
    cos2, sin2, hits = (np.zeros(shape, np.float32) for _ in range(3))
    cos2[ys, xs] = np.cos(2 * normal_angle)
    sin2[ys, xs] = np.sin(2 * normal_angle)
    hits[ys, xs] = 1.0
    window = (2 * COHERENCE_RADIUS_PX + 1,) * 2
    cos2, sin2, hits = (cv2.blur(a, window) for a in (cos2, sin2, hits))
    local = np.hypot(cos2[ys, xs], sin2[ys, xs]) / np.maximum(hits[ys, xs], 1e-6)
    coherence = np.bincount(owner, local, count) / pixels
    # The pixel's own angle is noisy on grainy surfaces; the window's mean angle is not.
    smooth_angle = 0.5 * np.arctan2(sin2[ys, xs], cos2[ys, xs])
    return span, breadth, darkness, coherence, smooth_angle


def _segments(width_mask, keep, owner, ys, xs, normal_angle, darkness, scale, mm_per_px):
    chosen = keep[owner]
    if not chosen.any():
        return ()
    ys, xs, owner, normal_angle = ys[chosen], xs[chosen], owner[chosen], normal_angle[chosen]
    inside = cv2.distanceTransform(width_mask.view(np.uint8), cv2.DIST_L2, 5)
    # A band w px wide is (w + 1) / 2 from its edge at its centre.
    widths = np.maximum(2.0 * inside[ys, xs] - 1.0, 1.0) / scale
    # An 8-connected line at angle a has max(|cos a|, |sin a|) pixels per unit length.
    steps = 1.0 / np.maximum(np.abs(np.cos(normal_angle)), np.abs(np.sin(normal_angle))) / scale
    order = np.argsort(owner, kind="stable")
    bounds = np.flatnonzero(np.diff(owner[order])) + 1
    segments = []
    for group in np.split(order, bounds):
        points = np.column_stack([xs[group], ys[group]]).astype(np.float64) / scale
        length_px = float(steps[group].sum())
        width_px = float(np.median(widths[group]))
        width_p90_px = float(np.percentile(widths[group], 90))
        mm = {}
        if mm_per_px is not None:
            mm = {"length_mm": length_px * mm_per_px, "width_mm": width_px * mm_per_px,
                  "width_p90_mm": width_p90_px * mm_per_px,
                  "width_band": width_band(width_p90_px * mm_per_px)}
        segments.append(CrackSegment(
            polyline=_main_axis_polyline(points, POLYLINE_STEP_PX / scale),
            length_px=length_px, width_px=width_px, width_p90_px=width_p90_px,
            contrast=round(-float(darkness[owner[group[0]]]), 2), **mm))
    segments.sort(key=lambda s: -s.length_px)
    return tuple(segments)


def width_band(width_mm: float) -> str:
    """Return the width class of a crack: below-0.2, 0.2-0.3 or above-0.3 (mm).

    The usual limits for surface cracks of precast members in Chinese
    acceptance rules: under 0.2 mm is a hairline crack, over 0.3 mm is wide.
    """
    if width_mm < WIDTH_BANDS_MM[0]:
        return WIDTH_BANDS[0]
    return WIDTH_BANDS[1] if width_mm <= WIDTH_BANDS_MM[1] else WIDTH_BANDS[2]


def worth_a_look(segment: CrackSegment, min_length_mm: float, min_length_px: float,
                 min_contrast: float) -> bool:
    """Tell whether a crack candidate is long and dark enough to become a finding.

    Its length counts in mm when the photo has a scale, else in photo pixels; its contrast
    is in units of the surface's texture noise.
    """
    long_enough = (segment.length_mm >= min_length_mm if segment.length_mm is not None
                   else segment.length_px >= min_length_px)
    return long_enough and segment.contrast >= min_contrast


def _main_axis_polyline(points: np.ndarray, step_px: float) -> tuple[tuple[float, float], ...]:
    # Averaging centreline points in slices along the main axis gives an ordered line
    # without tracing a skeleton; branches are averaged into the main path.
    centre = points.mean(axis=0)
    _, _, axes = np.linalg.svd(points - centre, full_matrices=False)
    along = (points - centre) @ axes[0]
    slot = np.floor((along - along.min()) / step_px).astype(np.int64)
    used, slot = np.unique(slot, return_inverse=True)
    totals = np.bincount(slot, minlength=len(used)).astype(np.float64)
    mean_x = np.bincount(slot, points[:, 0], len(used)) / totals
    mean_y = np.bincount(slot, points[:, 1], len(used)) / totals
    pairs = zip(mean_x, mean_y, strict=True)
    return tuple((round(float(x), 1), round(float(y), 1)) for x, y in pairs)
