"""Crash test: does PrefabTrace lose or double an acknowledged scan when its processes die?

Run from the repository root:

    .venv/bin/python bench/crash.py [--database both] [--scanners 6] [--workers 2]

For each database (SQLite in a temporary directory; PostgreSQL in a database
`bench_crash` created for the run and dropped after it, when 127.0.0.1:5432
answers) it migrates an empty database, loads the demo (for the tokens) and
serves everything through the supervisor `make run` uses (scripts/serve.py:
gunicorn with deploy/gunicorn.conf.py, the ledger sealer, the webhook
deliverer; JOBS=inline) on a free loopback port, then imports components.

Scanners (threads) each move their own components through the lifecycle,
one `POST /api/v1/scans` at a time with a unique client_event_id, and re-send
a scan until it is acknowledged (201, or 200 for a replay) — after a refused
connection, a reset, or a 5xx (a 503's Retry-After is honoured, up to 1 s).
Meanwhile, under that load:

  1. every gunicorn process (master and workers) is killed with SIGKILL,
     `--web-kills` times; the supervisor starts gunicorn again (the time until
     /health answers 200 again is reported);
  2. the ledger sealer is killed with SIGKILL, `--sealer-kills` times; the
     supervisor starts it again;
  3. on PostgreSQL, every connection of the app is cut with
     pg_terminate_backend, `--terminations` times.

Then the scanners stop taking new work, finish re-sending what is not yet
acknowledged (for at most `--drain` seconds), and the database is read:
per client_event_id, how many scans were acknowledged, stored, lost
(acknowledged but not stored), stored twice, stored but never acknowledged.
Whether the sealer still seals: the time from the end of the load until
every event is sealed, and the time until one new scan is sealed — beside
the same time measured before the crashes. Finally `flask ledger verify`
checks the hash chain. A table per engine.

Bounded: about a minute of load per engine (--warmup, --gap), loopback
only, everything started here is stopped here. Exit status 0 unless the
benchmark itself could not run; losses are results, printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.capture import (  # noqa: E402
    CLIENT_TIME,
    PG_SERVER,
    ROUTE,
    BenchError,
    free_port,
    http,
    http_json,
    import_components,
    run_per_database,
)

PG_DATABASE = "bench_crash"
PG_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DATABASE}"
COMPONENTS_PER_SCANNER = 1_500


# ------------------------------------------------------------------ the scanners


@dataclass
class ScannerResult:
    sent: list[str] = field(default_factory=list)  # client_event_ids, in order
    acked: set[str] = field(default_factory=set)
    replayed: set[str] = field(default_factory=set)  # acknowledged by a 200 to a re-send
    unacked: list[str] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)  # 4xx: not retried
    answers: Counter = field(default_factory=Counter)  # statuses and failures while sending
    out_of_work: bool = False


class Scanner(threading.Thread):
    """One phone: scans its components in lifecycle order, re-sending until acknowledged."""

    def __init__(self, index: int, port: int, token: str, codes: list[str], run_id: str,
                 stop: threading.Event, give_up: threading.Event):
        super().__init__(daemon=True)
        self.index, self.port, self.token, self.codes = index, port, token, codes
        self.run_id, self.stop, self.give_up = run_id, stop, give_up
        self.result = ScannerResult()

    def run(self) -> None:
        sequence = 0
        for code in self.codes:
            for action, data in ROUTE:
                if self.stop.is_set():
                    return
                sequence += 1
                item = {"code": code, "action": action, "client_time": CLIENT_TIME,
                        "client_event_id": f"{self.run_id}-{self.index}-{sequence}"}
                if data:
                    item["data"] = data
                self.result.sent.append(item["client_event_id"])
                outcome = self._send_until_acked(item)
                if outcome == "unacked":
                    self.result.unacked.append(item["client_event_id"])
                    return
                if outcome == "rejected":
                    break  # this component cannot go on; take the next
        self.result.out_of_work = True

    def _send_until_acked(self, item: dict) -> str:
        body = json.dumps(item).encode()
        while (answered := self.post("/api/v1/scans", body, timeout=30)) is not None:
            status, answer = answered
            if status in (200, 201):
                self.result.answers[f"HTTP {status}"] += 1
                self.result.acked.add(item["client_event_id"])
                if status == 200:  # stored by an attempt whose answer never came
                    self.result.replayed.add(item["client_event_id"])
                return "acked"
            if self.refused(status, answer):
                return "rejected"
        return "unacked"

    def post(self, path: str, body: bytes, timeout: float) -> tuple[int, bytes] | None:
        """POST JSON until an answer comes (none is counted, then re-sent); None: given up."""
        while not self.give_up.is_set():
            try:
                return http(self.port, "POST", path, body, "application/json", self.token,
                            timeout=timeout)
            except (OSError, ValueError) as error:
                self.result.answers[f"no answer ({type(error).__name__})"] += 1
                time.sleep(0.2)
        return None

    def refused(self, status: int, answer: bytes) -> bool:
        """Count an answer that acknowledged nothing; True for a 4xx (re-sending cannot help).

        After a 5xx, wait a little before the re-send.
        """
        kind = _problem_type(answer)
        self.result.answers[f"HTTP {status} {kind}".strip()] += 1
        if status < 500:
            self.result.rejected[f"HTTP {status} {kind}"] += 1
            return True
        time.sleep(1.0 if status == 503 else 0.2)  # Retry-After: 5, shortened here
        return False


def _problem_type(body: bytes) -> str:
    try:
        return str(json.loads(body).get("type", "")).rsplit("/", 1)[-1]
    except (ValueError, AttributeError):
        return "(not JSON)"


# ------------------------------------------------------------------ the database


def prepare_postgres() -> str:
    """Create the database bench_crash afresh (dropping an old one)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{PG_SERVER} dbname=postgres", autocommit=True,
                         connect_timeout=5) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(PG_DATABASE)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PG_DATABASE)))
    return PG_URL


