"""Cluster check: does the deployment shape keep every acknowledged write when parts fail?

Run from the repository root, with the cluster running (`make cluster`):

    .venv/bin/python bench/cluster.py [--seconds 15] [--scanners 4] [--batch-size 20]

or let it start a cluster of its own in a temporary folder and stop it afterwards:

    .venv/bin/python bench/cluster.py --start [--port 18080]

Everything goes through nginx on 127.0.0.1 (the cluster's port), to both web nodes.
Scanners (threads, bench/crash.py's) each move their own components through the
lifecycle with one `POST /api/v1/scans` at a time, and one batch scanner sends
`POST /api/v1/scans/batch` (one lifecycle step for --batch-size components a time);
each re-sends with the same client event ids until acknowledged (201, 200 for a replay;
a batch item accepted or duplicate), after a refused connection, a reset or a 5xx.
Meanwhile, one after the other, --seconds apart:

  1. photos: a photo is uploaded through nginx; the node that took it (nginx's
     X-Upstream header) is A; a photo worker must analyse it (every check done), and the
     other node, B, asked directly, must give its record and its image, with the
     uploaded file's SHA-256;
  2. SIGKILL: the first web node's gunicorn (master and workers, its process group)
     is killed; for --seconds the other must answer every request nginx sends (nginx's
     access log names the node of each request); the supervisor starts the killed node
     again (the time until it answers /health/ready is reported);
  3. PostgreSQL restart: `pg_ctl restart -m fast` on the cluster's PostgreSQL; requests
     that meet it must be answered 503 (problem+json `database-unavailable`), never 500;
     recovery is the time from the restart's start to the first acknowledged scan after
     the last failed request.

Then the scanners stop taking new work, re-send what is not yet acknowledged (for at most
--drain seconds), and the cluster's database is read: per client event id, how many
events were stored. The table: requests, acknowledged, stored, lost (acknowledged, not
stored), stored twice, answers by status (5xx by code and problem type), per node, and the
times. Checks that fail are listed and make the exit status 1 (2 when the run itself could
not run). Bounded: every wait has a deadline; loopback only.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.capture import (  # noqa: E402
    CLIENT_TIME,
    COMPONENT_TYPE,
    ROUTE,
    BenchError,
    http_json,
    import_pieces,
)
from bench.crash import Scanner, ScannerResult  # noqa: E402
from scripts.cluster import (  # noqa: E402
    DEFAULT_DIR,
    ClusterError,
    Layout,
    down,
    load_layout,
    pg_ctl,
    up,
)

# ------------------------------------------------------------------------------- HTTP


def request(port: int, method: str, path: str, body: bytes = b"", headers=None,
            timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """Send one request to 127.0.0.1:port; return status, headers (lower-case) and body."""
    connection = HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


# ------------------------------------------------------------------------- batch scanner


class BatchScanner(Scanner):
    """A handheld sending its queue in batches: one lifecycle step for many components."""

    def __init__(self, port: int, token: str, codes: list[str], run_id: str, size: int,
                 stop: threading.Event, give_up: threading.Event):
        super().__init__(0, port, token, codes, run_id, stop, give_up)
        self.size = size
        self.groups = [codes[n:n + size] for n in range(0, len(codes) - size + 1, size)]

    def run(self) -> None:
        for number, group in enumerate(self.groups):
            for step, (action, data) in enumerate(ROUTE):
                if self.stop.is_set():
                    return
                items = [{"code": code, "action": action, "client_time": CLIENT_TIME,
                          "client_event_id": f"{self.run_id}-b-{number}-{step}-{n}",
                          **({"data": data} if data else {})} for n, code in enumerate(group)]
                self.result.sent += [item["client_event_id"] for item in items]
                acked = self._send_batch_until_acked(items)
                if acked is None:
                    self.result.unacked += [item["client_event_id"] for item in items]
                    return
                if acked < len(items):
                    break  # an item was refused: its component cannot go on with the group
        self.result.out_of_work = True

    def _send_batch_until_acked(self, items: list[dict]) -> int | None:
        """Send one batch until it is answered; return how many items were acknowledged."""
        body = json.dumps({"items": items}).encode()
        while (answered := self.post("/api/v1/scans/batch", body, timeout=60)) is not None:
            status, answer = answered
            try:
                results = json.loads(answer)["results"] if status == 200 else None
            except (ValueError, KeyError):
                # A node killed while it sent the answer: headers came, the body did not.
                self.result.answers["HTTP 200 cut off"] += 1
                time.sleep(0.2)
                continue
            if results is not None:
                self.result.answers["HTTP 200"] += 1
                acked = 0
                for item in results:
                    if item["outcome"] in ("accepted", "duplicate"):
                        self.result.acked.add(item["client_event_id"])
                        acked += 1
                    else:
                        self.result.rejected[item["problem"]["type"].rsplit("/", 1)[-1]] += 1
                return acked
            if self.refused(status, answer):
                return 0
        return None


# ------------------------------------------------------------------------------ photos


def test_photo(seed: int) -> bytes:
    """Return a JPEG no earlier run uploaded (a textured surface with a few dark lines)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    surface = rng.normal(150, 12, (768, 1024)).clip(0, 255).astype("uint8")
    for _ in range(4):
        row = int(rng.integers(50, 700))
        surface[row:row + 3, 100:900] = 60
    output = io.BytesIO()
    Image.fromarray(surface).convert("RGB").save(output, "JPEG", quality=90)
    return output.getvalue()


