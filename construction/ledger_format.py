"""The ledger's hashing rules, shared by the server and the offline verifier.

Pure functions (standard library and `cryptography` only), so that
`scripts/verify_ledger.py` can check downloaded files with nothing else.

- An event's canonical content is a JSON array of its recorded fields in a
  fixed order (times in UTC ISO 8601 with microseconds, JSON values with
  sorted keys, no spaces); `content_hash` = SHA-256 of its UTF-8 bytes. A lone
  UTF-16 surrogate (which JSON may escape but UTF-8 cannot hold; the API refuses
  it, but an older row may carry one) is written as its JSON escape (`\\udc00`),
  so that every stored event has canonical bytes, and those bytes are valid
  UTF-8 JSON denoting the same text.
- `chain_hash` = SHA-256(previous chain hash || content hash), over raw bytes;
  the chain starts from 32 zero bytes. One chain for the whole ledger, in
  `sequence` order.
- A checkpoint's Merkle root covers the content hashes of the events it adds
  (after the previous checkpoint): leaf = SHA-256(0x00 || content hash),
  node = SHA-256(0x01 || left || right); a level with an odd count carries its
  last node up unchanged.
- A checkpoint statement is canonical JSON, signed with Ed25519; the
  signature is base64.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FIELDS = ("id", "component_id", "action", "from_state", "to_state", "user_id",
          "organization_id", "device", "client_event_id", "client_time",
          "client_utc_offset_minutes", "server_time", "location", "data", "corrects_event_id")
GENESIS = "00" * 32


_TIME_FIELDS = (FIELDS.index("client_time"), FIELDS.index("server_time"))
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            allow_nan=False, check_circular=False)
# `JSONEncoder.encode` builds this C encoder anew on every call, which took as long as
# writing an event (1.5-2.5 us each); built once it writes the same text. No circular
# check: values read from a database hold no cycles.
_ENCODE = (c_make_encoder(None, _ENCODER.default, encode_basestring, None, ":", ",", True, False,
                          False) if c_make_encoder
           else lambda values, _indent: [_ENCODER.encode(values)])


def _time(value: Any) -> Any:
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None:
            raise ValueError("ledger times carry their zone")
        if offset:
            value = value.astimezone(UTC)
        # isoformat is several times faster than strftime; a naive copy of a UTC
        # time (any UTC tzinfo: datetime's, zoneinfo's) prints without an offset.
        return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return value


def canonical_values(values: Sequence[Any]) -> bytes:
    """Return the canonical bytes of an event's recorded fields given in FIELDS order."""
    values = list(values)
    for index in _TIME_FIELDS:
        values[index] = _time(values[index])
    return utf8("".join(_ENCODE(values, 0)))


def utf8(text: str) -> bytes:
    """Return the UTF-8 bytes of JSON text, lone surrogates written as JSON escapes."""
    # Only a lone surrogate fails to encode; its backslash form is the JSON escape.
    return text.encode("utf-8", "backslashreplace")


def canonical_content(event: Mapping[str, Any]) -> bytes:
    """Return the canonical bytes of an event's recorded fields."""
    return canonical_values([event.get(name) for name in FIELDS])


def content_hash(event: Mapping[str, Any]) -> str:
    """Return the hex SHA-256 of an event's canonical content."""
    return hashlib.sha256(canonical_content(event)).hexdigest()


def content_hash_of_values(values: Sequence[Any]) -> str:
    """Return the hex SHA-256 of an event's fields given in FIELDS order."""
    return hashlib.sha256(canonical_values(values)).hexdigest()


def content_digest(values: Sequence[Any]) -> bytes:
    """Return the raw content hash of fields in FIELDS order whose times are canonical text.

    The verifier's form: PostgreSQL writes the times as `canonical_values` would
    (which keeps a time given as text as it is), and the hashes stay raw bytes.
    """
    return hashlib.sha256(utf8("".join(_ENCODE(values, 0)))).digest()