def drop_postgres() -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{PG_SERVER} dbname=postgres", autocommit=True,
                         connect_timeout=5) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(PG_DATABASE)))


def terminate_app_connections() -> int:
    """Cut every connection to bench_crash (the app's, all of them); return how many."""
    import psycopg

    with psycopg.connect(f"{PG_SERVER} dbname=postgres", autocommit=True,
                         connect_timeout=5) as connection:
        return len(connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (PG_DATABASE,)).fetchall())


class Database:
    """Reads the run's events straight from the database (no app in between)."""

    def __init__(self, kind: str, sqlite_path: Path | None):
        self.kind, self.sqlite_path = kind, sqlite_path

    def query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        if self.kind == "sqlite":
            with sqlite3.connect(self.sqlite_path, timeout=30) as connection:
                return connection.execute(sql.replace("%s", "?"), parameters).fetchall()
        import psycopg

        with psycopg.connect(f"{PG_SERVER} dbname={PG_DATABASE}", connect_timeout=5) as c:
            return c.execute(sql, parameters).fetchall()

    def stored(self, run_id: str) -> Counter:
        """How many events each client_event_id of the run has."""
        return Counter({cid: n for cid, n in self.query(
            "SELECT client_event_id, count(*) FROM event WHERE client_event_id LIKE %s "
            "GROUP BY client_event_id", (f"{run_id}-%",))})

    def unsealed(self) -> int:
        return self.query("SELECT count(*) FROM event WHERE sequence IS NULL")[0][0]

    def sealed(self, client_event_id: str) -> bool:
        rows = self.query("SELECT sequence FROM event WHERE client_event_id = %s",
                          (client_event_id,))
        return bool(rows) and rows[0][0] is not None


# ------------------------------------------------------------------ the services


