"""Crack check figures for bench/vision.py: CrackForest F1 per half, curtain wall, speed.

F1 counts at 2 px tolerance (distance transforms), pixel totals per half; 001-059 is the half
the thresholds were tuned on, 060-118 is held out. Speed is single-threaded on 4000x3000.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision.cracks import detect_cracks  # noqa: E402

TOLERANCE_PX = 2.0


def rows(corpus: Path) -> list[tuple[str, str, str]]:
    """Measure the crack check on the corpus and on 12 MP photos as (measure, value, detail)."""
    table = []
    crackforest = corpus / "cracks" / "crackforest"
    for first, last, role in ((1, 59, "tuning"), (60, 118, "held out")):
        if not (crackforest / "images").is_dir():
            break
        precision, recall, f1, mean_f1 = _crackforest_scores(crackforest, range(first, last + 1))
        detail = f"{role}; P {precision:.3f} R {recall:.3f}; mean per-image F1 {mean_f1:.3f}"
        table.append((f"crack F1 CrackForest {first:03d}-{last:03d}", f"{f1:.3f}", detail))

    photos = sorted((corpus / "photos" / "curtainwall" / "images").glob("*.jpg"))
    if photos:
        shares = [detect_cracks(cv2.imread(str(p))).crack_fraction * 100 for p in photos]
        table.append(("crack pixels flagged, curtain wall (max)", f"{max(shares):.2f} %",
                      f"{len(photos)} photos without cracks; target <= 1 %"))
        table.append(("crack pixels flagged, curtain wall (mean)",
                      f"{statistics.mean(shares):.2f} %", ""))

    synthetic = _synthetic_photo()
    table.append(("crack check ms per 12 MP photo (synthetic)", f"{_median_ms(synthetic):.0f}",
                  "median of 5, one thread; budget 250 ms"))
    if photos:
        upscaled = cv2.resize(cv2.imread(str(photos[0])), (4000, 3000),
                              interpolation=cv2.INTER_CUBIC)
        table.append(("crack check ms per 12 MP photo (curtain wall x2)",
                      f"{_median_ms(upscaled):.0f}", "median of 5, one thread; budget 250 ms"))
    return table


def _crackforest_scores(folder: Path, numbers: range) -> tuple[float, float, float, float]:
    totals = np.zeros(4)
    per_image = []
    for number in numbers:
        image = cv2.imread(str(folder / "images" / f"{number:03d}.jpg"))
        truth = cv2.imread(str(folder / "masks" / f"{number:03d}.png"), cv2.IMREAD_GRAYSCALE) > 127
        counts = _tolerant_counts(detect_cracks(image).mask, truth)
        totals += counts
        per_image.append(_f1(counts[0] / max(counts[1], 1), counts[2] / max(counts[3], 1)))
    precision, recall = totals[0] / max(totals[1], 1), totals[2] / max(totals[3], 1)
    return precision, recall, _f1(precision, recall), statistics.mean(per_image)


def _tolerant_counts(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    def near(mask: np.ndarray) -> np.ndarray:
        outside = (~mask).astype(np.uint8)
        return cv2.distanceTransform(outside, cv2.DIST_L2, 3) <= TOLERANCE_PX

    return np.array([
        np.count_nonzero(predicted & near(truth)), np.count_nonzero(predicted),
        np.count_nonzero(truth & near(predicted)), np.count_nonzero(truth),
    ], dtype=np.float64)


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _synthetic_photo() -> np.ndarray:
    # Grainy grey concrete with one meandering dark crack, 4000x3000 BGR.
    rng = np.random.default_rng(0)
    grain = rng.normal(150, 14, (3000, 4000)).astype(np.float32)
    grey = np.clip(cv2.GaussianBlur(grain, (0, 0), 1.5), 0, 255).astype(np.uint8)
    xs = np.arange(200, 3800, 20)
    ys = 1500 + np.cumsum(rng.normal(0, 10, len(xs)))
    cv2.polylines(grey, [np.column_stack([xs, ys]).astype(np.int32)], False, 70, thickness=8)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def _median_ms(image: np.ndarray, runs: int = 5) -> float:
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        detect_cracks(image)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            detect_cracks(image)
            times.append((time.perf_counter() - start) * 1000)
    finally:
        cv2.setNumThreads(threads)
    return statistics.median(times)


if __name__ == "__main__":
    for measure, value, detail in rows(Path(__file__).resolve().parents[2] / "shared" / "corpus"):
        print(f"{measure:52} {value:>10}  {detail}")
