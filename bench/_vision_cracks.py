"""Crack check figures for bench/vision.py: cross-dataset F1, crack-free photos, speed.

Both detectors run in the same pass: the network (opt-in, `method="net"`) and the classic
valley filter (the default and the baseline). F1 counts at 2 px tolerance (distance
transforms), pixel totals per set. What each was tuned on:
- classic: thresholds by grid search on CrackForest 001-059;
- net: weights trained on synthetic cracks only (scripts/train_crack_net.py), its
  post-processing chosen on CrackForest 001-059 (logit threshold, elongation and darkness by
  that script's --tune; coherence, bend and mask darkness by --method net --tune below).
So CrackForest 001-059 is the tuning set of both, and both were chosen within a limit on the
curtain-wall photos; CrackForest 060-118, masonry and UAV75 are held out for both (none of
their images was seen in training or tuning).
Candidates per photo count the segments reported; a crack-free photo should have none.
Findings are the candidates that the service reports as findings at its default limits
(CRACK_MIN_LENGTH_PX, CRACK_MIN_CONTRAST): what reaches a person.

    .venv/bin/python bench/_vision_cracks.py                       # the rows above alone
    .venv/bin/python bench/_vision_cracks.py --leave-one-out FOLDER
    .venv/bin/python bench/_vision_cracks.py --classic-grid [--workers 2]
    .venv/bin/python bench/_vision_cracks.py --tune GROUP_GAP_PX=4,6 MIN_CRACK_SPAN_PX=40,60
    .venv/bin/python bench/_vision_cracks.py --method net --tune NET_MASK_DARKNESS=inf,-1.5
    .venv/bin/python bench/_vision_cracks.py --method net --model M.onnx --tune NET_MIN_BEND=0,0.02

The second scores networks trained on labelled sets (scripts/train_crack_net.py --real A,B
--out FOLDER/without-C.onnx, or --real A --out FOLDER/only-A.onnx) on each set they never
read, beside both detectors above on the same images, and on the crack-free curtain-wall
photos. Such networks are not committed:
their weights carry their training sets' licence terms (vision/models/README.md).

The third asks whether the classic detector's settings, chosen on other surfaces, would
serve a surface better: each of CLASSIC_GRID's settings (216) runs on all of CrackForest,
masonry and UAV75; for each set, the setting best on the other two (mean F1, within the
curtain-wall limit) is scored on it, beside the shipped settings and the best setting for
the set itself (chosen on the set it is scored on: a ceiling, not a result). About 15
minutes on two processes.

The fourth scores the classic (or, with --method net, the network) with each combination of
the settings given (module constants of vision/cracks.py) on the tuning set, CrackForest
001-059, and the curtain-wall photos: how the classic's settings, and the network's
coherence, bend and mask darkness, are chosen.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from construction.config import load_config  # noqa: E402
from vision import cracks  # noqa: E402
from vision.cracks import detect_cracks  # noqa: E402

TOLERANCE_PX = 2.0
METHODS = ("net", "classic")
# The classic detector as it was before it joined pieces into cracks (GROUP_GAP_PX,
# MIN_CRACK_SPAN_PX and MIN_CRACK_BREADTH_PX off): the same mask as then, its candidates
# counted per connected piece.
FORMER = "former classic"
VARIANTS = (*METHODS, FORMER)
_JOINING = ("GROUP_GAP_PX", "MIN_CRACK_SPAN_PX", "MIN_CRACK_BREADTH_PX")


@contextlib.contextmanager
def _pieces_alone():
    saved = {name: getattr(cracks, name) for name in _JOINING}
    for name in _JOINING:
        setattr(cracks, name, 0)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(cracks, name, value)


def detect(image: np.ndarray, method: str) -> cracks.CrackResult:
    """Run one of VARIANTS."""
    if method == FORMER:
        with _pieces_alone():
            return detect_cracks(image, method="classic")
    return detect_cracks(image, method=method)


def crack_sets(corpus: Path) -> dict[str, tuple[str, list[tuple[Path, Path]]]]:
    """Return each labelled crack set present under `corpus`: (role, [(image, mask)])."""
    root = corpus / "cracks"
    sets: dict[str, tuple[str, list[tuple[Path, Path]]]] = {}

    def pairs(folder: Path, images: list[Path]) -> list[tuple[Path, Path]]:
        return [(image, folder / "masks" / f"{image.stem}.png") for image in images]

    crackforest = root / "crackforest"
    if (crackforest / "images").is_dir():
        images = sorted((crackforest / "images").glob("*.jpg"))
        sets["CrackForest 001-059"] = ("tuning", pairs(crackforest, images[:59]))
        sets["CrackForest 060-118"] = ("held out", pairs(crackforest, images[59:]))
    masonry = root / "masonry"
    if (masonry / "images").is_dir():
        sets["masonry (all 240)"] = ("held out",
                                     pairs(masonry, sorted((masonry / "images").glob("*.png"))))
    uav = root / "uav75"
    if (uav / "images").is_dir():
        sets["UAV75 (all 75)"] = ("held out", pairs(uav, sorted((uav / "images").glob("*.jpg"))))
    return sets


def scores(pairs: list[tuple[Path, Path]], method: str) -> dict[str, float]:
    """Return P, R, F1 (pixel totals, 2 px tolerance) and mean candidates per image."""
    loaded = ((cv2.imread(str(image), cv2.IMREAD_COLOR),
               cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE) > 127) for image, mask in pairs)
    totals, candidates = _tally(loaded, method)
    return {**_prf(totals), "candidates": candidates}


def _tally(images_and_truths, method: str) -> tuple[np.ndarray, float]:
    """Pixel totals (tolerant_counts) over (image, truth) pairs, and candidates per image."""
    totals, candidates, count = np.zeros(4), 0, 0
    for image, truth in images_and_truths:
        result = detect(image, method)
        totals += tolerant_counts(result.mask, truth)
        candidates += len(result.segments)
        count += 1
    return totals, candidates / max(count, 1)


def _prf(totals: np.ndarray) -> dict[str, float]:
    precision, recall = totals[0] / max(totals[1], 1), totals[2] / max(totals[3], 1)
    return {"P": precision, "R": recall, "F1": _f1(precision, recall)}


def rows(corpus: Path) -> list[tuple[str, str, str, str]]:
    """Measure both detectors as (measure, net, classic baseline, detail).

    The detail adds the former classic detector (pieces not joined), measured in the same run.
    """
    table = []
    for name, (role, pairs) in crack_sets(corpus).items():
        got = {method: scores(pairs, method) for method in VARIANTS}
        table.append((f"crack F1 {name}", *(f"{got[m]['F1']:.3f}" for m in METHODS),
                      f"{role}; " + "; ".join(
                          f"{m} P {got[m]['P']:.2f} R {got[m]['R']:.2f} "
                          f"{got[m]['candidates']:.1f} cand/img" for m in METHODS)
                      + f"; {FORMER} F1 {got[FORMER]['F1']:.3f} P {got[FORMER]['P']:.2f} "
                        f"R {got[FORMER]['R']:.2f} {got[FORMER]['candidates']:.1f} cand/img"))

    photos = sorted((corpus / "photos" / "curtainwall" / "images").glob("*.jpg"))
    if photos:
        images = [cv2.imread(str(p)) for p in photos]
        results = {m: [detect(i, m) for i in images] for m in VARIANTS}
        shares = {m: [r.crack_fraction * 100 for r in results[m]] for m in VARIANTS}
        candidates = {m: statistics.mean(len(r.segments) for r in results[m]) for m in VARIANTS}
        table.append(("crack pixels flagged, curtain wall (max)",
                      *(f"{max(shares[m]):.2f} %" for m in METHODS),
                      f"{len(photos)} photos without cracks; target <= 1 %; "
                      f"{FORMER} {max(shares[FORMER]):.2f} %"))
        table.append(("crack pixels flagged, curtain wall (mean)",
                      *(f"{statistics.mean(shares[m]):.2f} %" for m in METHODS),
                      f"{FORMER} {statistics.mean(shares[FORMER]):.2f} %"))
        table.append(("crack candidates per curtain-wall photo",
                      *(f"{candidates[m]:.1f}" for m in METHODS),
                      f"mean; crack-free, joints and frames; {FORMER} {candidates[FORMER]:.1f}"))
    textured = sorted((corpus / "photos" / "exif" / "gps").glob("DSCN0010.jpg"))
    if textured:
        image = cv2.imread(str(textured[0]))
        found = {m: detect(image, m) for m in VARIANTS}
        table.append(("crack candidates, textured photo DSCN0010",
                      *(f"{len(found[m].segments)}" for m in METHODS),
                      "crack-free: trees, walls, paving; " + ", ".join(
                          f"{m} {found[m].crack_fraction * 100:.2f} % flagged" for m in METHODS)
                      + f"; {FORMER} {len(found[FORMER].segments)} candidates, "
                        f"{found[FORMER].crack_fraction * 100:.2f} %"))
    streets = sorted((corpus / "photos" / "exif").rglob("*.jpg"))
    if streets:
        table.append(_street_findings_row(streets))
    crackforest_001 = corpus / "cracks" / "crackforest" / "images" / "001.jpg"
    if crackforest_001.is_file():
        # As the photo review page's browser test uploads it: one long crack, 4x enlarged.
        wall = cv2.resize(cv2.imread(str(crackforest_001)), None, fx=4, fy=4,
                          interpolation=cv2.INTER_CUBIC)
        count = {m: len(detect(wall, m).segments) for m in VARIANTS}
        table.append(("crack candidates, CrackForest 001 at 4x",
                      *(f"{count[m]}" for m in METHODS),
                      f"one long crack; the review page's browser-test photo; {FORMER} "
                      f"{count[FORMER]}"))

    synthetic = _synthetic_photo()
    table.append(("crack check ms per 12 MP photo (synthetic)",
                  *(f"{_median_ms(synthetic, m):.0f}" for m in METHODS),
                  "median of 5, one thread"))
    if photos:
        upscaled = cv2.resize(cv2.imread(str(photos[0])), (4000, 3000),
                              interpolation=cv2.INTER_CUBIC)
        table.append(("crack check ms per 12 MP photo (curtain wall x2)",
                      *(f"{_median_ms(upscaled, m):.0f}" for m in METHODS),
                      "median of 5, one thread"))
    return table


def _street_findings_row(photos: list[Path]) -> tuple[str, ...]:
    """Findings (the candidates the service reports, at its default limits) on crack-free
    street and landscape photos: walls, roofs against the sky, trees, paving."""
    config = load_config(str(Path(__file__).resolve().parents[1] / "instance"))
    limits = (config["CRACK_MIN_LENGTH_MM"], config["CRACK_MIN_LENGTH_PX"],
              config["CRACK_MIN_CONTRAST"])
    images = [image for image in (cv2.imread(str(p)) for p in photos) if image is not None]
    findings = {m: [sum(cracks.worth_a_look(s, *limits) for s in detect(image, m).segments)
                    for image in images] for m in VARIANTS}

    def shown(method: str) -> str:
        return (f"{statistics.mean(findings[method]):.2f} per photo, "
                f"{sum(1 for n in findings[method] if n)} photos with one")
    return ("crack findings per crack-free street photo",
            *(f"{statistics.mean(findings[m]):.2f}" for m in METHODS),
            f"{len(images)} photos (photos/exif); findings are candidates at least "
            f"{limits[1]:.0f} px long and {limits[2]} noise units dark; "
            + "; ".join(f"{m} {shown(m)}" for m in VARIANTS))


def tolerant_counts(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Return hits among predicted, predicted, hits among true, true pixels (2 px tolerance)."""
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


