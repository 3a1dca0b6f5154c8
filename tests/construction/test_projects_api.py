"""Projects, buildings, storeys and component types."""

import pytest

from tests.conftest import ROLES


@pytest.mark.parametrize("role", ROLES)
def test_who_may_create_projects(world, role):
    response = world.client(role).post("/api/v1/projects", json={
        "code": f"P-{role}", "name": "Tower", "region_code": "330106"})
    assert response.status_code == (201 if role in ("admin", "project_manager") else 403)


def test_a_managers_new_project_is_theirs_and_in_the_regulators_region(world):
    manager = world.client("project_manager")
    created = manager.post("/api/v1/projects", json={
        "code": "P-NEW", "name": "新项目 New", "region_code": "330106",
        "participant_ids": [world.ids["org_maker"]]}).get_json()
    names = {p["name"] for p in created["participants"]}
    assert names == {"Builder", "Maker"}
    visible = {p["code"] for p in world.client("regulator").get("/api/v1/projects").get_json()}
    assert visible == {"P-MAIN", "P-NEW"}
    assert world.client("other_worker").get(f"/api/v1/projects/{created['id']}").status_code \
        == 404


def test_full_tree_crud(world):
    client = world.client("admin")
    project = client.post("/api/v1/projects", json={
        "code": "P-T", "name": "T", "region_code": "330106"}).get_json()
    building = client.post(f"/api/v1/projects/{project['id']}/buildings",
                           json={"name": "3#"}).get_json()
    low = client.post(f"/api/v1/buildings/{building['id']}/storeys",
                      json={"name": "1F", "elevation_m": 0}).get_json()
    high = client.post(f"/api/v1/buildings/{building['id']}/storeys",
                       json={"name": "2F", "elevation_m": 2.9}).get_json()
    storeys = client.get(f"/api/v1/buildings/{building['id']}/storeys").get_json()
    assert [s["name"] for s in storeys] == ["1F", "2F"]
    component_type = client.post(f"/api/v1/projects/{project['id']}/component-types", json={
        "name": "Stair", "category": "stair", "weight_kg": 3150, "concrete_grade": "C30",
        "length_mm": 4200}).get_json()
    assert component_type["weight_kg"] == 3150
    assert client.patch(f"/api/v1/storeys/{high['id']}", json={"name": "2F+"}).status_code == 200
    assert client.post(f"/api/v1/buildings/{building['id']}/storeys",
                       json={"name": "1F"}).status_code == 409
    created = client.post("/api/v1/components", json={
        "project_id": project["id"], "component_type_id": component_type["id"],
        "storey_id": low["id"], "mark": "LT-1"})
    assert created.status_code == 201
    for path in (f"/api/v1/storeys/{low['id']}", f"/api/v1/buildings/{building['id']}",
                 f"/api/v1/component-types/{component_type['id']}",
                 f"/api/v1/projects/{project['id']}"):
        refused = client.delete(path)
        assert refused.status_code == 409, path
        assert refused.get_json()["type"].endswith("/in-use")
    assert client.delete(f"/api/v1/storeys/{high['id']}").status_code == 204
    empty = client.post("/api/v1/projects", json={
        "code": "P-E", "name": "E", "region_code": "330106"}).get_json()
    client.post(f"/api/v1/projects/{empty['id']}/buildings", json={"name": "A"})
    assert client.delete(f"/api/v1/projects/{empty['id']}").status_code == 204
    assert client.get(f"/api/v1/projects/{empty['id']}").status_code == 404


def test_validation_of_project_fields(world):
    response = world.client("admin").post("/api/v1/projects", json={
        "code": "", "name": "x" * 201, "region_code": "Hangzhou", "latitude": 200})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"code", "name", "region_code", "latitude"}
    assert world.client("admin").post("/api/v1/projects", json={
        "code": "P-MAIN", "name": "again", "region_code": "330106"}).status_code == 409


@pytest.mark.parametrize("role", ["factory_worker", "qc_inspector", "site_supervisor",
                                  "regulator"])
