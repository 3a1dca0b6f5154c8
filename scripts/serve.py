"""Run PrefabTrace's processes and keep them running (what `make run` serves with).

    python scripts/serve.py [--port 8000] [--workers 4]

Starts gunicorn (deploy/gunicorn.conf.py), the ledger sealer
(`flask ledger seal --loop`) and the webhook deliverer (`flask webhooks
deliver --loop`). When Redis answers a PING at REDIS_URL (and JOBS is not
set), every child gets JOBS=rq and REDIS_URL (rate limits then count in
Redis) and two RQ photo workers (`flask photos worker`) start too; otherwise
photo checks run in the upload request (JOBS=inline), which needs nothing else.

A child that exits is started again, after a back-off that doubles from
--backoff-first up to --backoff-max while it keeps dying within
--stable seconds of its start; each exit is logged with its code. SIGINT or
SIGTERM is passed on to every child as SIGTERM (gunicorn finishes the
requests under way, the loops their round), and the supervisor waits for
them (killing what is left after --stop-timeout). Each child is in its own
process group, and on Linux gets SIGTERM if the supervisor itself dies.

`--service NAME=COMMAND` (repeatable) replaces the list of children, e.g.
to supervise something else or in tests. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO_WORKERS = 2
# prometheus_client keeps live gauges in files named by kind and process id.
LIVE_GAUGE_FILES = ("gauge_livesum_{pid}.db", "gauge_liveall_{pid}.db",
                    "gauge_livemin_{pid}.db", "gauge_livemax_{pid}.db",
                    "gauge_livemostrecent_{pid}.db")


def log(message: str) -> None:
    """Write one line of the supervisor's own log to stderr."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} serve: {message}", file=sys.stderr,
          flush=True)


@dataclass
class Service:
    """One supervised child: its command, and what became of it."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    quick_exits: int = 0
    starts: int = 0


def redis_answers(url: str, timeout_s: float = 1.0) -> bool:
    """Tell whether a Redis server at `url` answers PING (after AUTH when the URL has one)."""
    parts = urlsplit(url)
    if parts.scheme != "redis":  # rediss:// (TLS) and sockets are not probed: no
        return False
    commands = []
    if parts.password:
        credentials = ([unquote(parts.username)] if parts.username else []) + \
            [unquote(parts.password)]
        commands.append(["AUTH", *credentials])
    commands.append(["PING"])
    request = b"".join(
        b"*%d\r\n" % len(command) + b"".join(
            b"$%d\r\n%s\r\n" % (len(word.encode()), word.encode()) for word in command)
        for command in commands)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379),
                                      timeout=timeout_s) as sock:
            sock.sendall(request)
            answer = b""
            while answer.count(b"\r\n") < len(commands):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return False
    return answer.split(b"\r\n")[len(commands) - 1] == b"+PONG"


def default_services(python: str, host: str, port: int, workers: int,
                     photo_workers: int) -> list[Service]:
    """Return PrefabTrace's processes: web, sealer, webhook deliverer, photo workers."""
    flask = [python, "-m", "flask", "--app", "app"]
    services = [
        Service("web", [python, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                        "--bind", f"{host}:{port}", "--workers", str(workers)]),
        Service("sealer", [*flask, "ledger", "seal", "--loop", "--interval", "2"]),
        Service("webhooks", [*flask, "webhooks", "deliver", "--loop", "--interval", "5"]),
    ]
    services += [Service(f"photos-{n}", [*flask, "photos", "worker"])
                 for n in range(1, photo_workers + 1)]
    return services


def fresh_metrics_folder(env: dict[str, str]) -> str:
    """Give every service one PROMETHEUS_MULTIPROC_DIR, emptied of an earlier run's counts.

    gunicorn's /metrics adds up the files of every process in it: the web
    workers, and beside them the sealer, the deliverer and the photo workers.
    """
    folder = env.get("PROMETHEUS_MULTIPROC_DIR") or os.path.join(ROOT, "instance", "metrics")
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))
    env["PROMETHEUS_MULTIPROC_DIR"] = folder
    return folder


