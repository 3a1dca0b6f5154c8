"""Loads: building them, guards, load scans (all or nothing), labels, delivery notes."""

from __future__ import annotations

import io
import uuid

import numpy as np
import pypdfium2
import pytest
from PIL import Image
from sqlalchemy import func, select

from construction.extensions import db
from construction.models import Component, Event, Load, LoadItem, LoadScan
from labels.decode import decode_image
from labels.gs1 import has_valid_check_digit

PROBLEM = "application/problem+json"


def _count(world, model, *where) -> int:
    with world.app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _new_load(world, component_ids, role="factory_worker", expect=201, **fields):
    response = world.client(role).post("/api/v1/loads", json={
        "project_id": world.ids["project_main"], "component_ids": component_ids, **fields})
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def _scan(world, load, action, role, expect=None, **body):
    body.setdefault("client_event_id", str(uuid.uuid4()))
    response = world.client(role).post(f"/api/v1/loads/{load['id']}/scans",
                                       json={"action": action, **body})
    if expect is not None:
        assert response.status_code == expect, response.get_json()
    return response


def _states(world, ids) -> list[str]:
    with world.app.app_context():
        found = dict(db.session.execute(select(Component.id, Component.state)
                                        .where(Component.id.in_(ids))).all())
    return [found[i] for i in ids]


def test_a_load_keeps_its_components_in_loading_order_with_a_code_and_label(world):
    pieces = [world.component("qc_passed"), world.component("stored")]
    ids = [pieces[1]["id"], pieces[0]["id"]]
    load = _new_load(world, ids, vehicle="浙A·12345", driver="Wang", trailer_type="low-bed",
                     planned_departure_at="2026-12-06T07:00:00+08:00",
                     planned_arrival_at="2026-12-06T09:30:00+08:00")
    assert load["state"] == "open" and load["sscc"] is None and len(load["code"]) == 9
    assert [item["component_id"] for item in load["items"]] == ids
    assert load["weight_kg"] == 9700.0 and load["piece_count"] == 2
    assert load["label_url"].startswith(f"http://127.0.0.1:8000/l/{load['code']}?v=1&k=")
    assert load["next_actions"] == ["load"]
    read = world.client("regulator").get(f"/api/v1/loads/{load['id']}").get_json()
    assert read["items"] == load["items"] and read["vehicle"] == "浙A·12345"


def test_with_a_gs1_prefix_a_load_gets_an_sscc_that_its_label_links(world):
    world.app.config["GS1_COMPANY_PREFIX"] = "6901234"
    first = _new_load(world, [world.component("qc_passed")["id"]])
    second = _new_load(world, [])
    for load in (first, second):
        assert len(load["sscc"]) == 18 and has_valid_check_digit(load["sscc"])
        assert load["sscc"].startswith("06901234")
        assert f"/00/{load['sscc']}?v=1&k=" in load["label_url"]
    assert first["sscc"] != second["sscc"]
    assert first["sscc_text"].startswith("(00) 0 6901234 ")


@pytest.mark.parametrize("state,flag,reason", [
    ("demoulded", None, "not allowed from state 'demoulded'"),
    ("qc_passed", "hold", "on hold"),
    ("qc_passed", "report_damage", "damaged"),
    ("stored", "qc_fail", "non-conformance is open"),
])
def test_a_component_that_may_not_be_loaded_is_refused_with_its_reason(world, state, flag,
                                                                        reason):
    good = world.component("qc_passed")
    bad = world.component(state)
    if flag:
        world.scan(bad["code"], flag, expect=201)
    response = world.client("factory_worker").post("/api/v1/loads", json={
        "project_id": world.ids["project_main"], "component_ids": [good["id"], bad["id"]]})
    assert response.status_code == 409 and response.mimetype == PROBLEM
    body = response.get_json()
    assert body["type"].endswith("/component-not-loadable")
    assert [r["component_id"] for r in body["refusals"]] == [bad["id"]]
    assert reason in body["refusals"][0]["reason"]
    assert _count(world, Load) == 0 and _count(world, LoadItem) == 0


