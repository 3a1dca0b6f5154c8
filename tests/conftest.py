"""Fixtures: an app per database engine, clients acting as each role, a small world."""

from __future__ import annotations

import io
import os
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import flask_migrate
import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from app import create_app
from construction.extensions import db
from construction.models import (
    Building,
    Component,
    ComponentType,
    Organization,
    OrganizationKind,
    Project,
    ProjectParticipant,
    Role,
    Storey,
    User,
)
from construction.services.accounts import issue_token

ENGINES = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
ROLES = [r.value for r in Role]


# One label signing key for the whole run, outside the instance folder.
KEY_FOLDER = tempfile.mkdtemp(prefix="prefabtrace-keys-")
SIGNING_KEY_FILE = os.path.join(KEY_FOLDER, "label-signing-key.pem")
LEDGER_KEY_FILE = os.path.join(KEY_FOLDER, "ledger-signing-key.pem")


class ClosingClient(FlaskClient):
    """Flask's test client, closing the request body it built once the answer is in.

    The client spools a multipart body over 500 KB (a photo) to a temporary file
    that nothing closes; collected later, it raised an unraisable ResourceWarning
    in whichever test happened to be running.
    """

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        request = getattr(response, "request", None)
        body = request.environ.get("wsgi.input") if request is not None else None
        if body is not None and not isinstance(body, io.BytesIO):
            body.close()
        return response


def _app(uri: str, **extra):
    # Tokens are looked up every time: tests change users and tokens directly.
    # Rate limits are off but where a test turns them on (tests/construction/test_rate_limits.py).
    application = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": uri,
                              "LABEL_SIGNING_KEY_FILE": SIGNING_KEY_FILE,
                              "LEDGER_SIGNING_KEY_FILE": LEDGER_KEY_FILE,
                              "LEDGER_CHECKPOINT_EXPORT": "",
                              "TOKEN_CACHE_SECONDS": 0, "RATELIMIT_ENABLED": False,
                              "RATELIMIT_STORAGE_URI": "memory://", **extra})
    application.test_client_class = ClosingClient
    return application


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file that each test copies."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    app = _app(f"sqlite:///{path}")
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url():
    """The PostgreSQL test database, emptied and migrated once per session."""
    url = os.environ["TEST_DATABASE_URL"]
    app = _app(url)
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        flask_migrate.upgrade()
        db.engine.dispose()
    return url


def _empty_postgres(app) -> None:
    with app.app_context():
        tables = [t.name for t in db.metadata.sorted_tables]
        with db.engine.begin() as connection:
            connection.execute(text(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))


@pytest.fixture(params=ENGINES)
def engine_name(request):
    return request.param


@pytest.fixture
def database_url(engine_name, tmp_path, request):
    if engine_name == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def app_config() -> dict:
    """Settings a test module's app adds to the test defaults (override the fixture)."""
    return {}


@pytest.fixture
def app(database_url, engine_name, app_config):
    application = _app(database_url, **app_config)
    if engine_name == "postgresql":
        _empty_postgres(application)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class World:
    """Organizations, users with tokens, and two projects in different regions."""

    app: object
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def client(self, role: str | None = None, token: str | None = None):
        """Return a test client that sends the token of `role`."""
        test_client = self.app.test_client()
        secret = token or (self.tokens[role] if role else None)
        if secret:
            test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
        return test_client

    def component(self, state: str = "planned", project: str = "main", **fields) -> dict:
        """Create a component and drive it to `state` with real scans; return its JSON."""
        with self.app.app_context():
            component = Component(
                code=fields.pop("code", None) or _new_code(),
                project_id=self.ids[f"project_{project}"],
                component_type_id=self.ids[f"type_{project}"],
                storey_id=self.ids.get(f"storey_{project}"),
                mark=fields.pop("mark", "YWQ-1"), **fields)
            db.session.add(component)
            db.session.commit()
            component_id, code = component.id, component.code
        for action in path_to(state):
            self.scan(code, action, role="admin", expect=201)
        return {"id": component_id, "code": code}

    def label(self, component_id: int, role: str = "admin", reprint: bool = False) -> dict:
        """Issue (or reprint) a component's label; return it, with its signed URL."""
        body = {"reprint": True, "reason": "torn"} if reprint else {"reprint": False}
        response = self.client(role).post(f"/api/v1/components/{component_id}/labels",
                                          json=body)
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()

    def scan(self, code: str, action: str, role: str = "admin", expect: int | None = None,
             **body):
        """Post one scan and return the response."""
        payload = {"code": code, "action": action,
                   "client_event_id": body.pop("client_event_id", str(uuid.uuid4()))}
        if action in ("connect", "repair") and "data" not in body:
            body["data"] = {"record": "REC-1"}
        payload.update(body)
        response = self.client(role).post("/api/v1/scans", json=payload)
        if expect is not None:
            assert response.status_code == expect, response.get_json()
        return response


