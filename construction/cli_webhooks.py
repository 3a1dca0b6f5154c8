"""`flask webhooks`: deliver webhook events."""

from __future__ import annotations

import threading

import click
from flask.cli import AppGroup

from construction.resilience import stop_on_signals
from construction.services.webhooks import deliver, deliver_forever

webhooks = AppGroup("webhooks", help="Deliver events to webhook subscribers.")


@webhooks.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering until stopped (SIGTERM, Ctrl-C).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds between rounds with --loop.")
@click.option("--rounds", type=click.IntRange(min=1), default=None, hidden=True,
              help="Stop after this many rounds (tests).")
def deliver_command(loop: bool, interval: float, rounds: int | None) -> None:
    """Queue deliveries for new events and checkpoints, and send everything due.

    In production run `flask --app app webhooks deliver --loop` as a service
    beside the web processes (`make run` supervises one); it finishes the
    round under way when stopped, and a lost database is logged and retried
    with a growing back-off. Without --loop it does one round, for cron.
    Several may run at once: each subscription is sent for by one at a time.
    """
    if not loop:
        _echo(deliver())
        return
    # A stop between rounds, never in the middle of recording what was sent.
    with stop_on_signals(threading.Event()) as stop:
        deliver_forever(interval, max_rounds=rounds, stop=stop, on_report=_echo)


def _echo(report) -> None:
    opened = (f", {report.circuits_opened} circuit{'s' * (report.circuits_opened != 1)} "
              "opened" if report.circuits_opened else "")
    click.echo(f"{report.queued} queued, {report.delivered} delivered, "
               f"{report.retrying} to retry, {report.failed} failed{opened}")
