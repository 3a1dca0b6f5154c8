"""Short human component codes: safe to type, with a check character.

The alphabet has no 0/O or 1/I/L (confusable when read or written by hand) and
only upper-case letters and digits, so codes fit the QR alphanumeric mode. It
has 31 characters, a prime, so a weighted check character modulo 31 (weights
1..9 by position) catches every single wrong character and every swap of any
two characters.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BODY_LENGTH = 8
CODE_LENGTH = BODY_LENGTH + 1
_LETTERS = "".join(c for c in ALPHABET if c.isalpha())
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_N = len(ALPHABET)
_SEPARATORS = re.compile(r"[\s\-_.]")


class CodeError(ValueError):
    """A string that is not a well-formed component code."""


def check_character(body: str) -> str:
    """Return the check character that makes the weighted sum of the code zero mod 31."""
    total = sum((position + 1) * _INDEX[char] for position, char in enumerate(body))
    weight = len(body) + 1
    # Solve weight * check + total == 0 (mod N); N is prime so the inverse exists.
    return ALPHABET[(-total * pow(weight, -1, _N)) % _N]


def new_code() -> str:
    """Return a fresh random code (first character a letter, so never all digits)."""
    body = secrets.choice(_LETTERS) + "".join(
        secrets.choice(ALPHABET) for _ in range(BODY_LENGTH - 1)
    )
    return body + check_character(body)


def normalize(text: str) -> str:
    """Return the canonical form of a typed code, or raise CodeError."""
    cleaned = _SEPARATORS.sub("", text).upper()
    if len(cleaned) != CODE_LENGTH:
        raise CodeError(f"a component code has {CODE_LENGTH} characters")
    bad = sorted({c for c in cleaned if c not in _INDEX})
    if bad:
        raise CodeError(f"characters not used in component codes: {''.join(bad)}")
    if cleaned.isdigit():
        # All digits would read as an internal id; every code has a letter.
        raise CodeError("a component code has at least one letter")
    if check_character(cleaned[:-1]) != cleaned[-1]:
        raise CodeError("the check character does not match: the code is mistyped")
    return cleaned


def display(code: str) -> str:
    """Format a canonical code for people: groups of three, e.g. `K7M-4Q2-P9C`."""
    return "-".join(code[i:i + 3] for i in range(0, len(code), 3))
