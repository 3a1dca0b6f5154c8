"""Train the crack network of vision/cracks.py; write vision/models/ or a checkpoint.

    nice -n 19 .venv/bin/python scripts/train_crack_net.py [--images 6000] [--steps 6000]
    nice -n 19 .venv/bin/python scripts/train_crack_net.py --real masonry,uav75 --out M.onnx

Needs the training requirements (requirements-train.txt: torch, scikit-image, onnx); the
service itself runs the exported ONNX file through OpenCV and needs none of them.

Synthetic training data is made here, so on its own it gives weights that carry no data set's
licence:
- backgrounds: three real textures that scikit-image ships under CC0 (brick, gravel, grass),
  randomly scaled, rotated and mixed, and procedural surfaces (cast concrete with pores,
  board formwork, brick masonry, pavement grain, stains, shading);
- distractors that are NOT cracks: straight joints and board edges, one-sided steps, pits,
  specks, stains, shadows;
- cracks rendered as random walks with a meandering direction, branches, a width that varies
  along the crack (0.7-14 px) and tapers at its ends, a varied darkness, blur, noise and JPEG.
  `--generator NAME=V[,V2] ...` changes those ranges for one run (CRACK_WIDTH_PX,
  THIN_CRACK_SHARE, CRACK_MEANDER, CRACK_JITTER, CRACK_DEPTH, JOINTS_PER_IMAGE and the rest
  of GENERATOR); without it, the ranges above.

`--real` mixes in labelled photos of `--corpus` (crackforest, masonry, uav75), augmented
(scale, rotation, gamma, contrast, blur, noise, JPEG); UAV75's board-formwork
"planking" pixels weigh more as hard negatives. Weights trained so carry those sets' licence
terms (vision/models/README.md). A part of each such set is set aside (CHECK_PARTS) to choose
the checkpoint and the post-processing; the sets not named stay held out, never looked at.
The curtain-wall photos are never used. Runs on one CPU core: about 5 minutes for 1500 steps
and 8 for 3000 (2026-12-06, two runs at once on two cores; more on a busy machine).
`--ema 0.99` writes checkpoints of the weights' moving average, as for the committed network
(vision/models/README.md has its commands); `--seed N` makes another run of the same recipe.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vision.cracks import MIN_SPAN_PX, normalise_surface  # noqa: E402

SIZE = 256
CHANNELS = (8, 16, 32, 48, 64)
REAL_SETS = ("crackforest", "masonry", "uav75")
# Set aside from training to choose the checkpoint and post-processing: CrackForest every
# sixth image, the masonry tiles of source photos c and d (a source photo's tiles stay on one
# side), UAV75's original validation split.
CHECK_PARTS = {"crackforest": "every sixth image", "masonry": "tiles c_* and d_*",
               "uav75": "splits.txt val"}
PLANKING_WEIGHT = 3.0
# Pixels this close to a true crack but outside it weigh nothing in the loss: the F1 the
# network is judged by counts a prediction there as a hit, and hand-drawn masks of thin
# cracks are often off by a pixel or two, so penalising them teaches blurred, timid edges.
NEAR_MISS_PX = 2
# The post-processing is chosen among settings that flag at most this share of synthetic
# crack-free surfaces (joints, steps, formwork, pits): the photos' limit, on training data.
CRACK_FREE_LIMIT = 0.01
# The synthetic cracks and joints (`--generator NAME=V ...` sets these for one run): widths
# log-uniform in CRACK_WIDTH_PX, a THIN_CRACK_SHARE of them up to THIN_CRACK_MAX_PX (before
# the width's variation along the crack, 0.5-1.5 times);
# the heading's slow swing and each 1 px step's jitter (radians, sd drawn per crack); the
# depth in units of the surface's texture contrast, at least CRACK_MIN_DEPTH of full scale;
# straight joints and steps per image (Poisson mean).
CRACK_WIDTH_PX = (0.7, 14.0)
THIN_CRACK_SHARE = 0.0
THIN_CRACK_MAX_PX = 2.5
CRACK_MEANDER = (0.1, 0.6)
CRACK_JITTER = (0.05, 0.5)
CRACK_DEPTH = (0.8, 5.0)
CRACK_MIN_DEPTH = (0.04, 0.2)
JOINTS_PER_IMAGE = 1.2
GENERATOR = ("CRACK_WIDTH_PX", "THIN_CRACK_SHARE", "THIN_CRACK_MAX_PX", "CRACK_MEANDER",
             "CRACK_JITTER", "CRACK_DEPTH", "CRACK_MIN_DEPTH", "JOINTS_PER_IMAGE")


# ---------------------------------------------------------------- surfaces

def real_textures() -> list[np.ndarray]:
    """Return the CC0 textures scikit-image ships, grey float32 in 0..1."""
    from skimage import data

    return [np.asarray(f(), np.float32) / 255.0 for f in (data.brick, data.gravel, data.grass)]


def _noise(rng, shape, sigma) -> np.ndarray:
    field = cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (0, 0), sigma)
    return field / (field.std() + 1e-6)


def _concrete(rng, size) -> np.ndarray:
    shape = (size, size)
    surface = sum(rng.uniform(0.0, w) * _noise(rng, shape, s)
                  for s, w in ((0.7, 0.06), (1.5, 0.05), (4, 0.05), (15, 0.08)))
    surface = 0.55 + rng.uniform(-0.2, 0.2) + surface
    # Pores and air voids: small dark pits, some with a bright rim.
    for _ in range(rng.integers(0, 80)):
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        axes = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        cv2.ellipse(surface, centre, axes, rng.uniform(0, 180), 0, 360,
                    float(surface[centre[1], centre[0]] - rng.uniform(0.1, 0.4)), -1)
    # Aggregate showing through: lighter and darker blobs.
    for _ in range(rng.integers(0, 40)):
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        cv2.circle(surface, centre, int(rng.integers(2, 8)), float(rng.uniform(0.3, 0.8)), -1)
    return cv2.GaussianBlur(surface, (0, 0), 0.6)


def _formwork(rng, size) -> np.ndarray:
    # Boards along x with grain stretched along them; joints between boards are straight.
    big = int(size * 1.5)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (big, big)).astype(np.float32), (0, 0),
                             sigmaX=rng.uniform(6, 20), sigmaY=rng.uniform(0.5, 1.5))
    surface = 0.55 + 0.06 * grain / (grain.std() + 1e-6)
    y = 0
    while y < big:
        board = int(rng.integers(14, 60))
        surface[y:y + board] += rng.uniform(-0.12, 0.12)
        if rng.random() < 0.7:
            cv2.line(surface, (0, y), (big, y), float(rng.uniform(0.15, 0.45)),
                     int(rng.integers(1, 3)))
        y += board
    surface += 0.04 * _noise(rng, (big, big), 1.0)
    return _rotate_crop(surface, rng.uniform(0, 180), size)


def _masonry(rng, size) -> np.ndarray:
    height = int(rng.integers(12, 40))
    length = int(height * rng.uniform(1.8, 3.5))
    joint = int(rng.integers(1, 5))
    mortar = rng.uniform(0.3, 0.8)
    big = int(size * 1.5)
    surface = np.full((big, big), mortar, np.float32)
    for row, top in enumerate(range(0, big, height)):
        shift = (length // 2) * (row % 2)
        for left in range(-shift, big, length):
            tone = rng.uniform(0.25, 0.75)
            surface[top + joint:top + height, max(left + joint, 0):max(left + length, 0)] = tone
    surface += rng.uniform(0.02, 0.08) * _noise(rng, (big, big), rng.uniform(0.7, 2.0))
    return _rotate_crop(cv2.GaussianBlur(surface, (0, 0), 0.7), rng.choice([0, 90]) +
                        rng.uniform(-8, 8), size)


def _pavement(rng, size) -> np.ndarray:
    surface = 0.5 + 0.04 * _noise(rng, (size, size), 8)
    count = int(rng.integers(300, 1500))
    xs, ys = rng.integers(0, size, count), rng.integers(0, size, count)
    tones = rng.uniform(0.2, 0.9, count)
    radii = rng.integers(1, 4, count)
    for x, y, tone, radius in zip(xs, ys, tones, radii, strict=True):
        cv2.circle(surface, (int(x), int(y)), int(radius), float(tone), -1)
    return cv2.GaussianBlur(surface, (0, 0), rng.uniform(0.5, 1.2))


def _real(rng, size, textures) -> np.ndarray:
    texture = textures[rng.integers(len(textures))]
    zoom = rng.uniform(0.5, 2.0)
    scaled = cv2.resize(texture, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA
                        if zoom < 1 else cv2.INTER_CUBIC)
    if min(scaled.shape) < size:
        scaled = cv2.resize(scaled, (size, size), interpolation=cv2.INTER_CUBIC)
    top = rng.integers(0, scaled.shape[0] - size + 1)
    left = rng.integers(0, scaled.shape[1] - size + 1)
    crop = scaled[top:top + size, left:left + size]
    return np.rot90(crop, rng.integers(4)).copy()


def _rotate_crop(surface, angle, size) -> np.ndarray:
    centre = (surface.shape[1] / 2, surface.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D(centre, float(angle), 1.0)
    turned = cv2.warpAffine(surface, matrix, surface.shape[::-1], borderMode=cv2.BORDER_REFLECT)
    top = (surface.shape[0] - size) // 2
    return turned[top:top + size, top:top + size].copy()


def surface(rng, size, textures) -> np.ndarray:
    """Return a crack-free surface: a real or procedural texture with light and stains."""
    kind = rng.choice(["real", "concrete", "concrete", "formwork", "masonry", "pavement"])
    if kind == "real":
        image = _real(rng, size, textures)
    else:
        image = {"concrete": _concrete, "formwork": _formwork, "masonry": _masonry,
                 "pavement": _pavement}[kind](rng, size)
    if rng.random() < 0.3:  # two surfaces blended: weathered, painted over
        other = _concrete(rng, size) if kind != "concrete" else _real(rng, size, textures)
        image = (image + rng.uniform(0.2, 0.5) * other) / 1.35
    # Contrast of the texture, from dull to busy.
    image = image.mean() + (image - image.mean()) * rng.uniform(0.4, 1.6)
    # Stains and uneven light.
    for _ in range(rng.integers(0, 4)):
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        blob = np.zeros((size, size), np.float32)
        cv2.circle(blob, centre, int(rng.integers(10, size // 2)), 1.0, -1)
        image -= rng.uniform(-0.15, 0.2) * cv2.GaussianBlur(blob, (0, 0), rng.uniform(4, 20))
    ramp = np.linspace(rng.uniform(0.6, 1.2), rng.uniform(0.6, 1.2), size, dtype=np.float32)
    image *= ramp[None, :] if rng.random() < 0.5 else ramp[:, None]
    return image


# ---------------------------------------------------------------- distractors and cracks

def distractors(rng, image) -> None:
    """Draw what is not a crack: straight joints, steps, pits, specks and shadows."""
    size = image.shape[0]
    for _ in range(rng.poisson(JOINTS_PER_IMAGE)):  # joints and edges: straight right across
        angle = rng.uniform(0, math.pi)
        centre = rng.uniform(0, size, 2)
        if rng.random() < 0.6:
            joint(rng, image, centre, angle)
        else:  # a one-sided step: everything beyond the line shifts in brightness
            side = np.zeros_like(image)
            normal = np.array([-math.sin(angle), math.cos(angle)])
            ys, xs = np.mgrid[:size, :size]
            side[((xs - centre[0]) * normal[0] + (ys - centre[1]) * normal[1]) > 0] = 1.0
            image += rng.uniform(-0.3, 0.3) * cv2.GaussianBlur(side, (0, 0), 0.8)
    for _ in range(rng.poisson(4)):  # specks and pits
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        axes = (int(rng.integers(1, 6)), int(rng.integers(1, 4)))
        cv2.ellipse(image, centre, axes, rng.uniform(0, 180), 0, 360,
                    float(image.mean() * rng.uniform(0.2, 0.7)), -1)
    for _ in range(rng.poisson(3)):  # blow holes, spalls and stains: blotches, not lines
        centre = rng.uniform(0, size, 2)
        radius = rng.uniform(3, 14)
        angles = np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(5, 10))))
        reach = radius * rng.uniform(0.4, 1.0, len(angles))
        corners = centre + np.column_stack([np.cos(angles), np.sin(angles)]) * reach[:, None]
        patch = np.zeros_like(image)
        cv2.fillPoly(patch, [corners.round().astype(np.int32)], 1.0)
        patch = cv2.GaussianBlur(patch, (0, 0), rng.uniform(0.5, 2.0))
        image -= patch * float(image.mean() * rng.uniform(0.15, 0.7))
    if rng.random() < 0.15:  # a short straight scratch or a drawn line
        start = rng.integers(0, size, 2)
        end = start + rng.integers(-60, 60, 2)
        cv2.line(image, tuple(map(int, start)), tuple(map(int, end)),
                 float(image.mean() * rng.uniform(0.5, 0.8)), 1)


def joint(rng, image, centre, angle) -> None:
    """Draw a straight joint or board edge: slightly wavy, uneven in tone, with gaps."""
    size = image.shape[0]
    direction = np.array([math.cos(angle), math.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    along = np.arange(-1.5 * size, 1.5 * size, 12.0)
    points = (centre + along[:, None] * direction
              + rng.normal(0, 0.4, len(along))[:, None] * normal)
    thickness = int(rng.integers(1, 5))
    base = float(image.mean() * rng.uniform(0.3, 0.85))
    gaps = rng.random() < 0.3
    for a, b in zip(points[:-1], points[1:], strict=True):
        if gaps and rng.random() < 0.2:
            continue
        tone = base * rng.uniform(0.9, 1.1)
        cv2.line(image, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), tone, thickness)


def crack_path(rng, size, length, start=None, angle=None) -> np.ndarray:
    """Return the points of a crack, 1 px apart: a main direction, a bounded meander, jags."""
    count = max(int(length), 2)
    point = rng.uniform(-0.1 * size, 1.1 * size, 2) if start is None else np.asarray(start, float)
    heading = rng.uniform(0, 2 * math.pi) if angle is None else angle
    knots = max(2, count // int(rng.integers(12, 60)) + 1)
    meander = np.interp(np.arange(count), np.linspace(0, count, knots),
                        rng.normal(0, rng.uniform(*CRACK_MEANDER), knots))
    angles = heading + meander + rng.normal(0, rng.uniform(*CRACK_JITTER), count)
    steps = np.column_stack([np.cos(angles), np.sin(angles)])
    return point + np.vstack([[0.0, 0.0], np.cumsum(steps, axis=0)])


def draw_crack(rng, coverage, points, width) -> None:
    """Paint a crack's coverage (0..1) at 4x, with a width varying along it and tapered ends."""
    count = len(points)
    along = np.linspace(0, 1, count)
    profile = np.interp(along, np.linspace(0, 1, 6), rng.uniform(0.5, 1.5, 6))
    taper = np.minimum(1.0, np.minimum(along, 1 - along) * rng.uniform(4, 12) + 0.25)
    widths = np.maximum(width * profile * taper, 0.5)
    for i in range(0, count - 1):
        a, b = points[i] * 4, points[i + 1] * 4
        cv2.line(coverage, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1.0,
                 max(1, int(round(widths[i] * 4))))


