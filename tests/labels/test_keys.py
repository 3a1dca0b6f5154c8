"""Signing key files and published public keys."""

import os
import stat

import pytest

from labels.keys import (
    KeyFileError,
    public_key_from_text,
    public_key_pem,
    public_key_text,
    read_key,
    retire_key_file,
    write_new_key,
)
from labels.payload import LabelIdentity, key_id, sign, verify


def test_a_new_key_file_is_private_and_reads_back(tmp_path):
    path = tmp_path / "keys" / "label.pem"
    key = write_new_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = read_key(path)
    assert key_id(again.public_key()) == key_id(key.public_key())


def test_an_existing_key_is_never_overwritten(tmp_path):
    path = tmp_path / "label.pem"
    write_new_key(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_new_key(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"", b"not a key", b"-----BEGIN PRIVATE KEY-----\nAA==\n"])
def test_a_bad_key_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "label.pem"
    path.write_bytes(content)
    with pytest.raises(KeyFileError):
        read_key(path)
    with pytest.raises(KeyFileError):
        read_key(tmp_path / "missing.pem")


def test_published_public_keys_verify_labels(tmp_path):
    key = write_new_key(tmp_path / "label.pem")
    published = public_key_text(key.public_key())
    assert "BEGIN PUBLIC KEY" in public_key_pem(key.public_key())
    loaded = public_key_from_text(published)
    url = sign("https://trace.example.cn", LabelIdentity(code="K7M4Q2P9C"), 1, key)
    assert verify(url, {key_id(loaded): loaded}).genuine


def test_a_retired_key_file_leaves_the_key_folder(tmp_path):
    folder = tmp_path / "keys"
    write_new_key(folder / "label.pem.A.retired")
    assert retire_key_file(folder / "label.pem.A.retired", None, "x") is None
    assert list(folder.iterdir()) == []
    key = write_new_key(folder / "label.pem.B.retired")
    with pytest.raises(ValueError, match="active key"):
        retire_key_file(folder / "label.pem.B.retired", folder, "label.pem.B.retired")
    kept = retire_key_file(folder / "label.pem.B.retired", tmp_path / "vault", "B.pem")
    assert kept == tmp_path / "vault" / "B.pem" and list(folder.iterdir()) == []
    assert stat.S_IMODE(os.stat(kept.parent).st_mode) == 0o700
    assert key_id(read_key(kept).public_key()) == key_id(key.public_key())
    write_new_key(folder / "label.pem.C.retired")
    with pytest.raises(FileExistsError):  # never over another kept key
        retire_key_file(folder / "label.pem.C.retired", tmp_path / "vault", "B.pem")
