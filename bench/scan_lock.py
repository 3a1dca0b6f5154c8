"""What the project key-share lock costs each scan on PostgreSQL (since migration 0017).

    .venv/bin/python bench/scan_lock.py [--components 20000] [--blocks 6] [--scans 300]
        [--threads 4] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_lock]

A scan reads its component's project region code (for the region's daily counters) in its
locking SELECT and takes `FOR KEY SHARE OF project` there, so that a region move waits for
the scans in flight (services/scans.py, `_lock_statement`). Every scan of one project then
locks the same project row: PostgreSQL writes the lock into the row (a WAL record, the page
dirtied) and, when scans overlap, shares it through a MultiXact. This measures that price
through the real scan path (test clients, a site supervisor's token, `POST /api/v1/scans`,
one scan per request, `--threads` clients at once, all on one seeded project of
services.seed.seed_project, in the database given, which is EMPTIED first), in alternating
blocks with the lock and without it, in the order ABBA ABBA… (the same statement without
its `FOR KEY SHARE` clause: the baseline, measured in the same run):

- scan time: the median of the block's requests, then the median over the blocks;
- throughput: the block's scans over its wall time, median over the blocks;
- WAL bytes per scan (pg_current_wal_lsn before and after the block).

The same components are never scanned twice: each scan moves one piece on site along
arrive → accept_delivery → install → connect → accept (what a site supervisor records). The
pieces are shuffled (a fixed seed) so that every block gets the same mix of actions: the
seed sets a piece's state by its storey, so blocks in id order would each be mostly one.
Without the lock a region move may miss the transitions of scans in flight: the baseline
is a measurement, not an option of the service.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from bench.stalled_index import scan_body, seeded_site  # noqa: E402


def _wal(engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")).scalar_one())


def _set_lock(with_lock: bool, original) -> None:
    """Make the scan path build its locking SELECT with or without the project lock."""
    # The app's modules load after main() has set the key files in the environment.
    from construction.services import scans

    if with_lock:
        scans._lock_statement = original
        return

    @functools.cache
    def without_project_lock(kinds, scoped, gated=False):
        statement = original(kinds, scoped, gated)._generate()
        statement._suffixes = ()  # the FOR KEY SHARE OF project clause
        return statement

    scans._lock_statement = without_project_lock


def measure(url: str, components: int, blocks: int, scans: int,
            threads: int) -> dict[bool, list[dict]]:
    """Seed, then scan in alternating blocks with and without the lock; per-block figures."""
    # The app's modules load after main() has set the key files in the environment.
    from construction.extensions import db
    from construction.services import scans as scan_service

    app, token, pieces = seeded_site(url, components, blocks * scans + scans)
    random.Random(0).shuffle(pieces)
    original = scan_service._lock_statement

    def run(batch: list[tuple[str, str]]) -> tuple[list[float], float]:
        times: list[float] = []
        failures: list[str] = []

        def client_loop(share: list[tuple[str, str]]) -> None:
            client = app.test_client()
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
            for code, action in share:
                start = time.perf_counter()
                response = client.post("/api/v1/scans", json=scan_body(code, action))
                times.append((time.perf_counter() - start) * 1000)
                if response.status_code != 201:
                    failures.append(f"{response.status_code} {response.get_data(True)}")

        workers = [threading.Thread(target=client_loop, args=(batch[i::threads],))
                   for i in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        wall = time.perf_counter() - start
        if failures:
            raise SystemExit(f"scan refused: {failures[0]}")
        return times, wall

    with app.app_context():
        engine = db.engine
    run(pieces[:scans])  # warm: schemas, caches, the pool
    results: dict[bool, list[dict]] = {True: [], False: []}
    for block in range(blocks):
        with_lock = block % 4 in (0, 3)
        _set_lock(with_lock, original)
        wal = _wal(engine)
        first = scans * (block + 1)
        times, wall = run(pieces[first:first + scans])
        results[with_lock].append({"ms": statistics.median(times), "per_s": scans / wall,
                                   "wal": (_wal(engine) - wal) / scans})
    _set_lock(True, original)
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=20_000)
    parser.add_argument("--blocks", type=int, default=8,
                        help="with the lock, without, without, with, and again")
    parser.add_argument("--scans", type=int, default=300, help="scans per block")
    parser.add_argument("--threads", type=int, default=4, help="clients scanning at once")
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_lock",
                        help="a PostgreSQL database (it is emptied)")
    args = parser.parse_args()
    os.environ.setdefault("LABEL_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-key.pem")
    os.environ.setdefault("LEDGER_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-ledger-key.pem")
    results = measure(args.database_url, args.components, args.blocks, args.scans,
                      args.threads)
    print(f"PostgreSQL, {args.components:,} components in one project, {args.blocks} blocks "
          f"of {args.scans} single scans from {args.threads} clients at once (test clients)")
    print("| locking SELECT | scan, median ms | scans/s | WAL per scan |")
    print("| --- | --- | --- | --- |")
    for with_lock, label in ((False, "without FOR KEY SHARE OF project (baseline)"),
                             (True, "with it (as shipped)")):
        rows = results[with_lock]
        print(f"| {label} | {statistics.median(row['ms'] for row in rows):.2f} | "
              f"{statistics.median(row['per_s'] for row in rows):.0f} | "
              f"{statistics.median(row['wal'] for row in rows):,.0f} B |")


if __name__ == "__main__":
    main()