def _median_ms(image: np.ndarray, method: str, runs: int = 5) -> float:
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        detect_cracks(image, method=method)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            detect_cracks(image, method=method)
            times.append((time.perf_counter() - start) * 1000)
    finally:
        cv2.setNumThreads(threads)
    return statistics.median(times)


HELD_OUT = {"crackforest": "CrackForest 060-118", "masonry": "masonry (all 240)",
            "uav75": "UAV75 (all 75)"}


@contextlib.contextmanager
def network(model: Path):
    """Run the "net" method with another ONNX file and the settings beside it (model.json)."""
    names = {"logit_threshold": "NET_LOGIT_THRESHOLD", "min_span_px": "NET_MIN_SPAN_PX",
             "max_coherence": "NET_MAX_COHERENCE", "min_elongation": "NET_MIN_ELONGATION",
             "max_darkness": "NET_MAX_DARKNESS", "min_bend": "NET_MIN_BEND",
             "mask_darkness": "NET_MASK_DARKNESS"}
    settings = json.loads(model.with_suffix(".json").read_text())["post_processing"]
    saved = {name: getattr(cracks, name) for name in [*names.values(), "MODEL_PATH"]}
    cracks.MODEL_PATH = model
    cracks._local.net = None
    for key, name in names.items():
        # A setting the file does not name keeps the module's (a filter it was not tuned with).
        setattr(cracks, name, settings.get(key, getattr(cracks, name)))
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(cracks, name, value)
        cracks._local.net = None