def upload_photo(port: int, token: str, project_id: int, data: bytes) -> tuple[int, str]:
    """Upload one photo through nginx; return its id and the node that took it."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"project_id\"\r\n\r\n"
            f"{project_id}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"surface.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    for _ in range(20):  # the upload is not retried by nginx: re-send like a phone
        try:
            status, headers, answer = request(
                port, "POST", "/api/v1/photos", body,
                {"Authorization": f"Bearer {token}",
                 "Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=120)
        except OSError:
            time.sleep(1)
            continue
        if status in (200, 202):
            return json.loads(answer)["items"][0]["id"], headers.get("x-upstream", "")
        if status < 500:
            raise BenchError(f"photo upload answered {status}: {answer[:300]!r}")
        time.sleep(1)
    raise BenchError("the photo upload was never acknowledged")


@dataclass
class PhotoCheck:
    node_a: str = ""
    node_b: str = ""
    analysed_s: float | None = None
    checks: dict[str, str] = field(default_factory=dict)
    image_ok: bool = False
    hash_ok: bool = False


def check_photo(layout: Layout, token: str, project_id: int, limit_s: float) -> PhotoCheck:
    """Upload through nginx, then read the record and the image from the other node."""
    data = test_photo(random.randrange(2**32))
    began = time.monotonic()
    photo_id, upstream = upload_photo(layout.port, token, project_id, data)
    result = PhotoCheck(node_a=upstream)
    ports = [p for p in layout.web_ports if not upstream.endswith(f":{p}")]
    other = ports[0] if len(ports) < len(layout.web_ports) else layout.web_ports[-1]
    result.node_b = f"127.0.0.1:{other}"
    auth = {"Authorization": f"Bearer {token}"}
    deadline = began + limit_s
    while time.monotonic() < deadline:
        try:
            status, _, answer = request(other, "GET", f"/api/v1/photos/{photo_id}", b"", auth)
        except OSError:
            time.sleep(0.5)
            continue
        if status == 200:
            view = json.loads(answer)
            result.checks = {name: check["status"] for name, check in view["checks"].items()}
            result.hash_ok = view["content_hash"] == hashlib.sha256(data).hexdigest()
            if result.checks and all(s in ("done", "failed") for s in result.checks.values()):
                result.analysed_s = time.monotonic() - began
                break
        time.sleep(0.5)
    status, headers, image = request(other, "GET", f"/api/v1/photos/{photo_id}/image", b"", auth)
    result.image_ok = status == 200 and headers.get("content-type", "").startswith("image/") \
        and len(image) > 1000
    return result


# ------------------------------------------------------------------------- nginx's log


@dataclass
class LogLine:
    at: float  # when nginx answered
    status: int
    upstreams: list[str]
    upstream_statuses: list[str]
    request: str
    seconds: float = 0.0  # how long nginx took

    @property
    def began(self) -> float:
        return self.at - self.seconds


def read_access_log(layout: Layout, since: float, until: float) -> list[LogLine]:
    """Read nginx's access log lines (the cluster's `upstreams` format) in a time window."""
    lines = []
    path = layout.folder / "nginx" / "access.log"
    for raw in path.read_text(errors="replace").splitlines():
        try:
            at, status, rest = raw.split(" ", 2)
            quoted = rest.split('"')
            upstreams, statuses, request_line = quoted[1], quoted[3], quoted[5]
            moment, code, seconds = float(at), int(status), float(quoted[4])
        except (ValueError, IndexError):
            continue
        if since <= moment <= until:
            lines.append(LogLine(moment, code,
                                 [u.strip() for u in upstreams.split(",")
                                  if u.strip() and u.strip() != "-"],
                                 [s.strip() for s in statuses.split(",")], request_line,
                                 seconds))
    return lines


# ------------------------------------------------------------------------------ the run


@dataclass
class Figures:
    photo: PhotoCheck | None = None
    killed_node: str = ""
    killed_at: float = 0.0
    kill_window: list[LogLine] = field(default_factory=list)
    restarted_s: float | None = None  # until the supervisor started the node again
    node_back_s: float | None = None  # until nginx had an answer from it again
    restart_s: float = 0.0
    db_window: list[LogLine] = field(default_factory=list)
    recovery_s: float | None = None
    results: list[ScannerResult] = field(default_factory=list)
    stored: Counter = field(default_factory=Counter)
    all_lines: list[LogLine] = field(default_factory=list)
    steady_window: list[LogLine] = field(default_factory=list)
    window_s: dict[str, float] = field(default_factory=dict)  # each window's length
    failures: list[str] = field(default_factory=list)


def _ready(port: int) -> bool:
    try:
        return request(port, "GET", "/health/ready", timeout=3)[0] == 200
    except OSError:
        return False


def kill_node(layout: Layout, port: int) -> int:
    """SIGKILL one web node's gunicorn, master and workers (its process group)."""
    pid = int((layout.pid_folder / f"prefabtrace-web@{port}.pid").read_text())
    os.killpg(pid, signal.SIGKILL)
    return pid


