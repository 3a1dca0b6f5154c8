"""Production records: pours, strength gates, checklists, inspections, overrides, certificate."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from construction.extensions import db
from construction.models import ComponentType, Mould
from construction.services.ledger import check_ledger
from construction.services.production import GateSettings, evaluate_strength

CAST_AT = "2026-10-20T08:00:00+08:00"
PRE_POUR = {"stage": "pre_pour", "items": [
    {"key": "rebar", "text_en": "Reinforcement as drawn", "text_zh": "钢筋符合图纸",
     "kind": "pass_fail", "category": "reinforcement"},
    {"key": "cover", "text_en": "Concrete cover", "text_zh": "保护层厚度", "kind": "measured",
     "nominal": 20, "tolerance": 5, "unit": "mm", "category": "cover"}]}
POST_DEMOULD = {"stage": "post_demould", "items": [
    {"key": "length", "text_en": "Length", "text_zh": "长度", "kind": "measured",
     "tolerance": 5, "unit": "mm", "category": "dimension"}]}


def _set_type(world, **values):
    with world.app.app_context():
        component_type = db.session.get(ComponentType, world.ids["type_main"])
        for name, value in values.items():
            setattr(component_type, name, value)
        db.session.add(Mould(organization_id=world.ids["org_maker"], name="M-01"))
        db.session.commit()


def _pour(world, component_ids, role="factory_worker", **extra):
    body = {"mould": "M-01", "concrete_grade": "C30", "cast_at": CAST_AT,
            "component_ids": component_ids, "curing_method": "steam",
            "curing_profile": [{"hours": 0, "temperature_c": 20},
                               {"hours": 4, "temperature_c": 55}],
            "specimens": [{"id": "S1", "size_mm": 150, "test_ages_days": [1, 28]}], **extra}
    response = world.client(role).post("/api/v1/pours", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _tested(age_days: int) -> str:
    """When a cube of that age is tested: as many days after the cast."""
    return (datetime.fromisoformat(CAST_AT) + timedelta(days=age_days)).isoformat()


def _result(world, pour_id, mpa, age=1, specimen="S1", role="qc_inspector", expect=201):
    response = world.client(role).post(f"/api/v1/pours/{pour_id}/strength-results", json={
        "specimen": specimen, "age_days": age, "tested_at": _tested(age),
        "strength_mpa": mpa, "laboratory": "Plant lab", "report_number": f"R-{specimen}"})
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def test_a_pour_records_its_components_and_the_component_names_it(world):
    _set_type(world)
    component = world.component("planned")
    pour = _pour(world, [component["id"]])
    assert pour["mould"] == "M-01" and pour["curing_method"] == "steam"
    assert [c["id"] for c in pour["components"]] == [component["id"]]
    detail = world.client("regulator").get(f"/api/v1/components/{component['id']}").get_json()
    assert detail["pour_id"] == pour["id"]
    assert detail["production"]["pour"]["mould"] == "M-01"
    assert detail["production"]["pour"]["cast_at"] == "2026-10-20T00:00:00+00:00"  # ISO 8601
    listed = world.client("regulator").get("/api/v1/pours").get_json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == pour["id"]
    assert world.client("regulator").get(f"/api/v1/pours/{pour['id']}").status_code == 200


def test_a_pour_refuses_an_unknown_mould_a_wrong_grade_and_a_component_in_another_pour(world):
    _set_type(world)
    component = world.component("planned")
    client = world.client("factory_worker")
    body = {"mould": "nowhere", "concrete_grade": "C30", "cast_at": CAST_AT,
            "component_ids": [component["id"]]}
    assert client.post("/api/v1/pours", json=body).get_json()["errors"]["mould"]
    wrong = client.post("/api/v1/pours", json={**body, "mould": "M-01", "concrete_grade": "C40"})
    assert wrong.status_code == 422 and "C30" in str(wrong.get_json()["errors"])
    _pour(world, [component["id"]])
    again = client.post("/api/v1/pours", json={**body, "mould": "M-01"})
    assert again.status_code == 422 and "in pour" in str(again.get_json()["errors"])
    # The mould casts once at a time: a piece sent for its casting again (one forgotten,
    # cast already) joins that pour; none is made beside it.
    first = world.client("admin").get("/api/v1/pours").get_json()["items"][0]
    forgotten = world.component("cast")
    joined = client.post("/api/v1/pours", json={**body, "mould": "M-01",
                                                 "component_ids": [forgotten["id"]]})
    assert joined.status_code == 201 and joined.get_json()["id"] == first["id"]
    assert {c["id"] for c in joined.get_json()["components"]} == {component["id"],
                                                                  forgotten["id"]}
    assert world.client("admin").get("/api/v1/pours").get_json()["total"] == 1


@pytest.mark.parametrize("grade,percent,required", [
    ("C30", 75, 22.5), ("C30", 70, 21.0), ("C40", 100, 40.0),
    ("C35", 75, 26.3), ("C55", 75, 41.3),  # 26.25 and 41.25: never rounded down
    ("C25", 33.3, 8.4)])
def test_a_share_of_the_grade_is_rounded_up_to_the_tenth(grade, percent, required):
    settings = GateSettings(concrete_grade=grade, delivery_strength_percent=percent)
    assert settings.required_mpa("delivery") == required


def test_cast_names_its_pour_and_demould_waits_for_the_stripping_strength(world):
    _set_type(world, stripping_strength_percent=75)  # 75 % of C30 = 22.5 MPa
    other = world.component("planned")
    pour = _pour(world, [other["id"]])
    component = world.component("planned")
    world.scan(component["code"], "cast", role="factory_worker", expect=201,
               data={"pour_id": pour["id"]})
    refused = world.scan(component["code"], "demould", role="factory_worker", expect=409)
    body = refused.get_json()
    assert body["type"].endswith("/strength-not-reached")
    assert (body["required_mpa"], body["measured_mpa"], body["pour_id"]) == \
        (22.5, None, pour["id"])
    _result(world, pour["id"], 18.0)
    body = world.scan(component["code"], "demould", role="factory_worker", expect=409).get_json()
    assert body["measured_mpa"] == 18.0 and "22.5" in body["detail"]
    _result(world, pour["id"], 23.4, specimen="S2")
    accepted = world.scan(component["code"], "demould", role="factory_worker", expect=201)
    evidence = accepted.get_json()["event"]["data"]["gates"]["stripping_strength"]
    assert evidence == {"required_mpa": 22.5, "measured_mpa": 23.4, "pour_id": pour["id"]}
    with world.app.app_context():
        assert check_ledger()[1] == []


NEW_POUR = {"mould": "M-01", "concrete_grade": "C30", "cast_at": CAST_AT, "mix": "C30-P6",
            "curing_method": "steam"}


def _set_grade(world, grade):
    with world.app.app_context():
        db.session.get(ComponentType, world.ids["type_main"]).concrete_grade = grade
        db.session.commit()


def _pour_of(world, component_id):
    return world.client("regulator").get(f"/api/v1/components/{component_id}").get_json()[
        "pour_id"]


def test_casting_together_makes_one_pour_and_a_retry_makes_none(world):
    _set_type(world)
    pieces = [world.component("planned") for _ in range(3)]
    items = [{"code": p["code"], "action": "cast", "client_event_id": f"cast-together-{i}",
              "data": {"pour": NEW_POUR}} for i, p in enumerate(pieces[:2])]
    client = world.client("factory_worker")
    first = client.post("/api/v1/scans/batch", json={"items": items}).get_json()
    assert first["accepted"] == 2, first
    pour_id = _pour_of(world, pieces[0]["id"])
    assert pour_id is not None and _pour_of(world, pieces[1]["id"]) == pour_id
    pour = client.get(f"/api/v1/pours/{pour_id}").get_json()
    assert (pour["mould"], pour["concrete_grade"], pour["mix"], pour["curing_method"]) == \
        ("M-01", "C30", "C30-P6", "steam")
    assert sorted(c["id"] for c in pour["components"]) == sorted(p["id"] for p in pieces[:2])
    again = client.post("/api/v1/scans/batch", json={"items": items}).get_json()
    assert again["duplicate"] == 2
    # The third piece of the same casting, scanned on its own, joins the same pour.
    world.scan(pieces[2]["code"], "cast", role="factory_worker", expect=201,
               data={"pour": NEW_POUR})
    assert _pour_of(world, pieces[2]["id"]) == pour_id
    assert client.get("/api/v1/pours").get_json()["total"] == 1
    with world.app.app_context():
        assert check_ledger()[1] == []


def test_a_cast_describing_a_bad_pour_writes_nothing(world):
    _set_type(world)
    component = world.component("planned")
    bad = world.scan(component["code"], "cast", role="factory_worker", expect=422,
                     data={"pour": {**NEW_POUR, "concrete_grade": "30"}})
    assert "concrete_grade" in str(bad.get_json()["errors"]["data"]["pour"])
    both = world.scan(component["code"], "cast", role="factory_worker", expect=422,
                      data={"pour": NEW_POUR, "pour_id": 1})
    assert "not both" in str(both.get_json()["errors"])
    unknown = world.scan(component["code"], "cast", role="factory_worker", expect=422,
                         data={"pour": {**NEW_POUR, "mould": "nowhere"}})
    assert unknown.get_json()["errors"]["mould"]
    _set_grade(world, "C40")
    wrong = world.scan(component["code"], "cast", role="factory_worker", expect=422,
                       data={"pour": NEW_POUR})
    assert "specified C40" in str(wrong.get_json()["errors"])
    _set_grade(world, "")  # any grade: the mould's own pour at that time clashes
    other = _pour(world, [world.component("planned")["id"]])
    clash = world.scan(component["code"], "cast", role="factory_worker", expect=409,
                       data={"pour": {**NEW_POUR, "concrete_grade": "C40"}})
    assert clash.get_json()["pour_id"] == other["id"]
    detail = world.client("regulator").get(f"/api/v1/components/{component['id']}").get_json()
    assert detail["state"] == "planned" and detail["pour_id"] is None
    assert world.client("regulator").get("/api/v1/pours").get_json()["total"] == 1


def test_a_piece_in_no_pour_is_not_demoulded_when_its_type_states_a_strength(world):
    _set_type(world, stripping_strength_mpa=15)
    component = world.component("cast")
    body = world.scan(component["code"], "demould", expect=409).get_json()
    assert body["pour_id"] is None and body["required_mpa"] == 15.0


def test_types_without_requirements_move_as_before_and_gates_cannot_be_sent(world):
    _set_type(world)
    component = world.component("cast")
    forged = world.scan(component["code"], "demould", expect=201, data={
        "gates": {"stripping_strength": {"required_mpa": 1, "measured_mpa": 99}}, "note": "x"})
    assert forged.get_json()["event"]["data"] == {"note": "x"}


def test_a_qc_inspector_overrides_the_delivery_gate_with_a_reason(world):
    _set_type(world, delivery_strength_mpa=30)
    component = world.component("planned")
    pour = _pour(world, [component["id"]])
    for action in ("cast", "demould", "qc_pass"):
        world.scan(component["code"], action, expect=201)
    _result(world, pour["id"], 26.0, age=7)
    assert world.scan(component["code"], "load", expect=409).get_json()["measured_mpa"] == 26.0
    url = f"/api/v1/components/{component['id']}/gate-overrides"
    body = {"gate": "delivery_strength", "reason": "Rebound hammer 31 MPa, lab delayed"}
    assert world.client("factory_worker").post(url, json=body).status_code == 403
    first = world.client("qc_inspector").post(url, json=body)
    assert first.status_code == 201 and first.get_json()["by"] == "user-qc_inspector"
    assert world.client("qc_inspector").post(url, json=body).status_code == 200
    other = world.client("qc_inspector").post(url, json={**body, "reason": "Another story"})
    assert other.status_code == 409 and other.get_json()["reason"] == body["reason"]
    loaded = world.scan(component["code"], "load", role="factory_worker", expect=201).get_json()
    evidence = loaded["event"]["data"]["gates"]["delivery_strength"]
    assert evidence["override_id"] == first.get_json()["id"]
    assert evidence["override_reason"] == body["reason"]
    world.scan(component["code"], "depart", role="factory_worker", expect=201)
    quality = world.client("regulator").get("/api/v1/quality").get_json()
    assert quality["gate_overrides"][0]["gate"] == "delivery_strength"
    assert quality["gate_overrides"][0]["count"] == 1
    with world.app.app_context():
        assert check_ledger()[1] == []


def test_a_checklist_gates_casting_and_qc_and_a_failed_item_opens_an_ncr(world):
    _set_type(world)
    for template in (PRE_POUR, POST_DEMOULD):
        response = world.client("qc_inspector").post(
            f"/api/v1/component-types/{world.ids['type_main']}/checklists", json=template)
        assert response.status_code == 201, response.get_json()
    component = world.component("planned")
    inspections = f"/api/v1/components/{component['id']}/inspections"
    body = world.scan(component["code"], "cast", expect=409).get_json()
    assert body["type"].endswith("/inspection-required") and body["stage"] == "pre_pour"
    incomplete = world.client("qc_inspector").post(inspections, json={
        "stage": "pre_pour", "results": [{"key": "rebar", "passed": True}]})
    assert incomplete.status_code == 422 and "cover" in incomplete.get_json()["errors"]["results"]
    failed = world.client("qc_inspector").post(inspections, json={
        "stage": "pre_pour", "results": [{"key": "rebar", "passed": True},
                                         {"key": "cover", "value": 26}]})
    assert failed.status_code == 201 and failed.get_json()["passed"] is False
    assert failed.get_json()["ncr_event_id"] is None  # no piece yet: the inspection is the record
    assert world.scan(component["code"], "cast", expect=409).get_json()["inspection_id"] == \
        failed.get_json()["id"]
    passed = world.client("qc_inspector").post(inspections, json={
        "stage": "pre_pour", "results": [{"key": "rebar", "passed": True},
                                         {"key": "cover", "value": 23}]}).get_json()
    assert passed["passed"] is True and passed["results"][1]["deviation"] == 3
    world.scan(component["code"], "cast", expect=201)
    world.scan(component["code"], "demould", expect=201)
    assert world.scan(component["code"], "qc_pass", role="qc_inspector", expect=409)
    out = world.client("qc_inspector").post(inspections, json={
        "stage": "post_demould", "results": [{"key": "length", "value": -7}]}).get_json()
    assert out["passed"] is False and out["ncr_event_id"] is not None
    detail = world.client("admin").get(f"/api/v1/components/{component['id']}").get_json()
    assert detail["ncr_open"] is True
    assert detail["events"][-1]["data"]["category"] == "dimension"
    assert len(detail["production"]["inspections"]) == 3
    world.scan(component["code"], "repair", role="qc_inspector", expect=201,
               data={"record": "ground 2 mm, re-measured"})
    world.client("qc_inspector").post(inspections, json={
        "stage": "post_demould", "results": [{"key": "length", "value": 2}]})
    world.scan(component["code"], "qc_pass", role="qc_inspector", expect=201)
    rates = world.client("regulator").get("/api/v1/quality").get_json()["inspection_items"]
    cover = next(r for r in rates if r["item"] == "cover")
    assert (cover["inspected"], cover["failed"], cover["failure_rate"]) == (2, 1, 0.5)
    with world.app.app_context():
        assert check_ledger()[1] == []


def test_inspection_failure_rates_carry_each_item_s_words_from_its_checklist(world):
    _set_type(world)
    checklists = f"/api/v1/component-types/{world.ids['type_main']}/checklists"
    qc = world.client("qc_inspector")
    assert qc.post(checklists, json=POST_DEMOULD).status_code == 201
    component = world.component("demoulded")
    response = qc.post(f"/api/v1/components/{component['id']}/inspections", json={
        "stage": "post_demould", "results": [{"key": "length", "value": 7}]})
    assert response.status_code == 201, response.get_json()
    regulator = world.client("regulator")
    [row] = regulator.get("/api/v1/quality").get_json()["inspection_items"]
    assert {name: value for name, value in row.items() if not name.startswith("manufacturer")} \
        == {"stage": "post_demould", "item": "length", "text_en": "Length", "text_zh": "长度",
            "inspected": 1, "failed": 1, "failure_rate": 1.0}
    summary = regulator.get(f"/api/v1/projects/{world.ids['project_main']}/summary").get_json()
    assert summary["quality"]["inspection_items"] == [row]
    # A checklist that has dropped the item since leaves the item its key, without words.
    width = {**POST_DEMOULD["items"][0], "key": "width", "text_en": "Width", "text_zh": "宽度"}
    assert qc.post(checklists, json={**POST_DEMOULD, "items": [width]}).status_code == 200
    [row] = regulator.get("/api/v1/quality").get_json()["inspection_items"]
    assert (row["item"], row["text_en"], row["text_zh"]) == ("length", None, None)


def test_site_acceptance_is_checked_only_where_the_project_asks_for_it(world):
    _set_type(world)
    world.client("qc_inspector").post(
        f"/api/v1/component-types/{world.ids['type_main']}/checklists", json={
            "stage": "site_acceptance", "items": [
                {"key": "surface", "text_en": "Surface", "text_zh": "外观",
                 "kind": "pass_fail", "category": "surface"}]})
    free = world.component("delivered")
    world.scan(free["code"], "accept_delivery", role="site_supervisor", expect=201)
    from construction.models import Project

    with world.app.app_context():
        db.session.get(Project, world.ids["project_main"]).site_acceptance_required = True
        db.session.commit()
    asked = world.component("delivered")
    world.scan(asked["code"], "accept_delivery", role="site_supervisor", expect=409)
    response = world.client("site_supervisor").post(
        f"/api/v1/components/{asked['id']}/inspections",
        json={"stage": "site_acceptance", "results": [{"key": "surface", "passed": True}]})
    assert response.status_code == 201
    world.scan(asked["code"], "accept_delivery", role="site_supervisor", expect=201)


def test_a_result_tested_in_the_future_or_at_another_age_is_refused(world):
    _set_type(world)
    pour = _pour(world, [world.component("planned")["id"]])
    client = world.client("qc_inspector")

    def send(age, tested_at):
        return client.post(f"/api/v1/pours/{pour['id']}/strength-results", json={
            "specimen": "S1", "age_days": age, "tested_at": tested_at, "strength_mpa": 14.5})

    early = send(28, _tested(3))  # a "28-day" cube crushed on day 3
    assert early.status_code == 422 and "age_days" in early.get_json()["errors"]
    future = send(28, "2099-11-17T08:00:00+08:00")
    assert future.status_code == 422 and "tested_at" in future.get_json()["errors"]
    header = "pour_id,specimen,age_days,tested_at,strength_mpa\n"
    imported = client.post("/api/v1/strength-results/import", content_type="text/csv",
                           data=header + f"{pour['id']},S1,28,{_tested(3)},14.5\n"
                           f"{pour['id']},S2,7,{_tested(8)},20.5\n")
    assert imported.status_code == 422
    assert [(e["row"], e["field"]) for e in imported.get_json()["errors"]] == [(2, "age_days")]
    assert client.get(f"/api/v1/pours/{pour['id']}/strength-results").get_json() == []
    assert send(28, _tested(27)).status_code == 201  # a day early is a laboratory's calendar


def test_strength_from_load_and_area_is_converted_to_the_standard_cube(world):
    _set_type(world)
    pour = _pour(world, [world.component("planned")["id"]])
    response = world.client("qc_inspector").post(
        f"/api/v1/pours/{pour['id']}/strength-results", json={
            "specimen": "S9", "age_days": 28, "tested_at": "2026-11-17T08:00:00+08:00",
            "load_kn": 350.0, "area_mm2": 10000})
    assert response.get_json()["strength_mpa"] == 33.2  # 35.0 MPa x 0.95 for a 100 mm cube
    same = _result(world, pour["id"], 20.0, specimen="S1", expect=201)
    assert _result(world, pour["id"], 20.0, specimen="S1", expect=200)["id"] == same["id"]
    assert _result(world, pour["id"], 21.0, specimen="S1", expect=409)


def test_the_csv_import_takes_every_row_or_none(world):
    _set_type(world)
    pour = _pour(world, [world.component("planned")["id"]])
    client = world.client("qc_inspector")
    header = "pour_id,specimen,age_days,tested_at,strength_mpa,laboratory,report_number\n"
    bad = (header + f"{pour['id']},A,28,2026-11-17T08:00:00+08:00,38.1,Lab,R1\n"
           f"{pour['id']},B,28,2026-11-17T08:00:00+08:00,,Lab,R1\n"
           "999999,C,28,2026-11-17T08:00:00+08:00,35,Lab,R1\n")
    response = client.post("/api/v1/strength-results/import", data=bad,
                           content_type="text/csv")
    assert response.status_code == 422
    assert [e["row"] for e in response.get_json()["errors"]] == [3, 4]
    assert client.get(f"/api/v1/pours/{pour['id']}/strength-results").get_json() == []
    good = header + f"{pour['id']},A,28,2026-11-17T08:00:00+08:00,38.1,Lab,R1\n"
    response = client.post("/api/v1/strength-results/import", data=good,
                           content_type="text/csv")
    assert response.status_code == 201 and response.get_json()["imported"] == 1
    assert world.client("regulator").post("/api/v1/strength-results/import", data=good,
                                          content_type="text/csv").status_code == 403


def test_the_quality_report_judges_strength_by_gb_t_50107(world):
    _set_type(world)
    pour = _pour(world, [world.component("planned")["id"]])
    for index, mpa in enumerate((36.0, 38.5, 34.8)):
        _result(world, pour["id"], mpa, age=28, specimen=f"G{index}")
    _result(world, pour["id"], 12.0, age=1, specimen="G9")  # not a 28-day result
    strength = world.client("regulator").get("/api/v1/quality").get_json()["strength"]
    assert len(strength) == 1
    row = strength[0]
    assert row["concrete_grade"] == "C30" and row["count"] == 3 and row["min_mpa"] == 34.8
    assert row["method"].startswith("non-statistical") and row["accepted"] is True
    assert world.client("far_regulator").get("/api/v1/quality").get_json()["strength"] == []
    # Every part follows the days asked for: the 28-day cubes were tested on 2026-11-17 (+08:00).
    regulator = world.client("regulator")
    on_the_day = regulator.get("/api/v1/quality?since=2026-11-17&until=2026-11-18").get_json()
    assert on_the_day["strength"][0]["count"] == 3
    after = regulator.get("/api/v1/quality?since=2026-11-18").get_json()
    assert after["strength"] == [] and after["inspection_items"] == []
    assert after["ncrs"] == [] and after["photo_findings"] == []
    # A filter that would narrow only some parts is refused, not half-applied.
    refused = regulator.get(f"/api/v1/quality?storey_id={world.ids['storey_main']}")
    assert refused.status_code == 422 and "storey_id" in refused.get_json()["errors"]["query"]


@pytest.mark.parametrize("values,grade,accepted,method", [
    # n < 10: mean >= 1.15 fcuk, min >= 0.95 fcuk (5.2.2)
    ([34.5, 35.0, 36.0], 30, True, "non-statistical"),
    ([34.0, 34.0, 34.0], 30, False, "non-statistical"),  # mean 34.0 < 34.5
    ([70.0, 66.0, 63.0], 60, True, "non-statistical"),  # lambda3 = 1.10 from C60: 66.0
    ([36.0, 36.0, 28.4], 30, False, "non-statistical"),  # min 28.4 < 28.5
    # n = 10: mean >= fcuk + 1.15 S (S at least 2.5), min >= 0.90 fcuk (5.1.3)
    ([33.0] * 10, 30, True, "statistical"),  # 33.0 >= 30 + 1.15 x 2.5 = 32.875
    ([32.8] * 10, 30, False, "statistical"),
    ([40.0] * 14 + [25.6], 30, True, "statistical"),  # n = 15: min >= 0.85 x 30 = 25.5
    ([40.0] * 13 + [26.9], 30, False, "statistical"),  # n = 14: min >= 0.90 x 30 = 27.0
])
def test_gb_t_50107_formulas(values, grade, accepted, method):
    verdict = evaluate_strength(values, grade)
    assert verdict["method"].startswith(method)
    assert verdict["accepted"] is accepted


def test_the_statistics_floor_the_standard_deviation_at_2_5_mpa():
    verdict = evaluate_strength([35.0] * 12, 30)
    assert verdict["standard_deviation_mpa"] == 0.0 and verdict["s_used_mpa"] == 2.5
    assert verdict["lambda1"] == 1.15 and verdict["lambda2"] == 0.90
    assert verdict["mean_limit_mpa"] == 32.88


def test_the_certificate_is_a_one_page_pdf_for_readers_in_scope(world):
    _set_type(world, stripping_strength_mpa=15)
    component = world.component("planned")
    pour = _pour(world, [component["id"]])
    _result(world, pour["id"], 20.0)
    world.scan(component["code"], "cast", expect=201)
    world.scan(component["code"], "demould", expect=201)
    world.label(component["id"])
    response = world.client("regulator").get(
        f"/api/v1/components/{component['id']}/certificate.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF") and response.data.count(b"/Type /Page\n") <= 1
    assert world.client("far_regulator").get(
        f"/api/v1/components/{component['id']}/certificate.pdf").status_code == 404


def test_the_exports_list_pours_and_strength_results_in_scope(world):
    _set_type(world)
    pour = _pour(world, [world.component("planned")["id"]])
    _result(world, pour["id"], 31.5, age=28)
    pours = world.client("regulator").get("/api/v1/exports/pours.csv").get_data(as_text=True)
    lines = pours.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("pour_id,project,manufacturer,mould,cast_at")
    assert lines[1].startswith(f"{pour['id']},P-MAIN,Maker,M-01,2026-10-20T00:00:00")
    assert lines[1].endswith(",steam,1")
    results = world.client("regulator").get("/api/v1/exports/strength-results.csv")
    row = results.get_data(as_text=True).splitlines()[1].split(",")
    assert row[7:11] == ["S1", "28", "2026-11-17T00:00:00+00:00", "31.5"]
    far = world.client("far_regulator").get("/api/v1/exports/pours.csv").get_data(as_text=True)
    assert len(far.splitlines()) == 1


def test_the_cli_imports_a_laboratory_csv_every_row_or_none(world, runner, tmp_path):
    _set_type(world)
    pour = _pour(world, [world.component("planned")["id"]])
    header = "pour_id,specimen,age_days,tested_at,strength_mpa\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + f"{pour['id']},A,28,2026-11-17T08:00:00+08:00,38.1\n"
                   f"{pour['id']},B,28,2026-11-17T08:00:00+08:00,\n", encoding="utf-8")
    result = runner.invoke(args=["production", "import-strength", str(bad),
                                 "--user", "user-qc_inspector"])
    assert result.exit_code == 1 and "row 3 strength_mpa" in result.output
    assert "nothing was imported" in result.output
    client = world.client("qc_inspector")
    assert client.get(f"/api/v1/pours/{pour['id']}/strength-results").get_json() == []
    # A user without the pour in scope imports nothing either.
    good = tmp_path / "good.csv"
    good.write_text(header + f"{pour['id']},A,28,2026-11-17T08:00:00+08:00,38.1\n",
                    encoding="utf-8")
    outsider = runner.invoke(args=["production", "import-strength", str(good),
                                   "--user", "user-other-worker"])
    assert outsider.exit_code == 1 and f"No pour {pour['id']}" in outsider.output
    result = runner.invoke(args=["production", "import-strength", str(good),
                                 "--user", "user-qc_inspector"])
    assert result.exit_code == 0 and "1 strength results imported" in result.output
    stored = client.get(f"/api/v1/pours/{pour['id']}/strength-results").get_json()
    assert [(r["specimen"], r["strength_mpa"]) for r in stored] == [("A", 38.1)]


def test_the_cli_writes_a_certificate_by_code_or_id(world, runner, tmp_path):
    _set_type(world)
    component = world.component("planned")
    _pour(world, [component["id"]])
    for name in (component["code"], str(component["id"])):
        output = tmp_path / f"{name}.pdf"
        result = runner.invoke(args=["production", "certificate", name, "-o", str(output)])
        assert result.exit_code == 0, result.output
        assert output.read_bytes().startswith(b"%PDF")
    missing = runner.invoke(args=["production", "certificate", "999999", "-o",
                                  str(tmp_path / "x.pdf")])
    assert missing.exit_code == 1 and "no component" in missing.output
    # Out of the user's scope: the same answer as the API's 404.
    far = runner.invoke(args=["production", "certificate", str(component["id"]), "-o",
                              str(tmp_path / "far.pdf"), "--user", "user-far-regulator"])
    assert far.exit_code == 1 and not (tmp_path / "far.pdf").exists()