def leave_one_out_rows(corpus: Path, models: Path) -> list[tuple[str, ...]]:
    """Score each network of `models` (NAME.onnx beside NAME.json) on every set it never read.

    The sets its .json names under "trained_on" are skipped, whatever was held out of them
    (their check parts chose its checkpoint and post-processing), and so is CrackForest
    001-059 (the committed network's tuning set): a network trained on two sets
    (without-SET.onnx) is scored on the third, one trained on one set on the other two.
    Beside it, on the same images, the classic detector and the committed network. The
    crack-free rows run every such network on the curtain-wall photos, which none saw.
    """
    sets = crack_sets(corpus)
    photos = sorted((corpus / "photos" / "curtainwall" / "images").glob("*.jpg"))
    images = [cv2.imread(str(p)) for p in photos]
    def crack_free(method: str) -> str:
        found = [detect_cracks(i, method=method) for i in images]
        return (f"{max(r.crack_fraction for r in found) * 100:.2f} % / "
                f"{statistics.mean(len(r.segments) for r in found):.1f}") if found else "-"

    baseline = {m: crack_free(m) for m in METHODS}
    table = []
    columns = ("new", "classic", "net")

    @functools.cache
    def shipped(name: str) -> dict:
        # The shipped detectors on a set: the same for every network scored on it.
        return {m: scores(sets[name][1], m) for m in METHODS}

    for model in sorted(models.glob("*.onnx")):
        if not model.with_suffix(".json").is_file():
            continue
        trained_on = json.loads(model.with_suffix(".json").read_text())["trained_on"]
        for folder, name in HELD_OUT.items():
            if folder in trained_on or name not in sets:
                continue
            got = dict(shipped(name))  # before the network is swapped in
            with network(model):
                got["new"] = scores(sets[name][1], "net")
            table.append((f"crack F1 {name}, {model.stem}",
                          *(f"{got[m]['F1']:.3f}" for m in columns),
                          f"new trained on {'+'.join(trained_on)}; " + "; ".join(
                              f"{m} P {got[m]['P']:.2f} R {got[m]['R']:.2f} "
                              f"{got[m]['candidates']:.1f} cand/img" for m in columns)))
        with network(model):
            free = crack_free("net")
        table.append((f"  curtain wall: max % flagged / candidates per photo, {model.stem}",
                      free, baseline["classic"], baseline["net"],
                      f"{len(images)} crack-free photos"))
    return table


