"""Running photo checks and model imports: job back ends keyed by the JOBS setting.

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

from construction.services.photos import analyse_photo


def in_app(function, *args) -> None:
    """Run a job's function, refusing to run outside the app (a bare `rq worker`)."""
    if not has_app_context():
        # The app is built by `flask photos worker`; a bare `rq worker` has none.
        raise RuntimeError("jobs run in `flask --app app photos worker`")
    function(*args)


def run_analysis(photo_id: int, checks: list[str] | None = None) -> None:
    """Run a photo's checks (what an RQ worker executes, inside `flask photos worker`)."""
    in_app(analyse_photo, photo_id, checks)


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
    # Imported here, not at the top: only JOBS=rq loads Redis and RQ.
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
    # Imported here, not at the top: only JOBS=rq loads Redis and RQ.
    from redis import Redis
    from rq import Queue

    return Queue(app.config["RQ_QUEUE"], connection=Redis.from_url(app.config["REDIS_URL"]))


def _rq(app: Flask, photo_ids: Iterable[int], checks: list[str] | None, queue=None) -> None:
    queue = redis_queue(app) if queue is None else queue
    for photo_id in photo_ids:
        queue.enqueue(run_analysis, photo_id, checks, job_timeout=app.config["PHOTO_JOB_TIMEOUT"],
                      failure_ttl=7 * 86400, description=f"photo {photo_id} checks")


BACKENDS = {"inline": _inline, "rq": _rq}


def backend(app: Flask) -> str:
    """Return the JOBS setting, refusing a back end that does not exist."""
    name = app.config["JOBS"]
    if name not in BACKENDS:
        raise RuntimeError(f"JOBS is one of {', '.join(BACKENDS)}, not {name!r}")
    return name


def enqueue_analysis(photo_ids: Iterable[int], checks: list[str] | None = None) -> None:
    """Have the photos' checks run by the configured back end."""
    app = current_app._get_current_object()
    BACKENDS[backend(app)](app, list(photo_ids), checks)
