"""Duplicate-photo benchmark rows: copies flagged per transform, same-scene photos flagged, speed.

Called from bench/vision.py as `rows(corpus)`; runs alone with

    .venv/bin/python bench/_vision_duplicates.py [--corpus ../shared/corpus]

Originals: the 8 curtain-wall photos (several shots of one scene), the 9 GPS photos and every
8th CrackForest image. Each original gets seven copies (all saved as JPEG); every photo is
checked with find_duplicates against all originals, so a copy counts as found only when it is
flagged as its own original and nothing else. Same-scene pairs are also confirmed directly,
without the hash filter, to measure the confirmation alone. Timings are single-threaded.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from vision import duplicates  # noqa: E402

BORDER_COLOURS = ((0, 0, 0), (255, 255, 255), (40, 90, 200))


def _jpeg(image: np.ndarray, quality: int = 90) -> np.ndarray:
    encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def _crop(image: np.ndarray, along_y: float, along_x: float, keep: float = 0.8) -> np.ndarray:
    height, width = image.shape[:2]
    crop_h, crop_w = round(height * keep), round(width * keep)
    y, x = round((height - crop_h) * along_y), round((width - crop_w) * along_x)
    return image[y : y + crop_h, x : x + crop_w]


def _border(image: np.ndarray, fraction: float, colour: tuple[int, int, int]) -> np.ndarray:
    pad = round(max(image.shape[:2]) * fraction)
    return cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=colour)


# Each copy varies with the original's index so corners, border widths and colours all occur.
COPIES: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "re-encoded q60": lambda image, i: _jpeg(image, 60),
    "resized 50 %": lambda image, i: _jpeg(
        cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    ),
    "cropped 80 % centre": lambda image, i: _jpeg(_crop(image, 0.5, 0.5)),
    "cropped 80 % corner": lambda image, i: _jpeg(_crop(image, i % 2, (i // 2 + 1) % 2)),
    "brightened +40": lambda image, i: _jpeg(cv2.add(image, (40, 40, 40, 0))),
    "darkened -40": lambda image, i: _jpeg(cv2.subtract(image, (40, 40, 40, 0))),
    "bordered 5-10 %": lambda image, i: _jpeg(
        _border(image, 0.05 + 0.05 * (i % 2), BORDER_COLOURS[i % 3])
    ),
}


def originals(corpus: Path) -> list[tuple[str, np.ndarray]]:
    """Load the benchmark's original photos as (name, BGR image)."""
    photos = corpus / "photos"
    paths = sorted((photos / "curtainwall" / "images").glob("*.jpg"))
    paths += sorted((photos / "exif" / "gps").glob("*.jpg"))
    paths += sorted((corpus / "cracks" / "crackforest" / "images").glob("*.jpg"))[::8]
    return [(path.relative_to(corpus).as_posix(), cv2.imread(str(path))) for path in paths]


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    action()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def rows(corpus: Path) -> list[tuple[str, str, str]]:
    """Measure copy detection, same-scene rejections and speed on the corpus."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _rows(corpus)
    finally:
        cv2.setNumThreads(threads)


def _rows(corpus: Path) -> list[tuple[str, str, str]]:
    photos = originals(corpus)
    prints = [duplicates.fingerprint(image) for _, image in photos]
    earlier = [(index, prints[index], image) for index, (_, image) in enumerate(photos)]
    result_rows = []
    hash_distances = []
    wrong = 0
    for name, make in COPIES.items():
        flagged, missed = 0, []
        for index, (photo_name, image) in enumerate(photos):
            copy = make(image, index)
            copy_fp = duplicates.fingerprint(copy)
            hash_distances.append(duplicates.hash_distance(copy_fp, prints[index]))
            result = duplicates.find_duplicates(copy, copy_fp, earlier)
            keys = {found.key for found in result.duplicates}
            flagged += index in keys
            wrong += len(keys - {index})
            if index not in keys:
                missed.append(photo_name)
        detail = "missed: " + ", ".join(missed) if missed else "all flagged as their original"
        result_rows.append((f"copies flagged: {name}", f"{flagged}/{len(photos)}", detail))

    false_originals = 0
    for index, (_, image) in enumerate(photos):
        others = [item for item in earlier if item[0] != index]
        result = duplicates.find_duplicates(image, prints[index], others)
        false_originals += len(result.duplicates)
    result_rows.append(
        (
            "copies flagged as another photo",
            str(wrong),
            f"{len(COPIES) * len(photos)} copies x {len(photos)} originals",
        )
    )
    result_rows.append(
        (
            "originals flagged (different photos)",
            str(false_originals),
            f"{len(photos)} photos, each against the other {len(photos) - 1}",
        )
    )

    scene = [(name, image) for name, image in photos if "/curtainwall/" in name]
    scene_flagged, best = 0, 0.0
    for (_, image_a), (_, image_b) in itertools.combinations(scene, 2):
        match = duplicates.confirm(image_a, image_b)
        scene_flagged += match.is_copy
        best = max(best, match.inlier_ratio)
    pairs = len(scene) * (len(scene) - 1) // 2
    result_rows.append(
        (
            "same-scene pairs confirmed as copies",
            f"{scene_flagged}/{pairs}",
            f"curtain-wall shots, confirm() without hash filter; best inlier ratio {best:.2f}",
        )
    )
    result_rows.append(
        (
            "hash distance of copies",
            f"max {max(hash_distances)}",
            f"median {statistics.median(hash_distances):g}; candidate limit "
            f"{duplicates.MAX_HASH_DISTANCE} of 64 bits",
        )
    )

    source = next(image for name, image in photos if "/curtainwall/" in name)
    twelve_mp = cv2.resize(source, (3000, 4000), interpolation=cv2.INTER_CUBIC)
    half_copy = cv2.resize(_crop(twelve_mp, 0.5, 0.5), None, fx=0.5, fy=0.5)
    fingerprint_ms = _median_ms(lambda: duplicates.fingerprint(twelve_mp), 15)
    confirm_ms = _median_ms(lambda: duplicates.confirm(twelve_mp, half_copy), 7)
    result_rows.append(
        ("fingerprint, 12 MP photo", f"{fingerprint_ms:.1f} ms", "single thread; target <= 30 ms")
    )
    result_rows.append(
        (
            "confirmation, 12 MP vs 3 MP copy",
            f"{confirm_ms:.1f} ms",
            "single thread, both photos downscaled inside; target <= 80 ms",
        )
    )
    return result_rows


def main() -> None:
    """Print the benchmark rows as a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
    parser.add_argument("--corpus", type=Path, default=default)
    arguments = parser.parse_args()
    for measure, value, detail in rows(arguments.corpus):
        print(f"{measure:<40} {value:>12}  {detail}")


if __name__ == "__main__":
    main()
