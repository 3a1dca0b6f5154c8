"""Ledger verify benchmark: `verify_ledger` beside the verifier it replaced, in one run.

    .venv/bin/python bench/ledger_verify.py [--rounds 3] [--workers 2] [--profile]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench]

On a database seeded by bench/regulator.py (or `flask bench seed`), verifies
the whole ledger `--rounds` times each way, alternating which goes first:
- `now`: `verify_ledger` as `flask ledger verify` runs it;
- `before`: the verifier as it was, kept here as the baseline: one unit per
  checkpoint stretch, a new database connection per unit, each event's
  canonical bytes through `JSONEncoder.encode`, hex hashes, a Merkle builder
  fed one leaf at a time (also for the events after the last checkpoint); the
  events are read from the database as now.
Both must find the same events and the same breach (none on a seeded ledger).
Prints each way's median seconds, events per second, the time 10M events would
take at that rate (the target is 60 s on two cores), the CPU seconds of this
process and its workers (PostgreSQL's own work not counted), and the load
average: other work on the machine slows both ways alike.

`--profile` adds cProfile's costliest functions for one checkpoint stretch
verified in this process, each way.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import inspect
import json
import multiprocessing
import os
import pstats
import resource
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask import current_app  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from construction.extensions import db  # noqa: E402
from construction.ledger_format import FIELDS, GENESIS, _time, utf8  # noqa: E402
from construction.models import Event, LabelKey, LedgerCheckpoint  # noqa: E402
from construction.services import chain  # noqa: E402
from labels.keys import public_key_from_text  # noqa: E402

_BEFORE_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                   allow_nan=False)
_TIME_FIELDS = (FIELDS.index("client_time"), FIELDS.index("server_time"))


def _before_content_hash(values) -> str:
    values = list(values)
    for index in _TIME_FIELDS:
        values[index] = _time(values[index])
    return hashlib.sha256(utf8(_BEFORE_ENCODER.encode(values))).hexdigest()


def _before_chain_hash(previous: str, content: str) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + bytes.fromhex(content)).hexdigest()


class _BeforeMerkleBuilder:
    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []

    def add(self, content: str) -> None:
        size, node = 1, hashlib.sha256(b"\x00" + bytes.fromhex(content)).digest()
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, node = left_size + size, hashlib.sha256(b"\x01" + left + node).digest()
        self._stack.append((size, node))

    def root(self) -> str:
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = hashlib.sha256(b"\x01" + left + node).digest()
        return node.hex()


def verify_before(workers: int, batch: int = 20_000) -> tuple[int, chain.Breach | None]:
    """Verify the ledger as before: one unit per checkpoint stretch."""
    keys = {row.key_id: public_key_from_text(row.public_key)
            for row in db.session.scalars(select(LabelKey))}
    marks = list(db.session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.sequence)))
    for checkpoint in marks:
        breach = chain._checkpoint_breach(checkpoint, keys)
        if breach:
            return 0, breach
    breach = chain._link_breach(marks)
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
    db.session.rollback()
    if workers > 1 and len(units) > 1:
        global _before_app
        _before_app = current_app._get_current_object()
        db.engine.dispose()
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = list(pool.imap(_before_unit_in_worker, units))
    else:
        results = [_before_unit(*unit) for unit in units]
    checked = 0
    for count, breach in results:
        checked += count
        if breach is not None:
            return checked, breach
    return checked, None


_before_app = None


def _before_unit_in_worker(unit) -> tuple[int, chain.Breach | None]:
    with _before_app.app_context():
        db.engine.dispose(close=False)
        return _before_unit(*unit)


def _before_unit(first: int, last: int, mark_id, head_hash, root, mark_time, previous_time,
                 batch: int) -> tuple[int, chain.Breach | None]:
    Breach = chain.Breach
    grace = timedelta(minutes=current_app.config["LEDGER_BACKDATE_MINUTES"])
    previous = GENESIS if first == 1 else db.session.scalar(
        select(Event.chain_hash).where(Event.sequence == first - 1))
    if previous is None:
        return 0, Breach(first - 1, None, f"event at sequence {first - 1} is missing (deleted)")
    leaves, expected, checked = _BeforeMerkleBuilder(), first, 0
    width = len(FIELDS)
    backdate = (chain._canonical_time(previous_time - grace) if previous_time is not None
                else None)
    for rows in chain._sealed_batches(batch, first - 1, last):
        for row in rows:
            event_id, sequence, stored_content, stored_chain = row[0], row[width], \
                row[width + 1], row[width + 2]
            if sequence != expected:
                return checked, Breach(expected, event_id, f"event at sequence {expected} is "
                                       + ("missing (deleted)" if sequence > expected
                                          else "duplicated"))
            content = _before_content_hash(row[:width])
            if content != stored_content:
                return checked, Breach(sequence, event_id, f"event {event_id}'s content was "
                                                           "changed after it was sealed")
            previous = _before_chain_hash(previous, content)
            if previous != stored_chain:
                return checked, Breach(sequence, event_id, f"event {event_id} does not link")
            if backdate is not None and row[chain._SERVER_TIME] < backdate:
                return checked, Breach(sequence, event_id, f"event {event_id} claims a time "
                                                           "before a checkpoint")
            leaves.add(content)
            expected += 1
            checked += 1
    if expected <= last:
        return checked, Breach(expected, None, f"event at sequence {expected} is missing")
    if mark_id is not None:
        if previous != head_hash:
            return checked, Breach(last, None, f"the chain differs from checkpoint {mark_id}")
        if leaves.root() != root:
            return checked, Breach(last, None, f"the events differ from checkpoint {mark_id}")
    return checked, None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(way, workers: int) -> tuple[tuple, float, float]:
    cpu, children, start = time.process_time(), _children_cpu(), time.perf_counter()
    result = way(workers)
    seconds = time.perf_counter() - start
    db.session.rollback()
    return result, seconds, time.process_time() - cpu + _children_cpu() - children


def _profile(name: str, call) -> None:
    profile = cProfile.Profile()
    profile.runcall(call)
    db.session.rollback()
    print(f"\n{name}: one checkpoint stretch in this process")
    pstats.Stats(profile).sort_stats("tottime").print_stats(14)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/bench")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("LEDGER_CHECKPOINT_EXPORT", "")

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url})
    ways = {"before": verify_before, "now": lambda workers: chain.verify_ledger(
        workers=workers)}
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    found = {}
    load_before = os.getloadavg()[0]
    with app.app_context():
        for round_ in range(args.rounds):
            for name in (list(ways) if round_ % 2 == 0 else list(reversed(ways))):
                result, seconds, cpu = _timed(ways[name], args.workers)
                runs[name].append((seconds, cpu))
                found.setdefault(name, result)
                print(f"round {round_ + 1} {name}: {seconds:.2f} s, {cpu:.2f} s CPU, "
                      f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)
        if args.profile:
            mark = db.session.scalars(select(LedgerCheckpoint)
                                      .order_by(LedgerCheckpoint.sequence)).first()
            _profile("before", lambda: _before_unit(
                mark.first_sequence, mark.sequence, mark.id, mark.head_hash, mark.merkle_root,
                mark.created_at, None, 20_000))
            piece = inspect.signature(chain.verify_ledger).parameters["piece"].default
            _profile("now", lambda: [chain._verify_piece(
                start, min(start + piece - 1, mark.sequence), mark.sequence, True, None,
                20_000) for start in range(mark.first_sequence, mark.sequence + 1, piece)])
    (checked, breach), (now_checked, now_breach) = found["before"], found["now"]
    assert (checked, breach is None) == (now_checked, now_breach is None), (found,)
    print(f"{checked:,} events ({'hold' if breach is None else breach.reason}), "
          f"{args.workers} workers, {args.rounds} rounds each way; load average "
          f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end on "
          f"{os.cpu_count()} cores")
    for name, measured in runs.items():
        seconds = statistics.median(s for s, _ in measured)
        cpu = statistics.median(c for _, c in measured)
        rate = checked / seconds
        print(f"{name:7s} {seconds:6.2f} s  {rate:9,.0f} events/s  10M in "
              f"{10_000_000 / rate:4.0f} s  {cpu:6.2f} s CPU ({cpu / checked * 1e6:.1f} us "
              f"an event)  runs: {', '.join(f'{s:.2f}' for s, _ in measured)}")


if __name__ == "__main__":
    main()