def sample(rng, textures, size=SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Return one grey uint8 training image and its crack mask (bool)."""
    image = surface(rng, size, textures).astype(np.float32)
    distractors(rng, image)
    fine = np.zeros((size * 4, size * 4), np.float32)
    if rng.random() < 0.8:
        for _ in range(rng.integers(1, 4)):
            widest = CRACK_WIDTH_PX[1]
            if THIN_CRACK_SHARE and rng.random() >= 1 - THIN_CRACK_SHARE:
                widest = THIN_CRACK_MAX_PX
            width = math.exp(rng.uniform(math.log(CRACK_WIDTH_PX[0]), math.log(widest)))
            length = rng.uniform(0.3, 2.0) * size
            points = crack_path(rng, size, length)
            draw_crack(rng, fine, points, width)
            for _ in range(rng.poisson(1.0)):  # branches
                at = points[rng.integers(len(points))]
                branch = crack_path(rng, size, rng.uniform(0.1, 0.6) * length, at,
                                    rng.uniform(0, 2 * math.pi))
                draw_crack(rng, fine, branch, width * rng.uniform(0.3, 0.9))
    coverage = cv2.resize(fine, (size, size), interpolation=cv2.INTER_AREA)
    mask = coverage >= 0.3
    if mask.any():
        # A crack is a gap in the surface: dark, a little noisy inside, sometimes with
        # spalled lighter edges, its contrast anywhere from faint to deep.
        texture = float(cv2.GaussianBlur(image, (0, 0), 1.0).std())
        depth = max(rng.uniform(*CRACK_DEPTH) * texture, rng.uniform(*CRACK_MIN_DEPTH))
        inside = (cv2.GaussianBlur(image, (0, 0), 8.0) - depth
                  + 0.3 * texture * _noise(rng, image.shape, 0.8))
        soft = cv2.GaussianBlur(coverage, (0, 0), rng.uniform(0.3, 1.0))
        image = image * (1 - soft) + inside * soft
        if rng.random() < 0.2:
            rim = cv2.GaussianBlur(coverage, (0, 0), 2.0) - coverage
            image += rng.uniform(0.05, 0.2) * np.clip(rim, 0, None)
    blur = rng.uniform(0, 1.3)
    if blur > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    image = image + rng.normal(0, rng.uniform(0, 0.03), image.shape).astype(np.float32)
    lo, hi = rng.uniform(0, 60), rng.uniform(170, 255)
    grey = np.clip(lo + image * (hi - lo), 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 96))])
    return cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE), mask


# ---------------------------------------------------------------- labelled photos

def real_set(corpus: Path, name: str) -> tuple[list, list]:
    """Return a labelled set's training part and check part: [(grey, mask, weight)]."""
    folder = corpus / "cracks" / name
    images = sorted((folder / "images").glob("*.jpg" if name != "masonry" else "*.png"))
    if name == "uav75":
        split = dict(line.split()[::-1] for line in (folder / "splits.txt").read_text().split("\n")
                     if line.strip())
    train, check = [], []
    for number, path in enumerate(images):
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        mask = cv2.imread(str(folder / "masks" / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE) > 127
        weight = near_miss_free(mask)
        if name == "uav75":
            raw = cv2.imread(str(folder / "labels_raw" / f"{path.stem}.png"), cv2.IMREAD_COLOR)
            weight[(raw[..., 0] == 204) & (weight > 0)] = PLANKING_WEIGHT
            aside = split[path.stem] == "val"
        elif name == "masonry":
            aside = path.stem[0] in "cd"
        else:
            aside = number % 6 == 5
        (check if aside else train).append((grey, mask, weight))
    return train, check


def near_miss_free(mask: np.ndarray) -> np.ndarray:
    """Return loss weights of a mask: 1, and 0 within NEAR_MISS_PX outside its cracks."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * NEAR_MISS_PX + 1,) * 2)
    ring = cv2.dilate(mask.view(np.uint8), disc).view(bool) & ~mask
    weight = np.ones(mask.shape, np.float32)
    weight[ring] = 0.0
    return weight


def augment(rng, grey, mask, weight, crop) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return a normalised crop of a labelled photo, changed as another camera would see it."""
    zoom = math.exp(rng.uniform(math.log(0.5), math.log(1.6)))
    height, width = grey.shape
    angle = rng.uniform(0, 360) if rng.random() < 0.4 else 0.0
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, zoom)
    size = (max(crop, round(width * zoom)), max(crop, round(height * zoom)))
    matrix[:, 2] += (size[0] - width) / 2, (size[1] - height) / 2
    grey = cv2.warpAffine(grey.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
    # Coverage, then a threshold: a thin crack shrunk to half a pixel stays a crack.
    mask = cv2.warpAffine(mask.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT) >= 0.3
    weight = cv2.warpAffine(weight, matrix, size, flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_REFLECT)
    if zoom < 1:  # a smaller copy is an averaged one, not a sampled one
        grey = cv2.GaussianBlur(grey, (0, 0), 0.5 / zoom - 0.3)
    grey = grey / 255.0
    grey = np.power(np.clip(grey, 0, 1), math.exp(rng.uniform(-0.6, 0.6)))
    grey = grey.mean() + (grey - grey.mean()) * rng.uniform(0.4, 1.5)
    if rng.random() < 0.5:
        grey = cv2.GaussianBlur(grey, (0, 0), rng.uniform(0.3, 1.5))
    grey = grey + rng.normal(0, rng.uniform(0, 0.04), grey.shape).astype(np.float32)
    grey = np.clip(grey * 255, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, jpeg = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY,
                                               int(rng.integers(40, 96))])
        grey = cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
    normalised = normalise_surface(grey)
    top = rng.integers(0, size[1] - crop + 1)
    left = rng.integers(0, size[0] - crop + 1)
    window = (slice(top, top + crop), slice(left, left + crop))
    turns = int(rng.integers(4))
    return tuple(np.rot90(a[window], turns).copy() for a in (normalised, mask, weight))


# ---------------------------------------------------------------- network

def build_net():
    """Return the crack network: a small U-Net with added (not stacked) skips."""
    import torch.nn as nn

    def block(inputs, outputs, dilation=1):
        return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=dilation, dilation=dilation,
                                       bias=False),
                             nn.BatchNorm2d(outputs), nn.ReLU(inplace=True))

    class CrackNet(nn.Module):
        def __init__(self, channels=CHANNELS):
            super().__init__()
            c = channels
            self.stem = block(1, c[0])
            self.down = nn.ModuleList(
                nn.Sequential(nn.MaxPool2d(2), block(c[i], c[i + 1]),
                              block(c[i + 1], c[i + 1], 2 if i >= 2 else 1))
                for i in range(len(c) - 1))
            self.lift = nn.ModuleList(nn.Conv2d(c[i + 1], c[i], 1) for i in range(len(c) - 1))
            self.up = nn.ModuleList(block(c[i], c[i]) for i in range(len(c) - 1))
            self.out = nn.Conv2d(c[0], 1, 1)
            self.resize = nn.Upsample(scale_factor=2, mode="nearest")

        def forward(self, x):
            skips = [self.stem(x)]
            for down in self.down:
                skips.append(down(skips[-1]))
            y = skips.pop()
            for i in reversed(range(len(self.up))):
                y = self.up[i](self.resize(self.lift[i](y)) + skips[i])
            return self.out(y)

    return CrackNet()


