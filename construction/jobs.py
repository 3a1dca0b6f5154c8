"""Running photo checks: a registry of job back ends keyed by the JOBS setting.

`inline` (the default) runs the checks in the request that uploaded the
photo, before it answers; `rq` queues them on Redis for `flask photos worker`
processes. Either way a check that fails is stored as failed, with its error,
and `flask photos reanalyse` runs it again.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, current_app, has_app_context

_worker_app: Flask | None = None


def run_analysis(photo_id: int, checks: list[str] | None = None) -> None:
    """Run a photo's checks (what an RQ worker executes)."""
    from construction.services.photos import analyse_photo

    if has_app_context():
        analyse_photo(photo_id, checks)
        return
    global _worker_app
    if _worker_app is None:  # a plain `rq worker` process: build the app once
        from app import create_app

        _worker_app = create_app()
    with _worker_app.app_context():
        analyse_photo(photo_id, checks)


def _inline(app: Flask, photo_ids: Iterable[int], checks: list[str] | None) -> None:
    for photo_id in photo_ids:
        run_analysis(photo_id, checks)


def redis_queue(app: Flask):
    """Return the RQ queue photo jobs go to."""
    from redis import Redis
    from rq import Queue

    return Queue(app.config["RQ_QUEUE"], connection=Redis.from_url(app.config["REDIS_URL"]))


def _rq(app: Flask, photo_ids: Iterable[int], checks: list[str] | None) -> None:
    queue = redis_queue(app)
    for photo_id in photo_ids:
        queue.enqueue(run_analysis, photo_id, checks, job_timeout=app.config["PHOTO_JOB_TIMEOUT"],
                      failure_ttl=7 * 86400, description=f"photo {photo_id} checks")


BACKENDS = {"inline": _inline, "rq": _rq}


def enqueue_analysis(photo_ids: Iterable[int], checks: list[str] | None = None) -> None:
    """Have the photos' checks run by the configured back end."""
    app = current_app._get_current_object()
    name = app.config["JOBS"]
    if name not in BACKENDS:
        raise RuntimeError(f"JOBS is one of {', '.join(BACKENDS)}, not {name!r}")
    BACKENDS[name](app, list(photo_ids), checks)
