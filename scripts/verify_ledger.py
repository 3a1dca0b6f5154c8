#!/usr/bin/env python3
"""Verify PrefabTrace ledger files offline: only the public keys and downloaded files.

Download once (with a read-only token), keep the files, verify any time later:

    python scripts/verify_ledger.py download https://trace.example.cn TOKEN ./ledger-2026-11
    python scripts/verify_ledger.py check ./ledger-2026-11
    python scripts/verify_ledger.py check ./ledger-2026-12 --kept ./ledger-2026-11
    python scripts/verify_ledger.py check ./ledger-2026-12 --key ./ledger-2026-11/keys.json
    python scripts/verify_ledger.py proof ./ledger-2026-11 proof-1234.json
    python scripts/verify_ledger.py component https://trace.example.cn TOKEN 1234 ./ledger-2026-11

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
signed checkpoints, and that it leaves out none of the component's events that a
signed checkpoint covers: against the chain you downloaded and, with `--events`, the
component's event list (GET /api/v1/components/{id}/events); events no checkpoint
covers yet are listed as not yet sealed. `component` downloads a component's
event list and proof into the folder and checks them so.

The token goes only to the origin (scheme, host, port) you name: a redirect to
another origin is followed without it. Over plain http it is sent only to
localhost, 127.0.0.1 or ::1, unless you say `--insecure-http`.
Exit status 0 when everything holds, 1 otherwise, naming the first failure; 2 when
a download is refused or fails.
Needs Python 3.10+ and the `cryptography` package; nothing else.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from construction.ledger_format import (  # noqa: E402
    GENESIS,
    MerkleBuilder,
    audit_sides,
    chain_hash,
    content_hash,
    root_from_path,
    verify_statement,
)
from labels.keys import public_key_from_text  # noqa: E402


class Broken(Exception):
    """The first thing that does not hold."""


class Refused(Exception):
    """A download that would put the token at risk."""


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80,
                                                                 "https": 443}.get(scheme)


class _TokenStaysHome(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but carry the token only to the origin it was given for."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            new.remove_header("Authorization")
        return new


_opener = urllib.request.build_opener(_TokenStaysHome)


def check_base_url(base: str, insecure_http: bool = False) -> None:
    """Refuse a server address the token should not be sent to."""
    scheme, host, _ = _origin(base)
    if scheme not in ("http", "https") or not host:
        raise Refused(f"{base!r} is not an http(s) address")
    if scheme == "http" and host not in LOCAL_HOSTS and not insecure_http:
        raise Refused(f"refusing to send the token over plain http to {host}: use https "
                      "(or --insecure-http if you really mean it)")


def _get(base: str, token: str, path: str) -> dict:
    request = urllib.request.Request(base.rstrip("/") + path,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Accept": "application/json"})
    with _opener.open(request, timeout=60) as response:
        return json.load(response)


def download(base: str, token: str, folder: Path, insecure_http: bool = False) -> None:
    """Save the keys, the checkpoints and the whole chain into a folder."""
    check_base_url(base, insecure_http)
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


def _chain_events(folder: Path, component_id: int) -> tuple[dict[int, dict], int]:
    """The downloaded chain's links by sequence for one component's events; its last sequence."""
    links, last = {}, 0
    path = folder / "chain.jsonl"
    if not path.exists():
        return links, last
    with open(path) as lines:
        for line in lines:
            item = json.loads(line)
            last = item["sequence"]
            if item["event"] is not None and item["event"]["component_id"] == component_id:
                links[item["sequence"]] = item
    return links, last


def _check_path(entry: dict, statement: dict) -> None:
    """Check that the audit path climbs from the leaf the event's sequence puts it at."""
    index = entry["sequence"] - statement["first_sequence"]
    width = statement["sequence"] - statement["first_sequence"] + 1
    if entry["leaf_index"] != index or not 0 <= index < width or \
            [side for _, _, side in audit_sides(index, width)] != \
            [side for side, _ in entry["audit_path"]]:
        raise Broken(f"event {entry['event']['id']}'s path does not lead from sequence "
                     f"{entry['sequence']} in checkpoint {entry['checkpoint_id']}")


