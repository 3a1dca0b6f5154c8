"""API fuzz run: schemathesis against the real app, per database engine and token.

    .venv/bin/python bench/fuzz.py [--engines sqlite,postgresql] [--roles admin,regulator]
        [--max-examples 50] [--time-budget 3600] [--server thread|gunicorn]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/fuzz]
        [--phases examples,coverage,fuzzing,stateful] [--checks all] [--seed 1]
        [--exclude 'POST /api/v1/labels/sheets'] [--include 'GET /api/v1/ledger/events']
        [--include-paths '/loads|/load-plans|/readiness|/deliveries']
        [--report bench/results/fuzz.json] [--keep]

For each engine and role: a fresh database is migrated and the demo loaded with
the real commands (`flask db upgrade`, `flask demo load --tokens ...`, in a
temporary folder), the app is served on a loopback port (`thread`: a threaded
server inside this process, which also records the exception behind every 500;
`gunicorn`: the production server), and schemathesis sends every operation of
/api/v1/openapi.json generated requests (valid and invalid, at most
`--max-examples` per operation and phase) with that role's demo token, then
chains operations statefully through the links it infers from the document
(the document declares no OpenAPI links). The PostgreSQL database named by
`--database-url` (default: $FUZZ_DATABASE_URL, else $TEST_DATABASE_URL) is
EMPTIED. The run stops by itself: `--time-budget` seconds in all.

Prints per engine x role: operations, requests, failures by check, and every
distinct failure (operation, check, status) with a request that reproduces it;
then the distinct server exceptions behind 500s. Exits 1 when a 5xx or a
response that breaks its documented schema was seen (the acceptance checks).

Webhook subscriptions make the app resolve the host of a URL. Fuzzed host names
must not turn into DNS queries, so the served app resolves numeric addresses
and localhost only; any other name fails as it would on a machine without a
resolver (the app's own "does not resolve" answer).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.capture import stop_gunicorn  # noqa: E402

SPEC_PATH = "/api/v1/openapi.json"
PHASES = ["examples", "coverage", "fuzzing", "stateful"]
# Checks whose failures break the acceptance: a server error, or a response
# that its documented schema (status, media type, body, headers) does not allow.
ACCEPTANCE_CHECKS = ["not_a_server_error", "response_schema_conformance",
                     "status_code_conformance", "content_type_conformance"]
DEFAULT_CHECKS = [*ACCEPTANCE_CHECKS, "response_headers_conformance",
                  "negative_data_rejection", "positive_data_acceptance",
                  "missing_required_header", "ignored_auth", "unsupported_method",
                  "allow_header_conformance", "use_after_free",
                  "ensure_resource_availability"]
# Only with --checks all: it compares what two identities may read, and a run
# fuzzes with one token.
OTHER_CHECKS = ["object_level_authorization"]
# Nothing in the API revokes the caller's token or signs it out (sign-out is a
# page, outside the document), so no operation is left out by default.
DEFAULT_EXCLUDE: list[str] = []


class FuzzError(Exception):
    """The run could not be set up."""


# ----------------------------------------------------------------- set-up


def app_environment(database_url: str, folder: Path) -> dict[str, str]:
    """Return the environment the commands and the server run with."""
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url,
                "LABEL_SIGNING_KEY_FILE": str(folder / "label-signing-key.pem"),
                "PHOTO_DIR": str(folder / "photos"),
                "STORAGE": "local", "JOBS": "inline", "LOG_LEVEL": "WARNING",
                # Thousands of requests a minute: limits would answer most with 429.
                "RATELIMIT_ENABLED": "0",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                            env.get("PYTHONPATH")]))})
    return env


def empty_postgres(database_url: str) -> None:
    """Drop every table of the PostgreSQL database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def flask_command(env: dict[str, str], *arguments: str) -> None:
    """Run `flask --app app ...` as an operator would."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *arguments],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if done.returncode:
        raise FuzzError(f"flask {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}")


def prepare_database(engine_name: str, database_url: str, folder: Path) -> dict[str, str]:
    """Migrate an empty database, load the demo; return the demo token per role."""
    if engine_name == "postgresql":
        empty_postgres(database_url)
    env = app_environment(database_url, folder)
    tokens_path = folder / "demo-tokens.json"
    flask_command(env, "db", "upgrade")
    flask_command(env, "demo", "load", "--tokens", str(tokens_path))
    return json.loads(tokens_path.read_text())


# ----------------------------------------------------------------- serving


_real_getaddrinfo = socket.getaddrinfo


def _offline_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
    """Resolve numeric addresses and localhost only; never ask a DNS server."""
    name = host.decode() if isinstance(host, bytes) else host
    if not name or name.lower() in ("localhost", "localhost."):
        return _real_getaddrinfo(host, port, family, type, proto, flags)
    try:
        return _real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
    except socket.gaierror:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


@contextmanager
def offline_resolver() -> Iterator[None]:
    """Resolve numeric addresses and localhost only in this process, while inside."""
    socket.getaddrinfo = _offline_getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = _real_getaddrinfo


def guarded_app():
    """The app factory for `--server gunicorn`: the app with the offline resolver."""
    socket.getaddrinfo = _offline_getaddrinfo
    from app import create_app

    return create_app()


@dataclass
class ServerException:
    """An exception raised inside the app while it answered a request."""

    method: str
    path: str
    kind: str
    message: str
    where: str
    status: int | None = 500  # of the answer; the photo checks log theirs and answer 202


def _where(error: BaseException) -> str:
    """Return the innermost frame of the project's own code in a traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if str(ROOT) in f.filename and "/.venv/" not in f.filename]
    frame = (own or frames or [None])[-1]
    if frame is None:
        return "?"
    return f"{os.path.relpath(frame.filename, ROOT)}:{frame.lineno} in {frame.name}"


