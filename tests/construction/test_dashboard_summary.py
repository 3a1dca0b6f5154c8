"""GET /projects/{id}/summary against a naive count of the components, and the flag filters."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from construction.extensions import db
from construction.models import Building, Component, Storey
from construction.services import summary as summary_service

FLAGS = ("on_hold", "damaged", "ncr_open")


@pytest.fixture
def site(world) -> dict:
    """The main project with two buildings of two storeys and pieces in many states and flags."""
    with world.app.app_context():
        second = Building(project_id=world.ids["project_main"], name="B2")
        upper = Storey(building_id=world.ids["building_main"], name="2F", elevation_m=3.0)
        db.session.add_all([second, upper])
        db.session.flush()
        ground = Storey(building=second, name="1F", elevation_m=0.0)
        db.session.add(ground)
        db.session.commit()
        storeys = {"b1_1f": world.ids["storey_main"], "b1_2f": upper.id, "b2_1f": ground.id}
        building_two = second.id
    plan = [("b1_1f", "installed"), ("b1_1f", "accepted"), ("b1_1f", "delivered"),
            ("b1_2f", "demoulded"), ("b1_2f", "qc_passed"), ("b1_2f", "planned"),
            ("b2_1f", "cast"), ("b2_1f", "stored"), ("b2_1f", "planned"), (None, "planned")]
    pieces = [world.component(state, mark=f"P-{index}") for index, (_, state) in enumerate(plan)]
    with world.app.app_context():
        # Moved through the ORM, as a plan change moves them: the counters follow.
        for piece, (place, _) in zip(pieces, plan, strict=True):
            db.session.get(Component, piece["id"]).storey_id = storeys[place] if place else None
        db.session.commit()
    world.scan(pieces[3]["code"], "qc_fail", expect=201,
               data={"category": "dimension", "ncr": "NCR-7", "reason": "too long"})
    world.scan(pieces[4]["code"], "hold", expect=201)
    world.scan(pieces[6]["code"], "report_damage", expect=201)
    world.scan(pieces[7]["code"], "hold", expect=201)
    return {"storeys": storeys, "building_two": building_two, "pieces": pieces}


def _summary(world, role: str = "project_manager", **args):
    query = "&".join(f"{name}={value}" for name, value in args.items())
    response = world.client(role).get(
        f"/api/v1/projects/{world.ids['project_main']}/summary?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _naive(world) -> dict:
    """Count the project's components per storey, state and flag by reading every row."""
    states: dict[int | None, Counter] = defaultdict(Counter)
    flags: dict[int | None, Counter] = defaultdict(Counter)
    with world.app.app_context():
        for row in db.session.execute(select(Component.storey_id, Component.state,
                                             *(getattr(Component, f) for f in FLAGS))
                                      .where(Component.project_id == world.ids["project_main"])):
            states[row.storey_id][row.state] += 1
            for flag in FLAGS:
                flags[row.storey_id][flag] += bool(getattr(row, flag))
    return {"states": states, "flags": flags}


def _assert_matches_naive(world, summary: dict) -> None:
    naive = _naive(world)
    shown = {storey["id"]: storey for building in summary["buildings"]
             for storey in building["storeys"]}
    expected = {storey_id: counts for storey_id, counts in naive["states"].items()
                if storey_id is not None}
    assert {storey_id: row["by_state"] for storey_id, row in shown.items() if row["total"]} == \
        {storey_id: dict(counts) for storey_id, counts in expected.items()}
    for storey_id, row in shown.items():
        assert row["total"] == sum(naive["states"][storey_id].values())
        for flag in FLAGS:
            assert row[flag] == naive["flags"][storey_id][flag], (storey_id, flag)
    assert summary["unplaced"]["by_state"] == dict(naive["states"][None])
    overall = Counter()
    for counts in naive["states"].values():
        overall.update(counts)
    assert summary["by_state"] == dict(overall)
    assert summary["total"] == sum(overall.values())
    for flag in FLAGS:
        assert summary["flags"][flag] == sum(counts[flag] for counts in naive["flags"].values())