def crack_free_set(count: int, seed: int, textures) -> list[np.ndarray]:
    """Return `count` normalised synthetic surfaces with their distractors and no crack."""
    rng = np.random.default_rng(seed)
    surfaces = []
    while len(surfaces) < count:
        grey, mask = sample(rng, textures)
        if not mask.any():
            surfaces.append(normalise_surface(grey))
    return surfaces


def make_set(count: int, seed: int, textures) -> tuple[np.ndarray, np.ndarray]:
    """Return `count` normalised synthetic images (float16) and their masks."""
    rng = np.random.default_rng(seed)
    images = np.empty((count, 1, SIZE, SIZE), np.float16)
    masks = np.empty((count, 1, SIZE, SIZE), np.uint8)
    for i in range(count):
        grey, mask = sample(rng, textures)
        images[i, 0] = normalise_surface(grey)
        masks[i, 0] = mask
    return images, masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "vision" / "models" / "crack_net.onnx")
    parser.add_argument("--samples", type=Path, help="write a few training images here")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--real", default="",
                        help=f"labelled sets to train on as well, comma-separated: {REAL_SETS}")
    parser.add_argument("--real-share", type=float, default=0.6,
                        help="share of each batch from the labelled sets")
    parser.add_argument("--seed", type=int, default=0,
                        help="another run: other initial weights, training images and batches "
                             "(the synthetic check and crack-free images stay the same)")
    parser.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                        help="write checkpoints of the weights' exponential moving average "
                             "(e.g. 0.99), batch-norm statistics included; 0: the weights")
    parser.add_argument("--minutes", type=float, default=40.0,
                        help="stop training this long after the start (data making included)")
    parser.add_argument("--tune", action="store_true",
                        help="only choose the post-processing of --out: on the check parts of "
                             "the --real sets (written to its .json), else on CrackForest 001-059")
    parser.add_argument("--generator", nargs="+", default=[], metavar="NAME=V[,V2]",
                        help="set the synthetic cracks' ranges for this run (its synthetic "
                             "check and crack-free images too): " + ", ".join(GENERATOR))
    parser.add_argument("--checkpoints", action="store_true",
                        help="only score each checkpoint OUT-stepNNNNN.onnx on CrackForest "
                             "001-059 with the post-processing of vision/cracks.py")
    args = parser.parse_args()
    if not 0.0 <= args.ema < 1.0:
        parser.error("--ema takes a decay from 0 (off) up to, not including, 1")
    if args.seed < 0:
        parser.error("--seed takes 0 or more")
    for item in args.generator:
        name, _, value = item.partition("=")
        if name not in GENERATOR:
            parser.error(f"unknown generator setting {name!r}; choose from {GENERATOR}")
        try:
            numbers = tuple(float(v) for v in value.split(","))
        except ValueError:
            parser.error(f"{name} takes numbers, not {value!r}")
        wanted = 2 if isinstance(globals()[name], tuple) else 1
        if len(numbers) != wanted:
            parser.error(f"{name} takes {wanted} comma-separated value(s)")
        if not all(math.isfinite(n) and n >= 0 for n in numbers) or numbers != tuple(
                sorted(numbers)) or (name == "THIN_CRACK_SHARE" and numbers[0] > 1):
            parser.error(f"{name} takes finite values of 0 or more, low before high"
                         + (", at most 1" if name == "THIN_CRACK_SHARE" else ""))
        if name in ("CRACK_WIDTH_PX", "THIN_CRACK_MAX_PX") and numbers[0] <= 0:
            parser.error(f"{name} takes widths above 0")
        globals()[name] = numbers if wanted == 2 else numbers[0]
    if THIN_CRACK_SHARE and THIN_CRACK_MAX_PX < CRACK_WIDTH_PX[0]:
        parser.error("THIN_CRACK_MAX_PX must not be below the narrowest width, CRACK_WIDTH_PX")
    if args.checkpoints:
        score_checkpoints(args.out, crackforest_tuning(args.corpus))
        return
    names = [n for n in args.real.split(",") if n]
    if unknown := set(names) - set(REAL_SETS):
        parser.error(f"unknown sets {sorted(unknown)}; choose from {REAL_SETS}")
    if args.tune and not names:
        tune(crackforest_tuning(args.corpus), args.out, crack_free_set(60, 4, real_textures()))
        return
    if args.tune:
        check = {name: [(normalise_surface(g), m) for g, m, _ in real_set(args.corpus, name)[1]]
                 for name in names}
        write_settings(args.out, names, tune([(n, p) for n, ps in check.items() for p in ps],
                                             args.out, crack_free_set(60, 4, real_textures())))
        return

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    torch.manual_seed(args.seed)
    textures = real_textures()
    started = time.time()
    images, masks = make_set(args.images, 1 + 10 * args.seed, textures)
    val_images, val_masks = make_set(200, 2, textures)
    labelled = {name: real_set(args.corpus, name) for name in names}
    check = {name: [(normalise_surface(g), m) for g, m, _ in parts[1]]
             for name, parts in labelled.items()}
    print(f"{args.images} training images made in {time.time() - started:.0f} s; labelled: "
          + ", ".join(f"{n} {len(t)} train / {len(c)} check" for n, (t, c) in labelled.items()),
          flush=True)
    if args.samples:
        args.samples.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(1)
        for i in range(12):
            grey, mask = sample(rng, textures)
            cv2.imwrite(str(args.samples / f"{i:02d}.png"),
                        np.hstack([grey, mask.astype(np.uint8) * 255]))

    net = build_net()
    print(f"{sum(p.numel() for p in net.parameters())} parameters", flush=True)
    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    # The checkpoints' F1 on real cracks swings from one to the next; an average of the
    # recent weights swings less.
    average = None
    if args.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        average = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(args.ema),
                                use_buffers=True)
    training_started = time.time()
    rng = np.random.default_rng(3 + 10 * args.seed)
    best, best_state = -1.0, None
    real_count = round(args.batch * args.real_share) if labelled else 0
    for step in range(1, args.steps + 1):
        net.train()
        x, y, w = synthetic_batch(rng, images, masks, args.batch - real_count, args.crop)
        if real_count:
            crops = [augment(rng, *pick(rng, labelled), args.crop) for _ in range(real_count)]
            x = np.concatenate([x, np.stack([c[0] for c in crops])[:, None]])
            y = np.concatenate([y, np.stack([c[1] for c in crops])[:, None]])
            w = np.concatenate([w, np.stack([c[2] for c in crops])[:, None]])
        x, y, w = (torch.from_numpy(a.astype(np.float32)) for a in (x, y, w))
        logits = net(x)
        probability = torch.sigmoid(logits)
        overlap = (probability * y).sum()
        counted = probability * (w > 0)
        dice = 1 - (2 * overlap + 1) / (counted.sum() + y.sum() + 1)
        loss = F.binary_cross_entropy_with_logits(logits, y, weight=w,
                                                  pos_weight=torch.tensor(3.0)) + dice
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if average is not None:
            average.update_parameters(net)
        # One cycle (a short warm-up, then a cosine decay) over the steps or the minutes,
        # whichever runs out first: on a shared machine the steps may not all fit.
        progress = max(step / args.steps, (time.time() - training_started)
                       / max(started + args.minutes * 60 - training_started, 1.0))
        for group in optimiser.param_groups:
            group["lr"] = one_cycle(progress, 3e-3)
        out_of_time = progress >= 1.0
        if step % 250 == 0 or step == args.steps or out_of_time:
            kept = net if average is None else average.module  # what a checkpoint holds
            score = validate(kept, val_images, val_masks)
            # With labelled sets, the checkpoint is chosen on their check parts (mean of
            # each set's F1); without, every checkpoint is kept for --tune to choose from.
            checked = {n: validate_photos(kept, pairs) for n, pairs in check.items()}
            print(f"step {step} loss {loss.item():.3f} synthetic F1 {score:.3f} "
                  + "".join(f"{n} F1 {f:.3f} " for n, f in checked.items())
                  + f"{time.time() - started:.0f} s", flush=True)
            if checked:
                score = float(np.mean(list(checked.values())))
            else:
                export(kept, args.out.with_name(f"{args.out.stem}-step{step:05d}.onnx"))
            if score > best:
                best = score
                best_state = {k: v.clone() for k, v in kept.state_dict().items()}
        if out_of_time:
            if step < args.steps:
                print(f"stopped at step {step}: {args.minutes} minutes", flush=True)
            break
    net.load_state_dict(best_state)
    export(net, args.out)
    print(f"wrote {args.out} (checkpoint score {best:.3f})", flush=True)
    if check:
        write_settings(args.out, names,
                       tune([(n, p) for n, pairs in check.items() for p in pairs], args.out,
                            crack_free_set(60, 4, textures)))


