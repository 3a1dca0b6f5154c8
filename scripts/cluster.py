"""Run the production shape on this machine, from the files in deploy/ (what `make cluster` does).

    python scripts/cluster.py up [--port 8080]   start it all in the background
    python scripts/cluster.py down               stop it all and remove its data
    python scripts/cluster.py status             what runs, on which ports
    python scripts/cluster.py restart-db         restart its PostgreSQL (pg_ctl restart -m fast)
    python scripts/cluster.py render DIR         write the rendered files only (for checks)

The shape: nginx on 127.0.0.1:PORT (deploy/nginx/prefabtrace.conf, plain HTTP), two web
nodes (deploy/systemd/prefabtrace-web@.service, gunicorn, one port each), two RQ photo
workers (prefabtrace-worker@.service), the ledger sealer and the webhook deliverer; a
PostgreSQL of its own (initdb into instance/cluster/pg, on a free loopback port; the
machine's PostgreSQL is never touched), a redis-server of its own and moto's S3 server in
place of MinIO or Ceph. Every address is loopback.

The deploy files are rendered, not copied by hand: the units' ExecStart, WorkingDirectory,
EnvironmentFile and Environment lines are read and /opt/prefabtrace, /etc/prefabtrace,
/var/lib/prefabtrace and /run/prefabtrace become folders under instance/cluster;
deploy/prefabtrace.env.example gives every setting, with the cluster's addresses put in;
the nginx site keeps its upstream, headers, limits and static location, listens on
127.0.0.1 without TLS, and names the upstream node in an X-Upstream header (loopback only).

`up` migrates (prefabtrace-migrate.service's command), loads the demo and writes its API
tokens to instance/cluster-tokens.json (page passwords to instance/cluster-passwords.json),
then starts a supervisor (scripts/serve.py's) in the background for every process but
PostgreSQL; it restarts what exits, as systemd's Restart=always does. `down` stops the
supervisor (SIGTERM: gunicorn finishes its requests), then PostgreSQL, and removes
instance/cluster: moto keeps objects in memory, so a database kept would point at photos
that are gone. Logs are in instance/cluster/logs/ until then.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.serve import Service, Supervisor, _die_with_parent  # noqa: E402

DEPLOY = ROOT / "deploy"
DEFAULT_DIR = ROOT / "instance" / "cluster"
DEFAULT_TOKENS = ROOT / "instance" / "cluster-tokens.json"
WEB_NODES = 2
PHOTO_WORKERS = 2
WEB_WORKERS = 2  # gunicorn workers per node (WEB_CONCURRENCY)
DATABASE = "prefabtrace"
BUCKET = "prefabtrace-photos"
START_TIMEOUT_S = 180.0
# Production paths in deploy/ and the folders they become under the cluster's folder.
PRODUCTION_PATHS = {"/etc/prefabtrace": "etc", "/var/lib/prefabtrace": "var",
                    "/run/prefabtrace": "run"}


def log(message: str) -> None:
    """Say what the cluster is doing, on stderr."""
    print(f"cluster: {message}", file=sys.stderr, flush=True)


class ClusterError(Exception):
    """The cluster cannot be started or reached."""


# ------------------------------------------------------------------ rendering the deploy files


@dataclass
class Layout:
    """Where one cluster keeps its files, and its ports."""

    folder: Path
    port: int = 8080
    web_ports: list[int] = field(default_factory=list)
    postgres_port: int = 0
    redis_port: int = 0
    s3_port: int = 0

    @property
    def env_file(self) -> Path:
        return self.folder / "etc" / "prefabtrace.env"

    @property
    def state_file(self) -> Path:
        return self.folder / "state.json"

    @property
    def pid_folder(self) -> Path:
        return self.folder / "pids"

    @property
    def log_folder(self) -> Path:
        return self.folder / "logs"

    @property
    def pg_data(self) -> Path:
        return self.folder / "pg"

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.postgres_port}/{DATABASE}"

    def local_path(self, text: str) -> str:
        """Replace the production paths in `text` by the cluster's folders."""
        text = text.replace("/opt/prefabtrace/.venv/bin/", os.path.dirname(sys.executable) + "/")
        text = text.replace("/opt/prefabtrace", str(ROOT))
        for path, folder in PRODUCTION_PATHS.items():
            text = text.replace(path, str(self.folder / folder))
        return text

    def to_json(self) -> dict:
        return {"port": self.port, "web_ports": self.web_ports,
                "postgres_port": self.postgres_port, "redis_port": self.redis_port,
                "s3_port": self.s3_port}