def test_the_summary_counts_what_a_naive_count_of_the_components_says(world, site):
    summary = _summary(world)
    _assert_matches_naive(world, summary)
    assert summary["total"] == 10
    assert summary["flags"] == {"on_hold": 2, "damaged": 1, "ncr_open": 1,
                                "on_hold_or_damaged": 3}
    storey = next(s for b in summary["buildings"] for s in b["storeys"]
                  if s["id"] == site["storeys"]["b1_2f"])
    assert storey["by_state"] == {"demoulded": 1, "qc_passed": 1, "planned": 1}
    assert (storey["on_hold"], storey["ncr_open"], storey["damaged"]) == (1, 1, 0)
    # Buildings in order, storeys lowest first, and every building for the chooser.
    assert [b["name"] for b in summary["buildings"]] == ["B1", "B2"]
    assert [s["name"] for s in summary["buildings"][0]["storeys"]] == ["1F", "2F"]
    assert [b["name"] for b in summary["project"]["buildings"]] == ["B1", "B2"]
    # The first lists name the flagged pieces, the NCR with its failed check.
    assert [c["id"] for c in summary["flagged"]] == sorted(
        site["pieces"][i]["id"] for i in (4, 6, 7))
    [ncr] = summary["open_ncrs"]
    assert (ncr["id"], ncr["ncr"], ncr["reason"]) == (site["pieces"][3]["id"], "NCR-7",
                                                      "too long")
    # A small project lists every piece for a square each.
    assert sorted(c["id"] for c in summary["cells"]) == sorted(p["id"] for p in site["pieces"])


def test_the_counts_follow_later_scans(world, site):
    pieces = site["pieces"]
    world.scan(pieces[4]["code"], "release", role="admin", expect=201)
    world.scan(pieces[3]["code"], "repair", role="admin", expect=201)
    world.scan(pieces[5]["code"], "scrap", role="admin", expect=201)
    world.scan(pieces[1]["code"], "hold", role="admin", expect=201)
    world.scan(pieces[8]["code"], "cast", role="admin", expect=201)
    summary = _summary(world, "regulator")
    _assert_matches_naive(world, summary)
    assert summary["flags"] == {"on_hold": 2, "damaged": 1, "ncr_open": 0,
                                "on_hold_or_damaged": 3}
    assert summary["by_state"]["scrapped"] == 1
    assert summary["open_ncrs"] == []


def test_one_building_counts_its_storeys_only(world, site):
    summary = _summary(world, building_id=site["building_two"])
    assert [b["id"] for b in summary["buildings"]] == [site["building_two"]]
    assert summary["by_state"] == {"cast": 1, "stored": 1, "planned": 1}
    assert summary["flags"] == {"on_hold": 1, "damaged": 1, "ncr_open": 0,
                                "on_hold_or_damaged": 2}
    assert summary["quality"]["ncrs"] == []  # the open NCR is in the other building
    assert summary["unplaced"] is None
    assert {c["id"] for c in summary["flagged"]} == {site["pieces"][6]["id"],
                                                     site["pieces"][7]["id"]}
    assert len(summary["project"]["buildings"]) == 2


def test_each_storeys_readiness_is_what_the_readiness_route_says(world, site):
    summary = _summary(world)
    client = world.client("project_manager")
    for building in summary["buildings"]:
        for storey in building["storeys"]:
            route = client.get(f"/api/v1/storeys/{storey['id']}/readiness").get_json()
            mine = storey["readiness"]
            assert (mine["places"], mine["missing"], mine["blocked"], mine["can_start"]) == \
                (route["places"], route["missing"], route["blocked"], route["can_start"])
    # The next storeys: the lowest with something to install, building by building.
    assert [s["storey_id"] for s in summary["upcoming_storeys"]] == [
        site["storeys"]["b1_1f"], site["storeys"]["b1_2f"], site["storeys"]["b2_1f"]]


