"""POST /api/v1/scans: capture, replays, refusals, roles and corrections."""

import uuid

import pytest
from sqlalchemy import func, select

from construction import lifecycle
from construction.extensions import db
from construction.models import Event
from labels.codes import display
from tests.conftest import ROLES

PROBLEM = "application/problem+json"


def event_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Event))


def test_a_scan_records_an_event_and_moves_the_component(world):
    component = world.component("planned")
    response = world.scan(component["code"], "cast", role="factory_worker",
                          client_time="2026-11-25T10:00:00+08:00", device="phone-7",
                          location={"site": "yard", "slot": "A-3"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["component"]["state"] == "cast"
    assert body["component"]["allowed_actions"] == ["demould", "hold", "report_damage", "scrap"]
    event = body["event"]
    assert (event["from_state"], event["to_state"], event["action"]) == ("planned", "cast",
                                                                           "cast")
    assert event["client_time"] == "2026-11-25T10:00:00+08:00"
    assert event["device"] == "phone-7"
    assert event["user"] == "user-factory_worker"
    assert event["biz_step"] == "commissioning"
    assert event["location"] == {"site": "yard", "slot": "A-3"}


def test_the_same_client_event_id_returns_the_original_event(world, app):
    component = world.component("planned")
    first = world.scan(component["code"], "cast", client_event_id="phone-1-000001", expect=201)
    again = world.scan(component["code"], "cast", client_event_id="phone-1-000001", expect=200)
    assert again.get_json()["event"] == first.get_json()["event"]
    assert event_count(app) == 1


def test_a_client_event_id_reused_for_another_action_is_refused(world, app):
    component = world.component("planned")
    world.scan(component["code"], "cast", client_event_id="phone-1-000001", expect=201)
    response = world.scan(component["code"], "demould", client_event_id="phone-1-000001")
    assert response.status_code == 409
    assert response.get_json()["type"].endswith("/client-event-id-reused")
    assert event_count(app) == 1


def test_an_action_not_allowed_from_the_state_is_409_with_the_allowed_actions(world):
    component = world.component("cast")
    response = world.scan(component["code"], "load")
    assert response.status_code == 409
    assert response.mimetype == PROBLEM
    problem = response.get_json()
    assert problem["type"].endswith("/invalid-transition")
    assert problem["current_state"] == "cast"
    assert problem["allowed_actions"] == ["demould", "hold", "report_damage", "scrap"]


@pytest.mark.parametrize("form", ["code", "display", "lower", "id", "label"])
def test_every_form_of_the_code_finds_the_component(world, form):
    component = world.component("planned")
    code = component["code"]
    scanned = {"code": code, "display": display(code), "lower": display(code).lower(),
               "id": str(component["id"]),
               "label": world.label(component["id"])["url"] if form == "label" else None}[form]
    world.scan(scanned, "cast", expect=201)


def test_a_gs1_digital_link_label_finds_the_component(world):
    component = world.component("planned", gtin="06901234567892", serial="S-0001")
    label = world.label(component["id"])
    assert "/01/06901234567892/21/S-0001?v=1&k=" in label["url"]
    response = world.scan(label["url"], "cast", expect=201)
    assert response.get_json()["component"]["id"] == component["id"]


def test_an_unsigned_link_is_not_a_label(world):
    component = world.component("planned", gtin="06901234567892", serial="S-0001")
    for url in ("https://id.example.cn/01/06901234567892/21/S-0001",
                f"https://trace.example.cn/c/{component['code']}"):
        response = world.scan(url, "cast", expect=422)
        assert response.get_json()["type"].endswith("/label-invalid")
        assert response.get_json()["reason"] == "unsigned"


def test_unknown_and_mistyped_codes(world):
    component = world.component("planned")
    code = component["code"]
    typo = code[:3] + ("A" if code[3] != "A" else "B") + code[4:]
    mistyped = world.scan(typo, "cast")
    assert mistyped.status_code == 422
    assert mistyped.get_json()["type"].endswith("/invalid-code")
    unknown = world.scan("999999", "cast")
    assert unknown.status_code == 404
    assert unknown.get_json()["type"].endswith("/unknown-code")


def test_components_of_other_organizations_are_unknown(world):
    far = world.component("planned", project="far")
    response = world.scan(far["code"], "cast", role="factory_worker")
    assert response.status_code == 404
    world.scan(far["code"], "cast", role="other_worker", expect=201)


@pytest.mark.parametrize("location,errors", [
    ({"latitude": 1000, "longitude": "east"}, {"latitude", "longitude"}),
    ({"latitude": 30.2}, {"latitude"}),
    ({"longitude": 120.1}, {"longitude"}),
    ({"latitude": "30.2", "longitude": 120.1}, {"latitude"}),
    ({"latitude": True, "longitude": 120.1}, {"latitude"}),
    ({"latitude": None, "longitude": 120.1}, {"latitude"}),
    ({"lat": 91, "lng": 120.1}, {"lat"}),
    ({"lat": 30.2, "lon": "x"}, {"lon"}),
    ({"lat": 30.2}, {"lat"}),
    ({"latitude": 30.2, "lat": 30.2, "longitude": 1}, {"lat"}),
    ({"latitude": 30.2, "longitude": 120.1, "accuracy_m": -1}, {"accuracy_m"}),
])
def test_a_location_that_is_no_position_is_refused(world, app, location, errors):
    component = world.component("planned")
    response = world.scan(component["code"], "cast", location=location)
    assert response.status_code == 422, response.get_json()
    assert set(response.get_json()["errors"]["location"]) == errors
    assert event_count(app) == 0


def test_a_location_keeps_its_position_and_descriptive_keys(world):
    component = world.component("planned")
    location = {"latitude": 30.27, "longitude": 120.15, "accuracy_m": 8, "site": "yard",
                "slot": {"row": "A", "bay": 3}}
    event = world.scan(component["code"], "cast", location=location,
                       expect=201).get_json()["event"]
    assert event["location"] == location
    other = world.component("planned")
    event = world.scan(other["code"], "cast", location={"lat": -30, "lng": 120},
                       expect=201).get_json()["event"]
    assert event["location"] == {"lat": -30, "lng": 120}


@pytest.mark.parametrize("body,field", [
    ({"action": "cast", "client_event_id": "abcdefgh"}, "code"),
    ({"code": "X", "action": "fly", "client_event_id": "abcdefgh"}, "action"),
    ({"code": "X", "action": "cast"}, "client_event_id"),
    ({"code": "X", "action": "cast", "client_event_id": "short"}, "client_event_id"),
    ({"code": "X", "action": "cast", "client_event_id": "abcdefgh",
      "client_time": "2026-11-25T10:00:00"}, "client_time"),
    ({"code": "X\x00", "action": "cast", "client_event_id": "abcdefgh"}, "code"),
    ({"code": "X", "action": "cast", "client_event_id": "abcdefgh", "extra": 1}, "extra"),
    ({"code": "X", "action": "correct", "client_event_id": "abcdefgh"}, "corrects_event_id"),
    ({"code": "X", "action": "cast", "client_event_id": "abcdefgh",
      "data": {"note": "x" * 9000}}, "data"),
    ({"code": "X", "action": "cast", "client_event_id": "abcdefgh",
      "data": {"note": "a\x00b"}}, "data"),
    ({"code": "X", "action": "cast", "client_event_id": "abcdefgh", "location": "yard"},
     "location"),
    ({"code": "X", "action": "cast", "client_event_id": None}, "client_event_id"),
    ({"code": 7, "action": "cast", "client_event_id": "abcdefgh"}, "code"),
    ({"code": "X", "action": "cast", "client_event_id": "abcdefgh",
      "client_time": "9999-12-31T23:59:59-05:00"}, "client_time"),
    ({"code": "X", "action": "correct", "client_event_id": "abcdefgh",
      "corrects_event_id": 2**64}, "corrects_event_id"),
])
def test_bad_bodies_are_422_with_field_errors(world, body, field):
    response = world.client("admin").post("/api/v1/scans", json=body)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize("code,status", [
    ("https://x.cn/01/06901234567892/21/%00", 422),
    ("https://x.cn/01/06901234567892/21/A%0A", 422),
    ("https://x.cn/c/%00", 422),
    ("²³", 422),
    ("9" * 19, 422),
    ("9" * 18, 404),
])
def test_odd_codes_are_refused_cleanly(world, code, status):
    response = world.scan(code, "cast")
    assert response.status_code == status, response.get_json()
    assert response.mimetype == PROBLEM


def test_deeply_nested_json_is_a_400(world):
    body = '{"code": "X", "action": "cast", "client_event_id": "abcdefgh", "data": ' + \
        "[" * 100_000 + "]" * 100_000 + "}"
    response = world.client("admin").post("/api/v1/scans", data=body,
                                          content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == PROBLEM


def test_huge_ids_in_paths_are_404(world):
    for path in (f"/api/v1/components/{2**64}", f"/api/v1/projects/{2**40}",
                 f"/api/v1/storeys/{2**31}"):
        response = world.client("admin").get(path)
        assert response.status_code == 404 and response.mimetype == PROBLEM, path



def test_no_or_bad_tokens_are_401(world, expired_token):
    component = world.component("planned")
    body = {"code": component["code"], "action": "cast", "client_event_id": "abcdefgh"}
    for client in (world.client(), world.client(token="pt_not-a-token"),
                   world.client(token=expired_token)):
        response = client.post("/api/v1/scans", json=body)
        assert response.status_code == 401
        assert response.mimetype == PROBLEM


def test_a_revoked_token_is_401(world, runner):
    component = world.component("planned")
    with world.app.app_context():
        from construction.models import ApiToken
        from construction.services.accounts import hash_token

        token_id = db.session.scalar(select(ApiToken.id).where(
            ApiToken.token_hash == hash_token(world.tokens["factory_worker"])))
    result = world.app.test_cli_runner().invoke(args=["users", "revoke", str(token_id)])
    assert result.exit_code == 0, result.output
    response = world.scan(component["code"], "cast", role="factory_worker")
    assert response.status_code == 401


def _state_for(action: str) -> str:
    return {"cast": "planned", "demould": "cast", "qc_pass": "demoulded",
            "qc_fail": "demoulded", "store": "qc_passed", "load": "stored",
            "depart": "loaded", "arrive": "in_transit", "accept_delivery": "delivered",
            "reject_delivery": "delivered", "install": "accepted_on_site",
            "connect": "installed", "accept": "connected", "hold": "stored",
            "release": "stored", "report_damage": "delivered", "repair": "delivered",
            "scrap": "stored", "correct": "cast"}[action]


@pytest.mark.parametrize("role", ROLES)
def test_role_action_matrix_over_http(world, role):
    allowed_count = 0
    for action in lifecycle.ACTIONS:
        component = world.component(_state_for(action))
        body = {}
        if action == "release":
            world.scan(component["code"], "hold", expect=201)
        if action == "repair":
            world.scan(component["code"], "report_damage", expect=201)
        if action == "correct":
            history = world.client("admin").get(f"/api/v1/components/{component['id']}")
            body["corrects_event_id"] = history.get_json()["events"][-1]["id"]
        response = world.scan(component["code"], action, role=role, **body)
        if lifecycle.role_may(role, action):
            assert response.status_code == 201, (action, response.get_json())
            allowed_count += 1
        else:
            assert response.status_code == 403, (action, response.get_json())
            assert response.get_json()["type"].endswith("/forbidden-action")
    expected = {"admin": 19, "project_manager": 19, "factory_worker": 5, "qc_inspector": 5,
                "site_supervisor": 8, "regulator": 0}
    assert allowed_count == expected[role]


def test_load_is_refused_on_hold_and_allowed_after_release(world):
    code = world.component("stored")["code"]
    world.scan(code, "hold", role="qc_inspector", expect=201)
    blocked = world.scan(code, "load", role="factory_worker")
    assert blocked.status_code == 409
    problem = blocked.get_json()
    assert problem["type"].endswith("/action-blocked")
    assert problem["on_hold"] is True
    assert "release" in problem["allowed_actions"]
    world.scan(code, "release", role="qc_inspector", expect=201)
    world.scan(code, "load", role="factory_worker", expect=201)


def test_qc_fail_opens_an_ncr_that_repair_with_a_record_closes(world):
    code = world.component("demoulded")["code"]
    failed = world.scan(code, "qc_fail", role="qc_inspector", data={"reason": "crack"},
                        expect=201)
    assert failed.get_json()["component"]["ncr_open"] is True
    assert world.scan(code, "qc_pass", role="qc_inspector").status_code == 409
    no_record = world.scan(code, "repair", role="qc_inspector", data={})
    assert no_record.status_code == 422
    assert no_record.get_json()["type"].endswith("/record-required")
    repaired = world.scan(code, "repair", role="qc_inspector", data={"record": "RP-7"},
                          expect=201)
    assert repaired.get_json()["component"]["ncr_open"] is False
    world.scan(code, "qc_pass", role="qc_inspector", expect=201)


def test_a_correction_voids_an_event_and_restores_the_state(world, app, runner):
    code = world.component("demoulded")["code"]
    wrong = world.scan(code, "qc_pass", role="qc_inspector", expect=201).get_json()["event"]
    corrected = world.scan(code, "correct", role="project_manager",
                           corrects_event_id=wrong["id"], data={"reason": "scanned wrong piece"},
                           expect=201).get_json()
    assert corrected["component"]["state"] == "demoulded"
    assert corrected["event"]["corrects_event_id"] == wrong["id"]
    assert corrected["event"]["from_state"] == "qc_passed"
    again = world.scan(code, "correct", role="project_manager", corrects_event_id=wrong["id"])
    assert again.status_code == 409
    assert again.get_json()["type"].endswith("/invalid-correction")
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 0, result.output


def test_a_correction_that_would_break_later_events_is_refused(world):
    code = world.component("cast")["code"]
    history = world.client("admin").get("/api/v1/components?q=" + code).get_json()["items"][0]
    detail = world.client("admin").get(f"/api/v1/components/{history['id']}").get_json()
    cast_event = detail["events"][0]
    world.scan(code, "demould", expect=201)
    refused = world.scan(code, "correct", corrects_event_id=cast_event["id"])
    assert refused.status_code == 409
    assert refused.get_json()["type"].endswith("/invalid-correction")


def test_a_correction_must_name_an_event_of_the_same_component(world):
    first = world.component("cast")
    other = world.component("cast")
    other_event = world.client("admin").get(
        f"/api/v1/components/{other['id']}").get_json()["events"][0]
    refused = world.scan(first["code"], "correct", corrects_event_id=other_event["id"])
    assert refused.status_code == 409


LEDGER_COLUMNS = ("sequence", "content_hash", "chain_hash")


def _event_rows(app):
    """The recorded fields of every event (the sealer fills the ledger columns once)."""
    with app.app_context():
        return [tuple(row) for row in db.session.execute(
            select(*(c for c in Event.__table__.columns if c.key not in LEDGER_COLUMNS))
            .order_by(Event.id))]


def test_events_are_never_updated_or_deleted(world, app):
    code = world.component("planned")["code"]
    world.scan(code, "cast", data={"mould": "M-3"})
    world.scan(code, "demould")
    before = _event_rows(app)
    wrong = world.scan(code, "qc_pass").get_json()["event"]
    world.scan(code, "correct", corrects_event_id=wrong["id"])
    world.scan(code, "qc_fail", data={"reason": "crack"})
    world.scan(code, "load")  # refused: records nothing
    after = _event_rows(app)
    assert after[:len(before)] == before  # earlier events untouched, none removed
    actions = [row[2] for row in after]
    assert actions == ["cast", "demould", "qc_pass", "correct", "qc_fail"]
    states = [(row[3], row[4]) for row in after]
    assert states == [("planned", "cast"), ("cast", "demoulded"), ("demoulded", "qc_passed"),
                      ("qc_passed", "demoulded"), ("demoulded", "demoulded")]


def test_a_device_header_is_recorded(world):
    code = world.component("planned")["code"]
    response = world.client("admin").post(
        "/api/v1/scans",
        json={"code": code, "action": "cast", "client_event_id": str(uuid.uuid4())},
        headers={"X-Device-Id": "handheld-3"})
    assert response.get_json()["event"]["device"] == "handheld-3"


def test_a_replay_of_an_action_that_is_still_allowed_is_a_duplicate(world, app):
    code = world.component("demoulded")["code"]
    first = world.scan(code, "qc_fail", client_event_id="qc-fail-000001", expect=201)
    again = world.scan(code, "qc_fail", client_event_id="qc-fail-000001", expect=200)
    assert again.get_json()["event"]["id"] == first.get_json()["event"]["id"]
    batch = world.client("admin").post("/api/v1/scans/batch", json={"items": [
        {"code": code, "action": "qc_fail", "client_event_id": "qc-fail-000001"},
        {"code": code, "action": "hold", "client_event_id": "hold-0000001"}]}).get_json()
    assert [r["outcome"] for r in batch["results"]] == ["duplicate", "accepted"]
    with app.app_context():
        actions = db.session.scalars(select(Event.action).order_by(Event.id)).all()
    assert actions[-2:] == ["qc_fail", "hold"] and actions.count("qc_fail") == 1


def test_a_replayed_correction_returns_the_original_event(world, app):
    code = world.component("demoulded")["code"]
    wrong = world.scan(code, "qc_pass", expect=201).get_json()["event"]
    first = world.scan(code, "correct", corrects_event_id=wrong["id"],
                       client_event_id="corr-00000001", expect=201)
    again = world.scan(code, "correct", corrects_event_id=wrong["id"],
                       client_event_id="corr-00000001", expect=200)
    assert again.get_json()["event"]["id"] == first.get_json()["event"]["id"]


def test_codes_of_digits_only_are_refused_so_they_never_read_as_ids(world):
    from labels.codes import check_character

    body = "2" * 8
    response = world.client("admin").post("/api/v1/components", json={
        "project_id": world.ids["project_main"], "component_type_id": world.ids["type_main"],
        "mark": "A", "code": body + check_character(body)})
    assert response.status_code == 422
    assert "code" in response.get_json()["errors"]


def test_scans_without_data_store_sql_null(world, app):
    code = world.component("planned")["code"]
    world.scan(code, "cast", expect=201)
    with app.app_context():
        nulls = db.session.scalar(select(func.count()).select_from(Event).where(
            Event.data.is_(None), Event.location.is_(None)))
    assert nulls == 1
