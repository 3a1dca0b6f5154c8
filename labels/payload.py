"""Signed label payloads: the URL a label's QR code carries, and its offline check.

A label URL names the component by GS1 Digital Link (`/01/{gtin}/21/{serial}`)
or by short code (`/c/{code}`), or a load (one truck trip) by its SSCC
(`/00/{sscc}`) or internal load code (`/l/{code}`), then carries the label version, the signing
key's id and an Ed25519 signature over every byte before it:

    {base}/c/K7M4Q2P9C?v=2&k=7QX4M2ABCDEFG&s=<103 characters of base32>

Changing, cutting or extending any part, host included, breaks the signature;
an exact copy still verifies (copies are caught from scan history). Base32
upper case keeps the signature in the QR alphanumeric character set.

Key ids are 13 base32 characters (65 bits of the public key's SHA-256); keys
made before that have 4 (20 bits) and keep them, so labels already printed
stay valid. A key id only names a key: the signature is what is checked.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SIGNATURE_LENGTH = 103  # 64 bytes in unpadded base32
KEY_ID_LENGTH = 13  # 65 bits: no two keys share an id, by chance or by search
LEGACY_KEY_ID_LENGTH = 4  # what keys made before had (20 bits); they keep verifying
_SIGNED = re.compile(
    r"(?P<signed>(?P<base>https?://[^/?#\s]+(?:/[^?#\s]*)?)"
    r"/(?:c/(?P<code>[0-9A-Z]{1,16})|01/(?P<gtin>[0-9]{14})/21/(?P<serial>[!-~]{1,60})"
    r"|00/(?P<sscc>[0-9]{18})|l/(?P<load>[0-9A-Z]{1,16}))"
    r"\?v=(?P<version>[1-9][0-9]{0,5})&k=(?P<kid>[0-9A-Z]{4,16}))"
    rf"&s=(?P<signature>[A-Z2-7]{{{SIGNATURE_LENGTH}}})"
)


def key_id(public_key: Ed25519PublicKey, length: int = KEY_ID_LENGTH) -> str:
    """Return the id of a public key: the first `length` base32 characters of its hash."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b32encode(hashlib.sha256(raw).digest()).decode()[:length]


@dataclass(frozen=True)
class LabelIdentity:
    """What a label names: a short code, a GTIN with a serial number, or a load."""

    code: str | None = None
    gtin: str | None = None
    serial: str | None = None
    sscc: str | None = None  # a load with GS1 numbers
    load: str | None = None  # a load's internal code

    @property
    def names_load(self) -> bool:
        return self.sscc is not None or self.load is not None

    def path(self) -> str:
        if self.sscc is not None:
            return f"/00/{self.sscc}"
        if self.load is not None:
            return f"/l/{self.load}"
        if self.gtin is not None and self.serial is not None:
            return f"/01/{self.gtin}/21/{quote(self.serial, safe='')}"
        if self.code is None:
            raise ValueError("a label names a code or a GTIN with a serial")
        return f"/c/{self.code}"


def sign(base_url: str, identity: LabelIdentity, version: int,
         private_key: Ed25519PrivateKey, kid: str | None = None) -> str:
    """Return the signed label URL for `identity` at label `version`.

    `kid` is the id the key was published under (a key made before ids grew
    keeps its short one); by default, the key's full-length id.
    """
    if version < 1:
        raise ValueError("label versions start at 1")
    kid = kid or key_id(private_key.public_key())
    signed = f"{base_url.rstrip('/')}{identity.path()}?v={version}&k={kid}"
    signature = base64.b32encode(private_key.sign(signed.encode())).decode().rstrip("=")
    return f"{signed}&s={signature}"


@dataclass(frozen=True)
class Verification:
    """The result of checking a label URL offline."""

    genuine: bool
    reason: str  # "ok", "malformed", "unknown-key", "bad-signature" or "revoked-key"
    identity: LabelIdentity | None = None
    version: int | None = None
    key_id: str | None = None


def verify(url: str, public_keys: Mapping[str, Ed25519PublicKey],
           revoked: Collection[str] = ()) -> Verification:
    """Check a label URL against published public keys (by key id), without a network.

    A signature that checks out with a key id in `revoked` is refused
    (`revoked-key`): whoever held that key could have signed it.
    """
    match = _SIGNED.fullmatch(url)
    if match is None:
        return Verification(False, "malformed")
    serial = unquote(match["serial"]) if match["serial"] is not None else None
    identity = LabelIdentity(code=match["code"], gtin=match["gtin"], serial=serial,
                             sscc=match["sscc"], load=match["load"])
    version, kid = int(match["version"]), match["kid"]
    public_key = public_keys.get(kid)
    if public_key is None:
        return Verification(False, "unknown-key", identity, version, kid)
    signature = base64.b32decode(match["signature"] + "=")
    if base64.b32encode(signature).decode().rstrip("=") != match["signature"]:
        # The last character carries 3 unused bits: only the canonical form counts.
        return Verification(False, "bad-signature", identity, version, kid)
    try:
        public_key.verify(signature, match["signed"].encode())
    except InvalidSignature:
        return Verification(False, "bad-signature", identity, version, kid)
    if kid in revoked:
        return Verification(False, "revoked-key", identity, version, kid)
    return Verification(True, "ok", identity, version, kid)