def test_bad_loads_are_refused_and_nothing_is_half_written(world):
    mine = world.component("qc_passed")
    far = world.component("qc_passed", project="far")
    # A component of another project (an admin sees both).
    response = world.client("admin").post("/api/v1/loads", json={
        "project_id": world.ids["project_main"], "component_ids": [mine["id"], far["id"]]})
    assert response.status_code == 422 and response.get_json()["type"].endswith("/wrong-project")
    # Out of scope, it does not exist.
    response = world.client("factory_worker").post("/api/v1/loads", json={
        "project_id": world.ids["project_main"], "component_ids": [far["id"]]})
    assert response.status_code == 404
    assert world.client("factory_worker").post("/api/v1/loads", json={
        "project_id": world.ids["project_far"]}).status_code == 404
    # Over the truck's payload (each wall weighs 4,850 kg).
    response = world.client("factory_worker").post("/api/v1/loads", json={
        "project_id": world.ids["project_main"], "component_ids": [mine["id"]],
        "max_weight_kg": 4000})
    assert response.status_code == 422
    assert response.get_json()["type"].endswith("/over-weight-limit")
    # Arriving before leaving.
    response = world.client("factory_worker").post("/api/v1/loads", json={
        "project_id": world.ids["project_main"], "planned_departure_at": "2026-12-06T09:00:00Z",
        "planned_arrival_at": "2026-12-06T08:00:00Z"})
    assert response.status_code == 422
    assert _count(world, Load) == 0
    # Unknown loads.
    assert world.client("admin").get("/api/v1/loads/999").status_code == 404
    assert world.client("admin").post("/api/v1/loads/999/items",
                                      json={"component_ids": [mine["id"]]}).status_code == 404


def test_a_component_rides_on_one_open_load_at_a_time(world):
    piece = world.component("qc_passed")
    first = _new_load(world, [piece["id"]])
    response = world.client("factory_worker").post("/api/v1/loads", json={
        "project_id": world.ids["project_main"], "component_ids": [piece["id"]]})
    assert response.status_code == 409
    assert response.get_json()["type"].endswith("/component-in-another-load")
    second = _new_load(world, [])
    assert world.client("factory_worker").post(
        f"/api/v1/loads/{second['id']}/items",
        json={"component_ids": [piece["id"]]}).status_code == 409
    # Taken off the first, it may go on the second.
    client = world.client("factory_worker")
    assert client.delete(f"/api/v1/loads/{first['id']}/items/{piece['id']}").status_code == 200
    assert client.delete(f"/api/v1/loads/{first['id']}/items/{piece['id']}").status_code == 200
    added = client.post(f"/api/v1/loads/{second['id']}/items",
                        json={"component_ids": [piece["id"]]})
    assert added.status_code == 200 and added.get_json()["piece_count"] == 1


def test_items_and_order_change_only_while_the_load_is_open(world):
    pieces = [world.component("qc_passed") for _ in range(3)]
    ids = [p["id"] for p in pieces]
    load = _new_load(world, ids[:2])
    client = world.client("factory_worker")
    added = client.post(f"/api/v1/loads/{load['id']}/items", json={"component_ids": [ids[2],
                                                                                      ids[0]]})
    assert [i["component_id"] for i in added.get_json()["items"]] == ids
    changed = client.patch(f"/api/v1/loads/{load['id']}",
                           json={"component_ids": list(reversed(ids)), "vehicle": "沪B-1"})
    assert changed.status_code == 200
    assert [i["component_id"] for i in changed.get_json()["items"]] == list(reversed(ids))
    _scan(world, load, "load", "factory_worker", expect=201)
    for response in (
            client.post(f"/api/v1/loads/{load['id']}/items", json={"component_ids": [ids[0]]}),
            client.delete(f"/api/v1/loads/{load['id']}/items/{ids[0]}"),
            client.patch(f"/api/v1/loads/{load['id']}", json={"component_ids": ids})):
        assert response.status_code == 409
        assert response.get_json()["type"].endswith("/load-closed")
    # The trip's details still change.
    assert client.patch(f"/api/v1/loads/{load['id']}",
                        json={"driver": "Li"}).get_json()["driver"] == "Li"


