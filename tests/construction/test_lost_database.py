"""A lost database (or Redis): the background loops ride it out, requests answer 503.

The connections are really cut: PostgreSQL's `pg_terminate_backend` from
another connection, SQLite's write lock held by another connection, a
`redis-server` of the test's own stopped and started again.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from construction.extensions import db
from construction.models import Event
from construction.resilience import Backoff, LoopStats, is_database_unavailable
from tests.conftest import _app, redis_up, wait_until

PROBLEM = "application/problem+json"
ROOT = Path(__file__).resolve().parents[2]
TERMINATE_OTHERS = ("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def terminate_other_backends(url: str) -> int:
    """Cut every connection to the test database but the one doing it; return how many."""
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        return len(connection.execute(TERMINATE_OTHERS).fetchall())


class KillBeforeStatement:
    """Terminate the connection about to run a matching statement, from another connection.

    `pg_terminate_backend(pid, 5000)` waits until the backend is gone, so the
    statement then meets a dead connection: the connection dropped mid-work.
    """

    def __init__(self, app, pattern: str, times: int = 1):
        with app.app_context():
            self.engine = db.engine
        self.url = app.config["SQLALCHEMY_DATABASE_URI"]
        self.pattern = re.compile(pattern, re.IGNORECASE)
        self.left = times
        self.lock = threading.Lock()
        event.listen(self.engine, "before_cursor_execute", self)

    def __call__(self, connection, cursor, statement, parameters, context, executemany):
        with self.lock:
            if not self.left or not self.pattern.search(statement):
                return
            self.left -= 1
        import psycopg

        pid = connection.connection.dbapi_connection.info.backend_pid
        with psycopg.connect(_libpq(self.url), autocommit=True) as killer:
            assert killer.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone()[0]

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


def unsealed(url: str) -> int:
    """Count unsealed events on a connection of its own (the app's may be cut)."""
    query = "SELECT count(*) FROM event WHERE sequence IS NULL"
    if url.startswith("sqlite"):
        with sqlite3.connect(make_url(url).database) as connection:
            return connection.execute(query).fetchone()[0]
    import psycopg

    with psycopg.connect(_libpq(url)) as connection:
        return connection.execute(query).fetchone()[0]


class SealerThread:
    """`seal_forever` in a thread of its own, as `flask ledger seal --loop` runs it."""

    def __init__(self, app, interval_s: float = 0.1):
        self.app, self.interval_s = app, interval_s
        self.stop = threading.Event()
        self.stats = LoopStats()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from construction.services.chain import seal_forever

        try:
            with self.app.app_context():
                seal_forever(self.interval_s, stop=self.stop, stats=self.stats)
        except BaseException as error:  # reported by the test
            self.error = error

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()


# --- the back-off ---------------------------------------------------------------------


def test_backoff_doubles_with_jitter_up_to_its_cap_and_resets():
    backoff = Backoff(first_s=0.5, cap_s=30)
    for ceiling in (0.5, 1, 2, 4, 8, 16, 30, 30, 30):
        delay = backoff.next_delay()
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert 0.25 <= backoff.next_delay() <= 0.5


def test_a_page_on_a_lost_database_answers_503_in_both_languages(app):
    from construction.error_handlers import handle_unexpected

    with app.test_request_context("/dashboard", headers={"Accept-Language": "en"}):
        page = handle_unexpected(sqlite3.OperationalError("database is locked"))
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    text = page.get_data(as_text=True)
    assert page.mimetype == "text/html" and "服务暂时不可用" in text and "Try again in 5" in text
    with app.test_request_context("/dashboard"):
        page = handle_unexpected(KeyError("a bug"))
    assert page.status_code == 500 and "Something went wrong" in page.get_data(as_text=True)


def test_passing_database_errors_are_told_from_bugs():
    assert is_database_unavailable(sqlite3.OperationalError("database is locked"))
    assert not is_database_unavailable(sqlite3.OperationalError("no such table: event"))
    assert not is_database_unavailable(ValueError("database is locked"))


# --- the ledger sealer ----------------------------------------------------------------


@pytest.mark.engine("postgresql")
def test_sealer_keeps_sealing_after_its_connections_are_killed(world, engine_name, runner):
    url = world.app.config["SQLALCHEMY_DATABASE_URI"]
    component = world.component("cast")
    # Twice in a row, the sealer's connection dies just before its UPDATE (mid-seal).
    killer = KillBeforeStatement(world.app, r"^\s*UPDATE event\b", times=2)
    try:
        with SealerThread(world.app) as sealer:
            assert wait_until(lambda: unsealed(url) == 0), sealer.error
            assert killer.left == 0 and sealer.stats.failures >= 2
            # Between rounds: every connection of the app is cut again.
            assert terminate_other_backends(url) >= 1
            world.scan(component["code"], "demould", expect=201)
            world.scan(component["code"], "qc_pass", expect=201)
            assert wait_until(lambda: unsealed(url) == 0), sealer.error
            assert sealer.thread.is_alive() and sealer.error is None
    finally:
        killer.remove()
    assert sealer.error is None and not sealer.thread.is_alive()
    result = runner.invoke(args=["ledger", "verify", "--workers", "1"])
    assert result.exit_code == 0 and "3 events verified" in result.output, result.output


@pytest.mark.engine("sqlite")
def test_sealer_waits_out_a_locked_sqlite_database(world, engine_name, database_url):
    world.component("demoulded")
    # The sealer's own app gives up on the lock after 100 ms, as a busy server would.
    sealer_app = _app(database_url, SQLITE_BUSY_TIMEOUT_MS=100)
    holder = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with SealerThread(sealer_app) as sealer:
            assert wait_until(lambda: sealer.stats.failures >= 2 or sealer.error), sealer.error
            assert sealer.thread.is_alive() and unsealed(database_url) == 2
            holder.execute("ROLLBACK")
            assert wait_until(lambda: unsealed(database_url) == 0), sealer.error
            assert sealer.thread.is_alive() and sealer.error is None
    finally:
        holder.close()


@pytest.mark.engine("sqlite")
def test_the_loops_leave_sqlite_free_for_writers_between_rounds(world, engine_name,
                                                                database_url):
    """Between rounds the sealer and the deliverer hold no transaction: on SQLite outside a
    request every transaction takes the write lock, so an open one would stall every scan."""
    from construction.services.webhooks import deliver_forever

    world.component("demoulded")
    loop_app = _app(database_url)
    stop = threading.Event()

    def deliverer() -> None:
        with loop_app.app_context():
            deliver_forever(0.5, stop=stop, on_report=None)

    with SealerThread(loop_app, interval_s=0.5) as sealer:
        thread = threading.Thread(target=deliverer, daemon=True)
        thread.start()
        try:
            assert wait_until(lambda: unsealed(database_url) == 0), sealer.error
            # A round holds the lock for milliseconds; an open transaction, for good.
            writer = sqlite3.connect(make_url(database_url).database, isolation_level=None,
                                     timeout=1.0)
            try:
                for _ in range(20):  # 2 s: several rounds of each loop
                    writer.execute("BEGIN IMMEDIATE")  # 'database is locked' if one is held
                    writer.execute("ROLLBACK")
                    stop.wait(0.1)
            finally:
                writer.close()
            assert sealer.stats.rounds >= 3 and sealer.error is None
        finally:
            stop.set()
            thread.join(30)


def test_seal_loop_command_runs_its_rounds_through_a_lost_connection(world, engine_name,
                                                                    runner):
    world.component("cast")
    killer = (KillBeforeStatement(world.app, r"^\s*UPDATE event\b")
              if engine_name == "postgresql" else None)
    try:
        result = runner.invoke(args=["ledger", "seal", "--loop", "--interval", "0.1",
                                     "--rounds", "2"])
    finally:
        if killer:
            killer.remove()
    assert result.exit_code == 0, result.output
    assert killer is None or killer.left == 0
    assert unsealed(world.app.config["SQLALCHEMY_DATABASE_URI"]) == 0


# --- the webhook deliverer ------------------------------------------------------------


@pytest.mark.engine("postgresql")
def test_webhook_loop_delivers_after_its_connection_is_killed(world, engine_name, runner):
    from tests.construction.test_webhooks import Receiver

    receiver = Receiver()
    server = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    server.start()
    world.app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    try:
        response = world.client("project_manager").post("/api/v1/webhooks", json={
            "url": receiver.url + "/hook", "project_id": world.ids["project_main"]})
        assert response.status_code == 201, response.get_json()
        world.component("cast")
        killer = KillBeforeStatement(world.app, r".")  # the round's first statement
        try:
            result = runner.invoke(args=["webhooks", "deliver", "--loop", "--interval", "0.1",
                                         "--rounds", "2"])
        finally:
            killer.remove()
        assert result.exit_code == 0, result.output
        assert killer.left == 0
        assert [body["event"]["action"] for body in receiver.delivered("/hook")] == ["cast"]
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        server.join()


# --- the photo workers ----------------------------------------------------------------


@pytest.mark.skipif(not redis_up(), reason="Redis is not running on 127.0.0.1:6379")
@pytest.mark.engine("postgresql")
def test_photo_worker_goes_on_after_a_job_lost_its_database_connection(world, engine_name,
                                                                       runner):
    from redis import Redis
    from rq import Queue

    from construction.jobs import run_analysis

    redis_url = "redis://127.0.0.1:6379/0"
    name = f"prefabtrace-test-lost-db-{uuid.uuid4().hex}"
    world.app.config.update(JOBS="rq", REDIS_URL=redis_url, RQ_QUEUE=name)
    connection = Redis.from_url(redis_url)
    queue = Queue(name, connection=connection)
    try:
        # Photos that do not exist: each job reads the photo table once and ends.
        jobs = [queue.enqueue(run_analysis, 10**9 + n) for n in range(2)]
        killer = KillBeforeStatement(world.app, r"\bFROM photo\b")
        try:
            result = runner.invoke(args=["photos", "worker", "--burst"])
        finally:
            killer.remove()
        assert result.exit_code == 0, result.output
        assert killer.left == 0
        assert [job.get_status(refresh=True) for job in jobs] == ["failed", "finished"]
    finally:
        for key in connection.scan_iter(f"rq:*{name}*"):
            connection.delete(key)
        connection.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_redis(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: redis_up(port), 30)
    return server


def _stop(process: subprocess.Popen, sig=signal.SIGKILL) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    return process.wait(30)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
@pytest.mark.engine("sqlite")
def test_photo_worker_waits_for_redis_and_outlives_its_restart(engine_name, database_url,
                                                               tmp_path):
    from redis import Redis
    from rq import Queue

    from construction.jobs import run_analysis

    port = _free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    log = tmp_path / "worker.log"
    env = dict(os.environ, DATABASE_URL=database_url, JOBS="rq", REDIS_URL=redis_url,
               RQ_QUEUE="photos-test")
    with open(log, "wb") as handle:
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "photos",
                                   "worker"], cwd=ROOT, env=env, stdout=handle,
                                  stderr=subprocess.STDOUT)
    redis_server = None
    try:
        # Redis is not there yet: the worker says so and waits.
        assert wait_until(lambda: b"photo worker:" in log.read_bytes() or
                          worker.poll() is not None), log.read_text()
        assert worker.poll() is None, log.read_text()
        for _ in range(2):  # Redis comes, and comes back after dying
            redis_server = _start_redis(port)
            queue = Queue("photos-test", connection=Redis.from_url(redis_url))
            job = queue.enqueue(run_analysis, 10**9)
            assert wait_until(lambda job=job: job.get_status(refresh=True) == "finished"
                              or worker.poll() is not None), log.read_text()
            assert worker.poll() is None, log.read_text()
            queue.connection.close()
            _stop(redis_server)
        assert _stop(worker, signal.SIGTERM) == 0, log.read_text()
    finally:
        _stop(worker)
        if redis_server is not None:
            _stop(redis_server)


