"""GS1 numbers: the mod-10 check digit of GTINs and SSCCs, and SSCC building and checking.

Pure code. An SSCC (Serial Shipping Container Code, application identifier 00)
has 18 digits: an extension digit, the GS1 company prefix (7 to 10 digits),
a serial reference filling the rest and a check digit. Its EPC URI puts the
extension digit in front of the serial reference:
`urn:epc:id:sscc:{company prefix}.{extension digit}{serial reference}`.
"""

from __future__ import annotations

import re

SSCC_LENGTH = 18
_DIGITS = re.compile(r"[0-9]+")
_PREFIX = re.compile(r"[0-9]{7,10}")


class GS1Error(ValueError):
    """A GS1 number with a wrong shape or check digit."""


def check_digit(body: str) -> str:
    """Return the GS1 mod-10 check digit of `body` (every digit but the last)."""
    if not _DIGITS.fullmatch(body):
        raise GS1Error("a GS1 number has only digits")
    # Weights 3, 1, 3... from the right-hand digit of the body.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def has_valid_check_digit(number: str) -> bool:
    """Tell whether a string of digits ends in its right check digit."""
    return bool(_DIGITS.fullmatch(number)) and len(number) >= 2 \
        and check_digit(number[:-1]) == number[-1]


def gtin_is_valid(gtin: str) -> bool:
    """Tell whether a GTIN-14 has the right shape and check digit."""
    return len(gtin) == 14 and has_valid_check_digit(gtin)


def is_company_prefix(prefix: str) -> bool:
    """Tell whether `prefix` has the shape of a GS1 company prefix (7 to 10 digits)."""
    return _PREFIX.fullmatch(prefix) is not None


def serial_reference_digits(company_prefix: str) -> int:
    """Return how many digits the serial reference has beside this company prefix."""
    return SSCC_LENGTH - 2 - len(company_prefix)


def make_sscc(extension_digit: str, company_prefix: str, serial_reference: int) -> str:
    """Return the SSCC of a serial reference, check digit included."""
    if len(extension_digit) != 1 or not extension_digit.isdigit():
        raise GS1Error("the extension digit is one digit")
    if not is_company_prefix(company_prefix):
        raise GS1Error("a GS1 company prefix has 7 to 10 digits")
    width = serial_reference_digits(company_prefix)
    if not 0 <= serial_reference < 10 ** width:
        raise GS1Error(f"the serial reference has at most {width} digits beside this prefix")
    body = f"{extension_digit}{company_prefix}{serial_reference:0{width}d}"
    return body + check_digit(body)


def validate_sscc(text: str) -> str:
    """Return the SSCC in `text` (spaces and brackets of the printed form ignored) or raise."""
    digits = re.sub(r"[\s()]", "", text)
    if digits.startswith("00") and len(digits) == SSCC_LENGTH + 2:
        digits = digits[2:]  # the printed form starts with the application identifier
    if len(digits) != SSCC_LENGTH or not _DIGITS.fullmatch(digits):
        raise GS1Error(f"an SSCC has {SSCC_LENGTH} digits")
    if check_digit(digits[:-1]) != digits[-1]:
        raise GS1Error("the SSCC's check digit does not match: it is mistyped")
    return digits


def sscc_uri(sscc: str, company_prefix_length: int) -> str:
    """Return the EPC pure identity URI of an SSCC."""
    prefix = sscc[1:1 + company_prefix_length]
    serial = sscc[0] + sscc[1 + company_prefix_length:-1]
    return f"urn:epc:id:sscc:{prefix}.{serial}"


def human_readable_sscc(sscc: str, company_prefix_length: int = 7) -> str:
    """Return an SSCC as printed under its barcode: `(00) 3 0614141 123456789 4`."""
    cut = 1 + company_prefix_length
    return f"(00) {sscc[0]} {sscc[1:cut]} {sscc[cut:17]} {sscc[17]}"