def test_one_load_scan_moves_every_component_once_and_a_replay_records_nothing(world):
    pieces = [world.component("stored") for _ in range(4)]
    ids = [p["id"] for p in pieces]
    load = _new_load(world, ids)
    first = _scan(world, load, "load", "factory_worker", expect=201,
                  client_event_id="truck-1-load-0001")
    body = first.get_json()
    assert body["load"]["state"] == "loaded" and body["load"]["loaded_at"]
    assert [e["component_id"] for e in body["events"]] == ids
    assert {e["client_event_id"] for e in body["events"]} == {
        f"truck-1-load-0001#{i}" for i in ids}
    assert all(e["data"]["load_id"] == load["id"] for e in body["events"])
    assert _states(world, ids) == ["loaded"] * 4
    events = _count(world, Event)
    again = _scan(world, load, "load", "factory_worker", expect=200,
                  client_event_id="truck-1-load-0001")
    assert [e["id"] for e in again.get_json()["events"]] == [e["id"] for e in body["events"]]
    assert _count(world, Event) == events and _count(world, LoadScan) == 1
    # The id used for another action is refused.
    reused = _scan(world, load, "depart", "factory_worker", client_event_id="truck-1-load-0001")
    assert reused.status_code == 409
    # The load's next step only.
    wrong = _scan(world, load, "arrive", "site_supervisor")
    assert wrong.status_code == 409 and wrong.get_json()["allowed_actions"] == ["depart"]
    # The id used again on another load, ready for that very action: refused, not recorded.
    other = _new_load(world, [world.component("stored")["id"]])
    for reused in (_scan(world, other, "load", "factory_worker",
                         client_event_id="truck-1-load-0001"),
                   world.client("factory_worker").post("/api/v1/scans", json={
                       "code": other["display_code"], "action": "load",
                       "client_event_id": "truck-1-load-0001"})):
        assert reused.status_code == 409, reused.get_json()
        assert reused.get_json()["type"].endswith("/client-event-id-reused")
    assert world.client("admin").get(f"/api/v1/loads/{other['id']}").get_json()["state"] \
        == "open"


def test_one_refusing_component_refuses_the_whole_load_scan(world):
    pieces = [world.component("stored") for _ in range(3)]
    ids = [p["id"] for p in pieces]
    load = _new_load(world, ids)
    world.scan(pieces[1]["code"], "hold", role="qc_inspector", expect=201)
    events = _count(world, Event)
    response = _scan(world, load, "load", "factory_worker")
    assert response.status_code == 409 and response.mimetype == PROBLEM
    body = response.get_json()
    assert body["type"].endswith("/load-refused")
    assert [r["component_id"] for r in body["refusals"]] == [ids[1]]
    assert body["refusals"][0]["problem"]["type"].endswith("/action-blocked")
    assert _count(world, Event) == events and _count(world, LoadScan) == 0
    assert _states(world, ids) == ["stored"] * 3
    with world.app.app_context():
        assert db.session.get(Load, load["id"]).state == "open"


def test_a_whole_trip_by_load_scans_with_exceptions_on_acceptance(world):
    pieces = [world.component("stored") for _ in range(4)]
    ids = [p["id"] for p in pieces]
    load = _new_load(world, ids)
    _scan(world, load, "load", "factory_worker", expect=201)
    assert _scan(world, load, "depart", "site_supervisor").status_code == 403
    _scan(world, load, "depart", "factory_worker", expect=201)
    assert _scan(world, load, "arrive", "factory_worker").status_code == 403
    _scan(world, load, "arrive", "site_supervisor", expect=201)
    assert _states(world, ids) == ["delivered"] * 4
    bad = _scan(world, load, "accept_delivery", "site_supervisor",
                exceptions=[{"component_id": 999999, "action": "reject_delivery"}])
    assert bad.status_code == 422
    accepted = _scan(world, load, "accept_delivery", "site_supervisor", expect=201, exceptions=[
        {"component_id": ids[1], "action": "reject_delivery", "note": "wrong piece"},
        {"component_id": ids[2], "action": "report_damage", "note": "corner broken"}])
    body = accepted.get_json()
    assert body["load"]["state"] == "received" and body["load"]["received_at"]
    assert [e["action"] for e in body["events"]] == ["accept_delivery", "reject_delivery",
                                                     "report_damage", "accept_delivery"]
    assert body["events"][1]["data"]["note"] == "wrong piece"
    assert _states(world, ids) == ["accepted_on_site", "rejected", "delivered",
                                   "accepted_on_site"]
    with world.app.app_context():
        assert db.session.get(Component, ids[2]).damaged
        # Off the truck, the components may ride again (the rejected one goes back).
        assert db.session.scalar(select(func.count()).select_from(LoadItem).where(
            LoadItem.active_component_id.isnot(None))) == 0


