#!/usr/bin/env python3
"""Verify PrefabTrace ledger files offline: only the public keys and downloaded files.

Download once (with a read-only token), keep the files, verify any time later:

    python scripts/verify_ledger.py download https://trace.example.cn TOKEN ./ledger-2026-11
    python scripts/verify_ledger.py check ./ledger-2026-11
    python scripts/verify_ledger.py check ./ledger-2026-12 --kept ./ledger-2026-11
    python scripts/verify_ledger.py check ./ledger-2026-12 --key ./ledger-2026-11/keys.json
    python scripts/verify_ledger.py proof ./ledger-2026-11 proof-1234.json

`download` saves keys.json (GET /api/v1/ledger/keys), checkpoints.json
(GET /api/v1/ledger/checkpoints) and chain.jsonl (every page of
GET /api/v1/ledger/events). `check` verifies every checkpoint's Ed25519
signature, recomputes the content hash of every event whose content you can
see and the whole hash chain, and compares the chain's head and Merkle root
with every signed checkpoint. `--kept` also checks that the checkpoints you
kept from an earlier download still hold: a ledger rewritten since cannot
match a checkpoint signed before. `--key` checks the signatures against keys you
saved earlier (or got from the operator) instead of the downloaded keys.json: a
server that signs a rewritten ledger with a key of its own is caught. `proof`
checks a component's proof file (GET /api/v1/components/{id}/proof) against the
signed checkpoints.
Exit status 0 when everything holds, 1 otherwise, naming the first failure.
Needs Python 3.10+ and the `cryptography` package; nothing else.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from construction.ledger_format import (  # noqa: E402
    GENESIS,
    MerkleBuilder,
    chain_hash,
    content_hash,
    root_from_path,
    verify_statement,
)
from labels.keys import public_key_from_text  # noqa: E402


class Broken(Exception):
    """The first thing that does not hold."""


def _get(base: str, token: str, path: str) -> dict:
    request = urllib.request.Request(base.rstrip("/") + path,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return json.load(response)


def download(base: str, token: str, folder: Path) -> None:
    """Save the keys, the checkpoints and the whole chain into a folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "keys.json").write_text(json.dumps(_get(base, token, "/api/v1/ledger/keys")))
    checkpoints, after = [], 0
    while True:
        page = _get(base, token, f"/api/v1/ledger/checkpoints?after_sequence={after}&limit=1000")
        checkpoints += page["items"]
        if len(page["items"]) < 1000:
            break
        after = page["items"][-1]["sequence"]
    (folder / "checkpoints.json").write_text(json.dumps({"items": checkpoints}))
    with open(folder / "chain.jsonl", "w", encoding="utf-8") as out:
        after = 0
        while after is not None:
            page = _get(base, token, f"/api/v1/ledger/events?after_sequence={after}&limit=10000")
            for item in page["items"]:
                out.write(json.dumps(item) + "\n")
            after = page["next_after_sequence"]
    print(f"saved {len(checkpoints)} checkpoints and the chain in {folder}")


def _keys(folder: Path, pinned: Path | None = None) -> dict:
    keys = json.loads((pinned or folder / "keys.json").read_text())["keys"]
    return {key["key_id"]: public_key_from_text(key["public_key"]) for key in keys}


def _checkpoints(folder: Path, keys: dict) -> list[dict]:
    items = json.loads((folder / "checkpoints.json").read_text())["items"]
    previous = None
    for item in items:
        key = keys.get(item["key_id"])
        if key is None or not verify_statement(item["statement"], item["signature"], key):
            raise Broken(f"checkpoint at sequence {item['sequence']}: bad signature")
        signed = json.loads(item["statement"])
        expected_previous = ({"sequence": previous["sequence"], "head_hash": previous["head_hash"]}
                             if previous else None)
        if signed["previous"] != expected_previous:
            raise Broken(f"checkpoint at sequence {signed['sequence']} does not follow the one "
                         "before it")
        previous = signed
        item["signed"] = signed
    return items