def test_a_large_project_gets_counts_without_its_pieces(world, site, monkeypatch):
    monkeypatch.setattr(summary_service, "CELL_LIMIT", 9)
    summary = _summary(world)
    assert summary["cells"] is None
    assert summary["total"] == 10


def _listed(world, role: str = "project_manager", **filters) -> set[int]:
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    response = world.client(role).get(
        f"/api/v1/components?project_id={world.ids['project_main']}&per_page=500&{query}")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["total"] == len(body["items"])
    return {item["id"] for item in body["items"]}


def test_the_component_list_filters_by_each_flag(world, site):
    pieces = [piece["id"] for piece in site["pieces"]]
    everything = set(pieces)
    assert _listed(world, on_hold="true") == {pieces[4], pieces[7]}
    assert _listed(world, on_hold="false") == everything - {pieces[4], pieces[7]}
    assert _listed(world, damaged="true") == {pieces[6]}
    assert _listed(world, ncr_open="true") == {pieces[3]}
    assert _listed(world, ncr_open="false", damaged="false", on_hold="false") == \
        everything - {pieces[3], pieces[4], pieces[6], pieces[7]}
    # Filters add up (and), with the others.
    assert _listed(world, on_hold="true", damaged="true") == set()
    assert _listed(world, on_hold="true", storey_id=site["storeys"]["b2_1f"]) == {pieces[7]}
    assert _listed(world, on_hold="true", building_id=site["building_two"]) == {pieces[7]}
    # The other tenant's pieces never come: a far manager sees none of these.
    assert _listed(world, "other_manager", on_hold="true") == set()
    response = world.client("admin").get("/api/v1/components?on_hold=maybe")
    assert response.status_code == 422
    assert "on_hold" in response.get_json()["errors"]["query"]


def test_the_summary_is_scoped_like_the_component_list(world, site):
    path = f"/api/v1/projects/{world.ids['project_main']}/summary"
    # Out of scope does not exist: 404, never 403.
    for role in ("far_regulator", "other_manager", "other_worker"):
        response = world.client(role).get(path)
        assert response.status_code == 404, role
        assert response.get_json()["type"].endswith("not-found")
    for role in ("admin", "project_manager", "factory_worker", "qc_inspector",
                 "site_supervisor", "regulator"):
        assert world.client(role).get(path).status_code == 200, role
    assert world.client().get(path).status_code == 401
    # A building of another project is no building of this one.
    far_building = world.ids["building_far"]
    assert world.client("admin").get(f"{path}?building_id={far_building}").status_code == 404
    assert world.client("admin").get(f"{path}?building_id=0").status_code == 422


def test_todays_trucks_are_the_deliveries_routes_loads_of_today(world, site):
    now = datetime.now(UTC).replace(microsecond=0)
    stored = world.component("stored")
    response = world.client("factory_worker").post("/api/v1/loads", json={
        "project_id": world.ids["project_main"], "component_ids": [stored["id"]],
        "vehicle": "浙A·12345", "planned_departure_at": now.isoformat(),
        "planned_arrival_at": (now + timedelta(minutes=1)).isoformat()})
    assert response.status_code == 201, response.get_json()
    trucks = _summary(world)["trucks_today"]
    deliveries = world.client("project_manager").get(
        f"/api/v1/projects/{world.ids['project_main']}/deliveries"
        f"?since={trucks['date']}&until={trucks['date']}").get_json()
    [day] = deliveries["days"]
    assert trucks["loads"] == [*day["in_transit"], *day["planned"], *day["arrived"]]
    [load] = trucks["loads"]
    assert (load["id"], load["vehicle"], load["piece_count"]) == \
        (response.get_json()["id"], "浙A·12345", 1)
