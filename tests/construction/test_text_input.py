"""Text that cannot be stored safely is refused at the door; what is stored always hashes."""

import json
import re
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select

from construction.extensions import db
from construction.ledger_format import canonical_content
from construction.models import Event, Organization, Project
from construction.services.chain import seal_all, verify_ledger

LONE = "\\udc00"  # as it travels in JSON text: an escape of a lone low surrogate
PROBLEM = "application/problem+json"


def _post_raw(client, path: str, text: str):
    return client.post(path, data=text.encode(), content_type="application/json")


def _scan_text(code: str, **fields: str) -> str:
    """A scan body as JSON text; values of `fields` are inserted verbatim."""
    body = {"code": code, "action": "cast", "client_event_id": str(uuid.uuid4())}
    text = json.dumps(body)[:-1]
    for name, raw in fields.items():
        if name in body:
            text = text.replace(f'"{name}": {json.dumps(body[name])}', f'"{name}": {raw}')
        else:
            text += f', "{name}": {raw}'
    return text + "}"


def _events(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Event))


@pytest.mark.parametrize(("field", "raw", "errors"), [
    ("data", f'{{"note": "crack {LONE}"}}', {"data": {"note": ["lone surrogate \\udc00"]}}),
    ("data", f'{{"list": [1, {{"k{LONE}": 2}}]}}', {"data": {"list": {"1": {"k\\udc00": [
        "lone surrogate \\udc00"]}}}}),
    ("location", f'{{"site": "{LONE}"}}', {"location": {"site": ["lone surrogate \\udc00"]}}),
    ("device", f'"phone{LONE}"', {"device": ["lone surrogate \\udc00"]}),
    ("client_event_id", f'"abcdefgh{LONE}"', {"client_event_id": ["lone surrogate \\udc00"]}),
    ("data", '{"high": "\\ud800 alone"}', {"data": {"high": ["lone surrogate \\ud800"]}}),
])
def test_a_lone_surrogate_anywhere_in_a_scan_is_refused_and_nothing_is_stored(
        world, app, field, raw, errors):
    component = world.component("planned")
    response = _post_raw(world.client("admin"), "/api/v1/scans",
                         _scan_text(component["code"], **{field: raw}))
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["type"].endswith("/validation-error")

    def messages_match(found, wanted):
        if isinstance(wanted, list):
            return len(found) == 1 and wanted[0] in found[0]
        return found.keys() == wanted.keys() and all(
            messages_match(found[key], wanted[key]) for key in wanted)

    assert messages_match(body["errors"], errors), body["errors"]
    assert _events(app) == 0


def test_a_scan_in_a_batch_with_a_lone_surrogate_refuses_the_batch(world, app):
    component = world.component("planned")
    text = '{"items": [' + _scan_text(component["code"], data=f'{{"n": "{LONE}"}}') + "]}"
    response = _post_raw(world.client("admin"), "/api/v1/scans/batch", text)
    assert response.status_code == 422
    assert response.get_json()["errors"]["items"]["0"]["data"]["n"]
    assert _events(app) == 0


@pytest.mark.parametrize("raw", [
    '"\\ud83d\\ude00 pair"',  # an escaped pair is one character (an emoji): fine
    '"\\\\udc00"',  # an escaped backslash: the text is a backslash and "udc00"
    '"\U0001F600 literal"',
])
def test_surrogate_pairs_and_escaped_backslashes_are_text(world, app, raw):
    component = world.component("planned")
    response = _post_raw(world.client("admin"), "/api/v1/scans",
                         _scan_text(component["code"], data=f'{{"note": {raw}}}'))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["event"]["data"]["note"] == json.loads(raw)


def test_a_body_that_is_not_utf8_is_a_bad_request(world, app):
    component = world.component("planned")
    body = _scan_text(component["code"]).encode()[:-1] + b', "data": {"n": "\xed\xb0\x80"}}'
    response = world.client("admin").post("/api/v1/scans", data=body,
                                          content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == PROBLEM
    assert "UTF-8" in response.get_json()["detail"]
    assert _events(app) == 0


def test_an_integer_longer_than_python_parses_is_refused(world, app):
    component = world.component("planned")
    response = _post_raw(world.client("admin"), "/api/v1/scans",
                         _scan_text(component["code"], data='{"n": ' + "7" * 5000 + "}"))
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.mimetype == PROBLEM
    assert "too long" in response.get_json()["detail"]
    # A long run of digits inside a string is text, and fine.
    response = _post_raw(world.client("admin"), "/api/v1/scans",
                         _scan_text(component["code"], data='{"n": "' + "7" * 5000 + '"}'))
    assert response.status_code == 201, response.get_json()


def _write_routes(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            path = re.sub(r"<any\(([a-z_]+)[^>]*>", r"\1", rule.rule)
            path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?[a-z_]+>", "1", path)
            yield method, path


def test_every_json_write_route_refuses_a_lone_surrogate(world, app):
    routes = list(_write_routes(app))
    assert len(routes) > 20
    client = world.client("admin")
    for method, path in routes:
        response = client.open(path, method=method, data=f'{{"name": "x{LONE}"}}'.encode(),
                               content_type="application/json")
        assert response.status_code == 422, (method, path, response.status_code)
        assert response.get_json()["errors"] == {
            "name": ["Not valid Unicode: a lone surrogate \\udc00."]}, (method, path)


def test_names_from_the_command_line_are_checked(runner, app):
    result = runner.invoke(args=["users", "create-org", "Maker \udcff", "--kind",
                                 "manufacturer", "--region", "330106"])
    assert result.exit_code == 1
    assert "not valid Unicode" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Organization)) == 0


