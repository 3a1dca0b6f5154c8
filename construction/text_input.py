"""Text that enters the service must be text: valid Unicode, numbers a parser can hold.

JSON may legally escape a lone UTF-16 surrogate (`"\\udc00"`), and Python
decodes it into a `str` that cannot be encoded to UTF-8. Stored, such a string
breaks everything that later hashes, signs, renders or exports it (the ledger
above all, which can never drop an event). So every JSON body is refused at
the door when any of its strings (keys included) holds a lone surrogate, and
services refuse the same in text from other sources (the command line).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from flask import current_app, request

from construction.errors import ApiProblem

# What a lone surrogate or an over-long integer can look like in a UTF-8 JSON
# body. Only bodies with one of these are parsed here, so the hot paths pay
# one regular-expression scan and no second parse.
_DIGITS = sys.get_int_max_str_digits() or 4300
_SUSPECT = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}|[0-9]{" + str(_DIGITS) + ",}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_WRITES = frozenset(("POST", "PUT", "PATCH", "DELETE"))


def lone_surrogate(text: str) -> str | None:
    """Return the first lone surrogate in `text` as its escape (e.g. `\\udc00`), or None."""
    found = _SURROGATE.search(text)
    return None if found is None else f"\\u{ord(found.group()):04x}"


def check_text(text: str, field: str) -> str:
    """Return `text`, or raise ValueError when it holds a lone surrogate."""
    bad = lone_surrogate(text)
    if bad is not None:
        raise ValueError(f"{field} is not valid Unicode (a lone surrogate {bad})")
    return text


def surrogate_errors(value: Any) -> dict | list | None:
    """Return per-field errors (marshmallow's nesting) for lone surrogates in a JSON value."""
    if isinstance(value, str):
        bad = lone_surrogate(value)
        return None if bad is None else [f"Not valid Unicode: a lone surrogate {bad}."]
    errors: dict = {}
    if isinstance(value, dict):
        for key, item in value.items():
            bad = lone_surrogate(key)
            if bad is not None:
                errors[key.encode("utf-8", "backslashreplace").decode()] = [
                    f"The key is not valid Unicode: a lone surrogate {bad}."]
                continue
            found = surrogate_errors(item)
            if found is not None:
                errors[key] = found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = surrogate_errors(item)
            if found is not None:
                errors[index] = found
    return errors or None


def refuse_json_sent_as_other() -> None:
    """Refuse (415) a JSON body labelled as something else.

    `curl -d '{...}'` without a Content-Type header sends a form; the views read JSON only
    from a JSON media type, so the body would be read as empty and refused for missing
    fields, which misleads. Bodies of other kinds (CSV, IFC, multipart) never start with
    '{' or '['.
    """
    if request.method not in _WRITES or request.is_json or not request.content_length:
        return
    # Larger than any JSON write may be, or a multipart upload: not read here.
    if request.mimetype.startswith("multipart/") or \
            request.content_length > current_app.config["JSON_MAX_BYTES"]:
        return
    start = request.get_data(cache=True)[:64].lstrip()
    if start[:1] in (b"{", b"["):
        raise ApiProblem("unsupported-media-type", "the body is JSON but is sent as "
                         f"'{request.mimetype or 'no type'}': send it with "
                         "Content-Type: application/json")


def refuse_unsound_json() -> None:
    """Refuse a JSON body that is too large, not UTF-8, or holds unstorable text or numbers."""
    if request.method not in _WRITES or not request.is_json:
        return
    # The largest JSON write (a full batch of scans) is a few megabytes; the 64 MiB
    # limit is for photo uploads.
    request.max_content_length = current_app.config["JSON_MAX_BYTES"]
    body = request.get_data(cache=True)
    if not body:
        return
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiProblem("bad-request", f"the JSON body is not UTF-8 (byte {error.start})") \
            from error
    if _SUSPECT.search(text) is None:
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return  # the view's own parser answers malformed JSON
    except ValueError as error:  # an integer longer than Python converts
        raise ApiProblem("validation-error", f"the JSON body has a number that is too long "
                         f"({error})") from error
    errors = surrogate_errors(value)
    if errors is not None:
        raise ApiProblem("validation-error", "the request has text that is not valid Unicode",
                         errors=errors)
