"""Gunicorn workers whose own error answers are problem+json, like the app's.

Gunicorn answers some requests before the app sees them: a request line or
headers over the limits (414, 431), a malformed request (400), an app that
crashed outside Flask (500). Its stock answer is an HTML page; a client of
this API gets `application/problem+json` for every error instead. Selected
in deploy/gunicorn.conf.py (`worker_class`).
"""

from __future__ import annotations

import html
import json
import re

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from construction.errors import PROBLEM_BASE, PROBLEM_TYPES

_TYPES = {400: "bad-request", 403: "forbidden", 414: "uri-too-long",
          431: "headers-too-large", 500: "internal-error"}
_STATUS_LINE = re.compile(rb"^HTTP/1\.[01] (\d{3}) ([^\r\n]*)")
_MESSAGE = re.compile(rb"</h1>\s*(.*?)\s*</body>", re.DOTALL)


class _ErrorPage:
    """Stands in for the client socket while gunicorn writes its HTML error page."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0  # non-blocking already: gunicorn writes straight away

    def sendall(self, data: bytes) -> None:
        self.data += data


def problem_answer(page: bytes) -> bytes:
    """Turn gunicorn's HTML error answer into the same answer as problem+json."""
    status_line = _STATUS_LINE.match(page)
    status = int(status_line.group(1)) if status_line else 500
    reason = status_line.group(2).decode("latin-1") if status_line else "Internal Server Error"
    found = _MESSAGE.search(page)
    detail = html.unescape(found.group(1).decode("latin-1")) if found else ""
    type_ = _TYPES.get(status, "bad-request" if status < 500 else "internal-error")
    body: dict = {"type": PROBLEM_BASE + type_, "title": PROBLEM_TYPES[type_][1],
                  "status": status}
    if detail:
        body["detail"] = detail
    encoded = json.dumps(body).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/problem+json\r\n"
            f"Content-Length: {len(encoded)}\r\n\r\n")
    return head.encode("latin-1") + encoded


class ProblemErrors:
    """Mixin for a gunicorn worker: its error answers in problem+json."""

    def handle_error(self, req, client, addr, exc):
        """Answer a request gunicorn could not hand to the app, as problem+json."""
        # Gunicorn decides the status, logs and writes its page; only the page changes.
        page = _ErrorPage()
        super().handle_error(req, page, addr, exc)
        if not page.data:
            return
        try:
            util.write_nonblock(client, problem_answer(page.data))
        except Exception:  # the client may be gone; gunicorn ignores this too
            self.log.debug("Failed to send error message.")


class ProblemSyncWorker(ProblemErrors, SyncWorker):
    """Gunicorn's sync worker, with problem+json error answers."""


class ProblemThreadWorker(ProblemErrors, ThreadWorker):
    """Gunicorn's threaded worker, with problem+json error answers."""