def write_settings(model: Path, names, settings) -> None:
    """Write beside the model what it was trained on and its chosen post-processing."""
    model.with_suffix(".json").write_text(json.dumps({
        "trained_on": ["synthetic", *names], "check_parts": {n: CHECK_PARTS[n] for n in names},
        "post_processing": settings}, indent=1) + "\n")


def one_cycle(progress: float, peak: float) -> float:
    """Return the learning rate at a share of training: up to `peak` in 10 %, then down."""
    if progress < 0.1:
        return peak * (0.04 + 0.96 * progress / 0.1)
    return peak * max(0.0004, 0.5 * (1 + math.cos(math.pi * (min(progress, 1.0) - 0.1) / 0.9)))


def synthetic_batch(rng, images, masks, count, crop):
    """Return `count` random crops of the synthetic set, flipped or turned, with weight 1."""
    pick = rng.integers(0, len(images), count)
    top, left = rng.integers(0, SIZE - crop + 1, 2)
    window = (slice(None), slice(None), slice(top, top + crop), slice(left, left + crop))
    x, y = images[pick][window], masks[pick][window]
    if rng.random() < 0.5:
        x, y = x[..., ::-1], y[..., ::-1]
    if rng.random() < 0.5:
        x, y = x.swapaxes(2, 3), y.swapaxes(2, 3)
    weights = np.stack([near_miss_free(m[0].astype(bool)) for m in y])[:, None]
    return x, y, weights


