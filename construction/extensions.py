"""Extensions, unbound here and bound to an app with `init_extensions`."""

from __future__ import annotations

import http
import os
import random
import sqlite3
import time
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar

import marshmallow as ma
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, g, has_app_context, has_request_context, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from werkzeug.routing import BaseConverter, ValidationError

from construction.i18n import select_locale

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(compare_type=True, render_as_batch=True)
babel = Babel()
# Pages check their forms; the API checks the header only for cookie sign-ins
# (bearer tokens are not sent by browsers on their own).
csrf = CSRFProtect()


def rate_limit_key() -> str:
    """Count requests per signed-in user, or per address before anyone is signed in."""
    principal = g.get("principal")
    if principal is not None:
        return f"user:{principal.user_id}"
    return f"address:{request.remote_addr or ''}"


# Limits are checked inside the views they decorate, after the token is read,
# so that they count per user; settings name them (RATE_LIMIT_*).
limiter = Limiter(key_func=rate_limit_key)


def schema_name(schema) -> str:
    """Name a schema in the OpenAPI document, telling variants apart."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    if not isinstance(schema, type):
        if schema.partial:
            name += "Patch"
        if schema.only:
            name += "Summary"
    return name


class ProblemSchema(ma.Schema):
    """An error: application/problem+json (RFC 9457); extra members depend on the type."""

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(metadata={"description": "URI of the problem type"})
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Raw(metadata={"description": "Per-field (or per-row) errors"})


class ProblemApi(Api):
    """flask-smorest's Api, documenting errors as problem+json."""

    ERROR_SCHEMA = ProblemSchema
    PROBLEM_CONTENT_TYPE = "application/problem+json"

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, self.PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, self.PROBLEM_CONTENT_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


class IdConverter(BaseConverter):
    """A database id in a path: ASCII digits only, bounded by the column's range."""

    regex = r"[0-9]{1,19}"
    part_isolating = True

    def __init__(self, url_map, max: int = 2**31 - 1):
        super().__init__(url_map)
        self.max = int(max)

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= self.max:
            raise ValidationError()
        return number

    def to_url(self, value) -> str:
        return str(int(value))


api = ProblemApi(
    spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name)})
api.register_converter(IdConverter, lambda converter: {
    "type": "integer", "minimum": 1, "maximum": converter.max})


def mark_read_only() -> None:
    """Let this request's SQLite transactions start deferred (reads only)."""
    g.read_only_transaction = True


@contextmanager
def write_lock():
    """Let the transactions begun inside take SQLite's write lock first, even in a GET.

    For the service that decides a write where a GET reads (sealing pending
    links, publishing a rotated key): a deferred transaction that reads and
    then writes fails whenever another writer committed in between.
    """
    if not has_request_context():  # outside requests every transaction takes it
        yield
        return
    before = g.get("read_only_transaction", False)
    g.read_only_transaction = False
    try:
        yield
    finally:
        g.read_only_transaction = before


@contextmanager
def lone_read():
    """Run one SELECT on SQLite outside any transaction, then end the session's.

    A POST's transactions take SQLite's write lock from their first statement;
    the token lookup that comes first must not hold it while the request is
    parsed and validated.
    """
    if db.session().in_transaction():  # never end work already under way
        yield
        return
    before = g.get("read_only_transaction", False)
    g.read_only_transaction = g.single_read = True
    try:
        yield
    finally:
        if db.session.get_bind().dialect.name == "sqlite":
            db.session.rollback()
        g.read_only_transaction, g.single_read = before, False


_reading: ContextVar[bool] = ContextVar("reading", default=False)


@contextmanager
def reading():
    """Run work that only reads (CLI reports) without SQLite's write lock, then end it."""
    token = _reading.set(True)
    try:
        yield
    finally:
        db.session.rollback()
        _reading.reset(token)


def _wants_write_lock() -> bool:
    if _reading.get():
        return False
    return not (has_request_context() and g.get("read_only_transaction", False))


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record) -> None:
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    # The driver's own transaction handling is switched off so that we can
    # issue BEGIN IMMEDIATE ourselves: a deferred transaction that reads and
    # then writes fails with "database is locked" whenever another writer
    # committed in between, and no busy timeout helps that case.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={_synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={_busy_timeout_ms}")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite(connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    if _wants_write_lock():
        _begin_immediate(connection.connection.dbapi_connection)
    elif not (has_app_context() and g.get("single_read", False)):
        connection.exec_driver_sql("BEGIN")
    # else: a lone SELECT needs no transaction around it (autocommit reads it
    # in one snapshot), which saves the BEGIN.


def _begin_immediate(raw) -> None:
    """Take SQLite's write lock, polling briefly while another writer holds it.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15... ms between tries, far
    longer than a scan holds the lock (well under a millisecond), so waiting
    writers would sleep while the lock sits free. Within the same overall
    timeout, poll every 0.1 to 2 ms instead.
    """
    started = time.monotonic()
    deadline = started + _busy_timeout_ms / 1000
    delay = 0.0001
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                if on_write_lock_wait is not None:
                    on_write_lock_wait(time.monotonic() - started)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.002)
    finally:
        raw.execute(f"PRAGMA busy_timeout={_busy_timeout_ms}")


_busy_timeout_ms = 10000
# Told how long each SQLite writer waited for the lock (construction.metrics sets it).
on_write_lock_wait: Callable[[float], None] | None = None
_synchronous = "NORMAL"


def init_extensions(app: Flask) -> None:
    """Bind every extension to `app`."""
    global _busy_timeout_ms, _synchronous
    _busy_timeout_ms = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])
    _synchronous = app.config["SQLITE_SYNCHRONOUS"]
    app.url_map.converters["id"] = IdConverter
    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir())
    api.init_app(app)

    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=_translations_dir())
    csrf.init_app(app)
    limiter.init_app(app)


def _translations_dir() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "translations")


def _migrations_dir() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")