def _run_worker_in_process(world, runner):
    """Run `flask photos worker` here, on the local Redis and a queue of its own, with
    SIGTERM (which the test sends itself) never able to end pytest."""
    from redis import Redis

    redis_url = "redis://127.0.0.1:6379/0"
    name = f"prefabtrace-test-stop-{uuid.uuid4().hex}"
    world.app.config.update(JOBS="rq", REDIS_URL=redis_url, RQ_QUEUE=name)
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        return runner.invoke(args=["photos", "worker"])
    finally:
        signal.signal(signal.SIGTERM, previous)
        connection = Redis.from_url(redis_url)
        for key in connection.scan_iter(f"rq:*{name}*"):
            connection.delete(key)
        connection.close()


@pytest.mark.skipif(not redis_up(), reason="Redis is not running on 127.0.0.1:6379")
@pytest.mark.engine("sqlite")
def test_a_stop_signal_between_two_workers_is_not_lost(world, engine_name, runner,
                                                       monkeypatch):
    import redis
    from rq import SimpleWorker

    import construction.cli

    def redis_lost(*_args, **_kwargs):  # where RQ does not retry: its loop ends
        raise redis.exceptions.ConnectionError("Connection closed by server.")

    real_discard = construction.cli.discard_session
    signals = []

    def discard_then_signal(lost):  # the stop comes while the next worker is prepared
        signals.append(signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        real_discard(lost)

    monkeypatch.setattr(SimpleWorker, "dequeue_job_and_maintain_ttl", redis_lost)
    monkeypatch.setattr(construction.cli, "discard_session", discard_then_signal)
    result = _run_worker_in_process(world, runner)
    assert signals == [signal.SIGTERM]  # one worker ran; the signal ended the command
    assert result.exit_code == 0, result.output + repr(result.exception)


@pytest.mark.skipif(not redis_up(), reason="Redis is not running on 127.0.0.1:6379")
@pytest.mark.engine("sqlite")
def test_a_stop_signal_while_a_worker_registers_itself_stops_it_before_any_job(
        world, engine_name, runner, monkeypatch):
    import redis
    from rq import SimpleWorker

    real_birth = SimpleWorker.register_birth
    waited = []

    def birth_then_signal(self, *args, **kwargs):  # before RQ installs its handlers
        real_birth(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)

    def wait_for_a_job(self, *_args, **_kwargs):
        waited.append(self.name)
        raise redis.exceptions.ConnectionError("the test ends the wait")

    monkeypatch.setattr(SimpleWorker, "register_birth", birth_then_signal)
    monkeypatch.setattr(SimpleWorker, "dequeue_job_and_maintain_ttl", wait_for_a_job)
    result = _run_worker_in_process(world, runner)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert waited == []  # it never waited for a job


# --- requests in flight ---------------------------------------------------------------


def _assert_unavailable(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["type"].endswith("/database-unavailable")


@pytest.mark.engine("postgresql")
def test_a_request_on_a_cut_connection_answers_503_then_the_next_works(world, engine_name):
    url = world.app.config["SQLALCHEMY_DATABASE_URI"]
    component = world.component("planned")
    # No test on checkout: the cut connection is handed to the next request as it is.
    app = _app(url, SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": False})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens['admin']}"
    try:
        assert client.get("/api/v1/components").status_code == 200
        assert terminate_other_backends(url) >= 1
        scan = {"code": component["code"], "action": "cast", "client_event_id": "cut-conn-1"}
        _assert_unavailable(client.post("/api/v1/scans", json=scan))
        again = client.post("/api/v1/scans", json=scan)
        assert again.status_code == 201, again.get_json()
        # A page answers 503 too (in HTML), with the same advice.
        assert terminate_other_backends(url) >= 1
        page = client.get(f"/c/{component['code']}")
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        assert page.mimetype == "text/html"
        assert "服务暂时不可用" in page.get_data(as_text=True)
        assert "Try again in 5 seconds" in page.get_data(as_text=True)
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.engine("postgresql")
def test_a_connection_killed_mid_scan_answers_503_and_the_resent_scan_counts_once(
        world, engine_name):
    component = world.component("planned")
    scan = {"code": component["code"], "action": "cast", "client_event_id": "mid-scan-1"}
    killer = KillBeforeStatement(world.app, r"\bINSERT INTO event\b")
    try:
        _assert_unavailable(world.client("admin").post("/api/v1/scans", json=scan))
    finally:
        killer.remove()
    assert killer.left == 0
    assert world.client("admin").post("/api/v1/scans", json=scan).status_code == 201
    with world.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event).where(
            Event.client_event_id == "mid-scan-1")) == 1


@pytest.mark.engine("sqlite")
def test_a_scan_on_a_locked_sqlite_database_answers_503(world, engine_name, database_url):
    component = world.component("planned")
    app = _app(database_url, SQLITE_BUSY_TIMEOUT_MS=100)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens['admin']}"
    scan = {"code": component["code"], "action": "cast", "client_event_id": "locked-1"}
    holder = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        _assert_unavailable(client.post("/api/v1/scans", json=scan))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.post("/api/v1/scans", json=scan).status_code == 201
    with app.app_context():
        db.engine.dispose()