def stored_events(layout: Layout, run_id: str) -> Counter:
    """Count the run's events per client event id, straight from the cluster's database."""
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={layout.postgres_port} user=postgres "
                         f"dbname=prefabtrace", connect_timeout=10) as connection:
        return Counter(dict(connection.execute(
            "SELECT client_event_id, count(*) FROM event WHERE client_event_id LIKE %s "
            "GROUP BY client_event_id", (f"{run_id}-%",)).fetchall()))


def run(layout: Layout, token: str, args: argparse.Namespace) -> Figures:
    """Drive the load, make the failures, read the database; return the figures."""
    figures = Figures()
    run_id = f"cl{uuid.uuid4().hex[:8]}"
    project = http_json(layout.port, "POST", "/api/v1/projects", {
        "code": run_id.upper(), "name": f"cluster check {run_id}", "region_code": "330106"},
        token, expect=201)
    http_json(layout.port, "POST", f"/api/v1/projects/{project['id']}/component-types",
              {"name": COMPONENT_TYPE, "category": "slab"}, token, expect=201)
    per_scanner = args.components
    pieces = import_pieces(layout.port, token, project["id"],
                           per_scanner * args.scanners + args.batch_size * args.batches)
    codes = [code for _, code in pieces]
    stop, give_up = threading.Event(), threading.Event()
    scanners: list[threading.Thread] = [
        Scanner(n, layout.port, token, codes[n * per_scanner:(n + 1) * per_scanner], run_id,
                stop, give_up) for n in range(args.scanners)]
    scanners.append(BatchScanner(layout.port, token, codes[per_scanner * args.scanners:],
                                 run_id, args.batch_size, stop, give_up))
    began = time.time()
    for scanner in scanners:
        scanner.start()
    try:
        print(f"[cluster] load on: {args.scanners} scanners + 1 batch scanner", flush=True)
        time.sleep(args.seconds)
        figures.steady_window = read_access_log(layout, began, time.time())
        figures.window_s["steady"] = time.time() - began
        print("[cluster] photo: upload through nginx, read from the other node", flush=True)
        figures.photo = check_photo(layout, token, project["id"], args.photo_timeout)

        node = layout.web_ports[0]
        figures.killed_node = f"127.0.0.1:{node}"
        print(f"[cluster] SIGKILL web node {node}", flush=True)
        pid_file = layout.pid_folder / f"prefabtrace-web@{node}.pid"
        killed_pid = kill_node(layout, node)
        killed_at = figures.killed_at = time.time()
        deadline = time.monotonic() + args.node_timeout
        while time.monotonic() < deadline:
            if int(pid_file.read_text()) != killed_pid and _ready(node):
                break
            time.sleep(0.5)
        if int(pid_file.read_text()) != killed_pid:
            figures.restarted_s = pid_file.stat().st_mtime - killed_at
        time.sleep(max(0.0, killed_at + args.seconds - time.time()))
        # nginx tries a failed node again after its fail_timeout (10 s): give it that, bounded.
        deadline = time.monotonic() + 30
        while True:
            # From the kill on: what nginx sent where, and when the node answered again.
            figures.kill_window = read_access_log(layout, killed_at, time.time())
            figures.window_s["kill"] = time.time() - killed_at
            # Requests sent to the node after the kill (not those it finished as it died).
            served_again = [line.at for line in figures.kill_window
                            if line.upstreams and line.upstreams[-1] == figures.killed_node
                            and line.status < 500 and line.began > killed_at]
            if served_again or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        figures.node_back_s = min(served_again) - killed_at if served_again else None

        print("[cluster] restart PostgreSQL under load", flush=True)
        restart_at = time.time()
        pg_ctl(layout, "restart")
        figures.restart_s = time.time() - restart_at
        time.sleep(args.seconds)
        figures.db_window = read_access_log(layout, restart_at, time.time())
        figures.window_s["db"] = time.time() - restart_at
    finally:
        stop.set()
        deadline = time.monotonic() + args.drain
        for scanner in scanners:
            scanner.join(max(0.1, deadline - time.monotonic()))
        give_up.set()
        for scanner in scanners:
            scanner.join(30)
    figures.results = [scanner.result for scanner in scanners]
    figures.all_lines = read_access_log(layout, began, time.time())
    figures.stored = stored_events(layout, run_id)
    figures.recovery_s = recovery_time(figures.db_window, restart_at)
    judge(figures, layout)
    return figures


