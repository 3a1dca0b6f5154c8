"""What the stalled-components index costs each scan on PostgreSQL (migration 0015).

    .venv/bin/python bench/stalled_index.py [--components 20000] [--blocks 6] [--scans 150]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_stalled]

`ix_component_stalled` is a partial index on `component.updated_at`: every scan that moves
a component changes `updated_at`, so with the index no such update can be a HOT update
(PostgreSQL rewrites every index entry of the row, and the new index entry costs WAL).
This measures that price through the real scan path (the test client, a site supervisor's
token, `POST /api/v1/scans`, one scan per request) on a seeded project (services.seed.
seed_project, into the database given, which is EMPTIED first), in alternating blocks with
the index and without it (dropped and made again between blocks, the baseline measured in
the same run):

- scan time: the median of the block's requests, then the median over the blocks;
- WAL bytes per scan (pg_current_wal_lsn before and after the block: everything a scan
  writes — the event, the component, the counters, the index entries);
- the share of the block's component updates that were HOT (pg_stat_user_tables, read
  after the block's connections closed, so that every backend has reported).

The same components are never scanned twice: each scan moves one piece on site along
arrive → accept_delivery → install → connect → accept (what a site supervisor records).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select, text  # noqa: E402

NEXT_ACTION = {"in_transit": "arrive", "delivered": "accept_delivery",
               "accepted_on_site": "install", "installed": "connect", "connected": "accept"}
INDEX = ("CREATE INDEX ix_component_stalled ON component (updated_at) WHERE state NOT IN "
         "('planned', 'accepted', 'scrapped')")


def _stats(engine) -> tuple[int, int, int]:
    """Return (WAL position in bytes, component updates, of them HOT) as PostgreSQL counts."""
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_stat_clear_snapshot()"))
        wal = connection.execute(text(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")).scalar_one()
        updates, hot = connection.execute(text(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
            "WHERE relname = 'component'")).one()
    return int(wal), int(updates), int(hot)


def seeded_site(url: str, components: int, needed: int):
    """Empty the database, seed one project; return the app, a site supervisor's token and
    the (code, next action) of every piece on site that a scan can move, in id order."""
    # The app's modules load after main() has set the key files in the environment.
    from app import create_app
    from bench.dashboard import empty_database_with_member
    from construction.extensions import db
    from construction.models import Component, OrganizationKind, Role
    from construction.services.seed import seed_project

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False,
                      "LEDGER_CHECKPOINT_EXPORT": "", "LOG_LEVEL": "WARNING"})
    with app.app_context():
        builder, _, token = empty_database_with_member(url, OrganizationKind.contractor,
                                                       Role.site_supervisor)
        project_id = seed_project(components, [builder.id])
        pieces = [(code, NEXT_ACTION[state]) for code, state in db.session.execute(
            select(Component.code, Component.state).where(
                Component.project_id == project_id, Component.state.in_(NEXT_ACTION),
                Component.on_hold.is_(False), Component.damaged.is_(False),
                Component.ncr_open.is_(False)).order_by(Component.id))]
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.session.remove()
    if len(pieces) < needed:
        raise SystemExit(f"only {len(pieces)} pieces on site to scan; ask for fewer "
                         f"--blocks or --scans, or more --components (need {needed})")
    return app, token, pieces


def scan_body(code: str, action: str) -> dict:
    """One scan with a new client event id; some site actions name their record."""
    return {"code": code, "action": action, "client_event_id": uuid.uuid4().hex,
            "data": {"record": "bench record"}}


def measure(url: str, components: int, blocks: int, scans: int) -> dict[bool, list[dict]]:
    """Seed, then scan in alternating blocks with and without the index; per-block figures."""
    # The app's modules load after main() has set the key files in the environment.
    from construction.extensions import db

    app, token, pieces = seeded_site(url, components, blocks * scans + scans)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    def scan(code: str, action: str) -> float:
        start = time.perf_counter()
        response = client.post("/api/v1/scans", json=scan_body(code, action))
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 201:
            raise SystemExit(f"scan refused: {response.status_code} {response.get_data(True)}")
        return elapsed

    with app.app_context():
        engine = db.engine
        for code, action in pieces[:scans]:  # warm: schemas, caches, the pool
            scan(code, action)
        results: dict[bool, list[dict]] = {True: [], False: []}
        for block in range(blocks):
            indexed = block % 2 == 0
            with engine.begin() as connection:
                connection.execute(text("DROP INDEX IF EXISTS ix_component_stalled"))
                if indexed:
                    connection.execute(text(INDEX))
            engine.dispose()
            wal, updates, hot = _stats(engine)
            first = scans * (block + 1)
            times = [scan(code, action) for code, action in pieces[first:first + scans]]
            db.session.remove()
            engine.dispose()  # the backends exit and report their counts
            time.sleep(1.5)
            wal_after, updates_after, hot_after = _stats(engine)
            results[indexed].append({
                "ms": statistics.median(times), "wal": (wal_after - wal) / scans,
                "updates": updates_after - updates, "hot": hot_after - hot})
        with engine.begin() as connection:  # leave the database as the migrations made it
            connection.execute(text("DROP INDEX IF EXISTS ix_component_stalled"))
            connection.execute(text(INDEX))
        engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=20_000)
    parser.add_argument("--blocks", type=int, default=6, help="alternating, with the index first")
    parser.add_argument("--scans", type=int, default=150, help="scans per block")
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_stalled",
                        help="a PostgreSQL database (it is emptied)")
    args = parser.parse_args()
    os.environ.setdefault("LABEL_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-key.pem")
    os.environ.setdefault("LEDGER_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-ledger-key.pem")
    results = measure(args.database_url, args.components, args.blocks, args.scans)
    print(f"PostgreSQL, {args.components:,} components, {args.blocks} blocks of "
          f"{args.scans} single scans (test client, server side)")
    print("| component index on updated_at | scan, median ms | WAL per scan | HOT updates |")
    print("| --- | --- | --- | --- |")
    for indexed, label in ((False, "without (baseline)"), (True, "with ix_component_stalled")):
        rows = results[indexed]
        updates = sum(row["updates"] for row in rows)
        hot = sum(row["hot"] for row in rows)
        print(f"| {label} | {statistics.median(row['ms'] for row in rows):.2f} | "
              f"{statistics.median(row['wal'] for row in rows):,.0f} B | "
              f"{hot:,} of {updates:,} ({100 * hot / max(updates, 1):.0f} %) |")


if __name__ == "__main__":
    main()
