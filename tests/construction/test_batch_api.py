"""POST /api/v1/scans/batch: an offline phone re-syncing."""

import uuid

from sqlalchemy import func, select

from construction.extensions import db
from construction.models import Event


def item(code, action, client_event_id=None, **extra):
    return {"code": code, "action": action,
            "client_event_id": client_event_id or str(uuid.uuid4()), **extra}


def post_batch(world, items, role="admin"):
    return world.client(role).post("/api/v1/scans/batch", json={"items": items})


def test_results_come_back_in_order_and_bad_items_spoil_nothing(world, app):
    first = world.component("planned")["code"]
    second = world.component("planned")["code"]
    items = [
        item(first, "cast"),                       # accepted
        item(first, "demould"),                    # accepted: sees the cast above
        item(first, "load"),                       # rejected: 409 from demoulded
        {"code": second, "action": "cast"},        # rejected: no client_event_id
        "not an object",                           # rejected: not an object
        item("999999", "cast"),                    # rejected: unknown
        item(second, "cast"),                      # accepted
        item(second, "qc_pass", data={"x": 1}),    # rejected: from cast
    ]
    response = post_batch(world, items)
    assert response.status_code == 200
    body = response.get_json()
    outcomes = [r["outcome"] for r in body["results"]]
    assert outcomes == ["accepted", "accepted", "rejected", "rejected", "rejected",
                        "rejected", "accepted", "rejected"]
    assert [r["index"] for r in body["results"]] == list(range(len(items)))
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (3, 0, 5)
    problems = [r.get("problem", {}).get("type", "").rsplit("/", 1)[-1] for r in body["results"]]
    assert problems == ["", "", "invalid-transition", "validation-error", "validation-error",
                        "unknown-code", "", "invalid-transition"]
    assert body["results"][2]["problem"]["current_state"] == "demoulded"
    assert "client_event_id" in body["results"][3]["problem"]["errors"]
    assert body["results"][1]["component"]["state"] == "demoulded"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 3


def test_a_replayed_batch_is_all_duplicates_and_records_nothing_new(world, app):
    codes = [world.component("planned")["code"] for _ in range(5)]
    items = [item(code, "cast") for code in codes]
    first = post_batch(world, items).get_json()
    assert first["accepted"] == 5
    again = post_batch(world, items).get_json()
    assert (again["accepted"], again["duplicate"], again["rejected"]) == (0, 5, 0)
    assert [r["event"]["id"] for r in again["results"]] == \
        [r["event"]["id"] for r in first["results"]]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 5


def test_a_repeat_inside_one_batch_is_a_duplicate(world):
    code = world.component("planned")["code"]
    body = post_batch(world, [item(code, "cast", "dup-000001"),
                              item(code, "cast", "dup-000001"),
                              item(code, "demould", "dup-000001")]).get_json()
    assert [r["outcome"] for r in body["results"]] == ["accepted", "duplicate", "rejected"]
    assert body["results"][1]["event"]["id"] == body["results"][0]["event"]["id"]
    assert body["results"][2]["problem"]["type"].endswith("/client-event-id-reused")


def test_roles_are_checked_per_item(world):
    code = world.component("planned")["code"]
    body = post_batch(world, [item(code, "cast"), item(code, "qc_pass")],
                      role="factory_worker").get_json()
    assert [r["outcome"] for r in body["results"]] == ["accepted", "rejected"]
    assert body["results"][1]["problem"]["status"] == 403


def test_a_regulator_may_not_post_batches(world):
    code = world.component("planned")["code"]
    response = post_batch(world, [item(code, "cast")], role="regulator")
    assert response.status_code == 403


def test_batch_limits(world):
    assert post_batch(world, []).status_code == 422
    code = world.component("planned")["code"]
    response = post_batch(world, [item(code, "hold") for _ in range(501)])
    assert response.status_code == 422
    assert "items" in response.get_json()["errors"]


def test_a_full_batch_of_500_is_accepted(world, app):
    codes = [world.component("planned")["code"] for _ in range(100)]
    items = []
    for action in ("cast", "demould", "qc_pass", "store", "load"):
        items += [item(code, action) for code in codes]
    body = post_batch(world, items).get_json()
    assert body["accepted"] == 500, [r for r in body["results"] if r["outcome"] != "accepted"][:2]
    states = world.client("admin").get("/api/v1/components?state=loaded&per_page=500")
    assert states.get_json()["total"] == 100


def test_null_items_are_rejected_one_by_one(world):
    code = world.component("planned")["code"]
    body = post_batch(world, [None, item(code, "cast"), 1]).get_json()
    assert [r["outcome"] for r in body["results"]] == ["rejected", "accepted", "rejected"]


def test_an_overlong_device_header_is_refused(world):
    code = world.component("planned")["code"]
    response = world.client("admin").post(
        "/api/v1/scans", json=item(code, "cast"), headers={"X-Device-Id": "d" * 101})
    assert response.status_code == 422
    assert "X-Device-Id" in response.get_json()["errors"]


def test_one_component_named_by_code_and_by_id_in_one_batch(world, runner):
    component = world.component("planned")
    body = post_batch(world, [item(component["code"], "cast"),
                              item(str(component["id"]), "demould"),
                              item(str(component["id"]), "cast")]).get_json()
    assert [r["outcome"] for r in body["results"]] == ["accepted", "accepted", "rejected"]
    assert body["results"][1]["component"]["state"] == "demoulded"
    assert runner.invoke(args=["ledger", "check"]).exit_code == 0


def test_a_repeat_by_another_key_of_the_same_component_is_a_duplicate(world):
    component = world.component("planned")
    body = post_batch(world, [item(component["code"], "cast", "same-00000001"),
                              item(str(component["id"]), "cast", "same-00000001")]).get_json()
    assert [r["outcome"] for r in body["results"]] == ["accepted", "duplicate"]