def recovery_time(lines: list[LogLine], restart_at: float) -> float | None:
    """Seconds from the restart's start to the first write answered 2xx after the last 5xx."""
    writes = [line for line in lines if line.request.startswith("POST /api/v1/scans")]
    failed = [line.at for line in writes if line.status >= 500]
    after = max(failed, default=restart_at)
    good = [line.at for line in writes if 200 <= line.status < 300 and line.at >= after]
    return min(good) - restart_at if good else None


def judge(figures: Figures, layout: Layout) -> None:
    """List every check that failed."""
    failures = figures.failures
    acked = set().union(*(r.acked for r in figures.results))
    lost = [cid for cid in acked if figures.stored[cid] == 0]
    doubled = [cid for cid, count in figures.stored.items() if count > 1]
    if lost:
        failures.append(f"{len(lost)} acknowledged scans are not stored (e.g. {lost[0]})")
    if doubled:
        failures.append(f"{len(doubled)} scans are stored more than once")
    if not acked:
        failures.append("no scan was acknowledged")
    answers = Counter()
    for result in figures.results:
        answers.update(result.answers)
    if any(key.startswith("HTTP 500") for key in answers):
        failures.append("the app answered 500")
    nodes = Counter(line.upstreams[-1] for line in figures.all_lines if line.upstreams)
    if len(nodes) < len(layout.web_ports):
        failures.append(f"not every node served: {dict(nodes)}")
    photo = figures.photo
    if photo is None or photo.analysed_s is None:
        failures.append("the photo was not analysed in time")
    elif any(status != "done" for status in photo.checks.values()):
        failures.append(f"photo checks did not all succeed: {photo.checks}")
    if photo is not None and not (photo.image_ok and photo.hash_ok):
        failures.append("the other node did not give the photo back as uploaded")
    if photo is not None and photo.node_a == photo.node_b:
        failures.append("the photo was read from the node that took it")
    if figures.restarted_s is None or figures.node_back_s is None:
        failures.append("the killed node did not serve again")
    else:
        # While the node was down every request nginx took must have gone to the other.
        down_until = figures.killed_at + figures.node_back_s
        while_down = [line for line in figures.kill_window if line.began < down_until]
        by_other = [line for line in while_down
                    if line.upstreams and line.upstreams[-1] != figures.killed_node]
        if not by_other:
            failures.append("the other node answered nothing while the killed one was down")
        cut = [line for line in while_down if line.status >= 500
               and line.began > figures.killed_at + 1.0]
        if cut:
            failures.append(f"{len(cut)} requests failed after the kill, beyond those in "
                            "flight")
    db_errors = Counter(line.status for line in figures.db_window if line.status >= 500)
    if db_errors.get(500):
        failures.append("500 answers during the PostgreSQL restart")
    if figures.recovery_s is None:
        failures.append("no write succeeded after the PostgreSQL restart")