def pick(rng, labelled):
    """Return one training photo of a labelled set, each set drawn as often as the others."""
    train = list(labelled.values())[rng.integers(len(labelled))][0]
    return train[rng.integers(len(train))]


def validate(net, images, masks) -> float:
    """Return pixel F1 at 2 px tolerance on the synthetic validation images."""
    import torch

    net.eval()
    totals = np.zeros(4)
    with torch.no_grad():
        for start in range(0, len(images), 20):
            x = torch.from_numpy(images[start:start + 20].astype(np.float32))
            predicted = (net(x).numpy()[:, 0] > 0).astype(bool)
            for p, t in zip(predicted, masks[start:start + 20, 0].astype(bool), strict=True):
                totals += tolerant_counts(p, t)
    return precision_recall_f1(totals)[2]


def validate_photos(net, pairs) -> float:
    """Return pixel F1 at 2 px (logit above 0) on whole normalised photos and their masks."""
    import torch

    net.eval()
    totals = np.zeros(4)
    with torch.no_grad():
        for normalised, truth in pairs:
            height, width = normalised.shape
            padded = cv2.copyMakeBorder(normalised, 0, -height % 16, 0, -width % 16,
                                        cv2.BORDER_REFLECT)
            logits = net(torch.from_numpy(padded[None, None])).numpy()[0, 0, :height, :width]
            totals += tolerant_counts(logits > 0, truth)
    return precision_recall_f1(totals)[2]


