"""scripts/serve.py: the supervisor `make run` serves with, run on real child processes."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.serve import default_services, fresh_metrics_folder, redis_answers
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_up() -> bool:
    return redis_answers("redis://127.0.0.1:6379/0")


def _python(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


def _supervise(tmp_path: Path, services: dict[str, str], **env) -> subprocess.Popen:
    arguments = [sys.executable, "scripts/serve.py", "--backoff-first", "0.05",
                 "--backoff-max", "0.2", "--stop-timeout", "20"]
    for name, command in services.items():
        arguments += ["--service", f"{name}={command}"]
    environment = {k: v for k, v in os.environ.items() if k != "JOBS"}
    environment.update(env)
    environment = {k: v for k, v in environment.items() if v is not None}  # None: unset
    with open(tmp_path / "serve.log", "wb") as log:  # the child keeps its own copy
        return subprocess.Popen(arguments, cwd=ROOT, env=environment, stdout=log,
                                stderr=subprocess.STDOUT)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_child_that_exits_is_restarted_and_a_stop_reaches_every_child(tmp_path):
    starts, steady_log = tmp_path / "flaky-starts", tmp_path / "steady"
    flaky = _python(f"open({str(starts)!r}, 'a').write('start\\n'); raise SystemExit(3)")
    steady = _python(
        "import signal, sys, time\n"
        f"log = open({str(steady_log)!r}, 'a', buffering=1)\n"
        "signal.signal(signal.SIGTERM, lambda *_: (log.write('stopped\\n'), sys.exit(0)))\n"
        "log.write('ready\\n')\n"
        "while True: time.sleep(1)\n")
    supervisor = _supervise(tmp_path, {"flaky": flaky, "steady": steady},
                            REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0")
    try:
        assert wait_until(lambda: len(_lines(starts)) >= 3 and _lines(steady_log)), \
            (tmp_path / "serve.log").read_text()
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(60) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    log = (tmp_path / "serve.log").read_text()
    assert "flaky exited with code 3" in log and "restarting in" in log
    assert _lines(steady_log) == ["ready", "stopped"]  # started once, stopped by the signal
    assert "no Redis at" in log and "JOBS=inline" in log


def test_a_killed_child_is_restarted(tmp_path):
    pids = tmp_path / "pids"
    child = _python(f"import os, time; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n');"
                    " time.sleep(600)")
    supervisor = _supervise(tmp_path, {"sleeper": child},
                            REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0")
    try:
        assert wait_until(lambda: len(_lines(pids)) == 1)
        os.kill(int(_lines(pids)[0]), signal.SIGKILL)
        assert wait_until(lambda: len(_lines(pids)) == 2), (tmp_path / "serve.log").read_text()
        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(60) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    assert "sleeper was killed by SIGKILL" in (tmp_path / "serve.log").read_text()


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")
def test_children_get_jobs_rq_and_redis_url_when_redis_answers(tmp_path):
    seen = tmp_path / "jobs"
    child = _python(f"import os, time; open({str(seen)!r}, 'w').write("
                    "os.environ['JOBS'] + ' ' + os.environ['REDIS_URL']); time.sleep(600)")
    # REDIS_URL unset: the default address answers, and the children are told it
    # (rate limits then count in Redis, shared by every worker).
    supervisor = _supervise(tmp_path, {"probe": child}, REDIS_URL=None)
    try:
        assert wait_until(lambda: seen.exists() and seen.read_text())
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(60) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    assert seen.read_text() == "rq redis://127.0.0.1:6379/0"


def test_redis_is_probed_with_a_real_ping():
    assert not redis_answers(f"redis://127.0.0.1:{_closed_port()}/0")
    if _redis_up():
        assert redis_answers("redis://127.0.0.1:6379/3")


def test_the_default_services_include_photo_workers_only_for_rq():
    names = [s.name for s in default_services("python", "127.0.0.1", 9000, 3, 2)]
    assert names == ["web", "sealer", "webhooks", "photos-1", "photos-2"]
    web = default_services("python", "127.0.0.1", 9000, 3, 0)
    assert [s.name for s in web] == ["web", "sealer", "webhooks"]
    assert web[0].argv[-4:] == ["--bind", "127.0.0.1:9000", "--workers", "3"]
    assert "deploy/gunicorn.conf.py" in web[0].argv


def test_every_service_shares_one_metrics_folder_emptied_at_start(tmp_path, monkeypatch):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"old counts")
    (folder / "notes.txt").write_text("kept")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    assert fresh_metrics_folder(env) == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    monkeypatch.setattr("scripts.serve.ROOT", str(tmp_path))
    default = {}
    assert fresh_metrics_folder(default) == str(tmp_path / "instance" / "metrics")
    assert default["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "instance" / "metrics")


def test_a_dead_childs_live_gauges_are_dropped(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    first = tmp_path / "first-pid"
    # The first run leaves a live gauge and a counter, and dies; the next one stays.
    child = _python(
        "import os, time\n"
        f"folder, first = {str(folder)!r}, {str(first)!r}\n"
        "if os.path.exists(first):\n"
        "    time.sleep(600)\n"
        "for kind in ('gauge_livesum', 'counter'):\n"
        "    open(os.path.join(folder, f'{kind}_{os.getpid()}.db'), 'w').close()\n"
        "open(first, 'w').write(str(os.getpid()))\n"
        "raise SystemExit(1)\n")
    supervisor = _supervise(tmp_path, {"gauges": child},
                            REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0",
                            PROMETHEUS_MULTIPROC_DIR=str(folder))
    try:
        assert wait_until(lambda: "gauges exited with code 1" in
                          (tmp_path / "serve.log").read_text())
        pid = first.read_text()
        assert not (folder / f"gauge_livesum_{pid}.db").exists()
        assert (folder / f"counter_{pid}.db").exists()  # counts outlive their process
        assert f"metrics of every service add up in {folder}" in \
            (tmp_path / "serve.log").read_text()
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(60)
