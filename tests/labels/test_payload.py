"""Signed label URLs: genuine ones verify offline, any alteration fails."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from labels.codes import new_code
from labels.payload import (
    KEY_ID_LENGTH,
    LEGACY_KEY_ID_LENGTH,
    LabelIdentity,
    key_id,
    sign,
    verify,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OLD_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEYS = {key_id(k.public_key()): k.public_key() for k in (KEY, OLD_KEY)}
BASE = "https://trace.example.cn"

identities = st.one_of(
    st.builds(lambda _: LabelIdentity(code=new_code()), st.integers()),
    st.builds(lambda gtin, serial: LabelIdentity(gtin=gtin, serial=serial),
              st.from_regex(r"[0-9]{14}", fullmatch=True),
              st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126),
                      min_size=1, max_size=20)),
)
versions = st.integers(min_value=1, max_value=999)


@given(identities, versions)
def test_genuine_labels_verify_and_round_trip(identity, version):
    url = sign(BASE, identity, version, KEY)
    result = verify(url, KEYS)
    assert result.genuine, result
    assert (result.identity, result.version) == (identity, version)


@settings(max_examples=50)
@given(identities, versions, st.data())
def test_every_single_character_change_fails(identity, version, data):
    url = sign(BASE, identity, version, KEY)
    position = data.draw(st.integers(min_value=0, max_value=len(url) - 1))
    replacement = data.draw(st.characters(min_codepoint=32, max_codepoint=126))
    if replacement == url[position]:
        return
    changed = url[:position] + replacement + url[position + 1:]
    assert not verify(changed, KEYS).genuine, changed


def test_every_character_of_one_label_is_covered():
    url = sign(BASE, LabelIdentity(code="K7M4Q2P9C"), 2, KEY)
    for position, original in enumerate(url):
        for replacement in {"A", "7", "x", "/", original.swapcase()} - {original}:
            changed = url[:position] + replacement + url[position + 1:]
            assert not verify(changed, KEYS).genuine, changed


@given(identities, versions, st.integers(min_value=1, max_value=200), st.text(max_size=5))
def test_truncated_or_extended_labels_fail(identity, version, cut, tail):
    url = sign(BASE, identity, version, KEY)
    assert not verify(url[:-cut], KEYS).genuine
    if tail:
        assert not verify(url + tail, KEYS).genuine


@pytest.mark.parametrize("other", ["https://trace.example.com", "http://trace.example.cn",
                                   "https://evil.example.cn", "https://trace.example.cn/x"])
def test_another_host_or_scheme_fails(other):
    url = sign(BASE, LabelIdentity(code="K7M4Q2P9C"), 1, KEY)
    assert not verify(url.replace(BASE, other, 1), KEYS).genuine


def test_old_keys_keep_verifying_and_unknown_keys_are_named():
    old = sign(BASE, LabelIdentity(code="K7M4Q2P9C"), 1, OLD_KEY)
    assert verify(old, KEYS).genuine
    only_new = {key_id(KEY.public_key()): KEY.public_key()}
    result = verify(old, only_new)
    assert (result.genuine, result.reason) == (False, "unknown-key")


def test_signatures_use_the_qr_alphanumeric_set():
    url = sign(BASE, LabelIdentity(code="K7M4Q2P9C"), 1, KEY)
    signature = url.rsplit("&s=", 1)[1]
    assert len(signature) == 103 and signature.isupper()


@given(identities, versions, st.from_regex(r"https?://[a-z0-9][a-z0-9.-]{0,30}(:[0-9]{1,5})?",
                                           fullmatch=True))
def test_any_other_host_fails(identity, version, other):
    url = sign(BASE, identity, version, KEY)
    if other == BASE:
        return
    assert not verify(other + url[len(BASE):], KEYS).genuine


def test_key_ids_have_65_bits_and_labels_with_old_short_ids_verify():
    kid = key_id(KEY.public_key())
    assert len(kid) == KEY_ID_LENGTH == 13 and kid.isalnum() and kid.isupper()
    url = sign(BASE, LabelIdentity(code="K7M4Q2P9C"), 1, KEY)
    assert f"&k={kid}&s=" in url
    # Printed before ids grew: the key's first 4 characters name it.
    short = key_id(OLD_KEY.public_key(), LEGACY_KEY_ID_LENGTH)
    old = sign(BASE, LabelIdentity(code="K7M4Q2P9C"), 1, OLD_KEY, short)
    assert f"&k={short}&s=" in old
    assert verify(old, {short: OLD_KEY.public_key()}).genuine
    assert verify(old, KEYS).reason == "unknown-key"  # not under its long id


def test_a_revoked_key_verifies_nothing():
    url = sign(BASE, LabelIdentity(code="K7M4Q2P9C"), 1, OLD_KEY)
    kid = key_id(OLD_KEY.public_key())
    result = verify(url, KEYS, revoked={kid})
    assert (result.genuine, result.reason, result.key_id) == (False, "revoked-key", kid)
    assert verify(url, KEYS, revoked={key_id(KEY.public_key())}).genuine
    # A forgery under a revoked key is still told as a bad signature.
    assert verify(url[:-1] + ("A" if url[-1] != "A" else "B"), KEYS,
                  revoked={kid}).reason == "bad-signature"
