"""Running photo checks and model imports: a registry of job back ends keyed by the JOBS setting.

`inline` (the default) runs the checks in the request that uploaded the
photo, before it answers, for at most PHOTO_INLINE_BUDGET_S seconds: photos
it has no time for go to the RQ queue when a `flask photos worker` serves it,
else they stay pending for `flask photos reanalyse --pending` (and show as
stalled after PHOTO_JOB_TIMEOUT). `rq` queues every photo on Redis for
`flask photos worker` processes. Either way a check that fails is stored as
failed, with its error, and `flask photos reanalyse` runs it again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from flask import Flask, current_app, has_app_context, has_request_context


def _in_app(function, *args) -> None:
    if not has_app_context():
        # The app is built by `flask photos worker`; a bare `rq worker` has none.
        raise RuntimeError("jobs run in `flask --app app photos worker`")
    function(*args)


def run_analysis(photo_id: int, checks: list[str] | None = None) -> None:
    """Run a photo's checks (what an RQ worker executes, inside `flask photos worker`)."""
    # Imported here: the photo service queues its jobs through this module.
    from construction.services.photos import analyse_photo

    _in_app(analyse_photo, photo_id, checks)


def run_model_import(model_id: int) -> None:
    """Import an IFC model, then convert its geometry for the model page (an RQ job)."""
    from construction.services.models import import_model

    _in_app(import_model, model_id)
    _in_app(_geometry_after_import, model_id)


def _geometry_after_import(model_id: int) -> None:
    from construction.extensions import db
    from construction.models import BimModel
    from construction.services.models import convert_geometry

    model = db.session.get(BimModel, model_id)
    if model is None or model.status != "done" or model.dry_run:
        return
    try:
        convert_geometry(model_id)
    except Exception:  # the import stands; the model page converts again on demand
        current_app.logger.exception("model %s: the geometry conversion failed", model_id)


def run_model_geometry(model_id: int) -> None:
    """Convert a model's geometry for the model page (what an RQ worker executes)."""
    from construction.services.models import convert_geometry

    _in_app(convert_geometry, model_id)


def enqueue_model_geometry(model_id: int, content_hash: str) -> None:
    """Have a model's geometry converted by the configured back end (once per file)."""
    app = current_app._get_current_object()
    if app.config["JOBS"] == "inline":
        run_model_geometry(model_id)
        return
    queue = redis_queue(app)
    job_id = f"geometry-{content_hash}"
    # A page polling for the geometry asks again and again: one conversion per file.
    job = queue.fetch_job(job_id)
    if job is not None and job.get_status(refresh=False) in ("queued", "started", "deferred",
                                                             "scheduled"):
        return
    queue.enqueue(run_model_geometry, model_id, job_id=job_id,
                  job_timeout=app.config["MODEL_JOB_TIMEOUT"], failure_ttl=86400,
                  description=f"model {model_id} geometry")


def enqueue_model_import(model_id: int) -> None:
    """Have a model's import run by the configured back end (parsed there, never in a view)."""
    app = current_app._get_current_object()
    name = app.config["JOBS"]
    if name not in BACKENDS:
        raise RuntimeError(f"JOBS is one of {', '.join(BACKENDS)}, not {name!r}")
    if name == "inline":
        run_model_import(model_id)
        return
    # The photo workers serve the queue: a model import is one more kind of job.
    redis_queue(app).enqueue(run_model_import, model_id,
                             job_timeout=app.config["MODEL_JOB_TIMEOUT"],
                             failure_ttl=7 * 86400, description=f"model {model_id} import")


def _inline(app: Flask, photo_ids: list[int], checks: list[str] | None) -> None:
    # Only a request has a worker timeout to keep within; the CLI runs everything.
    deadline = (time.monotonic() + app.config["PHOTO_INLINE_BUDGET_S"]
                if has_request_context() else None)
    for index, photo_id in enumerate(photo_ids):
        if deadline is not None and time.monotonic() >= deadline:
            _hand_over(app, photo_ids[index:], checks)
            return
        run_analysis(photo_id, checks)


def _hand_over(app: Flask, photo_ids: list[int], checks: list[str] | None) -> None:
    """Queue photos a request had no time for, if a worker serves the queue; else leave them.

    Left, they are pending: `flask photos reanalyse --pending` runs them, and
    after PHOTO_JOB_TIMEOUT they show as stalled (and `--failed` runs them too).
    """
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue, Worker

    try:
        # Short timeouts: a Redis that is down must not hold the request up.
        connection = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=1,
                                    socket_timeout=2)
        queue = Queue(app.config["RQ_QUEUE"], connection=connection)
        # Jobs in a queue that no worker serves would wait unseen, and run twice once
        # reanalyse had picked the photos up.
        if Worker.count(queue=queue) > 0:
            _rq(app, photo_ids, checks, queue)
            app.logger.warning("photos %s: out of time for inline checks, queued on %s",
                               photo_ids, app.config["RQ_QUEUE"])
            return
    except (RedisError, OSError) as error:
        app.logger.warning("photos %s: Redis unreachable for hand-over: %s", photo_ids, error)
    app.logger.warning("photos %s: out of time for inline checks, left pending for "
                       "`flask photos reanalyse --pending`", photo_ids)


def redis_queue(app: Flask):
    """Return the RQ queue photo jobs go to."""
    from redis import Redis
    from rq import Queue

    return Queue(app.config["RQ_QUEUE"], connection=Redis.from_url(app.config["REDIS_URL"]))


def _rq(app: Flask, photo_ids: Iterable[int], checks: list[str] | None, queue=None) -> None:
    queue = redis_queue(app) if queue is None else queue
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
