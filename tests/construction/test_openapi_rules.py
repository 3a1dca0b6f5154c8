"""The OpenAPI document states the rules the server enforces, so generated clients obey them."""

import pytest
from jsonschema import Draft202012Validator


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _valid(document, name: str, instance) -> bool:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(schema).is_valid(instance)


SCAN = {"code": "ABC-123-XYZ", "client_event_id": "phone-1-0001"}


@pytest.mark.parametrize("name,instance,valid", [
    ("Scan", {**SCAN, "action": "correct"}, False),
    ("Scan", {**SCAN, "action": "correct", "corrects_event_id": 7}, True),
    ("Scan", {**SCAN, "action": "cast", "corrects_event_id": 7}, False),
    ("Scan", {**SCAN, "action": "cast"}, True),
    ("Scan", {**SCAN, "action": "connect"}, False),
    ("Scan", {**SCAN, "action": "connect", "data": {"record": " "}}, False),
    ("Scan", {**SCAN, "action": "connect", "data": {"record": "GROUT-7"}}, True),
    ("Scan", {**SCAN, "action": "cast", "location": {"latitude": 30.2}}, False),
    ("Scan", {**SCAN, "action": "cast", "location": {"latitude": 91, "longitude": 1}}, False),
    ("Scan", {**SCAN, "action": "cast", "location": {"latitude": 30, "longitude": "east"}},
     False),
    ("Scan", {**SCAN, "action": "cast", "location": {"latitude": 30, "longitude": 120,
                                                     "site": "yard"}}, True),
    ("Scan", {**SCAN, "action": "cast", "device": "phone\u0000"}, False),
    ("Project", {"code": "P", "name": "N", "region_code": "33010x"}, False),
    ("Project", {"code": "P", "name": "N", "region_code": "330106"}, True),
    ("ProjectPatch", {}, False),
    ("ComponentPatch", {}, False),
    ("WebhookPatch", {}, False),
    ("WebhookPatch", {"active": False}, True),
    ("Sheet", {"layout": "a4-3x8"}, False),
    ("Sheet", {"project_id": 1}, True),
])
def test_the_document_states_cross_field_and_text_rules(document, name, instance, valid):
    assert _valid(document, name, instance) is valid


def test_patterns_are_anchored_json_schema_patterns(document):
    def patterns(node):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                yield node["pattern"]
            for value in node.values():
                yield from patterns(value)
        elif isinstance(node, list):
            for value in node:
                yield from patterns(value)

    found = list(patterns(document))
    assert len(found) > 10
    for expression in found:
        assert expression.startswith("^") and expression.endswith("$"), expression
        assert "\\Z" not in expression, expression


def test_flags_are_json_booleans_and_a_label_needs_no_body(world, document):
    component = world.component("qc_passed")
    admin = world.client("admin")
    for flag in (0, 1, "true", None):
        response = admin.post(f"/api/v1/components/{component['id']}/labels",
                              json={"reprint": flag})
        assert response.status_code == 422, (flag, response.get_json())
    assert admin.post(f"/api/v1/components/{component['id']}/labels").status_code == 201
    operation = document["paths"]["/api/v1/components/{component_id}/labels"]["post"]
    assert operation["requestBody"]["required"] is False
    assert "2000 to 2100" in document["components"]["schemas"]["Scan"]["properties"][
        "client_time"]["description"]
