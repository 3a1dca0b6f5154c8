"""Merkle proof benchmark: a component's proof from stored nodes beside the whole-tree way.

    .venv/bin/python bench/proofs.py [--sizes 10000 100000] [--requests 30]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/proofs_bench]

For each checkpoint size, seeds an empty database (`flask bench seed`: ~10 sealed
events per component, a signed checkpoint every SIZE events, its Merkle nodes
stored as it is made), then, in the same run, asks for the proofs of components
inside the first checkpoint through the Flask test client as a regulator:
- `stored nodes`: GET /components/{id}/proof as it is now (one block of 256
  events' hashes and one stored node per level above it);
- `whole tree`: the same request answered the way it was before the nodes were
  kept: every content hash of the checkpoint read and hashed into the tree, per
  request (the old code kept the last 8 trees per process, so this is what a
  client paid whenever it asked about a ninth checkpoint, or a fresh worker).
Prints p50/p99 latency and the SQL statements and rows one request reads.
Without --database-url each size gets a fresh SQLite file in a temporary folder;
with it, the named PostgreSQL database is dropped and created for each size.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, select, text  # noqa: E402

from bench.capture import recreate_postgres  # noqa: E402


def whole_tree_proof(principal, component_id: int) -> dict:
    """Answer a proof as before nodes were stored: the checkpoint's whole tree per request."""
    from construction.extensions import db
    from construction.ledger_format import audit_path, merkle_levels
    from construction.models import Event, LedgerCheckpoint
    from construction.services import chain
    from construction.services.components import component_for_reading

    component_for_reading(principal, component_id)
    chain.seal_all()
    table = Event.__table__
    rows = db.session.execute(
        select(*chain._COLUMNS, table.c.sequence, table.c.content_hash, table.c.chain_hash)
        .where(table.c.component_id == component_id).order_by(table.c.sequence)).all()
    events, used, trees = [], {}, {}
    for row in rows:
        checkpoint = db.session.scalar(
            select(LedgerCheckpoint).where(LedgerCheckpoint.first_sequence <= row.sequence,
                                           LedgerCheckpoint.sequence >= row.sequence))
        entry = {"event": chain.event_record(row), "sequence": row.sequence,
                 "content_hash": row.content_hash, "chain_hash": row.chain_hash,
                 "checkpoint_id": None, "leaf_index": None, "audit_path": None}
        if checkpoint is not None:
            if checkpoint.id not in trees:
                trees[checkpoint.id] = merkle_levels(db.session.scalars(
                    select(Event.content_hash)
                    .where(Event.sequence.between(checkpoint.first_sequence,
                                                  checkpoint.sequence))
                    .order_by(Event.sequence)).all())
            index = row.sequence - checkpoint.first_sequence
            entry.update(checkpoint_id=checkpoint.id, leaf_index=index,
                         audit_path=audit_path(trees[checkpoint.id], index))
            used[checkpoint.id] = checkpoint
        events.append(entry)
    return {"component_id": component_id, "events": events,
            "checkpoints": [chain.checkpoint_view(c) for c in sorted(
                used.values(), key=lambda c: c.sequence)],
            "pending": sum(1 for e in events if e["checkpoint_id"] is None)}


class Reads:
    """Statements sent and rows the SELECTs return (each SELECT counted once more)."""

    def __init__(self):
        self.statements = self.rows = 0
        self._counting = False

    def after_execute(self, connection, cursor, statement, parameters, context, many):
        if self._counting:
            return
        self.statements += 1
        if many or not statement.lstrip().upper().startswith("SELECT"):
            return
        self._counting = True
        try:
            self.rows += connection.exec_driver_sql(
                f"SELECT count(*) FROM ({statement}) AS counted", parameters).scalar()
        finally:
            self._counting = False


def measure(url: str, size: int, requests: int) -> list[tuple]:
    """Seed a ledger with checkpoints of `size` events; time both ways of proving."""
    import flask_migrate

    from app import create_app
    from construction.extensions import db
    from construction.models import LedgerCheckpoint, User
    from construction.services import chain
    from construction.services.accounts import issue_token
    from construction.services.seed import seed

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "LEDGER_CHECKPOINT_EXPORT": ""})
    with app.app_context():
        flask_migrate.upgrade()
        start = time.perf_counter()
        counts = seed(size * 12 // 100, projects=2, checkpoint_every=size)
        seeded = time.perf_counter() - start
        first = db.session.scalar(select(LedgerCheckpoint).order_by(LedgerCheckpoint.sequence)
                                  .limit(1))
        # Components whose events all lie inside the first checkpoint.
        last_inside = db.session.scalar(text(
            "SELECT max(component_id) FROM event WHERE sequence <= :s"), {"s": first.sequence})
        regulator = db.session.scalar(select(User).where(User.name == "bench-regulator"))
        token = issue_token(regulator.id, name="bench")[1]
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE"))
        db.session.commit()
        engine = db.engine
    sample = random.Random(size).sample(range(1, last_inside), requests)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    rows = []
    new_proof = chain.component_proof
    for name, answer in (("stored nodes", new_proof), ("whole tree", whole_tree_proof)):
        chain.component_proof = answer
        times, proofs = [], []
        try:
            for component_id in sample:
                begin = time.perf_counter()
                response = client.get(f"/api/v1/components/{component_id}/proof",
                                      headers=headers)
                times.append((time.perf_counter() - begin) * 1000)
                assert response.status_code == 200, response.get_json()
                proofs.append(response.get_json())
            # Statements and rows apart from the timed runs: counting runs every SELECT twice.
            reads = Reads()
            event.listen(engine, "after_cursor_execute", reads.after_execute)
            try:
                client.get(f"/api/v1/components/{sample[0]}/proof", headers=headers)
            finally:
                event.remove(engine, "after_cursor_execute", reads.after_execute)
        finally:
            chain.component_proof = new_proof
        ordered = sorted(times)
        rows.append((size, name, statistics.median(ordered),
                     ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
                     reads.statements, reads.rows, proofs))
    if rows[0][-1] != rows[1][-1]:
        raise SystemExit("the two ways gave different proofs")
    print(f"# {size:,}: seeded {counts['events']:,} events, {counts['checkpoints']} "
          f"checkpoints in {seeded:.0f} s", file=sys.stderr, flush=True)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return [row[:-1] for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--database-url", help="a PostgreSQL database to drop and fill")
    args = parser.parse_args()
    os.environ.setdefault("LEDGER_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-ledger-key.pem")
    os.environ.setdefault("LABEL_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-key.pem")
    results = []
    with tempfile.TemporaryDirectory(prefix="prefabtrace-proofs-") as folder:
        for size in args.sizes:
            if args.database_url:
                recreate_postgres(args.database_url)
                url = args.database_url
            else:
                url = f"sqlite:///{Path(folder) / f'proofs-{size}.db'}"
            results += measure(url, size, args.requests)
    where = args.database_url.split("@")[-1] if args.database_url else "SQLite"
    print(f"component proofs on {where}, {args.requests} components per size, "
          "through the Flask test client")
    header = ("checkpoint events", "proof made from", "p50 ms", "p99 ms",
              "statements", "rows read")
    table = [header] + [(f"{size:,}", name, f"{p50:.1f}", f"{p99:.1f}", str(statements),
                         f"{rows:,}") for size, name, p50, p99, statements, rows in results]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for number, row in enumerate(table):
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if number == 0:
            print("-+-".join("-" * width for width in widths))


if __name__ == "__main__":
    main()
