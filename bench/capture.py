"""Capture benchmark: how fast PrefabTrace records scans behind gunicorn.

Run from the repository root:

    .venv/bin/python bench/capture.py [--database both] [--seconds 10] [--concurrency 8]

For each database (SQLite in a temporary directory, and PostgreSQL in the
database `bench` at 127.0.0.1:5432 when it is reachable) the benchmark starts
from an empty database: `flask db upgrade`, `flask demo load` (for the tokens),
and a plain-SQL table `bench_row` outside the migrations. It then serves
`bench.capture_app:app` (the real app plus `POST /bench/baseline`) with
gunicorn (4 sync workers) on a free loopback port, creates a project with a
component type through the API and imports enough components by CSV that no
run runs out of work.

Each scenario runs for a fixed time (`--seconds`, after a `--warmup` whose
requests are not counted) with a fixed number of concurrent connections
(`--concurrency`), each in its own process and opening a new connection per
request, as gunicorn's sync workers close every connection:

  (a) baseline  `POST /bench/baseline`: one bare row insert, no auth, no schema;
  (b) single    `POST /api/v1/scans`: one lifecycle scan per request (admin token);
  (c) batch     `POST /api/v1/scans/batch`: `--batch-size` (500) scans per request.

Then, one request at a time on one connection (latency, not throughput):

  (d) load scan `POST /api/v1/loads/{id}/scans` receiving (`arrive`) a load of
      `--load-pieces` (20) components: one event per component in one
      transaction, against (b') single `POST /api/v1/scans` receiving one
      component (`arrive`), the two alternating for `--load-rounds` (30) rounds;
      the target: the load scan's median at most 3 x the single scan's
      (`--load-scans-only` runs only this comparison).

Every scan is real lifecycle work: each connection owns disjoint components and
moves each one along cast → demould → qc_pass → store → load → depart → arrive
→ accept_delivery → install → connect → accept. In (b) a component goes
through its whole route before the next; in (c) a batch is one step for 500
components (as when a truck is loaded), and the next batch is the next step.

The table gives, per scenario: requests completed in the measured window;
req/s (answers with the expected status only: 201, 201, 200); events/s (rows
inserted for (a), accepted scan events for (b) and (c)); p50 and p99 latency
(connect to last byte, including time queued at gunicorn); errors (for (a)
and (b) answers with any other status and failed requests; for (c) every item
that was not accepted, all the items of a failed request included). Below the
table: the CPU used in each window by the app (gunicorn workers), PostgreSQL
and the load generator, and a warning when other processes on the machine took
a noticeable share (the numbers are then low). Then the ratio (b)/(a) in req/s
and the targets: (b) at least half of (a), and batches at least 10,000 events/s
on SQLite and 5,000 on PostgreSQL. After the runs, the rows and events stored
for this run are counted in the database and compared with what the clients
were told was written.

Other options: `--warmup` (1 s), `--workers` (gunicorn workers, 4),
`--batch-size` (500), `--keep` (keep the temporary directory with the server
log), `--wsgi module:app` (serve another app, e.g. a variant being compared; it
must also answer `POST /bench/baseline`). Run it on a quiet machine: other
processes' CPU use is reported, and lowers every number.

A missed target is a result, not a failure: the exit status is 0 unless the
benchmark itself could not run (set-up failed, the server did not start, ...).
The load generator uses only the standard library; PostgreSQL is prepared with
psycopg (from the project's virtualenv).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"

PG_SERVER = "host=127.0.0.1 port=5432 user=postgres"
PG_DATABASE = "bench"
PG_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DATABASE}"

ROUTE: list[tuple[str, dict[str, str] | None]] = [
    ("cast", None), ("demould", None), ("qc_pass", None), ("store", None), ("load", None),
    ("depart", None), ("arrive", None), ("accept_delivery", None), ("install", None),
    ("connect", {"record": "GJ-1"}), ("accept", None),
]
CLIENT_TIME = "2026-11-25T10:00:00+08:00"
IMPORT_MAX_ROWS = 20_000
COMPONENT_TYPE = "slab"

RATIO_TARGET = 0.5
BATCH_TARGETS = {"sqlite": 10_000, "postgresql": 5_000}

# Upper bounds on the rates, used to size the pools of components so that no
# connection runs out of work (a run that does is flagged in the report).
SINGLE_RATE_BOUND = 2_500  # scans/s
BATCH_RATE_BOUND = 40_000  # events/s

OTHERS_WARNING = 0.10  # warn when other processes used more than this share of the machine

LOAD_SCAN_TARGET = 3.0  # a load scan's median latency, in single scans

SCENARIOS = ("baseline", "single", "batch")
LABELS = {"baseline": "(a) baseline insert", "single": "(b) single scan",
          "batch": "(c) batch of {n}"}


class BenchError(Exception):
    """The benchmark itself could not run."""


# --------------------------------------------------------------------------- HTTP


def http(port: int, method: str, path: str, body: bytes = b"", content_type: str = "",
         token: str = "", timeout: float = 60.0) -> tuple[int, bytes]:
    """Send one request on a new connection; return the status and the body."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
             f"Content-Length: {len(body)}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        while True:
            chunk = sock.recv(262_144)
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    head, sep, payload = data.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1."):
        raise ConnectionError(f"malformed response ({len(data)} bytes)")
    status = int(head[9:12])
    if b"transfer-encoding: chunked" in head.lower():
        payload = _unchunk(payload)
    return status, payload


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    position = 0
    while True:
        line_end = data.index(b"\r\n", position)
        size = int(data[position:line_end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[line_end + 2:line_end + 2 + size]
        position = line_end + 2 + size + 2


def http_json(port: int, method: str, path: str, payload: Any = None, token: str = "",
              expect: int = 200, body: bytes | None = None, content_type: str = "",
              timeout: float = 300.0) -> Any:
    """Send a set-up request; return the JSON answer or raise BenchError."""
    if body is None:
        body = b"" if payload is None else json.dumps(payload).encode()
        content_type = content_type or ("application/json" if payload is not None else "")
    status, answer = http(port, method, path, body, content_type, token, timeout)
    if status != expect:
        raise BenchError(f"{method} {path} answered {status} (expected {expect}): "
                         f"{answer[:500].decode(errors='replace')}")
    return json.loads(answer) if answer else None


# ------------------------------------------------------------------ load generator


@dataclass
class WorkerSpec:
    """What one connection of the load generator does."""

    port: int
    scenario: str
    token: str
    codes: list[str]
    prefix: str  # client_event_id prefix, unique for this run and connection
    batch_size: int
    start_at: float  # time.monotonic() values, shared by all worker processes
    measure_from: float
    stop_at: float


@dataclass
class WorkerResult:
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    ok: int = 0
    events: int = 0
    errors: Counter = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)
    events_all_phases: int = 0  # accepted events/rows including warm-up and late answers
    out_of_work: bool = False
    crashed: str = ""


def _scan_stream(spec: WorkerSpec, group: int):
    """Yield scan items for this connection's components in lifecycle order.

    `group` components move together: every step for the group, then the next
    group (1 = each component through its whole route in turn).
    """
    sequence = 0
    for start in range(0, len(spec.codes), group):
        chunk = spec.codes[start:start + group]
        for action, data in ROUTE:
            for code in chunk:
                sequence += 1
                item: dict[str, Any] = {"code": code, "action": action,
                                        "client_event_id": f"{spec.prefix}-{sequence}",
                                        "client_time": CLIENT_TIME}
                if data is not None:
                    item["data"] = data
                yield item


_COUNTS = re.compile(rb'"(accepted|duplicate|rejected)"\s*:\s*(\d+)')


def _problem_key(status: int, body: bytes) -> tuple[str, str]:
    try:
        problem = json.loads(body)
        kind = str(problem.get("type", "")).rsplit("/", 1)[-1]
        detail = str(problem.get("detail", ""))
    except (ValueError, AttributeError):
        kind, detail = "", body[:200].decode(errors="replace")
    return f"HTTP {status} {kind}".strip(), detail


def _one_request(spec: WorkerSpec, items_source, failed: set[str]):
    """Build and send one request; return (ok, events, error list, items sent)."""
    if spec.scenario == "baseline":
        status, body = http(spec.port, "POST", "/bench/baseline", b'{"payload": "bench"}',
                            "application/json")
        if status == 201:
            return True, 1, [], []
        return False, 0, [_problem_key(status, body)], []
    if spec.scenario == "single":
        item = next(items_source, None)
        while item is not None and item["code"] in failed:
            item = next(items_source, None)
        if item is None:
            return None
        status, body = http(spec.port, "POST", "/api/v1/scans", json.dumps(item).encode(),
                            "application/json", spec.token)
        if status == 201:
            return True, 1, [], [item]
        failed.add(item["code"])
        return False, 0, [_problem_key(status, body)], [item]
    items = []
    for item in items_source:
        if item["code"] not in failed:
            items.append(item)
            if len(items) == spec.batch_size:
                break
    if not items:
        return None
    status, body = http(spec.port, "POST", "/api/v1/scans/batch",
                        json.dumps({"items": items}).encode(), "application/json", spec.token)
    if status != 200:  # every item of the batch counts as an error
        failed.update(i["code"] for i in items)
        key, detail = _problem_key(status, body)
        return False, 0, [(f"{key} (whole batch)", detail)] * len(items), items
    counts = {k.decode(): int(v) for k, v in _COUNTS.findall(body[:300])}
    errors: list[tuple[str, str]] = []
    if len(counts) < 3 or counts["accepted"] != len(items):
        answer = json.loads(body)
        counts = {k: answer[k] for k in ("accepted", "duplicate", "rejected")}
        for result in answer["results"]:
            if result["outcome"] != "accepted":
                problem = result.get("problem") or {}
                kind = str(problem.get("type", "")).rsplit("/", 1)[-1]
                errors.append((f"item {result['outcome']} {kind}".strip(),
                               str(problem.get("detail", ""))))
                failed.add(items[result["index"]]["code"])
    return True, counts["accepted"], errors, items


def load_worker(spec: WorkerSpec, queue) -> None:
    """Run one connection's request loop and put its WorkerResult on `queue`."""
    result = WorkerResult()
    failed: set[str] = set()
    group = spec.batch_size if spec.scenario == "batch" else 1
    items_source = _scan_stream(spec, group)
    try:
        while time.monotonic() < spec.start_at:
            time.sleep(0.001)
        while True:
            started = time.monotonic()
            if started >= spec.stop_at:
                break
            try:
                outcome = _one_request(spec, items_source, failed)
            except (OSError, ValueError) as error:  # no answer, or not one we understand
                key = f"request failed: {type(error).__name__}"
                lost = spec.batch_size if spec.scenario == "batch" else 1
                outcome = (False, 0, [(key, str(error))] * lost, [])
            if outcome is None:
                result.out_of_work = True
                break
            ok, events, errors, _ = outcome
            finished = time.monotonic()
            result.events_all_phases += events
            if started < spec.measure_from or finished > spec.stop_at:
                continue
            result.requests += 1
            result.latencies.append(finished - started)
            result.ok += bool(ok)
            result.events += events
            for key, detail in errors:
                result.errors[key] += 1
                result.samples.setdefault(key, detail[:300])
    except KeyboardInterrupt:  # Ctrl-C reaches the whole group: the parent reports it
        return
    except Exception as error:  # reported to the parent, then re-raised
        result.crashed = f"{type(error).__name__}: {error}"
        queue.put(result)
        raise
    queue.put(result)


@dataclass
class CpuUse:
    """CPU used during a measured window, in CPU seconds (Linux /proc; NaN elsewhere)."""

    busy: float = math.nan  # all CPUs of the machine, whoever used them
    interrupts: float = math.nan  # irq and softirq time, which no process is charged for
    app: float = math.nan  # gunicorn: its workers and master
    database: float = math.nan  # PostgreSQL: the bench database's backends and background work
    client: float = math.nan  # the load generator
    seconds: float = math.nan  # the window's length

    @property
    def others(self) -> float:
        """CPU seconds used by everything else on the machine (other people's work)."""
        database = 0.0 if math.isnan(self.database) else self.database
        return self.busy - self.interrupts - self.app - self.client - database


def _cpu_snapshot(server_pid: int, client_pids: set[int],
                  database: bool) -> dict[str, Any] | None:
    """Read the machine's CPU counters and the CPU time of the processes that matter."""
    try:
        with open("/proc/stat") as handle:
            ticks = [int(v) for v in handle.readline().split()[1:9]]
    except OSError:
        return None
    processes: dict[int, tuple[str, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                stat = handle.read()
            pid = int(entry.name)
            rest = stat[stat.rindex(")") + 2:].split()
            used = int(rest[11]) + int(rest[12])
            if server_pid in (pid, int(rest[1])):
                processes[pid] = ("app", used)
            elif pid in client_pids:
                processes[pid] = ("client", used)
            elif database and stat[stat.index("(") + 1:stat.rindex(")")] == "postgres":
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    title = handle.read().decode(errors="replace").split()
                # "postgres: 15/main: USER DATABASE HOST(PORT) STATE" or a background process
                if not any("(" in word for word in title) or PG_DATABASE in title[3:5]:
                    processes[pid] = ("database", used)
        except (OSError, ValueError, IndexError):
            continue
    # irq and softirq time (loopback networking, mostly) belongs to no process
    return {"busy": sum(ticks) - ticks[3] - ticks[4], "interrupts": ticks[5] + ticks[6],
            "total": sum(ticks), "processes": processes}


def _cpu_use(before: dict[str, Any] | None, after: dict[str, Any] | None,
             seconds: float, database: bool) -> CpuUse:
    if before is None or after is None:
        return CpuUse()
    tick = os.sysconf("SC_CLK_TCK")
    groups = {"app": 0, "database": 0, "client": 0}
    for pid, (group, used) in after["processes"].items():
        groups[group] += used - before["processes"].get(pid, (group, 0))[1]
    return CpuUse(busy=(after["busy"] - before["busy"]) / tick,
                  interrupts=(after["interrupts"] - before["interrupts"]) / tick,
                  app=groups["app"] / tick, client=groups["client"] / tick,
                  database=groups["database"] / tick if database else math.nan,
                  seconds=seconds)


@dataclass
class ScenarioResult:
    scenario: str
    label: str
    window: float
    requests: int
    ok: int
    events: int
    p50_ms: float
    p99_ms: float
    errors: Counter
    samples: dict[str, str]
    events_all_phases: int
    out_of_work: int
    cpu: CpuUse

    @property
    def req_per_s(self) -> float:
        return self.ok / self.window

    @property
    def events_per_s(self) -> float:
        return self.events / self.window

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def machine_busy(seconds: float = 1.0) -> float:
    """Return the share of the machine's CPUs busy over `seconds` (NaN without /proc)."""
    try:
        with open("/proc/stat") as handle:
            before = [int(v) for v in handle.readline().split()[1:9]]
        time.sleep(seconds)
        with open("/proc/stat") as handle:
            after = [int(v) for v in handle.readline().split()[1:9]]
    except OSError:
        return math.nan
    delta = [b - a for a, b in zip(before, after, strict=True)]
    return 1 - (delta[3] + delta[4]) / sum(delta) if sum(delta) else math.nan


def _sleep_until(moment: float) -> None:
    while (left := moment - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))


def run_scenario(port: int, server_pid: int, kind: str, scenario: str, token: str,
                 pools: list[list[str]], run_id: str,
                 args: argparse.Namespace) -> ScenarioResult:
    """Drive one scenario with `args.concurrency` processes; return what they measured."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start_at = time.monotonic() + 0.5
    measure_from = start_at + args.warmup
    stop_at = measure_from + args.seconds
    processes = []
    try:
        for index in range(args.concurrency):
            spec = WorkerSpec(port=port, scenario=scenario, token=token,
                              codes=pools[index] if pools else [],
                              prefix=f"{run_id}{scenario[:2]}{index}", batch_size=args.batch_size,
                              start_at=start_at, measure_from=measure_from, stop_at=stop_at)
            process = context.Process(target=load_worker, args=(spec, queue), daemon=True)
            process.start()
            processes.append(process)
        client_pids = {p.pid for p in processes if p.pid is not None}
        _sleep_until(measure_from)
        postgres = kind == "postgresql"
        before = _cpu_snapshot(server_pid, client_pids, postgres)
        _sleep_until(stop_at)
        cpu = _cpu_use(before, _cpu_snapshot(server_pid, client_pids, postgres),
                       args.seconds, postgres)
        results: list[WorkerResult] = []
        deadline = stop_at + 300
        while len(results) < len(processes):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{scenario}: load generator processes did not finish")
            try:
                results.append(queue.get(timeout=min(remaining, 5)))
            except Exception:  # queue.Empty: check that the processes are still alive
                if all(not p.is_alive() for p in processes) and queue.empty():
                    raise BenchError(f"{scenario}: load generator processes died") from None
        for process in processes:
            process.join(timeout=10)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
    crashed = [r.crashed for r in results if r.crashed]
    if crashed:
        raise BenchError(f"{scenario}: load generator crashed: {crashed[0]}")
    latencies = sorted(x for r in results for x in r.latencies)
    errors: Counter = Counter()
    samples: dict[str, str] = {}
    for r in results:
        errors.update(r.errors)
        for key, detail in r.samples.items():
            samples.setdefault(key, detail)
    label = LABELS[scenario].format(n=args.batch_size)
    return ScenarioResult(
        scenario=scenario, label=label, window=args.seconds,
        requests=sum(r.requests for r in results), ok=sum(r.ok for r in results),
        events=sum(r.events for r in results),
        p50_ms=_percentile(latencies, 0.50) * 1000, p99_ms=_percentile(latencies, 0.99) * 1000,
        errors=errors, samples=samples,
        events_all_phases=sum(r.events_all_phases for r in results),
        out_of_work=sum(r.out_of_work for r in results), cpu=cpu)


# ------------------------------------------------------------------ the database


def postgres_reachable() -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(f"{PG_SERVER} dbname=postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def prepare_postgres() -> str:
    """Create the database `bench` if missing and drop every table in it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{PG_SERVER} dbname=postgres", autocommit=True,
                         connect_timeout=5) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (PG_DATABASE,)).fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PG_DATABASE)))
    with psycopg.connect(f"{PG_SERVER} dbname={PG_DATABASE}", autocommit=True,
                         connect_timeout=5) as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        if tables:
            connection.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(
                sql.SQL(", ").join(sql.Identifier("public", t) for t in tables)))
    return PG_URL


