"""Components: listing, scope, history, create/update and CSV import."""

import pytest

from tests.conftest import ROLES

PROBLEM = "application/problem+json"


def test_list_with_filters_and_totals(world):
    for state in ("planned", "planned", "cast", "stored"):
        world.component(state)
    world.component("planned", mark="DBS-2")
    client = world.client("project_manager")
    everything = client.get("/api/v1/components?per_page=2").get_json()
    assert (everything["total"], everything["pages"], len(everything["items"])) == (5, 3, 2)
    page3 = client.get("/api/v1/components?per_page=2&page=3").get_json()
    assert len(page3["items"]) == 1
    assert client.get("/api/v1/components?state=planned").get_json()["total"] == 3
    assert client.get("/api/v1/components?mark=DBS-2").get_json()["total"] == 1
    assert client.get("/api/v1/components?q=DBS").get_json()["total"] == 1
    storey = world.ids["storey_main"]
    assert client.get(f"/api/v1/components?storey_id={storey}").get_json()["total"] == 5
    building = world.ids["building_main"]
    assert client.get(f"/api/v1/components?building_id={building}").get_json()["total"] == 5
    bad = client.get("/api/v1/components?state=flying&per_page=0")
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]["query"]) == {"state", "per_page"}


def test_updated_since_sees_scans_and_edits(world):
    import time
    from datetime import UTC, datetime

    scanned = world.component("planned")
    edited = world.component("planned")
    world.component("planned")  # untouched after `since`
    client = world.client("admin")
    time.sleep(0.01)
    since = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    world.scan(scanned["code"], "cast")
    assert client.patch(f"/api/v1/components/{edited['id']}",
                        json={"mark": "YWQ-7"}).status_code == 200
    changed = client.get("/api/v1/components", query_string={"updated_since": since})
    ids = {c["id"] for c in changed.get_json()["items"]}
    assert ids == {scanned["id"], edited["id"]}


def test_code_search(world):
    first = world.component("planned")
    by_code = world.client("admin").get("/api/v1/components",
                                        query_string={"q": first["code"][:5].lower()})
    assert first["id"] in [c["id"] for c in by_code.get_json()["items"]]


def test_one_component_with_its_history(world):
    component = world.component("qc_passed")
    body = world.client("regulator").get(f"/api/v1/components/{component['id']}").get_json()
    assert body["state"] == "qc_passed"
    assert [e["action"] for e in body["events"]] == ["cast", "demould", "qc_pass"]
    assert body["allowed_actions"] == ["qc_fail", "store", "load", "hold", "report_damage",
                                       "scrap"]
    events = world.client("admin").get(f"/api/v1/components/{component['id']}/events")
    assert len(events.get_json()["events"]) == 3


@pytest.mark.parametrize("role,sees_main,sees_far", [
    ("admin", True, True), ("project_manager", True, False), ("factory_worker", True, False),
    ("site_supervisor", True, False), ("regulator", True, False),
    ("far_regulator", False, True), ("other_worker", False, True),
])
def test_scope_by_organization_and_region(world, role, sees_main, sees_far):
    main = world.component("planned")
    far = world.component("planned", project="far")
    client = world.client(role)
    listed = {c["id"] for c in client.get("/api/v1/components").get_json()["items"]}
    assert (main["id"] in listed, far["id"] in listed) == (sees_main, sees_far)
    for component, visible in ((main, sees_main), (far, sees_far)):
        status = client.get(f"/api/v1/components/{component['id']}").status_code
        assert status == (200 if visible else 404)


def component_body(world, **extra):
    return {"project_id": world.ids["project_main"],
            "component_type_id": world.ids["type_main"],
            "storey_id": world.ids["storey_main"], "mark": "YWQ-9", **extra}


@pytest.mark.parametrize("role", ROLES)
def test_who_may_create_components(world, role):
    response = world.client(role).post("/api/v1/components", json=component_body(world))
    expected = 201 if role in ("admin", "project_manager") else 403
    assert response.status_code == expected
    if expected == 201:
        body = response.get_json()
        assert body["state"] == "planned" and len(body["code"]) == 9