CLASSIC_GRID = {"HIGH_THRESHOLD": (0.5, 0.7, 1.0, 1.4), "LOW_THRESHOLD": (0.15, 0.25, 0.4),
                "MAX_MEAN_DARKNESS": (-1.0, -1.5, -2.0), "MIN_CRACK_SPAN_PX": (40.0, 60.0, 90.0),
                "HESSIAN_SIGMAS_PX": ((1.0, 2.0, 3.0), (1.0, 2.0, 3.0, 4.5))}
CURTAIN_WALL_LIMIT = 0.009  # the share the classic's settings were first chosen within
_grid_data: dict = {}


def _load_grid_data(corpus: Path, names: tuple[str, ...]) -> None:
    sets = crack_sets(corpus)
    _grid_data["sets"] = {name: [(cv2.imread(str(i)), cv2.imread(str(m), 0) > 127)
                                 for i, m in pairs] for name, pairs in _joined_sets(sets, names)}
    _grid_data["crack_free"] = [cv2.imread(str(p)) for p in sorted(
        (corpus / "photos" / "curtainwall" / "images").glob("*.jpg"))]


def _joined_sets(sets: dict, names: tuple[str, ...]) -> list[tuple[str, list]]:
    # "CrackForest" is both halves; any other name is a set of crack_sets.
    whole = {"CrackForest": sets["CrackForest 001-059"][1] + sets["CrackForest 060-118"][1],
             "masonry": sets["masonry (all 240)"][1], "UAV75": sets["UAV75 (all 75)"][1]}
    return [(name, whole[name] if name in whole else sets[name][1]) for name in names]


