"""Gunicorn's own error answers are problem+json (a real gunicorn on a loopback port)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the answer to the end; return status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """Gunicorn with deploy/gunicorn.conf.py on a free loopback port."""
    folder = tmp_path_factory.mktemp("gunicorn")
    port = _free_port()
    log = folder / "gunicorn.log"
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{folder / 'app.db'}")
    with open(log, "wb") as handle:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(60)


def _problem(answer, status: int, type_: str) -> dict:
    got, headers, body = answer
    assert got == status, body
    assert headers["content-type"] == PROBLEM
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert problem["status"] == status and problem["type"].endswith("/" + type_)
    assert problem["title"]
    return problem


def test_an_oversized_request_line_is_a_414_problem(gunicorn):
    request = f"GET /api/v1/components?q={'x' * 9000} HTTP/1.1\r\nHost: t\r\n\r\n"
    problem = _problem(_exchange(gunicorn, request.encode()), 414, "uri-too-long")
    assert "8190" in problem["detail"]  # the limit from deploy/gunicorn.conf.py


def test_an_oversized_header_is_a_431_problem(gunicorn):
    request = f"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {'y' * 9000}\r\n\r\n"
    _problem(_exchange(gunicorn, request.encode()), 431, "headers-too-large")


def test_too_many_headers_are_a_431_problem(gunicorn):
    fields = "".join(f"X-Field-{n}: {n}\r\n" for n in range(120))
    request = f"GET /health HTTP/1.1\r\nHost: t\r\n{fields}\r\n"
    _problem(_exchange(gunicorn, request.encode()), 431, "headers-too-large")


def test_a_malformed_request_line_is_a_400_problem(gunicorn):
    _problem(_exchange(gunicorn, b"HELLO THERE\r\n\r\n"), 400, "bad-request")


def test_an_ordinary_request_reaches_the_app(gunicorn):
    status, headers, body = _exchange(
        gunicorn, b"GET /api/v1/problems/uri-too-long HTTP/1.1\r\nHost: t\r\n"
                  b"Connection: close\r\n\r\n")
    assert status == 200 and json.loads(body)["status"] == 414
