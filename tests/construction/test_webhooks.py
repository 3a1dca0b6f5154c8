"""Webhook subscriptions, dispatch from the ledger, signed deliveries, back-off and retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import delete, update

from construction.extensions import db
from construction.models import ProjectParticipant, WebhookDelivery, WebhookSubscription
from construction.services import webhooks as service

PROBLEM = "application/problem+json"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with receiver.lock:
            failing = receiver.fail_next > 0
            receiver.fail_next -= failing
            status = receiver.fail_status if failing else 200
            receiver.requests.append({"path": self.path, "headers": self.headers,
                                      "body": body, "status": status})
        if receiver.delay_s:
            time.sleep(receiver.delay_s)
        try:
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"nope" if failing else b"okay")
        except OSError:  # the sender gave up waiting (timeout test)
            pass

    def log_message(self, *args):
        pass


class Receiver:
    """An HTTP server on loopback that records every POST and can fail the first N."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.fail_next = 0
        self.fail_status = 500
        self.delay_s = 0.0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.receiver = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def delivered(self, path: str | None = None) -> list[dict]:
        """Return the bodies (parsed) of the requests answered 2xx, optionally to one path."""
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests
                    if r["status"] == 200 and (path is None or r["path"] == path)]


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def loopback_allowed(app):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True


def _subscribe(world, role: str, expect: int = 201, **body):
    for key in ("project", ):
        if key in body:
            body["project_id"] = world.ids[f"project_{body.pop(key)}"]
    response = world.client(role).post("/api/v1/webhooks", json=body)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def _deliver(runner) -> str:
    result = runner.invoke(args=["webhooks", "deliver"])
    assert result.exit_code == 0, result.output
    return result.output


def _actions(bodies: list[dict]) -> list[str]:
    return [b["event"]["action"] for b in sorted(bodies, key=lambda b: b["event"]["sequence"])]


def _detail(world, role: str, subscription_id: int) -> dict:
    response = world.client(role).get(f"/api/v1/webhooks/{subscription_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_service(app, function, **kw):
    with app.app_context():
        return function(**kw)


# --- subscribing ---------------------------------------------------------------------


@pytest.mark.parametrize("role,body,status", [
    ("regulator", {}, 201),                              # its own region by default
    ("regulator", {"region_code": "330106"}, 201),       # a district of its city
    ("regulator", {"region_code": "4401"}, 403),
    ("regulator", {"region_code": "33"}, 403),           # wider than its region
    ("regulator", {"project": "main"}, 201),
    ("regulator", {"project": "far"}, 404),  # out of scope: absent,
    ("far_regulator", {"project": "main"}, 404),  # out of scope: absent,
    ("far_regulator", {"region_code": "440106"}, 201),
    ("project_manager", {"project": "main"}, 201),
    ("factory_worker", {"project": "main"}, 201),
    ("project_manager", {"project": "far"}, 404),  # out of scope: absent,
    ("project_manager", {"region_code": "330106"}, 403),
    ("project_manager", {}, 422),
    ("other_worker", {"project": "main"}, 404),  # out of scope: absent,
    ("other_worker", {"project": "far"}, 201),
    ("admin", {}, 201),
    ("admin", {"project_id": 999999}, 422),
    ("admin", {"project": "main", "region_code": "3301"}, 422),
])
def test_who_may_subscribe_to_what(world, receiver, role, body, status):
    created = _subscribe(world, role, expect=status, url=receiver.url + "/hook", **body)
    if status == 201:
        assert created["secret"].startswith("whsec_") and created["active"] is True
        if role == "regulator" and not body:
            assert created["region_code"] == "3301"
    else:
        assert created["type"].endswith({403: "forbidden", 404: "not-found",
                                          422: "validation-error"}[status])


def test_subscribing_needs_a_token_and_valid_fields(world, receiver):
    assert world.client().post("/api/v1/webhooks", json={"url": receiver.url}).status_code == 401
    for body in ({"url": receiver.url, "actions": ["fly"]}, {"url": receiver.url, "actions": []},
                 {"url": receiver.url, "region_code": "33x"}, {}):
        response = world.client("admin").post("/api/v1/webhooks", json=body)
        assert response.status_code == 422 and response.mimetype == PROBLEM


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/hook", "http://localhost/hook", "http://10.1.2.3/hook",
    "http://192.168.0.10/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook", "http://100.64.0.1/", "ftp://93.184.215.14/hook",
    "file:///etc/passwd", "javascript:alert(1)", "http:///nohost", "http://user:pw@93.184.215.14/",
    "http://93.184.215.14/a b", "http://93.184.215.14:99999/"])
