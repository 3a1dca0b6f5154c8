"""Webhooks: subscriptions to lifecycle events and checkpoints, and their signed deliveries.

The scan path knows nothing of webhooks. A dispatcher reads the sealed ledger
after each active subscription's cursor (`after_sequence`), in sequence order
and in batches, and queues one delivery per matching event, advancing the
cursor in the same transaction; the unique (subscription, event) pair makes a
second run harmless. Checkpoints are queued the same way after a second cursor
(`after_checkpoint`), for regulators' and admins' subscriptions whose actions
name `checkpoint`, once the events they cover have been queued.

A sender then POSTs each subscription's queue in order, one attempt in flight
per subscription: a deliverer claims a subscription (`claimed_until`, a lease)
and sends its oldest pending delivery, then the next, until the oldest is not
due. A failure is retried with exponential back-off until WEBHOOK_MAX_ATTEMPTS,
after which the delivery is `failed` (an API call queues it again); meanwhile
the deliveries behind it wait. After WEBHOOK_BREAKER_FAILURES failures in a row
the subscription's circuit opens: nothing is sent to it for
WEBHOOK_BREAKER_COOLDOWN_S, then one attempt probes it; a success closes the
circuit, a failure opens it again. Nothing waiting is dropped meanwhile.

Running it in production: one long-lived process beside the web workers,
e.g. a systemd unit running

    flask --app app webhooks deliver --loop --interval 5

(more than one is safe, on PostgreSQL as on SQLite: subscriptions are claimed,
so two processes never send for the same subscription at once). Without a
service, `flask --app app webhooks deliver` from cron every minute does the
same work once. Other code calls `deliver()`.

What a receiver gets: a POST of JSON `{"delivery_id", "subscription_id",
"event": {...}}` (or `"checkpoint": {...}`, as GET /api/v1/ledger/checkpoints
shows it) with the headers `X-PrefabTrace-Event` (the action, or
`checkpoint`), `X-PrefabTrace-Delivery` (the same on every attempt:
de-duplicate on it), `X-PrefabTrace-Timestamp` (Unix seconds) and
`X-PrefabTrace-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}"
keyed with the secret>`. Receivers should compare signatures in constant time
and refuse timestamps more than a few minutes old. Deliveries arrive in ledger
order, except a delivery retried through the API after it failed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from construction import lifecycle, metrics
from construction.errors import ApiProblem
from construction.extensions import db
from construction.ledger_format import utf8
from construction.models import (
    Component,
    Event,
    LedgerCheckpoint,
    Project,
    User,
    WebhookDelivery,
    WebhookSubscription,
)
from construction.pagination import Page, paginate
from construction.permissions import (
    Principal,
    project_in_scope,
    readable_project_ids,
    readable_region,
    role_may,
)
from construction.public_http import (
    Outcome,
    WebhookUrlError,
    check_url,
    post_json,
)
from construction.resilience import run_rounds
from construction.services.accounts import principal_of_user
from construction.services.chain import checkpoint_document, seal_all
from construction.services.scans import event_view

CHECKPOINT = "checkpoint"  # the event name that asks for ledger checkpoints
RECENT_DELIVERIES = 20
USER_AGENT = "PrefabTrace-Webhooks/1"
KEEP = object()  # "leave this field as it is" for update_subscription


def setting(name: str):
    """Return a webhook setting (WEBHOOK_..., read at call time so tests may change it)."""
    return current_app.config[name]


# --- signing and posting -----------------------------------------------------------


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the X-PrefabTrace-Signature value for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def backoff(attempts: int) -> timedelta:
    """Return the wait after `attempts` failed attempts: base × 2^(attempts−1), capped, +≤10 %."""
    base, cap = setting("WEBHOOK_BACKOFF_S"), setting("WEBHOOK_BACKOFF_MAX_S")
    seconds = min(cap, base * 2 ** min(max(attempts, 1) - 1, 40))
    # A little jitter, never shorter, so receivers that came back are not hit all at once.
    return timedelta(seconds=max(1.0, seconds * (1 + 0.1 * random.random())))


# --- subscriptions -------------------------------------------------------------------


def _invalid(field: str, message: str) -> ApiProblem:
    return ApiProblem("validation-error", message, errors={field: [message]})


def _checked_actions(actions: list[str] | None, role: str) -> list[str] | None:
    if actions is None:
        return None
    unknown = [a for a in actions if a not in lifecycle.ACTIONS and a != CHECKPOINT]
    if unknown:
        raise _invalid("actions", f"Unknown actions: {', '.join(unknown)}.")
    if not actions:
        raise _invalid("actions", "Name at least one action, or send null for all.")
    if CHECKPOINT in actions and not role_may(role, "webhook.checkpoints"):
        raise ApiProblem("forbidden", "only regulators' and admins' subscriptions receive "
                         "checkpoints")
    return sorted(set(actions))


def _check_project(principal: Principal, project_id: int) -> None:
    if not project_in_scope(principal, project_id):
        if principal.is_admin:
            raise _invalid("project_id", f"There is no project {project_id}.")
        # Out of scope is absent: the same answer as for a project that does not exist.
        raise ApiProblem("not-found", f"no project {project_id} you take part in"
                         + (" or oversee" if principal.role == "regulator" else ""))


def create_subscription(principal: Principal, url: str, actions: list[str] | None = None,
                        project_id: int | None = None,
                        region_code: str | None = None) -> WebhookSubscription:
    """Subscribe a URL to the events of a project or region from now on; make its secret.

    Regulators subscribe to their region (the default) or a part of it, or to
    a project in it; other users to projects they take part in; admins to
    anything, or everything when neither is given.
    """
    try:
        url = check_url(url, setting("WEBHOOK_ALLOW_PRIVATE"))
    except WebhookUrlError as error:
        raise _invalid("url", str(error)) from error
    actions = _checked_actions(actions, principal.role)
    if project_id is not None and region_code is not None:
        raise _invalid("region_code", "Give project_id or region_code, not both.")
    if principal.role == "regulator":
        if project_id is None:
            region = readable_region(principal)
            region_code = region_code or region
            if not region_code.startswith(region):
                raise ApiProblem("forbidden", f"a regulator of region {principal.region_code} "
                                 f"may not subscribe to region {region_code}")
    elif not principal.is_admin:
        if region_code is not None:
            raise ApiProblem("forbidden", "only regulators and admins subscribe to a region")
        if project_id is None:
            raise _invalid("project_id", "Name the project whose events you want.")
    if project_id is not None:
        _check_project(principal, project_id)
    # Start at the ledger's head: a subscription gets the events recorded from now on
    # (history is in GET /api/v1/ledger/events).
    seal_all()
    head = db.session.scalar(select(func.max(Event.sequence))) or 0
    newest = db.session.scalar(select(func.max(LedgerCheckpoint.sequence))) or 0
    subscription = WebhookSubscription(
        organization_id=principal.organization_id, created_by_user_id=principal.user_id,
        url=url, secret="whsec_" + secrets.token_urlsafe(32), actions=actions,
        project_id=project_id, region_code=region_code, active=True, after_sequence=head,
        after_checkpoint=newest, created_at=datetime.now(UTC))
    db.session.add(subscription)
    db.session.commit()
    return subscription


def _manageable(query, principal: Principal):
    """Limit a query of subscriptions to those the principal may see and manage.

    Admins: all. Others: their organization's subscriptions whose events they may read
    themselves — of a project in their scope, or (regulators) of their region or a part of
    it. An admin's subscription to everything, or one to a project the user does not take
    part in, is not theirs to see or change, though a colleague of theirs made it.
    """
    if principal.is_admin:
        return query
    scope = WebhookSubscription.project_id.in_(readable_project_ids(principal))
    if principal.role == "regulator":
        scope = scope | WebhookSubscription.region_code.startswith(readable_region(principal),
                                                                   autoescape=True)
    return query.where(WebhookSubscription.organization_id == principal.organization_id, scope)


def _managed(principal: Principal, subscription_id: int) -> WebhookSubscription:
    query = _manageable(select(WebhookSubscription).where(
        WebhookSubscription.id == subscription_id), principal)
    subscription = db.session.scalar(query)
    if subscription is None:
        raise ApiProblem("not-found", f"no webhook subscription {subscription_id}")
    return subscription


def list_subscriptions(principal: Principal, page: int,
                       per_page: int) -> Page:
    """List your organization's subscriptions to what you may read (admins: all), oldest
    first."""
    query = _manageable(select(WebhookSubscription), principal)
    return paginate(query.order_by(WebhookSubscription.id), page, per_page)


def subscription_detail(principal: Principal, subscription_id: int) -> dict[str, Any]:
    """Return a subscription with its delivery counts and most recent deliveries."""
    subscription = _managed(principal, subscription_id)
    counts = dict(db.session.execute(
        select(WebhookDelivery.status, func.count())
        .where(WebhookDelivery.subscription_id == subscription_id)
        .group_by(WebhookDelivery.status)).all())
    recent = db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
        .order_by(WebhookDelivery.id.desc()).limit(RECENT_DELIVERIES)).all()
    view = {c.key: getattr(subscription, c.key)
            for c in WebhookSubscription.__table__.columns if c.key != "secret"}
    view["circuit"] = subscription.circuit
    view["delivery_counts"] = {status: counts.get(status, 0)
                               for status in ("pending", "delivered", "failed")}
    view["deliveries"] = list(recent)
    return view


def list_deliveries(principal: Principal, subscription_id: int, status: str | None,
                    page: int, per_page: int) -> Page:
    """List a subscription's deliveries, newest first, optionally of one status."""
    _managed(principal, subscription_id)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    return paginate(query.order_by(WebhookDelivery.id.desc()), page, per_page)