ROUTE = ["cast", "demould", "qc_pass", "store", "load", "depart", "arrive", "accept_delivery",
         "install", "connect", "accept"]
STATE_AFTER = dict(zip(ROUTE, ["cast", "demoulded", "qc_passed", "stored", "loaded",
                               "in_transit", "delivered", "accepted_on_site", "installed",
                               "connected", "accepted"], strict=True))


def path_to(state: str) -> list[str]:
    """Return the actions that take a planned component to `state`."""
    if state == "planned":
        return []
    if state == "rejected":
        return path_to("delivered") + ["reject_delivery"]
    if state == "scrapped":
        return ["scrap"]
    index = list(STATE_AFTER.values()).index(state)
    return ROUTE[: index + 1]


def redis_up(port: int = 6379) -> bool:
    """Tell whether something answers on Redis's port on this machine."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(condition, limit_s: float = 60.0) -> bool:
    """Poll `condition` until it holds (True) or `limit_s` passed (False)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _new_code() -> str:
    from labels.codes import new_code

    return new_code()


@pytest.fixture
def world(app) -> World:
    built = World(app)
    with app.app_context():
        orgs = {
            "maker": Organization(name="Maker", kind=OrganizationKind.manufacturer,
                                  region_code="330110"),
            "builder": Organization(name="Builder", kind=OrganizationKind.contractor,
                                    region_code="330106"),
            "supervisor": Organization(name="Supervisor", kind=OrganizationKind.supervisor,
                                       region_code="330106"),
            "regulator": Organization(name="City regulator", kind=OrganizationKind.regulator,
                                      region_code="3301"),
            "far_regulator": Organization(name="Far regulator",
                                          kind=OrganizationKind.regulator, region_code="4401"),
            "other_maker": Organization(name="Other maker", kind=OrganizationKind.manufacturer,
                                        region_code="440106"),
        }
        db.session.add_all(orgs.values())
        home = {"admin": "maker", "project_manager": "builder", "factory_worker": "maker",
                "qc_inspector": "maker", "site_supervisor": "supervisor",
                "regulator": "regulator"}
        users = {role: User(name=f"user-{role}", organization=orgs[org], role=Role(role))
                 for role, org in home.items()}
        users["far_regulator"] = User(name="user-far-regulator", organization=orgs["far_regulator"],
                                      role=Role.regulator)
        users["other_worker"] = User(name="user-other-worker", organization=orgs["other_maker"],
                                     role=Role.factory_worker)
        users["other_manager"] = User(name="user-other-manager",
                                      organization=orgs["other_maker"],
                                      role=Role.project_manager)
        db.session.add_all(users.values())
        for key, code, region, members in (
                ("main", "P-MAIN", "330106", ("maker", "builder", "supervisor")),
                ("far", "P-FAR", "440106", ("other_maker",))):
            project = Project(code=code, name=f"Project {key}", region_code=region)
            db.session.add(project)
            for member in members:
                db.session.add(ProjectParticipant(project=project, organization=orgs[member]))
            component_type = ComponentType(project=project, name="Wall", category="wall_panel",
                                           weight_kg=4850.0, concrete_grade="C30")
            building = Building(project=project, name="B1")
            storey = Storey(building=building, name="1F", elevation_m=0.0)
            db.session.add_all([component_type, building, storey])
            db.session.flush()
            built.ids.update({f"project_{key}": project.id, f"type_{key}": component_type.id,
                              f"building_{key}": building.id, f"storey_{key}": storey.id})
        db.session.commit()
        for name, org in orgs.items():
            built.ids[f"org_{name}"] = org.id
        for name, user in users.items():
            built.ids[f"user_{name}"] = user.id
            built.tokens[name] = issue_token(user.id, name="test")[1]
    return built


@pytest.fixture
def expired_token(world) -> str:
    with world.app.app_context():
        from construction.models import ApiToken

        token, secret = issue_token(world.ids["user_admin"], name="old")
        db.session.get(ApiToken, token.id).expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    return secret


# --- tests of one engine ------------------------------------------------------------------


def pytest_configure(config):
    config.addinivalue_line("markers", "engine(name): run only on this database engine")


def pytest_collection_modifyitems(config, items):
    # A test of one engine's behaviour is not collected for the other (rather than
    # skipped there, which in CI would fail the run).
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("engine")
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("engine_name") if callspec else None
        (dropped if marker and engine and engine != marker.args[0] else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# --- in CI, every layer runs -------------------------------------------------------------

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_skipped: list[str] = []


def pytest_sessionstart(session):
    if IN_CI and "postgresql" not in ENGINES:
        raise pytest.UsageError("CI runs every database test on PostgreSQL too: set "
                                "TEST_DATABASE_URL")


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    # A layer that silently does not run (Redis, PostgreSQL, S3, Chromium, a corpus)
    # would let CI pass without testing it.
    if IN_CI and _skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if IN_CI and _skipped:
        terminalreporter.section("skipped in CI (each fails the run)")
        for line in _skipped:
            terminalreporter.write_line(line)