@contextmanager
def serve_in_thread(database_url: str, folder: Path) -> Iterator[tuple[str, list]]:
    """Serve the app from a thread on a loopback port; yield its URL and exceptions."""
    from flask import g, got_request_exception, has_request_context, request, request_finished
    from werkzeug.serving import make_server

    from app import create_app
    from construction.extensions import db

    env = app_environment(database_url, folder)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url,
                      "LABEL_SIGNING_KEY_FILE": env["LABEL_SIGNING_KEY_FILE"],
                      "PHOTO_DIR": env["PHOTO_DIR"], "STORAGE": "local", "JOBS": "inline",
                      "LOG_LEVEL": "ERROR", "RATELIMIT_ENABLED": False})
    exceptions: list[ServerException] = []

    def record(exception: BaseException) -> None:
        message = str(exception).splitlines()[0][:300] if str(exception) else ""
        found = ServerException(request.method, request.path, type(exception).__name__,
                                message, _where(exception), status=None)
        exceptions.append(found)
        g.setdefault("fuzz_exceptions", []).append(found)

    def finished(sender, response, **_):
        for found in g.get("fuzz_exceptions", []):
            found.status = response.status_code

    class Recorder(logging.Handler):
        """Keeps every exception the app logs with its traceback: the one behind a 500
        (error_handlers.handle_unexpected) and those it stores and goes on from."""

        def emit(self, record_: logging.LogRecord) -> None:
            if record_.exc_info and record_.exc_info[1] and has_request_context():
                record(record_.exc_info[1])

    def unhandled(sender, exception, **_):
        record(exception)

    recorder = Recorder(level=logging.ERROR)
    app.logger.addHandler(recorder)
    got_request_exception.connect(unhandled, app)
    request_finished.connect(finished, app)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", exceptions
    finally:
        server.shutdown()
        thread.join(timeout=30)
        got_request_exception.disconnect(unhandled, app)
        request_finished.disconnect(finished, app)
        app.logger.removeHandler(recorder)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gunicorn_exceptions(log: Path) -> list[ServerException]:
    """Read the exceptions behind 500s from a gunicorn log: the app's "unhandled error
    on GET /path" or Flask's "Exception on /path [GET]", each with its traceback."""
    found: list[ServerException] = []
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    for number, line in enumerate(lines):
        if " unhandled error on " in line:
            method, _, path = line.split(" unhandled error on ", 1)[1].partition(" ")
        elif " Exception on " in line:
            path, _, method = line.split(" Exception on ", 1)[1].rpartition(" [")
            method = method.rstrip("]")
        else:
            continue
        where, last = "?", ""
        for following in lines[number + 1:]:
            if following.startswith("  File ") and str(ROOT) in following \
                    and "/.venv/" not in following:
                where = following.strip()
            if following and not following.startswith((" ", "Traceback", "The above",
                                                       "During handling")):
                last = following
                break
        kind, _, message = last.partition(": ")
        found.append(ServerException(method, path, kind, message[:300], where))
    return found