def test_create_validates_identity_and_placement(world):
    client = world.client("admin")
    bad = client.post("/api/v1/components", json=component_body(
        world, gtin="06901234567891", serial="1", component_type_id=world.ids["type_far"]))
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"gtin", "component_type_id"}
    shapes = client.post("/api/v1/components", json=component_body(
        world, gtin="0690123456789\n", serial="1" * 20 + "\n", ifc_global_id="x" * 22,
        project_id=2**40))
    assert shapes.status_code == 422
    assert set(shapes.get_json()["errors"]) == {"gtin", "serial", "ifc_global_id", "project_id"}
    lonely = client.post("/api/v1/components", json=component_body(world, gtin="06901234567892"))
    assert lonely.status_code == 422
    good = client.post("/api/v1/components", json=component_body(
        world, gtin="06901234567892", serial="7", ifc_global_id="2O2Fr$t4X7Zf8NOew3FLOH"))
    assert good.status_code == 201
    twice = client.post("/api/v1/components", json=component_body(
        world, gtin="06901234567892", serial="7"))
    assert twice.status_code == 409


def test_piece_marks_are_not_unique(world):
    client = world.client("admin")
    for _ in range(3):
        assert client.post("/api/v1/components", json=component_body(world)).status_code == 201


def test_create_with_an_idempotency_key_happens_once(world):
    client = world.client("admin")
    headers = {"Idempotency-Key": "create-ywq-9"}
    first = client.post("/api/v1/components", json=component_body(world), headers=headers)
    again = client.post("/api/v1/components", json=component_body(world), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/api/v1/components", json=component_body(world, mark="X"),
                        headers=headers)
    assert other.status_code == 422
    assert client.get("/api/v1/components").get_json()["total"] == 1


def test_update_never_touches_the_state(world):
    component = world.component("cast")
    client = world.client("project_manager")
    changed = client.patch(f"/api/v1/components/{component['id']}",
                           json={"mark": "YWQ-2", "install_sequence": 4})
    assert changed.status_code == 200
    assert changed.get_json()["mark"] == "YWQ-2"
    assert client.patch(f"/api/v1/components/{component['id']}",
                        json={"state": "accepted"}).status_code == 422
    assert world.client("factory_worker").patch(
        f"/api/v1/components/{component['id']}", json={"mark": "Z"}).status_code == 403


def import_csv(world, text, role="admin", project="main"):
    return world.client(role).post(
        f"/api/v1/projects/{world.ids['project_' + project]}/components/import",
        data=text.encode(), content_type="text/csv")


def test_csv_import_creates_every_row(world):
    text = ("\ufeffmark,type,building,storey,install_sequence,gtin,serial,ifc_global_id\n"
            "YWQ-1,Wall,B1,1F,1,06901234567892,001,2O2Fr$t4X7Zf8NOew3FLOH\n"
            "YWQ-1,Wall,B1,1F,2,,,\n"
            "YWQ-2,Wall,,,,,,\n")
    response = import_csv(world, text)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["imported"] == 3 and len(set(body["codes"])) == 3
    assert world.client("admin").get("/api/v1/components?mark=YWQ-1").get_json()["total"] == 2


def test_csv_import_reports_row_errors_and_imports_nothing(world):
    world.component("planned", ifc_global_id="2O2Fr$t4X7Zf8NOew3FLOH")
    text = ("mark,type,building,storey,install_sequence,ifc_global_id\n"
            "YWQ-1,Wall,B1,1F,1,\n"
            ",Wall,B1,1F,1,\n"
            "YWQ-3,Roof,B1,1F,x,\n"
            "YWQ-4,Wall,B9,1F,1,\n"
            "YWQ-5,Wall,B1,1F,1,2O2Fr$t4X7Zf8NOew3FLOH\n")
    response = import_csv(world, text)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    errors = {(e["row"], e["field"]) for e in response.get_json()["errors"]}
    assert errors == {(3, "mark"), (4, "type"), (4, "install_sequence"), (5, "storey"),
                      (6, "ifc_global_id")}
    assert world.client("admin").get("/api/v1/components").get_json()["total"] == 1


