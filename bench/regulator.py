"""Regulator benchmark: the region's reads at scale, each beside its target and a naive way.

    .venv/bin/python bench/regulator.py [--components 1000000] [--reuse]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench]

Seeds an empty database (`flask bench seed`: ~10 sealed events per component,
a signed checkpoint every 100,000 events), then in one run measures through
the HTTP API (Flask's test client, no network): progress, one component's
history, its Merkle proof, stalled components, the daily curve, the events
CSV export (rows per second and peak Python memory), and a full `ledger
verify`. Each figure is printed beside its target and beside a naive way of
getting the same answer, measured on the same data in the same run:

- progress: the latest event per component, grouped by state;
- history: the component's events found without an index (a table scan);
- proof: the checkpoint's whole Merkle tree rebuilt from its events;
- stalled: the same queries with index scans turned off (the table scanned,
  as before the partial index) and the total counted row by row;
- daily curve: the events grouped by local day and action;
- ledger verify: one process instead of one per core.

Beside them: the database time of the stalled report's statements (`EXPLAIN
ANALYZE` of the statements the endpoint ran), the counter rows the daily curve
sums (per region code, `rday`) against the per-project (`pday`) and per-type
(`day`) rows it would sum otherwise, and the events CSV written in this process
the way it was before (`bench/events_csv.py`: ORM rows, every cell through the
csv module).

Targets (1M components, 10M events, two cores): progress p50 <= 10 ms,
history and proof p50 <= 20 ms each, stalled p50 <= 50 ms, daily curve p50
<= 30 ms, events CSV >= 100,000 rows/s with flat memory, ledger verify of
10M events <= 60 s. The load average is printed too: other work on the
machine slows every figure alike, the baselines as much as the endpoints.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, func, select, text  # noqa: E402

from bench.capture import recreate_postgres  # noqa: E402
from bench.events_csv import reference_lines  # noqa: E402

NAIVE_PROGRESS = text("""
    SELECT e.to_state, count(*) FROM event e
    JOIN (SELECT component_id, max(sequence) AS last FROM event GROUP BY component_id) l
      ON e.component_id = l.component_id AND e.sequence = l.last
    GROUP BY e.to_state""")
# `component_id + 0` hides the column from its index: the events are found by a scan.
NAIVE_HISTORY = text("SELECT * FROM event WHERE component_id + 0 = :id ORDER BY id")
NAIVE_DAILY = text("""
    SELECT (server_time AT TIME ZONE 'UTC' + interval '8 hours')::date AS day, action, count(*)
    FROM event GROUP BY 1, 2 ORDER BY 1""")
NAIVE_STALLED = [text("SET LOCAL enable_indexscan = off"),
                 text("SET LOCAL enable_indexonlyscan = off"),
                 text("SET LOCAL enable_bitmapscan = off")]
STALLED_WHERE = ("updated_at < now() - interval '14 days' "
                 "AND state NOT IN ('planned', 'accepted', 'scrapped')")


def _percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _timed_sql(session, statements, count: int, params=None) -> float:
    """Median milliseconds of running `statements` (the last one's rows read) in a transaction."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        for statement in statements[:-1]:
            session.execute(statement)
        session.execute(statements[-1], params or {}).all()
        times.append((time.perf_counter() - start) * 1000)
        session.rollback()
    return statistics.median(times)


def _naive_proof_ms(session, component_id: int) -> float:
    """Milliseconds to prove one event of a component by rebuilding its checkpoint's tree."""
    from construction.ledger_format import audit_path, merkle_levels
    from construction.models import Event, LedgerCheckpoint

    start = time.perf_counter()
    sequence = session.scalar(select(func.min(Event.sequence)).where(
        Event.component_id == component_id))
    mark = session.scalar(select(LedgerCheckpoint).where(
        LedgerCheckpoint.first_sequence <= sequence, LedgerCheckpoint.sequence >= sequence))
    contents = list(session.scalars(select(Event.content_hash).where(
        Event.sequence.between(mark.first_sequence, mark.sequence)).order_by(Event.sequence)))
    audit_path(merkle_levels(contents), sequence - mark.first_sequence)
    session.rollback()
    return (time.perf_counter() - start) * 1000


def _explained_ms(engine, request) -> list[float]:
    """Run `request`; return the execution times (ms) of the statements it ran on `component`.

    Each statement is run again under EXPLAIN ANALYZE with its own parameters,
    so the figures are the database's work alone, without Python or the network.
    """
    ran = []

    def note(connection, cursor, statement, parameters, context, executemany):
        if re.search(r"\bFROM component\b", statement) and not executemany:
            ran.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", note)
    try:
        request()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    with engine.connect() as connection:
        return [connection.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement,
                                           parameters).scalar()[0]["Execution Time"]
                for statement, parameters in ran]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=1_000_000)
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/bench")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--skip-verify", action="store_true",
                        help="leave out ledger verify (minutes at 10M events)")
    args = parser.parse_args()
    os.environ.setdefault("LABEL_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-key.pem")
    os.environ.setdefault("LEDGER_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-ledger-key.pem")
    os.environ.setdefault("LEDGER_CHECKPOINT_EXPORT", "")

    import flask_migrate

    from app import create_app
    from construction.auth import authenticate_request
    from construction.extensions import db
    from construction.models import Component, Event, LedgerCheckpoint, User
    from construction.services import reports
    from construction.services.accounts import issue_token
    from construction.services.chain import verify_ledger
    from construction.services.seed import seed

    if not args.reuse:
        recreate_postgres(args.database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url})
    rows = []
    load_before = os.getloadavg()[0]
    with app.app_context():
        flask_migrate.upgrade()
        if not db.session.scalar(select(func.count()).select_from(Component)):
            start = time.perf_counter()
            counts = seed(args.components, progress=None)
            seconds = time.perf_counter() - start
            rows.append(("seed (bulk COPY, hashes and counters computed)",
                         f"{seconds:.0f} s", "",
                         f"{counts['components']:,} components, {counts['events']:,} events, "
                         f"{counts['checkpoints']} checkpoints; "
                         f"{counts['events'] / seconds:,.0f} events/s"))
        components = db.session.scalar(select(func.count()).select_from(Component))
        events = db.session.scalar(select(func.count()).select_from(Event))
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        engine = db.engine
        counter_rows = dict(db.session.execute(text(
            "SELECT kind, count(*) FROM progress_counter WHERE kind IN ('day', 'pday', 'rday') "
            "GROUP BY kind")).all())
        regulator = db.session.scalar(select(User).where(User.name == "bench-regulator"))
        token = issue_token(regulator.id, name="bench")[1]
        db.session.commit()
        # Components whose events a checkpoint already covers (the last events may not be).
        last = db.session.scalar(select(func.max(LedgerCheckpoint.sequence))) or 0
        sample_ids = [cid for cid in random.Random(1).sample(range(1, components + 1),
                                                              min(components, 200))
                      if (db.session.scalar(select(func.min(Event.sequence)).where(
                          Event.component_id == cid)) or last + 1) <= last][:50]
        naive = {
            "progress": _timed_sql(db.session, [NAIVE_PROGRESS], 3),
            "history": _timed_sql(db.session, [NAIVE_HISTORY], 3, {"id": sample_ids[0]}),
            "daily": _timed_sql(db.session, [NAIVE_DAILY], 3),
            "stalled": _timed_sql(db.session, [*NAIVE_STALLED, text(
                f"SELECT count(*) FROM component WHERE {STALLED_WHERE}")], 3)
            + _timed_sql(db.session, [*NAIVE_STALLED, text(
                f"SELECT id, code, mark, state, updated_at, project_id FROM component "
                f"WHERE {STALLED_WHERE} ORDER BY updated_at LIMIT 100")], 3),
            "proof": statistics.median(_naive_proof_ms(db.session, cid)
                                       for cid in sample_ids[:3]),
        }

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def timed(path: str, count: int) -> list[float]:
        times = []
        for _ in range(count):
            start = time.perf_counter()
            response = client.get(path, headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        return times

    def measured(name: str, times: list[float], target_ms: float, baseline: str) -> None:
        p50, p99 = _percentiles(times)
        rows.append((name, f"p50 {p50:,.1f} ms", f"p50 ≤ {target_ms:g} ms "
                     f"({'met' if p50 <= target_ms else 'missed'}); p99 {p99:,.1f} ms",
                     f"{naive[baseline]:,.0f} ms: {naive[baseline] / p50:,.0f}x slower"))

    measured("progress (regulator, whole region)", timed("/api/v1/progress", args.requests),
             10, "progress")
    measured("one component with its history",
             [timed(f"/api/v1/components/{cid}", 1)[0] for cid in sample_ids], 20, "history")
    measured("component proof (Merkle paths)",
             [timed(f"/api/v1/components/{cid}/proof", 1)[0] for cid in sample_ids[:20]], 20,
             "proof")
    measured("stalled components (14 days)", timed("/api/v1/progress/stalled?days=14", 20), 50,
             "stalled")
    stalled_ms = _explained_ms(engine, lambda: timed("/api/v1/progress/stalled?days=14", 1))
    rows.append(("stalled: its statements in the database", " + ".join(
        f"{ms:,.1f} ms" for ms in stalled_ms), "EXPLAIN ANALYZE (total, then the oldest)", ""))
    measured("daily transitions and installed curve", timed("/api/v1/progress/daily", 50), 30,
             "daily")
    rows.append(("daily: counter rows summed", f"{counter_rows.get('rday', 0):,} rows",
                 "per region code, day and action (rday)",
                 f"per project (pday): {counter_rows.get('pday', 0):,} rows; "
                 f"per type (day): {counter_rows.get('day', 0):,} rows"))
    for name, path, count in (
            ("progress by storey of one project", "/api/v1/progress?project_id=1", 100),
            ("quality (QC by maker, NCRs, findings, alerts)", "/api/v1/quality", 20)):
        q50, q99 = _percentiles(timed(path, count))
        rows.append((name, f"p50 {q50:.1f} ms", f"p99 {q99:.1f} ms over {count}", ""))

    def export(limit: int | None = None) -> tuple[int, float]:
        """Read the export (its first `limit` lines); return the rows read and the time."""
        start, lines = time.perf_counter(), 0
        response = client.get("/api/v1/exports/events.csv", headers=headers)
        for chunk in response.response:
            lines += chunk.count(b"\n")
            if limit is not None and lines >= limit:
                break
        response.close()
        return lines - 1, time.perf_counter() - start

    exported, seconds = export()
    # Memory in further passes, over the first 100,000 rows and ten times as many: flat
    # memory gives the same peak. tracemalloc slows every allocation several times.
    peaks = []
    for limit in (100_000, min(1_000_000, exported)):
        tracemalloc.start()
        export(limit)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    with app.test_request_context(headers=headers):
        principal = authenticate_request()
        start, formatted = time.perf_counter(), 0
        for chunk in reference_lines(principal, reports.ReportFilters()):
            formatted += chunk.count(b"\n")
            if formatted > 300_000:  # enough for a rate
                break
        before_rate = formatted / (time.perf_counter() - start)
        db.session.rollback()
    rate = exported / seconds
    rows.append(("events CSV export", f"{rate:,.0f} rows/s",
                 f"≥ 100,000 rows/s ({'met' if rate >= 100_000 else 'missed'}); "
                 f"{exported:,} rows in {seconds:.1f} s; peak Python memory "
                 f"{peaks[0] / 2**20:.1f} MiB over 100,000 rows, "
                 f"{peaks[1] / 2**20:.1f} MiB over {min(1_000_000, exported):,}",
                 f"written as before, no HTTP: {before_rate:,.0f} rows/s "
                 f"({rate / before_rate:.1f}x slower)"))

    if not args.skip_verify:
        with app.app_context():
            results = {}
            for workers in (2, 1):
                start = time.perf_counter()
                checked, breach = verify_ledger(workers=workers)
                results[workers] = (checked, breach, time.perf_counter() - start)
        checked, breach, seconds = results[2]
        ten_million = 10_000_000 / (checked / seconds)
        one = results[1][2]
        rows.append(("ledger verify, 2 processes", f"{seconds:.1f} s",
                     f"10M in ≤ 60 s: {ten_million:.0f} s at this rate "
                     f"({'met' if ten_million <= 60 else 'missed'}); {checked:,} events "
                     f"({'holds' if breach is None else breach.reason}), "
                     f"{checked / seconds:,.0f} events/s",
                     f"one process: {one:.1f} s, {one / seconds:.1f}x slower"))

    header = ("measure", "result", "target and detail", "naive baseline (same run)")
    print(f"{components:,} components, {events:,} events on "
          f"{args.database_url.split('@')[-1]}; load average {load_before:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