@contextmanager
def serve_with_gunicorn(database_url: str, folder: Path) -> Iterator[tuple[str, list]]:
    """Serve the app with gunicorn on a loopback port; yield its URL and exceptions."""
    port = _free_port()
    log = folder / "gunicorn.log"
    env = app_environment(database_url, folder)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "bench"), env["PYTHONPATH"]])
    command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind",
               f"127.0.0.1:{port}", "--timeout", "120", "--graceful-timeout", "5",
               "--no-control-socket", "fuzz:guarded_app()"]
    with open(log, "ab") as handle:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    exceptions: list[ServerException] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise FuzzError(f"gunicorn exited:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + SPEC_PATH, timeout=10):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise FuzzError(f"gunicorn did not answer:\n{log.read_text()[-2000:]}") \
                        from None
                time.sleep(0.2)
        yield url, exceptions
    finally:
        stop_gunicorn(server)
        exceptions.extend(_gunicorn_exceptions(log))


# ----------------------------------------------------------------- fuzzing


@dataclass
class Finding:
    """One distinct failure: an operation, a check and a status, with a reproduction."""

    operation: str
    check: str
    status: int | None
    title: str
    detail: str
    message: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    response: str
    steps: list[str] = field(default_factory=list)
    count: int = 1
    exceptions: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple:
        return (self.operation, self.check, self.status, self.title, self.detail)

    def curl(self, role: str) -> str:
        """Return the request as a curl command against $BASE, with $<ROLE>_TOKEN."""
        path = "/" + self.url.split("://", 1)[-1].split("/", 1)[-1]
        parts = [f'curl -i -X {self.method} "$BASE"{shlex.quote(path)}']
        for name, value in self.headers.items():
            if name.lower() == "authorization" and value.startswith("Bearer "):
                parts.append(f'-H "Authorization: Bearer ${role.upper()}_TOKEN"')
            elif name.lower() != "accept" or value != "*/*":
                parts.append("-H " + shlex.quote(f"{name}: {value}"))
        if self.body is None:
            return " ".join(parts)
        if _printable(self.body):
            return " ".join([*parts, "--data-binary", shlex.quote(self.body.decode())])
        return " | ".join([shell_printer(self.body), " ".join([*parts, "--data-binary @-"])])


def _printable(data: bytes) -> bool:
    return all(32 <= byte < 127 for byte in data)


def shell_printer(data: bytes) -> str:
    """Return a shell command that writes exactly these bytes to its output."""
    if _printable(data):
        return "printf %s " + shlex.quote(data.decode())
    # printf %b reads \0ooo as a byte; a quote or backslash is escaped the same way.
    escaped = "".join(chr(byte) if 32 <= byte < 127 and byte not in (0x27, 0x5C)
                      else f"\\0{byte:03o}" for byte in data)
    return f"printf %b '{escaped}'"


@dataclass
class RunResult:
    """What one engine x role run found."""

    engine: str
    role: str
    operations: Counter = field(default_factory=Counter)  # requests per operation
    selected_operations: int = 0
    requests: int = 0
    requests_by_phase: Counter = field(default_factory=Counter)
    checks: Counter = field(default_factory=Counter)
    failures: dict[tuple, Finding] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    transitions: str = ""
    document_links: int = 0
    seconds: float = 0.0
    stop_reason: str = ""
    exceptions: list[ServerException] = field(default_factory=list)

    def failed_checks(self) -> Counter:
        """Return failing requests by check name."""
        counts: Counter = Counter()
        for finding in self.failures.values():
            counts[finding.check] += finding.count
        return counts

    def acceptance_failures(self) -> list[Finding]:
        """Return the distinct failures that break the acceptance."""
        return [f for f in self.failures.values() if f.check in ACCEPTANCE_CHECKS]


def _schemathesis_config(token: str, args: argparse.Namespace, checks: list[str]):
    import schemathesis

    phases = {name: {"enabled": name in args.phases} for name in PHASES}
    phases["stateful"]["inference"] = {"algorithms": ["location-headers",
                                                      "dependency-analysis"]}
    return schemathesis.Config.from_dict({
        "seed": args.seed,
        # What one run learns must not steer the next: each run stands alone.
        "cache": {"enabled": False},
        "headers": {"Authorization": f"Bearer {token}"},
        "continue-on-failure": True,
        "request-timeout": 120,
        "workers": 1,
        "generation": {"max-examples": args.max_examples, "mode": "all",
                       "database": "none"},
        "phases": phases,
        "checks": {"enabled": False, **{name: {"enabled": True} for name in checks}},
    })


def _decode(data: bytes | None, limit: int = 2000) -> str | None:
    if data is None:
        return None
    text = data.decode("utf-8", errors="backslashreplace")
    return text if len(text) <= limit else text[:limit] + f"... ({len(data)} bytes)"


def _detail(failure, response) -> str:
    """Return what tells failures of one operation and check apart: the broken part of
    the schema, or the problem type and the fields an error answer names."""
    schema_path = getattr(failure, "schema_path", None)
    if schema_path is not None:
        instance = "/".join(str(p) for p in getattr(failure, "instance_path", []))
        return f"at /{instance}: {'/'.join(str(p) for p in schema_path)}"
    if response is None or not response.content or response.status_code < 400:
        return ""
    try:
        problem = json.loads(response.content)
    except ValueError:
        return ""
    if not isinstance(problem, dict):
        return ""
    fields: set[str] = set()
    errors = problem.get("errors")
    if isinstance(errors, dict):
        for name, value in errors.items():
            if isinstance(value, dict) and name in ("json", "query", "form", "files", "headers"):
                items = [(f"{name}.{inner}", message) for inner, message in value.items()]
            else:
                items = [(str(name), value)]
            # Fuzzed names of fields the schema does not have are one cause, not many.
            fields.update("(unknown fields)" if message == ["Unknown field."] else field_name
                          for field_name, message in items)
    kind = str(problem.get("type", "")).rsplit("/", 1)[-1]
    return f"{kind} {','.join(sorted(fields))}".strip()


def _finding(operation: str, check: str, failure, interaction, steps) -> Finding:
    request, response = interaction.request, interaction.response
    headers = {name: values[0] for name, values in request.headers.items()
               if name.lower() not in ("user-agent", "accept-encoding", "connection",
                                       "content-length", "x-schemathesis-testcaseid")}
    return Finding(
        operation=operation, check=check,
        status=response.status_code if response is not None else None,
        title=failure.title, detail=_detail(failure, response),
        message=str(failure.message).strip(),
        method=request.method, url=request.uri, headers=headers,
        body=request.body, response=_decode(response.content, 600)
        if response is not None else "(no response)",
        steps=[f"{step.method} {step.path}" for step in steps])


def _size(finding: Finding) -> int:
    return len(finding.url) + len(finding.body or b"")


def _record_scenario(result: RunResult, recorder, phase: str) -> None:
    for case_id in recorder.interactions:
        result.requests += 1
        result.requests_by_phase[phase] += 1
        node = recorder.cases.get(case_id)
        if node is not None:
            result.operations[node.value.operation.label] += 1
    for case_id, checks in recorder.checks.items():
        for check in checks:
            result.checks[check.name] += 1
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            failing_id = failure.case_id or case_id
            interaction = recorder.interactions.get(failing_id)
            if interaction is None:
                continue
            node = recorder.cases.get(failing_id)
            operation = node.value.operation.label if node is not None else recorder.label
            finding = _finding(operation, check.name, failure, interaction,
                               check.failure_info.steps)
            known = result.failures.get(finding.key)
            if known is None:
                result.failures[finding.key] = finding
            else:
                known.count += 1
                if _size(finding) < _size(known):  # keep the smallest reproduction
                    finding.count = known.count
                    result.failures[finding.key] = finding


def fuzz(base_url: str, token: str, result: RunResult, args: argparse.Namespace,
         checks: list[str], budget: float) -> None:
    """Run schemathesis against the served app; fill `result`."""
    import schemathesis
    from schemathesis.engine import events, from_schema

    config = _schemathesis_config(token, args, checks)
    schema = schemathesis.openapi.from_url(base_url + SPEC_PATH, config=config)
    for included in args.include:
        method, _, path = included.partition(" ")
        schema = schema.include(method=method.upper(), path=path)
    if args.include_paths:
        schema = schema.include(path_regex=args.include_paths)
    for excluded in args.exclude:
        method, _, path = excluded.partition(" ")
        schema = schema.exclude(method=method.upper(), path=path)
    result.selected_operations = sum(1 for _ in schema.get_all_operations())
    result.document_links = sum(
        len(answer.get("links", {})) for item in schema.raw_schema.get("paths", {}).values()
        for operation in item.values() if isinstance(operation, dict)
        for answer in operation.get("responses", {}).values() if isinstance(answer, dict))
    stream = from_schema(schema).execute()
    timer = threading.Timer(budget, stream.stop)  # the time budget, however busy the engine
    timer.daemon = True
    started = time.monotonic()
    timer.start()
    try:
        for event in stream:
            if isinstance(event, events.ScenarioFinished):
                _record_scenario(result, event.recorder, event.phase.value)
            elif isinstance(event, events.PhaseStarted) and event.payload is not None:
                payload = event.payload
                result.transitions = (f"{payload.transitions_total} links between operations, "
                                      f"{payload.inferred_transitions} of them inferred")
            elif isinstance(event, events.NonFatalError):
                result.errors.append(f"{event.label}: {event.info.title}: "
                                     f"{event.info.message}"[:600])
            elif isinstance(event, events.FatalError):
                result.errors.append(f"fatal: {event.exception!r}"[:600])
            elif isinstance(event, events.EngineFinished):
                result.stop_reason = str(event.stop_reason)
    finally:
        timer.cancel()
        result.seconds = time.monotonic() - started
    if timer.finished.is_set() and time.monotonic() - started >= budget:
        result.stop_reason = "time budget"


def attach_exceptions(result: RunResult) -> None:
    """Attach the server exceptions to the 5xx failures of the same method and path."""
    for finding in result.failures.values():
        if finding.status is None or finding.status < 500:
            continue
        path = finding.url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
        for exception in result.exceptions:
            if exception.method == finding.method and exception.path.lstrip("/") == path:
                text = f"{exception.kind}: {exception.message} ({exception.where})"
                if text not in finding.exceptions:
                    finding.exceptions.append(text)


def run_one(engine_name: str, role: str, database_url: str, args: argparse.Namespace,
            checks: list[str], budget: float) -> RunResult:
    """Prepare a fresh database, serve it and fuzz it with one role's token."""
    result = RunResult(engine=engine_name, role=role)
    folder = Path(tempfile.mkdtemp(prefix=f"prefabtrace-fuzz-{engine_name}-{role}-"))
    try:
        url = database_url if engine_name == "postgresql" \
            else f"sqlite:///{folder / 'fuzz.db'}"
        tokens = prepare_database(engine_name, url, folder)
        serve = serve_with_gunicorn if args.server == "gunicorn" else serve_in_thread
        with serve(url, folder) as (base_url, exceptions):
            try:
                fuzz(base_url, tokens[role], result, args, checks, budget)
            finally:
                result.exceptions = exceptions
        attach_exceptions(result)
    finally:
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return result


# ----------------------------------------------------------------- report


def summary_table(results: list[RunResult], checks: list[str]) -> str:
    """Return one row per engine x role: operations, requests, failures by check."""
    short = {"not_a_server_error": "5xx", "response_schema_conformance": "schema",
             "status_code_conformance": "status", "content_type_conformance": "media",
             "response_headers_conformance": "headers",
             "negative_data_rejection": "neg-accepted",
             "positive_data_acceptance": "pos-rejected",
             "missing_required_header": "no-header", "ignored_auth": "ignored-auth",
             "unsupported_method": "method", "use_after_free": "after-free",
             "ensure_resource_availability": "unavailable",
             "allow_header_conformance": "allow", "object_level_authorization": "bola"}
    columns = ["engine", "token", "operations", "requests",
               *[short.get(c, c) for c in checks], "errors", "seconds", "stop"]
    rows = []
    for r in results:
        failed = r.failed_checks()
        rows.append([r.engine, r.role, f"{len(r.operations)}/{r.selected_operations}",
                     str(r.requests), *[str(failed.get(c, 0)) for c in checks],
                     str(len(r.errors)), f"{r.seconds:.0f}", r.stop_reason])
    widths = [max(len(str(x)) for x in column) for column in zip(columns, *rows, strict=True)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def findings_text(result: RunResult) -> str:
    """Return the distinct failures of one run with reproductions."""
    phases = ", ".join(f"{name} {count}" for name, count in result.requests_by_phase.items())
    fewest = min(result.operations.items(), key=lambda item: item[1], default=("-", 0))
    out = [f"== {result.engine} x {result.role}: {len(result.failures)} distinct failures;"
           f" requests by phase: {phases or 'none'};"
           f" fewest requests: {fewest[1]} ({fewest[0]});"
           f" stateful: {result.transitions or 'no links'}"
           f" (the document declares {result.document_links})"]
    order = {c: i for i, c in enumerate([*ACCEPTANCE_CHECKS, *DEFAULT_CHECKS])}
    for finding in sorted(result.failures.values(),
                          key=lambda f: (order.get(f.check, 99), f.operation, f.status or 0)):
        out.append(f"-- {finding.operation} | {finding.check} | {finding.status} | "
                   f"{finding.title} | {finding.detail} | x{finding.count}")
        message = "\n".join(finding.message.splitlines()[:8])
        out.append("   " + message.replace("\n", "\n   "))
        if finding.steps and len(finding.steps) > 1:
            out.append("   after: " + " -> ".join(finding.steps[:-1]))
        curl = finding.curl(result.role)
        out.append("   " + (curl if len(curl) <= 1500 else
                            curl[:1500] + f"... (whole request in --report; body "
                                          f"{len(finding.body or b'')} bytes)"))
        out.append(f"   answer: {finding.response[:300]!r}")
        for exception in finding.exceptions[:3]:
            out.append(f"   server: {exception}")
    for error in result.errors:
        out.append(f"!! error: {error}")
    return "\n".join(out)


def exceptions_text(results: list[RunResult]) -> str:
    """Return the distinct exceptions raised in the app over all runs: those behind
    5xx answers, then those logged while the answer was not a server error."""
    seen: dict[tuple, list] = {}
    for r in results:
        for e in r.exceptions:
            answered_5xx = e.status is None or e.status >= 500
            entry = seen.setdefault((answered_5xx, e.kind, e.where), [0, set(), set(), e])
            entry[0] += 1
            entry[1].add(f"{r.engine}/{r.role}")
            entry[2].add(str(e.status))
    lines = []
    for answered_5xx, title in ((True, "exceptions behind 5xx answers"),
                                (False, "exceptions logged under answers that were not 5xx")):
        group = sorted(((key, value) for key, value in seen.items() if key[0] == answered_5xx),
                       key=lambda item: -item[1][0])
        lines.append(f"{title}: {len(group) or 'none'}")
        for (_, kind, where), (count, runs, statuses, example) in group:
            lines.append(f"  {count:5d}x {kind} at {where} [{', '.join(sorted(runs))}; "
                         f"answered {', '.join(sorted(statuses))}]")
            lines.append(f"         e.g. {example.method} {example.path}: "
                         f"{example.message[:200]}")
    return "\n".join(lines)


def report_json(results: list[RunResult], args: argparse.Namespace) -> dict[str, Any]:
    """Return the whole run as JSON-ready data."""
    return {"arguments": {k: v for k, v in vars(args).items() if k != "database_url"},
            "runs": [{"engine": r.engine, "role": r.role,
                      "operations": len(r.operations), "selected": r.selected_operations,
                      "requests_by_operation": dict(r.operations),
                      "requests": r.requests, "seconds": round(r.seconds, 1),
                      "stop": r.stop_reason, "transitions": r.transitions,
                      "checks_run": dict(r.checks), "errors": r.errors,
                      "failures": [{**{k: v for k, v in vars(f).items() if k != "body"},
                                    "curl": f.curl(r.role)} for f in r.failures.values()],
                      "server_exceptions": [vars(e) for e in r.exceptions]}
                     for r in results]}


# ----------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql")
    parser.add_argument("--roles", default="admin,regulator",
                        help="demo tokens to fuzz with (comma-separated)")
    parser.add_argument("--max-examples", type=int, default=50,
                        help="generated requests per operation and phase")
    parser.add_argument("--time-budget", type=float, default=3600,
                        help="seconds for the whole run, shared by the engine x role runs")
    parser.add_argument("--database-url", default=os.environ.get(
        "FUZZ_DATABASE_URL", os.environ.get("TEST_DATABASE_URL", "")),
        help="PostgreSQL URL (the database is emptied)")
    parser.add_argument("--server", choices=["thread", "gunicorn"], default="thread")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--checks", default=",".join(DEFAULT_CHECKS),
                        help="comma-separated check names, or 'all'")
    parser.add_argument("--exclude", action="append", default=list(DEFAULT_EXCLUDE),
                        metavar="'METHOD /path'", help="leave an operation out")
    parser.add_argument("--include", action="append", default=[],
                        metavar="'METHOD /path'", help="fuzz only these operations")
    parser.add_argument("--include-paths", default=None, metavar="REGEX",
                        help="fuzz only the operations whose path matches (e.g. '/loads')")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", default=None, help="also write the findings as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args(argv)
    args.engines = [e for e in args.engines.split(",") if e]
    args.roles = [r for r in args.roles.split(",") if r]
    args.phases = [p for p in args.phases.split(",") if p]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    if "postgresql" in args.engines and not args.database_url:
        parser.error("postgresql needs --database-url (or FUZZ_DATABASE_URL)")
    return args


def run(args: argparse.Namespace) -> list[RunResult]:
    """Fuzz every engine x role within the time budget; return the results."""
    checks = DEFAULT_CHECKS + OTHER_CHECKS if args.checks == "all" \
        else [c for c in args.checks.split(",") if c]
    pairs = [(e, r) for e in args.engines for r in args.roles]
    deadline = time.monotonic() + args.time_budget
    results = []
    for number, (engine_name, role) in enumerate(pairs):
        budget = max(1.0, (deadline - time.monotonic()) / (len(pairs) - number))
        print(f"fuzzing {engine_name} as {role} (budget {budget:.0f} s)...", file=sys.stderr)
        with offline_resolver():
            results.append(run_one(engine_name, role, args.database_url, args, checks,
                                   budget))
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the fuzz, print the table and the findings; 1 if the acceptance fails."""
    args = parse_args(argv)
    started = time.monotonic()
    results = run(args)
    checks = DEFAULT_CHECKS + OTHER_CHECKS if args.checks == "all" \
        else [c for c in args.checks.split(",") if c]
    import schemathesis

    print(f"schemathesis {schemathesis.__version__}, {args.max_examples} examples per "
          f"operation and phase, phases {','.join(args.phases)}, seed {args.seed}, "
          f"server {args.server}, excluded: {', '.join(args.exclude) or 'none'}")
    print(summary_table(results, checks))
    for result in results:
        print()
        print(findings_text(result))
    print()
    print(exceptions_text(results))
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report_json(results, args), indent=1,
                                                ensure_ascii=False, default=str))
    broken = sum(len(r.acceptance_failures()) + len(r.errors) for r in results)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
