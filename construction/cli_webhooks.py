"""`flask webhooks`: deliver webhook events."""

from __future__ import annotations

import signal
import threading
import time

import click
from flask import current_app
from flask.cli import AppGroup

from construction.extensions import db

webhooks = AppGroup("webhooks", help="Deliver events to webhook subscribers.")


@webhooks.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering until stopped (SIGTERM, Ctrl-C).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds between rounds with --loop.")
def deliver_command(loop: bool, interval: float) -> None:
    """Queue deliveries for new events and send everything due.

    In production run `flask --app app webhooks deliver --loop` as a service
    beside the web processes (e.g. a systemd unit with Restart=always); it
    finishes the round under way when stopped. Without --loop it does one
    round, for cron.
    """
    from construction.services.webhooks import deliver

    if not loop:
        _echo(deliver())
        return
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # A stop between rounds, never in the middle of recording what was sent.
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
    while not stop.is_set():
        started = time.monotonic()
        try:
            report = deliver()
            if report.queued or report.delivered or report.retrying or report.failed:
                _echo(report)
        except Exception:  # a database restart must not end the service
            db.session.rollback()
            current_app.logger.exception("webhook round failed; trying again")
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


def _echo(report) -> None:
    click.echo(f"{report.queued} queued, {report.delivered} delivered, "
               f"{report.retrying} to retry, {report.failed} failed")