def update_subscription(principal: Principal, subscription_id: int, active: bool | None = None,
                        actions: Any = KEEP) -> WebhookSubscription:
    """Switch a subscription on or off, or change its actions (None: every action).

    Switched back on, it resumes where it stopped: the events in between are
    delivered too.
    """
    subscription = _managed(principal, subscription_id)
    if actions is not KEEP:
        # Checkpoints go to subscriptions a regulator or an admin made, whoever edits them.
        creator = db.session.get(User, subscription.created_by_user_id)
        subscription.actions = _checked_actions(actions, creator.role.value)
    if active is not None:
        subscription.active = active
    db.session.commit()
    return subscription


def deactivate_subscription(principal: Principal, subscription_id: int) -> None:
    """Stop a subscription for good; it and its deliveries stay on record."""
    _managed(principal, subscription_id).active = False
    db.session.commit()


def retry_delivery(principal: Principal, subscription_id: int, delivery_id: int,
                   now: datetime | None = None) -> WebhookDelivery:
    """Queue a failed (or still pending) delivery for one more attempt now, and return it.

    The deliverer sends it (never the caller), in its turn: after the older
    deliveries of its subscription still pending. An open circuit is made
    half-open, so that this attempt is the probe. Asking again is harmless.
    """
    subscription = _managed(principal, subscription_id)
    if not subscription.active:
        raise ApiProblem("conflict", f"webhook subscription {subscription_id} is inactive; "
                         "switch it on first")
    delivery = db.session.scalar(select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == subscription_id))
    if delivery is None:
        raise ApiProblem("not-found", f"no delivery {delivery_id} of subscription "
                         f"{subscription_id}")
    if delivery.status == "delivered":
        raise ApiProblem("conflict", f"delivery {delivery_id} was delivered already",
                         current_status=delivery.status)
    at = now or datetime.now(UTC)
    # A failed delivery keeps its attempts: it gets one more before failing again.
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                       .values(status="pending", next_attempt_at=at))
    db.session.execute(update(WebhookSubscription).where(
        WebhookSubscription.id == subscription_id,
        WebhookSubscription.circuit_open_until > at).values(circuit_open_until=at))
    db.session.commit()
    return db.session.get(WebhookDelivery, delivery_id, populate_existing=True)


