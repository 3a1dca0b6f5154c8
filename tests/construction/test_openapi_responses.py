"""Every API route answers what the OpenAPI document the app publishes says it answers.

One tenant with every kind of object (the permission matrix's seed, plus pieces ready to
load and to cast), every operation of the document called as a role allowed to, reads
first and then the writes with valid bodies, in an order where each succeeds. Each answer
is held against the document: its status is one the operation documents, a JSON body
validates against the schema documented for that status and content type (JSON Schema
2020-12, as OpenAPI 3.1 has it, with writeOnly properties left to requests), and any other
body (PNG, PDF, CSV, GLB, IFC) comes with a documented content type. Schemas declare
`additionalProperties: false`, so a field no schema declares, or of another type, fails.
"""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask_smorest.spec.plugins import FlaskPlugin
from jsonschema import Draft202012Validator
from sqlalchemy import select

from bim.synthetic import build_model, precast_pieces
from construction import lifecycle
from construction.extensions import db
from construction.models import BimModel
from construction.permissions import FRAMEWORK_ENDPOINTS, PUBLIC, declared_capability, role_may
from tests.construction import test_permissions as matrix
from tests.construction.test_permissions import _body, _path, _routes

# The permission matrix's seeded tenants: a fixture, used here as it is.
tenants = matrix.tenants

# Served under /api/v1 but not operations of the API: the document's own routes.
UNDOCUMENTED = {"problem_type", "docs_assets"}

# The writes in an order where each one succeeds: creations before what uses them,
# deletions of what this walk created last.
WRITES = [
    ("projects.Projects", "POST"), ("projects.ProjectById", "PATCH"),
    ("projects.Buildings", "POST"), ("projects.BuildingById", "PATCH"),
    ("projects.Storeys", "POST"), ("projects.StoreyById", "PATCH"),
    ("projects.ComponentTypes", "POST"), ("projects.ComponentTypeById", "PATCH"),
    ("components.Components", "POST"), ("components.ComponentById", "PATCH"),
    ("components.ComponentImport", "POST"),
    ("labels.ComponentLabels", "POST"), ("labels.ComponentLabelImage", "POST"),
    ("labels.LabelSheets", "POST"), ("decode.Decode", "POST"),
    ("scans.Scans", "POST"), ("scans.ScanBatch", "POST"), ("epcis.EpcisCapture", "POST"),
    ("pours.Moulds", "POST"), ("pours.Pours", "POST"), ("pours.PourStrengthResults", "POST"),
    ("pours.StrengthImport", "POST"), ("pours.Checklists", "POST"),
    ("pours.ComponentInspections", "POST"), ("pours.GateOverrides", "POST"),
    ("loads.Loads", "POST"), ("loads.LoadById", "PATCH"), ("loads.LoadItems", "POST"),
    ("loads.LoadItemById", "DELETE"), ("loads.LoadScans", "POST"), ("loads.LoadPlans", "POST"),
    ("photos.Photos", "POST"), ("photos.PhotoReanalyse", "POST"),
    ("photos.FindingDecision", "POST"), ("alerts.AlertClose", "POST"),
    ("models.ProjectModels", "POST"), ("ledger.Checkpoints", "POST"),
    ("webhooks.Webhooks", "POST"), ("webhooks.WebhookById", "PATCH"),
    ("webhooks.WebhookDeliveryRetry", "POST"),
    ("webhooks.WebhookById", "DELETE"), ("projects.StoreyById", "DELETE"),
    ("projects.BuildingById", "DELETE"), ("projects.ComponentTypeById", "DELETE"),
    ("projects.ProjectById", "DELETE"),
]
# A deletion removes what the walk created (the seeded objects are in use).
DELETES_CREATED = {"webhooks.WebhookById": ("webhooks.Webhooks", "subscription_id"),
                   "projects.StoreyById": ("projects.Storeys", "storey_id"),
                   "projects.BuildingById": ("projects.Buildings", "building_id"),
                   "projects.ComponentTypeById": ("projects.ComponentTypes", "type_id"),
                   "projects.ProjectById": ("projects.Projects", "project_id")}


