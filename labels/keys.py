"""Label signing keys: PEM files for the private key, base64 for published public keys."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)


class KeyFileError(ValueError):
    """A key file that is missing, unreadable or not an Ed25519 private key."""


def write_new_key(path: str | os.PathLike) -> Ed25519PrivateKey:
    """Create a new Ed25519 key in a PEM file that only its owner can read.

    Raises FileExistsError when the file exists: a key is never overwritten,
    since labels signed with it would stop verifying if its public half were lost.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside, then linked into place: link() fails if the name exists,
    # so of several workers starting at once exactly one key wins, and nobody
    # ever reads a half-written file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return key


def check_retired_folder(path: str | os.PathLike, keep_in: str | os.PathLike | None) -> None:
    """Refuse (ValueError) to keep retired keys in the folder of the active key `path`."""
    if keep_in is not None and Path(keep_in).resolve() == Path(path).parent.resolve():
        raise ValueError(f"{keep_in} is the folder of the active key: keep retired keys "
                         "elsewhere")


def retire_key_file(path: str | os.PathLike, keep_in: str | os.PathLike | None,
                     name: str) -> Path | None:
    """Take a retired private key file out of the key folder; return where it went.

    With `keep_in`, it is moved there as `name` (the folder is made private);
    without, it is deleted. Either way the folder the service reads keeps only
    the current key: a retired key signs nothing, and labels it signed verify
    with its published public half. Refuses a `keep_in` that is the key folder.
    """
    path = Path(path)
    check_retired_folder(path, keep_in)
    if keep_in is None:
        path.unlink()
        return None
    folder = Path(keep_in)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / name
    if target.exists():
        raise FileExistsError(f"{target} exists")
    shutil.move(path, target)
    return target


def read_key(path: str | os.PathLike) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from a PEM file."""
    try:
        key = load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise KeyFileError(f"cannot read the label signing key {path}: {error}") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} does not hold an Ed25519 private key")
    return key


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """Return the raw 32-byte public key in base64, as published."""
    return base64.b64encode(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """Return the public key as a PEM SubjectPublicKeyInfo block."""
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """Load a published base64 public key."""
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