# --- dispatching: ledger events to deliveries --------------------------------------


def _clock(now: datetime | None) -> Callable[[], datetime]:
    return (lambda: now) if now is not None else (lambda: datetime.now(UTC))


def _reader_scope(user_id: int) -> set[int] | None:
    """Return the projects a subscription's creator may read now (None: all)."""
    principal = principal_of_user(user_id)
    if principal is None:
        return set()
    query = readable_project_ids(principal)
    return None if query is None else set(db.session.scalars(query))


def _matches(subscription: WebhookSubscription, row, readable: set[int] | None) -> bool:
    if subscription.actions is not None and row.action not in subscription.actions:
        return False
    if subscription.project_id is not None and row.project_id != subscription.project_id:
        return False
    if (subscription.region_code is not None
            and not row.region_code.startswith(subscription.region_code)):
        return False
    # Never send what the creator could not read today (left the project, deactivated).
    return readable is None or row.project_id in readable


def _insert_ignoring_duplicates(rows: list[dict[str, Any]], of: str = "event_id") -> int:
    """Insert deliveries, skipping any already queued; return how many were new."""
    table = WebhookDelivery.__table__
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return len(db.session.execute(
        module.insert(table).on_conflict_do_nothing(index_elements=["subscription_id", of])
        .returning(table.c.id), rows).all())


