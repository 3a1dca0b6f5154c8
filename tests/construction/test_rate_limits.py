"""Rate limits: sign-in, decoding, uploads, exports and the security events scans raise."""

from __future__ import annotations

import io
import re
import uuid

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from construction.config import load_config
from construction.extensions import db
from construction.models import Alert, SecurityEvent
from tests.conftest import _app, redis_up

PROBLEM = "application/problem+json"
REDIS_URL = "redis://127.0.0.1:6379/7"  # this suite's own Redis database


BOTH_STORAGES = pytest.mark.parametrize("storage", [
    "memory://",
    pytest.param(REDIS_URL, marks=pytest.mark.skipif(
        not redis_up(), reason="Redis is not running on 127.0.0.1:6379")),
], indirect=True)


def _flush_redis() -> None:
    from redis import Redis

    connection = Redis.from_url(REDIS_URL)
    try:
        connection.flushdb()
    finally:
        connection.close()


@pytest.fixture
def storage(request):
    url = getattr(request, "param", "memory://")
    if url == REDIS_URL:
        _flush_redis()  # nothing counted by an earlier run
        yield url
        _flush_redis()
    else:
        yield url


@pytest.fixture
def app_config(storage):
    # Each app binds the limiter to a fresh storage: memory starts empty, Redis is flushed.
    return {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": storage}


def _blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _decode(client):
    return client.post("/api/v1/decode", data={"image": (io.BytesIO(_blank_png()), "a.png")},
                       content_type="multipart/form-data")


def _assert_too_many(response) -> int:
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["type"].endswith("/too-many-requests") and body["status"] == 429
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= 3600 and body["retry_after_s"] == seconds
    return seconds


def _redis_keys() -> list[bytes]:
    from redis import Redis

    connection = Redis.from_url(REDIS_URL)
    try:
        return connection.keys("*")
    finally:
        connection.close()


@BOTH_STORAGES
def test_decoding_is_limited_per_user_with_a_problem_and_retry_after(world, storage):
    world.app.config["RATE_LIMIT_DECODE"] = "2/minute"
    worker = world.client("factory_worker")
    assert [_decode(worker).status_code for _ in range(2)] == [200, 200]
    assert _assert_too_many(_decode(worker)) <= 60
    if storage == REDIS_URL:  # the counts are really kept in Redis
        assert any(b"prefabtrace" in key for key in _redis_keys())
    # Another user has an allowance of their own.
    assert _decode(world.client("site_supervisor")).status_code == 200
    chinese = worker.post("/api/v1/decode", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 429 and chinese.get_json()["title"] == "请求过多，请稍后重试"


def test_exports_share_one_allowance(world):
    world.app.config["RATE_LIMIT_EXPORTS"] = "2/minute"
    regulator = world.client("regulator")
    assert regulator.get("/api/v1/exports/components.csv").status_code == 200
    assert regulator.get("/api/v1/exports/events.csv").status_code == 200
    _assert_too_many(regulator.get("/api/v1/epcis/events"))
    # Reading progress is not an export.
    assert regulator.get("/api/v1/progress").status_code == 200


def test_photo_uploads_and_imports_share_one_allowance(world):
    world.app.config["RATE_LIMIT_UPLOADS"] = "1/minute"
    manager = world.client("project_manager")
    imported = manager.post(f"/api/v1/projects/{world.ids['project_main']}/components/import",
                            data="mark,type\nYWQ-9,Wall\n", content_type="text/csv")
    assert imported.status_code == 201, imported.get_json()
    _assert_too_many(manager.post("/api/v1/photos", data={
        "image": (io.BytesIO(_blank_png()), "a.png"), "project_id": world.ids["project_main"]},
        content_type="multipart/form-data"))


def _wrong_password(client) -> dict:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return {"csrf_token": token, "name": "user-admin", "password": "not-it-at-all"}


def test_sign_in_is_limited_per_address_with_a_page_in_the_users_language(world):
    world.app.config["RATE_LIMIT_SIGN_IN"] = "2/minute"
    client = world.app.test_client()
    for _ in range(2):
        assert client.post("/login", data=_wrong_password(client)).status_code == 401
    refused = client.post("/login", data=_wrong_password(client),
                          headers={"Accept-Language": "zh-CN"})
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    page = refused.get_data(as_text=True)
    assert "尝试次数过多" in page and refused.headers["Retry-After"] in page
    english = client.post("/login", data=_wrong_password(client),
                          headers={"Accept-Language": "en"})
    assert english.status_code == 429 and "Too many attempts" in english.get_data(as_text=True)
    # Showing the form is not counted (above), and another address has its own allowance.
    elsewhere = world.app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert elsewhere.post("/login", data=_wrong_password(elsewhere)).status_code == 401


def _count(world, model, **where) -> int:
    with world.app.app_context():
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return db.session.scalar(query)


def _forged(url: str) -> str:
    return url[:-1] + ("A" if url[-1] != "A" else "B")


@BOTH_STORAGES
def test_security_events_are_limited_per_user_and_genuine_labels_still_scan(world):
    world.app.config["RATE_LIMIT_SECURITY_EVENTS"] = "2/hour"
    component = world.component("planned")
    forged = _forged(world.label(component["id"])["url"])
    first_ids = [str(uuid.uuid4()) for _ in range(2)]
    for event_id in first_ids:
        response = world.scan(forged, "cast", role="factory_worker", client_event_id=event_id)
        assert response.get_json()["type"].endswith("/label-invalid")
    assert _count(world, SecurityEvent) == 2
    with world.app.app_context():
        occurrences = db.session.scalar(select(Alert.occurrences))

    over = world.scan(forged, "cast", role="factory_worker")
    assert _assert_too_many(over) > 60  # the window is an hour
    assert "refused unrecorded" in over.get_json()["detail"]
    assert _count(world, SecurityEvent) == 2
    with world.app.app_context():
        assert db.session.scalar(select(Alert.occurrences)) == occurrences
    # A retry of a scan already recorded costs nothing and answers as before.
    again = world.scan(forged, "cast", role="factory_worker", client_event_id=first_ids[0])
    assert again.status_code == 422 and again.get_json()["type"].endswith("/label-invalid")
    # In a batch, the refused label is refused 429 alone; the genuine one is recorded.
    genuine = world.label(component["id"])["url"]
    batch = world.client("factory_worker").post("/api/v1/scans/batch", json={"items": [
        {"code": forged, "action": "cast", "client_event_id": str(uuid.uuid4())},
        {"code": genuine, "action": "cast", "client_event_id": str(uuid.uuid4())}]})
    results = batch.get_json()["results"]
    assert results[0]["problem"]["type"].endswith("/too-many-requests")
    assert results[0]["problem"]["status"] == 429
    assert results[1]["outcome"] == "accepted"
    assert _count(world, SecurityEvent) == 2
    # Another user's refused labels are still recorded.
    other = world.scan(forged, "hold", role="qc_inspector")
    assert other.status_code == 422 and _count(world, SecurityEvent) == 3


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": False,
                                          "RATE_LIMIT_SIGN_IN": "1/minute"}])