def read_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Read a systemd unit into its sections' (key, value) lines, in order (keys repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        while line.endswith("\\") and index < len(lines):  # continued on the next line
            line = line[:-1] + " " + lines[index].strip()
            index += 1
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        if current is None or "=" not in line:
            raise ClusterError(f"{path.name}: not a unit line: {line!r}")
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def unit_value(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    """Return every value of `key` in `section`."""
    return [value for name, value in unit.get(section, []) if name == key]


def _specifiers(text: str, instance: str) -> str:
    # %i the instance, %t the runtime folder (/run, mapped like the other paths), %% a percent.
    text = text.replace("%%", "\0").replace("%i", instance).replace("%I", instance)
    return text.replace("%t", "/run").replace("\0", "%")


def read_env_file(path: Path) -> dict[str, str]:
    """Read KEY=value lines as systemd's EnvironmentFile= does (comments and blanks skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, separator, value = line.partition("=")
        if not separator:
            raise ClusterError(f"{path.name}: not KEY=value: {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@dataclass
class UnitCommand:
    """What a unit runs, rendered for the cluster."""

    name: str
    argv: list[str]
    cwd: str
    env: dict[str, str]


def render_unit(unit_name: str, instance: str, layout: Layout,
                base_env: dict[str, str]) -> UnitCommand:
    """Render one unit's command, folder and environment for the cluster."""
    unit = read_unit(DEPLOY / "systemd" / unit_name)
    starts = unit_value(unit, "Service", "ExecStart")
    if len(starts) != 1:
        raise ClusterError(f"{unit_name}: one ExecStart expected, found {len(starts)}")
    command = layout.local_path(_specifiers(starts[0], instance)).lstrip("-@+!:")
    env = dict(base_env)
    for env_file in unit_value(unit, "Service", "EnvironmentFile"):
        optional = env_file.startswith("-")
        path = Path(layout.local_path(env_file.lstrip("-")))
        if path.exists():
            env.update(read_env_file(path))
        elif not optional:
            raise ClusterError(f"{unit_name}: EnvironmentFile {path} is missing")
    for assignment in unit_value(unit, "Service", "Environment"):
        for word in shlex.split(assignment):
            key, _, value = word.partition("=")
            env[key] = layout.local_path(_specifiers(value, instance))
    directories = unit_value(unit, "Service", "WorkingDirectory") or [str(ROOT)]
    base = unit_name.replace("@.service", "").replace(".service", "")
    name = f"{base}@{instance}" if "@" in unit_name else base
    return UnitCommand(name, shlex.split(command), layout.local_path(directories[-1]), env)


def cluster_settings(layout: Layout, secret_key: str) -> dict[str, str]:
    """Return the settings the cluster puts into the environment template."""
    return {
        "PREFABTRACE_ENV": "production",
        "SECRET_KEY": secret_key,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{layout.port}",
        "PROXY_HOPS": "1",
        "DATABASE_URL": layout.database_url,
        "STORAGE": "s3",
        "S3_BUCKET": BUCKET,
        "S3_PREFIX": "",
        "S3_ENDPOINT_URL": f"http://127.0.0.1:{layout.s3_port}",
        "S3_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "cluster",
        "AWS_SECRET_ACCESS_KEY": "cluster",
        "JOBS": "rq",
        "REDIS_URL": f"redis://127.0.0.1:{layout.redis_port}/0",
        # Plain HTTP on loopback: a secure-only cookie would never come back.
        "SESSION_COOKIE_SECURE": "0",
        "WEB_CONCURRENCY": str(WEB_WORKERS),
    }


def render_env(layout: Layout, secret_key: str) -> str:
    """Render deploy/prefabtrace.env.example with the cluster's addresses and folders."""
    settings = cluster_settings(layout, secret_key)
    template = (DEPLOY / "prefabtrace.env.example").read_text()
    lines = []
    for line in template.splitlines():
        key, separator, value = line.partition("=")
        if separator and not line.lstrip().startswith("#"):
            key = key.strip()
            value = settings.pop(key, layout.local_path(value))
            if key == "LABEL_FONT" and not os.path.exists(value):
                lines.append(f"# {key}={value} (not installed here)")
                continue
            line = f"{key}={value}"
        lines.append(line)
    if settings:
        raise ClusterError(f"deploy/prefabtrace.env.example lacks {', '.join(settings)}")
    return "\n".join(lines) + "\n"


def _blocks(lines: list[str]) -> list[tuple[int, int, str]]:
    """Return the top-level blocks of an nginx file: (first line, last line, opening words)."""
    blocks, depth, start = [], 0, None
    for number, line in enumerate(lines):
        code = line.split("#", 1)[0]
        if depth == 0 and "{" in code:
            start = number
        depth += code.count("{") - code.count("}")
        if depth == 0 and start is not None and "}" in code:
            blocks.append((start, number, lines[start].split("{", 1)[0].strip()))
            start = None
    return blocks


def render_nginx_site(layout: Layout) -> str:
    """Render deploy/nginx/prefabtrace.conf for loopback: plain HTTP, the cluster's nodes."""
    lines = (DEPLOY / "nginx" / "prefabtrace.conf").read_text().splitlines()
    keep: list[str] = []
    position = 0
    for first, last, opening in _blocks(lines):
        keep += lines[position:first]
        block = lines[first:last + 1]
        position = last + 1
        body = "\n".join(block)
        if opening.startswith("server") and "return 301" in body:
            continue  # the HTTP to HTTPS redirect
        if opening.startswith("upstream"):
            indent = re.match(r"\s*", block[1]).group(0)
            options = re.search(r"server\s+\S+(.*);", body).group(1)
            block = [block[0], *(f"{indent}server 127.0.0.1:{port}{options};"
                                 for port in layout.web_ports), block[-1]]
        elif opening.startswith("server"):
            block = _loopback_server(block, layout)
        keep += block
    keep += lines[position:]
    header = "# Rendered from deploy/nginx/prefabtrace.conf by scripts/cluster.py (loopback).\n"
    return header + layout.local_path("\n".join(keep)) + "\n"


def _loopback_server(block: list[str], layout: Layout) -> list[str]:
    rendered = []
    listened = False
    for line in block:
        words = line.split()
        directive = words[0] if words else ""
        indent = line[:len(line) - len(line.lstrip())]
        if directive == "listen":
            if not listened:
                rendered.append(f"{indent}listen 127.0.0.1:{layout.port};")
                listened = True
            continue
        if directive.startswith("ssl_"):
            continue
        if directive == "server_name":
            line = f"{indent}server_name 127.0.0.1 localhost;"
        elif directive in ("access_log", "error_log") and words[1] != "off;":
            path = layout.folder / "nginx" / f"{directive.split('_')[0]}.log"
            # The access log names the node (or nodes) each request went to, for the checks.
            rest = ["upstreams"] if directive == "access_log" else words[2:]
            line = f"{indent}{directive} {' '.join([str(path), *rest])}"
            line = line if line.endswith(";") else line + ";"
        rendered.append(line)
        if directive == "proxy_pass":
            # Which node answered: for the cluster's checks, never in production.
            rendered.append(f"{indent}add_header X-Upstream $upstream_addr always;")
    return rendered


def render_nginx_main(layout: Layout, site: Path) -> str:
    """Return an nginx.conf of the cluster's own: its pid, logs and temporary folders."""
    folder = layout.folder / "nginx"
    temp = {name: folder / "temp" / name for name in ("client_body", "proxy", "fastcgi",
                                                       "uwsgi", "scgi")}
    user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
    return f"""# Rendered by scripts/cluster.py: nginx for the loopback cluster only.
{user}worker_processes 1;
pid {folder / 'nginx.pid'};
error_log {folder / 'error.log'} warn;
events {{
    worker_connections 512;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    # Time, status, the node(s) tried and what each answered, the request line.
    log_format upstreams '$msec $status "$upstream_addr" "$upstream_status" '
                         '$request_time "$request_method $uri"';
    access_log {folder / 'access.log'} upstreams;
    client_body_temp_path {temp['client_body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    include {site};
}}
"""


def render_all(layout: Layout, secret_key: str) -> dict[str, Path]:
    """Write the cluster's env file and nginx files; return their paths."""
    layout.env_file.parent.mkdir(parents=True, exist_ok=True)
    layout.env_file.write_text(render_env(layout, secret_key))
    nginx = layout.folder / "nginx"
    (nginx / "temp").mkdir(parents=True, exist_ok=True)
    site = nginx / "prefabtrace.conf"
    site.write_text(render_nginx_site(layout))
    main = nginx / "nginx.conf"
    main.write_text(render_nginx_main(layout, site))
    return {"env": layout.env_file, "nginx": main, "site": site}


def nginx_binary() -> str:
    """Return the nginx executable (Debian's is in /usr/sbin, often not on PATH)."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                      else None)
    if not found:
        raise ClusterError("nginx is not installed (apt-get install nginx-light)")
    return found


def nginx_test(config: Path) -> subprocess.CompletedProcess:
    """Run `nginx -t` on a rendered configuration."""
    return subprocess.run([nginx_binary(), "-t", "-q", "-c", str(config),
                           "-e", str(config.parent / "error.log")],
                          capture_output=True, text=True, timeout=30)


# ----------------------------------------------------------------------------- the services


def free_port() -> int:
    """Return a loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int, timeout_s: float = 0.5) -> bool:
    """Tell whether something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def postgres_bin() -> Path:
    """Return PostgreSQL's program folder (initdb, pg_ctl, postgres), 15 preferred."""
    candidates = [Path("/usr/lib/postgresql/15/bin"),
                  *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ClusterError("PostgreSQL's programs are missing (apt-get install postgresql-15)")


def _as_postgres(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: run its programs as the postgres user then.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _run(argv: list[str], log_path: Path, timeout_s: float = 120.0, **options) -> None:
    with open(log_path, "a") as handle:
        handle.write(f"$ {shlex.join(argv)}\n")
        handle.flush()
        result = subprocess.run(argv, stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, timeout=timeout_s, **options)
    if result.returncode != 0:
        raise ClusterError(f"{shlex.join(argv[:6])} failed (code {result.returncode}); "
                           f"see {log_path}")


def start_postgres(layout: Layout) -> None:
    """Create the cluster's PostgreSQL on first use and start it on its loopback port."""
    programs = postgres_bin()
    if not (layout.pg_data / "PG_VERSION").exists():
        layout.pg_data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(layout.pg_data, "postgres", "postgres")
            shutil.chown(layout.log_folder, "postgres", "postgres")
        _run(_as_postgres([str(programs / "initdb"), "-D", str(layout.pg_data), "-U", "postgres",
                           "-A", "trust", "-E", "UTF8", "--no-instructions"]),
             layout.log_folder / "setup.log")
        with open(layout.pg_data / "postgresql.conf", "a") as conf:
            # Loopback TCP only: no socket in /var/run/postgresql beside the machine's.
            conf.write("\n# scripts/cluster.py\nlisten_addresses = '127.0.0.1'\n"
                       "unix_socket_directories = ''\nmax_connections = 100\n")
    pg_ctl(layout, "start")
    createdb = [str(programs / "createdb"), "-h", "127.0.0.1", "-p", str(layout.postgres_port),
                "-U", "postgres", DATABASE]
    if subprocess.run(createdb, capture_output=True, timeout=60).returncode != 0:
        log(f"database {DATABASE} exists")


def pg_ctl(layout: Layout, action: str, timeout_s: int = 60) -> None:
    """Run pg_ctl start, stop or restart on the cluster's PostgreSQL (waiting for it)."""
    argv = [str(postgres_bin() / "pg_ctl"), action, "-D", str(layout.pg_data), "-w",
            "-t", str(timeout_s), "-l", str(layout.log_folder / "postgres.log")]
    if action != "stop":
        argv += ["-o", f"-p {layout.postgres_port}"]
    if action != "start":
        argv += ["-m", "fast"]
    _run(_as_postgres(argv), layout.log_folder / "pg_ctl.log", timeout_s=timeout_s + 15)


def inherited_environment() -> dict[str, str]:
    """Return this process's environment without any setting the cluster's env file gives."""
    owned = set(read_env_file(DEPLOY / "prefabtrace.env.example")) | {"GUNICORN_BIND"}
    return {key: value for key, value in os.environ.items() if key not in owned}


def service_commands(layout: Layout) -> list[UnitCommand]:
    """Return every supervised command: the rendered units, then Redis, S3 and nginx."""
    base = inherited_environment() | {"PYTHONUNBUFFERED": "1"}
    commands = [render_unit("prefabtrace-web@.service", str(port), layout, base)
                for port in layout.web_ports]
    commands += [render_unit("prefabtrace-worker@.service", str(n), layout, base)
                 for n in range(1, PHOTO_WORKERS + 1)]
    commands += [render_unit("prefabtrace-sealer.service", "", layout, base),
                 render_unit("prefabtrace-deliverer.service", "", layout, base)]
    redis_folder = layout.folder / "redis"
    redis_folder.mkdir(parents=True, exist_ok=True)
    commands.append(UnitCommand("redis", [
        shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1",
        "--port", str(layout.redis_port), "--dir", str(redis_folder), "--save", "",
        "--appendonly", "no", "--protected-mode", "yes"], str(ROOT), base))
    commands.append(UnitCommand("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                       "-p", str(layout.s3_port)], str(ROOT), base))
    commands.append(UnitCommand("nginx", [
        nginx_binary(), "-c", str(layout.folder / "nginx" / "nginx.conf"),
        "-e", str(layout.folder / "nginx" / "error.log"), "-g", "daemon off;"],
        str(ROOT), base))
    return commands


@dataclass
class ClusterService(Service):
    """A supervised child with its own folder, environment and log file."""

    cwd: str = str(ROOT)
    env: dict[str, str] = field(default_factory=dict)
    log_path: str = ""
    pid_path: str = ""


class ClusterSupervisor(Supervisor):
    """scripts/serve.py's supervisor, with a log file and pid file per service."""

    def start(self, service: ClusterService) -> None:
        with open(service.log_path, "a") as output:
            service.process = subprocess.Popen(
                service.argv, cwd=service.cwd, env=service.env, stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT, process_group=0,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        service.started_at = time.monotonic()
        service.starts += 1
        Path(service.pid_path).write_text(f"{service.process.pid}\n")
        print(f"{time.strftime('%H:%M:%S')} {service.name} started (pid "
              f"{service.process.pid}): {shlex.join(service.argv)}", flush=True)


def supervise(layout: Layout) -> int:
    """Run every service but PostgreSQL, restarting any that exits, until SIGTERM."""
    layout.pid_folder.mkdir(parents=True, exist_ok=True)
    services = [ClusterService(command.name, command.argv, cwd=command.cwd, env=command.env,
                               log_path=str(layout.log_folder / f"{command.name}.log"),
                               pid_path=str(layout.pid_folder / f"{command.name}.pid"))
                for command in service_commands(layout)]
    # Restarts come quickly, as with RestartSec=1 to 2.
    return ClusterSupervisor(services, {}, backoff_first_s=1.0, backoff_max_s=10.0,
                             stable_s=20.0, stop_timeout_s=40.0).run()


# ------------------------------------------------------------------------------- up and down


def load_layout(folder: Path) -> Layout:
    """Read a started cluster's ports."""
    state_file = folder / "state.json"
    if not state_file.exists():
        raise ClusterError(f"no cluster in {folder} (run `make cluster`)")
    state = json.loads(state_file.read_text())
    return Layout(folder, state["port"], state["web_ports"], state["postgres_port"],
                  state["redis_port"], state["s3_port"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _get(url: str, timeout_s: float = 3.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError):
        return 0


def _wait(what: str, ready, timeout_s: float, supervisor: subprocess.Popen | None = None,
          ) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if supervisor is not None and supervisor.poll() is not None:
            raise ClusterError(f"the supervisor exited while waiting for {what}")
        time.sleep(0.25)
    raise ClusterError(f"{what} not ready after {timeout_s:.0f} s")


def flask(layout: Layout, *arguments: str, env_extra: dict[str, str] | None = None) -> None:
    """Run a `flask --app app` command with the cluster's environment."""
    env = {**inherited_environment(), **read_env_file(layout.env_file), **(env_extra or {})}
    _run([sys.executable, "-m", "flask", "--app", "app", *arguments],
         layout.log_folder / "setup.log", timeout_s=300, cwd=ROOT, env=env)


def up(folder: Path, port: int, tokens_path: Path) -> Layout:
    """Start the cluster in the background; return when nginx serves through both nodes."""
    if (folder / "state.json").exists():
        layout = load_layout(folder)
        pid = json.loads(layout.state_file.read_text()).get("supervisor_pid")
        if pid and _alive(pid):
            log(f"already running: http://127.0.0.1:{layout.port}/ (make cluster-down stops it)")
            return layout
        raise ClusterError(f"a stopped cluster is left in {folder}: run `make cluster-down`")
    began = time.monotonic()
    if port_open(port):
        raise ClusterError(f"127.0.0.1:{port} is taken: set CLUSTER_PORT to another port")
    nginx_binary()
    postgres_bin()
    if not shutil.which("redis-server"):
        raise ClusterError("redis-server is not installed (apt-get install redis-server)")
    layout = Layout(folder, port, [free_port() for _ in range(WEB_NODES)], free_port(),
                    free_port(), free_port())
    for path in (folder, layout.log_folder, layout.pid_folder):
        path.mkdir(parents=True, exist_ok=True)
    for name in PRODUCTION_PATHS.values():
        (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / "var" / "keys").mkdir(parents=True, exist_ok=True)
    layout.state_file.write_text(json.dumps(layout.to_json()))
    render_all(layout, secrets.token_hex(32))
    result = nginx_test(folder / "nginx" / "nginx.conf")
    if result.returncode != 0:
        raise ClusterError(f"nginx -t failed: {result.stderr.strip()}")

    log(f"PostgreSQL on 127.0.0.1:{layout.postgres_port} ({layout.pg_data})")
    start_postgres(layout)
    log("migrating (prefabtrace-migrate.service), making the keys, loading the demo")
    # Production refuses to start without its signing keys, and the keys are published in
    # the database: the first migration and the keys run as development, as on a new host.
    migrate = render_unit("prefabtrace-migrate.service", "", layout, inherited_environment())
    _run(migrate.argv, layout.log_folder / "setup.log", timeout_s=300, cwd=migrate.cwd,
         env=migrate.env | {"PREFABTRACE_ENV": "development"})
    development = {"PREFABTRACE_ENV": "development"}
    flask(layout, "labels", "new-key", env_extra=development)
    flask(layout, "ledger", "new-key", env_extra=development)
    demo_tokens = folder / "var" / "demo-tokens.json"
    flask(layout, "demo", "load", "--tokens", str(demo_tokens))

    log("starting the services")
    with open(layout.log_folder / "supervisor.log", "a") as output:
        supervisor = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--dir", str(folder), "supervise"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True)
    state = layout.to_json() | {"supervisor_pid": supervisor.pid, "tokens": str(tokens_path)}
    layout.state_file.write_text(json.dumps(state))
    _wait("the S3 server", lambda: port_open(layout.s3_port), 60, supervisor)
    flask(layout, "photos", "init-storage")
    for web_port in layout.web_ports:
        _wait(f"web node {web_port}",
              lambda p=web_port: _get(f"http://127.0.0.1:{p}/health/ready") == 200,
              START_TIMEOUT_S, supervisor)
    _wait("nginx", lambda: _get(f"http://127.0.0.1:{port}/health/ready") == 200, 30, supervisor)
    tokens_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_tokens, tokens_path)
    passwords = demo_tokens.parent / "demo-passwords.json"
    if passwords.exists():
        shutil.copyfile(passwords, tokens_path.with_name(
            tokens_path.name.replace("tokens", "passwords")))
    log(f"serving on http://127.0.0.1:{port}/ (nodes {', '.join(map(str, layout.web_ports))}) "
        f"after {time.monotonic() - began:.0f} s; API tokens in {tokens_path}; "
        f"logs in {layout.log_folder}")
    return layout


def down(folder: Path, keep: bool = False) -> None:
    """Stop the supervisor (and with it every service), then PostgreSQL; remove the folder."""
    if not folder.exists():
        log("no cluster running")
        return
    state = json.loads((folder / "state.json").read_text()) \
        if (folder / "state.json").exists() else {}
    pid = state.get("supervisor_pid")
    if pid and _alive(pid):
        log(f"stopping the services (supervisor {pid})")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.2)
        if _alive(pid):
            log("the supervisor did not stop: killing it (its children get SIGTERM)")
            os.kill(pid, signal.SIGKILL)
    if state and (folder / "pg" / "postmaster.pid").exists():
        log("stopping PostgreSQL")
        try:
            pg_ctl(load_layout(folder), "stop")
        except ClusterError as error:
            log(str(error))
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
        # The tokens and passwords were for the database just removed.
        if state.get("tokens"):
            tokens = Path(state["tokens"])
            for path in (tokens, tokens.with_name(tokens.name.replace("tokens", "passwords"))):
                path.unlink(missing_ok=True)
        log(f"removed {folder}")


def _reap(pid: int) -> None:
    # The supervisor is our child when `up` ran in this process (tests, the benchmark).
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status(folder: Path) -> int:
    """Print what runs; 0 when nginx answers /health/ready."""
    layout = load_layout(folder)
    print(f"nginx      http://127.0.0.1:{layout.port}/  "
          f"health/ready {_get(f'http://127.0.0.1:{layout.port}/health/ready') or 'down'}")
    for port in layout.web_ports:
        print(f"web node   127.0.0.1:{port}  "
              f"health/ready {_get(f'http://127.0.0.1:{port}/health/ready') or 'down'}")
    print(f"postgresql 127.0.0.1:{layout.postgres_port}  {layout.database_url}")
    print(f"redis      127.0.0.1:{layout.redis_port}   s3 http://127.0.0.1:{layout.s3_port}")
    for pid_file in sorted(layout.pid_folder.glob("*.pid")):
        pid = int(pid_file.read_text())
        print(f"  {pid_file.stem:24} pid {pid:>7} {'running' if _alive(pid) else 'gone'}")
    return 0 if _get(f"http://127.0.0.1:{layout.port}/health/ready") == 200 else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help="the cluster's folder (default instance/cluster)")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the cluster in the background")
    start.add_argument("--port", type=int, default=int(os.environ.get("CLUSTER_PORT", "8080")),
                       help="nginx's loopback port (CLUSTER_PORT, 8080)")
    start.add_argument("--tokens", type=Path, default=DEFAULT_TOKENS,
                       help="where the demo API tokens go (instance/cluster-tokens.json)")
    stop = commands.add_parser("down", help="stop the cluster and remove its data")
    stop.add_argument("--keep", action="store_true", help="keep instance/cluster (logs, data)")
    commands.add_parser("status", help="print what runs")
    commands.add_parser("restart-db", help="restart the cluster's PostgreSQL")
    commands.add_parser("supervise", help=argparse.SUPPRESS)
    render = commands.add_parser("render", help="only write the rendered files into DIR")
    render.add_argument("target", type=Path)
    render.add_argument("--port", type=int, default=8080)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one cluster command."""
    args = parse_args(argv)
    folder = args.dir.resolve()
    try:
        if args.command == "up":
            try:
                up(folder, args.port, args.tokens.resolve())
            except BaseException:
                log(f"start failed; logs in {folder / 'logs'} (make cluster-down cleans up)")
                raise
        elif args.command == "down":
            down(folder, keep=args.keep)
        elif args.command == "status":
            return status(folder)
        elif args.command == "restart-db":
            started = time.monotonic()
            pg_ctl(load_layout(folder), "restart")
            log(f"PostgreSQL restarted in {time.monotonic() - started:.1f} s")
        elif args.command == "supervise":
            return supervise(load_layout(folder))
        elif args.command == "render":
            layout = Layout(args.target.resolve(), args.port, [free_port(), free_port()],
                            free_port(), free_port(), free_port())
            for name, path in render_all(layout, "rendered-" + secrets.token_hex(8)).items():
                print(f"{name}: {path}")
    except ClusterError as error:
        log(str(error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
