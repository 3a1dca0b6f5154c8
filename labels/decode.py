"""Read every code in a photo: zxing-cpp first, then pyzbar, then OpenCV.

Measured on real photos (see FIELD-NOTES): zxing-cpp reads the most and the
fastest, so the others only run when it finds nothing. Large photos are never
shrunk: small labels in 12 MP site photos need every pixel.

Every engine looks for QR codes only (labels carry nothing else): that makes
zxing-cpp's first pass about ten times faster and keeps stray barcodes out.
When the first pass reads nothing, retries run, cheapest first, until one
reads: zxing-cpp on a sharpened copy (blur), zxing-cpp on a locally
thresholded copy (glare, shade, low contrast), every engine on a 2x cubic
enlargement (small modules), zxing-cpp on the enlargement thresholded, every
engine on a 2x linear enlargement, and last on the label flattened by a Coons
patch fitted to its bright outline (labels on cloth or curved parts, whose
bent module grid fails the checksum even though the code is found).

The first four retries were chosen on half the corpus (categories qrcode-1..3)
and measured on the other half (qrcode-4..6), as it is and degraded six ways
(blur, glare, low contrast, shade, noise, small modules; bench/_labels_split.py):
820 of 959 read against 661 for zxing-cpp alone and 784 for the chain before
them (a 2x linear pass and the flattening only), median 0.23 ms per image.

On the QR corpus in shared/corpus/qr (316 photos), single-threaded: 307 read
(97.2 %) at a median of 0.17 ms per image (298, 94.3 %, before these passes);
`bench/labels.py` measures it per engine and for the chain. The one
text that differs from the manifest, zxing/qrcode-2/13.png, reads
"photography" as its copy zxingcpp/qrcode-2/13.webp is expected to: the
manifest's "photograph" for the png looks wrong, and it is counted as a miss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

Point = tuple[int, int]


@dataclass(frozen=True)
class DecodedCode:
    """One code found in an image: its text, four corners and the engine that read it."""

    text: str
    points: tuple[Point, Point, Point, Point]
    engine: str


# The QR family (Model 1/2 and Micro QR): scanning for every symbology is what
# made the first pass cost ~1.1 ms instead of ~0.1 ms.
_QR = zxingcpp.BarcodeFormat.QRCode
# LocalAverage (the default) reads the most; GlobalHistogram reads a few
# unevenly lit or noisy codes that it misses, so it runs only after a miss.
_BINARIZERS = (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram)


def _zxing(gray: np.ndarray) -> list[DecodedCode]:
    return _zxing_with(gray, _BINARIZERS)


def _zxing_with(gray: np.ndarray, binarizers) -> list[DecodedCode]:
    for binarizer in binarizers:
        found = []
        for barcode in zxingcpp.read_barcodes(gray, formats=_QR, binarizer=binarizer,
                                              text_mode=zxingcpp.TextMode.Plain):
            if not barcode.valid:
                continue
            p = barcode.position
            corners = ((p.top_left.x, p.top_left.y), (p.top_right.x, p.top_right.y),
                       (p.bottom_right.x, p.bottom_right.y), (p.bottom_left.x, p.bottom_left.y))
            found.append(DecodedCode(barcode.text, corners, "zxing-cpp"))
        if found:
            return found
    return []


def _pyzbar_reader() -> tuple[Callable[[np.ndarray], list[DecodedCode]] | None, str | None]:
    # Imported here, not at the top: pyzbar needs the system's libzbar, which may be missing.
    try:
        from pyzbar import pyzbar
    except (ImportError, OSError) as error:  # OSError: libzbar0 is not installed
        return None, f"pyzbar unavailable: {error}"

    def read(gray: np.ndarray) -> list[DecodedCode]:
        found = []
        for symbol in pyzbar.decode(gray, symbols=[pyzbar.ZBarSymbol.QRCODE]):
            corners = [(int(x), int(y)) for x, y in symbol.polygon][:4]
            if len(corners) < 4:
                left, top, width, height = symbol.rect
                corners = [(left, top), (left + width, top), (left + width, top + height),
                           (left, top + height)]
            found.append(DecodedCode(symbol.data.decode("utf-8", errors="replace"),
                                     tuple(corners), "pyzbar"))
        return found

    return read, None


_detector = cv2.QRCodeDetector()


def _opencv(gray: np.ndarray) -> list[DecodedCode]:
    try:
        ok, texts, points, _ = _detector.detectAndDecodeMulti(gray)
    except (cv2.error, UnicodeDecodeError):  # Kanji mode, or bytes that are not UTF-8
        return []
    if not ok or points is None:
        return []
    return [DecodedCode(text, tuple((int(x), int(y)) for x, y in corners), "opencv")
            for text, corners in zip(texts, points, strict=False) if text]


_pyzbar, PYZBAR_NOTE = _pyzbar_reader()
ENGINES: list[tuple[str, Callable[[np.ndarray], list[DecodedCode]]]] = [
    ("zxing-cpp", _zxing), *([("pyzbar", _pyzbar)] if _pyzbar else []), ("opencv", _opencv)]


def engines_available() -> dict[str, str | None]:
    """Name each engine, with None when it runs here or a note saying why not."""
    return {"zxing-cpp": None, "pyzbar": PYZBAR_NOTE, "opencv": None}


def _first_pass(gray: np.ndarray, engines) -> list[DecodedCode]:
    for _, read in engines:
        found = read(gray)
        if found:
            return found
    return []


_FLAT_MAX = 1024  # px a side: 5 px a module even for a version 40 code


def _resample(polyline: np.ndarray, n: int) -> np.ndarray:
    """Return n points evenly spaced by arc length along a polyline."""
    steps = np.sqrt((np.diff(polyline, axis=0) ** 2).sum(axis=1))
    along = np.concatenate([[0.0], np.cumsum(steps)])
    at = np.linspace(0.0, along[-1], n)
    return np.stack([np.interp(at, along, polyline[:, 0]), np.interp(at, along, polyline[:, 1])],
                    axis=1)


def _flatten_label(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Map the largest bright blob (a label) onto a square; return it and its source maps.

    A bent label's outline bends with its code, so a Coons patch spanned by the
    four sides of the outline undoes most of the bend that a homography cannot.
    """
    _, bright = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    outline = max(contours, key=cv2.contourArea)
    # A label filling under 5 % of the frame is small enough to be nearly flat.
    if cv2.contourArea(outline) < 0.05 * gray.size or len(outline) < 8:
        return None
    outline = outline[:, 0, :].astype(np.float64)
    hull = cv2.convexHull(outline.astype(np.float32))
    quad = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)[:, 0, :]
    if len(quad) != 4:  # rounded or torn corners: take the extremes along both diagonals
        total, diff = outline.sum(axis=1), outline[:, 0] - outline[:, 1]
        quad = outline[[total.argmin(), diff.argmax(), total.argmax(), diff.argmin()]]
    ends = sorted({int(((outline - corner) ** 2).sum(axis=1).argmin()) for corner in quad})
    if len(ends) != 4:
        return None
    # As many pixels as the label spans (capped: the maps cost 8 bytes a pixel).
    _, _, width, height = cv2.boundingRect(outline.astype(np.float32))
    size = min(max(width, height), _FLAT_MAX)
    sides = []
    for start, stop in zip(ends, ends[1:] + ends[:1], strict=True):
        side = outline[start:stop + 1] if start < stop else np.concatenate(
            [outline[start:], outline[:stop + 1]])
        sides.append(_resample(side, size))
    # Walking the outline gives top, right, bottom and left, the last two backwards.
    top, right, bottom, left = sides[0], sides[1], sides[2][::-1], sides[3][::-1]
    u = np.linspace(0.0, 1.0, size, dtype=np.float32)[None, :, None]
    v = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    top, right, bottom, left = (side.astype(np.float32) for side in (top, right, bottom, left))
    surface = ((1 - v) * top[None] + v * bottom[None] + (1 - u) * left[:, None]
               + u * right[:, None]
               - ((1 - u) * (1 - v) * top[0] + u * (1 - v) * top[-1]
                  + (1 - u) * v * bottom[0] + u * v * bottom[-1]))
    map_x, map_y = np.ascontiguousarray(surface[..., 0]), np.ascontiguousarray(surface[..., 1])
    flat = cv2.remap(gray, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return flat, map_x, map_y


def _sharpened(gray: np.ndarray) -> np.ndarray:
    # Unsharp mask: a defocused or shaken code gets its module edges back.
    return cv2.addWeighted(gray, 2.0, cv2.GaussianBlur(gray, (0, 0), 1.5), -1.0, 0)


def _thresholded(gray: np.ndarray) -> np.ndarray:
    # A mean threshold over an eighth of the frame: glare and shade that swamp
    # zxing-cpp's own binarizers leave the code's dark/light order intact locally.
    block = max(3, min(gray.shape) // 8) | 1
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY,
                                 block, 0)


def _zxing_bilevel(binary: np.ndarray) -> list[DecodedCode]:
    return _zxing_with(binary, (zxingcpp.Binarizer.BoolCast,))


def _enlarge(gray: np.ndarray) -> np.ndarray:
    return cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)