def _may_receive_checkpoints(user_id: int) -> bool:
    user = db.session.get(User, user_id)
    return user is not None and user.active and role_may(user.role.value, "webhook.checkpoints")


def dispatch_checkpoints(now: datetime | None = None) -> int:
    """Queue each new checkpoint for the subscriptions that want it; return how many.

    A checkpoint is queued once a subscription's event cursor has passed the
    events it covers, so a receiver gets it after them. Region and project
    filters do not apply: a checkpoint speaks for the whole ledger.
    """
    newest = db.session.scalar(select(func.max(LedgerCheckpoint.sequence))) or 0
    query = (select(WebhookSubscription)
             .where(WebhookSubscription.active.is_(True),
                    WebhookSubscription.after_checkpoint < newest)
             .order_by(WebhookSubscription.id))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    subscriptions = db.session.scalars(query).all()
    if not subscriptions:
        db.session.commit()
        return 0
    marks = db.session.execute(
        select(LedgerCheckpoint.id, LedgerCheckpoint.sequence)
        .where(LedgerCheckpoint.sequence > min(s.after_checkpoint for s in subscriptions))
        .order_by(LedgerCheckpoint.sequence)).all()
    created, new, allowed = _clock(now)(), [], {}
    for subscription in subscriptions:
        ready = [m for m in marks if subscription.after_checkpoint < m.sequence
                 <= subscription.after_sequence]
        if not ready:
            continue
        subscription.after_checkpoint = ready[-1].sequence
        if subscription.actions is None or CHECKPOINT not in subscription.actions:
            continue
        creator = subscription.created_by_user_id
        if creator not in allowed:
            allowed[creator] = _may_receive_checkpoints(creator)
        if allowed[creator]:
            new += [{"subscription_id": subscription.id, "checkpoint_id": mark.id,
                     "status": "pending", "attempts": 0, "next_attempt_at": created,
                     "last_error": "", "created_at": created} for mark in ready]
    queued = _insert_ignoring_duplicates(new, of="checkpoint_id") if new else 0
    db.session.commit()
    return queued


