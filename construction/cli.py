"""Command-line groups: `flask users`, `flask ledger`, `flask labels`, `flask photos`,
`flask audit`, `flask demo` (`flask webhooks`, `flask loads`, `flask bim`, `flask production`
and `flask backup` live beside this file)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from datetime import UTC

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from construction.cli_backup import backup
from construction.cli_bim import bim
from construction.cli_loads import loads
from construction.cli_production import production
from construction.cli_webhooks import webhooks
from construction.demo import (
    ROUTE,
    database_is_empty,
    load_demo,
    passwords_path,
    refresh_tokens,
    set_demo_passwords,
)
from construction.errors import ApiProblem
from construction.extensions import db, reading
from construction.jobs import enqueue_analysis, redis_queue
from construction.models import OrganizationKind, Role, User
from construction.resilience import Backoff, discard_session, is_connection_lost, stop_on_signals
from construction.services.accounts import (
    DEFAULT_LIFETIME,
    acting_principal,
    create_organization,
    create_user,
    directory,
    issue_token,
    revoke_token,
    set_active,
    set_password,
)
from construction.services.audit import ACTIONS as AUDIT_ACTIONS
from construction.services.audit import AuditFilters, newest_records
from construction.services.chain import (
    create_checkpoint,
    create_ledger_key,
    keys_from_document,
    seal_all,
    seal_forever,
    verify_ledger,
)
from construction.services.keys import (
    create_signing_key,
    published_keys,
    revoke_key,
    rotate_signing_key,
)
from construction.services.labels import label_font, print_sheet, sheet_selection
from construction.services.ledger import check_ledger, event_count
from construction.services.photos import CHECKS as PHOTO_CHECKS
from construction.services.photos import photos_to_rerun
from construction.services.progress import refill_region_days
from construction.services.seed import seed
from construction.storage import S3Storage, storage
from labels.render import LAYOUTS, render_pdf

users = AppGroup("users", help="Manage organizations, users and API tokens.")
ledger = AppGroup("ledger", help="Check, seal and checkpoint the event ledger.")
demo = AppGroup("demo", help="Demo data.")
labels = AppGroup("labels", help="Print labels and manage the label signing key.")
bench = AppGroup("bench", help="Benchmark data.")
photos = AppGroup("photos", help="Run photo checks: re-run them, serve jobs, prepare storage.")
audit = AppGroup("audit", help="Read the audit log.")


@users.command("create-org")
@click.argument("name")
@click.option("--kind", type=click.Choice([k.value for k in OrganizationKind]), required=True)
@click.option("--region", "region_code", required=True,
              help="Administrative division code, e.g. 330106.")
def create_org(name: str, kind: str, region_code: str) -> None:
    """Create an organization."""
    try:
        organization = create_organization(name, kind, region_code)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    except IntegrityError as error:
        raise click.ClickException(f"an organization named '{name}' already exists") from error
    click.echo(f"organization {organization.id}: {organization.name}")


@users.command("create")
@click.argument("name")
@click.option("--org", "organization_id", type=int, required=True, help="Organization id.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--token/--no-token", default=True, help="Also issue an API token.")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Token lifetime in days (default: TOKEN_DEFAULT_DAYS).")
def create_user_command(name: str, organization_id: int, role: str, token: bool,
                        days: int) -> None:
    """Create a user (and print a token, shown only this once)."""
    try:
        user = create_user(name, organization_id, role)
    except (LookupError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    except IntegrityError as error:
        raise click.ClickException(f"a user named '{name}' already exists") from error
    click.echo(f"user {user.id}: {user.name} ({user.role.value})")
    if token:
        record, secret = issue_token(user.id, name="cli", days=days or DEFAULT_LIFETIME)
        click.echo(f"token {record.id} (shown once): {secret}")


@users.command("token")
@click.argument("user_id", type=int)
@click.option("--name", default="cli")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Token lifetime in days (default: TOKEN_DEFAULT_DAYS).")
def token_command(user_id: int, name: str, days: int) -> None:
    """Issue an API token for a user (shown only this once)."""
    try:
        record, secret = issue_token(user_id, name=name, days=days or DEFAULT_LIFETIME)
    except (LookupError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"token {record.id} (shown once): {secret}")


@users.command("revoke")
@click.argument("token_id", type=int)
def revoke_command(token_id: int) -> None:
    """Revoke an API token."""
    try:
        revoke_token(token_id)
    except LookupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"token {token_id} revoked")


@users.command("password")
@click.argument("user_id", type=int)
@click.password_option(help="The new password (asked for when not given).")
def password_command(user_id: int, password: str) -> None:
    """Set the password a user signs in to the web pages with."""
    try:
        set_password(user_id, password)
    except (LookupError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"user {user_id}: password set; their page sessions have ended")


def _set_active(user_id: int, active: bool) -> User:
    try:
        return set_active(user_id, active)
    except LookupError as error:
        raise click.ClickException(str(error)) from error


@users.command("deactivate")
@click.argument("user_id", type=int)
def deactivate_command(user_id: int) -> None:
    """Deactivate a user: their tokens and page sessions stop working at once."""
    user = _set_active(user_id, False)
    click.echo(f"user {user.id}: {user.name} deactivated; tokens and page sessions stopped")


@users.command("activate")
@click.argument("user_id", type=int)
def activate_command(user_id: int) -> None:
    """Activate a deactivated user again (their unexpired tokens work again)."""
    user = _set_active(user_id, True)
    click.echo(f"user {user.id}: {user.name} active")


@users.command("list")
def list_command() -> None:
    """List organizations, users and their tokens."""
    for organization, users_of in directory():
        click.echo(f"{organization.id:>4} {organization.kind.value:<13} "
                   f"{organization.region_code:<8} {organization.name}")
        for user, tokens in users_of:
            inactive = "" if user.active else ", deactivated"
            click.echo(f"       user {user.id}: {user.name} ({user.role.value}{inactive})")
            for token in tokens:
                state = "revoked" if token.revoked_at else \
                    f"expires {token.expires_at:%Y-%m-%d}" if token.expires_at else "no expiry"
                click.echo(f"         token {token.id}: {token.prefix}… {state}")


@ledger.command("check")
def check_command() -> None:
    """Recompute every component's state from its events; exit 1 on any mismatch."""
    with reading(), click.progressbar(length=0, label="replaying", file=sys.stderr) as bar:
        checked, mismatches = check_ledger(progress=bar.update)
    for mismatch in mismatches:
        derived = mismatch.derived.state if mismatch.derived else "-"
        click.echo(f"MISMATCH component {mismatch.component_id} ({mismatch.code}): "
                   f"stored {mismatch.stored}, events say {derived}: {mismatch.reason}")
    click.echo(f"{checked} components checked, {len(mismatches)} mismatches")
    if mismatches:
        sys.exit(1)


