"""The tamper-evident ledger: sealing events into one hash chain, checkpoints, proofs, verify.

One chain for the whole ledger, in `sequence` order. Events are written by
the capture path without waiting for the chain (a chain head read in every
scan would serialize all writers); a sealer gives them their sequence and
hashes soon after — every few seconds from `flask ledger seal --loop` (or the
web workers themselves when LEDGER_SEAL_INTERVAL_S is set), and always before
a checkpoint, a proof, an export or a verify. The
sealer is the only code that fills these columns, once: the events stay
append-only. A checkpoint signs the chain's length and head hash plus a
Merkle root over the events it adds; a regulator who keeps a checkpoint can
later prove any event was, or was not, part of the ledger then.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import and_, bindparam, func, insert, or_, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError

from construction.extensions import db, write_lock
from construction.ledger_format import (
    FIELDS,
    GENESIS,
    audit_sides,
    chain_hash,
    chain_link,
    content_digest,
    content_hash_of_values,
    merkle_levels,
    merkle_levels_above,
    merkle_root_of_digests,
    statement_text,
    utf8,
    verify_statement,
)
from construction.models import Component, Event, LabelKey, LedgerCheckpoint, MerkleNode
from construction.permissions import Principal, in_scope
from construction.resilience import run_rounds
from construction.services import audit
from construction.services.components import component_for_reading
from construction.services.keys import publish_key, signing_key
from labels.keys import public_key_from_text, write_new_key

_event = Event.__table__
_COLUMNS = [_event.c[name] for name in FIELDS]
_SEAL = (update(_event)
         .where(_event.c.id == bindparam("b_id"), _event.c.sequence.is_(None))
         .values(sequence=bindparam("b_sequence"), content_hash=bindparam("b_content"),
                 chain_hash=bindparam("b_chain")))
_LOCK_KEY = 0x50524546  # an arbitrary constant naming the sealer's advisory lock
_last_seal = {"at": 0.0}
_seal_lock = threading.Lock()


def _row_dict(row) -> dict:
    return dict(zip(FIELDS, tuple(row)[:len(FIELDS)], strict=True))


def seal_pending(limit: int = 100_000) -> int:
    """Chain every unsealed event (oldest id first), in its own transaction; return how many.

    Reads of the chain seal first, so this write may come in a GET.
    """
    with write_lock():
        return _seal_pending(limit)


def _seal_pending(limit: int) -> int:
    db.session.rollback()
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # Two sealers at once would hand out the same sequence numbers.
        if not connection.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                  {"k": _LOCK_KEY}).scalar():
            db.session.rollback()
            return 0
    head = connection.execute(
        select(_event.c.sequence, _event.c.chain_hash)
        .where(_event.c.sequence.is_not(None))
        .order_by(_event.c.sequence.desc()).limit(1)).first()
    sequence, previous = (head.sequence, head.chain_hash) if head else (0, GENESIS)
    pending = connection.execute(
        select(*_COLUMNS).where(_event.c.sequence.is_(None)).order_by(_event.c.id)
        .limit(limit)).all()
    if not pending:
        db.session.rollback()
        return 0
    params = []
    for row in pending:
        sequence += 1
        content = content_hash_of_values(tuple(row))
        previous = chain_hash(previous, content)
        params.append({"b_id": row.id, "b_sequence": sequence, "b_content": content,
                       "b_chain": previous})
    connection.execute(_SEAL, params)
    db.session.commit()
    return len(params)


def seal_all() -> int:
    """Seal until nothing is pending; return how many events were sealed."""
    total = 0
    while True:
        sealed = seal_pending()
        total += sealed
        if sealed == 0:
            return total


def seal_forever(interval_s: float = 2.0, max_rounds: int | None = None,
                 stop: threading.Event | None = None, stats=None):
    """Seal every `interval_s` until `stop` is set, riding out a lost database; return stats.

    What `flask ledger seal --loop` runs: a round that fails (PostgreSQL
    restarted, the connection was cut, SQLite stayed locked) is retried after
    a growing back-off instead of ending the service.
    """
    def round_() -> None:
        sealed = seal_all()
        if sealed:
            current_app.logger.info("sealed %d events", sealed)
        checkpoint = checkpoint_if_due()
        if checkpoint is not None:
            current_app.logger.info("checkpoint %d: events up to %d", checkpoint.id,
                                    checkpoint.sequence)

    return run_rounds("ledger sealer", round_, interval_s, max_rounds=max_rounds, stop=stop,
                      stats=stats)


def maybe_seal() -> None:
    """Seal now if this process has not sealed for LEDGER_SEAL_INTERVAL_S (after writes).

    Off by default (0): sealing in the web workers took a fifth of the capture
    throughput under load; `flask ledger seal --loop` does it beside them.
    """
    interval = current_app.config["LEDGER_SEAL_INTERVAL_S"]
    if interval <= 0:
        return
    with _seal_lock:
        now = time.monotonic()
        if now - _last_seal["at"] < interval:
            return
        _last_seal["at"] = now
    try:
        seal_pending()
    except Exception:  # the write already succeeded; the next seal picks these up
        db.session.rollback()
        current_app.logger.exception("sealing the ledger failed; it will be retried")


# --- checkpoints ---------------------------------------------------------------------


def _signing():
    key = signing_key("LEDGER_SIGNING_KEY_FILE")
    return key, publish_key(key.public_key(), "ledger")


def create_ledger_key() -> str:
    """Create the checkpoint signing key and publish it (FileExistsError when one exists)."""
    key = write_new_key(current_app.config["LEDGER_SIGNING_KEY_FILE"])
    kid = publish_key(key.public_key(), "ledger")
    audit.record("ledger.new_key", f"ledger key {kid}", detail={"key_id": kid})
    db.session.commit()
    return kid



def ledger_keys() -> list[LabelKey]:
    """List the keys checkpoints are signed with, newest first.

    A key is published when it first signs a checkpoint, or by `flask ledger
    new-key`: reading the list writes nothing. Checkpoints made before the
    ledger had a key of its own were signed with a label key: those label keys
    are listed too, so that a verifier that pins this list can check every
    checkpoint.
    """
    legacy = select(LedgerCheckpoint.key_id).distinct()
    return list(db.session.scalars(
        select(LabelKey).where((LabelKey.purpose == "ledger") | LabelKey.key_id.in_(legacy))
        .order_by(LabelKey.created_at.desc(), LabelKey.key_id)))


def keys_from_document(document: dict) -> dict[str, Any]:
    """Read pinned public keys from what GET /api/v1/ledger/keys returned."""
    try:
        return {key["key_id"]: public_key_from_text(key["public_key"])
                for key in document["keys"]}
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a ledger keys document ({error})") from error


def signed_checkpoint(first: int, sequence: int, head_hash: str, root: str,
                      last: LedgerCheckpoint | None, created: datetime) -> LedgerCheckpoint:
    """Build a checkpoint over events first..sequence, signed with the signing key."""
    key, kid = _signing()
    fields = {"type": "PrefabTraceLedgerCheckpoint", "version": 1,
              "sequence": sequence, "first_sequence": first, "head_hash": head_hash,
              "merkle_root": root,
              "previous": ({"sequence": last.sequence, "head_hash": last.head_hash}
                           if last else None),
              "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "key_id": kid}
    statement = statement_text(fields)
    return LedgerCheckpoint(
        sequence=sequence, first_sequence=first, head_hash=head_hash, merkle_root=root,
        previous_id=last.id if last else None, created_at=created, key_id=kid,
        statement=statement, signature=base64.b64encode(key.sign(utf8(statement))).decode())


def create_checkpoint() -> LedgerCheckpoint | None:
    """Seal, then sign a checkpoint covering the events since the last one (None if none)."""
    seal_all()
    last = db.session.scalar(select(LedgerCheckpoint).order_by(LedgerCheckpoint.sequence.desc())
                             .limit(1))
    head = db.session.execute(select(Event.sequence, Event.chain_hash)
                              .where(Event.sequence.is_not(None))
                              .order_by(Event.sequence.desc()).limit(1)).first()
    if head is None or (last is not None and last.sequence >= head.sequence):
        return last
    first = last.sequence + 1 if last else 1
    top = merkle_top(first, head.sequence)
    checkpoint = signed_checkpoint(first, head.sequence, head.chain_hash, top[-1][0].hex(),
                                   last, datetime.now(UTC))
    db.session.add(checkpoint)
    db.session.flush()
    store_merkle_nodes(checkpoint.id, top)
    db.session.commit()
    export_checkpoint(checkpoint)
    return checkpoint


def _content_hashes(first: int, last: int, batch: int = 20_000) -> Iterator[str]:
    """The content hashes of events first..last in order, read a batch at a time."""
    # Batches rather than a server-side cursor: a first checkpoint over millions of
    # events must not hold them all, and the sealer, which makes checkpoints too, must
    # not leave a cursor open on a connection that is cut mid-read.
    for start in range(first, last + 1, batch):
        yield from db.session.scalars(
            select(Event.content_hash)
            .where(Event.sequence.between(start, min(start + batch - 1, last)))
            .order_by(Event.sequence))


def export_checkpoint(checkpoint: LedgerCheckpoint) -> None:
    """Append the checkpoint to LEDGER_CHECKPOINT_EXPORT, one JSON line each, as it is made.

    A copy outside the database (put the file on other storage, or ship it on): the
    lines verify with `flask ledger verify --checkpoints` like a regulator's copies.
    """
    path = current_app.config["LEDGER_CHECKPOINT_EXPORT"]
    if not path:
        return
    line = json.dumps(checkpoint_document(checkpoint)) + "\n"
    try:
        # One write of one line with O_APPEND: concurrent writers never interleave.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)
    except OSError:  # the checkpoint is made and signed; its copy is retried by nobody
        current_app.logger.exception("could not append checkpoint %s to %s", checkpoint.id,
                                     path)


def checkpoint_if_due() -> LedgerCheckpoint | None:
    """Make a checkpoint when the newest is older than LEDGER_CHECKPOINT_HOURS; return it.

    The sealer runs it every round: "at least daily" needs no request and no
    cron. None when none is due, or when nothing happened since the newest.
    """
    newest = db.session.scalar(select(LedgerCheckpoint).order_by(
        LedgerCheckpoint.sequence.desc()).limit(1))
    max_age = timedelta(hours=current_app.config["LEDGER_CHECKPOINT_HOURS"])
    if newest is not None and datetime.now(UTC) - newest.created_at <= max_age:
        return None
    made = create_checkpoint()
    return made if made is not None and (newest is None or made.id != newest.id) else None


def checkpoints(after_sequence: int = 0, limit: int = 100) -> list[LedgerCheckpoint]:
    """List checkpoints in order (listing makes none: the sealer, POST and cron do)."""
    return list(db.session.scalars(
        select(LedgerCheckpoint).where(LedgerCheckpoint.sequence > after_sequence)
        .order_by(LedgerCheckpoint.sequence).limit(limit)))


def checkpoint_view(checkpoint: LedgerCheckpoint) -> dict:
    """Return what a regulator downloads: the signed statement and its signature."""
    return {"id": checkpoint.id, "sequence": checkpoint.sequence,
            "first_sequence": checkpoint.first_sequence, "head_hash": checkpoint.head_hash,
            "merkle_root": checkpoint.merkle_root, "created_at": checkpoint.created_at,
            "key_id": checkpoint.key_id, "statement": checkpoint.statement,
            "signature": checkpoint.signature}


def checkpoint_document(checkpoint: LedgerCheckpoint) -> dict:
    """Return a checkpoint as JSON-ready values, as GET /api/v1/ledger/checkpoints shows it.

    What the export file and the `checkpoint` webhook carry, so that a copy
    kept from either compares equal to the API's.
    """
    view = checkpoint_view(checkpoint)
    return {**view, "created_at": view["created_at"].isoformat()}


# --- Merkle nodes --------------------------------------------------------------------

# Nodes from this level up are stored with each checkpoint (about 2 rows per 256 events);
# a proof rebuilds the one block of 2^level leaves below from its events' content hashes.
MERKLE_BLOCK_LEVEL = 8
_node = MerkleNode.__table__


def _block_roots(contents: Iterable[str], block: int) -> list[bytes]:
    roots, leaves = [], []
    for content in contents:
        leaves.append(content)
        if len(leaves) == block:
            roots.append(merkle_levels(leaves)[-1][0])
            leaves = []
    if leaves:
        roots.append(merkle_levels(leaves)[-1][0])
    return roots


def merkle_top(first: int, last: int) -> list[list[bytes]]:
    """Return the Merkle tree over events first..last from the block level up to the root."""
    return merkle_levels_above(_block_roots(_content_hashes(first, last),
                                            1 << MERKLE_BLOCK_LEVEL))


def store_merkle_nodes(checkpoint_id: int, top: list[list[bytes]]) -> None:
    """Store a checkpoint's tree from the block level up (what `merkle_top` returned)."""
    db.session.execute(insert(_node), [
        {"checkpoint_id": checkpoint_id, "level": MERKLE_BLOCK_LEVEL + height,
         "position": position, "digest": digest}
        for height, level in enumerate(top) for position, digest in enumerate(level)])