def dispatch(now: datetime | None = None) -> int:
    """Queue a delivery for every sealed event and checkpoint subscriptions want; return how many.

    Each batch locks the subscriptions it reads (others' dispatchers skip them),
    inserts the deliveries and advances the cursors in one transaction.
    """
    seal_all()
    clock = _clock(now)
    batch = setting("WEBHOOK_DISPATCH_BATCH")
    postgres = db.session.get_bind().dialect.name == "postgresql"
    readers: dict[int, set[int] | None] = {}
    queued = 0
    while True:
        query = (select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
                 .order_by(WebhookSubscription.id))
        if postgres:
            query = query.with_for_update(skip_locked=True)
        subscriptions = db.session.scalars(query).all()
        if not subscriptions:
            break
        start = min(s.after_sequence for s in subscriptions)
        rows = db.session.execute(
            select(Event.id, Event.sequence, Event.action, Component.project_id,
                   Project.region_code)
            .join(Component, Component.id == Event.component_id)
            .join(Project, Project.id == Component.project_id)
            .where(Event.sequence > start).order_by(Event.sequence).limit(batch)).all()
        if not rows:
            break
        last, created = rows[-1].sequence, clock()
        new = []
        for subscription in subscriptions:
            if subscription.created_by_user_id not in readers:
                readers[subscription.created_by_user_id] = _reader_scope(
                    subscription.created_by_user_id)
            readable = readers[subscription.created_by_user_id]
            new += [{"subscription_id": subscription.id, "event_id": row.id,
                     "status": "pending", "attempts": 0, "next_attempt_at": created,
                     "last_error": "", "created_at": created}
                    for row in rows if row.sequence > subscription.after_sequence
                    and _matches(subscription, row, readable)]
            subscription.after_sequence = max(subscription.after_sequence, last)
        if new:
            queued += _insert_ignoring_duplicates(new)
        db.session.commit()
        if len(rows) < batch:
            break
    db.session.commit()
    return queued + dispatch_checkpoints(now)


# --- sending -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    subscription_id: int
    url: str
    secret: str
    action: str
    attempts: int
    body: bytes


@dataclass
class SendReport:
    """How the deliveries attempted in one run went."""

    queued: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    circuits_opened: int = 0


def _lease() -> timedelta:
    # Long enough for an attempt that waits behind a whole batch of others in the pool.
    rounds = -(-setting("WEBHOOK_SEND_BATCH") // max(1, setting("WEBHOOK_SEND_WORKERS")))
    return timedelta(seconds=setting("WEBHOOK_TIMEOUT_S") * 2 * rounds + 60)


_queued = aliased(WebhookDelivery)
# A subscription's next delivery: its oldest pending one (ids follow ledger order).
_HEAD = (select(func.min(_queued.id))
         .where(_queued.subscription_id == WebhookSubscription.id, _queued.status == "pending")
         .correlate(WebhookSubscription).scalar_subquery())


def _claimable(at: datetime):
    subscription = WebhookSubscription
    return (subscription.active.is_(True),
            (subscription.claimed_until.is_(None)) | (subscription.claimed_until <= at),
            (subscription.circuit_open_until.is_(None))
            | (subscription.circuit_open_until <= at))


def _claim_due(due_before: datetime, at: datetime, leased_until: datetime,
               limit: int) -> list[int]:
    """Claim subscriptions whose next delivery is due; return their ids.

    A claimed subscription is sent for by its claimer alone until it releases
    it or `leased_until` passes (the claimer died). On PostgreSQL rows locked by
    another claimer are skipped, and the claim is checked again on the row as
    committed; SQLite's transactions here hold its write lock from the start.
    """
    heads = db.session.execute(select(WebhookSubscription.id, _HEAD.label("head"))
                               .where(*_claimable(at))).all()
    due = list(db.session.scalars(
        select(WebhookDelivery.subscription_id)
        .where(WebhookDelivery.id.in_([h.head for h in heads if h.head is not None]),
               WebhookDelivery.next_attempt_at <= due_before)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)))
    if not due:
        db.session.commit()
        return []
    query = (select(WebhookSubscription.id)
             .where(WebhookSubscription.id.in_(due), *_claimable(at))
             .order_by(WebhookSubscription.id))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = list(db.session.scalars(query))
    if claimed:
        db.session.execute(update(WebhookSubscription)
                           .where(WebhookSubscription.id.in_(claimed))
                           .values(claimed_until=leased_until))
    db.session.commit()
    return claimed


