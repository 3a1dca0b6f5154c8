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
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, select, text, update

from construction.auth import Principal
from construction.extensions import db
from construction.ledger_format import (
    FIELDS,
    GENESIS,
    MerkleBuilder,
    audit_path,
    chain_hash,
    content_hash_of_values,
    merkle_levels,
    merkle_root,
    statement_text,
    utf8,
    verify_statement,
)
from construction.models import Event, LabelKey, LedgerCheckpoint
from labels.keys import public_key_from_text

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
    """Chain every unsealed event (oldest id first), in its own transaction; return how many."""
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
    from construction.resilience import run_rounds

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
    from construction.services.labels import _publish, signing_key

    key = signing_key("LEDGER_SIGNING_KEY_FILE")
    return key, _publish(key.public_key(), "ledger")


def publish_ledger_key() -> str:
    """Publish the checkpoint signing key (made if missing, outside production); return its id."""
    kid = _signing()[1]
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
    checkpoint = signed_checkpoint(first, head.sequence, head.chain_hash,
                                   merkle_root(_content_hashes(first, head.sequence)), last,
                                   datetime.now(UTC))
    db.session.add(checkpoint)
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
    import json
    import os

    path = current_app.config["LEDGER_CHECKPOINT_EXPORT"]
    if not path:
        return
    view = checkpoint_view(checkpoint)
    line = json.dumps({**view, "created_at": view["created_at"].isoformat()}) + "\n"
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


# --- proofs --------------------------------------------------------------------------


def event_record(row) -> dict:
    """Return an event's recorded fields as the canonical content hashes them (JSON-able)."""
    record = _row_dict(row)
    for name in ("client_time", "server_time"):
        if record[name] is not None:
            record[name] = record[name].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return record


# Checkpoints never change: the trees of the last few read are kept (per database).
_TREES: dict[str, dict[tuple[int, str], list]] = {}


def component_proof(principal: Principal, component_id: int) -> dict:
    """Return a component's events with what proves each one against a signed checkpoint."""
    from construction.services.components import component_for_reading

    component_for_reading(principal, component_id)
    seal_all()
    rows = db.session.execute(
        select(*_COLUMNS, _event.c.sequence, _event.c.content_hash, _event.c.chain_hash)
        .where(_event.c.component_id == component_id).order_by(_event.c.sequence)).all()
    covering: dict[int, LedgerCheckpoint] = {}
    trees = _TREES.setdefault(current_app.config["SQLALCHEMY_DATABASE_URI"], {})
    events = []
    for row in rows:
        checkpoint = covering.get(row.sequence) or db.session.scalar(
            select(LedgerCheckpoint).where(LedgerCheckpoint.first_sequence <= row.sequence,
                                           LedgerCheckpoint.sequence >= row.sequence))
        entry = {"event": event_record(row), "sequence": row.sequence,
                 "content_hash": row.content_hash, "chain_hash": row.chain_hash,
                 "checkpoint_id": None, "leaf_index": None, "audit_path": None}
        if checkpoint is not None:
            if (checkpoint.id, checkpoint.head_hash) not in trees:
                if len(trees) >= 8:
                    trees.pop(next(iter(trees)))
                trees[(checkpoint.id, checkpoint.head_hash)] = merkle_levels(db.session.scalars(
                    select(Event.content_hash)
                    .where(Event.sequence.between(checkpoint.first_sequence,
                                                  checkpoint.sequence))
                    .order_by(Event.sequence)).all())
            index = row.sequence - checkpoint.first_sequence
            entry.update(checkpoint_id=checkpoint.id, leaf_index=index,
                         audit_path=audit_path(trees[(checkpoint.id, checkpoint.head_hash)],
                                               index))
            covering[row.sequence] = checkpoint
        events.append(entry)
    used = {c.id: c for c in covering.values()}
    return {"component_id": component_id, "events": events,
            "checkpoints": [checkpoint_view(c) for c in sorted(used.values(),
                                                                key=lambda c: c.sequence)],
            "pending": sum(1 for e in events if e["checkpoint_id"] is None)}