def _stored_event(app, world, **fields) -> int:
    """Write an event as an older release could have, past today's checks."""
    component = world.component("planned")
    with app.app_context():
        values = {"component_id": component["id"], "action": "hold", "from_state": "planned",
                  "to_state": "planned", "user_id": world.ids["user_admin"],
                  "organization_id": world.ids["org_maker"],
                  "client_event_id": str(uuid.uuid4()), **fields}
        event_id = db.session.execute(insert(Event).values(**values).returning(Event.id)).scalar()
        db.session.commit()
    return event_id, component["id"]


def test_an_event_stored_with_a_lone_surrogate_still_seals_verifies_and_exports(
        world, app, runner):
    event_id, component_id = _stored_event(app, world, data={"note": "bad \udc00 text"},
                                           location={"site\ud800": "yard"})
    with app.app_context():
        assert seal_all() == 1
        row = db.session.get(Event, event_id)
        content = canonical_content({"data": row.data, "location": row.location})
        content.decode("utf-8")  # valid UTF-8
        assert b'"bad \\udc00 text"' in content
    assert runner.invoke(args=["ledger", "seal"]).exit_code == 0
    verified = runner.invoke(args=["ledger", "verify", "--workers", "1"])
    assert verified.exit_code == 0, verified.output
    admin = world.client("admin")
    assert admin.post("/api/v1/ledger/checkpoints").status_code == 201
    exported = admin.get("/api/v1/ledger/events")
    assert exported.status_code == 200
    assert {"note": "bad \udc00 text"} in [item["event"]["data"] for item in
                                          exported.get_json()["items"] if item["event"]]
    proof = admin.get(f"/api/v1/components/{component_id}/proof")
    assert proof.status_code == 200, proof.get_json()
    for path in (f"/api/v1/components/{component_id}", "/api/v1/epcis/events",
                 f"/api/v1/components/{component_id}/events"):
        assert admin.get(path).status_code == 200, path
    with app.app_context():
        assert verify_ledger(workers=1)[1] is None


def test_labels_print_names_and_marks_with_line_breaks(world, app):
    component = world.component("qc_passed", mark="YWQ\u2029-1\r")
    with app.app_context():
        project = db.session.get(Project, world.ids["project_main"])
        project.name = "Line one\u2028line two\nthree\x85four\tfive"
        db.session.commit()
    admin = world.client("admin")
    for layout in ("thermal-100x70", "thermal-62x29", "a4-3x8"):
        for extension in ("png", "svg", "pdf"):
            url = f"/api/v1/components/{component['id']}/label.{extension}?layout={layout}"
            for send in (admin.post, admin.get):  # print it, then show it
                response = send(url)
                assert response.status_code == 200, (layout, extension,
                                                     response.get_data()[:300])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.builds(lambda a, s, b: a + s + b, st.text(max_size=5),
                st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"]), st.text(max_size=5)),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


def _has_lone_surrogate(value) -> bool:
    if isinstance(value, str):
        return re.search("[\ud800-\udfff]", value) is not None
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
       location=st.none() | st.dictionaries(st.sampled_from(["site", "slot", "note"]),
                                            json_values, max_size=3))
def test_any_json_through_scan_seal_and_verify_keeps_the_ledger_whole(world, app, data,
                                                                       location):
    component = world.component("planned")
    body = {"code": component["code"], "action": "hold", "client_event_id": str(uuid.uuid4()),
            "data": data, "location": location}
    before = _events(app)
    response = _post_raw(world.client("admin"), "/api/v1/scans", json.dumps(body))
    if _has_lone_surrogate(data) or _has_lone_surrogate(location):
        assert response.status_code == 422, response.get_json()
        assert _events(app) == before
    else:
        assert response.status_code in (201, 422), response.get_json()
    with app.app_context():
        seal_all()
        assert verify_ledger(workers=1)[1] is None
    assert world.client("regulator").get("/api/v1/ledger/events").status_code == 200


def test_a_stored_lone_surrogate_reaches_webhooks_and_csv_as_valid_utf8(world, app, runner):
    import threading

    from tests.construction.test_webhooks import Receiver

    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        response = world.client("regulator").post("/api/v1/webhooks",
                                                   json={"url": receiver.url + "/hook"})
        assert response.status_code == 201, response.get_json()
        _stored_event(app, world, data={"note": "bad \udc00"},
                      location={"latitude": "north\ud800", "longitude": 1})
        result = runner.invoke(args=["webhooks", "deliver"])
        assert result.exit_code == 0, result.output
        bodies = receiver.delivered("/hook")
        assert {"note": "bad \udc00"} in [body["event"]["data"] for body in bodies]
        with receiver.lock:
            for request in receiver.requests:
                request["body"].decode("utf-8")
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join()
    exported = world.client("regulator").get("/api/v1/exports/events.csv")
    assert exported.status_code == 200
    assert "north\\ud800" in exported.get_data().decode("utf-8")


def test_json_bodies_and_page_forms_have_their_own_size_limits(world, app):
    app.config["JSON_MAX_BYTES"] = 100_000
    component = world.component("planned")
    padding = "x" * 7000
    items = [{"code": component["code"], "action": "hold", "client_event_id": f"big-{i:04d}",
              "data": {"note": padding}} for i in range(20)]
    response = world.client("admin").post("/api/v1/scans/batch", json={"items": items})
    assert response.status_code == 413 and response.mimetype == PROBLEM
    assert _events(app) == 0
    response = world.client("admin").post("/api/v1/scans/batch", json={"items": items[:5]})
    assert response.status_code == 200
    sign_in = app.test_client().post("/login", data={"name": "x", "password": "y" * 70_000})
    assert sign_in.status_code == 413
