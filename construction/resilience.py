"""Riding out a lost database or Redis: which errors are passing, and loops that outlive them.

The background services (`flask ledger seal --loop`, `flask webhooks deliver
--loop`) run in rounds. A round that fails because PostgreSQL restarted, the
connection was cut, SQLite stayed locked or Redis went away is logged as a
warning, the session is thrown away, and the next round comes after an
exponential back-off with jitter; the first round that succeeds resets it.
"""

from __future__ import annotations

import logging
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc

from construction.extensions import db

log = logging.getLogger(__name__)

# SQLite's OperationalError also means "no such table": only these are passing.
_SQLITE_PASSING = ("database is locked", "database table is locked", "unable to open database",
                   "disk i/o error")


def _sqlite_passing(error: BaseException) -> bool:
    return any(text in str(error).lower() for text in _SQLITE_PASSING)


def is_database_unavailable(error: BaseException) -> bool:
    """Tell whether a database error means "not reachable now, try again" (not a bug)."""
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        original = error.orig
        if isinstance(original, sqlite3.Error):
            return isinstance(original, sqlite3.OperationalError) and _sqlite_passing(original)
        # On a server every OperationalError is about the connection, the server's
        # state or a transaction it gave up (restart, cut link, deadlock, timeout).
        return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(error, sqlite3.OperationalError):  # raised by our own BEGIN IMMEDIATE
        return _sqlite_passing(error)
    # Imported here, not at the top: a node on SQLite never loads the PostgreSQL driver.
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a requirement
        return False
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


def is_connection_lost(error: BaseException) -> bool:
    """Tell whether an error means the database or Redis is out of reach for now."""
    if is_database_unavailable(error):
        return True
    # Imported here, not at the top: only JOBS=rq loads Redis.
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a requirement
        return False
    return isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)


@dataclass
class Backoff:
    """Exponential back-off with jitter: first_s, doubling up to cap_s, each drawn in [½, 1]."""

    first_s: float = 0.5
    cap_s: float = 30.0
    failures: int = 0

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before trying again."""
        self.failures += 1
        ceiling = min(self.cap_s, self.first_s * 2 ** min(self.failures - 1, 32))
        # Never less than half: many processes that lost the same server do not
        # come back in one burst, and none hammers it.
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Forget the failures (after a round that worked)."""
        self.failures = 0


@dataclass
class LoopStats:
    """What a loop of rounds has done so far (read by tests and the log)."""

    rounds: int = 0
    failures: int = 0
    consecutive_failures: int = 0


def discard_session(lost: bool) -> None:
    """Roll back and drop the session; after a lost connection drop the pool too."""
    try:
        db.session.rollback()
    except Exception:  # the connection may be gone already; dropping it is what matters
        log.debug("rollback after a failed round failed", exc_info=True)
    db.session.remove()
    if lost:
        # The server may have restarted: every pooled connection is as dead as this one.
        db.engine.dispose()


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """Within the block, have SIGTERM and SIGINT set `stop` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {number: signal.signal(number, lambda *_: stop.set())
                for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_rounds(name: str, round_: Callable[[], object], interval_s: float, *,
               max_rounds: int | None = None, stop: threading.Event | None = None,
               backoff: Backoff | None = None, stats: LoopStats | None = None) -> LoopStats:
    """Call `round_` every `interval_s` until `stop` is set (or `max_rounds` ran).

    A round that raises does not end the loop: a lost database or Redis is a
    warning, anything else is logged with its traceback; either way the
    session is discarded and the next round waits for the back-off. A round
    commits what it writes: after it, its session is discarded too.
    """
    stop = stop or threading.Event()
    backoff = backoff or Backoff()
    stats = stats if stats is not None else LoopStats()
    while not stop.is_set() and (max_rounds is None or stats.rounds < max_rounds):
        started = time.monotonic()
        stats.rounds += 1
        try:
            round_()
        except Exception as error:
            stats.failures += 1
            stats.consecutive_failures += 1
            lost = is_connection_lost(error)
            discard_session(lost)
            delay = backoff.next_delay()
            if lost:
                log.warning("%s: connection lost (%s: %s); round %d failed, trying again in "
                            "%.1f s", name, type(error).__name__, _first_line(error),
                            stats.consecutive_failures, delay)
            else:
                log.exception("%s: round failed; trying again in %.1f s", name, delay)
        else:
            # Whatever the round left open ends here, before the wait: on SQLite a
            # transaction outside a request holds the write lock, so one left open
            # through the wait would stall every scan and sign-in meanwhile.
            discard_session(False)
            if stats.consecutive_failures:
                log.warning("%s: working again after %d failed rounds", name,
                            stats.consecutive_failures)
            stats.consecutive_failures = 0
            backoff.reset()
            delay = max(0.0, interval_s - (time.monotonic() - started))
        if max_rounds is None or stats.rounds < max_rounds:
            stop.wait(delay)
    return stats


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0][:200] if text else ""