def _score_setting(names: tuple[str, ...], setting: tuple,
                   method: str = "classic") -> tuple[tuple, dict]:
    # A worker process of its own: the module's settings are its to change.
    cv2.setNumThreads(1)
    for name, value in zip(names, setting, strict=True):
        setattr(cracks, name, value)
    got = {name: _tally(pairs, method) for name, pairs in _grid_data["sets"].items()}
    found = [detect_cracks(i, method=method) for i in _grid_data["crack_free"]]
    got["crack-free"] = (max(r.crack_fraction for r in found),
                         statistics.mean(len(r.segments) for r in found))
    return setting, got


def _run_grid(corpus: Path, sets: tuple[str, ...], grid: dict, settings: list,
              workers: int, method: str = "classic") -> dict:
    """Score each setting (values of grid's names) on the sets and the crack-free photos."""
    with ProcessPoolExecutor(workers, multiprocessing.get_context("fork"),
                             initializer=_load_grid_data, initargs=(corpus, sets)) as pool:
        return dict(pool.map(functools.partial(_score_setting, tuple(grid), method=method),
                             settings))


def classic_grid_rows(corpus: Path, workers: int = 2) -> list[tuple[str, ...]]:
    """Leave-one-set-out choice of the classic detector's settings (see the docstring)."""
    names = ("CrackForest", "masonry", "UAV75")
    settings = list(itertools.product(*CLASSIC_GRID.values()))
    shipped = tuple(getattr(cracks, name) for name in CLASSIC_GRID)
    if shipped not in settings:
        settings.append(shipped)
    scored = _run_grid(corpus, names, CLASSIC_GRID, settings, workers)

    def f1(setting: tuple, name: str) -> float:
        return _prf(scored[setting][name][0])["F1"]

    def cell(setting: tuple, name: str) -> str:
        totals, candidates = scored[setting][name]
        got = _prf(totals)
        return f"{got['F1']:.3f} (P {got['P']:.2f} R {got['R']:.2f}, {candidates:.1f})"

    def described(setting: tuple) -> str:
        return ", ".join(f"{k}={v}" for k, v in zip(CLASSIC_GRID, setting, strict=True))

    allowed = [s for s in settings if scored[s]["crack-free"][0] <= CURTAIN_WALL_LIMIT]
    table = []
    for name in names:
        others = [n for n in names if n != name]
        chosen = max(allowed, key=lambda s: statistics.mean(f1(s, n) for n in others))
        ceiling = max(settings, key=lambda s: f1(s, name))
        table.append((f"crack F1 {name}, settings chosen on {' + '.join(others)}",
                      cell(chosen, name), cell(shipped, name), cell(ceiling, name),
                      f"chosen {described(chosen)}; ceiling {described(ceiling)}"))
    return table