def test_exceptions_are_for_accepting_a_delivery_only(world):
    piece = world.component("stored")
    load = _new_load(world, [piece["id"]])
    response = _scan(world, load, "load", "factory_worker",
                     exceptions=[{"component_id": piece["id"], "action": "report_damage"}])
    assert response.status_code == 422
    response = world.client("factory_worker").post("/api/v1/scans", json={
        "code": piece["code"], "action": "load", "client_event_id": "plain-scan-01",
        "exceptions": [{"component_id": piece["id"], "action": "report_damage"}]})
    assert response.status_code == 422


def test_scanning_the_load_label_sscc_or_code_on_the_scan_endpoint_acts_on_the_load(world):
    world.app.config["GS1_COMPANY_PREFIX"] = "6901234"
    pieces = [world.component("stored") for _ in range(2)]
    ids = [p["id"] for p in pieces]
    load = _new_load(world, ids)
    worker = world.client("factory_worker")
    by_label = worker.post("/api/v1/scans", json={
        "code": load["label_url"], "action": "load", "client_event_id": "label-scan-01"})
    assert by_label.status_code == 201, by_label.get_json()
    assert by_label.get_json()["load"]["state"] == "loaded"
    by_sscc = worker.post("/api/v1/scans", json={
        "code": load["sscc_text"], "action": "depart", "client_event_id": "sscc-scan-01"})
    assert by_sscc.status_code == 201 and _states(world, ids) == ["in_transit"] * 2
    supervisor = world.client("site_supervisor")
    by_code = supervisor.post("/api/v1/scans", json={
        "code": load["display_code"], "action": "arrive", "client_event_id": "code-scan-01"})
    assert by_code.status_code == 201 and _states(world, ids) == ["delivered"] * 2
    # A mistyped SSCC, a forged label.
    wrong = load["sscc"][:-1] + str((int(load["sscc"][-1]) + 1) % 10)
    response = supervisor.post("/api/v1/scans", json={
        "code": f"(00){wrong}", "action": "accept_delivery", "client_event_id": "sscc-scan-02"})
    assert response.status_code == 422 and response.get_json()["type"].endswith("/invalid-sscc")
    forged = load["label_url"][:-3] + ("AAA" if not load["label_url"].endswith("AAA") else "BBB")
    response = supervisor.post("/api/v1/scans", json={
        "code": forged, "action": "accept_delivery", "client_event_id": "forged-scan-1"})
    assert response.status_code == 422 and response.get_json()["type"].endswith("/label-invalid")
    # In a batch a load is refused: it is scanned alone.
    batch = supervisor.post("/api/v1/scans/batch", json={"items": [{
        "code": load["label_url"], "action": "accept_delivery",
        "client_event_id": "batch-scan-01"}]}).get_json()
    assert batch["rejected"] == 1 and _states(world, ids) == ["delivered"] * 2