def _enlarge_smoothly(gray: np.ndarray) -> np.ndarray:
    # Linear enlarging rings less than cubic: it reads a few noisy codes that cubic misses.
    return cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)


def _retries(engines) -> list[tuple[Callable[[np.ndarray], np.ndarray], int, list]]:
    """Return the retries after a miss, cheapest first: (view of the image, its scale, engines).

    Chosen on the tuning half of the corpus (ZXing/zxing-cpp sets qrcode-1..3,
    as they are and degraded by blur, glare, low contrast, shade, noise and
    shrinking); bench/labels.py reports them on qrcode-4..6, which they never saw.
    """
    zxing_only = [(name, read) for name, read in engines if name == "zxing-cpp"]
    retries = []
    if zxing_only:
        retries += [(_sharpened, 1, zxing_only),
                    (_thresholded, 1, [("zxing-cpp", _zxing_bilevel)])]
    retries.append((_enlarge, 2, engines))
    if zxing_only:
        retries.append((lambda gray: _thresholded(_enlarge(gray)), 2,
                        [("zxing-cpp", _zxing_bilevel)]))
    retries.append((_enlarge_smoothly, 2, engines))
    return retries


def decode_image(image: np.ndarray, engines=None,
                 retry_limit_pixels: int | None = None) -> list[DecodedCode]:
    """Return every code that the chain reads in a BGR or grayscale image.

    `retry_limit_pixels` skips the retries on larger images: on a 12 MP photo
    without a label they cost seconds (the 2x pass decodes 48 MP).
    """
    engines = ENGINES if engines is None else engines
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    found = _first_pass(gray, engines)
    if found or (retry_limit_pixels is not None and gray.size > retry_limit_pixels):
        return found
    for view, scale, readers in _retries(engines):
        found = _first_pass(view(gray), readers)
        if found:
            return [DecodedCode(code.text, tuple((x // scale, y // scale) for x, y in code.points),
                                code.engine) for code in found]
    flattened = _flatten_label(gray)
    if flattened is None:
        return []
    flat, map_x, map_y = flattened
    last = flat.shape[0] - 1

    def source(x: int, y: int) -> Point:
        row, col = min(max(int(y), 0), last), min(max(int(x), 0), last)
        return int(map_x[row, col]), int(map_y[row, col])

    return [DecodedCode(code.text, tuple(source(x, y) for x, y in code.points), code.engine)
            for code in _first_pass(flat, engines)]