def _hand_back(subscription_id: int, claim: datetime, until: datetime | None = None) -> bool:
    """End (or, with `until`, extend) our claim, uncommitted; False if it was not ours."""
    # The lease's end names the claim: after it expired another deliverer set its own.
    return db.session.execute(
        update(WebhookSubscription).where(WebhookSubscription.id == subscription_id,
                                          WebhookSubscription.claimed_until == claim)
        .values(claimed_until=until)).rowcount == 1


def payload(delivery_id: int, subscription_id: int, event: Event, user_name: str,
            component_code: str, project: tuple[int, str]) -> dict[str, Any]:
    """Return the JSON a receiver gets for one event."""
    body = event_view(event, user_name)
    body.update(component_code=component_code, project_id=project[0], project_code=project[1],
                sequence=event.sequence, content_hash=event.content_hash)
    return {"delivery_id": delivery_id, "subscription_id": subscription_id, "event": body}


def _encode(body: dict[str, Any]) -> bytes:
    return utf8(json.dumps(body, ensure_ascii=False, separators=(",", ":")))


def _next_job(subscription_id: int, due_before: datetime) -> _Job | None:
    """Return the subscription's oldest pending delivery ready to send, if it is due."""
    delivery_id = db.session.scalar(select(_HEAD).select_from(WebhookSubscription)
                                    .where(WebhookSubscription.id == subscription_id))
    row = None if delivery_id is None else db.session.execute(
        select(WebhookDelivery, WebhookSubscription)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.next_attempt_at <= due_before,
               WebhookSubscription.active.is_(True))).first()
    job = None
    if row is not None:
        delivery, subscription = row
        if delivery.checkpoint_id is not None:
            action = CHECKPOINT
            body = {"delivery_id": delivery.id, "subscription_id": subscription.id,
                    "checkpoint": checkpoint_document(
                        db.session.get(LedgerCheckpoint, delivery.checkpoint_id))}
        else:
            event, user_name, code, project_id, project_code = db.session.execute(
                select(Event, User.name, Component.code, Project.id, Project.code)
                .join(User, User.id == Event.user_id)
                .join(Component, Component.id == Event.component_id)
                .join(Project, Project.id == Component.project_id)
                .where(Event.id == delivery.event_id)).one()
            action = event.action
            body = payload(delivery.id, subscription.id, event, user_name, code,
                           (project_id, project_code))
        job = _Job(delivery.id, subscription.id, subscription.url, subscription.secret,
                   action, delivery.attempts, _encode(body))
    # No transaction may stay open while we wait on receivers (SQLite's write lock).
    db.session.rollback()
    return job


def _attempt(job: _Job, sent_at: datetime, timeout: float, allow_private: bool) -> Outcome:
    timestamp = str(int(sent_at.timestamp()))
    return post_json(job.url, job.body, {
        "User-Agent": USER_AGENT,
        "X-PrefabTrace-Event": job.action,
        "X-PrefabTrace-Delivery": str(job.delivery_id),
        "X-PrefabTrace-Timestamp": timestamp,
        "X-PrefabTrace-Signature": signature(job.secret, timestamp, job.body),
    }, timeout, allow_private)


