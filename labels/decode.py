"""Read every code in a photo: zxing-cpp first, then pyzbar, then OpenCV.

Measured on real photos (see FIELD-NOTES): zxing-cpp reads the most and the
fastest, so the others only run when it finds nothing, and a second pass on
a 2x enlarged image runs only when the first pass finds nothing at all. Large
photos are never shrunk: small labels in 12 MP site photos need every pixel.
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


def _zxing(gray: np.ndarray) -> list[DecodedCode]:
    found = []
    for barcode in zxingcpp.read_barcodes(gray, text_mode=zxingcpp.TextMode.Plain):
        if not barcode.valid:
            continue
        p = barcode.position
        corners = ((p.top_left.x, p.top_left.y), (p.top_right.x, p.top_right.y),
                   (p.bottom_right.x, p.bottom_right.y), (p.bottom_left.x, p.bottom_left.y))
        found.append(DecodedCode(barcode.text, corners, "zxing-cpp"))
    return found


def _pyzbar_reader() -> tuple[Callable[[np.ndarray], list[DecodedCode]] | None, str | None]:
    try:
        from pyzbar import pyzbar
    except (ImportError, OSError) as error:  # OSError: libzbar0 is not installed
        return None, f"pyzbar unavailable: {error}"

    def read(gray: np.ndarray) -> list[DecodedCode]:
        found = []
        for symbol in pyzbar.decode(gray):
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
    ok, texts, points, _ = _detector.detectAndDecodeMulti(gray)
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


def decode_image(image: np.ndarray, engines=None) -> list[DecodedCode]:
    """Return every code that the chain reads in a BGR or grayscale image."""
    engines = ENGINES if engines is None else engines
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    found = _first_pass(gray, engines)
    if found:
        return found
    enlarged = cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    return [DecodedCode(code.text, tuple((x // 2, y // 2) for x, y in code.points), code.engine)
            for code in _first_pass(enlarged, engines)]
