"""Webhook subscriptions, dispatch from the ledger, signed deliveries, back-off and retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import delete, update

from construction import public_http
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
            receiver.in_flight[self.path] += 1
            receiver.most_at_once[self.path] = max(receiver.most_at_once[self.path],
                                                   receiver.in_flight[self.path])
        if receiver.delay_s:
            time.sleep(receiver.delay_s)
        with receiver.lock:  # before answering: the sender may go on once it has the answer
            receiver.in_flight[self.path] -= 1
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
        self.in_flight: Counter[str] = Counter()
        self.most_at_once: Counter[str] = Counter()  # requests to one path handled at once
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
    outcome = public_http.post_json("http://127.0.0.1:9/x", b"{}", {}, 1.0, allow_private=False)
    assert not outcome.delivered and "not a public address" in outcome.error
    assert public_http.is_public_address("93.184.215.14")
    assert not any(public_http.is_public_address(a) for a in (
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


def test_a_colleague_cannot_see_or_change_a_subscription_wider_than_their_own_scope(
        world, receiver, runner):
    # The admin and the factory worker are of one organization; the admin's subscriptions
    # reach everything and the far project, where the worker takes no part.
    everything = _subscribe(world, "admin", url=receiver.url)
    far = _subscribe(world, "admin", url=receiver.url, project="far")
    own = _subscribe(world, "factory_worker", url=receiver.url, project="main")
    world.component("cast", project="far")
    _deliver(runner)
    worker = world.client("factory_worker")
    assert [i["id"] for i in worker.get("/api/v1/webhooks").get_json()["items"]] == [own["id"]]
    for subscription in (everything, far):
        base = f"/api/v1/webhooks/{subscription['id']}"
        delivery = world.client("admin").get(f"{base}/deliveries").get_json()["items"][0]
        for method, url in (("get", base), ("get", f"{base}/deliveries"),
                            ("patch", base), ("delete", base),
                            ("post", f"{base}/deliveries/{delivery['id']}/retry")):
            response = getattr(worker, method)(url, json={"active": False})
            assert response.status_code == 404 and response.mimetype == PROBLEM, (method, url)
        assert _detail(world, "admin", subscription["id"])["active"] is True
    assert worker.get(f"/api/v1/webhooks/{own['id']}").status_code == 200


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
    # One subscription's deliveries go one at a time, in ledger order.
    assert [b["event"]["sequence"] for b in bodies] == sorted(
        b["event"]["sequence"] for b in bodies)
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
    for _ in range(2):  # queued, not sent by the request; asking twice is the same
        response = world.client("regulator").post(url)
        assert response.status_code == 202, response.get_json()
        assert (response.get_json()["status"], response.get_json()["attempts"]) == (
            "pending", 2)
        assert len(receiver.requests) == 2
    assert "0 delivered, 0 to retry, 1 failed" in _deliver(runner)  # one more attempt
    assert len(receiver.requests) == 3
    assert _detail(world, "regulator", subscription["id"])["deliveries"][0]["attempts"] == 3
    receiver.fail_next = 0
    assert world.client("regulator").post(url).status_code == 202
    assert "1 delivered" in _deliver(runner)
    delivery = _detail(world, "regulator", subscription["id"])["deliveries"][0]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 4)
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
        outcome = public_http.post_json(
            f"http://127.0.0.1:{listener.getsockname()[1]}/hook", b"{}", {}, timeout=1.0,
            allow_private=True)
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    assert not outcome.delivered
    assert "no complete answer within 1 s" in outcome.error


# --- one attempt in flight per subscription, in order ---------------------------------


def test_two_deliverers_never_send_one_subscriptions_deliveries_at_once(app, world, receiver,
                                                                        runner):
    app.config.update(WEBHOOK_SEND_WORKERS=4, WEBHOOK_SEND_BATCH=2)
    for path in ("/a", "/b", "/c"):
        _subscribe(world, "admin", url=receiver.url + path)
    for mark in ("YWQ-1", "YWQ-2", "YWQ-3", "YWQ-4"):
        world.component("demoulded", mark=mark)  # two events each
    receiver.delay_s = 0.02  # long enough for a second sender to overlap, if it could
    start, errors = threading.Barrier(2), []

    def deliverer():
        try:
            with app.app_context():
                start.wait(5)
                service.deliver()
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=deliverer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    _deliver(runner)  # what a deliverer found claimed by the other is sent in a later round
    with receiver.lock:
        paths = [r["path"] for r in receiver.requests]
    assert sorted(paths) == sorted(["/a", "/b", "/c"] * 8)  # each delivery sent once
    assert dict(receiver.most_at_once) == {"/a": 1, "/b": 1, "/c": 1}
    for path in ("/a", "/b", "/c"):
        arrived = [b["event"]["sequence"] for b in receiver.delivered(path)]
        assert arrived == sorted(arrived) and len(set(arrived)) == 8


def test_a_failing_delivery_holds_the_ones_behind_it(app, world, receiver):
    receiver.fail_next = 1
    subscription = _subscribe(world, "admin", url=receiver.url)
    world.component("demoulded")
    start = datetime.now(UTC)
    report = _run_service(app, service.deliver, now=start)
    assert (report.delivered, report.retrying) == (0, 1)
    assert len(receiver.requests) == 1  # the demould waits for the cast
    detail = _detail(world, "admin", subscription["id"])
    assert [d["attempts"] for d in detail["deliveries"]] == [0, 1]
    report = _run_service(app, service.deliver, now=start + timedelta(minutes=5))
    assert report.delivered == 2
    assert _actions(receiver.delivered()) == ["cast", "demould"]
    assert [json.loads(r["body"])["event"]["action"] for r in receiver.requests] == [
        "cast", "cast", "demould"]


# --- the circuit breaker ------------------------------------------------------------


def test_the_circuit_opens_after_failures_in_a_row_and_a_probe_closes_it(app, world,
                                                                        receiver, runner):
    app.config.update(WEBHOOK_BREAKER_FAILURES=3, WEBHOOK_BREAKER_COOLDOWN_S=600,
                      WEBHOOK_MAX_ATTEMPTS=20)
    receiver.fail_next = 100
    subscription = _subscribe(world, "admin", url=receiver.url)
    path = f"/api/v1/webhooks/{subscription['id']}"
    assert (_detail(world, "admin", subscription["id"])["circuit"],
            world.client("admin").get("/api/v1/webhooks").get_json()["items"][0]["circuit"]
            ) == ("closed", "closed")
    world.component("cast")
    world.component("cast", mark="YWQ-2")
    start = datetime.now(UTC)
    opened = 0
    for minutes in (0, 2, 5):  # three failures of the oldest delivery, each after its back-off
        opened += _run_service(app, service.deliver,
                               now=start + timedelta(minutes=minutes)).circuits_opened
    assert len(receiver.requests) == 3 and opened == 1
    detail = _detail(world, "admin", subscription["id"])
    assert (detail["circuit"], detail["consecutive_failures"]) == ("open", 3)
    open_until = datetime.fromisoformat(detail["circuit_open_until"])
    assert open_until == start + timedelta(minutes=5, seconds=600)

    # Open: nothing is sent during the cool-down, and nothing waiting is dropped.
    report = _run_service(app, service.deliver, now=start + timedelta(minutes=14))
    assert (report.delivered, report.retrying, report.failed) == (0, 0, 0)
    assert len(receiver.requests) == 3
    assert world.client("admin").get(path).get_json()["delivery_counts"]["pending"] == 2

    # After it, one probe: it fails, and the circuit opens again.
    report = _run_service(app, service.deliver, now=start + timedelta(minutes=16))
    assert (report.retrying, report.circuits_opened, len(receiver.requests)) == (1, 1, 4)
    detail = _detail(world, "admin", subscription["id"])
    assert (detail["circuit"], detail["consecutive_failures"]) == ("open", 4)
    assert [d["attempts"] for d in detail["deliveries"]] == [0, 4]

    # A retry through the API makes it half-open: the retried delivery is the probe.
    oldest = detail["deliveries"][1]["id"]
    retried = world.client("admin").post(f"{path}/deliveries/{oldest}/retry")
    assert retried.status_code == 202 and len(receiver.requests) == 4
    assert _detail(world, "admin", subscription["id"])["circuit"] == "half-open"
    receiver.fail_next = 0
    assert "2 delivered, 0 to retry" in _deliver(runner)
    detail = _detail(world, "admin", subscription["id"])
    assert (detail["circuit"], detail["consecutive_failures"],
            detail["circuit_open_until"]) == ("closed", 0, None)
    assert _actions(receiver.delivered()) == ["cast", "cast"]


def test_the_breaker_can_be_switched_off(app, world, receiver):
    app.config.update(WEBHOOK_BREAKER_FAILURES=0, WEBHOOK_MAX_ATTEMPTS=3)
    receiver.fail_next = 100
    subscription = _subscribe(world, "admin", url=receiver.url)
    world.component("cast")
    start = datetime.now(UTC)
    for hours in (0, 1, 2):
        _run_service(app, service.deliver, now=start + timedelta(hours=hours))
    detail = _detail(world, "admin", subscription["id"])
    assert (detail["circuit"], detail["consecutive_failures"]) == ("closed", 3)
    assert detail["delivery_counts"]["failed"] == 1


# --- checkpoints ---------------------------------------------------------------------


def _checkpoint(runner) -> None:
    result = runner.invoke(args=["ledger", "checkpoint"])
    assert result.exit_code == 0 and result.output.startswith("checkpoint "), result.output


def test_checkpoints_go_to_the_regulators_and_admins_who_ask(app, world, receiver, runner):
    from construction.ledger_format import verify_statement
    from labels.keys import public_key_from_text

    regulator = _subscribe(world, "regulator", url=receiver.url + "/regulator",
                           actions=["checkpoint"])
    # null: every lifecycle action, no checkpoints
    events = _subscribe(world, "far_regulator", url=receiver.url + "/events")
    _subscribe(world, "admin", url=receiver.url + "/admin", actions=["cast", "checkpoint"])
    refused = _subscribe(world, "project_manager", expect=403, url=receiver.url,
                         project="main", actions=["checkpoint"])
    assert refused["type"].endswith("forbidden")
    manager = _subscribe(world, "project_manager", url=receiver.url, project="main")
    patched = world.client("admin").patch(f"/api/v1/webhooks/{manager['id']}",
                                          json={"actions": ["checkpoint"]})
    assert patched.status_code == 403 and patched.mimetype == PROBLEM

    world.component("demoulded")
    world.component("cast", project="far")
    _checkpoint(runner)
    # The manager: cast, demould; far: cast; admin: 2 casts, checkpoint; regulator: checkpoint.
    assert "7 queued, 7 delivered" in _deliver(runner)
    assert "0 queued, 0 delivered" in _deliver(runner)

    listed = world.client("regulator").get("/api/v1/ledger/checkpoints").get_json()["items"]
    with receiver.lock:
        requests = [r for r in receiver.requests if r["path"] == "/regulator"]
    assert len(requests) == 1
    request = requests[0]
    body = json.loads(request["body"])
    assert body["checkpoint"] == listed[0] and "event" not in body
    assert body["subscription_id"] == regulator["id"]
    headers = request["headers"]
    assert headers["X-PrefabTrace-Event"] == "checkpoint"
    assert headers["X-PrefabTrace-Delivery"] == str(body["delivery_id"])
    assert headers["X-PrefabTrace-Signature"] == "sha256=" + hmac.new(
        regulator["secret"].encode(),
        headers["X-PrefabTrace-Timestamp"].encode() + b"." + request["body"],
        hashlib.sha256).hexdigest()
    # The checkpoint itself verifies with the published ledger key.
    keys = {k["key_id"]: k["public_key"]
            for k in world.client().get("/api/v1/ledger/keys").get_json()["keys"]}
    checkpoint = body["checkpoint"]
    assert verify_statement(checkpoint["statement"], checkpoint["signature"],
                            public_key_from_text(keys[checkpoint["key_id"]]))
    assert (checkpoint["first_sequence"], checkpoint["sequence"]) == (1, 3)

    # After the events it covers; never to a subscription that did not ask for it.
    admin = receiver.delivered("/admin")
    assert ["checkpoint" in b for b in admin] == [False, False, True]
    assert all("event" in b for b in receiver.delivered("/events"))
    deliveries = world.client("regulator").get(
        f"/api/v1/webhooks/{regulator['id']}/deliveries").get_json()["items"]
    assert [(d["event_id"], d["checkpoint_id"]) for d in deliveries] == [
        (None, checkpoint["id"])]

    # The next one links to it; a subscription made, or opted in, after the first gets only
    # the next.
    late = _subscribe(world, "far_regulator", url=receiver.url + "/late",
                      actions=["checkpoint"])
    assert world.client("far_regulator").patch(f"/api/v1/webhooks/{events['id']}", json={
        "actions": ["checkpoint"]}).status_code == 200
    world.component("cast", mark="YWQ-2")
    _checkpoint(runner)
    _deliver(runner)
    second = [b["checkpoint"] for b in receiver.delivered("/regulator")][1]
    assert json.loads(second["statement"])["previous"] == {
        "sequence": checkpoint["sequence"], "head_hash": checkpoint["head_hash"]}
    assert [b["checkpoint"]["id"] for b in receiver.delivered("/late")] == [second["id"]]
    assert [b["checkpoint"]["id"] for b in receiver.delivered("/events")
            if "checkpoint" in b] == [second["id"]]
    assert _detail(world, "far_regulator", late["id"])["delivery_counts"]["delivered"] == 1


def test_a_checkpoint_delivery_is_retried_like_an_event(app, world, receiver):
    receiver.fail_next = 1
    subscription = _subscribe(world, "admin", url=receiver.url, actions=["checkpoint"])
    world.component("cast")
    with app.app_context():
        from construction.services.chain import create_checkpoint

        create_checkpoint()
    start = datetime.now(UTC)
    assert _run_service(app, service.deliver, now=start).retrying == 1
    assert _run_service(app, service.deliver, now=start + timedelta(minutes=5)).delivered == 1
    first, second = receiver.requests
    assert first["body"] == second["body"]
    assert _detail(world, "admin", subscription["id"])["deliveries"][0]["attempts"] == 2


def test_the_deliverer_says_when_a_circuit_opens(app, world, receiver, runner):
    app.config["WEBHOOK_BREAKER_FAILURES"] = 1
    receiver.fail_next = 1
    _subscribe(world, "admin", url=receiver.url)
    world.component("cast")
    assert _deliver(runner).strip() == (
        "1 queued, 0 delivered, 1 to retry, 0 failed, 1 circuit opened")


def test_every_webhook_setting_has_its_one_default_in_the_configuration(tmp_path):
    import inspect
    import re

    from construction.config import load_config
    from construction.services import webhooks

    read = set(re.findall(r'setting\("(\w+)"\)', inspect.getsource(webhooks)))
    assert "WEBHOOK_MAX_ATTEMPTS" in read and len(read) >= 10
    config = load_config(str(tmp_path))
    assert read <= set(config)
    assert config["WEBHOOK_MAX_ATTEMPTS"] == 12 and config["WEBHOOK_ALLOW_PRIVATE"] is False
