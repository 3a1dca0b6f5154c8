"""Turn what a scanner read into a component key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from labels.codes import CodeError, normalize

_DIGITAL_LINK = re.compile(r"/01/([0-9]{14})/21/([!-~]{1,20})/?")
_CODE_PATH = re.compile(r"/c/([!-~]{1,40})/?")


@dataclass(frozen=True)
class ComponentKey:
    """How a scan names a component: by code, internal id, or GTIN + serial."""

    kind: str  # "code" | "id" | "gs1"
    code: str | None = None
    id: int | None = None
    gtin: str | None = None
    serial: str | None = None


def parse_scanned(text: str) -> ComponentKey:
    """Return the key in a scanned string, or raise CodeError."""
    text = text.strip()
    if not text:
        raise CodeError("the code is empty")
    if text.lower().startswith(("http://", "https://")):
        path = unquote(urlsplit(text).path)
        match = _DIGITAL_LINK.fullmatch(path)
        if match:
            return ComponentKey("gs1", gtin=match.group(1), serial=match.group(2))
        match = _CODE_PATH.fullmatch(path)
        if match:
            return ComponentKey("code", code=normalize(match.group(1)))
        raise CodeError("the URL is not a component link (/c/{code} or /01/{gtin}/21/{serial})")
    if text.isascii() and text.isdigit():
        if len(text) > 18:
            raise CodeError("an internal id has at most 18 digits")
        return ComponentKey("id", id=int(text))
    return ComponentKey("code", code=normalize(text))