def _die_with_parent() -> None:
    # Linux only: a child is sent SIGTERM when the supervisor dies, even by SIGKILL.
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Supervisor:
    """Start the services, restart any that exits, stop them all on a signal."""

    services: list[Service]
    env: dict[str, str]
    backoff_first_s: float = 1.0
    backoff_max_s: float = 30.0
    stable_s: float = 30.0
    stop_timeout_s: float = 40.0
    cwd: str = ROOT
    stopping: bool = False

    def start(self, service: Service) -> None:
        """Start one child in its own process group."""
        service.process = subprocess.Popen(
            service.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
            process_group=0, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        service.started_at = time.monotonic()
        service.starts += 1
        log(f"{service.name} started (pid {service.process.pid}): {shlex.join(service.argv)}")

    def _reap(self, service: Service, now: float) -> None:
        code = service.process.returncode
        ran_s = now - service.started_at
        how = (f"was killed by {signal.Signals(-code).name}" if code < 0 else
               f"exited with code {code}")
        service.quick_exits = 0 if ran_s >= self.stable_s else service.quick_exits + 1
        ceiling = min(self.backoff_max_s,
                      self.backoff_first_s * 2 ** max(0, service.quick_exits - 1))
        delay = random.uniform(ceiling / 2, ceiling)
        service.restart_at = now + delay
        folder = self.env.get("PROMETHEUS_MULTIPROC_DIR")
        if folder:  # what prometheus_client's mark_process_dead does (stdlib only here)
            for pattern in LIVE_GAUGE_FILES:
                path = os.path.join(folder, pattern.format(pid=service.process.pid))
                if os.path.exists(path):
                    os.remove(path)
        service.process = None
        log(f"{service.name} {how} after {ran_s:.1f} s; restarting in {delay:.1f} s")

    def _signal(self, number: int, _frame) -> None:
        if not self.stopping:
            log(f"{signal.Signals(number).name}: stopping every service")
        self.stopping = True

    def run(self) -> int:
        """Supervise until SIGINT or SIGTERM; then stop the children and return 0."""
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self._signal)
        for service in self.services:
            self.start(service)
        while not self.stopping:
            now = time.monotonic()
            for service in self.services:
                if service.process is not None and service.process.poll() is not None:
                    self._reap(service, now)
                if service.process is None and now >= service.restart_at and not self.stopping:
                    self.start(service)
            time.sleep(0.1)
        self.stop()
        return 0

    def stop(self) -> None:
        """SIGTERM every child, wait for them, SIGKILL what is left after the timeout."""
        running = [s for s in self.services if s.process is not None]
        for service in running:
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for service in running:
            try:
                service.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{service.name} did not stop in {self.stop_timeout_s:.0f} s: killing it")
                os.killpg(service.process.pid, signal.SIGKILL)
                service.process.wait()
            code = service.process.returncode
            log(f"{service.name} stopped ({'code ' + str(code) if code >= 0 else 'signal'})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address gunicorn binds")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "4")),
                        help="gunicorn worker processes")
    parser.add_argument("--photo-workers", type=int, default=PHOTO_WORKERS,
                        help="RQ photo workers when JOBS=rq")
    parser.add_argument("--service", action="append", default=[], metavar="NAME=COMMAND",
                        help="supervise this command instead of PrefabTrace's (repeatable)")
    parser.add_argument("--backoff-first", type=float, default=1.0,
                        help="seconds before the first restart")
    parser.add_argument("--backoff-max", type=float, default=30.0,
                        help="longest wait before a restart")
    parser.add_argument("--stable", type=float, default=30.0,
                        help="a child that ran this long starts its back-off afresh")
    parser.add_argument("--stop-timeout", type=float, default=40.0,
                        help="seconds the children get to stop before they are killed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Choose the job back end, build the list of services and supervise them."""
    args = parse_args(argv)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if "JOBS" not in env:
        if redis_answers(redis_url):
            env["JOBS"] = "rq"
            # Rate limits count in Redis too, shared by every gunicorn worker.
            env["REDIS_URL"] = redis_url
            log(f"Redis answers at {redis_url}: photo checks run on RQ workers (JOBS=rq), "
                "rate limits count there")
        else:
            env["JOBS"] = "inline"
            log(f"no Redis at {redis_url}: photo checks run in the upload request "
                "(JOBS=inline)")
    log(f"metrics of every service add up in {fresh_metrics_folder(env)}")
    if args.service:
        services = []
        for spec in args.service:
            name, _, command = spec.partition("=")
            if not name or not command:
                raise SystemExit(f"--service takes NAME=COMMAND, not {spec!r}")
            services.append(Service(name, shlex.split(command)))
    else:
        services = default_services(sys.executable, args.host, args.port, args.workers,
                                    args.photo_workers if env["JOBS"] == "rq" else 0)
    supervisor = Supervisor(services, env, backoff_first_s=args.backoff_first,
                            backoff_max_s=args.backoff_max, stable_s=args.stable,
                            stop_timeout_s=args.stop_timeout)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
