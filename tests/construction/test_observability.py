"""Observability: /metrics (content and who may read it), request ids, JSON logs, live/ready."""

from __future__ import annotations

import io
import json
import logging
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from construction import logs
from construction.extensions import db
from tests.conftest import _app
from tests.construction.test_photos_api import jpeg, upload

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"
REMOTE = {"REMOTE_ADDR": "203.0.113.7"}


@pytest.fixture
def other_app():
    """Build apps of other settings on the test's database; close their pools after."""
    built = []

    def build(uri: str, **settings):
        built.append(_app(uri, **settings))
        return built[-1]

    yield build
    for application in built:
        with application.app_context():
            db.engine.dispose()


def scrape(client, **kw) -> dict[tuple[str, tuple], float]:
    """GET /metrics and return every sample as {(name, sorted labels): value}."""
    response = client.get("/metrics", **kw)
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/plain"
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before, after, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def names(samples) -> set[str]:
    return {name for name, _ in samples}


# --- what /metrics counts ------------------------------------------------------------


def test_scans_batches_refusals_and_requests_are_counted(app, world, engine_name):
    client = app.test_client()
    before = scrape(client)
    component = world.component("planned")
    world.scan(component["code"], "cast", expect=201)
    world.scan(component["code"], "cast", expect=409)  # not allowed twice
    others = [world.component("planned") for _ in range(3)]
    batch = world.client("admin").post("/api/v1/scans/batch", json={"items": [
        {"code": c["code"], "action": "cast", "client_event_id": str(uuid.uuid4())}
        for c in others]})
    assert batch.status_code == 200
    labelled = world.component("planned")
    url = world.label(labelled["id"])["url"]
    world.scan(url.replace("?v=1", "?v=7"), "cast")  # a version never issued
    app.config["COPY_SCAN_SLACK"] = -5  # any sighting is one too many
    world.scan(url, "cast", expect=201)
    after = scrape(client)

    assert delta(before, after, "prefabtrace_scans_total", action="cast",
                 outcome="accepted") == 5  # 1 + 3 in the batch + the labelled one
    assert delta(before, after, "prefabtrace_scans_total", action="cast",
                 outcome="rejected") == 2  # the repeat and the forged label
    assert delta(before, after, "prefabtrace_scan_batch_items_count") == 5
    assert delta(before, after, "prefabtrace_scan_batch_items_bucket", le="2.0") == 4
    assert delta(before, after, "prefabtrace_label_refusals_total", kind="label-invalid") == 1
    assert delta(before, after, "prefabtrace_copy_alerts_total",
                 kind="copy-too-many-scans") == 1
    assert delta(before, after, "prefabtrace_http_requests_total", method="POST",
                 route="/api/v1/scans", status="201") == 2
    assert delta(before, after, "prefabtrace_http_requests_total", method="POST",
                 route="/api/v1/scans", status="409") == 1
    assert delta(before, after, "prefabtrace_http_request_duration_seconds_count",
                 method="POST", route="/api/v1/scans/batch", status="200") == 1
    # Every write waited for its lock, however briefly: SQLite's write lock, or the
    # components' row locks on PostgreSQL.
    assert delta(before, after, "prefabtrace_db_lock_wait_seconds_count",
                 database=engine_name) >= 4
    assert value(after, "prefabtrace_database_up") == 1
    assert value(after, "prefabtrace_ledger_unsealed_events") >= 5
    assert value(after, "prefabtrace_ledger_oldest_unsealed_age_seconds") >= 0
    assert ("prefabtrace_webhook_backlog", ()) in after
    assert value(after, "prefabtrace_photo_queue_depth") == 0  # JOBS=inline


def test_unmatched_paths_are_one_route(app):
    client = app.test_client()
    before = scrape(client)
    for n in range(3):
        assert client.get(f"/no/such/page/{n}").status_code == 404
    after = scrape(client)
    assert delta(before, after, "prefabtrace_http_requests_total", method="GET",
                 route="unmatched", status="404") == 3
    assert not any("/no/such" in str(labels) for _, labels in after)