@ledger.command("recount-regions")
def recount_regions_command() -> None:
    """Count the regions' daily transitions again from the projects' (after an upgrade)."""
    written = refill_region_days()
    click.echo(f"{written} region-day counters written")


@labels.command("sheet")
@click.option("--project", "project_code", required=True, help="Project code.")
@click.option("--building", "building_name", default=None, help="Building name.")
@click.option("--storey", "storey_name", default=None, help="Storey name (needs --building "
              "when the project has several buildings with that storey).")
@click.option("--type", "type_name", default=None, help="Component type name.")
@click.option("--state", default=None, help="Only components in this state.")
@click.option("--layout", type=click.Choice(list(LAYOUTS)), default="a4-3x8", show_default=True)
@click.option("--reprint", is_flag=True, help="Issue new label versions, revoking the old.")
@click.option("--reason", default="", help="Why the labels are reprinted (with --reprint).")
@click.option("--user", "user_name", default=None,
              help="Who prints (default: the first admin).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True)
def sheet_command(project_code, building_name, storey_name, type_name, state, layout, reprint,
                  reason, user_name, output) -> None:
    """Print the labels of a project, building or storey to a PDF."""
    try:
        principal = acting_principal(user_name)
        selection = sheet_selection(project_code, building_name, storey_name, type_name, state)
        contents = print_sheet(principal, selection, layout,
                               current_app.config["LABEL_SHEET_MAX"], reprint=reprint,
                               reason=reason)
    except ApiProblem as problem:
        raise click.ClickException(problem.detail) from problem
    with click.progressbar(length=len(contents), label="drawing labels",
                           file=sys.stderr) as bar:
        pdf = render_pdf(contents, LAYOUTS[layout], progress=bar.update, font=label_font())
    with open(output, "wb") as handle:
        handle.write(pdf)
    click.echo(f"{len(contents)} labels on {-(-len(contents) // LAYOUTS[layout].per_page)} "
               f"pages written to {output}")


@labels.command("new-key")
def new_key_command() -> None:
    """Create the label signing key (refused when one exists: rotate it instead)."""
    path = current_app.config["LABEL_SIGNING_KEY_FILE"]
    try:
        kid = create_signing_key()
    except FileExistsError as error:
        raise click.ClickException(f"{path} exists; use `flask labels rotate-key`") from error
    click.echo(f"label signing key {kid} written to {path}")


@labels.command("rotate-key")
@click.option("--keep-retired", type=click.Path(file_okay=False), default=None,
              help="Move the retired private key into this folder (outside the key folder) "
                   "instead of deleting it.")
def rotate_key_command(keep_retired: str | None) -> None:
    """Sign new labels with a new key; labels signed with the old one keep verifying.

    The retired private key leaves the key folder: deleted, or moved to
    --keep-retired. Verifying needs only its public half, which stays published.
    """
    try:
        old, new = rotate_signing_key(keep_retired)
    except (ApiProblem, OSError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    where = f"moved to {keep_retired}" if keep_retired else "its private key deleted"
    click.echo(f"signing key {new} now signs labels" + (f"; {old} retired, {where}" if old
                                                        else ""))


@labels.command("revoke-key")
@click.argument("key_id")
@click.option("--reason", required=True, help="Why (lost, stolen, leaked...); kept on the key.")
def revoke_key_command(key_id: str, reason: str) -> None:
    """Revoke a label key: every label it signed is refused when scanned.

    Rotate first when it is the key that signs now. Components whose current
    label it signed are listed by project: reprint them (`flask labels sheet
    --project CODE --reprint --reason ...`).
    """
    try:
        key, affected = revoke_key(key_id, reason)
    except ApiProblem as problem:
        raise click.ClickException(problem.detail) from problem
    click.echo(f"label key {key.key_id} revoked {key.revoked_at:%Y-%m-%d %H:%M} UTC: "
               f"{key.revoked_reason}")
    for project, count in affected.items():
        click.echo(f"  {project}: {count} components carry a label it signed; reprint them: "
                   f"flask labels sheet --project {project} --reprint --reason "
                   f"'key {key.key_id} revoked' -o {project}.pdf")


@labels.command("keys")
def keys_command() -> None:
    """List the published label keys."""
    for key in published_keys():
        if key.revoked_at:
            state = f"revoked {key.revoked_at:%Y-%m-%d} ({key.revoked_reason})"
        elif key.retired_at:
            state = f"retired {key.retired_at:%Y-%m-%d}"
        else:
            state = "signing"
        click.echo(f"{key.key_id}  {key.algorithm}  {key.public_key}  {state}")


@photos.command("reanalyse")
@click.option("--photo", "photo_ids", type=int, multiple=True, help="A photo id (repeatable).")
@click.option("--failed", is_flag=True, help="Every photo with a failed or stalled check.")
@click.option("--pending", is_flag=True,
              help="Every photo with a check not started (an upload ran out of time).")
@click.option("--check", "checks", type=click.Choice(PHOTO_CHECKS), multiple=True,
              help="Only these checks (repeatable; default all).")
def reanalyse_command(photo_ids, failed, pending, checks) -> None:
    """Run photo checks again through the configured job back end."""
    ids = sorted(set(photo_ids) | set(photos_to_rerun(failed=failed, pending=pending)))
    if not ids:
        if failed or pending:
            click.echo("no photos to run")
            return
        raise click.ClickException("name photos with --photo, or use --failed or --pending")
    db.session.rollback()
    with click.progressbar(ids, label="queueing checks", file=sys.stderr) as bar:
        for photo_id in bar:
            enqueue_analysis([photo_id], list(checks) or None)
    click.echo(f"{len(ids)} photos sent to the {current_app.config['JOBS']} job back end")


@photos.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker_command(burst: bool) -> None:
    """Run photo checks queued on Redis (JOBS=rq); ride out a lost Redis or database."""

    queue = redis_queue(current_app)
    backoff = Backoff()
    stop = threading.Event()
    worker_class = _photo_worker_class(stop)
    # One stop for the whole command: SIGTERM or SIGINT sets it wherever it lands, in a
    # worker or between two, so no signal is lost to the code it interrupted.
    with stop_on_signals(stop):
        while not stop.is_set():
            started = time.monotonic()
            try:
                worker_class([queue], connection=queue.connection).work(burst=burst)
            except Exception as error:  # RQ stops when Redis goes: registering, heartbeats...
                if stop.is_set():
                    return  # asked to stop, and Redis was gone to say goodbye to
                if burst:  # one pass (cron, tests): report the failure
                    raise
                if not is_connection_lost(error):
                    current_app.logger.exception("photo worker failed")
                failure = f"{type(error).__name__}: {str(error).strip()[:200]}"
            else:
                if burst or stop.is_set():
                    return
                failure = "the worker stopped by itself (see RQ's log above)"
            discard_session(lost=True)
            if time.monotonic() - started > 60:  # it had been working: start over quickly
                backoff.reset()
            delay = backoff.next_delay()
            current_app.logger.warning("photo worker: %s; starting again in %.1f s", failure,
                                       delay)
            stop.wait(delay)


def _photo_worker_class(stop: threading.Event):
    # Imported here, not at the top: only JOBS=rq loads Redis and RQ.
    from rq import SimpleWorker
    from rq.exceptions import StopRequested
    from rq.worker import WorkerStatus

    stopped_at: dict[str, float] = {}  # when the first stop signal came

    class PhotoWorker(SimpleWorker):
        """RQ's worker without a fork per job, leaving no session behind after a job.

        Without a fork the app, its database pool and OpenCV stay loaded; a
        check that crashes the process is shown as stalled and re-run later.
        """

        working = False  # inside work(): a stop signal is this worker's to act on

        def work(self, *args, **kwargs):
            self.working = True
            try:
                return super().work(*args, **kwargs)
            finally:
                self.working = False

        def _install_signal_handlers(self):
            # RQ's handlers would outlive this worker: a signal after it ended, while
            # the next one starts, would stop a worker already gone and be lost.
            for number in (signal.SIGTERM, signal.SIGINT):
                signal.signal(number, self._on_stop_signal)
            if stop.is_set():  # it came while this worker registered itself
                self._stop_requested = True

        def _on_stop_signal(self, signum, frame):
            first = stopped_at.setdefault("at", time.monotonic())
            stop.set()
            if not self.working:
                return  # between workers: the command's loop sees `stop`
            if time.monotonic() - first > 1:  # a second signal: cold shutdown, as RQ's
                # (not one within a second: Ctrl-C reaches the process group and the
                # supervisor passes it on too), the job in hand is abandoned
                self.log.warning("Worker %s: cold shut down", self.name)
                raise SystemExit(1)
            # Warm shutdown as RQ's, with no Redis write inside a signal handler:
            # the job in hand is finished first; an idle worker leaves its wait now.
            self.handle_warm_shutdown_request()
            self._stop_requested = True
            if self.get_state() != WorkerStatus.BUSY:
                raise StopRequested()

        def execute_job(self, job, queue):
            try:
                return super().execute_job(job, queue)
            finally:
                # A job that died with the database connection leaves its
                # transaction broken; the next job must not inherit it.
                db.session.remove()

    return PhotoWorker


@photos.command("init-storage")
def init_storage_command() -> None:
    """Create the photo bucket (STORAGE=s3) or folder (STORAGE=local)."""
    backend = storage()
    if isinstance(backend, S3Storage):
        backend.ensure_bucket()
        click.echo(f"bucket {backend.bucket} ready")
    else:
        os.makedirs(current_app.config["PHOTO_DIR"], exist_ok=True)
        click.echo(f"folder {current_app.config['PHOTO_DIR']} ready")


@ledger.command("seal")
@click.option("--loop", is_flag=True, help="Keep sealing (a service beside the web workers).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="Seconds between rounds with --loop.")
@click.option("--rounds", type=click.IntRange(min=1), default=None, hidden=True,
              help="Stop after this many rounds (tests).")
def seal_command(loop: bool, interval: float, rounds: int | None) -> None:
    """Give every pending event its place in the hash chain.

    With --loop it keeps going until SIGTERM or Ctrl-C (finishing the round
    under way); a lost database is logged and retried with a growing back-off.
    """

    if not loop:
        click.echo(f"{seal_all()} events sealed")
        return
    with stop_on_signals(threading.Event()) as stop:
        seal_forever(interval, max_rounds=rounds, stop=stop)


def _held_checkpoints(text: str) -> list[dict]:
    """Read checkpoints kept outside: a saved GET /ledger/checkpoints, or the JSON-lines export."""
    try:
        document = json.loads(text)
    except ValueError:  # several lines: the export
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return document["items"] if "items" in document else [document]


@ledger.command("new-key")
def ledger_new_key_command() -> None:
    """Create the checkpoint signing key (LEDGER_SIGNING_KEY_FILE; refused when one exists)."""
    path = current_app.config["LEDGER_SIGNING_KEY_FILE"]
    try:
        kid = create_ledger_key()
    except FileExistsError as error:
        raise click.ClickException(f"{path} exists") from error
    click.echo(f"ledger signing key {kid} written to {path}; publish "
               "GET /api/v1/ledger/keys to the regulators")


@ledger.command("checkpoint")
def checkpoint_command() -> None:
    """Seal and sign a checkpoint now (run daily, e.g. from cron)."""
    checkpoint = create_checkpoint()
    if checkpoint is None:
        raise click.ClickException("the ledger has no events yet")
    click.echo(f"checkpoint {checkpoint.id}: events 1-{checkpoint.sequence}, "
               f"head {checkpoint.head_hash}")


@ledger.command("verify")
@click.option("--workers", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default=True, help="Processes sharing the stretches between checkpoints.")
@click.option("--trusted-keys", type=click.File("r", encoding="utf-8"), default=None,
              help="Check checkpoint signatures only against these keys (a saved copy of "
                   "GET /api/v1/ledger/keys), not the keys the database publishes.")
@click.option("--checkpoints", "held_file", type=click.File("r", encoding="utf-8"),
              default=None, help="Checkpoints kept outside (a saved GET "
                                 "/api/v1/ledger/checkpoints): each must still be in the "
                                 "ledger, unchanged.")
def verify_command(workers: int, trusted_keys, held_file) -> None:
    """Recompute every hash and check every checkpoint; exit 1 naming the first bad event."""
    try:
        pinned = keys_from_document(json.load(trusted_keys)) if trusted_keys else None
        held = _held_checkpoints(held_file.read()) if held_file else None
    except (ValueError, KeyError, TypeError) as error:
        raise click.ClickException(f"cannot read the file: {error}") from error
    seal_all()
    total = event_count()
    with reading(), click.progressbar(length=total, label="verifying", file=sys.stderr) as bar:
        checked, breach = verify_ledger(progress=bar.update, workers=workers,
                                        trusted_keys=pinned, held=held)
    if breach is not None:
        where = f"event {breach.event_id} " if breach.event_id else ""
        click.echo(f"BROKEN at sequence {breach.sequence}: {where}— {breach.reason}")
        click.echo(f"{checked} events verified before it")
        sys.exit(1)
    click.echo(f"{checked} events verified: the chain and every checkpoint hold")


@bench.command("seed")
@click.option("--components", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@click.option("--projects", type=click.IntRange(min=1), default=10, show_default=True)
def bench_seed_command(components: int, projects: int) -> None:
    """Fill an empty database with components, ~10 sealed events each, and counters."""
    with click.progressbar(length=components, label="seeding", file=sys.stderr) as bar:
        counts = seed(components, projects, progress=bar.update)
    click.echo(", ".join(f"{value:,} {name}" for name, value in counts.items()))


@audit.command("list")
@click.option("--action", type=click.Choice(sorted(AUDIT_ACTIONS)), default=None)
@click.option("--user", "user_id", type=int, default=None, help="A user id.")
@click.option("--project", "project_id", type=int, default=None, help="A project id.")
@click.option("--since", type=click.DateTime(), default=None, help="From this UTC time.")
@click.option("--until", type=click.DateTime(), default=None, help="Before this UTC time.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def audit_list_command(action, user_id, project_id, since, until, limit) -> None:
    """List audit records, newest first: when, what, who, from where, about what."""

    filters = AuditFilters(action=action, user_id=user_id, project_id=project_id,
                           since=since.replace(tzinfo=UTC) if since else None,
                           until=until.replace(tzinfo=UTC) if until else None)
    with reading():
        for entry in newest_records(filters, limit):
            who = entry.user_name + (f" ({entry.role})" if entry.role else "")
            where = f" project {entry.project_id}" if entry.project_id else ""
            detail = f" {json.dumps(entry.detail, ensure_ascii=False)}" if entry.detail else ""
            click.echo(f"{entry.id} {entry.at:%Y-%m-%d %H:%M:%S}Z {entry.action} by {who} "
                       f"from {entry.address}{where}: {entry.subject}{detail}")


@demo.command("load")
@click.option("--tokens", "tokens_path", default=None,
              help="Where to write the tokens (default: instance/demo-tokens.json).")
def demo_load(tokens_path: str | None) -> None:
    """Load the demo into an empty database; write one token and page password per role."""
    path = tokens_path or os.path.join(current_app.instance_path, "demo-tokens.json")
    passwords = passwords_path(path)
    if database_is_empty():
        with click.progressbar(length=len(ROUTE), label="loading demo",
                               file=sys.stderr) as bar:
            load_demo(path, progress=bar.update)
        click.echo(f"demo loaded; tokens in {path}; page passwords in {passwords}")
        return
    if os.path.exists(path):
        click.echo(f"database not empty: demo not loaded; tokens in {path}")
    elif refresh_tokens(path) is not None:
        click.echo(f"database not empty: new demo tokens written to {path}")
    else:
        click.echo("database not empty and has no demo users: no tokens written")
        return
    if not os.path.exists(passwords) and set_demo_passwords(path) is not None:
        click.echo(f"new demo page passwords written to {passwords}")
    elif os.path.exists(passwords):
        click.echo(f"page passwords in {passwords}")


@demo.command("tokens")
def demo_tokens() -> None:
    """Print the demo tokens file."""
    path = os.path.join(current_app.instance_path, "demo-tokens.json")
    with open(path) as handle:
        click.echo(json.dumps(json.load(handle), indent=2))


def init_commands(app: Flask) -> None:
    """Register the command groups."""
    for group in (users, ledger, labels, photos, webhooks, audit, loads, production, bench, demo,
                  bim, backup):
        app.cli.add_command(group)