def check_proof(folder: Path, proof_path: Path, pinned: Path | None = None,
                events_path: Path | None = None) -> str:
    """Verify a component's proof file against signed checkpoints; return a summary.

    Every event of the component that a signed checkpoint covers must be proven:
    the downloaded chain and the event list (`events_path`, what
    GET /components/{id}/events answered) say which events there are.
    """
    keys = _keys(folder, pinned)
    proof = json.loads(proof_path.read_text())
    component_id = proof["component_id"]
    signed = {}
    for checkpoint in proof["checkpoints"]:
        key = keys.get(checkpoint["key_id"])
        if key is None or not verify_statement(checkpoint["statement"], checkpoint["signature"],
                                               key):
            raise Broken(f"checkpoint {checkpoint['id']} in the proof has a bad signature")
        signed[checkpoint["id"]] = json.loads(checkpoint["statement"])
    held = [c["signed"] for c in _checkpoints(folder, keys)] \
        if (folder / "checkpoints.json").exists() else []
    sealed_up_to = max((c["sequence"] for c in [*signed.values(), *held]), default=0)
    links, chain_end = _chain_events(folder, component_id)
    proven, unsealed, seen = 0, [], {}
    for entry in proof["events"]:
        event = entry["event"]
        if event["component_id"] != component_id:
            raise Broken(f"event {event['id']} in the proof is of component "
                         f"{event['component_id']}, not {component_id}")
        content = content_hash(event)
        if content != entry["content_hash"]:
            raise Broken(f"event {event['id']} was changed")
        seen[event["id"]] = entry
        sequence = entry["sequence"]
        link = links.get(sequence)
        if sequence is not None and sequence <= chain_end and (
                link is None or link["content_hash"] != content):
            raise Broken(f"event {event['id']} is not at sequence {sequence} of the chain you "
                         "downloaded")
        if entry["checkpoint_id"] is None:
            if sequence is not None and sequence <= sealed_up_to:
                raise Broken(f"event {event['id']} (sequence {sequence}) is covered by a "
                             "signed checkpoint, but the proof gives it no path")
            unsealed.append(event["id"])
            continue
        statement = signed.get(entry["checkpoint_id"])
        if statement is None:
            raise Broken(f"event {event['id']}'s checkpoint {entry['checkpoint_id']} is not in "
                         "the proof")
        _check_path(entry, statement)
        if root_from_path(content, entry["audit_path"]) != statement["merkle_root"]:
            raise Broken(f"event {event['id']} is not in checkpoint "
                         f"{entry['checkpoint_id']}")
        proven += 1
    by_sequence = {entry["sequence"] for entry in seen.values()}
    for sequence, link in links.items():
        if sequence not in by_sequence:
            raise Broken(f"event {link['event']['id']} (sequence {sequence}) of component "
                         f"{component_id} is in the chain but missing from the proof")
    if events_path is not None:
        listed = json.loads(events_path.read_text())
        if listed.get("id") != component_id:
            raise Broken(f"the event list is of component {listed.get('id')}, not "
                         f"{component_id}")
        for event in listed["events"]:
            if event["id"] not in seen:
                raise Broken(f"event {event['id']} of component {component_id} is listed by "
                             "the server but missing from the proof")
    summary = (f"OK: {proven} of {len(proof['events'])} events of component {component_id} "
               "proven against signed checkpoints")
    if unsealed:
        summary += (f"\nnot yet sealed: {len(unsealed)} events (ids "
                    f"{', '.join(map(str, unsealed))}) are in no checkpoint yet: check again "
                    "after the next one")
    return summary


def download_component(base: str, token: str, component_id: int, folder: Path,
                       insecure_http: bool = False) -> tuple[Path, Path]:
    """Save a component's event list, then its proof, into a folder; return both paths."""
    check_base_url(base, insecure_http)
    folder.mkdir(parents=True, exist_ok=True)
    # The list first: an event recorded in between is in the proof, never only in the list.
    events = _get(base, token, f"/api/v1/components/{component_id}/events")
    proof = _get(base, token, f"/api/v1/components/{component_id}/proof")
    events_path = folder / f"component-{component_id}-events.json"
    proof_path = folder / f"component-{component_id}-proof.json"
    events_path.write_text(json.dumps(events))
    proof_path.write_text(json.dumps(proof))
    return events_path, proof_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    insecure = {"action": "store_true",
                "help": "send the token over plain http to a host other than localhost"}
    fetch = commands.add_parser("download")
    fetch.add_argument("base_url")
    fetch.add_argument("token")
    fetch.add_argument("folder", type=Path)
    fetch.add_argument("--insecure-http", **insecure)
    verify = commands.add_parser("check")
    verify.add_argument("folder", type=Path)
    verify.add_argument("--kept", type=Path)
    verify.add_argument("--key", type=Path, help="keys.json saved earlier: trust only these")
    prove = commands.add_parser("proof")
    prove.add_argument("folder", type=Path)
    prove.add_argument("proof", type=Path)
    prove.add_argument("--key", type=Path, help="keys.json saved earlier: trust only these")
    prove.add_argument("--events", type=Path,
                       help="the component's event list (GET /api/v1/components/{id}/events)")
    component = commands.add_parser("component")
    component.add_argument("base_url")
    component.add_argument("token")
    component.add_argument("component_id", type=int)
    component.add_argument("folder", type=Path, help="a downloaded ledger (keys, chain)")
    component.add_argument("--key", type=Path, help="keys.json saved earlier: trust only these")
    component.add_argument("--insecure-http", **insecure)
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            download(args.base_url, args.token, args.folder, args.insecure_http)
        elif args.command == "check":
            print(check(args.folder, args.kept, args.key))
        elif args.command == "proof":
            print(check_proof(args.folder, args.proof, args.key, args.events))
        else:
            events, proof = download_component(args.base_url, args.token, args.component_id,
                                               args.folder, args.insecure_http)
            print(check_proof(args.folder, proof, args.key, events))
    except Refused as refused:
        print(f"REFUSED: {refused}")
        return 2
    except urllib.error.URLError as error:
        print(f"DOWNLOAD FAILED: {error}")
        return 2
    except Broken as broken:
        print(f"BROKEN: {broken}")
        return 1
    except (KeyError, TypeError) as error:
        print(f"BROKEN: a file does not hold what the service writes ({error!r} missing or "
              "of the wrong type)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