def precision_recall_f1(totals) -> tuple[float, float, float]:
    """Return P, R and F1 from the four totals of tolerant_counts."""
    precision, recall = totals[0] / max(totals[1], 1), totals[2] / max(totals[3], 1)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-9)


def tolerant_counts(predicted: np.ndarray, truth: np.ndarray, tolerance_px: float = 2.0):
    """Return hits among predicted, predicted, hits among true, true pixels (2 px tolerance)."""
    def near(mask):
        return cv2.distanceTransform((~mask).view(np.uint8), cv2.DIST_L2, 3) <= tolerance_px

    return np.array([np.count_nonzero(predicted & near(truth)), np.count_nonzero(predicted),
                     np.count_nonzero(truth & near(predicted)), np.count_nonzero(truth)], float)


def crackforest_tuning(corpus: Path) -> list[tuple[str, tuple[np.ndarray, np.ndarray]]]:
    """Return CrackForest 001-059, normalised, with masks: the synthetic network's tuning set.

    The only real images the synthetic network's choices are made on; every other set stays
    held out.
    """
    folder = corpus / "cracks" / "crackforest"
    pairs = []
    for path in sorted((folder / "images").glob("*.jpg"))[:59]:
        normalised = normalise_surface(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
        truth = cv2.imread(str(folder / "masks" / f"{path.stem}.png"), 0) > 127
        pairs.append(("crackforest", (normalised, truth)))
    return pairs


def score_checkpoints(model: Path, named_pairs) -> None:
    """Print each checkpoint's P, R, F1 on `named_pairs` with the module's post-processing:
    which checkpoints are worth a --tune."""
    from vision import cracks

    for checkpoint in sorted(model.parent.glob(f"{model.stem}-step*.onnx")):
        cracks.MODEL_PATH = checkpoint
        cracks._local.net = None
        totals = sum(tolerant_counts(cracks._net_regions(normalised, None)[0], truth)
                     for _, (normalised, truth) in named_pairs)
        precision, recall, f1 = precision_recall_f1(totals)
        print(f"{checkpoint.name}: P {precision:.3f} R {recall:.3f} F1 {f1:.3f}", flush=True)


def tune(named_pairs, model: Path, crack_free=()) -> dict[str, float]:
    """Print F1 over a grid of the network's post-processing settings; return the choice.

    `named_pairs` are (set name, (normalised, mask)); the score is the mean of each set's F1,
    so a small set counts as much as a large one. With `crack_free` surfaces (normalised),
    only settings that flag at most CRACK_FREE_LIMIT of their pixels on average are chosen
    from, when any does. The minimum span is the classic detector's (25 working px), fixed
    beforehand: shorter candidates are the specks a supervisor should not be shown.
    """
    from vision import cracks

    cracks.MODEL_PATH = model
    cracks._local.net = None
    names = sorted({name for name, _ in named_pairs})
    pairs = [(name, normalised, cracks.crack_logits(normalised), truth)
             for name, (normalised, truth) in named_pairs]
    free = [(normalised, cracks.crack_logits(normalised)) for normalised in crack_free]
    results = []
    grid = itertools.product((-3.0, -2.0, -1.0, 0.0, 1.0), (MIN_SPAN_PX,), (0.9, 0.95, 1.0),
                             (0.0, 3.0, 6.0), (-2.0, -1.5, -1.0, -0.5), (0.0, 0.02, 0.04))
    for threshold, span, coherence, elongation, darkness, bend in grid:
        cracks.NET_LOGIT_THRESHOLD, cracks.NET_MIN_SPAN_PX = threshold, span
        cracks.NET_MAX_COHERENCE, cracks.NET_MIN_ELONGATION = coherence, elongation
        cracks.NET_MAX_DARKNESS, cracks.NET_MIN_BEND = darkness, bend
        per_set = {name: np.zeros(4) for name in names}
        for name, normalised, logits, truth in pairs:
            per_set[name] += tolerant_counts(cracks._net_regions(normalised, None, logits)[0],
                                             truth)
        precision, recall, f1 = np.mean([precision_recall_f1(t) for t in per_set.values()],
                                         axis=0)
        flagged = float(np.mean([cracks._net_regions(n, None, logits)[0].mean()
                                 for n, logits in free])) if free else 0.0
        results.append((f1, precision, recall, threshold, span, coherence, elongation, darkness,
                        bend, flagged))
        print(f"logit {threshold:+.1f} span {span:3.0f} coherence {coherence:.2f} "
              f"elongation {elongation:.0f} darkness {darkness:+.1f} bend {bend:.2f}: "
              f"P {precision:.3f} R {recall:.3f} F1 {f1:.3f} crack-free {flagged:.2%}",
              flush=True)
    within = [r for r in results if r[9] <= CRACK_FREE_LIMIT] or results
    # Precision matters more than recall for what reaches a person: of the settings within
    # 0.005 of the best F1, take the most precise.
    best = max(r[0] for r in within)
    plateau = [r for r in within if r[0] >= best - 0.005]
    chosen = max(plateau, key=lambda r: (r[1], r[0]))
    print("chosen: logit {3:+.1f} span {4:.0f} coherence {5:.2f} elongation {6:.0f} "
          "darkness {7:+.1f} bend {8:.2f}: P {1:.3f} R {2:.3f} F1 {0:.3f} crack-free {9:.2%}"
          .format(*chosen), flush=True)
    keys = ("logit_threshold", "min_span_px", "max_coherence", "min_elongation", "max_darkness",
            "min_bend")
    return dict(zip(keys, (float(v) for v in chosen[3:9]), strict=True)) | {
        "mask_darkness": float(cracks.NET_MASK_DARKNESS),  # fixed: the module's
        "check_f1": round(float(chosen[0]), 4), "crack_free_flagged": round(chosen[9], 5)}


def export(net, path: Path) -> None:
    """Write the network as ONNX that OpenCV's DNN module reads (any input size, /16)."""
    import torch

    net.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(net, torch.zeros(1, 1, 256, 256), str(path), input_names=["surface"],
                      output_names=["crack_logit"], opset_version=17, dynamo=False)


if __name__ == "__main__":
    main()