def test_photo_checks_are_timed(app, world):
    client = app.test_client()
    before = scrape(client)
    rng = np.random.default_rng(5)
    photo = jpeg(np.clip(rng.normal(140, 10, (480, 640, 3)), 0, 255).astype(np.uint8))
    response = upload(world, [("wall.jpg", photo)], project_id=world.ids["project_main"])
    assert response.status_code == 202, response.get_json()
    after = scrape(client)
    timed = {dict(labels)["check"] for name, labels in after
             if name == "prefabtrace_photo_check_duration_seconds_count"
             and delta(before, after, name, **dict(labels)) > 0}
    assert {"labels", "quality", "evidence"} <= timed


def test_webhook_attempts_and_backlog_are_counted(app, world, runner):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    response = world.client("admin").post("/api/v1/webhooks",
                                          json={"url": f"http://127.0.0.1:{closed}/hook"})
    assert response.status_code == 201, response.get_json()
    client = app.test_client()
    before = scrape(client)
    world.component("cast")
    result = runner.invoke(args=["webhooks", "deliver"])
    assert "1 to retry" in result.output, result.output
    after = scrape(client)
    assert delta(before, after, "prefabtrace_webhook_attempts_total", outcome="retrying") == 1
    assert value(after, "prefabtrace_webhook_backlog") == 1
    assert value(after, "prefabtrace_webhook_failed_deliveries") == 0


def test_a_checkpoint_has_an_age(app, world, runner):
    world.component("cast")
    result = runner.invoke(args=["ledger", "checkpoint"])
    assert result.exit_code == 0, result.output
    samples = scrape(app.test_client())
    assert 0 <= value(samples, "prefabtrace_ledger_checkpoint_age_seconds") < 3600
    assert value(samples, "prefabtrace_ledger_unsealed_events") == 0


# --- who may read /metrics ------------------------------------------------------------


