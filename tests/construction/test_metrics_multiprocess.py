"""/metrics under a real gunicorn with two workers: every worker's counts add up."""

from __future__ import annotations

import glob
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
ROUTE = "/health/live"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def gunicorn(tmp_path):
    """Gunicorn with deploy/gunicorn.conf.py and two workers; yields (port, metrics folder)."""
    port, folder = _free_port(), tmp_path / "metrics"
    folder.mkdir()
    log = tmp_path / "gunicorn.log"
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}",
               PROMETHEUS_MULTIPROC_DIR=str(folder))
    with open(log, "wb") as handle:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        def answering() -> bool:
            assert server.poll() is None, log.read_text()
            try:
                return _get(port, ROUTE)[0] == 200
            except OSError:
                return False

        assert wait_until(answering), log.read_text()
        yield port, folder, server
    finally:
        server.terminate()
        server.wait(60)


def _counts_by_process(folder: Path) -> dict[int, float]:
    """Read each process's file: its count of answered requests to ROUTE."""
    counts = {}
    for path in glob.glob(str(folder / "counter_*.db")):
        pid = int(Path(path).stem.split("_")[1])
        counts[pid] = 0.0
        for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(path):
            _metric, name, labels, _help = json.loads(key)
            if name == "prefabtrace_http_requests_total" and labels["route"] == ROUTE:
                counts[pid] += value
    return counts


def _scraped_total(port: int) -> float:
    status, body = _get(port, "/metrics")
    assert status == 200, body
    return sum(sample.value for family in text_string_to_metric_families(body.decode())
               for sample in family.samples
               if sample.name == "prefabtrace_http_requests_total"
               and sample.labels["route"] == ROUTE)


def test_counts_from_both_workers_add_up(gunicorn):
    port, folder, server = gunicorn
    sent = 1  # the request that saw the server answer
    with ThreadPoolExecutor(8) as pool:
        def both_workers_served() -> bool:
            nonlocal sent
            statuses = list(pool.map(lambda _: _get(port, ROUTE)[0], range(16)))
            assert statuses == [200] * 16
            sent += 16
            return len([c for c in _counts_by_process(folder).values() if c > 0]) >= 2

        assert wait_until(both_workers_served)
    counts = _counts_by_process(folder)
    assert sum(counts.values()) == sent
    # Whichever worker answers the scrape, it reports every worker's requests.
    assert [_scraped_total(port) for _ in range(4)] == [sent] * 4

    # A worker that dies leaves its counts behind: totals never go backwards.
    os.kill(max(counts, key=counts.get), signal.SIGKILL)
    answered = 0

    def another_answer() -> bool:
        nonlocal answered
        try:
            ok = _get(port, ROUTE)[0] == 200
        except OSError:  # the connection the killed worker had taken
            return False
        answered += ok
        return ok

    assert wait_until(another_answer)
    assert _scraped_total(port) == sent + answered
    assert server.poll() is None