def test_only_managers_change_the_tree(world, role):
    client = world.client(role)
    project_id = world.ids["project_main"]
    assert client.get(f"/api/v1/projects/{project_id}/buildings").status_code == 200
    assert client.post(f"/api/v1/projects/{project_id}/buildings",
                       json={"name": "X"}).status_code == 403
    assert client.patch(f"/api/v1/projects/{project_id}", json={"name": "X"}).status_code == 403
    assert client.delete(f"/api/v1/storeys/{world.ids['storey_main']}").status_code == 403


@pytest.mark.parametrize("path", ["/api/v1/projects", "/api/v1/components",
                                  "/api/v1/component-types/1"])
def test_reads_need_a_token(world, path):
    response = world.client().get(path)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_patches_must_change_something_and_keep_codes_unique(world):
    client = world.client("admin")
    project_id = world.ids["project_main"]
    for path in (f"/api/v1/projects/{project_id}", f"/api/v1/storeys/{world.ids['storey_main']}",
                 f"/api/v1/component-types/{world.ids['type_main']}"):
        assert client.patch(path, json={}).status_code == 422, path
        assert client.patch(path).status_code in (415, 422), path
    clash = client.patch(f"/api/v1/projects/{project_id}",
                         json={"code": "P-FAR", "participant_ids": []})
    assert clash.status_code == 409
    unknown = client.patch(f"/api/v1/component-types/{world.ids['type_main']}",
                           json={"manufacturer_id": 99999})
    assert unknown.status_code == 422
    assert "manufacturer_id" in unknown.get_json()["errors"]


def test_decimals_are_kept_the_same_on_every_engine(world):
    client = world.client("admin")
    project = client.patch(f"/api/v1/projects/{world.ids['project_main']}",
                           json={"latitude": 30.1234567891, "longitude": -0.0000004})
    assert (project.get_json()["latitude"], project.get_json()["longitude"]) == (30.123457, 0.0)
    storey = client.patch(f"/api/v1/storeys/{world.ids['storey_main']}",
                          json={"elevation_m": 1.23456})
    assert storey.get_json()["elevation_m"] == 1.235
    kinds = client.patch(f"/api/v1/component-types/{world.ids['type_main']}",
                         json={"weight_kg": 12.34})
    assert kinds.get_json()["weight_kg"] == 12.3
    again = client.get(f"/api/v1/component-types/{world.ids['type_main']}").get_json()
    assert again["weight_kg"] == 12.3


def test_ids_in_paths_are_ascii_digits(world):
    client = world.client("admin")
    assert client.get("/api/v1/projects/%D9%A1").status_code == 404
    assert client.get(f"/api/v1/projects/{world.ids['project_main']}").status_code == 200


def test_a_deleted_storey_id_is_never_given_to_a_new_storey(world):
    client = world.client("admin")
    building = world.ids["building_main"]
    doomed = client.post(f"/api/v1/buildings/{building}/storeys", json={"name": "9F"}).get_json()
    assert client.delete(f"/api/v1/storeys/{doomed['id']}").status_code == 204
    fresh = client.post(f"/api/v1/buildings/{building}/storeys", json={"name": "9F"}).get_json()
    assert fresh["id"] != doomed["id"]
    assert client.get(f"/api/v1/storeys/{doomed['id']}").status_code == 404


def test_only_an_admin_moves_a_project_to_another_region(world):
    path = f"/api/v1/projects/{world.ids['project_main']}"
    manager = world.client("project_manager")
    response = manager.patch(path, json={"region_code": "440106"})
    assert response.status_code == 403, response.get_json()
    assert response.mimetype == "application/problem+json"
    # The regulator of the region still sees it; the same region again is no change.
    assert world.client("regulator").get(path).status_code == 200
    assert manager.patch(path, json={"region_code": "330106", "name": "Renamed"}).status_code \
        == 200
    moved = world.client("admin").patch(path, json={"region_code": "440106"})
    assert moved.status_code == 200 and moved.get_json()["region_code"] == "440106"