def _on_maintenance_database(url: str, *statements: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"{url.rsplit('/', 1)[0]}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def recreate_postgres(url: str) -> None:
    """Make the database a SQLAlchemy URL names anew and empty (dropping an old one)."""
    name = url.rsplit("/", 1)[1]
    _on_maintenance_database(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                             f'CREATE DATABASE "{name}"')


def drop_postgres(url: str) -> None:
    """Drop the database a SQLAlchemy URL names, closing its connections."""
    _on_maintenance_database(url, f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def analyze_postgres() -> None:
    """Refresh the planner's statistics, as autovacuum does for a database in service.

    The tables grow from empty to tens of thousands of rows within the first
    minute, faster than autovacuum's first round: on the statistics of the empty
    tables the planner reads every row of `component` and `event` per batch.
    """
    import psycopg

    with psycopg.connect(f"{PG_SERVER} dbname={PG_DATABASE}", autocommit=True) as connection:
        connection.execute("ANALYZE")


def settle(kind: str, sqlite_path: Path | None) -> None:
    """Start every scenario from the same state: the log checkpointed, the machine idle."""
    if kind == "sqlite":
        connection = sqlite3.connect(sqlite_path, timeout=30)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
    else:
        import psycopg

        with psycopg.connect(f"{PG_SERVER} dbname={PG_DATABASE}", autocommit=True) as connection:
            connection.execute("CHECKPOINT")
    time.sleep(1)


def create_bench_table(kind: str, sqlite_path: Path | None) -> None:
    """Create `bench_row` with plain SQL (outside the migrations)."""
    if kind == "sqlite":
        with sqlite3.connect(sqlite_path) as connection:
            connection.execute("CREATE TABLE bench_row (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                               "payload TEXT, created_at TIMESTAMP)")
        return
    import psycopg

    with psycopg.connect(f"{PG_SERVER} dbname={PG_DATABASE}", autocommit=True) as connection:
        connection.execute("CREATE TABLE bench_row (id BIGINT GENERATED BY DEFAULT AS IDENTITY "
                           "PRIMARY KEY, payload TEXT, created_at TIMESTAMPTZ)")


def count_stored(kind: str, sqlite_path: Path | None, run_id: str) -> tuple[int, int]:
    """Return (rows in bench_row, events whose client_event_id starts with run_id)."""
    queries = ("SELECT count(*) FROM bench_row",
               "SELECT count(*) FROM event WHERE client_event_id LIKE '" + run_id + "%'")
    if kind == "sqlite":
        with sqlite3.connect(sqlite_path) as connection:
            rows, events = (connection.execute(q).fetchone()[0] for q in queries)
        return rows, events
    import psycopg

    with psycopg.connect(f"{PG_SERVER} dbname={PG_DATABASE}") as connection:
        rows, events = (connection.execute(q).fetchone()[0] for q in queries)
    return rows, events


# ------------------------------------------------------------------- the server


def run_flask(env: dict[str, str], *arguments: str, log: Path) -> None:
    command = [str(BIN / "flask"), "--app", "app", *arguments]
    with open(log, "ab") as handle:
        handle.write(f"\n$ {' '.join(command)}\n".encode())
        handle.flush()
        completed = subprocess.run(command, cwd=ROOT, env=env, stdout=handle,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   check=False)
    if completed.returncode != 0:
        raise BenchError(f"`flask {' '.join(arguments)}` failed ({completed.returncode}):\n"
                         + _tail(log))


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, args: argparse.Namespace,
                   log: Path) -> subprocess.Popen:
    command = [str(BIN / "gunicorn"), "--workers", str(args.workers),
               "--bind", f"127.0.0.1:{port}", "--timeout", "300", "--graceful-timeout", "5",
               "--no-control-socket", args.wsgi]
    with open(log, "ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def wait_healthy(server: subprocess.Popen, port: int, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"gunicorn exited ({server.returncode}):\n{_tail(log)}")
        try:
            status, body = http(port, "GET", "/health", timeout=30)
            if status == 200:
                return
            last = f"{status} {body[:300].decode(errors='replace')}"
        except OSError as error:
            last = str(error)
        time.sleep(0.2)
    raise BenchError(f"GET /health did not answer 200 within {timeout:.0f} s ({last}):\n"
                     + _tail(log))


def stop_gunicorn(server: subprocess.Popen) -> None:
    """Stop the gunicorn master we started (and so its workers)."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # its own session: only what we started
            server.wait(timeout=10)


# ---------------------------------------------------------------------- set-up


def import_components(port: int, token: str, project_id: int, count: int) -> list[str]:
    """Import `count` components in CSV requests of at most 20,000 rows; return codes."""
    return [code for _, code in import_pieces(port, token, project_id, count)]


def import_pieces(port: int, token: str, project_id: int,
                  count: int) -> list[tuple[int, str]]:
    """Import `count` components in CSV requests of at most 20,000 rows; return (id, code)."""
    pieces: list[tuple[int, str]] = []
    while len(pieces) < count:
        rows = min(IMPORT_MAX_ROWS, count - len(pieces))
        first = len(pieces) + 1
        body = "mark,type\n" + "".join(f"B-{n},{COMPONENT_TYPE}\n"
                                       for n in range(first, first + rows))
        answer = http_json(port, "POST", f"/api/v1/projects/{project_id}/components/import",
                           token=token, expect=201, body=body.encode(),
                           content_type="text/csv")
        if answer["imported"] != rows:
            raise BenchError(f"import answered {answer['imported']} for {rows} rows")
        pieces.extend(zip(answer["ids"], answer["codes"], strict=True))
    return pieces


# ------------------------------------------------------------- load scans


@dataclass
class LoadScanResult:
    pieces: int
    rounds: int
    single_ms: list[float]
    load_ms: list[float]
    errors: Counter

    @property
    def single_p50(self) -> float:
        return _percentile(sorted(self.single_ms), 0.5)

    @property
    def load_p50(self) -> float:
        return _percentile(sorted(self.load_ms), 0.5)


def _drive(port: int, token: str, codes: list[str], actions: list[str], prefix: str) -> None:
    """Move components along with batch scans (set-up, not measured)."""
    for action in actions:
        for start in range(0, len(codes), 500):
            items = [{"code": code, "action": action, "client_event_id": f"{prefix}-{action}-"
                      f"{start + n}"} for n, code in enumerate(codes[start:start + 500])]
            answer = http_json(port, "POST", "/api/v1/scans/batch", {"items": items}, token,
                               expect=200)
            if answer["accepted"] != len(items):
                raise BenchError(f"set-up {action}: {answer['rejected']} scans refused")


def run_load_scans(port: int, token: str, project_id: int, run_id: str,
                   args: argparse.Namespace) -> LoadScanResult:
    """Receive `--load-rounds` loads and as many single components, alternating, one at a time."""
    rounds, pieces = args.load_rounds, args.load_pieces
    imported = import_pieces(port, token, project_id, rounds * (pieces + 1))
    singles = imported[:rounds]
    loaded = imported[rounds:]
    _drive(port, token, [code for _, code in imported],
           ["cast", "demould", "qc_pass", "store"], f"{run_id}ls")
    _drive(port, token, [code for _, code in singles], ["load", "depart"], f"{run_id}ls")
    loads = []
    for index in range(rounds):
        ids = [i for i, _ in loaded[index * pieces:(index + 1) * pieces]]
        load = http_json(port, "POST", "/api/v1/loads", {
            "project_id": project_id, "component_ids": ids}, token, expect=201)
        for action in ("load", "depart"):
            http_json(port, "POST", f"/api/v1/loads/{load['id']}/scans", {
                "action": action, "client_event_id": f"{run_id}ls-{action}-{index}"}, token,
                expect=201)
        loads.append(load["id"])
    result = LoadScanResult(pieces, rounds, [], [], Counter())
    for index in range(rounds):
        single = json.dumps({"code": singles[index][1], "action": "arrive",
                             "client_event_id": f"{run_id}lsa-{index}"}).encode()
        whole = json.dumps({"action": "arrive", "client_event_id": f"{run_id}lla-{index}"})
        for kind, path, body in (("single", "/api/v1/scans", single),
                                 ("load", f"/api/v1/loads/{loads[index]}/scans",
                                  whole.encode())):
            started = time.monotonic()
            status, answer = http(port, "POST", path, body, "application/json", token)
            elapsed = (time.monotonic() - started) * 1000
            if status != 201:
                key, _ = _problem_key(status, answer)
                result.errors[f"{kind}: {key}"] += 1
                continue
            (result.single_ms if kind == "single" else result.load_ms).append(elapsed)
    return result


def pool_sizes(args: argparse.Namespace) -> tuple[int, int]:
    """Components per connection for (b) and (c), from the rate bounds."""
    duration = args.warmup + args.seconds + 1
    steps = len(ROUTE)
    single = math.ceil(SINGLE_RATE_BOUND * duration / steps / args.concurrency)
    batch = math.ceil(BATCH_RATE_BOUND * duration / steps / args.concurrency / args.batch_size)
    return single, batch * args.batch_size


@dataclass
class DatabaseRun:
    kind: str
    url: str
    results: list[ScenarioResult]
    setup_seconds: float
    components: int
    import_seconds: float
    stored_rows: int
    stored_events: int
    busy_before: float  # share of the machine busy before the runs, with the server idle
    load_scans: LoadScanResult | None = None


def run_database(kind: str, args: argparse.Namespace) -> DatabaseRun:
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="prefabtrace-bench-"))
    log = workdir / "server.log"
    server = None
    try:
        sqlite_path = workdir / "bench.db" if kind == "sqlite" else None
        url = f"sqlite:///{sqlite_path}" if kind == "sqlite" else prepare_postgres()
        env = dict(os.environ, DATABASE_URL=url)
        print(f"[{kind}] migrating and loading the demo ({url})", flush=True)
        run_flask(env, "db", "upgrade", log=log)
        tokens_path = workdir / "tokens.json"
        run_flask(env, "demo", "load", "--tokens", str(tokens_path), log=log)
        token = json.loads(tokens_path.read_text())["admin"]
        create_bench_table(kind, sqlite_path)

        # As in production (deploy/gunicorn.conf.py): metrics shared between the workers.
        env["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / "metrics")
        os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"])
        port = free_port()
        print(f"[{kind}] starting gunicorn ({args.workers} workers) on 127.0.0.1:{port}",
              flush=True)
        server = start_gunicorn(env, port, args, log)
        wait_healthy(server, port, log)

        project = http_json(port, "POST", "/api/v1/projects", {
            "code": "BENCH-1", "name": "bench", "region_code": "330106"}, token, expect=201)
        http_json(port, "POST", f"/api/v1/projects/{project['id']}/component-types",
                  {"name": COMPONENT_TYPE, "category": "slab"}, token, expect=201)
        single_each, batch_each = pool_sizes(args) if not args.load_scans_only else (0, 0)
        total = (single_each + batch_each) * args.concurrency
        print(f"[{kind}] importing {total:,} components", flush=True)
        import_began = time.monotonic()
        codes = import_components(port, token, project["id"], total)
        import_seconds = time.monotonic() - import_began
        if kind == "postgresql":
            analyze_postgres()
        split = single_each * args.concurrency
        single_pools = [codes[i * single_each:(i + 1) * single_each]
                        for i in range(args.concurrency)]
        batch_pools = [codes[split + i * batch_each:split + (i + 1) * batch_each]
                       for i in range(args.concurrency)]
        setup_seconds = time.monotonic() - began

        idle_busy = machine_busy()
        run_id = uuid.uuid4().hex[:10]
        results = []
        for scenario, pools in () if args.load_scans_only else (
                ("baseline", []), ("single", single_pools), ("batch", batch_pools)):
            settle(kind, sqlite_path)
            print(f"[{kind}] {scenario}: {args.warmup:g} s warm-up + {args.seconds:g} s, "
                  f"{args.concurrency} connections", flush=True)
            results.append(run_scenario(port, server.pid, kind, scenario, token, pools, run_id,
                                        args))
        stored_rows, stored_events = count_stored(kind, sqlite_path, run_id)
        load_scans = None
        if args.load_rounds:
            settle(kind, sqlite_path)
            print(f"[{kind}] load scans: {args.load_rounds} loads of {args.load_pieces} and "
                  f"{args.load_rounds} single scans, one at a time", flush=True)
            load_scans = run_load_scans(port, token, project["id"], run_id, args)
        return DatabaseRun(kind, url, results, setup_seconds, total, import_seconds,
                           stored_rows, stored_events, idle_busy, load_scans)
    finally:
        if server is not None:
            stop_gunicorn(server)
        if args.keep:
            print(f"[{kind}] kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------- report


def _number(value: float, digits: int = 0) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def report(run: DatabaseRun, args: argparse.Namespace) -> None:
    name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[run.kind]
    print()
    print(f"== {name}: {run.url}")
    print(f"   gunicorn {args.workers} sync workers, {args.concurrency} connections, "
          f"{args.seconds:g} s per scenario after {args.warmup:g} s warm-up, "
          f"{os.cpu_count()} CPUs")
    analyzed = "; ANALYZE after the import" if run.kind == "postgresql" else ""
    print(f"   set-up {run.setup_seconds:.0f} s ({run.components:,} components imported in "
          f"{run.import_seconds:.1f} s{analyzed}); machine {_number(run.busy_before * 100)} % busy "
          "before the runs with the server idle")
    if not run.results:  # --load-scans-only
        report_load_scans(run.load_scans)
        return
    header = (f"{'scenario':<22}{'requests':>10}{'req/s':>10}{'events/s':>11}"
              f"{'p50 ms':>9}{'p99 ms':>9}{'errors':>9}")
    print(header)
    print("-" * len(header))
    for r in run.results:
        print(f"{r.label:<22}{r.requests:>10,}{_number(r.req_per_s):>10}"
              f"{_number(r.events_per_s):>11}{_number(r.p50_ms, 1):>9}"
              f"{_number(r.p99_ms, 1):>9}{r.error_count:>9,}")
    by = {r.scenario: r for r in run.results}
    print(f"CPU in the measured windows ({os.cpu_count()} CPUs; per answered request):")
    for r in run.results:
        print(f"   {r.label:<20} {_cpu_line(r)}")
    for r in run.results:
        for key, count in r.errors.most_common():
            print(f"   {r.scenario} error: {count:,} x {key}: {r.samples.get(key, '')}")
        if r.cpu.others > OTHERS_WARNING * (os.cpu_count() or 1) * r.cpu.seconds:
            print(f"   WARNING {r.scenario}: other processes on this machine used "
                  f"{r.cpu.others / r.cpu.seconds:.2f} CPUs during the window: "
                  "the numbers are low; run again on a quiet machine")
        if r.out_of_work:
            print(f"   WARNING {r.scenario}: {r.out_of_work} connections ran out of "
                  "components: its rate is a lower bound (raise the rate bounds)")
    baseline, single, batch = by["baseline"], by["single"], by["batch"]
    ratio = single.req_per_s / baseline.req_per_s if baseline.req_per_s else math.nan
    print(f"(b)/(a) in req/s: {_number(ratio, 2)}")
    print(_verdict(f"(b) single >= {RATIO_TARGET} x (a) baseline", single.req_per_s,
                   RATIO_TARGET * baseline.req_per_s, "req/s"))
    print(_verdict(f"(c) batch >= {BATCH_TARGETS[run.kind]:,} events/s", batch.events_per_s,
                   BATCH_TARGETS[run.kind], "events/s"))
    told = baseline.events_all_phases
    seen = single.events_all_phases + batch.events_all_phases
    check = "ok" if (run.stored_rows, run.stored_events) == (told, seen) else "MISMATCH"
    print(f"stored check: {run.stored_rows:,} bench_row rows for {told:,} answered 201; "
          f"{run.stored_events:,} events for {seen:,} reported accepted: {check}")
    if run.load_scans is not None:
        report_load_scans(run.load_scans)


def report_load_scans(result: LoadScanResult) -> None:
    """Print the load scan against the single scan, one request at a time."""
    print(f"load scans, one request at a time ({result.rounds} rounds, alternating):")
    header = f"{'scenario':<26}{'requests':>10}{'events':>8}{'p50 ms':>9}{'max ms':>9}"
    print(header)
    print("-" * len(header))
    for label, values, events in (("(b') single scan (arrive)", result.single_ms, 1),
                                  (f"(d) load of {result.pieces} (arrive)", result.load_ms,
                                   result.pieces)):
        ordered = sorted(values)
        print(f"{label:<26}{len(values):>10}{events:>8}"
              f"{_number(_percentile(ordered, 0.5), 1):>9}"
              f"{_number(ordered[-1] if ordered else math.nan, 1):>9}")
    for key, count in result.errors.most_common():
        print(f"   load scans error: {count} x {key}")
    ratio = result.load_p50 / result.single_p50 if result.single_p50 else math.nan
    print(f"(d)/(b') median latency: {_number(ratio, 2)}")
    limit = LOAD_SCAN_TARGET * result.single_p50
    verdict = "PASS" if result.load_p50 <= limit else "FAIL"
    print(f"target (d) load of {result.pieces} <= {LOAD_SCAN_TARGET:g} x (b') single scan: "
          f"{verdict} ({_number(result.load_p50, 1)} ms, limit {_number(limit, 1)} ms)")


def _cpu_line(r: ScenarioResult) -> str:
    cpu = r.cpu
    if math.isnan(cpu.busy):
        return "(no /proc: not measured)"
    capacity = (os.cpu_count() or 1) * cpu.seconds
    per = 1000 / r.requests if r.requests else math.nan
    line = (f"machine {cpu.busy / capacity * 100:3.0f} % busy "
            f"(interrupts {cpu.interrupts / capacity * 100:2.0f} %, "
            f"others {max(cpu.others, 0) / capacity * 100:2.0f} %); "
            f"per request: app {_number(cpu.app * per, 2)} ms")
    if not math.isnan(cpu.database):
        line += f", PostgreSQL {_number(cpu.database * per, 2)} ms"
    line += f", load generator {_number(cpu.client * per, 2)} ms"
    if r.scenario == "batch" and r.events:
        line += f"; app {cpu.app / r.events * 1e6:,.0f} us per event"
    return line


def _verdict(name: str, got: float, needed: float, unit: str) -> str:
    if got >= needed:
        return f"target {name}: PASS ({got:,.0f} {unit}, needed {needed:,.0f})"
    short = (needed - got) / needed * 100 if needed else 0
    return (f"target {name}: FAIL ({got:,.0f} {unit}, needed {needed:,.0f}: "
            f"{short:.0f} % short, x{needed / got if got else math.inf:.2f} needed)")


# ----------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default=None,
                        help="default: both when PostgreSQL is reachable, else sqlite")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted time before it")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--batch-size", type=int, default=500, help="scans per batch request")
    parser.add_argument("--wsgi", default="bench.capture_app:app",
                        help="the app gunicorn serves (to compare a change; it must also "
                        "answer POST /bench/baseline)")
    parser.add_argument("--load-rounds", type=int, default=30,
                        help="loads received (and single scans) in the load scan comparison; "
                        "0 skips it")
    parser.add_argument("--load-pieces", type=int, default=20, help="components per load")
    parser.add_argument("--load-scans-only", action="store_true",
                        help="skip (a) to (c): only the load scan comparison")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (server log, SQLite file)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0 or args.concurrency < 1 or args.workers < 1:
        parser.error("--seconds, --concurrency and --workers must be positive")
    if not 1 <= args.batch_size <= 500:
        parser.error("--batch-size is 1 to 500")
    if args.load_rounds < 0 or not 1 <= args.load_pieces <= 500:
        parser.error("--load-rounds is 0 or more, --load-pieces 1 to 500")
    if args.load_scans_only and not args.load_rounds:
        parser.error("--load-scans-only needs --load-rounds above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (BIN / "gunicorn").exists():
        print(f"no virtualenv at {BIN.parent}: run `make setup` first", file=sys.stderr)
        return 2
    return run_per_database(args, run_database, lambda run: report(run, args), "benchmark")


def run_per_database(args: argparse.Namespace, run, report, what: str) -> int:
    """Run `run(kind, args)` on the chosen databases, then `report` each run; the exit status.

    `args.database` is sqlite, postgresql, both, or None (both when PostgreSQL answers).
    """
    reachable = postgres_reachable()
    if args.database is None:
        args.database = "both" if reachable else "sqlite"
        if not reachable:
            print("PostgreSQL is not reachable at 127.0.0.1:5432: SQLite only", flush=True)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if "postgresql" in kinds and not reachable:
        print("PostgreSQL is not reachable at 127.0.0.1:5432", file=sys.stderr)
        return 2
    began = time.monotonic()
    runs = []
    try:
        for kind in kinds:
            runs.append(run(kind, args))
    except BenchError as error:
        print(f"{what} failed to run: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    for finished in runs:
        report(finished)
    print(f"\ntotal time {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