@pytest.mark.parametrize("text", [
    "mark,type\nA\x00,Wall\n",
    'mark,type\n"A\nB\n',
    "mark,type\n" + "x" * 200_000 + ",Wall\n",
    "mark,type,install_sequence\nA,Wall,²\n",
    "mark,type,install_sequence\nA,Wall,99999999999\n",
    "mark,type,gtin,serial\nA,Wall,0690123456789\n,1\n",
])
def test_csv_import_refuses_malformed_files_cleanly(world, text):
    response = import_csv(world, text)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["type"].endswith("/import-failed")
    assert not response.get_json()["detail"].startswith("1 errors")
    assert world.client("admin").get("/api/v1/components").get_json()["total"] == 0


def test_the_row_limit_counts_rows_not_errors(world):
    world.app.config["IMPORT_MAX_ROWS"] = 3
    bad_rows = "mark,type,install_sequence\n" + ",Roof,x\n" * 3
    response = import_csv(world, bad_rows)
    assert response.status_code == 422
    assert len(response.get_json()["errors"]) == 9  # every row's errors, no "too many rows"
    too_many = import_csv(world, "mark,type\n" + "A,Wall\n" * 4)
    assert too_many.status_code == 422
    assert too_many.get_json()["errors"][0]["message"] == "too many rows"


def test_concurrent_requests_with_one_idempotency_key_create_once(world, app):
    import threading

    barrier = threading.Barrier(6)
    answers = []

    def post():
        client = world.client("admin")
        barrier.wait()
        response = client.post("/api/v1/components", json=component_body(world),
                               headers={"Idempotency-Key": "k-concurrent"})
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = {body["id"] for status, body in answers if status == 201}
    assert len(created) == 1, answers
    assert all(status in (201, 409) for status, _ in answers), answers
    assert world.client("admin").get("/api/v1/components").get_json()["total"] == 1


def test_csv_import_refuses_bad_headers_and_duplicates_within_the_file(world):
    assert import_csv(world, "mark,kind\nA,Wall\n").status_code == 422
    duplicate = import_csv(world, "mark,type,gtin,serial\nA,Wall,06901234567892,1\n"
                                  "B,Wall,06901234567892,1\n")
    assert duplicate.status_code == 422
    assert duplicate.get_json()["errors"][0]["row"] == 3
    assert import_csv(world, "mark,type\n").status_code == 422
    not_csv = world.client("admin").post(
        f"/api/v1/projects/{world.ids['project_main']}/components/import", json={"a": 1})
    assert not_csv.status_code == 415


@pytest.mark.parametrize("role", ROLES)
def test_who_may_import(world, role):
    expected = 201 if role in ("admin", "project_manager") else 403
    assert import_csv(world, "mark,type\nA,Wall\n", role=role).status_code == expected


def test_import_into_a_project_out_of_scope_is_404(world):
    assert import_csv(world, "mark,type\nA,Wall\n", role="project_manager",
                      project="far").status_code == 404


def test_import_as_multipart_file(world):
    import io

    response = world.client("admin").post(
        f"/api/v1/projects/{world.ids['project_main']}/components/import",
        data={"file": (io.BytesIO(b"mark,type\nA,Wall\nB,Wall\n"), "parts.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 201
    assert response.get_json()["imported"] == 2


def test_a_component_keeps_a_valid_code(world):
    component = world.component("planned")
    client = world.client("admin")
    for code in ("", None, "ABC"):
        response = client.patch(f"/api/v1/components/{component['id']}", json={"code": code})
        assert response.status_code == 422, code
        assert "code" in response.get_json()["errors"]
    fresh = client.post("/api/v1/components", json=component_body(world, code=None))
    assert fresh.status_code == 201 and len(fresh.get_json()["code"]) == 9


@pytest.mark.parametrize("query,status", [
    ("page=2000&per_page=50", 200), ("page=2001&per_page=50", 422),
    ("page=201&per_page=500", 422), ("page=1000000", 422), ("page=200&per_page=500", 200)])
def test_pages_reach_the_first_hundred_thousand_items(world, query, status):
    for path in ("/api/v1/components", "/api/v1/alerts", "/api/v1/photos"):
        response = world.client("admin").get(f"{path}?{query}")
        assert response.status_code == status, (path, response.get_json())
        if status == 422:
            assert "page" in response.get_json()["errors"]["query"]