class Services:
    """scripts/serve.py and what it runs, with the pids read from its log."""

    def __init__(self, env: dict[str, str], port: int, workers: int, log: Path):
        self.log, self.port = log, port
        with open(log, "ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "scripts/serve.py", "--port", str(port), "--workers",
                 str(workers), "--backoff-first", "0.5", "--backoff-max", "5",
                 "--stable", "5", "--stop-timeout", "30"],
                cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)

    def pids(self, name: str) -> list[int]:
        """Every pid the supervisor gave the service, oldest first."""
        text = self.log.read_text(errors="replace")
        return [int(p) for p in re.findall(rf"serve: {re.escape(name)} started \(pid (\d+)\)",
                                           text)]

    def wait_started(self, name: str, after: int = 0, limit_s: float = 60) -> float:
        """Wait until the service was started more than `after` times; return the wait."""
        began = time.monotonic()
        while len(self.pids(name)) <= after:
            if self.process.poll() is not None:
                raise BenchError(f"the supervisor exited:\n{_tail(self.log)}")
            if time.monotonic() - began > limit_s:
                raise BenchError(f"{name} was not started again:\n{_tail(self.log)}")
            time.sleep(0.02)
        return time.monotonic() - began

    def wait_healthy(self, limit_s: float = 90) -> float:
        """Wait until GET /health answers 200; return how long it took."""
        began = time.monotonic()
        while True:
            try:
                if http(self.port, "GET", "/health", timeout=5)[0] == 200:
                    return time.monotonic() - began
            except OSError:
                pass
            if self.process.poll() is not None:
                raise BenchError(f"the supervisor exited:\n{_tail(self.log)}")
            if time.monotonic() - began > limit_s:
                raise BenchError(f"/health did not answer 200 in {limit_s:.0f} s:\n"
                                 + _tail(self.log))
            time.sleep(0.05)

    def kill_web(self) -> int:
        """SIGKILL the gunicorn master and all its workers at once; return how many."""
        master = self.pids("web")[-1]
        victims = [master] + _children(master)
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(victims)

    def kill_sealer(self) -> None:
        os.kill(self.pids("sealer")[-1], signal.SIGKILL)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as handle:
                    stat = handle.read()
                if int(stat[stat.rindex(")") + 2:].split()[1]) == parent:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_flask(env: dict[str, str], log: Path, *arguments: str) -> str:
    command = [sys.executable, "-m", "flask", "--app", "app", *arguments]
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, check=False)
    with open(log, "a") as handle:
        handle.write(f"\n$ flask {' '.join(arguments)}\n{completed.stdout}{completed.stderr}")
    # `ledger verify` exits 1 on a broken chain: a result to print, not a failed run.
    allowed = (0, 1) if arguments[:2] == ("ledger", "verify") else (0,)
    if completed.returncode not in allowed:
        raise BenchError(f"`flask {' '.join(arguments)}` failed ({completed.returncode}):\n"
                         + completed.stderr[-3000:])
    return completed.stdout


# ------------------------------------------------------------------ one engine


@dataclass
class EngineRun:
    kind: str
    url: str
    scanners: int
    workers: int
    load_s: float
    web_outages: list[float]
    sealer_restarts: list[float]
    terminations: list[int]
    results: list[ScannerResult]
    stored: Counter
    run_id: str
    seal_before_s: float
    caught_up_s: float | None
    seal_after_s: float | None
    verify: str


def _probe_seal(port: int, token: str, code: str, database: Database, run_id: str,
                name: str, limit_s: float = 30) -> float | None:
    """Scan once; return the seconds until that event is sealed (None: not within limit_s)."""
    client_event_id = f"{run_id}-probe-{name}"
    item = {"code": code, "action": "cast", "client_event_id": client_event_id,
            "client_time": CLIENT_TIME}
    deadline = time.monotonic() + limit_s
    while True:
        try:
            status, _ = http(port, "POST", "/api/v1/scans", json.dumps(item).encode(),
                             "application/json", token)
            if status in (200, 201):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)
    began = time.monotonic()
    while not database.sealed(client_event_id):
        if time.monotonic() - began > limit_s:
            return None
        time.sleep(0.05)
    return time.monotonic() - began