def test_limits_do_nothing_when_turned_off(client):
    for _ in range(3):
        assert client.post("/login", data=_wrong_password(client)).status_code == 401


# Nothing listens on port 1: the storage's errors are logged and swallowed.
@pytest.mark.parametrize("storage", ["redis://127.0.0.1:1/7"], indirect=True)
def test_a_lost_redis_lifts_the_limits_instead_of_failing(world):
    world.app.config["RATE_LIMIT_DECODE"] = "1/minute"
    world.app.config["RATE_LIMIT_SECURITY_EVENTS"] = "1/hour"
    worker = world.client("factory_worker")
    assert [_decode(worker).status_code for _ in range(2)] == [200, 200]
    forged = _forged(world.label(world.component("planned")["id"])["url"])
    for _ in range(2):
        assert world.scan(forged, "cast", role="factory_worker").status_code == 422
    assert _count(world, SecurityEvent) == 2


def test_production_limits_are_on_and_count_in_redis_when_it_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("RATELIMIT_ENABLED", raising=False)
    config = load_config(str(tmp_path))
    assert config["RATELIMIT_ENABLED"] is True
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["RATE_LIMIT_SIGN_IN"] == "30/minute"
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/2")
    assert load_config(str(tmp_path))["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/2"
    monkeypatch.setenv("RATELIMIT_ENABLED", "0")
    assert load_config(str(tmp_path))["RATELIMIT_ENABLED"] is False


def test_a_limit_that_is_not_a_rate_stops_the_app():
    with pytest.raises(RuntimeError, match="RATE_LIMIT_EXPORTS"):
        _app("sqlite://", RATE_LIMIT_EXPORTS="lots")