def report(figures: Figures, seconds: float) -> None:
    """Print the table of figures and the failed checks."""
    answers = Counter()
    sent = acked = replayed = unacked = 0
    for result in figures.results:
        answers.update(result.answers)
        sent += len(result.sent)
        acked += len(result.acked)
        replayed += len(result.replayed)
        unacked += len(result.unacked)
    stored = sum(1 for count in figures.stored.values() if count)
    acked_ids = set().union(*(r.acked for r in figures.results))
    lost = sum(1 for cid in acked_ids if figures.stored[cid] == 0)
    twice = sum(1 for count in figures.stored.values() if count > 1)
    requests = sum(answers.values())
    nodes = Counter(line.upstreams[-1] for line in figures.all_lines if line.upstreams)
    retried = sum(1 for line in figures.all_lines if len(line.upstreams) > 1)
    rows = [
        ("requests sent (scans and batches, re-sends included)", f"{requests:,}"),
        ("scan events sent (client event ids)", f"{sent:,}"),
        ("acknowledged", f"{acked:,} ({replayed} by a replay)"),
        ("stored (distinct client event ids)", f"{stored:,}"),
        ("lost (acknowledged, not stored)", f"{lost}"),
        ("stored twice", f"{twice}"),
        ("never acknowledged (given up)", f"{unacked}"),
        ("stored, answer never received", f"{len(set(figures.stored) - acked_ids)}"),
    ]
    for key, count in sorted(answers.items()):
        if not key.startswith("HTTP 20"):
            rows.append((f"  answer: {key}", f"{count:,}"))
    for node, count in sorted(nodes.items()):
        rows.append((f"  served by {node}", f"{count:,}"))
    rows.append(("  sent on by nginx to the next node", f"{retried:,}"))
    photo = figures.photo
    if photo is not None:
        analysed = f"{photo.analysed_s:.1f} s" if photo.analysed_s is not None else "no"
        rows += [("photo taken by / read from", f"{photo.node_a} / {photo.node_b}"),
                 ("photo analysed by a worker after", analysed),
                 ("photo checks", ", ".join(f"{k} {v}" for k, v in sorted(photo.checks.items()))),
                 ("photo image and hash from the other node",
                  "ok" if photo.image_ok and photo.hash_ok else "WRONG")]
    kill_status = Counter(line.status for line in figures.kill_window)
    slowest = max((line.seconds for line in figures.kill_window), default=0.0)
    rows += [("SIGKILL: node killed", figures.killed_node),
             ("SIGKILL: answers from the kill on", _statuses(kill_status)),
             ("SIGKILL: slowest answer from the kill on", f"{slowest:.1f} s"),
             ("SIGKILL: node started again after", _seconds(figures.restarted_s)),
             ("SIGKILL: node serving again after", _seconds(figures.node_back_s))]
    db_status = Counter(line.status for line in figures.db_window)
    recovery = f"{figures.recovery_s:.1f} s" if figures.recovery_s is not None else "never"
    rows += [("PostgreSQL restart (pg_ctl -m fast) took", f"{figures.restart_s:.1f} s"),
             ("PostgreSQL restart: answers in the next window", _statuses(db_status)),
             ("PostgreSQL restart: writes acknowledged again after", recovery)]
    # The baseline: answered writes per second before anything failed, beside the windows.
    rows += [(f"writes answered 2xx per second: {name}",
              f"{_rate(lines, figures.window_s.get(key, 0.0)):.1f} "
              f"(over {figures.window_s.get(key, 0.0):.0f} s)")
             for key, name, lines in (("steady", "steady (baseline)", figures.steady_window),
                                      ("kill", "from the SIGKILL on", figures.kill_window),
                                      ("db", "from the PostgreSQL restart on",
                                       figures.db_window))]
    width = max(len(label) for label, _ in rows)
    print(f"\nCluster check ({seconds:.0f} s per phase), through nginx:")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    if figures.failures:
        print("\nFAILED:")
        for failure in figures.failures:
            print(f"  - {failure}")
    else:
        print("\nevery check passed")