def test_a_load_label_must_be_the_issued_url_byte_for_byte(world, runner, tmp_path):
    from construction.services.keys import signing_key
    from construction.services.loads import load_identity
    from labels.payload import sign

    world.app.config["LABEL_SIGNING_KEY_FILE"] = str(tmp_path / "keys" / "key.pem")
    ids = [world.component("stored")["id"] for _ in range(2)]
    load = _new_load(world, ids)
    with world.app.app_context():
        stored = db.session.get(Load, load["id"])
        assert stored.label_url == load["label_url"]
        # Re-signed with the real key but for another host: genuine, yet not as issued.
        resigned = sign("https://elsewhere.example", load_identity(stored), 1, signing_key())
    assert resigned != load["label_url"]
    worker = world.client("factory_worker")
    response = worker.post("/api/v1/scans", json={
        "code": resigned, "action": "load", "client_event_id": "resigned-load-1"})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["reason"] == "not-as-issued"
    assert _states(world, ids) == ["stored"] * 2
    # After a rotation the new key signs the same label genuinely, but not as issued: the
    # scan and the label's page both refuse it.
    assert runner.invoke(args=["labels", "rotate-key"]).exit_code == 0
    with world.app.app_context():
        other_key = sign(world.app.config["PUBLIC_BASE_URL"],
                         load_identity(db.session.get(Load, load["id"])), 1, signing_key())
    assert other_key != load["label_url"]
    response = worker.post("/api/v1/scans", json={
        "code": other_key, "action": "load", "client_event_id": "other-key-load-1"})
    assert response.status_code == 422 and response.get_json()["reason"] == "not-as-issued"
    path = other_key.removeprefix(world.app.config["PUBLIC_BASE_URL"])
    page = world.client().get(path, headers={"Accept": "application/json"}).get_json()
    assert (page["label"]["status"], page["label"]["reason"]) == ("invalid", "not-as-issued")
    issued = load["label_url"].removeprefix(world.app.config["PUBLIC_BASE_URL"])
    assert world.client().get(issued, headers={"Accept": "application/json"}).get_json()[
        "label"]["status"] == "genuine"
    # A revoked key: the next print issues a new version; the old label no longer scans.
    kid = load["label_url"].split("k=")[1].split("&")[0]
    assert runner.invoke(args=["labels", "revoke-key", kid, "--reason", "lost"]).exit_code == 0
    # Only those who build loads may sign its new version; a regulator's read changes nothing.
    refused = world.client("regulator").get(f"/api/v1/loads/{load['id']}/label.png")
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert "revoked" in refused.get_json()["detail"]
    assert worker.get(f"/api/v1/loads/{load['id']}").get_json()["label_url"] == load["label_url"]
    printed = worker.get(f"/api/v1/loads/{load['id']}/label.png")
    assert printed.status_code == 200
    renewed = worker.get(f"/api/v1/loads/{load['id']}").get_json()["label_url"]
    assert renewed != load["label_url"] and "v=2" in renewed
    old = worker.post("/api/v1/scans", json={
        "code": load["label_url"], "action": "load", "client_event_id": "old-load-label"})
    assert old.status_code == 422 and _states(world, ids) == ["stored"] * 2
    new = worker.post("/api/v1/scans", json={
        "code": renewed, "action": "load", "client_event_id": "new-load-label"})
    assert new.status_code == 201 and _states(world, ids) == ["loaded"] * 2


def test_another_tenants_load_does_not_exist(world):
    far_piece = world.component("stored", project="far")
    response = world.client("admin").post("/api/v1/loads", json={
        "project_id": world.ids["project_far"], "component_ids": [far_piece["id"]]})
    far_load = response.get_json()
    worker = world.client("factory_worker")
    assert worker.get(f"/api/v1/loads/{far_load['id']}").status_code == 404
    assert _scan(world, far_load, "load", "factory_worker").status_code == 404
    response = worker.post("/api/v1/scans", json={
        "code": far_load["label_url"], "action": "load", "client_event_id": "far-scan-0001"})
    assert response.status_code == 404
    assert worker.get("/api/v1/loads").get_json()["total"] == 0
    assert _states(world, [far_piece["id"]]) == ["stored"]


@pytest.mark.parametrize("role,status", [("factory_worker", 201), ("project_manager", 201),
                                         ("site_supervisor", 403), ("qc_inspector", 403),
                                         ("regulator", 403)])
def test_who_may_build_a_load(world, role, status):
    response = world.client(role).post("/api/v1/loads",
                                       json={"project_id": world.ids["project_main"]})
    assert response.status_code == status