def check(folder: Path, kept: Path | None = None, pinned: Path | None = None) -> str:
    """Verify a downloaded ledger; return a summary line or raise Broken."""
    keys = _keys(folder, pinned)
    marks = {c["signed"]["sequence"]: c["signed"] for c in _checkpoints(folder, keys)}
    if kept is not None:
        for old in _checkpoints(kept, keys):
            new = marks.get(old["signed"]["sequence"])
            if new is None or new["head_hash"] != old["signed"]["head_hash"]:
                raise Broken(f"the checkpoint you kept at sequence {old['signed']['sequence']} "
                             "no longer matches: the ledger was rewritten")
    previous, expected, leaves, seen, read = GENESIS, 1, MerkleBuilder(), 0, 0
    with open(folder / "chain.jsonl") as lines:
        for line in lines:
            item = json.loads(line)
            if item["sequence"] != expected:
                raise Broken(f"sequence {expected} is missing from the chain")
            content = item["content_hash"]
            if item["event"] is not None:
                seen += 1
                if content_hash(item["event"]) != content:
                    raise Broken(f"event {item['event']['id']} (sequence {expected}) was "
                                 "changed: its content does not match its hash")
            previous = chain_hash(previous, content)
            if previous != item["chain_hash"]:
                raise Broken(f"the chain breaks at sequence {expected}")
            leaves.add(content)
            mark = marks.get(expected)
            if mark is not None:
                if previous != mark["head_hash"] or leaves.root() != mark["merkle_root"]:
                    raise Broken(f"the chain differs from the checkpoint signed at sequence "
                                 f"{expected}")
                leaves = MerkleBuilder()
            expected += 1
            read += 1
    last = max(marks, default=0)
    if last >= expected:
        raise Broken(f"a checkpoint covers sequence {last} but the chain stops at {expected - 1}")
    return (f"OK: {len(marks)} signed checkpoints, {read} links, {seen} events' content "
            "recomputed")


def check_proof(folder: Path, proof_path: Path, pinned: Path | None = None) -> str:
    """Verify a component's proof file against signed checkpoints; return a summary."""
    keys = _keys(folder, pinned)
    proof = json.loads(proof_path.read_text())
    signed = {}
    for checkpoint in proof["checkpoints"]:
        key = keys.get(checkpoint["key_id"])
        if key is None or not verify_statement(checkpoint["statement"], checkpoint["signature"],
                                               key):
            raise Broken(f"checkpoint {checkpoint['id']} in the proof has a bad signature")
        signed[checkpoint["id"]] = json.loads(checkpoint["statement"])
    proven = 0
    for entry in proof["events"]:
        content = content_hash(entry["event"])
        if content != entry["content_hash"]:
            raise Broken(f"event {entry['event']['id']} was changed")
        if entry["checkpoint_id"] is None:
            continue
        statement = signed[entry["checkpoint_id"]]
        if root_from_path(content, entry["audit_path"]) != statement["merkle_root"]:
            raise Broken(f"event {entry['event']['id']} is not in checkpoint "
                         f"{entry['checkpoint_id']}")
        proven += 1
    return (f"OK: {proven} of {len(proof['events'])} events of component "
            f"{proof['component_id']} proven against signed checkpoints")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("download")
    fetch.add_argument("base_url")
    fetch.add_argument("token")
    fetch.add_argument("folder", type=Path)
    verify = commands.add_parser("check")
    verify.add_argument("folder", type=Path)
    verify.add_argument("--kept", type=Path)
    verify.add_argument("--key", type=Path, help="keys.json saved earlier: trust only these")
    prove = commands.add_parser("proof")
    prove.add_argument("folder", type=Path)
    prove.add_argument("proof", type=Path)
    prove.add_argument("--key", type=Path, help="keys.json saved earlier: trust only these")
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            download(args.base_url, args.token, args.folder)
        elif args.command == "check":
            print(check(args.folder, args.kept, args.key))
        else:
            print(check_proof(args.folder, args.proof, args.key))
    except Broken as broken:
        print(f"BROKEN: {broken}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
