"""Prometheus metrics: what every process counts, and what a scrape reads from the database.

Counters and histograms live in this module and are updated where things
happen (a request ends, a scan is recorded, a photo check finishes...). Under
gunicorn, and beside it the sealer, the deliverer and the photo workers, every
process writes its own files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's
multiprocess mode, chosen when that variable is set before this module is first
imported); `GET /metrics` sums them, so the answer is the same whichever worker
serves it. Gauges that are facts about the database (sealing lag, checkpoint
age, webhook backlog) are read at scrape time by `DatabaseCollector`, a few
indexed queries, rather than by background threads.
"""

from __future__ import annotations

import logging
import os
from collections import Counter as Tally
from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from construction import extensions
from construction.extensions import db
from construction.models import WebhookDelivery
from construction.services.ledger import UNSEALED_COUNT_CAP, ledger_lag

log = logging.getLogger(__name__)
# The `_created` series double the output and say when a process started: not wanted here.
disable_created_metrics()

REQUESTS = Counter("prefabtrace_http_requests", "HTTP requests answered",
                   ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "prefabtrace_http_request_duration_seconds", "Time to answer an HTTP request",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120))
SCANS = Counter("prefabtrace_scans", "Scans recorded, by action and outcome "
                "(accepted, duplicate, rejected)", ["action", "outcome"])
BATCH_ITEMS = Histogram("prefabtrace_scan_batch_items",
                        "Scans per recording (a single scan is a batch of one)",
                        buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000))
LOCK_WAIT_SECONDS = Histogram(
    "prefabtrace_db_lock_wait_seconds",
    "Time a write waited for its lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: the "
    "components' row locks)", ["database"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 10))
PHOTO_CHECK_SECONDS = Histogram(
    "prefabtrace_photo_check_duration_seconds", "Time one photo check took",
    ["check", "status"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
WEBHOOK_ATTEMPTS = Counter("prefabtrace_webhook_attempts",
                           "Webhook delivery attempts, by outcome (delivered, retrying, failed)",
                           ["outcome"])
LABEL_REFUSALS = Counter("prefabtrace_label_refusals",
                         "Scanned labels refused, by kind (label-invalid, label-revoked)",
                         ["kind"])
COPY_ALERTS = Counter("prefabtrace_copy_alerts",
                      "Suspected label copies flagged, by kind (new alerts and repeats)",
                      ["kind"])

# Counted only if the transaction they belong to commits (a retried scan counts once).
_PENDING = "prefabtrace.metrics.pending"


def count_on_commit(counter: Counter, label: str) -> None:
    """Count one of `counter{label}` when the current database transaction commits."""
    db.session().info.setdefault(_PENDING, []).append((counter, label))


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        for (counter, label), times in Tally(pending).items():
            counter.labels(label).inc(times)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


def count_scans(results, items) -> None:
    """Count recorded scans by action and outcome, and the size of the recording."""
    BATCH_ITEMS.observe(len(items))
    tally = Tally((item.action, result.outcome)
                  for item, result in zip(items, results, strict=True))
    for (action, outcome), times in tally.items():
        SCANS.labels(action, outcome).inc(times)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count an answered request and its duration."""
    REQUESTS.labels(method, route, status).inc()
    REQUEST_SECONDS.labels(method, route, status).observe(seconds)


def observe_sqlite_lock_wait(seconds: float) -> None:
    """Record how long a SQLite writer waited for the write lock."""
    LOCK_WAIT_SECONDS.labels("sqlite").observe(seconds)


extensions.on_write_lock_wait = observe_sqlite_lock_wait


def multiprocess() -> bool:
    """Tell whether metrics are shared between processes through PROMETHEUS_MULTIPROC_DIR."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def _age_s(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


class DatabaseCollector:
    """Gauges read from the database (and the photo queue) at scrape time."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        """Yield the gauges; `prefabtrace_database_up` is 0 when the reads failed."""
        up = GaugeMetricFamily("prefabtrace_database_up",
                               "1 when the scrape could read the database")
        families = []
        try:
            lag = ledger_lag()
            now = datetime.now(UTC)
            backlog = db.session.scalar(select(func.count()).select_from(
                select(WebhookDelivery.id).where(WebhookDelivery.status == "pending")
                .limit(UNSEALED_COUNT_CAP).subquery()))
            failed = db.session.scalar(select(func.count()).select_from(
                select(WebhookDelivery.id).where(WebhookDelivery.status == "failed")
                .limit(UNSEALED_COUNT_CAP).subquery()))
            oldest_due = db.session.scalar(select(func.min(WebhookDelivery.next_attempt_at))
                                           .where(WebhookDelivery.status == "pending"))
        except Exception as error:  # a scrape reports the failure, never a 500
            log.warning("metrics: reading the database failed: %s: %s",
                        type(error).__name__, str(error).strip()[:200])
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            families += [
                _gauge("prefabtrace_ledger_unsealed_events",
                       f"Events not yet sealed into the ledger (counted up to "
                       f"{UNSEALED_COUNT_CAP})", lag["unsealed_events"]),
                _gauge("prefabtrace_ledger_oldest_unsealed_age_seconds",
                       "Age of the oldest unsealed event (0 when all are sealed)",
                       lag["oldest_unsealed_age_s"] or 0.0),
                _gauge("prefabtrace_ledger_checkpoint_age_seconds",
                       "Age of the newest ledger checkpoint (absent before the first)",
                       lag["newest_checkpoint_age_s"]),
                _gauge("prefabtrace_webhook_backlog",
                       f"Webhook deliveries waiting to be sent (counted up to "
                       f"{UNSEALED_COUNT_CAP})", backlog),
                _gauge("prefabtrace_webhook_oldest_due_age_seconds",
                       "How long the most overdue pending webhook delivery has been due",
                       _age_s(oldest_due, now) or 0.0),
                _gauge("prefabtrace_webhook_failed_deliveries",
                       f"Webhook deliveries that ran out of attempts (counted up to "
                       f"{UNSEALED_COUNT_CAP})", failed),
            ]
        finally:
            db.session.rollback()
        yield up
        yield from (family for family in families if family is not None)
        depth = photo_queue_depth(self.app)
        if depth is not None:
            yield _gauge("prefabtrace_photo_queue_depth",
                         "Photo checks waiting in the RQ queue (0 with JOBS=inline)", depth)


def _gauge(name: str, documentation: str, value) -> GaugeMetricFamily | None:
    if value is None:
        return None
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], float(value))
    return family


def photo_queue_depth(app) -> int | None:
    """Return the jobs waiting in the photo queue (0 with JOBS=inline), None if Redis fails."""
    if app.config["JOBS"] != "rq":
        return 0
    # Imported here, not at the top: only JOBS=rq loads Redis and RQ.
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        # A scrape must not hang on a Redis that is down.
        connection = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=1,
                                    socket_timeout=1)
        try:
            return connection.llen(f"rq:queue:{app.config['RQ_QUEUE']}")
        finally:
            connection.close()
    except (RedisError, OSError) as error:
        log.warning("metrics: the photo queue is unreachable: %s", error)
        return None


def exposition(app) -> tuple[bytes, str]:
    """Return every metric in Prometheus' text format, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(app))
    if multiprocess():
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY) + generate_latest(registry), CONTENT_TYPE_LATEST
