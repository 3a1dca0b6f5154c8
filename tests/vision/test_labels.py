"""Labels in site photos: every code found, with its size in pixels per module."""

import numpy as np
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from labels.payload import LabelIdentity, sign
from labels.qr import qr_matrix
from vision.labels import find_labels

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def label_url(code: str) -> str:
    return sign("https://trace.example.cn", LabelIdentity(code=code), 1, KEY)


def paste(canvas: np.ndarray, text: str, top: int, left: int, module_px: int) -> None:
    symbol = np.kron(~qr_matrix(text), np.ones((module_px, module_px), bool))
    symbol = np.pad(symbol, 4 * module_px, constant_values=True).astype(np.uint8) * 255
    canvas[top:top + symbol.shape[0], left:left + symbol.shape[1]] = symbol


def test_every_label_in_a_photo_is_found_and_measured():
    canvas = np.full((1500, 2000), 150, np.uint8)
    first, second = label_url("K7M4Q2P9C"), label_url("ABCDEFGH2")
    paste(canvas, first, 100, 100, 6)
    paste(canvas, second, 800, 1200, 4)
    found = {label.text: label for label in find_labels(canvas).labels}
    assert set(found) == {first, second}
    assert abs(found[first].pixels_per_module - 6) < 0.5
    assert abs(found[second].pixels_per_module - 4) < 0.5
    assert found[first].modules == qr_matrix(first).shape[0]


def test_a_photo_without_labels_finds_none():
    rng = np.random.default_rng(1)
    assert find_labels(rng.integers(0, 255, (3000, 4000), dtype=np.uint8)).labels == ()


def test_a_code_that_holds_more_than_level_q_is_measured_not_failed():
    # Another maker's code, a long link printed at level L: level Q cannot hold its text.
    text = "https://example.com/" + "".join(chr(97 + (i * 7) % 26) for i in range(1900))
    symbol = np.asarray(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode,
                                                ec_level="L").to_image(
        scale=4, add_quiet_zones=False))
    found = find_labels(np.pad(symbol, 40, constant_values=255)).labels
    assert [label.text for label in found] == [text]
    assert found[0].modules == symbol.shape[0] // 4  # its own size (version 32)
    assert abs(found[0].pixels_per_module - 4) < 0.5