def chain_hash(previous: str, content: str) -> str:
    """Return the chain hash linking an event's content hash to the previous chain hash."""
    return chain_link(bytes.fromhex(previous), bytes.fromhex(content)).hex()


def chain_link(previous: bytes, content: bytes) -> bytes:
    """Return `chain_hash` over raw hashes, as raw bytes."""
    return hashlib.sha256(previous + content).digest()


def _leaf(content: str) -> bytes:
    return _raw_leaf(bytes.fromhex(content))


def _raw_leaf(content: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + content).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_levels(contents: Sequence[str]) -> list[list[bytes]]:
    """Return every level of the Merkle tree over content hashes, leaves first."""
    if not contents:
        raise ValueError("a Merkle tree needs at least one leaf")
    return merkle_levels_above([_leaf(c) for c in contents])


def merkle_root_of_digests(contents: Sequence[bytes]) -> bytes:
    """Return the raw Merkle root over raw content hashes."""
    return merkle_levels_above([_raw_leaf(c) for c in contents])[-1][0]


def merkle_levels_above(nodes: list[bytes]) -> list[list[bytes]]:
    """Return the given level of a Merkle tree and every level above it, up to the root.

    Level j of the tree over n leaves holds, at position p, the root of the
    tree over leaves p·2^j up to (p+1)·2^j (or n): so the roots of aligned
    blocks of 2^j leaves, built here upwards, give the whole tree's top levels.
    """
    if not nodes:
        raise ValueError("a Merkle tree needs at least one leaf")
    levels = [nodes]
    while len(levels[-1]) > 1:
        level = levels[-1]
        parents = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            parents.append(level[-1])
        levels.append(parents)
    return levels


def audit_sides(index: int, leaves: int) -> list[tuple[int, int, str]]:
    """Return where a leaf's audit path takes each sibling: (level, position, "L" or "R").

    Levels without a sibling (an odd last node carried up) give no step, as in
    `audit_path`.
    """
    steps, level, width = [], 0, leaves
    while width > 1:
        sibling = index ^ 1
        if sibling < width:
            steps.append((level, sibling, "L" if sibling < index else "R"))
        index, width, level = index // 2, (width + 1) // 2, level + 1
    return steps


class MerkleBuilder:
    """A Merkle root built leaf by leaf in O(log n) memory.

    Whole subtrees of equal size are merged as they complete; the ragged right
    edge is folded in last. This gives the same root as building the tree
    level by level with odd nodes carried up (the RFC 6962 tree shape).
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []

    def add(self, content: str) -> None:
        size, node = 1, _leaf(content)
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, node = left_size + size, _node(left, node)
        self._stack.append((size, node))

    def root(self) -> str:
        if not self._stack:
            raise ValueError("a Merkle tree needs at least one leaf")
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = _node(left, node)
        return node.hex()


def merkle_root(contents: Iterable[str]) -> str:
    """Return the hex Merkle root over content hashes, in O(log n) memory."""
    builder = MerkleBuilder()
    for content in contents:
        builder.add(content)
    return builder.root()


def audit_path(levels: list[list[bytes]], index: int) -> list[list[str]]:
    """Return the siblings from a leaf to the root: [["L" or "R", hex], ...]."""
    path = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(["L" if sibling < index else "R", level[sibling].hex()])
        index //= 2
    return path


def root_from_path(content: str, path: Sequence[Sequence[str]]) -> str:
    """Return the root that a content hash and its audit path lead to."""
    node = _leaf(content)
    for side, sibling in path:
        other = bytes.fromhex(sibling)
        node = _node(other, node) if side == "L" else _node(node, other)
    return node.hex()


def statement_text(fields: Mapping[str, Any]) -> str:
    """Return the canonical text of a checkpoint statement."""
    return json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def verify_statement(statement: str, signature: str, public_key: Ed25519PublicKey) -> bool:
    """Tell whether a checkpoint statement carries a valid signature by this key."""
    try:
        public_key.verify(base64.b64decode(signature), statement.encode())
    except (InvalidSignature, ValueError):
        return False
    return True
