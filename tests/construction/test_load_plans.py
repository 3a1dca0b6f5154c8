"""Load plans: truckloads in erection order within the truck's limits; readiness; deliveries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from construction.extensions import db
from construction.models import Component, IdempotentRequest, Load, LoadItem, Storey
from construction.services.load_plans import PlanPiece, TruckLimits, plan_loads

# Storeys of 1 to 12 pieces of 1 to 12 t, trucks of 12 to 40 t and maybe a count limit.
_storeys = st.lists(st.lists(st.integers(min_value=1000, max_value=12000), min_size=1,
                             max_size=12), min_size=1, max_size=8)


@given(_storeys, st.integers(min_value=12000, max_value=40000),
       st.one_of(st.none(), st.integers(min_value=1, max_value=10)))
def test_plans_hold_every_limit_carry_each_piece_once_and_keep_erection_order(
        storeys, max_weight_kg, max_items):
    pieces = [PlanPiece(rank, number, float(weight)) for rank, (number, weight) in enumerate(
        (number, weight) for number, storey in enumerate(storeys) for weight in storey)]
    order = {piece.component_id: rank for rank, piece in enumerate(pieces)}
    limits = TruckLimits(max_weight_kg, max_items)
    loads = plan_loads(pieces, limits)
    assert all(sum(p.weight_kg for p in load) <= max_weight_kg for load in loads)
    assert all(max_items is None or len(load) <= max_items for load in loads)
    carried = [p.component_id for load in loads for p in load]
    assert sorted(carried) == sorted(order)  # every piece, exactly once
    for earlier, later in zip(loads, loads[1:], strict=False):  # install order across trucks
        assert max(order[p.component_id] for p in earlier) < \
            min(order[p.component_id] for p in later)
    for number in range(len(storeys)):  # a storey that fits on one truck rides on one
        members = [p for p in pieces if p.storey_key == number]
        if sum(p.weight_kg for p in members) <= max_weight_kg and \
                (max_items is None or len(members) <= max_items):
            assert sum(1 for load in loads if any(p.storey_key == number for p in load)) == 1


def test_a_piece_heavier_than_the_truck_cannot_be_planned():
    try:
        plan_loads([PlanPiece(1, 1, 30000.0)], TruckLimits(25000.0))
    except ValueError as error:
        assert "component 1" in str(error)
    else:
        raise AssertionError("planned a piece heavier than the truck")


def _storey(world, name: str, elevation: float) -> int:
    with world.app.app_context():
        storey = Storey(building_id=world.ids["building_main"], name=name, elevation_m=elevation)
        db.session.add(storey)
        db.session.commit()
        return storey.id


def test_a_plan_puts_the_first_installed_on_top_and_accepting_it_makes_the_loads(world):
    second = _storey(world, "2F", 3.0)
    first_floor = [world.component("stored", install_sequence=n, mark=f"A-{n}")
                   for n in (3, 1, 2)]
    second_floor = [world.component("qc_passed", install_sequence=n, mark=f"B-{n}")
                    for n in (1, 2)]
    with world.app.app_context():
        for piece in second_floor:
            db.session.get(Component, piece["id"]).storey_id = second
        db.session.commit()
    body = {"storey_ids": [second, world.ids["storey_main"]], "max_weight_kg": 15000}
    manager = world.client("project_manager")
    url = f"/api/v1/projects/{world.ids['project_main']}/load-plans"
    proposal = manager.post(url, json=body)
    assert proposal.status_code == 200, proposal.get_json()
    loads = proposal.get_json()["loads"]
    # 1F (3 walls, 14.55 t) on the first truck, loaded 3, 2, 1: piece 1 on top; then 2F.
    assert [load["component_ids"] for load in loads] == [
        [first_floor[0]["id"], first_floor[2]["id"], first_floor[1]["id"]],
        [second_floor[1]["id"], second_floor[0]["id"]]]
    assert [load["weight_kg"] for load in loads] == [14550.0, 9700.0]
    assert all(load["not_ready"] == [] for load in loads)
    with world.app.app_context():
        assert db.session.scalar(select(Load.id)) is None  # a proposal writes nothing
    assert world.client("factory_worker").post(url, json=body).status_code == 403
    accepted = manager.post(url, json={**body, "accept": True, "vehicle": "浙A-1"})
    assert accepted.status_code == 201
    made = accepted.get_json()["loads"]
    assert [[i["component_id"] for i in load["items"]] for load in made] == \
        [load["component_ids"] for load in loads]
    assert all(load["max_weight_kg"] == 15000 and load["vehicle"] == "浙A-1" for load in made)
    # Planned again, what rides on a load is left out.
    assert manager.post(url, json=body).get_json()["loads"] == []


def test_bad_plans_are_refused(world):
    piece = world.component("cast")
    far = world.component("stored", project="far")
    url = f"/api/v1/projects/{world.ids['project_main']}/load-plans"
    manager = world.client("admin")
    too_heavy = manager.post(url, json={"component_ids": [piece["id"]], "max_weight_kg": 3000})
    assert too_heavy.status_code == 422
    assert too_heavy.get_json()["type"].endswith("/over-weight-limit")
    assert manager.post(url, json={"component_ids": [far["id"]],
                                   "max_weight_kg": 9000}).status_code == 422
    assert manager.post(url, json={"max_weight_kg": 9000}).status_code == 422
    assert manager.post(url, json={"storey_ids": [999], "max_weight_kg": 9000}).status_code \
        == 404
    # Not cast yet: proposed with its reason, refused when accepted.
    plan = manager.post(url, json={"component_ids": [piece["id"]], "max_weight_kg": 9000})
    assert plan.get_json()["loads"][0]["not_ready"][0]["component_id"] == piece["id"]
    refused = manager.post(url, json={"component_ids": [piece["id"]], "max_weight_kg": 9000,
                                      "accept": True})
    assert refused.status_code == 409
    with world.app.app_context():
        assert db.session.scalar(select(Load.id)) is None


def test_a_storey_plan_leaves_pieces_not_ready_off_the_trucks_and_can_be_accepted(world):
    ready = [world.component("stored", install_sequence=n, mark=f"A-{n}") for n in (1, 3)]
    demoulded = world.component("demoulded", install_sequence=2, mark="A-2")
    held = world.component("stored", install_sequence=4, mark="A-4")
    with world.app.app_context():
        db.session.get(Component, held["id"]).on_hold = True
        db.session.commit()
    url = f"/api/v1/projects/{world.ids['project_main']}/load-plans"
    body = {"storey_ids": [world.ids["storey_main"]], "max_weight_kg": 30000}
    manager = world.client("project_manager")
    proposal = manager.post(url, json=body)
    assert proposal.status_code == 200, proposal.get_json()
    plan = proposal.get_json()
    assert [load["component_ids"] for load in plan["loads"]] == \
        [[ready[1]["id"], ready[0]["id"]]]
    assert plan["loads"][0]["not_ready"] == []
    # Left off, in erection order, with the reason the load rule gives.
    not_ready = plan["not_ready"]
    assert [piece["component_id"] for piece in not_ready] == [demoulded["id"], held["id"]]
    assert not_ready[0]["current_state"] == "demoulded" and not_ready[0]["reason"]
    assert not_ready[1]["type"] and not_ready[1]["code"] == held["code"]
    for piece in not_ready:  # the plan's reason is the refusal of POST /loads
        refused = world.client("factory_worker").post("/api/v1/loads", json={
            "project_id": world.ids["project_main"], "component_ids": [piece["component_id"]]})
        assert refused.status_code == 409
        assert refused.get_json()["refusals"] == [piece]
    accepted = manager.post(url, json={**body, "accept": True})
    assert accepted.status_code == 201, accepted.get_json()
    made = accepted.get_json()
    assert [[i["component_id"] for i in load["items"]] for load in made["loads"]] == \
        [[ready[1]["id"], ready[0]["id"]]]
    assert made["not_ready"] == not_ready
    with world.app.app_context():
        assert sorted(db.session.scalars(select(LoadItem.component_id))) == \
            sorted(piece["id"] for piece in ready)


def test_accepting_named_pieces_not_ready_names_every_refused_piece(world):
    stored = world.component("stored", install_sequence=1)
    demoulded = world.component("demoulded", install_sequence=2)
    cast = world.component("cast", install_sequence=3)
    url = f"/api/v1/projects/{world.ids['project_main']}/load-plans"
    # One piece a truck: the unready ones are on the second and third trucks.
    body = {"component_ids": [stored["id"], demoulded["id"], cast["id"]],
            "max_weight_kg": 5000}
    manager = world.client("project_manager")
    proposal = manager.post(url, json=body).get_json()
    assert [load["component_ids"] for load in proposal["loads"]] == \
        [[stored["id"]], [demoulded["id"]], [cast["id"]]]
    assert proposal["not_ready"] == []  # named pieces stay on their trucks, with the reason
    assert [load["not_ready"][0]["component_id"] for load in proposal["loads"][1:]] == \
        [demoulded["id"], cast["id"]]
    refused = manager.post(url, json={**body, "accept": True})
    assert refused.status_code == 409
    assert refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert problem["type"].endswith("/component-not-loadable")
    assert [r["component_id"] for r in problem["refusals"]] == [demoulded["id"], cast["id"]]
    assert demoulded["code"] in problem["detail"] and cast["code"] in problem["detail"]
    with world.app.app_context():
        assert db.session.scalar(select(Load.id)) is None


@pytest.mark.parametrize("selection", ["storey_ids", "component_ids"])
def test_accepting_a_plan_again_with_its_idempotency_key_replays_the_first_answer(
        world, selection):
    pieces = [world.component("stored", install_sequence=n) for n in (1, 2, 3)]
    url = f"/api/v1/projects/{world.ids['project_main']}/load-plans"
    chosen = [world.ids["storey_main"]] if selection == "storey_ids" else \
        [piece["id"] for piece in pieces]
    body = {selection: chosen, "max_weight_kg": 10000, "accept": True}
    manager = world.client("project_manager")
    # A proposal writes nothing, not even its key.
    proposed = manager.post(url, json={**body, "accept": False},
                            headers={"Idempotency-Key": "plan-3f-1"})
    assert proposed.status_code == 200
    with world.app.app_context():
        assert db.session.scalar(select(IdempotentRequest.id)) is None
    headers = {"Idempotency-Key": "plan-3f-2"}
    first = manager.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.get_json()
    again = manager.post(url, json=body, headers=headers)
    assert again.status_code == 201, again.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    with world.app.app_context():
        assert len(db.session.scalars(select(Load.id)).all()) == len(first.get_json()["loads"])
        assert sorted(db.session.scalars(select(LoadItem.component_id))) == \
            sorted(piece["id"] for piece in pieces)
    other = manager.post(url, json={**body, "max_weight_kg": 20000}, headers=headers)
    assert other.status_code == 422
    assert other.get_json()["type"].endswith("/idempotency-key-reused")


def test_storey_readiness_says_where_each_piece_is(world):
    pieces = {state: world.component(state) for state in (
        "planned", "cast", "stored", "delivered", "installed")}
    on_truck = world.component("stored")
    load = world.client("factory_worker").post("/api/v1/loads", json={
        "project_id": world.ids["project_main"], "component_ids": [on_truck["id"]],
        "planned_arrival_at": "2026-12-06T09:00:00+08:00"}).get_json()
    readiness = world.client("site_supervisor").get(
        f"/api/v1/storeys/{world.ids['storey_main']}/readiness").get_json()
    places = {c["id"]: c["place"] for c in readiness["components"]}
    assert places[pieces["planned"]["id"]] == "not_cast"
    assert places[pieces["cast"]["id"]] == "in_factory"
    assert places[pieces["stored"]["id"]] == "in_yard"
    assert places[pieces["delivered"]["id"]] == "on_site"
    assert places[pieces["installed"]["id"]] == "installed"
    carried = next(c for c in readiness["components"] if c["id"] == on_truck["id"])
    assert carried["load"]["code"] == load["code"] and carried["load"]["eta"]
    assert readiness["can_start"] is False and readiness["missing"] == 4
    assert world.client("regulator").get("/api/v1/storeys/999/readiness").status_code == 404


def test_a_storey_whose_pieces_are_all_on_site_can_start(world):
    for _ in range(2):
        world.component("accepted_on_site")
    readiness = world.client("project_manager").get(
        f"/api/v1/storeys/{world.ids['storey_main']}/readiness").get_json()
    assert readiness["can_start"] is True and readiness["places"]["on_site"] == 2


def test_deliveries_count_loads_planned_in_transit_and_arrived_per_day(world):
    worker = world.client("factory_worker")
    ids = [world.component("stored")["id"] for _ in range(3)]
    loads = [worker.post("/api/v1/loads", json={
        "project_id": world.ids["project_main"], "component_ids": [component_id],
        "planned_departure_at": "2026-12-06T07:00:00+08:00",
        "planned_arrival_at": f"2026-12-0{6 + n}T09:00:00+08:00"}).get_json()
        for n, component_id in enumerate(ids)]
    for load in loads[1:]:
        for action, role in (("load", "factory_worker"), ("depart", "factory_worker")):
            assert world.client(role).post(f"/api/v1/loads/{load['id']}/scans", json={
                "action": action, "client_event_id": f"{action}-{load['id']}-xx"}).status_code \
                == 201
    world.client("site_supervisor").post(f"/api/v1/loads/{loads[2]['id']}/scans", json={
        "action": "arrive", "client_event_id": "arrive-one-load",
        "client_time": "2026-12-06T10:00:00+08:00"})
    answer = world.client("regulator").get(
        f"/api/v1/projects/{world.ids['project_main']}/deliveries"
        "?since=2026-12-01&until=2026-12-31")
    assert answer.status_code == 200
    by_day = {day["date"]: day["counts"] for day in answer.get_json()["days"]}
    assert by_day["2026-12-06"]["planned"] == 1
    assert by_day["2026-12-07"]["in_transit"] == 1
    arrived = [d for d, counts in by_day.items() if counts["arrived"]]
    assert len(arrived) == 1
    assert world.client("regulator").get(
        f"/api/v1/projects/{world.ids['project_far']}/deliveries").status_code == 404


def test_the_cli_plans_accepts_and_prints_loads(world, runner, tmp_path):
    pieces = [world.component("stored", install_sequence=n) for n in (1, 2, 3)]
    waiting = world.component("demoulded", install_sequence=4)
    storey = str(world.ids["storey_main"])
    proposed = runner.invoke(args=["loads", "plan", "--project", "P-MAIN", "--storey", storey,
                                   "--max-weight", "10000"])
    assert proposed.exit_code == 0, proposed.output
    assert "2 loads proposed" in proposed.output
    assert f"left off, not ready: {waiting['code']}" in proposed.output
    assert f"[{pieces[1]['id']}, {pieces[0]['id']}]" in proposed.output  # piece 1 on top
    accepted = runner.invoke(args=["loads", "plan", "--project", "P-MAIN", "--storey", storey,
                                   "--max-weight", "10000", "--accept"])
    assert accepted.exit_code == 0 and "2 loads created" in accepted.output
    with world.app.app_context():
        load_id = db.session.scalar(select(Load.id).order_by(Load.id))
    label, note = tmp_path / "label.pdf", tmp_path / "note.pdf"
    printed = runner.invoke(args=["loads", "print", str(load_id), "--label", str(label),
                                  "--note", str(note), "--layout", "thermal-100x70"])
    assert printed.exit_code == 0, printed.output
    assert label.read_bytes().startswith(b"%PDF") and note.read_bytes().startswith(b"%PDF")
    assert runner.invoke(args=["loads", "print", "999", "--note", str(note)]).exit_code != 0
    assert runner.invoke(args=["loads", "plan", "--project", "NOPE", "--storey", storey,
                               "--max-weight", "10000"]).exit_code != 0
