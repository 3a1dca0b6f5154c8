"""Decoding on a held-out half of the QR corpus, as it is and degraded like site photos.

The chain's retries were chosen on the tuning half (categories qrcode-1..3 of both the ZXing
and the zxing-cpp sets, 179 images); this reports them on the other half (qrcode-4..6, 137
images), which no choice was made on. Copies of one image sit in one category number in both
sets, so no image is on both sides. Each image is also decoded degraded six ways (fixed seed):
blur, glare, low contrast, shade, noise and shrinking (modules under 2 px), the kinds of photo
the misses have in common.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labels import decode  # noqa: E402

TUNING = ("qrcode-1", "qrcode-2", "qrcode-3")
KINDS = ("as is", "blur", "glare", "low contrast", "shade", "noise", "small")


def degrade(gray: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Return a grey image degraded one way: as a site photo can be."""
    if kind == "as is":
        return gray
    image = gray.astype(np.float32)
    height, width = gray.shape
    if kind == "blur":
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(1.0, 2.0))
    elif kind == "glare":
        ys, xs = np.mgrid[:height, :width]
        cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        radius = rng.uniform(0.15, 0.35) * min(height, width)
        image += rng.uniform(120, 220) * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2)
                                                / (2 * radius**2))
    elif kind == "low contrast":
        image = image.mean() + (image - image.mean()) * rng.uniform(0.15, 0.3)
    elif kind == "shade":
        image *= np.linspace(rng.uniform(0.2, 0.5), 1.0, width, dtype=np.float32)[None, :]
    elif kind == "noise":
        image += rng.normal(0, 18, image.shape).astype(np.float32)
    elif kind == "small":
        factor = rng.uniform(0.35, 0.5)
        image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    out = np.clip(image, 0, 255).astype(np.uint8)
    if kind in ("blur", "noise", "small"):
        ok, jpeg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 50])
        out = cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
    return out


def split_sets(corpus: Path) -> dict[str, list[tuple[str, np.ndarray, str | None]]]:
    """Return {"tuning", "held out"}: (kind, grey image, expected text) for every kind."""
    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()
            if line.strip()]
    rng = np.random.default_rng(0)
    parts: dict[str, list] = {"tuning": [], "held out": []}
    for row in rows:
        gray = cv2.imread(str(corpus / row["image"]), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            continue
        part = "tuning" if row["category"] in TUNING else "held out"
        for kind in KINDS:
            parts[part].append((kind, degrade(gray, kind, rng), row["expected"]))
    return parts


def rows(corpus: Path) -> list[tuple[str, str, str]]:
    """Return (measure, chain, zxing-cpp alone) read counts per half and kind, with timing."""
    if not (corpus / "manifest.jsonl").exists():
        return [("decoding, held-out split", "skipped", f"no corpus at {corpus}")]
    zxing = dict(decode.ENGINES)["zxing-cpp"]
    readers: dict[str, Callable] = {"chain": decode.decode_image, "zxing-cpp": zxing}
    table = []
    for part, items in split_sets(corpus).items():
        counts = {name: dict.fromkeys(KINDS, 0) for name in readers}
        totals = dict.fromkeys(KINDS, 0)
        times: dict[str, list[float]] = {name: [] for name in readers}
        for kind, gray, expected in items:
            totals[kind] += 1
            for name, read in readers.items():
                start = time.perf_counter()
                texts = [code.text for code in read(gray)]
                times[name].append((time.perf_counter() - start) * 1000)
                counts[name][kind] += expected in texts if expected is not None else bool(texts)
        for kind in KINDS:
            table.append((f"decoded, {part}: {kind}", f"{counts['chain'][kind]}/{totals[kind]}",
                          f"zxing-cpp alone {counts['zxing-cpp'][kind]}/{totals[kind]}"))
        total = sum(totals.values())
        table.append((f"decoded, {part}: all kinds",
                      f"{sum(counts['chain'].values())}/{total}, median "
                      f"{statistics.median(times['chain']):.2f} ms",
                      f"zxing-cpp alone {sum(counts['zxing-cpp'].values())}/{total}, median "
                      f"{statistics.median(times['zxing-cpp']):.2f} ms"))
    return table


if __name__ == "__main__":
    cv2.setNumThreads(1)
    for measure, chain, alone in rows(Path(__file__).resolve().parents[2] / "shared" / "corpus"
                                      / "qr"):
        print(f"{measure:36} {chain:>26}  {alone}")
