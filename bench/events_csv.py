"""Events CSV: the endpoint's rows per second beside the way it wrote them before, same run.

    .venv/bin/python bench/events_csv.py [--rounds 3]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench]

Reads a database seeded by bench/regulator.py, as its regulator. Each round runs,
one after the other: the endpoint (GET /api/v1/exports/events.csv through Flask's
test client, no network), the same export in this process without HTTP
(`reports.event_lines`), and the way it was written before (`reference_lines`:
ORM rows with UTCDateTime, every cell through spreadsheet_safe and the csv
module). All three must give the same bytes. Then one more pass of the endpoint
under tracemalloc gives its peak Python memory. The load average is printed:
other work on the machine slows every figure alike.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402


def reference_lines(principal, filters) -> Iterator[bytes]:
    """The events CSV as written before: ORM rows, each cell made safe, the csv module."""
    from construction.extensions import db
    from construction.ledger_format import utf8
    from construction.models import Component, Event, Organization, Project, User
    from construction.services import reports

    query = reports._events_query(
        principal, filters, Event.id, Event.sequence, Component.code, Component.mark,
        Project.code, Event.action, Event.from_state, Event.to_state, User.name,
        Organization.name, Event.client_time, Event.server_time, Event.location,
        Event.content_hash)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(reports.EVENT_HEADER)
    yield "\ufeff".encode() + utf8(buffer.getvalue())
    for chunk in db.session.execute(query.execution_options(yield_per=5000)).partitions(5000):
        buffer.seek(0)
        buffer.truncate()
        for row in chunk:
            location = row[12] if isinstance(row[12], dict) else {}
            cells = [*row[:10], row[10].isoformat() if row[10] else "",
                     row[11].isoformat() if row[11] else "", location.get("latitude", ""),
                     location.get("longitude", ""), row[13] or ""]
            writer.writerow([reports.spreadsheet_safe(value) for value in cells])
        yield utf8(buffer.getvalue())


def _read(lines: Iterable[bytes]) -> tuple[int, float, str]:
    """Rows (lines less the header), seconds and SHA-256 of everything `lines` gives."""
    digest, count = hashlib.sha256(), 0
    start = time.perf_counter()
    for chunk in lines:
        digest.update(chunk)
        count += chunk.count(b"\n")
    return count - 1, time.perf_counter() - start, digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/bench")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("LABEL_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-key.pem")
    os.environ.setdefault("LEDGER_SIGNING_KEY_FILE", "/tmp/prefabtrace-bench-ledger-key.pem")

    from app import create_app
    from construction.auth import authenticate_request
    from construction.extensions import db
    from construction.models import User
    from construction.services import reports
    from construction.services.accounts import issue_token

    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url})
    with app.app_context():
        regulator = db.session.scalar(select(User).where(User.name == "bench-regulator"))
        if regulator is None:
            raise SystemExit("no bench-regulator: seed the database with bench/regulator.py")
        token = issue_token(regulator.id, name="bench-events-csv")[1]
        db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()

    def endpoint() -> tuple[int, float, str]:
        response = client.get("/api/v1/exports/events.csv", headers=headers)
        assert response.status_code == 200, response.status_code
        try:
            return _read(response.response)
        finally:
            response.close()

    def in_process(write) -> tuple[int, float, str]:
        with app.test_request_context(headers=headers):
            try:
                return _read(write(authenticate_request(), reports.ReportFilters()))
            finally:
                db.session.rollback()

    ways = {"endpoint (HTTP, test client)": endpoint,
            "event_lines in this process": lambda: in_process(reports.event_lines),
            "written as before, in this process": lambda: in_process(reference_lines)}
    rates: dict[str, list[float]] = {name: [] for name in ways}
    load_before, digests, rows = os.getloadavg()[0], set(), 0
    for _ in range(args.rounds):
        for name, way in ways.items():
            rows, seconds, digest = way()
            rates[name].append(rows / seconds)
            digests.add(digest)
    if len(digests) != 1:
        raise SystemExit(f"the ways wrote different bytes: {sorted(digests)}")
    tracemalloc.start()
    endpoint()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{rows:,} rows, {args.rounds} rounds on {args.database_url.split('@')[-1]}; "
          f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
          f"on {os.cpu_count()} cores; same bytes every way (SHA-256 {digests.pop()[:16]}…)")
    for name, values in rates.items():
        print(f"{name:36s} median {statistics.median(values):9,.0f} rows/s   rounds: "
              + ", ".join(f"{value:,.0f}" for value in values))
    print(f"endpoint's peak Python memory (tracemalloc): {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
