"""Photo upload benchmark: peak memory and wall time of one gunicorn worker per upload.

    .venv/bin/python bench/photo_upload.py [--timeout 120] [--case NAME ...] [--checks-later]

Each case starts a fresh gunicorn (one sync worker, JOBS=inline, SQLite, local storage,
every other setting at its default), sends one multipart upload to POST /api/v1/photos over
loopback and reports: the HTTP answer (status, problem type), wall time, the worker's peak
resident memory (VmHWM from /proc, polled while the request runs, so a worker killed on its
timeout is measured too) beside the same worker's peak when warm (after one small photo was
uploaded and checked, so every library is loaded), what the database holds afterwards
(photos stored, photos still `pending`; the warm-up photo not counted), and the longest
another writer waited for SQLite's write lock while the upload ran (a thread of this
script taking the lock as a scan does, `BEGIN IMMEDIATE` then `COMMIT`, again and again
until the answer is in; the inline checks after the upload count too, unless
`--checks-later` leaves them pending, as a queue with no worker would: the upload alone).

Cases (PNGs are flat colour rectangles, so they compress ~700:1 — the cheapest way to send
many pixels):
- `12 MP JPEG x1` — an ordinary site photo, the baseline of the run;
- `49 MP PNG x1` — one 7000 x 7000 PNG;
- `49 MP PNG x20` — twenty of them in one request (980 MP, the reported case);
- `50 MP PNG x20` — PHOTO_MAX_FILES photos at PHOTO_MAX_PIXELS each (1,000 MP);
- `50 MP PNG x4` — the most that a 200 MP per-upload pixel budget lets through at once;
- `10 MP PNG x20` — the same 200 MP spread over PHOTO_MAX_FILES files.

Measured 2026-12-05 on the 2-core machine (other work running: wall times varied up to 2x
between runs; peaks within 10 %), worker peak MB before -> after this change, warm worker
177 MB: 12 MP JPEG 289-306 -> 236-240; one 49 MP PNG 708-726 -> 352-354; 49 MP x20 and
50 MP x20 737-764 MB and, with --timeout 30, an HTML 500 after 30-31 s with 20 photos stored
and 12-13 left pending (with --timeout 120: 44-111 s) -> 413 image-too-large in 0.1 s,
nothing stored; 50 MP x4 724-740 MB, 13-15 s -> 361-409 MB, 7-11 s; 10 MP x20
269-285 MB -> 238-242 MB, 9-19 s either way.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

CASES = {
    "12 MP JPEG x1": ("jpeg", 4000, 3000, 1),
    "49 MP PNG x1": ("png", 7000, 7000, 1),
    "49 MP PNG x20": ("png", 7000, 7000, 20),
    "50 MP PNG x20": ("png", 7071, 7071, 20),
    "50 MP PNG x4": ("png", 7071, 7071, 4),
    "10 MP PNG x20": ("png", 3651, 2738, 20),
}


def _png(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 150, np.uint8)
    for _ in range(200):
        x, y = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(50, max(51, width // 5), 2)
        image[y:y + h, x:x + w] = rng.integers(30, 230, 3)
    return cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes()


def _jpeg(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 220, (height // 16, width // 16, 3), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def _files(kind: str, width: int, height: int, count: int) -> list[tuple[str, bytes]]:
    make = _png if kind == "png" else _jpeg
    first = make(width, height, 0)
    files = [(f"photo-0.{kind}", first)]
    for number in range(1, count):
        # Every file differs (a retried photo would be the same photo), cheaply: the same
        # pixels under another zlib/JPEG stream would still be the same picture, so change one.
        files.append((f"photo-{number}.{kind}", make(width, height, number)))
    return files


def _multipart(files: list[tuple[str, bytes]], project_id: int) -> tuple[bytes, str]:
    boundary = "prefabtrace-bench-boundary"
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"project_id\"\r\n\r\n"
             f"{project_id}\r\n".encode()]
    for name, data in files:
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
                     f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                     .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _prepare_database(folder: Path) -> tuple[dict[str, str], int, str]:
    """A migrated SQLite database with one project and an admin token; the server's env."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
           "PHOTO_DIR": str(folder / "photos"), "JOBS": "inline",
           "LABEL_SIGNING_KEY_FILE": str(folder / "label-signing-key.pem"),
           "PREFABTRACE_ENV": "development", "LOG_LEVEL": "WARNING"}
    script = (
        "import flask_migrate\n"
        "from app import create_app\n"
        "from construction.extensions import db\n"
        "from construction.models import Organization, OrganizationKind, Project, Role, User\n"
        "from construction.services.accounts import issue_token\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    flask_migrate.upgrade()\n"
        "    org = Organization(name='Maker', kind=OrganizationKind.manufacturer,"
        " region_code='330110')\n"
        "    user = User(name='bench-admin', organization=org, role=Role.admin)\n"
        "    project = Project(code='P-BENCH', name='Bench', region_code='330106')\n"
        "    db.session.add_all([org, user, project]); db.session.commit()\n"
        "    print(project.id, issue_token(user.id, name='bench')[1])\n")
    output = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True,
                            capture_output=True, text=True).stdout.split()
    return env, int(output[-2]), output[-1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


def _peak_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Server:
    """One gunicorn master with one sync worker on loopback."""

    def __init__(self, env: dict[str, str], timeout: int):
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "--timeout", str(timeout),
             "-b", f"127.0.0.1:{self.port}", "app:create_app()"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 600):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read()
        finally:
            connection.close()

    def wait_ready(self, token: str) -> int:
        """Wait for the worker to answer; return its pid."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.request("GET", "/api/v1/photos",
                             headers={"Authorization": f"Bearer {token}"}, timeout=30)
                workers = _children(self.process.pid)
                if workers:
                    return workers[0]
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def run_case(name: str, timeout: int, checks_later: bool = False) -> dict[str, str]:
    kind, width, height, count = CASES[name]
    files = _files(kind, width, height, count)
    folder = Path(tempfile.mkdtemp(prefix="prefabtrace-bench-"))
    try:
        env, project_id, token = _prepare_database(folder)
        if checks_later:
            # No time for inline checks, and no Redis to hand them to: they stay pending.
            env = {**env, "PHOTO_INLINE_BUDGET_S": "0", "REDIS_URL": "redis://127.0.0.1:1/0"}
        server = Server(env, timeout)
        try:
            worker = server.wait_ready(token)
            # A small photo first: the first upload of a worker loads OpenCV, zxing and the
            # checks' modules, which is not what the case measures.
            warm_up, content_type = _multipart([("warm-up.jpg", _jpeg(320, 240, 99))],
                                               project_id)
            server.request("POST", "/api/v1/photos", warm_up,
                           {"Authorization": f"Bearer {token}", "Content-Type": content_type})
            idle_kib = _peak_kib(worker) or 0
            peaks = {worker: idle_kib}
            done = threading.Event()

            def watch() -> None:
                # A worker killed on its timeout is replaced: watch every worker there is.
                while not done.is_set():
                    for pid in _children(server.process.pid):
                        value = _peak_kib(pid)
                        if value is not None:
                            peaks[pid] = max(peaks.get(pid, 0), value)
                    time.sleep(0.02)

            waits = [0.0]

            def write() -> None:
                # What a scan needs: the write lock, briefly. How long does it wait for it?
                with sqlite3.connect(folder / "bench.db", isolation_level=None,
                                     timeout=600) as writer:
                    while not done.is_set():
                        began = time.perf_counter()
                        writer.execute("BEGIN IMMEDIATE")
                        writer.execute("COMMIT")
                        waits[0] = max(waits[0], time.perf_counter() - began)
                        time.sleep(0.01)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            scanner = threading.Thread(target=write, daemon=True)
            scanner.start()
            body, content_type = _multipart(files, project_id)
            start = time.perf_counter()
            try:
                status, media, answer = server.request(
                    "POST", "/api/v1/photos", body,
                    {"Authorization": f"Bearer {token}", "Content-Type": content_type})
            except OSError as error:
                status, media, answer = 0, "", str(error).encode()
            wall = time.perf_counter() - start
            done.set()
            watcher.join()
            scanner.join()
        finally:
            server.stop()
        answer_text = answer.decode("utf-8", "replace")
        if "problem+json" in media:
            import json

            what = json.loads(answer_text).get("type", "").rsplit("/", 1)[-1]
        elif "json" in media:
            what = "json"
        else:
            what = media.split(";")[0] or answer_text[:40]
        with sqlite3.connect(folder / "bench.db") as database:
            stored = database.execute("SELECT count(*) FROM photo").fetchone()[0] - 1
            pending = database.execute(
                "SELECT count(*) FROM photo WHERE status = 'pending'").fetchone()[0]
        return {"case": name, "MP sent": f"{width * height * count / 1e6:,.0f}",
                "body MB": f"{len(body) / 1e6:.1f}", "answer": f"{status} {what}",
                "wall s": f"{wall:.1f}", "worker peak MB": f"{max(peaks.values()) / 1024:.0f}",
                "warm worker MB": f"{idle_kib / 1024:.0f}", "stored": str(stored),
                "pending": str(pending), "longest write wait s": f"{waits[0]:.2f}"}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=int, default=120, help="gunicorn worker timeout (s)")
    parser.add_argument("--case", action="append", choices=list(CASES),
                        help="run only these cases (repeatable)")
    parser.add_argument("--checks-later", action="store_true",
                        help="leave the checks pending: time and lock the upload alone")
    args = parser.parse_args()
    rows = []
    for name in args.case or list(CASES):
        rows.append(run_case(name, args.timeout, args.checks_later))
        print(f"# {rows[-1]}", file=sys.stderr, flush=True)
    header = list(rows[0])
    widths = [max(len(h), *(len(row[h]) for row in rows)) for h in header]
    print(f"gunicorn: 1 sync worker, --timeout {args.timeout}, JOBS=inline, SQLite"
          + (", checks left pending" if args.checks_later else ""))
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(row[h].ljust(w) for h, w in zip(header, widths, strict=True)))


if __name__ == "__main__":
    main()