def _for_answers(node):
    """Return the document's schemas as answers read them: writeOnly is for requests only."""
    if isinstance(node, list):
        return [_for_answers(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _for_answers(value) for key, value in node.items()}
    properties = node.get("properties")
    if isinstance(properties, dict):
        written = {name for name, schema in properties.items()
                   if isinstance(schema, dict) and schema.get("writeOnly")}
        if written:
            node["properties"] = {name: False if name in written else schema
                                  for name, schema in properties.items()}
            if isinstance(node.get("required"), list):
                node["required"] = [name for name in node["required"] if name not in written]
    return node


class Document:
    """The published OpenAPI document, to judge answers by."""

    def __init__(self, document: dict):
        self.document = document
        self.components = _for_answers(document["components"])

    def operation(self, rule, method: str) -> dict | None:
        # The document's path of the rule, as flask-smorest writes it (`{load_id}`).
        path = FlaskPlugin.flaskpath2openapi(rule.rule)
        return self.document["paths"].get(path, {}).get(method.lower())

    def _response(self, operation: dict, status: int) -> dict | None:
        responses = operation["responses"]
        response = responses.get(str(status)) or responses.get(f"{status // 100}XX") \
            or (responses.get("default") if status >= 400 else None)
        while response is not None and "$ref" in response:
            response = self.document["components"]["responses"][
                response["$ref"].rsplit("/", 1)[1]]
        return response

    def problems(self, operation: dict, response) -> list[str]:
        """Return what in an answer the operation's documentation does not allow."""
        status, media = response.status_code, response.mimetype
        documented = self._response(operation, status)
        if documented is None:
            return [f"status {status} is not documented ({', '.join(operation['responses'])})"]
        content = documented.get("content") or {}
        body = response.get_data()
        if not content:
            return [f"a {media} body, none documented"] if body else []
        if media not in content:
            return [f"{media} is not documented ({', '.join(content)})"]
        if not body:
            return [f"an empty {media} body"]
        schema = content[media].get("schema")
        if schema is None or not media.endswith("json"):
            return []
        validator = Draft202012Validator({"allOf": [schema], "components": self.components},
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        return [_explained(error) for error in validator.iter_errors(response.get_json())]


def _explained(error) -> str:
    while error.context:  # oneOf/anyOf: the branch that went deepest says more
        error = max(error.context, key=lambda inner: len(inner.absolute_path))
    return f"{'/'.join(map(str, error.absolute_path)) or '(body)'}: {error.message[:300]}"


@pytest.fixture
def document(client) -> Document:
    # Times are checked as RFC 3339 only when jsonschema has its checker (rfc3339-validator).
    assert "date-time" in Draft202012Validator.FORMAT_CHECKER.checkers
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return Document(response.get_json())


def _role(capability: str) -> str | None:
    if capability == PUBLIC:
        return None
    return next(role for role in lifecycle.ROLES if role_may(role, capability))  # admin first


def _api_operations(app, document: Document):
    """Return (rule, method) of every operation the API serves; check the document has each."""
    operations, missing = [], []
    for rule, method in _routes(app):
        if not rule.rule.startswith("/api/") or rule.endpoint in FRAMEWORK_ENDPOINTS \
                or rule.endpoint in UNDOCUMENTED:
            continue
        if document.operation(rule, method) is None:
            missing.append(f"{method} {rule.rule}")
        operations.append((rule, method))
    assert missing == [], f"served but not in the document: {missing}"
    documented = sum(1 for item in document.document["paths"].values() for method in item
                     if method in ("get", "post", "put", "patch", "delete"))
    assert documented == len(operations)
    return operations


def _seed(world, tenant) -> dict:
    """Pieces the walk's writes act on, so that each write succeeds."""
    admin = world.client("admin")
    seeds = {name: world.component(state) for name, state in (
        ("to_load", "qc_passed"), ("to_item", "qc_passed"), ("to_cast", "planned"),
        ("to_pour", "planned"))}
    seeds["model"] = build_model(precast_pieces(2, storeys=1), storeys=1).to_string().encode()
    # A loaded truck due tomorrow: in the deliveries, the storey's readiness and the EPCIS
    # export (an AggregationEvent).
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    truck = admin.post("/api/v1/loads", json={
        "project_id": tenant.ids["project_id"],
        "component_ids": [world.component("qc_passed")["id"]],
        "planned_departure_at": tomorrow.isoformat(),
        "planned_arrival_at": (tomorrow + timedelta(hours=3)).isoformat()})
    assert truck.status_code == 201, truck.get_json()
    loaded = admin.post(f"/api/v1/loads/{truck.get_json()['id']}/scans", json={
        "action": "load", "client_event_id": uuid.uuid4().hex})
    assert loaded.status_code == 201, loaded.get_json()
    assert admin.get(f"/api/v1/components/{tenant.ids['component_id']}/label.png") \
        .status_code == 200
    return seeds


def _write(endpoint: str, method: str, tenant, seeds: dict) -> dict:
    """Return the request of one write (the matrix's, where that one succeeds here)."""
    ids = tenant.ids
    token = uuid.uuid4().hex
    bodies = {
        ("scans.Scans", "POST"): {"json": {"code": seeds["to_cast"]["code"], "action": "cast",
                                           "client_event_id": token}},
        ("scans.ScanBatch", "POST"): {"json": {"items": [
            {"code": seeds["to_item"]["code"], "action": "store", "client_event_id": token},
            {"code": seeds["to_item"]["code"], "action": "install",
             "client_event_id": token + "-2"}]}},
        ("pours.Pours", "POST"): {"json": {
            "mould": "M-matrix", "concrete_grade": "C30", "cast_at": "2026-11-25T08:00:00Z",
            "component_ids": [seeds["to_pour"]["id"]]}},
        ("loads.Loads", "POST"): {"json": {"project_id": ids["project_id"], "vehicle": "浙A12345",
                                           "component_ids": [seeds["to_load"]["id"]]}},
        ("loads.LoadItems", "POST"): {"json": {"component_ids": [seeds["to_item"]["id"]]}},
        ("loads.LoadScans", "POST"): {"json": {"action": "load", "client_event_id": token,
                                               "location": {"latitude": 30.2,
                                                            "longitude": 120.1}}},
        ("models.ProjectModels", "POST"): {"data": {
            "file": (io.BytesIO(seeds["model"]), "second.ifc")},
            "content_type": "multipart/form-data"},
    }
    return bodies.get((endpoint, method)) or _body(endpoint, method, tenant, "admin")


def _target(rule, endpoint: str, method: str, tenant, seeds: dict, created: dict) -> str:
    values = {}
    if method == "DELETE" and endpoint in DELETES_CREATED:
        made, argument = DELETES_CREATED[endpoint]
        values = {argument: created[made]["id"]}
    elif endpoint == "loads.LoadItemById":  # the piece LoadItems put on the seeded load
        values = {"load_id": tenant.ids["load_id"], "component_id": seeds["to_item"]["id"]}
    elif endpoint == "loads.LoadScans":  # the load made with a piece ready to load
        values = {"load_id": created["loads.Loads"]["id"]}
    if values:
        return rule.build(values, append_unknown=False)[1]
    return _path(rule, "admin", tenant, own=True)


def _paths(rule, tenant) -> list[str]:
    """Every path of a read: each kind of a route that answers several."""
    kinds = re.search(r"<any\(([^)]*)\):kind>", rule.rule)
    if kinds is None:
        return [_path(rule, "admin", tenant, own=True)]
    values = {name: tenant.ids[name] for name in rule.arguments if name != "kind"}
    return [rule.build({**values, "kind": kind.strip()}, append_unknown=False)[1]
            for kind in kinds[1].split(",")]


def test_every_answer_is_what_the_document_says(app, world, tenants, document, monkeypatch):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    tenant = tenants["main"]
    seeds = _seed(world, tenant)
    operations = _api_operations(app, document)
    writes = {(rule.endpoint, method): rule for rule, method in operations if method != "GET"}
    assert sorted(writes) == sorted(WRITES), "a write the walk does not make (or no longer)"
    failures: list[str] = []
    answered: dict[tuple[str, str], int] = {}

    def call(rule, method: str, path: str, **request):
        capability = declared_capability(app.view_functions[rule.endpoint], method)
        role = _role(capability)
        client = world.app.test_client()
        if role is not None:
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {tenant.tokens[role]}"
        response = client.open(path, method=method, buffered=True, **request)
        answered[(rule.endpoint, method)] = response.status_code
        operation = document.operation(rule, method)
        if response.status_code >= 300:
            failures.append(f"{method} {path}: {response.status_code} "
                            f"{response.get_data()[:300]!r}")
        for problem in document.problems(operation, response):
            failures.append(f"{method} {path} ({response.status_code}): {problem}")
        return response

    read = {}
    for rule, method in operations:
        if method == "GET":
            for path in _paths(rule, tenant):
                read[rule.endpoint] = call(rule, method, path).get_json(silent=True)
    # The nested parts were there to check: a truck due, a piece on it, a truck loaded.
    assert read["loads.ProjectDeliveries"]["days"][0]["planned"]
    assert any(c["load"] for c in read["loads.StoreyReadiness"]["components"])
    assert "AggregationEvent" in {event["type"] for event in read["epcis.EpcisEvents"][
        "epcisBody"]["queryResults"]["resultsBody"]["eventList"]}
    epcis = next(rule for rule, method in operations if rule.endpoint == "epcis.EpcisEvents")
    assert call(epcis, "GET", epcis.rule, headers={"Accept": "application/ld+json"}) \
        .mimetype == "application/ld+json"

    created: dict = {}
    for endpoint, method in WRITES:
        rule = writes[(endpoint, method)]
        request = _write(endpoint, method, tenant, seeds)
        response = call(rule, method, _target(rule, endpoint, method, tenant, seeds, created),
                        **request)
        if method == "POST" and response.is_json:
            created.setdefault(endpoint, response.get_json())
        if (endpoint, method) == ("scans.Scans", "POST"):  # the same scan again: a replay
            assert call(rule, method, rule.rule, **request).status_code == 200
    # A load's code scanned at /scans acts on the whole load, and answers the load scan.
    scans = writes[("scans.Scans", "POST")]
    departed = call(scans, "POST", scans.rule, json={
        "code": created["loads.Loads"]["code"], "action": "depart",
        "client_event_id": uuid.uuid4().hex})
    assert set(departed.get_json()) == {"load", "scan", "events", "components"}

    # The geometry while a worker converts it: 202 and what it is doing.
    model_id = tenant.ids["model_id"]
    with app.app_context():
        from construction.services.models import geometry_key

        key = geometry_key(db.session.scalar(select(BimModel).where(BimModel.id == model_id)))
    (Path(app.config["PHOTO_DIR"]) / key).unlink()

    class Queue:
        def fetch_job(self, job_id):
            return None

        def enqueue(self, function, *args, **kwargs):
            pass

    from construction import jobs

    monkeypatch.setattr(jobs, "redis_queue", lambda app: Queue())
    app.config["JOBS"] = "rq"
    geometry = next(rule for rule, _ in operations if rule.endpoint == "models.ModelGeometry")
    assert call(geometry, "GET", _path(geometry, "admin", tenant, own=True)).status_code == 202

    assert failures == [], "\n".join(failures)
    assert len(answered) == len(operations)


def test_problems_are_answered_as_documented(app, world, document):
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "scans.Scans")
    operation = document.operation(rule, "POST")
    admin = world.client("admin")
    unknown = admin.post("/api/v1/scans", json={"code": "999999999", "action": "cast",
                                                "client_event_id": "phone-1-0001"})
    invalid = admin.post("/api/v1/scans", json={"code": "", "action": "fly"})
    assert (unknown.status_code, invalid.status_code) == (404, 422)
    for response in (unknown, invalid):
        assert response.mimetype == "application/problem+json"
        assert document.problems(operation, response) == []
