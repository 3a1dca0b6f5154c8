"""GS1 check digits, SSCCs and their URIs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labels.gs1 import (
    GS1Error,
    check_digit,
    gtin_is_valid,
    human_readable_sscc,
    make_sscc,
    sscc_uri,
    validate_sscc,
)


def test_known_check_digits():
    # The GS1 Tag Data Standard's example: (00)106141412345678908 is
    # urn:epc:id:sscc:0614141.1234567890.
    assert gtin_is_valid("00614141000036") and not gtin_is_valid("00614141000037")
    assert check_digit("10614141234567890") == "8"
    assert make_sscc("1", "0614141", 234567890) == "106141412345678908"
    assert sscc_uri("106141412345678908", 7) == "urn:epc:id:sscc:0614141.1234567890"
    assert human_readable_sscc("106141412345678908") == "(00) 1 0614141 234567890 8"


@given(st.sampled_from("0123456789"), st.text("0123456789", min_size=7, max_size=10),
       st.integers(min_value=0, max_value=999_999))
def test_every_sscc_made_validates_and_any_one_wrong_digit_is_caught(extension, prefix, serial):
    sscc = make_sscc(extension, prefix, serial)
    assert len(sscc) == 18 and validate_sscc(sscc) == sscc
    assert validate_sscc(human_readable_sscc(sscc, len(prefix))) == sscc
    for position in range(18):
        wrong = str((int(sscc[position]) + 1) % 10)
        with pytest.raises(GS1Error):
            validate_sscc(sscc[:position] + wrong + sscc[position + 1:])


@pytest.mark.parametrize("text", ["", "12345", "1" * 19, "10614141123456789x", "(00) 1 2"])
def test_malformed_ssccs_are_refused(text):
    with pytest.raises(GS1Error):
        validate_sscc(text)


def test_the_serial_reference_must_fit_beside_the_prefix():
    with pytest.raises(GS1Error):
        make_sscc("0", "1234567890", 1_000_000)
    with pytest.raises(GS1Error):
        make_sscc("0", "123456", 1)
    with pytest.raises(GS1Error):
        make_sscc("10", "1234567", 1)
