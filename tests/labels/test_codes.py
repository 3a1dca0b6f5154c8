"""Short component codes: typing-safe, with a check character."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labels.codes import (
    ALPHABET,
    CODE_LENGTH,
    CodeError,
    check_character,
    display,
    new_code,
    normalize,
)

codes = st.builds(lambda _: new_code(), st.integers())


def test_alphabet_has_no_ambiguous_characters():
    for char in "01OIL":
        assert char not in ALPHABET
    assert ALPHABET.isupper() or all(c.isdigit() or c.isupper() for c in ALPHABET)


@given(codes)
def test_new_codes_are_canonical_and_start_with_a_letter(code):
    assert len(code) == CODE_LENGTH
    assert code[0].isalpha()
    assert normalize(code) == code


@given(codes)
def test_people_may_type_lower_case_and_separators(code):
    assert normalize(" " + display(code).lower() + " ") == code


@given(codes, st.integers(min_value=0, max_value=CODE_LENGTH - 1), st.sampled_from(ALPHABET))
def test_every_single_wrong_character_is_caught(code, position, char):
    if code[position] == char:
        return
    typo = code[:position] + char + code[position + 1:]
    with pytest.raises(CodeError):
        normalize(typo)


@given(codes, st.integers(min_value=0, max_value=CODE_LENGTH - 1),
       st.integers(min_value=0, max_value=CODE_LENGTH - 1))
def test_every_swap_of_two_characters_is_caught(code, first, second):
    if code[first] == code[second]:
        return
    chars = list(code)
    chars[first], chars[second] = chars[second], chars[first]
    with pytest.raises(CodeError):
        normalize("".join(chars))


def test_swaps_of_every_pair_of_characters_are_caught():
    for a, b in itertools.permutations(ALPHABET, 2):
        body = "K" + a + b + "MNPQR"
        code = body + check_character(body)
        with pytest.raises(CodeError):
            normalize(code[:1] + b + a + code[3:])


@pytest.mark.parametrize("text", ["", "ABC", "A0CDEFGH2", "ABCDEFGHJK"])
def test_malformed_codes_are_refused(text):
    with pytest.raises(CodeError):
        normalize(text)