def test_metrics_are_for_loopback_and_the_metrics_capability(app, world):
    assert app.test_client().get("/metrics").status_code == 200  # loopback, no token
    anonymous = app.test_client().get("/metrics", environ_base=REMOTE)
    assert anonymous.status_code == 401 and anonymous.mimetype == PROBLEM
    for role in ("factory_worker", "project_manager", "regulator"):
        refused = world.client(role).get("/metrics", environ_base=REMOTE)
        assert refused.status_code == 403 and refused.mimetype == PROBLEM, role
    assert world.client("admin").get("/metrics", environ_base=REMOTE).status_code == 200
    bad = app.test_client().get("/metrics", environ_base=REMOTE,
                                headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401


@pytest.mark.parametrize("remote, headers, expected", [
    ("127.0.0.1", {"X-Forwarded-For": "198.51.100.4"}, 401),  # a stranger through the proxy
    ("127.0.0.1", {"X-Forwarded-For": "127.0.0.1, 198.51.100.4"}, 401),
    ("127.0.0.1", {"X-Forwarded-For": "198.51.100.4, 127.0.0.1"}, 401),  # a forged first hop
    ("127.0.0.1", {"X-Forwarded-For": "127.0.0.1"}, 200),  # a local caller via the proxy
    ("127.0.0.1", {"Forwarded": "for=127.0.0.1"}, 401),
    ("127.0.0.1", {"X-Real-IP": "198.51.100.4"}, 401),
    ("198.51.100.9", {"X-Forwarded-For": "127.0.0.1"}, 401),  # not from the proxy at all
    ("::1", {}, 200),
])
def test_behind_a_proxy_only_a_local_caller_is_loopback(database_url, other_app, remote,
                                                         headers, expected):
    proxied = other_app(database_url, PROXY_HOPS=1)
    response = proxied.test_client().get("/metrics", headers=headers,
                                         environ_base={"REMOTE_ADDR": remote})
    assert response.status_code == expected, response.data[:200]


def test_without_a_proxy_forwarding_headers_still_count(app):
    response = app.test_client().get("/metrics", headers={"X-Forwarded-For": "198.51.100.4"})
    assert response.status_code == 401


# --- request ids ----------------------------------------------------------------------


def test_a_sane_request_id_comes_back_everywhere(app, world):
    sent = {"X-Request-ID": "phone-7/queue-42:retry.1"}
    for response in (world.client("admin").get("/api/v1/projects", headers=sent),
                     app.test_client().get("/api/v1/components", headers=sent),  # 401
                     app.test_client().get("/login", headers=sent),  # a page
                     app.test_client().get("/no/such/page", headers=sent),
                     app.test_client().get("/health/live", headers=sent)):
        assert response.headers["X-Request-ID"] == sent["X-Request-ID"], response.request.path


@pytest.mark.parametrize("sent", [None, "", "x" * 65, "has space", "naïve", "a\tb"])
def test_a_missing_or_insane_request_id_is_replaced(app, sent):
    headers = {} if sent is None else {"X-Request-ID": sent}
    first = app.test_client().get("/health/live", headers=headers).headers["X-Request-ID"]
    second = app.test_client().get("/health/live", headers=headers).headers["X-Request-ID"]
    assert first != sent and len(first) == 32 and int(first, 16) >= 0
    assert first != second


def test_the_request_id_is_in_g_for_the_rest_of_the_app(app):
    @app.get("/echo-request-id")
    def echo():
        from flask import g

        return {"id": g.request_id, "logged": logs.request_id()}

    echo.capability = "public"
    answer = app.test_client().get("/echo-request-id", headers={"X-Request-ID": "abc-1"})
    assert answer.get_json() == {"id": "abc-1", "logged": "abc-1"}


# --- JSON logs ------------------------------------------------------------------------


@pytest.fixture
def json_lines():
    """Collect what the app logs, formatted by the JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_access_lines_are_json_with_the_request_fields(app, world, json_lines):
    response = world.client("factory_worker").get(
        f"/api/v1/projects/{world.ids['project_main']}", headers={"X-Request-ID": "req-9"})
    assert response.status_code == 200
    access = [line for line in json_lines() if line["logger"] == "prefabtrace.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "req-9" and line["level"] == "INFO"
    assert line["user"] == "user-factory_worker"
    assert line["organization"] == world.ids["org_maker"]
    assert line["route"] == "/api/v1/projects/<id:project_id>"
    assert line["method"] == "GET" and line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["time"].endswith("Z") and "T" in line["time"]


def test_other_log_lines_of_a_request_carry_its_id(app, json_lines):
    @app.get("/log-something")
    def log_something():
        app.logger.warning("something happened: %s", "details")
        try:
            raise ValueError("boom")
        except ValueError:
            app.logger.exception("and failed")
        return {}

    log_something.capability = "public"
    app.test_client().get("/log-something", headers={"X-Request-ID": "req-10"})
    lines = [line for line in json_lines() if line["logger"] == app.logger.name]
    assert [line["message"] for line in lines] == ["something happened: details", "and failed"]
    assert all(line["request_id"] == "req-10" and line["user"] is None for line in lines)
    assert "ValueError: boom" in lines[1]["exception"]


def test_log_format_is_chosen_by_setting_and_checked():
    assert isinstance(logs.formatter("json"), logs.JsonFormatter)
    assert not isinstance(logs.formatter("text"), logs.JsonFormatter)
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        logs.formatter("xml")


def test_a_process_with_log_format_json_writes_only_json_lines(tmp_path):
    code = ("from app import create_app\n"
            f"app = create_app({{'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path}/x.db'}})\n"
            "app.test_client().get('/health/live', headers={'X-Request-ID': 'cli-1'})\n"
            "app.logger.warning('outside a request')\n")
    env = {"PATH": "/usr/bin:/bin", "LOG_FORMAT": "json", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    access = [line for line in lines if line["logger"] == "prefabtrace.access"]
    assert access[0]["request_id"] == "cli-1" and access[0]["status"] == 200
    assert lines[-1]["message"] == "outside a request" and "request_id" not in lines[-1]


# --- liveness and readiness -----------------------------------------------------------


def test_live_needs_nothing(tmp_path, other_app):
    gone = other_app(f"sqlite:///{tmp_path}/missing/folder/x.db")
    response = gone.test_client().get("/health/live")
    assert response.status_code == 200 and response.get_json() == {"status": "alive"}


def test_ready_when_everything_answers(app, world):
    assert app.test_client().get("/health/ready").get_json() == {"status": "ready"}
    detailed = world.client("regulator").get("/health/ready").get_json()
    assert detailed["status"] == "ready"
    assert {name for name, check in detailed["checks"].items() if check["ok"]} == {
        "database", "migrations", "storage"}


def test_not_ready_when_storage_cannot_be_written(database_url, app, world, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    app.config["PHOTO_DIR"] = str(blocker / "photos")
    anonymous = app.test_client().get("/health/ready")
    assert anonymous.status_code == 503 and anonymous.mimetype == PROBLEM
    assert set(anonymous.get_json()) == {"type", "title", "status"}
    assert anonymous.get_json()["type"].endswith("/not-ready")
    detailed = world.client("admin").get("/health/ready").get_json()
    assert detailed["failed"] == ["storage"]
    assert detailed["checks"]["storage"]["error"] in ("NotADirectoryError", "FileExistsError")
    assert detailed["checks"]["database"]["ok"]


def test_not_ready_without_the_database_or_the_queue(tmp_path, other_app):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    gone = other_app(f"sqlite:///{tmp_path}/missing/folder/x.db", JOBS="rq",
                REDIS_URL=f"redis://127.0.0.1:{closed}/0", PHOTO_DIR=str(tmp_path / "photos"))
    response = gone.test_client().get("/health/ready")
    assert response.status_code == 503 and response.mimetype == PROBLEM
    # No token can be checked without a database: the verdict alone.
    assert response.get_json()["type"].endswith("/not-ready")
    with gone.app_context():
        from construction.api.health import _database, _ping_redis, _probe

        assert _database()["database"]["ok"] is False
        assert _probe(_ping_redis) == {"ok": False, "error": "ConnectionError"}
    assert gone.test_client().get("/health").status_code == 503  # /health as before


# --- deploy/ -----------------------------------------------------------------------------


def _exported(app, world) -> set[str]:
    world.component("cast")
    return names(scrape(app.test_client())) | {
        "prefabtrace_ledger_checkpoint_age_seconds",  # absent before the first checkpoint
        "prefabtrace_photo_check_duration_seconds_bucket",
        "prefabtrace_photo_check_duration_seconds_count",
        "prefabtrace_webhook_attempts_total", "prefabtrace_copy_alerts_total",
        "prefabtrace_label_refusals_total"}


def _metric_names(expression: str) -> set[str]:
    import re

    return set(re.findall(r"\bprefabtrace_[a-z_]+\b", expression))


@pytest.mark.engine("sqlite")
def test_alert_rules_name_exported_metrics(app, world):
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus-alerts.yml").read_text())
    exported = _exported(app, world)
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in alerts} >= {
        "PrefabTraceSealerLag", "PrefabTraceCheckpointAge", "PrefabTrace5xxRate",
        "PrefabTracePhotoQueueDepth"}
    for rule in alerts:
        used = _metric_names(rule["expr"])
        assert used and used <= exported, (rule["alert"], used - exported)
        assert rule["labels"]["severity"] and rule["annotations"]["summary"]


@pytest.mark.engine("sqlite")
def test_the_grafana_dashboard_names_exported_metrics(app, world):
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exported = _exported(app, world)
    targets = [target["expr"] for panel in dashboard["panels"]
               for target in panel.get("targets", [])]
    assert len(targets) >= 10 and dashboard["title"] and dashboard["schemaVersion"]
    for expression in targets:
        used = _metric_names(expression)
        assert used and used <= exported, (expression, used - exported)