def tune_rows(corpus: Path, grid: dict, workers: int = 2,
              method: str = "classic") -> list[tuple[str, ...]]:
    """Score every setting of `grid` on the tuning set and the curtain-wall limit."""
    settings = list(itertools.product(*grid.values()))
    scored = _run_grid(corpus, ("CrackForest 001-059",), grid, settings, workers, method)
    table = []
    for setting in settings:
        totals, candidates = scored[setting]["CrackForest 001-059"]
        got = _prf(totals)
        flagged, crack_free = scored[setting]["crack-free"]
        over = " (over the limit)" if flagged > CURTAIN_WALL_LIMIT else ""
        table.append((", ".join(f"{k}={v}" for k, v in zip(grid, setting, strict=True)),
                      f"{got['F1']:.3f}", f"P {got['P']:.2f} R {got['R']:.2f}, "
                      f"{candidates:.1f} candidates/image; curtain wall max "
                      f"{flagged * 100:.2f} %{over}, "
                      f"{crack_free:.1f} candidates/photo"))
    return table


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "corpus")
    parser.add_argument("--leave-one-out", type=Path, metavar="FOLDER",
                        help="only score the networks FOLDER/*.onnx on the sets they never read")
    parser.add_argument("--classic-grid", action="store_true",
                        help="only choose the classic's settings leave-one-set-out")
    parser.add_argument("--tune", nargs="+", metavar="NAME=V1,V2",
                        help="only score --method with these settings of vision.cracks on "
                             "CrackForest 001-059 and the curtain-wall photos")
    parser.add_argument("--method", choices=METHODS, default="classic",
                        help="the detector --tune scores")
    parser.add_argument("--model", type=Path, metavar="MODEL.onnx",
                        help="with --method net --tune: score this network, not the committed one")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.model:
        if not (args.tune and args.method == "net"):
            parser.error("--model goes with --method net --tune")
        cracks.MODEL_PATH = args.model  # the workers fork with it
    if args.tune:
        # Whole numbers as int: GROUP_GAP_PX sizes a structuring element.
        grid = {name: tuple(int(float(v)) if float(v).is_integer() else float(v)
                            for v in values.split(","))
                for name, values in (item.split("=", 1) for item in args.tune)}
        print(f"{'setting':64} {'F1':>6}  detail")
        for setting, f1, detail in tune_rows(args.corpus, grid, args.workers, args.method):
            print(f"{setting:64} {f1:>6}  {detail}")
        raise SystemExit
    if args.classic_grid:
        print(f"{'measure':58} {'chosen on the others':>28} {'shipped':>28} "
              f"{'ceiling (on itself)':>28}  detail")
        for measure, *values, detail in classic_grid_rows(args.corpus, args.workers):
            print(f"{measure:58} {values[0]:>28} {values[1]:>28} {values[2]:>28}  {detail}")
        raise SystemExit
    if args.leave_one_out:
        print(f"{'measure':56} {'new':>14} {'classic':>14} {'old net':>14}  detail")
        for measure, *values, detail in leave_one_out_rows(args.corpus, args.leave_one_out):
            print(f"{measure:56} {values[0]:>14} {values[1]:>14} {values[2]:>14}  {detail}")
        raise SystemExit
    for measure, *values, detail in rows(args.corpus):
        print(f"{measure:48} {values[0]:>9} {values[1]:>9}  {detail}")