def _record(job: _Job, outcome: Outcome, at: datetime, report: SendReport, claim: datetime,
            renewed: datetime) -> bool:
    """Write an attempt's outcome to its delivery and its subscription's breaker.

    After a delivered attempt the claim is extended to `renewed`, else released,
    in the same transaction; return whether the subscription is still ours.
    """
    attempts = job.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_status_code": outcome.status_code,
                              "last_error": outcome.error[:500]}
    circuit: dict[str, Any] = {"consecutive_failures": 0, "circuit_open_until": None}
    if outcome.delivered:
        values.update(status="delivered", delivered_at=at)
        report.delivered += 1
    else:
        retry_at = at + backoff(attempts)
        # The claim is ours: nobody else counts this subscription's failures meanwhile.
        failures = 1 + db.session.scalar(
            select(WebhookSubscription.consecutive_failures)
            .where(WebhookSubscription.id == job.subscription_id))
        circuit["consecutive_failures"] = failures
        threshold = setting("WEBHOOK_BREAKER_FAILURES")
        if threshold and failures >= threshold:
            circuit["circuit_open_until"] = at + timedelta(
                seconds=setting("WEBHOOK_BREAKER_COOLDOWN_S"))
            retry_at = max(retry_at, circuit["circuit_open_until"])
            report.circuits_opened += 1
            current_app.logger.warning(
                "webhook subscription %s failed %d times in a row: nothing is sent to it "
                "until %s (%s)", job.subscription_id, failures,
                circuit["circuit_open_until"].isoformat(), outcome.error[:200])
        if attempts >= setting("WEBHOOK_MAX_ATTEMPTS"):
            values.update(status="failed")
            report.failed += 1
        else:
            values.update(status="pending", next_attempt_at=retry_at)
            report.retrying += 1
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == job.delivery_id)
                       .values(**values))
    db.session.execute(
        update(WebhookSubscription).where(WebhookSubscription.id == job.subscription_id)
        .values(last_status="delivered" if outcome.delivered else "failed",
                last_status_code=outcome.status_code, last_error=outcome.error[:500],
                last_delivery_at=at, **circuit))
    kept = _hand_back(job.subscription_id, claim, renewed if outcome.delivered else None)
    metrics.count_on_commit(metrics.WEBHOOK_ATTEMPTS, values["status"] if values["status"]
                            != "pending" else "retrying")
    db.session.commit()
    return kept and outcome.delivered


def _send(claims: dict[int, datetime], due_before: datetime, clock: Callable[[], datetime],
          report: SendReport) -> None:
    """Send the claimed subscriptions' queues, one attempt in flight per subscription.

    After a delivered attempt the subscription's next due delivery goes at
    once (the claim extended); after a failed one its queue waits for the
    retry, so the claim is released.
    """
    timeout, allow_private = setting("WEBHOOK_TIMEOUT_S"), setting("WEBHOOK_ALLOW_PRIVATE")
    running: dict[Future, _Job] = {}
    # Only the HTTP requests run in threads; the database is touched here alone.
    with ThreadPoolExecutor(max_workers=max(1, setting("WEBHOOK_SEND_WORKERS"))) as pool:

        def start(subscription_id: int) -> None:
            job = _next_job(subscription_id, due_before)
            if job is None:
                _hand_back(subscription_id, claims.pop(subscription_id))
                db.session.commit()
                return
            running[pool.submit(_attempt, job, clock(), timeout, allow_private)] = job

        for subscription_id in list(claims):
            start(subscription_id)
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                claim, renewed = claims.pop(job.subscription_id), clock() + _lease()
                if _record(job, future.result(), clock(), report, claim, renewed):
                    claims[job.subscription_id] = renewed
                    start(job.subscription_id)


def send_due(now: datetime | None = None) -> SendReport:
    """Attempt every delivery due now (once each), recording each outcome."""
    clock = _clock(now)
    due_before = clock()
    limit = setting("WEBHOOK_SEND_BATCH")
    report = SendReport()
    while True:
        leased_until = clock() + _lease()
        claimed = _claim_due(due_before, clock(), leased_until, limit)
        if not claimed:
            return report
        _send(dict.fromkeys(claimed, leased_until), due_before, clock, report)


def deliver(now: datetime | None = None) -> SendReport:
    """Queue deliveries for new events, then send everything due; one round."""
    queued = dispatch(now)
    report = send_due(now)
    report.queued = queued
    return report


def deliver_forever(interval_s: float = 5.0, max_rounds: int | None = None,
                    stop: threading.Event | None = None,
                    on_report: Callable[[SendReport], None] | None = None):
    """Deliver every `interval_s` until `stop` is set, riding out a lost database; return stats.

    What `flask webhooks deliver --loop` runs: a failed round (the database
    restarted, the connection was cut) is retried after a growing back-off.
    """
    def round_() -> None:
        report = deliver()
        if on_report and (report.queued or report.delivered or report.retrying
                          or report.failed or report.circuits_opened):
            on_report(report)

    return run_rounds("webhook deliverer", round_, interval_s, max_rounds=max_rounds, stop=stop)