def _index_checkpoint(checkpoint: LedgerCheckpoint) -> None:
    """Store the nodes of a checkpoint signed before they were kept (once, on first proof)."""
    top = merkle_top(checkpoint.first_sequence, checkpoint.sequence)
    try:
        with db.session.begin_nested():
            store_merkle_nodes(checkpoint.id, top)
    except IntegrityError:  # another request stored the same nodes first
        pass
    db.session.commit()


def audit_paths(checkpoint: LedgerCheckpoint, indexes: Iterable[int]) -> dict[int, list]:
    """Return the audit path of each leaf index in a checkpoint, reading O(log n) rows each.

    The same paths as `audit_path` over the whole tree: levels below
    MERKLE_BLOCK_LEVEL come from the leaf's block of events, the rest from
    the stored nodes. Two statements, however many leaves.
    """
    indexes = sorted(set(indexes))
    if not indexes:
        return {}
    width = checkpoint.sequence - checkpoint.first_sequence + 1
    block = 1 << MERKLE_BLOCK_LEVEL
    steps = {index: audit_sides(index, width) for index in indexes}
    blocks = sorted({index // block for index in indexes})
    # Each block's root too: it is there once the checkpoint's nodes are stored.
    wanted = {(MERKLE_BLOCK_LEVEL, number) for number in blocks} | {
        (level, position) for path in steps.values() for level, position, _ in path
        if level >= MERKLE_BLOCK_LEVEL}
    stored = _stored_nodes(checkpoint.id, wanted)
    if any((MERKLE_BLOCK_LEVEL, number) not in stored for number in blocks):
        _index_checkpoint(checkpoint)
        stored = _stored_nodes(checkpoint.id, wanted)
    ranges = [Event.sequence.between(checkpoint.first_sequence + number * block,
                                     min(checkpoint.first_sequence + (number + 1) * block - 1,
                                         checkpoint.sequence)) for number in blocks]
    contents: dict[int, list[str]] = {number: [] for number in blocks}
    for sequence, content in db.session.execute(
            select(Event.sequence, Event.content_hash).where(or_(*ranges))
            .order_by(Event.sequence)):
        contents[(sequence - checkpoint.first_sequence) // block].append(content)
    levels = {number: merkle_levels(contents[number]) for number in blocks}
    paths = {}
    for index in indexes:
        below = levels[index // block]
        offset = index // block * block
        paths[index] = [[side, (below[level][position - (offset >> level)]
                                if level < MERKLE_BLOCK_LEVEL
                                else stored[(level, position)]).hex()]
                        for level, position, side in steps[index]]
    return paths


def _stored_nodes(checkpoint_id: int, wanted: set[tuple[int, int]]) -> dict:
    rows = db.session.execute(
        select(_node.c.level, _node.c.position, _node.c.digest)
        .where(_node.c.checkpoint_id == checkpoint_id,
               tuple_(_node.c.level, _node.c.position).in_(sorted(wanted))))
    return {(level, position): bytes(digest) for level, position, digest in rows}


# --- proofs --------------------------------------------------------------------------


def event_record(row) -> dict:
    """Return an event's recorded fields as the canonical content hashes them (JSON-able)."""
    record = _row_dict(row)
    for name in ("client_time", "server_time"):
        if record[name] is not None:
            record[name] = record[name].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return record


def component_proof(principal: Principal, component_id: int) -> dict:
    """Return a component's events with what proves each one against a signed checkpoint."""
    component_for_reading(principal, component_id)
    seal_all()
    rows = db.session.execute(
        select(*_COLUMNS, _event.c.sequence, _event.c.content_hash, _event.c.chain_hash)
        .where(_event.c.component_id == component_id).order_by(_event.c.sequence)).all()
    covering = _covering_checkpoints([row.sequence for row in rows
                                      if row.sequence is not None])
    paths: dict[int, dict[int, list]] = {}
    for checkpoint in {c.id: c for c in covering.values()}.values():
        paths[checkpoint.id] = audit_paths(checkpoint, [
            sequence - checkpoint.first_sequence for sequence, mark in covering.items()
            if mark.id == checkpoint.id])
    events = []
    for row in rows:
        entry = {"event": event_record(row), "sequence": row.sequence,
                 "content_hash": row.content_hash, "chain_hash": row.chain_hash,
                 "checkpoint_id": None, "leaf_index": None, "audit_path": None}
        checkpoint = covering.get(row.sequence)
        if checkpoint is not None:
            index = row.sequence - checkpoint.first_sequence
            entry.update(checkpoint_id=checkpoint.id, leaf_index=index,
                         audit_path=paths[checkpoint.id][index])
        events.append(entry)
    used = {c.id: c for c in covering.values()}
    return {"component_id": component_id, "events": events,
            "checkpoints": [checkpoint_view(c) for c in sorted(used.values(),
                                                                key=lambda c: c.sequence)],
            "pending": sum(1 for e in events if e["checkpoint_id"] is None)}


def _covering_checkpoints(sequences: list[int]) -> dict[int, LedgerCheckpoint]:
    """Map each sequence to the checkpoint that covers it (one statement; none: absent)."""
    if not sequences:
        return {}
    marks = db.session.scalars(select(LedgerCheckpoint).where(or_(*(
        and_(LedgerCheckpoint.first_sequence <= sequence, LedgerCheckpoint.sequence >= sequence)
        for sequence in sequences)))).all()
    return {sequence: mark for sequence in sequences for mark in marks
            if mark.first_sequence <= sequence <= mark.sequence}


def export_events(principal: Principal, after_sequence: int = 0,
                  limit: int = 10_000) -> list[dict]:
    """Return the chain in order: every link's hashes, and the content of visible events.

    The chain is one for all projects, so a verifier needs every link; the
    content of events outside the reader's scope stays out (`event` is null).
    """
    seal_all()
    rows = db.session.execute(
        select(*_COLUMNS, _event.c.sequence, _event.c.content_hash, _event.c.chain_hash)
        .where(_event.c.sequence > after_sequence).order_by(_event.c.sequence)
        .limit(limit)).all()
    visible = None
    if not principal.is_admin:
        ids = {r.component_id for r in rows}
        visible = set(db.session.scalars(in_scope(
            select(Component.id).where(Component.id.in_(ids)), principal,
            Component.project_id))) if ids else set()
    return [{"sequence": r.sequence, "content_hash": r.content_hash, "chain_hash": r.chain_hash,
             "event": event_record(r) if visible is None or r.component_id in visible
             else None} for r in rows]


# --- verify --------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    """The first place where the ledger does not hold together."""

    sequence: int | None
    event_id: int | None
    reason: str


def _checkpoint_breach(checkpoint: LedgerCheckpoint, keys: dict) -> Breach | None:
    public = keys.get(checkpoint.key_id)
    if public is None:
        return Breach(checkpoint.sequence, None,
                      f"checkpoint {checkpoint.id} is signed with an unknown key")
    if not verify_statement(checkpoint.statement, checkpoint.signature, public):
        return Breach(checkpoint.sequence, None,
                      f"checkpoint {checkpoint.id}'s signature does not match its statement")
    fields = json.loads(checkpoint.statement)
    if (fields["sequence"], fields["head_hash"], fields["merkle_root"],
            fields["first_sequence"]) != (checkpoint.sequence, checkpoint.head_hash,
                                          checkpoint.merkle_root, checkpoint.first_sequence):
        return Breach(checkpoint.sequence, None,
                      f"checkpoint {checkpoint.id}'s columns differ from its signed statement")
    return None


def _held_breach(marks: list[LedgerCheckpoint], held: list[dict]) -> Breach | None:
    by_sequence = {mark.sequence: mark for mark in marks}
    for copy in held:
        mark = by_sequence.get(copy.get("sequence"))
        if mark is None:
            return Breach(copy.get("sequence"), None,
                          f"checkpoint {copy.get('id')} up to event {copy.get('sequence')}, "
                          "held outside, is missing from the ledger")
        if (mark.statement, mark.signature) != (copy.get("statement"), copy.get("signature")):
            return Breach(mark.sequence, None,
                          f"checkpoint {mark.id} differs from the copy held outside "
                          "(the ledger was rewritten)")
    return None


def _link_breach(marks: list[LedgerCheckpoint]) -> Breach | None:
    previous = None
    for mark in marks:
        named = json.loads(mark.statement).get("previous")
        wanted = ({"sequence": previous.sequence, "head_hash": previous.head_hash}
                  if previous else None)
        if named != wanted or mark.first_sequence != (previous.sequence + 1 if previous
                                                      else 1):
            return Breach(mark.sequence, None, f"checkpoint {mark.id} does not follow the "
                                               "checkpoint before it (one is missing or moved)")
        previous = mark
    return None


def verify_ledger(progress: Callable[[int], None] | None = None, batch: int = 20_000,
                  workers: int = 1, trusted_keys: dict | None = None,
                  held: list[dict] | None = None,
                  piece: int = 1 << 14) -> tuple[int, Breach | None]:
    """Recompute every hash and check every checkpoint; return events checked, first breach.

    Each piece of `piece` events (a power of two) is checked on its own, each
    event against its stored predecessor, so that `workers` processes share
    the work however far apart the checkpoints are; a piece gives the Merkle
    root over its events, and the roots of a checkpoint's pieces are the
    level of its tree that leads to its root. `trusted_keys` (pinned outside
    the database) replace the keys the database publishes; `held` checkpoints
    (copies a regulator kept) must all be in the ledger unchanged.
    """
    if piece < 1 or piece & (piece - 1):
        raise ValueError("a piece is a power of two events")
    keys = trusted_keys if trusted_keys is not None else {
        row.key_id: public_key_from_text(row.public_key)
        for row in db.session.scalars(select(LabelKey))}
    marks = list(db.session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.sequence)))
    for checkpoint in marks:
        breach = _checkpoint_breach(checkpoint, keys)
        if breach:
            return 0, breach
    breach = _link_breach(marks) or _held_breach(marks, held or [])
    if breach:
        return 0, breach
    top = db.session.scalar(select(func.max(Event.sequence))) or 0
    if marks and marks[-1].sequence > top:
        mark = marks[-1]
        return 0, Breach(mark.sequence, None, f"checkpoint {mark.id} covers events up to "
                                              f"{mark.sequence} that are no longer in the ledger")
    stretches, first, previous_time = [], 1, None
    for mark in marks:
        stretches.append((first, mark.sequence, mark, previous_time))
        first, previous_time = mark.sequence + 1, mark.created_at
    if top >= first:
        stretches.append((first, top, None, previous_time))
    pieces, closing = [], []
    for first, last, mark, previous_time in stretches:
        # The values whose signature was checked above: the rollback below expires `mark`.
        seal = None if mark is None else _Seal(mark.id, mark.sequence, mark.head_hash,
                                               mark.merkle_root, mark.created_at)
        for start in range(first, last + 1, piece):
            end = min(start + piece - 1, last)
            pieces.append((start, end, last, mark is not None, previous_time, batch))
            closing.append(seal if end == last else None)
    db.session.rollback()
    if workers > 1 and len(pieces) > 1:
        global _verify_app
        _verify_app = current_app._get_current_object()
        db.engine.dispose()
        # Not multiprocessing.Pool: leaving it early (a breach found) terminates its
        # workers, and one killed while it writes a result holds the result queue's
        # lock for good, which hangs the pool's shutdown. The executor cancels the
        # pieces not yet handed to a worker and lets the few handed over finish.
        executor = ProcessPoolExecutor(workers, multiprocessing.get_context("fork"),
                                       initializer=_start_verify_worker)
        try:
            return _first_breach(executor.map(_verify_piece_in_worker, pieces), closing,
                                 progress)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
    return _first_breach((_verify_piece(*p) for p in pieces), closing, progress)


class _Seal(NamedTuple):
    """A checkpoint's values as they were checked, for the events' results to meet."""

    id: int
    sequence: int
    head_hash: str
    merkle_root: str
    created_at: datetime


def _first_breach(results: Iterable[tuple], closing: list[_Seal | None],
                  progress: Callable[[int], None] | None) -> tuple[int, Breach | None]:
    """Go through the pieces' results in chain order, checking each checkpoint it reaches."""
    checked, roots = 0, []
    for (count, breach, link, piece_roots), mark in zip(results, closing, strict=True):
        checked += count
        if progress:
            progress(count)
        if breach is not None:
            return checked, breach
        roots.extend(piece_roots)
        if mark is None:
            continue
        if link.hex() != mark.head_hash:
            return checked, Breach(mark.sequence, None,
                                   f"the chain differs from checkpoint {mark.id} published "
                                   f"{mark.created_at:%Y-%m-%d %H:%M} (the ledger was rewritten)")
        if merkle_levels_above(roots)[-1][0].hex() != mark.merkle_root:
            return checked, Breach(mark.sequence, None,
                                   f"the events differ from checkpoint {mark.id}")
        roots = []
    return checked, None


_verify_app = None


def _start_verify_worker() -> None:
    # A forked child: database connections of its own, kept for all its pieces.
    with _verify_app.app_context():
        db.engine.dispose(close=False)


def _verify_piece_in_worker(piece: tuple) -> tuple:
    with _verify_app.app_context():
        return _verify_piece(*piece)


def _verify_piece(first: int, last: int, stretch_last: int, merkle: bool,
                  previous_time: datetime | None, batch: int
                  ) -> tuple[int, Breach | None, bytes | None, list[bytes]]:
    """Check events first..last; return how many held, the first breach, the last link, roots.

    The roots are the Merkle root over the piece's content hashes when `merkle`
    (the stretch ends at a checkpoint), none otherwise.
    """
    grace = timedelta(minutes=current_app.config["LEDGER_BACKDATE_MINUTES"])
    previous = GENESIS if first == 1 else db.session.scalar(
        select(Event.chain_hash).where(Event.sequence == first - 1))
    if previous is None:
        return 0, Breach(first - 1, None, f"event at sequence {first - 1} is missing (deleted)"), \
            None, []
    link, expected, contents = bytes.fromhex(previous), first, []
    # Compared as canonical text, the form the rows come in (see _sealed_batches).
    backdate = _canonical_time(previous_time - grace) if previous_time is not None else None
    for rows in _sealed_batches(batch, first - 1, last):
        expected, link, breach = _checked_rows(rows, expected, link, backdate, contents)
        if breach is not None:
            return expected - first, breach, None, []
        if not merkle:
            contents.clear()
    if expected <= last:
        # Read on as if the stretch were one piece: the breach names the next event, if any.
        following = next(_sealed_batches(1, last, stretch_last), [])
        return expected - first, _gap(expected, expected + 1,
                                      following[0][0] if following else None), None, []
    return expected - first, None, link, [merkle_root_of_digests(contents)] if merkle else []


def _checked_rows(rows: list[tuple], expected: int, link: bytes, backdate: str | None,
                  contents: list[bytes]) -> tuple[int, bytes, Breach | None]:
    """Check sealed rows in chain order; return the next sequence, the last link, a breach.

    Each content hash that holds is appended to `contents`.
    """
    width = len(FIELDS)
    for row in rows:
        event_id, sequence = row[0], row[width]
        if sequence != expected:
            return expected, link, _gap(expected, sequence, event_id)
        content = content_digest(row[:width])
        if content.hex() != row[width + 1]:
            return expected, link, Breach(
                sequence, event_id, f"event {event_id}'s content was changed after it was sealed")
        link = chain_link(link, content)
        if link.hex() != row[width + 2]:
            return expected, link, Breach(
                sequence, event_id, f"event {event_id} does not link to the event before it "
                                    "(inserted, removed or reordered rows)")
        if backdate is not None and row[_SERVER_TIME] < backdate:
            return expected, link, Breach(
                sequence, event_id, f"event {event_id} claims a time before a checkpoint that "
                                    "did not contain it (inserted afterwards)")
        contents.append(content)
        expected += 1
    return expected, link, None


def _gap(expected: int, sequence: int, event_id: int | None) -> Breach:
    return Breach(expected, event_id, f"event at sequence {expected} is "
                  + ("missing (deleted)" if sequence > expected else "duplicated"))


_SERVER_TIME = FIELDS.index("server_time")
_CLIENT_TIME = FIELDS.index("client_time")
# Times as the canonical content writes them (UTC, microseconds, Z): PostgreSQL formats
# them faster than psycopg parses and Python prints them (half the verifier's time).
_CANONICAL_TIME_SQL = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
_RAW_SEALED = ("SELECT " + ", ".join(
    _CANONICAL_TIME_SQL.format(name) if name in ("client_time", "server_time") else name
    for name in FIELDS) + ", sequence, content_hash, chain_hash "
    "FROM event WHERE sequence > %s AND sequence <= %s ORDER BY sequence LIMIT %s")


def _canonical_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _sealed_batches(batch: int, after: int, last: int) -> Iterator[list[tuple]]:
    """Sealed events after..last as lists of plain tuples (recorded fields, sequence, hashes).

    Times come as canonical text (the content hash takes either form), so that they
    compare as text.
    """
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        # The driver's own cursor: the ORM's per-value conversions were a third of the
        # time, and psycopg already gives parsed JSON.
        with connection.connection.driver_connection.cursor() as cursor:
            def read(after: int) -> list[tuple]:
                cursor.execute(_RAW_SEALED, (after, last, batch))
                return cursor.fetchall()

            yield from _pages(read, batch, after)
        return
    query = (select(*_COLUMNS, _event.c.sequence, _event.c.content_hash, _event.c.chain_hash)
             .where(_event.c.sequence <= last).order_by(_event.c.sequence).limit(batch))
    for rows in _pages(lambda after: db.session.execute(
            query.where(_event.c.sequence > after)).all(), batch, after):
        texts = []
        for row in rows:
            values = list(row)
            values[_CLIENT_TIME] = _canonical_time(values[_CLIENT_TIME])
            values[_SERVER_TIME] = _canonical_time(values[_SERVER_TIME])
            texts.append(tuple(values))
        yield texts


def _pages(read: Callable[[int], list], batch: int, after: int) -> Iterator[list]:
    """Read batches of rows in sequence order, each after the last one read, until one is short."""
    while True:
        rows = read(after)
        if rows:
            yield rows
        if len(rows) < batch:
            return
        after = rows[-1][len(FIELDS)]