def run_engine(kind: str, args: argparse.Namespace) -> EngineRun:
    workdir = Path(tempfile.mkdtemp(prefix="prefabtrace-crash-"))
    log = workdir / "serve.log"
    services = None
    try:
        sqlite_path = workdir / "crash.db" if kind == "sqlite" else None
        url = f"sqlite:///{sqlite_path}" if kind == "sqlite" else prepare_postgres()
        env = {k: v for k, v in os.environ.items() if k not in ("PORT", "WORKERS")}
        env.update(DATABASE_URL=url, JOBS="inline",
                   LABEL_SIGNING_KEY_FILE=str(workdir / "label-signing-key.pem"))
        database = Database(kind, sqlite_path)
        print(f"[{kind}] migrating and loading the demo ({url})", flush=True)
        run_flask(env, log, "db", "upgrade")
        tokens_path = workdir / "tokens.json"
        run_flask(env, log, "demo", "load", "--tokens", str(tokens_path))
        token = json.loads(tokens_path.read_text())["admin"]

        port = free_port()
        print(f"[{kind}] starting scripts/serve.py (gunicorn {args.workers} workers, sealer, "
              f"webhooks) on 127.0.0.1:{port}", flush=True)
        services = Services(env, port, args.workers, log)
        services.wait_healthy()
        services.wait_started("sealer")
        project = http_json(port, "POST", "/api/v1/projects", {
            "code": "CRASH-1", "name": "crash test", "region_code": "330106"}, token,
            expect=201)
        http_json(port, "POST", f"/api/v1/projects/{project['id']}/component-types",
                  {"name": "slab", "category": "slab"}, token, expect=201)
        total = args.scanners * COMPONENTS_PER_SCANNER + 2
        codes = import_components(port, token, project["id"], total)
        probes, codes = codes[:2], codes[2:]
        run_id = uuid.uuid4().hex[:8]
        seal_before = _probe_seal(port, token, probes[0], database, run_id, "before")
        if seal_before is None:
            raise BenchError("the sealer did not seal a scan before the crashes")

        stop, give_up = threading.Event(), threading.Event()
        scanners = [Scanner(n, port, token,
                            codes[n * COMPONENTS_PER_SCANNER:(n + 1) * COMPONENTS_PER_SCANNER],
                            run_id, stop, give_up) for n in range(args.scanners)]
        print(f"[{kind}] load: {args.scanners} scanners; crashes every {args.gap:g} s",
              flush=True)
        load_began = time.monotonic()
        for scanner in scanners:
            scanner.start()
        web_outages, sealer_restarts, terminations = [], [], []
        time.sleep(args.warmup)
        for _ in range(args.web_kills):
            starts = len(services.pids("web"))
            killed = services.kill_web()
            began = time.monotonic()
            services.wait_started("web", after=starts)
            services.wait_healthy()
            web_outages.append(time.monotonic() - began)
            print(f"[{kind}]   killed {killed} gunicorn processes: serving again after "
                  f"{web_outages[-1]:.1f} s", flush=True)
            time.sleep(args.gap)
        for _ in range(args.sealer_kills):
            starts = len(services.pids("sealer"))
            services.kill_sealer()
            sealer_restarts.append(services.wait_started("sealer", after=starts))
            print(f"[{kind}]   killed the sealer: started again after "
                  f"{sealer_restarts[-1]:.1f} s", flush=True)
            time.sleep(args.gap)
        if kind == "postgresql":
            for _ in range(args.terminations):
                terminations.append(terminate_app_connections())
                print(f"[{kind}]   cut {terminations[-1]} database connections", flush=True)
                time.sleep(args.gap / 2)
        time.sleep(args.gap)
        stop.set()
        load_s = time.monotonic() - load_began
        for scanner in scanners:  # finish re-sending what is not acknowledged yet
            scanner.join(max(0.1, load_began + load_s + args.drain - time.monotonic()))
        give_up.set()
        for scanner in scanners:
            scanner.join(60)

        began = time.monotonic()
        while database.unsealed() and time.monotonic() - began < 60:
            time.sleep(0.1)
        caught_up = time.monotonic() - began if not database.unsealed() else None
        seal_after = _probe_seal(port, token, probes[1], database, run_id, "after")
        stored = database.stored(run_id)
        services.stop()
        services = None
        verify = run_flask(env, log, "ledger", "verify", "--workers", "1").strip()
        return EngineRun(kind, url, args.scanners, args.workers, load_s, web_outages,
                         sealer_restarts, terminations, [s.result for s in scanners],
                         stored, run_id, seal_before, caught_up, seal_after,
                         verify.splitlines()[-1] if verify else "(no output)")
    finally:
        if services is not None:
            services.stop()
        if kind == "postgresql":
            try:
                drop_postgres()
            except Exception as error:  # reported, the run's figures still stand
                print(f"[{kind}] could not drop {PG_DATABASE}: {error}", file=sys.stderr)
        if args.keep:
            print(f"[{kind}] kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------ report


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{v:.1f} s" for v in values) if values else "-"


def report(run: EngineRun) -> None:
    name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[run.kind]
    print()
    print(f"== {name}: {run.scanners} scanners, gunicorn {run.workers} sync workers, "
          f"{run.load_s:.0f} s of load")
    print(f"{'crash':<48}{'times':>6}  recovery")
    print(f"{'kill -9 gunicorn (master and workers)':<48}{len(run.web_outages):>6}  "
          f"/health 200 again after {_seconds(run.web_outages)}")
    print(f"{'kill -9 ledger sealer':<48}{len(run.sealer_restarts):>6}  "
          f"started again by the supervisor after {_seconds(run.sealer_restarts)}")
    if run.kind == "postgresql":
        print(f"{'pg_terminate_backend (every app connection)':<48}"
              f"{len(run.terminations):>6}  connections cut: "
              f"{', '.join(map(str, run.terminations)) or '-'}")
    sent = [cid for r in run.results for cid in r.sent]
    acked = set().union(*(r.acked for r in run.results))
    unacked = [cid for r in run.results for cid in r.unacked]
    stored = run.stored
    lost = [cid for cid in acked if stored[cid] == 0]
    duplicates = [cid for cid, n in stored.items() if n > 1 and "-probe-" not in cid]
    silent = [cid for cid in sent if stored[cid] and cid not in acked]
    rejected: Counter = Counter()
    answers: Counter = Counter()
    for r in run.results:
        rejected.update(r.rejected)
        answers.update(r.answers)
    rows = [("scans sent (distinct client_event_ids)", len(sent)),
            ("acknowledged (201, or 200 for a re-send)", len(acked)),
            ("stored (in the database)", sum(1 for cid in sent if stored[cid])),
            ("LOST: acknowledged, not stored", len(lost)),
            ("DUPLICATES: stored more than once", len(duplicates)),
            ("answer lost, the re-send answered 200 (replay)",
             sum(len(r.replayed) for r in run.results)),
            ("stored but never acknowledged", len(silent)),
            ("never acknowledged (gave up re-sending)", len(unacked)),
            ("refused with a 4xx (not re-sent)", sum(rejected.values()))]
    print(f"{'scans':<48}{'count':>6}")
    for label, value in rows:
        print(f"{label:<48}{value:>6,}")
    print("answers while sending (re-sends included): "
          + ", ".join(f"{k} x{v:,}" for k, v in sorted(answers.items())))
    for kind, count in rejected.items():
        print(f"   refused: {count} x {kind}")
    if any(r.out_of_work for r in run.results):
        print("   (some scanners ran out of components before the load ended)")
    caught = f"{run.caught_up_s:.1f} s" if run.caught_up_s is not None else "NOT within 60 s"
    after = f"{run.seal_after_s:.1f} s" if run.seal_after_s is not None else "NOT within 30 s"
    print(f"sealer: every event sealed {caught} after the load; a new scan sealed after "
          f"{after} (before the crashes: {run.seal_before_s:.1f} s)")
    print(f"ledger verify: {run.verify}")


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default=None,
                        help="default: both when PostgreSQL is reachable, else sqlite")
    parser.add_argument("--scanners", type=int, default=6, help="concurrent scanning threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the first crash")
    parser.add_argument("--gap", type=float, default=4.0, help="seconds of load between crashes")
    parser.add_argument("--web-kills", type=int, default=2)
    parser.add_argument("--sealer-kills", type=int, default=2)
    parser.add_argument("--terminations", type=int, default=4,
                        help="cuts of every database connection (PostgreSQL)")
    parser.add_argument("--drain", type=float, default=30.0,
                        help="seconds to finish re-sending after the load")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.scanners < 1 or args.workers < 1 or args.gap <= 0:
        parser.error("--scanners, --workers and --gap must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_per_database(parse_args(argv), run_engine, report, "crash test")


if __name__ == "__main__":
    sys.exit(main())
