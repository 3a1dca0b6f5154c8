"""Decode uploaded photos: check the file before decoding, then read and resolve every code."""

from __future__ import annotations

import io
import warnings
from typing import Any

import cv2
import numpy as np
from flask import current_app
from PIL import Image
from sqlalchemy import select

from construction.errors import ApiProblem
from construction.extensions import db
from construction.identity import parse_scanned
from construction.models import Component
from construction.permissions import Principal, require
from construction.services.components import visible_component
from construction.services.labels import check_label_urls, is_label_url
from labels.codes import CodeError
from labels.decode import decode_image

_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def sniff(data: bytes) -> str | None:
    """Name the image type from its first bytes (never from the file name or header)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def open_image(data: bytes, max_pixels: int) -> tuple[str, Image.Image]:
    """Open an uploaded image lazily, refusing bad files before any pixel is decoded."""
    kind = sniff(data)
    if kind is None:
        if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc", b"ftypmsf1"):
            raise ApiProblem("unsupported-image", "HEIC photos are not accepted: set the "
                             "camera to 'Most Compatible' (JPEG) or share the photo as JPEG")
        raise ApiProblem("unsupported-image", "send a JPEG, PNG or WebP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
            width, height = image.size
    except Image.DecompressionBombError:
        width = height = None
    except Exception as error:  # Pillow raises many kinds on garbage
        raise ApiProblem("unreadable-image", f"the {kind} header cannot be read: {error}") \
            from error
    if width is None or width * height > max_pixels:
        raise ApiProblem("image-too-large",
                         f"the image declares more than {max_pixels:,} pixels",
                         max_pixels=max_pixels)
    return kind, image


def load_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Return the upright grayscale image, refusing bad files before decoding pixels."""
    kind, _ = open_image(data, max_pixels)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ApiProblem("unreadable-image", f"the {kind} image data cannot be decoded")
    return image


def decode_upload(principal: Principal, upload) -> dict[str, Any]:
    """Decode an uploaded photo; return every code with its component and label status."""
    if upload is None:
        raise ApiProblem("validation-error", "send the photo as multipart field 'image'",
                         errors={"image": ["Missing data for required field."]})
    require(principal, "label.decode")
    image = load_image(upload.read(), current_app.config["DECODE_MAX_PIXELS"])
    # The retries (a 2x enlargement decodes four times the pixels) only on photos
    # small enough that a handful of requests cannot pin every worker.
    codes = decode_image(image, retry_limit_pixels=current_app.config["DECODE_RETRY_MAX_PIXELS"])
    labels = check_label_urls([c.text for c in codes if is_label_url(c.text)],
                              None if principal.is_admin else principal.organization_id)
    found = []
    for code in codes:
        check = labels.get(code.text)
        component_id = None
        if check is not None:
            component_id = check.component_id
        else:
            component_id = _plain_component_id(code.text)
        found.append({"text": code.text, "points": [list(p) for p in code.points],
                      "engine": code.engine,
                      "component": _visible_component(principal, component_id),
                      # Out of the caller's projects a label is as unknown as any code.
                      "genuine": check.genuine if check is not None
                      and check.status != "unknown" else None,
                      "label_status": check.reason if check is not None else None})
    return {"codes": found, "width": image.shape[1], "height": image.shape[0]}


def _plain_component_id(text: str) -> int | None:
    try:
        key = parse_scanned(text)
    except CodeError:
        return None
    if key.kind == "id":
        return key.id
    if key.kind == "code":
        return db.session.scalar(select(Component.id).where(Component.code == key.code))
    return db.session.scalar(select(Component.id).where(Component.gtin == key.gtin,
                                                        Component.serial == key.serial))


def _visible_component(principal: Principal, component_id: int | None) -> dict | None:
    component = visible_component(principal, component_id) if component_id else None
    if component is None:
        return None
    return {"id": component.id, "code": component.code, "mark": component.mark,
            "state": component.state, "project_id": component.project_id}