def export_events(principal: Principal, after_sequence: int = 0,
                  limit: int = 10_000) -> list[dict]:
    """Return the chain in order: every link's hashes, and the content of visible events.

    The chain is one for all projects, so a verifier needs every link; the
    content of events outside the reader's scope stays out (`event` is null).
    """
    from construction.auth import visible_project_ids
    from construction.models import Component

    seal_all()
    rows = db.session.execute(
        select(*_COLUMNS, _event.c.sequence, _event.c.content_hash, _event.c.chain_hash)
        .where(_event.c.sequence > after_sequence).order_by(_event.c.sequence)
        .limit(limit)).all()
    scope = visible_project_ids(principal)
    visible = None
    if scope is not None:
        ids = {r.component_id for r in rows}
        visible = set(db.session.scalars(select(Component.id).where(
            Component.id.in_(ids), Component.project_id.in_(scope)))) if ids else set()
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
    import json

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
    import json

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
                  held: list[dict] | None = None) -> tuple[int, Breach | None]:
    """Recompute every hash and check every checkpoint; return events checked, first breach.

    The stretch between two checkpoints is checked on its own (each event
    against its stored predecessor), so `workers` processes can share them.
    `trusted_keys` (pinned outside the database) replace the keys the database
    publishes; `held` checkpoints (copies a regulator kept) must all be in the
    ledger unchanged.
    """
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
    units, first, previous_time = [], 1, None
    for mark in marks:
        units.append((first, mark.sequence, mark.id, mark.head_hash, mark.merkle_root,
                      mark.created_at, previous_time, batch))
        first, previous_time = mark.sequence + 1, mark.created_at
    if top >= first:
        units.append((first, top, None, None, None, None, previous_time, batch))
    if marks and marks[-1].sequence > top:
        mark = marks[-1]
        return 0, Breach(mark.sequence, None, f"checkpoint {mark.id} covers events up to "
                                              f"{mark.sequence} that are no longer in the ledger")
    db.session.rollback()
    if workers > 1 and len(units) > 1:
        global _verify_app
        _verify_app = current_app._get_current_object()
        db.engine.dispose()
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = []
            for result in pool.imap(_verify_unit_in_worker, units):
                results.append(result)
                if progress:
                    progress(result[0])
    else:
        results = []
        for unit in units:
            results.append(_verify_unit(*unit))
            if progress:
                progress(results[-1][0])
    checked = 0
    for count, breach in results:  # in chain order: the first breach is the earliest
        checked += count
        if breach is not None:
            return checked, breach
    return checked, None


_verify_app = None


def _verify_unit_in_worker(unit) -> tuple[int, Breach | None]:
    # A forked child: its own database connections, the parent's app.
    with _verify_app.app_context():
        db.engine.dispose(close=False)
        return _verify_unit(*unit)


def _verify_unit(first: int, last: int, mark_id, head_hash, root, mark_time, previous_time,
                 batch: int) -> tuple[int, Breach | None]:
    grace = timedelta(minutes=current_app.config["LEDGER_BACKDATE_MINUTES"])
    previous = GENESIS if first == 1 else db.session.scalar(
        select(Event.chain_hash).where(Event.sequence == first - 1))
    if previous is None:
        return 0, Breach(first - 1, None, f"event at sequence {first - 1} is missing (deleted)")
    leaves, expected, checked = MerkleBuilder(), first, 0
    width = len(FIELDS)
    backdate = previous_time - grace if previous_time is not None else None
    for row in _sealed_tuples(batch, first - 1, last):
        event_id, sequence, stored_content, stored_chain = row[0], row[width], row[width + 1], \
            row[width + 2]
        if sequence != expected:
            return checked, Breach(expected, event_id, f"event at sequence {expected} is "
                                   + ("missing (deleted)" if sequence > expected
                                      else "duplicated"))
        content = content_hash_of_values(row[:width])
        if content != stored_content:
            return checked, Breach(sequence, event_id,
                                   f"event {event_id}'s content was changed after it was sealed")
        previous = chain_hash(previous, content)
        if previous != stored_chain:
            return checked, Breach(sequence, event_id,
                                   f"event {event_id} does not link to the event before it "
                                   "(inserted, removed or reordered rows)")
        if backdate is not None and row[_SERVER_TIME] < backdate:
            return checked, Breach(sequence, event_id,
                                   f"event {event_id} claims a time before a checkpoint that "
                                   "did not contain it (inserted afterwards)")
        leaves.add(content)
        expected += 1
        checked += 1
    if expected <= last:
        return checked, Breach(expected, None, f"event at sequence {expected} is missing "
                                               "(deleted)")
    if mark_id is not None:
        if previous != head_hash:
            return checked, Breach(last, None,
                                   f"the chain differs from checkpoint {mark_id} published "
                                   f"{mark_time:%Y-%m-%d %H:%M} (the ledger was rewritten)")
        if leaves.root() != root:
            return checked, Breach(last, None, f"the events differ from checkpoint {mark_id}")
    return checked, None


_SERVER_TIME = FIELDS.index("server_time")
_RAW_SEALED = ("SELECT " + ", ".join(FIELDS) + ", sequence, content_hash, chain_hash "
               "FROM event WHERE sequence > %s AND sequence <= %s ORDER BY sequence LIMIT %s")


def _sealed_tuples(batch: int, after: int, last: int) -> Iterator[tuple]:
    """Sealed events as plain tuples (recorded fields, then sequence and hashes), in order."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        for row in _sealed_rows(batch, after, last):
            yield tuple(row)
        return
    # The driver's own cursor: the ORM's per-value conversions were a third of the time,
    # and psycopg already gives aware datetimes and parsed JSON.
    with connection.connection.driver_connection.cursor() as cursor:
        while True:
            cursor.execute(_RAW_SEALED, (after, last, batch))
            rows = cursor.fetchall()
            if not rows:
                return
            yield from rows
            after = rows[-1][len(FIELDS)]


def _sealed_rows(batch: int, after: int = 0, last: int | None = None) -> Iterator:
    while True:
        query = (select(*_COLUMNS, _event.c.sequence, _event.c.content_hash,
                        _event.c.chain_hash)
                 .where(_event.c.sequence > after).order_by(_event.c.sequence).limit(batch))
        if last is not None:
            query = query.where(_event.c.sequence <= last)
        rows = db.session.execute(query).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].sequence