def _rate(lines: list[LogLine], seconds: float) -> float:
    writes = [line for line in lines
              if line.request.startswith("POST /api/v1/scans") and 200 <= line.status < 300]
    return len(writes) / seconds if seconds else 0.0


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "never"


def _statuses(counter: Counter) -> str:
    return ", ".join(f"{status}: {count}" for status, count in sorted(counter.items())) or "none"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", action="store_true",
                        help="start a cluster in a temporary folder, and stop it after")
    parser.add_argument("--port", type=int, default=18080, help="nginx's port with --start")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help="the running cluster's folder (instance/cluster)")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--scanners", type=int, default=4)
    parser.add_argument("--components", type=int, default=300,
                        help="components per scanner (11 scans each)")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--batches", type=int, default=30,
                        help="groups of components for the batch scanner")
    parser.add_argument("--drain", type=float, default=30.0,
                        help="seconds to re-send what is not acknowledged at the end")
    parser.add_argument("--photo-timeout", type=float, default=120.0)
    parser.add_argument("--node-timeout", type=float, default=120.0,
                        help="longest wait for the killed node to serve again")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the check on a running cluster (or one started here); print the table."""
    args = parse_args(argv)
    if args.start:
        folder = Path(tempfile.mkdtemp(prefix="prefabtrace-cluster-")) / "cluster"
        # PostgreSQL runs as the postgres user when this runs as root: it must reach its folder.
        folder.parent.chmod(0o755)
    else:
        folder = args.dir.resolve()
    try:
        if args.start:
            layout = up(folder, args.port, folder / "tokens.json")
            tokens = folder / "tokens.json"
        else:
            layout = load_layout(folder)
            tokens = folder.parent / "cluster-tokens.json"
        token = json.loads(tokens.read_text())["admin"]
        figures = run(layout, token, args)
    except (BenchError, ClusterError) as error:
        print(f"cluster check could not run: {error}", file=sys.stderr)
        return 2
    finally:
        if args.start:
            down(folder)
            shutil.rmtree(folder.parent, ignore_errors=True)
    report(figures, args.seconds)
    return 1 if figures.failures else 0


if __name__ == "__main__":
    sys.exit(main())
