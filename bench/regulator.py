"""Regulator benchmark: progress, queries, CSV export and ledger verify at scale.

    .venv/bin/python bench/regulator.py [--components 1000000] [--reuse]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench]

Seeds an empty database (`flask bench seed`: ~10 sealed events per component,
a signed checkpoint every 100,000 events), then in one run measures: the
progress endpoint against the naive way (latest event per component, grouped
by state) as the baseline; p50/p99 of the main regulator queries; the CSV
export's rows per second and peak memory; and a full `ledger verify`.
Targets: progress p50 <= 10 ms and >= 10x faster than the naive query;
ledger verify of 10M events <= 60 s.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

NAIVE = text("""
    SELECT e.to_state, count(*) FROM event e
    JOIN (SELECT component_id, max(sequence) AS last FROM event GROUP BY component_id) l
      ON e.component_id = l.component_id AND e.sequence = l.last
    GROUP BY e.to_state""")


def _percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _fresh_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=1_000_000)
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/bench")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("LABEL_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-key.pem")

    import flask_migrate

    from app import create_app
    from construction.extensions import db
    from construction.models import Component, Event, User
    from construction.services.accounts import issue_token
    from construction.services.chain import verify_ledger
    from construction.services.seed import seed

    if not args.reuse:
        _fresh_database(args.database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url})
    rows = []
    with app.app_context():
        flask_migrate.upgrade()
        if not db.session.scalar(select(func.count()).select_from(Component)):
            start = time.perf_counter()
            counts = seed(args.components, progress=None)
            seconds = time.perf_counter() - start
            rows.append(("seed (bulk COPY, hashes and counters computed)",
                         f"{seconds:.0f} s",
                         f"{counts['components']:,} components, {counts['events']:,} events, "
                         f"{counts['checkpoints']} checkpoints; "
                         f"{counts['events'] / seconds:,.0f} events/s"))
        components = db.session.scalar(select(func.count()).select_from(Component))
        events = db.session.scalar(select(func.count()).select_from(Event))
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        regulator = db.session.scalar(select(User).where(User.name == "bench-regulator"))
        token = issue_token(regulator.id, name="bench")[1]
        naive = []
        for _ in range(5):
            start = time.perf_counter()
            db.session.execute(NAIVE).all()
            naive.append((time.perf_counter() - start) * 1000)
        db.session.rollback()
        sample_ids = random.Random(1).sample(range(1, components + 1), 50)

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

    progress_times = timed("/api/v1/progress", args.requests)
    p50, p99 = _percentiles(progress_times)
    naive_p50 = statistics.median(naive)
    rows.append(("progress endpoint (regulator, whole region)", f"p50 {p50:.1f} ms",
                 f"p99 {p99:.1f} ms; target p50 ≤ 10 ms"))
    rows.append(("  baseline: latest event per component, GROUP BY state",
                 f"p50 {naive_p50:,.0f} ms",
                 f"{naive_p50 / p50:,.0f}x slower than the endpoint; target ≥ 10x"))
    for name, path, count in (
            ("progress by storey of one project", "/api/v1/progress?project_id=1", 100),
            ("daily transitions and installed curve", "/api/v1/progress/daily", 50),
            ("quality (QC by maker, NCRs, findings, alerts)", "/api/v1/quality", 20),
            ("stalled components (14 days)", "/api/v1/progress/stalled?days=14", 10)):
        q50, q99 = _percentiles(timed(path, count))
        rows.append((name, f"p50 {q50:.1f} ms", f"p99 {q99:.1f} ms over {count}"))
    detail = [timed(f"/api/v1/components/{cid}", 1)[0] for cid in sample_ids]
    q50, q99 = _percentiles(detail)
    rows.append(("one component with its history", f"p50 {q50:.1f} ms", f"p99 {q99:.1f} ms"))
    proofs = [timed(f"/api/v1/components/{cid}/proof", 1)[0] for cid in sample_ids[:20]]
    q50, q99 = _percentiles(proofs)
    rows.append(("component proof (Merkle paths)", f"p50 {q50:.0f} ms", f"p99 {q99:.0f} ms"))

    def export() -> tuple[int, float]:
        start = time.perf_counter()
        response = client.get("/api/v1/exports/components.csv", headers=headers)
        lines = sum(chunk.count(b"\n") for chunk in response.response)
        return lines - 1, time.perf_counter() - start

    exported, seconds = export()
    # Memory in a second pass: tracemalloc slows every allocation several times.
    tracemalloc.start()
    export()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows.append(("CSV export of all components", f"{exported / seconds:,.0f} rows/s",
                 f"{exported:,} rows in {seconds:.1f} s; peak Python memory while streaming "
                 f"{peak / 2**20:.1f} MiB"))

    with app.app_context():
        for workers in (os.cpu_count() or 1, 1):
            start = time.perf_counter()
            checked, breach = verify_ledger(workers=workers)
            seconds = time.perf_counter() - start
            rows.append((f"ledger verify, {workers} process(es)", f"{seconds:.1f} s",
                         f"{checked:,} events ({'holds' if breach is None else breach.reason})"
                         f"; {checked / seconds:,.0f} events/s; 10M would take "
                         f"{10_000_000 / (checked / seconds):.0f} s (target ≤ 60 s)"))
    header = ("measure", "result", "detail")
    print(f"{components:,} components, {events:,} events on {args.database_url.split('@')[-1]}")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(3)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
