"""The ledger's hashing rules: every form the code hashes in gives the bytes the rules define."""

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from construction.ledger_format import (
    FIELDS,
    GENESIS,
    MerkleBuilder,
    canonical_content,
    chain_hash,
    chain_link,
    content_digest,
    content_hash,
    content_hash_of_values,
    merkle_levels,
    merkle_root_of_digests,
)

BASE = {"id": 7, "component_id": 3, "action": "qc_pass", "from_state": "demoulded",
        "to_state": "qc_passed", "user_id": 2, "organization_id": 1, "device": None,
        "client_event_id": "c-1", "client_time": None, "client_utc_offset_minutes": None,
        "server_time": datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC), "location": None,
        "data": None, "corrects_event_id": None}
AWKWARD = [
    {},
    {"device": "手机 📱 \"quoted\" back\\slash\nnew line\t\x00\x1f\u2028é"},
    {"device": "lone \udc00 surrogate", "data": {"note": "\ud800 high alone", "\udfff": 1}},
    {"data": {"z": 1, "a": {"y": [3, {"b": None, "a": True}], "x": "中文"}, "m": []},
     "location": {"lon": 114.1694, "lat": 22.3193, "accuracy_m": 4.5}},
    {"data": {"floats": [0.1, 1e16, -0.0, 1e-07, 2.5e-308, 123456789.125],
              "big": 2 ** 70, "negative": -3, "flags": [True, False, None], "empty": {}}},
    {"client_time": datetime(2026, 3, 1, 2, 30, 0, 0, tzinfo=timezone(timedelta(hours=-5,
                                                                                  minutes=-30))),
     "client_utc_offset_minutes": -330},
    {"server_time": datetime(2025, 12, 31, 23, 59, 59, 0, tzinfo=timezone(timedelta(hours=-8)))},
    {"server_time": datetime(2026, 1, 1, 7, 0, 0, 999999, tzinfo=timezone(timedelta(hours=8))),
     "client_time": datetime(1999, 1, 1, tzinfo=UTC), "corrects_event_id": 6},
]


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _reference(record: dict) -> bytes:
    """The canonical content spelled out from the rules, the slow way."""
    values = [record.get(name) for name in FIELDS]
    for index in (FIELDS.index("client_time"), FIELDS.index("server_time")):
        if values[index] is not None:
            values[index] = _utc_text(values[index])
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return text.encode("utf-8", "backslashreplace")


@pytest.mark.parametrize("changes", AWKWARD)
def test_every_form_of_the_content_hash_gives_the_reference_bytes(changes):
    record = {**BASE, **changes}
    reference = _reference(record)
    assert canonical_content(record) == reference
    assert content_hash(record) == hashlib.sha256(reference).hexdigest()
    values = [record[name] for name in FIELDS]
    assert content_hash_of_values(values) == hashlib.sha256(reference).hexdigest()
    # The verifier's form: the times come as text (PostgreSQL writes them), the hash raw.
    for name in ("client_time", "server_time"):
        if values[FIELDS.index(name)] is not None:
            values[FIELDS.index(name)] = _utc_text(values[FIELDS.index(name)])
    assert content_digest(tuple(values)) == hashlib.sha256(reference).digest()


def test_a_lone_surrogate_is_written_as_its_json_escape():
    record = {**BASE, "device": "a\udc00b"}
    assert b'"a\\udc00b"' in canonical_content(record)
    assert canonical_content(record).decode("utf-8")  # valid UTF-8


def test_the_raw_chain_link_and_merkle_root_match_the_hex_forms():
    contents = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(300)]
    previous = GENESIS
    for content in contents[:5]:
        assert chain_link(bytes.fromhex(previous), bytes.fromhex(content)).hex() == \
            chain_hash(previous, content)
        previous = chain_hash(previous, content)
    for size in (1, 2, 3, 5, 8, 13, 256, 257, 300):
        builder = MerkleBuilder()
        for content in contents[:size]:
            builder.add(content)
        root = merkle_root_of_digests([bytes.fromhex(c) for c in contents[:size]])
        assert root == merkle_levels(contents[:size])[-1][0]
        assert root.hex() == builder.root()