def test_private_and_malformed_urls_are_refused(app, world, url):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    response = world.client("admin").post("/api/v1/webhooks", json={"url": url})
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert "url" in response.get_json()["errors"]


def test_a_public_url_is_accepted_and_private_ones_refused_on_connect(app, world):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    _subscribe(world, "admin", url="https://93.184.215.14/hook")
    # The check is repeated on every connection (DNS can change after subscribing).
    outcome = service.post_json("http://127.0.0.1:9/x", b"{}", {}, 1.0, allow_private=False)
    assert not outcome.delivered and "not a public address" in outcome.error
    assert service.is_public_address("93.184.215.14")
    assert not any(service.is_public_address(a) for a in (
        "127.0.0.1", "10.0.0.1", "172.16.0.1", "169.254.169.254", "::1", "fe80::1%eth0",
        "::ffff:10.0.0.1", "0.0.0.0", "224.0.0.1", "fd00::1"))


def test_listing_is_per_organization_and_the_secret_is_shown_once(world, receiver):
    regulator = _subscribe(world, "regulator", url=receiver.url)
    manager = _subscribe(world, "project_manager", url=receiver.url, project="main")
    listed = world.client("regulator").get("/api/v1/webhooks").get_json()
    assert [i["id"] for i in listed["items"]] == [regulator["id"]]
    assert "secret" not in listed["items"][0]
    assert "secret" not in _detail(world, "regulator", regulator["id"])
    everything = world.client("admin").get("/api/v1/webhooks").get_json()
    assert {i["id"] for i in everything["items"]} == {regulator["id"], manager["id"]}
    for method in ("get", "patch", "delete"):
        response = getattr(world.client("project_manager"), method)(
            f"/api/v1/webhooks/{regulator['id']}", json={"active": False})
        assert response.status_code == 404 and response.mimetype == PROBLEM


# --- dispatching and delivering ------------------------------------------------------


