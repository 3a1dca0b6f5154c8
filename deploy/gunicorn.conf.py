"""Gunicorn settings for PrefabTrace (`gunicorn -c deploy/gunicorn.conf.py`).

`make run` (scripts/serve.py) passes --bind and --workers from PORT and
WORKERS; everything else is here, each value with its reason.
"""

import os
import shutil
import tempfile

wsgi_app = "app:create_app()"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))

# Every answer gunicorn writes itself (oversized request line or headers, a
# malformed request) is problem+json like the app's, not an HTML page.
worker_class = "construction.gunicorn_worker.ProblemSyncWorker"

# With JOBS=inline the photo checks run inside the upload request: a second
# or more per 12 MP photo, and an upload may carry PHOTO_MAX_FILES (20) of
# them. A sync worker busy for longer than `timeout` is killed with its
# request, so the limit sits well above the slowest upload (gunicorn's 30 s
# default would cut such uploads off). With JOBS=rq requests are short.
timeout = 120
# On SIGTERM (a restart, `make run` stopping) requests under way get this long
# to finish before their worker is killed.
graceful_timeout = 30
# Sync workers close each connection after its answer; behind a proxy that
# keeps connections, 5 s is enough to reuse one.
keepalive = 5

# Request size limits. A request line carries at most a path with a query
# string (label URLs are ~200 characters; filters a few hundred): 8 KiB is
# ample and refuses junk early (answered 414). Headers: at most 100, each at
# most 8 KiB (a bearer token, a session cookie and Accept-* fit many times
# over); more is answered 431. Bodies are limited by the app
# (MAX_CONTENT_LENGTH).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# The app writes one access line per request itself (with its request id, user,
# route and duration: construction/logs.py), so gunicorn's own is off; its
# error log goes to stderr, as JSON lines too when LOG_FORMAT=json (the default
# in production), so that a log collector reads one format.
accesslog = None
errorlog = "-"
_production = os.environ.get("PREFABTRACE_ENV") == "production"
if os.environ.get("LOG_FORMAT", "json" if _production else "text") == "json":
    # One JSON handler on the root logger (on stderr), used by gunicorn's error log and
    # the app's loggers alike; gunicorn's access logger stays silent.
    logconfig_dict = {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "construction.logs.JsonFormatter"}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json",
                              "stream": "ext://sys.stderr"}},
        "root": {"level": os.environ.get("LOG_LEVEL", "INFO"), "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }

# Metrics: each worker counts into files in PROMETHEUS_MULTIPROC_DIR and
# /metrics adds up every file (prometheus_client's multiprocess mode), so the
# answer covers all workers whichever one serves it. scripts/serve.py gives
# all its services one folder, emptied when it starts; a gunicorn started
# alone makes a fresh one and removes it on exit. The variable must be set
# before a worker imports the app.
_own_metrics_folder = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _own_metrics_folder = tempfile.mkdtemp(prefix="prefabtrace-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_metrics_folder


def child_exit(server, worker):
    """Drop a dead worker's live gauges (its counters stay: they still count)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder this gunicorn made for itself."""
    if _own_metrics_folder:
        shutil.rmtree(_own_metrics_folder, ignore_errors=True)

# The control socket is not used; several gunicorns on one machine (tests,
# benchmarks, blue/green) would otherwise share its single default path.
control_socket_disable = True