def test_loads_are_listed_by_project_state_and_day(world):
    piece = world.component("stored")
    leaving = _new_load(world, [piece["id"]], planned_departure_at="2026-12-06T07:00:00+08:00")
    _new_load(world, [], planned_departure_at="2026-12-07T07:00:00+08:00")
    _scan(world, leaving, "load", "factory_worker", expect=201)
    client = world.client("project_manager")
    everything = client.get(f"/api/v1/loads?project_id={world.ids['project_main']}").get_json()
    assert everything["total"] == 2
    assert [x["id"] for x in client.get("/api/v1/loads?state=loaded").get_json()["items"]] == \
        [leaving["id"]]
    assert [x["id"] for x in client.get("/api/v1/loads?date=2026-12-06").get_json()["items"]] \
        == [leaving["id"]]
    assert client.get("/api/v1/loads?state=lost").status_code == 422
    # What a scanner read: the load's code or label; a component's label names no load.
    assert [x["id"] for x in client.get(
        f"/api/v1/loads?code={leaving['display_code']}").get_json()["items"]] == [leaving["id"]]
    assert [x["id"] for x in client.get("/api/v1/loads", query_string={
        "code": leaving["label_url"]}).get_json()["items"]] == [leaving["id"]]
    component_label = world.label(piece["id"])["url"]
    assert client.get("/api/v1/loads", query_string={
        "code": component_label}).get_json()["items"] == []


def test_the_load_label_carries_the_signed_link_in_both_sizes(world):
    world.app.config["GS1_COMPANY_PREFIX"] = "6901234"
    load = _new_load(world, [world.component("stored")["id"]], vehicle="浙A12345")
    client = world.client("factory_worker")
    png = client.get(f"/api/v1/loads/{load['id']}/label.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    image = np.asarray(Image.open(io.BytesIO(png.data)).convert("L"))
    assert [c.text for c in decode_image(image)] == [load["label_url"]]
    for layout in ("a4", "thermal-100x70"):
        pdf = client.get(f"/api/v1/loads/{load['id']}/label.pdf?layout={layout}")
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
        page = pypdfium2.PdfDocument(pdf.data)[0]
        text = page.get_textpage().get_text_range()
        assert load["sscc_text"] in text and "浙A12345" in text and "1" in text
        bitmap = page.render(scale=200 / 72, grayscale=True).to_pil().convert("L")
        assert [c.text for c in decode_image(np.asarray(bitmap))] == [load["label_url"]]
    assert client.get(f"/api/v1/loads/{load['id']}/label.png?layout=a5").status_code == 422


def test_the_delivery_note_lists_every_piece_in_unloading_order(world):
    pieces = [world.component("stored", mark=f"YWQ-{n}") for n in range(1, 4)]
    load = _new_load(world, [p["id"] for p in pieces], vehicle="浙A12345", driver="王师傅")
    response = world.client("site_supervisor").get(f"/api/v1/loads/{load['id']}/delivery-note.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    document = pypdfium2.PdfDocument(response.data)
    text = "".join(page.get_textpage().get_text_range() for page in document)
    assert "送货单" in text and "Delivery note" in text and "王师傅" in text
    assert text.index("YWQ-3") < text.index("YWQ-2") < text.index("YWQ-1")
    assert "14,550.0" in text and "Receiver" in text and "收货人" in text
    bitmap = document[0].render(scale=200 / 72, grayscale=True).to_pil().convert("L")
    assert [c.text for c in decode_image(np.asarray(bitmap))] == [load["label_url"]]


def test_the_resolver_answers_a_load_label_and_details_it_to_readers(world):
    world.app.config["GS1_COMPANY_PREFIX"] = "6901234"
    load = _new_load(world, [world.component("stored")["id"]], vehicle="浙A12345")
    path = load["label_url"].removeprefix("http://127.0.0.1:8000")
    assert path.startswith(f"/00/{load['sscc']}?")
    anonymous = world.client().get(path, headers={"Accept": "application/json"}).get_json()
    assert anonymous["label"]["status"] == "genuine" and anonymous["detail"] is None
    assert anonymous["load"]["piece_count"] == 1 and anonymous["load"]["vehicle"] == "浙A12345"
    page = world.client().get(path)
    assert page.status_code == 200 and "正品标签" in page.get_data(as_text=True)
    reader = world.client("site_supervisor").get(path, headers={"Accept": "application/json"})
    assert [i["component_id"] for i in reader.get_json()["detail"]["items"]] == \
        [i["component_id"] for i in load["items"]]
    forged = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    assert world.client().get(forged, headers={"Accept": "application/json"}).get_json()[
        "label"]["status"] == "invalid"
    unsigned = world.client().get(f"/l/{load['code']}", headers={"Accept": "application/json"})
    assert unsigned.get_json()["label"]["status"] == "unverified"
    assert world.client().get("/00/106141412345678908").status_code == 404
    assert world.client().get("/00/12").status_code == 404