def test_matching_events_are_delivered_once_and_signed(world, receiver, runner):
    subscription = _subscribe(world, "project_manager", url=receiver.url + "/hook",
                              project="main")
    main = world.component("demoulded")
    world.component("cast", project="far")
    assert "2 queued, 2 delivered, 0 to retry, 0 failed" in _deliver(runner)
    assert "0 queued, 0 delivered" in _deliver(runner)  # nothing twice
    with receiver.lock:
        requests = list(receiver.requests)
    assert len(requests) == 2
    for request in requests:
        headers = request["headers"]
        assert headers["Content-Type"] == "application/json"
        timestamp = headers["X-PrefabTrace-Timestamp"]
        assert abs(int(timestamp) - time.time()) < 60
        expected = hmac.new(subscription["secret"].encode(),
                            timestamp.encode() + b"." + request["body"],
                            hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-PrefabTrace-Signature"], "sha256=" + expected)
        body = json.loads(request["body"])
        assert headers["X-PrefabTrace-Delivery"] == str(body["delivery_id"])
        assert headers["X-PrefabTrace-Event"] == body["event"]["action"]
        assert body["subscription_id"] == subscription["id"]
    bodies = receiver.delivered("/hook")
    assert _actions(bodies) == ["cast", "demould"]
    # Deliveries are sent in parallel: arrival order is not event order.
    event = next(b["event"] for b in bodies if b["event"]["action"] == "cast")
    assert event["component_id"] == main["id"] and event["component_code"] == main["code"]
    assert event["project_code"] == "P-MAIN"
    assert event["project_id"] == world.ids["project_main"]
    assert event["user"] == "user-admin" and event["biz_step"] == "commissioning"
    assert len(event["content_hash"]) == 64 and event["sequence"] >= 1
    detail = _detail(world, "project_manager", subscription["id"])
    assert detail["last_status"] == "delivered" and detail["last_status_code"] == 200
    assert detail["last_delivery_at"] is not None
    assert detail["delivery_counts"] == {"pending": 0, "delivered": 2, "failed": 0}
    assert {d["status"] for d in detail["deliveries"]} == {"delivered"}


def test_events_before_subscribing_are_not_sent(world, receiver, runner):
    world.component("cast")
    _subscribe(world, "admin", url=receiver.url)
    world.component("planned", mark="YWQ-2")
    assert "0 queued" in _deliver(runner)
    assert receiver.requests == []


def test_filters_by_action_project_and_region(app, world, receiver, runner):
    # Small batches, so that reading the ledger and sending each take several rounds.
    app.config.update(WEBHOOK_DISPATCH_BATCH=2, WEBHOOK_SEND_BATCH=3)
    _subscribe(world, "regulator", url=receiver.url + "/city-qc", actions=["qc_pass"])
    _subscribe(world, "far_regulator", url=receiver.url + "/far")
    _subscribe(world, "admin", url=receiver.url + "/all", actions=None)
    _subscribe(world, "admin", url=receiver.url + "/district", region_code="330106",
               actions=["cast", "qc_pass"])
    main = world.component("qc_passed")
    far = world.component("cast", project="far")
    _deliver(runner)
    assert _actions(receiver.delivered("/city-qc")) == ["qc_pass"]
    assert receiver.delivered("/city-qc")[0]["event"]["component_id"] == main["id"]
    assert [b["event"]["component_id"] for b in receiver.delivered("/far")] == [far["id"]]
    assert _actions(receiver.delivered("/all")) == ["cast", "demould", "qc_pass", "cast"]
    assert _actions(receiver.delivered("/district")) == ["cast", "qc_pass"]


def test_a_subscriber_who_leaves_the_project_gets_nothing_more(app, world, receiver, runner):
    _subscribe(world, "project_manager", url=receiver.url, project="main")
    with app.app_context():
        db.session.execute(delete(ProjectParticipant).where(
            ProjectParticipant.organization_id == world.ids["org_builder"]))
        db.session.commit()
    world.component("cast")
    _deliver(runner)
    assert receiver.requests == []


def test_a_failing_receiver_is_retried_with_back_off(app, world, receiver, runner):
    receiver.fail_next = 1
    subscription = _subscribe(world, "regulator", url=receiver.url)
    world.component("cast")
    before = datetime.now(UTC)
    assert "1 to retry" in _deliver(runner)
    detail = _detail(world, "regulator", subscription["id"])
    assert detail["last_status"] == "failed" and detail["last_status_code"] == 500
    assert detail["last_error"] == "HTTP 500: nope"
    delivery = detail["deliveries"][0]
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    wait = datetime.fromisoformat(delivery["next_attempt_at"]) - before
    assert timedelta(seconds=30) <= wait <= timedelta(seconds=40)
    assert "0 delivered, 0 to retry" in _deliver(runner)  # not due yet
    assert len(receiver.requests) == 1

    report = _run_service(app, service.deliver, now=datetime.now(UTC) + timedelta(seconds=45))
    assert (report.delivered, report.retrying) == (1, 0)
    first, second = receiver.requests
    assert first["headers"]["X-PrefabTrace-Delivery"] == second["headers"][
        "X-PrefabTrace-Delivery"]
    detail = _detail(world, "regulator", subscription["id"])
    assert detail["last_status"] == "delivered" and detail["last_error"] == ""
    assert detail["deliveries"][0]["attempts"] == 2
    assert detail["deliveries"][0]["delivered_at"] is not None


def test_back_off_doubles_and_is_capped(app):
    with app.app_context():
        waits = [service.backoff(n).total_seconds() for n in (1, 2, 3, 10, 30)]
    assert 30 <= waits[0] <= 33 and 60 <= waits[1] <= 66 and 120 <= waits[2] <= 132
    assert 15360 <= waits[3] <= 16896 and 21600 <= waits[4] <= 23760


def test_after_the_last_attempt_it_fails_and_can_be_retried(app, world, receiver, runner):
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 2
    receiver.fail_next = 10
    receiver.fail_status = 503
    subscription = _subscribe(world, "regulator", url=receiver.url)
    world.component("cast")
    _deliver(runner)
    with app.app_context():  # pass time by moving the attempt into the past
        db.session.execute(update(WebhookDelivery).values(
            next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.session.commit()
    assert "0 to retry, 1 failed" in _deliver(runner)
    _run_service(app, service.deliver, now=datetime.now(UTC) + timedelta(days=2))
    assert len(receiver.requests) == 2
    detail = _detail(world, "regulator", subscription["id"])
    delivery = detail["deliveries"][0]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "failed", 2, 503)
    assert detail["delivery_counts"]["failed"] == 1
    failed = world.client("regulator").get(
        f"/api/v1/webhooks/{subscription['id']}/deliveries?status=failed").get_json()
    assert [d["id"] for d in failed["items"]] == [delivery["id"]]

    url = f"/api/v1/webhooks/{subscription['id']}/deliveries/{delivery['id']}/retry"
    assert world.client("far_regulator").post(url).status_code == 404
    response = world.client("regulator").post(url)  # still failing: stays failed
    assert response.status_code == 200
    assert (response.get_json()["status"], response.get_json()["attempts"]) == ("failed", 3)
    receiver.fail_next = 0
    response = world.client("regulator").post(url)
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["status"], response.get_json()["attempts"]) == ("delivered", 4)
    assert len(receiver.delivered()) == 1
    again = world.client("regulator").post(url)
    assert again.status_code == 409 and again.mimetype == PROBLEM
    assert world.client("regulator").post(
        f"/api/v1/webhooks/{subscription['id']}/deliveries/999999/retry").status_code == 404


@pytest.mark.parametrize("case", ["refused", "redirect", "timeout"])
def test_unreachable_receivers_are_failed_attempts(app, world, receiver, runner, case):
    url = receiver.url
    if case == "refused":
        url = f"http://127.0.0.1:{_closed_port()}/hook"
    elif case == "redirect":
        receiver.fail_next, receiver.fail_status = 1, 302
    else:
        app.config["WEBHOOK_TIMEOUT_S"] = 0.3
        receiver.delay_s = 1.0
    subscription = _subscribe(world, "admin", url=url)
    world.component("cast")
    assert "1 to retry" in _deliver(runner)
    detail = _detail(world, "admin", subscription["id"])
    assert detail["last_status"] == "failed"
    error = detail["deliveries"][0]["last_error"]
    if case == "refused":
        assert detail["last_status_code"] is None and "refused" in error.lower()
    elif case == "redirect":
        assert detail["last_status_code"] == 302 and "not followed" in error
        assert len(receiver.requests) == 1  # the Location was not visited
    else:
        assert detail["last_status_code"] is None and "timed out" in error


def test_patching_and_deleting(app, world, receiver, runner):
    subscription = _subscribe(world, "project_manager", url=receiver.url, project="main")
    path = f"/api/v1/webhooks/{subscription['id']}"
    client = world.client("project_manager")
    assert client.patch(path, json={}).status_code == 422
    assert client.patch(path, json={"actions": ["teleport"]}).status_code == 422
    patched = client.patch(path, json={"actions": ["demould"]})
    assert patched.status_code == 200 and patched.get_json()["actions"] == ["demould"]
    world.component("demoulded")
    _deliver(runner)
    assert _actions(receiver.delivered()) == ["demould"]

    assert client.patch(path, json={"active": False}).get_json()["active"] is False
    world.component("cast", mark="YWQ-2")
    _deliver(runner)
    assert len(receiver.requests) == 1
    # Switched on again it catches up with what happened meanwhile.
    client.patch(path, json={"active": True, "actions": None})
    _deliver(runner)
    assert _actions(receiver.delivered()) == ["demould", "cast"]

    assert client.delete(path).status_code == 204
    world.component("cast", mark="YWQ-3")
    _deliver(runner)
    assert len(receiver.requests) == 2
    kept = _detail(world, "project_manager", subscription["id"])
    assert kept["active"] is False and kept["delivery_counts"]["delivered"] == 2
    with app.app_context():
        assert db.session.get(WebhookSubscription, subscription["id"]) is not None


def test_dispatching_again_from_an_old_cursor_queues_nothing_twice(app, world, receiver,
                                                                   runner):
    subscription = _subscribe(world, "admin", url=receiver.url)
    world.component("demoulded")
    _deliver(runner)
    with app.app_context():
        db.session.execute(update(WebhookSubscription).values(after_sequence=0))
        db.session.commit()
    assert _run_service(app, service.dispatch) == 0
    assert "0 queued, 0 delivered" in _deliver(runner)
    assert len(receiver.requests) == 2
    assert _detail(world, "admin", subscription["id"])["delivery_counts"]["delivered"] == 2


def test_a_receiver_that_answers_one_byte_at_a_time_is_cut_off_at_the_deadline():
    from construction.services.webhooks import post_json

    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Padding: " + b"x" * 60 + b"\r\n\r\n"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def drip():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in answer:  # 80 bytes, one every 0.2 s: each read well within 1 s
                if stop.wait(0.2):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        outcome = post_json(f"http://127.0.0.1:{listener.getsockname()[1]}/hook", b"{}", {},
                            timeout=1.0, allow_private=True)
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    assert not outcome.delivered
    assert "no complete answer within 1 s" in outcome.error
