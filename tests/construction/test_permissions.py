"""One permission layer: every route declares a capability, and the role x route x tenant matrix.

Two tenants ("main": three organizations in region 330106, overseen by the regulator
of 3301; "far": one organization in 440106, overseen by the regulator of 4401), every
role in each, every route and method of the app. Each user calls every route on the
objects of its own tenant and of the other one:

- a role without the route's capability gets 403, whatever the object;
- with it, its own tenant's objects answer (not 401/403/404, never 5xx);
- the other tenant's objects do not exist for it (404), lists and exports show
  nothing of the other tenant, and a write aimed at the other tenant changes
  nothing there.

Admins operate the platform and see every tenant: for them both tenants are their own.
"""

from __future__ import annotations

import functools
import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from bim.synthetic import build_model, precast_pieces
from construction import lifecycle
from construction.extensions import db
from construction.models import (
    Alert,
    Building,
    ChecklistTemplate,
    Component,
    ComponentType,
    Event,
    Finding,
    GateOverride,
    Inspection,
    Label,
    Mould,
    Organization,
    Photo,
    Pour,
    Project,
    SecurityEvent,
    Storey,
    StrengthResult,
    User,
    WebhookDelivery,
    WebhookSubscription,
)
from construction.models import Role as RoleEnum
from construction.permissions import (
    CAPABILITIES,
    FRAMEWORK_ENDPOINTS,
    PUBLIC,
    declared_capability,
    may,
    readable_project_ids,
    role_may,
    writable_project_ids,
)
from construction.services.accounts import issue_token, set_password
from tests.construction.test_pages import _form_token

PASSWORD = "correct-horse-battery"
BASE = "http://127.0.0.1:8000"
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def _routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted(rule.methods - SKIPPED_METHODS):
            yield rule, method


def test_every_route_declares_a_capability(app):
    undeclared = [f"{method} {rule.rule} ({rule.endpoint})" for rule, method in _routes(app)
                  if rule.endpoint not in FRAMEWORK_ENDPOINTS
                  and declared_capability(app.view_functions[rule.endpoint], method) is None]
    assert undeclared == []


def test_every_capability_is_declared_somewhere_and_names_known_roles(app):
    declared = {declared_capability(app.view_functions[rule.endpoint], method)
                for rule, method in _routes(app) if rule.endpoint not in FRAMEWORK_ENDPOINTS}
    # Checked inside services rather than by a route of their own.
    # `metrics` is checked by GET /metrics itself, which loopback callers read without a token.
    checked_by_services = {"project.move_region", "label.reprint", "webhook.checkpoints",
                           "metrics"}
    assert set(CAPABILITIES) - declared - checked_by_services == set()
    for capability, roles in CAPABILITIES.items():
        assert roles <= set(lifecycle.ROLES), capability


def test_a_route_that_declares_nothing_is_refused(app, world):
    # The check fails closed: a view without a declaration answers 403 to everyone.
    from construction.api.projects import Projects

    declared = Projects.get.capability
    try:
        del Projects.get.capability
        response = world.client("admin").get("/api/v1/projects")
        assert response.status_code == 403
    finally:
        Projects.get.capability = declared


def test_scopes_regulators_read_their_region_and_write_nothing(app, world):
    with app.app_context():
        from construction.services.accounts import principal_of_user

        regulator = principal_of_user(world.ids["user_regulator"])
        worker = principal_of_user(world.ids["user_factory_worker"])
        readable = set(db.session.scalars(readable_project_ids(regulator)))
        assert readable == {world.ids["project_main"]}
        assert set(db.session.scalars(writable_project_ids(regulator))) == set()
        assert set(db.session.scalars(writable_project_ids(worker))) == \
            set(db.session.scalars(readable_project_ids(worker))) == {world.ids["project_main"]}
        assert may(None, PUBLIC) and not may(None, "project.read")
        # A regulator whose organization lost its region reads nothing, not everything.
        regional = db.session.get(Organization, world.ids["org_regulator"])
        regional.region_code = ""
        db.session.flush()
        assert set(db.session.scalars(readable_project_ids(
            principal_of_user(world.ids["user_regulator"])))) == set()
        db.session.rollback()


# --- the matrix ------------------------------------------------------------------------------


@dataclass
class Tenant:
    """One tenant's objects, its users' tokens and what would betray it in an answer."""

    key: str
    ids: dict[str, int] = field(default_factory=dict)
    code: str = ""
    label_url: str = ""
    label_png: bytes = b""
    tokens: dict[str, str] = field(default_factory=dict)  # role -> token
    users: dict[str, int] = field(default_factory=dict)  # role -> user id
    subscription_of: dict[int, int] = field(default_factory=dict)  # organization -> subscription
    delivery_of: dict[int, int] = field(default_factory=dict)  # subscription -> delivery
    organization_of: dict[str, int] = field(default_factory=dict)  # role -> organization

    @property
    def markers(self) -> tuple[str, ...]:
        return (self.code, f"P-{self.key.upper()}", f"Building-{self.key}")


def _jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(60, 200, (240, 320, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


MATRIX_ITEM = {"key": "surface", "text_en": "Surface", "text_zh": "外观", "kind": "pass_fail"}


@functools.cache
def _model_file() -> bytes:
    return build_model(precast_pieces(3, storeys=1)).to_string().encode()


def _build_tenant(world, key: str, users: dict[str, str]) -> Tenant:
    app = world.app
    tenant = Tenant(key)
    admin = world.client("admin")
    for name in ("project", "building", "storey", "type"):
        tenant.ids[f"{name}_id"] = world.ids[f"{name}_{key}"]
    with app.app_context():
        db.session.get(Building, tenant.ids["building_id"]).name = f"Building-{key}"
        db.session.commit()
    component = world.component("demoulded", project=key)
    tenant.ids["component_id"], tenant.code = component["id"], component["code"]
    label = world.label(component["id"])
    tenant.label_url = label["url"]
    load = admin.post("/api/v1/loads", json={"project_id": tenant.ids["project_id"]})
    assert load.status_code == 201, load.get_json()
    tenant.ids["load_id"] = load.get_json()["id"]
    tenant.label_png = admin.get(f"/api/v1/components/{component['id']}/label.png").data
    uploaded = admin.post("/api/v1/photos", data={
        "project_id": str(tenant.ids["project_id"]),
        "image": (io.BytesIO(_jpeg(len(key))), f"{key}.jpg")},
        content_type="multipart/form-data")
    assert uploaded.status_code in (200, 201, 202), uploaded.get_json()
    tenant.ids["photo_id"] = uploaded.get_json()["items"][0]["id"]
    planned = world.component("planned", project=key)
    with app.app_context():
        maker = world.ids["org_maker" if key == "main" else "org_other_maker"]
        db.session.add(Mould(organization_id=maker, name="M-matrix"))
        db.session.add(ChecklistTemplate(component_type_id=tenant.ids["type_id"],
                                         stage="pre_delivery", items=[MATRIX_ITEM]))
        db.session.commit()
    poured = admin.post("/api/v1/pours", json={
        "mould": "M-matrix", "concrete_grade": "C30", "cast_at": "2026-11-25T08:00:00+08:00",
        "component_ids": [planned["id"]]})
    assert poured.status_code == 201, poured.get_json()
    tenant.ids["pour_id"] = poured.get_json()["id"]
    imported = admin.post(f"/api/v1/projects/{tenant.ids['project_id']}/models", data={
        "file": (io.BytesIO(_model_file()), f"{key}.ifc")}, content_type="multipart/form-data")
    assert imported.status_code in (200, 202), imported.get_json()
    tenant.ids["model_id"] = imported.get_json()["id"]
    with app.app_context():
        for role, user_name in users.items():
            user = db.session.scalar(select(User).where(User.name == user_name))
            tenant.users[role] = user.id
            tenant.organization_of[role] = user.organization_id
            tenant.tokens[role] = world.tokens.get(user_name.removeprefix("user-")) \
                or issue_token(user.id, name="matrix")[1]
            set_password(user.id, PASSWORD)
        finding = Finding(photo_id=tenant.ids["photo_id"], kind="crack",
                          component_id=component["id"], project_id=tenant.ids["project_id"],
                          detail={"length_px": 40})
        alert = Alert(kind="label-invalid", project_id=tenant.ids["project_id"],
                      component_id=component["id"], open_key=f"matrix-{key}",
                      detail={"reason": "signature"})
        security_event = SecurityEvent(
            kind="label-invalid", reason="signature", scanned_text=tenant.label_url + "x",
            component_id=component["id"], user_id=tenant.users["factory_worker"],
            organization_id=tenant.organization_of["factory_worker"])
        db.session.add_all([finding, alert, security_event])
        event_id = db.session.scalar(select(Event.id).where(
            Event.component_id == component["id"]).limit(1))
        for role, organization_id in tenant.organization_of.items():
            if organization_id in tenant.subscription_of:
                continue
            regulator = role == "regulator"
            subscription = WebhookSubscription(
                organization_id=organization_id, created_by_user_id=tenant.users[role],
                url=f"https://hooks.example.com/{key}/{role}", secret="whsec_matrix",
                actions=None, project_id=None if regulator else tenant.ids["project_id"],
                region_code=db.session.get(Organization, organization_id).region_code
                if regulator else None, active=True, after_sequence=0,
                created_at=datetime.now(UTC))
            db.session.add(subscription)
            db.session.flush()
            delivery = WebhookDelivery(subscription_id=subscription.id, event_id=event_id,
                                       status="failed", attempts=1)
            db.session.add(delivery)
            db.session.flush()
            tenant.subscription_of[organization_id] = subscription.id
            tenant.delivery_of[subscription.id] = delivery.id
        db.session.commit()
        tenant.ids["finding_id"], tenant.ids["alert_id"] = finding.id, alert.id
    return tenant


@pytest.fixture
def tenants(world):
    with world.app.app_context():
        other = db.session.get(Organization, world.ids["org_other_maker"])
        for role in ("qc_inspector", "site_supervisor"):
            db.session.add(User(name=f"user-far-{role}", organization=other,
                                role=RoleEnum(role)))
        db.session.commit()
    main = _build_tenant(world, "main", {
        "admin": "user-admin", "project_manager": "user-project_manager",
        "factory_worker": "user-factory_worker", "qc_inspector": "user-qc_inspector",
        "site_supervisor": "user-site_supervisor", "regulator": "user-regulator"})
    far = _build_tenant(world, "far", {
        "project_manager": "user-other-manager", "factory_worker": "user-other-worker",
        "qc_inspector": "user-far-qc_inspector", "site_supervisor": "user-far-site_supervisor",
        "regulator": "user-far-regulator"})
    far.tokens["admin"], far.users["admin"] = main.tokens["admin"], main.users["admin"]
    far.organization_of["admin"] = main.organization_of["admin"]
    return {"main": main, "far": far}


def _action_for(role: str) -> str:
    return next(name for name in lifecycle.RECORDED_ACTIONS if lifecycle.role_may(role, name)) \
        if lifecycle.role_actions(role) else "cast"


def _load_action_for(role: str) -> str:
    # A role with no load action sends one of its own, which a load refuses (422).
    return next((name for name in ("load", "arrive") if lifecycle.role_may(role, name)),
                _action_for(role))


def _epcis_document(tenant: Tenant) -> dict:
    return {"@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-11-25T10:00:00+08:00",
            "epcisBody": {"eventList": [{
                "type": "ObjectEvent", "eventTime": "2026-11-25T10:00:00+08:00",
                "eventTimeZoneOffset": "+08:00", "epcList": [f"{BASE}/c/{tenant.code}"],
                "action": "OBSERVE", "bizStep": "inspecting", "disposition": "conformant"}]}}


# What each write sends (keyword arguments of the test client's open).
def _body(endpoint: str, method: str, target: Tenant, role: str) -> dict:
    ids = target.ids
    token = uuid.uuid4().hex
    bodies = {
        ("alerts.AlertClose", "POST"): {"json": {"status": "dismissed", "note": "matrix"}},
        ("components.Components", "POST"): {"json": {
            "project_id": ids["project_id"], "component_type_id": ids["type_id"],
            "mark": f"M-{token[:6]}"}},
        ("components.ComponentById", "PATCH"): {"json": {"mark": f"M-{token[:6]}"}},
        ("components.ComponentImport", "POST"): {
            "data": b"mark,type\nIMP-" + token[:6].encode() + b",Wall\n",
            "content_type": "text/csv"},
        ("decode.Decode", "POST"): {"data": {"image": (io.BytesIO(target.label_png), "l.png")},
                                    "content_type": "multipart/form-data"},
        ("epcis.EpcisCapture", "POST"): {"json": _epcis_document(target)},
        ("labels.ComponentLabels", "POST"): {"json": {"reprint": False}},
        ("labels.ComponentLabelImage", "POST"): {},
        ("labels.LabelSheets", "POST"): {"json": {"component_ids": [ids["component_id"]]}},
        ("ledger.Checkpoints", "POST"): {},
        ("loads.Loads", "POST"): {"json": {"project_id": ids["project_id"]}},
        ("loads.LoadById", "PATCH"): {"json": {"driver": f"Driver {token[:6]}"}},
        ("loads.LoadItems", "POST"): {"json": {"component_ids": [ids["component_id"]]}},
        ("loads.LoadItemById", "DELETE"): {},
        ("loads.LoadScans", "POST"): {"json": {"action": _load_action_for(role),
                                               "client_event_id": token}},
        ("loads.LoadPlans", "POST"): {"json": {"storey_ids": [ids["storey_id"]],
                                               "max_weight_kg": 30000}},
        ("photos.Photos", "POST"): {"data": {
            "project_id": str(ids["project_id"]),
            "image": (io.BytesIO(_jpeg(hash(token) % 1000)), "p.jpg")},
            "content_type": "multipart/form-data"},
        ("photos.PhotoReanalyse", "POST"): {},
        ("pours.Moulds", "POST"): {"json": {"name": f"M-{token[:6]}"}},
        ("pours.Pours", "POST"): {"json": {
            "mould": "M-matrix", "concrete_grade": "C30", "cast_at": "2026-11-25T08:00:00Z",
            "component_ids": [ids["component_id"]]}},
        ("pours.PourStrengthResults", "POST"): {"json": {
            "specimen": f"S-{token[:6]}", "age_days": 7, "strength_mpa": 25.0,
            "tested_at": "2026-12-02T08:00:00+08:00"}},
        ("pours.StrengthImport", "POST"): {
            "data": (f"pour_id,specimen,age_days,tested_at,strength_mpa\n{ids['pour_id']},"
                     f"I-{token[:6]},7,2026-12-02T08:00:00+08:00,25.5\n").encode(),
            "content_type": "text/csv"},
        ("pours.Checklists", "POST"): {"json": {"stage": "pre_delivery",
                                                "items": [MATRIX_ITEM]}},
        ("pours.ComponentInspections", "POST"): {"json": {
            "stage": "pre_delivery", "results": [{"key": "surface", "passed": True}]}},
        ("pours.GateOverrides", "POST"): {"json": {"gate": "delivery_strength",
                                                   "reason": "matrix"}},
        ("models.ProjectModels", "POST"): {"data": {
            "file": (io.BytesIO(_model_file()), "m.ifc")}, "content_type": "multipart/form-data"},
        ("photos.FindingDecision", "POST"): {"json": {"note": "matrix"}},
        ("projects.Projects", "POST"): {"json": {"code": f"P-{token[:8]}", "name": "Matrix",
                                                 "region_code": "330106"}},
        ("projects.ProjectById", "PATCH"): {"json": {"name": f"Project {target.key}"}},
        ("projects.ProjectById", "DELETE"): {},
        ("projects.Buildings", "POST"): {"json": {"name": f"B-{token[:6]}"}},
        ("projects.BuildingById", "PATCH"): {"json": {"name": f"Building-{target.key}"}},
        ("projects.BuildingById", "DELETE"): {},
        ("projects.Storeys", "POST"): {"json": {"name": f"S-{token[:6]}", "elevation_m": 3.0}},
        ("projects.StoreyById", "PATCH"): {"json": {"name": "1F"}},
        ("projects.StoreyById", "DELETE"): {},
        ("projects.ComponentTypes", "POST"): {"json": {
            "name": f"T-{token[:6]}", "category": "wall_panel"}},
        ("projects.ComponentTypeById", "PATCH"): {"json": {"name": "Wall"}},
        ("projects.ComponentTypeById", "DELETE"): {},
        ("scans.Scans", "POST"): {"json": {"code": target.code, "action": _action_for(role),
                                           "client_event_id": token}},
        ("scans.ScanBatch", "POST"): {"json": {"items": [{
            "code": target.label_url, "action": _action_for(role), "client_event_id": token}]}},
        ("webhooks.Webhooks", "POST"): {"json": {
            "url": "https://hooks.example.com/new", "project_id": ids["project_id"]}},
        ("webhooks.WebhookById", "PATCH"): {"json": {"active": True}},
        ("webhooks.WebhookById", "DELETE"): {},
        ("webhooks.WebhookDeliveryRetry", "POST"): {},
    }
    if method == "GET":
        return {}
    return bodies[(endpoint, method)]


def _path(rule, actor: str, target: Tenant, own: bool) -> str | None:
    values = {}
    for name in rule.arguments:
        if name in target.ids:
            values[name] = target.ids[name]
        elif name == "kind":
            values[name] = "png"
        elif name == "decision":
            values[name] = "dismiss"
        elif name in ("subscription_id", "delivery_id"):
            organization = target.organization_of.get(actor) if own else None
            subscription = target.subscription_of.get(organization) \
                or next(iter(target.subscription_of.values()))
            values["subscription_id"] = subscription
            values["delivery_id"] = target.delivery_of[subscription]
        else:
            return None
    return rule.build(values, append_unknown=False)[1]


def _fingerprint(app, tenant: Tenant) -> tuple:
    """Everything of a tenant a write could change."""
    project_id, component_id = tenant.ids["project_id"], tenant.ids["component_id"]
    components = select(Component.id).where(Component.project_id == project_id)
    counts = (
        select(func.count()).select_from(Component).where(Component.project_id == project_id),
        select(func.count()).select_from(Event).where(Event.component_id.in_(components)),
        select(func.count()).select_from(Label).where(Label.component_id.in_(components)),
        select(func.count()).select_from(Alert).where(Alert.project_id == project_id),
        select(func.count()).select_from(SecurityEvent).where(
            SecurityEvent.component_id.in_(components)),
        select(func.count()).select_from(Photo).where(Photo.project_id == project_id),
        select(func.count()).select_from(Building).where(Building.project_id == project_id),
        select(func.count()).select_from(ComponentType).where(
            ComponentType.project_id == project_id),
        select(func.count()).select_from(Storey).join(Building).where(
            Building.project_id == project_id),
        select(func.count()).select_from(WebhookSubscription).where(
            WebhookSubscription.project_id == project_id),
        select(func.count()).select_from(Pour).where(Pour.project_id == project_id),
        select(func.count()).select_from(StrengthResult).where(StrengthResult.pour_id.in_(
            select(Pour.id).where(Pour.project_id == project_id))),
        select(func.count()).select_from(Inspection).where(
            Inspection.component_id.in_(components)),
        select(func.count()).select_from(GateOverride).where(
            GateOverride.component_id.in_(components)),
        select(func.count()).select_from(ChecklistTemplate).where(
            ChecklistTemplate.component_type_id == tenant.ids["type_id"]),
    )
    with app.app_context():
        project = db.session.get(Project, project_id)
        component = db.session.get(Component, component_id)
        return (tuple(db.session.scalar(count) for count in counts),
                project.name, project.region_code, component.mark, component.version,
                db.session.get(Finding, tenant.ids["finding_id"]).status,
                db.session.get(Alert, tenant.ids["alert_id"]).status,
                db.session.get(Building, tenant.ids["building_id"]).name,
                db.session.get(Storey, tenant.ids["storey_id"]).name,
                db.session.get(ComponentType, tenant.ids["type_id"]).name,
                tuple(db.session.execute(select(WebhookSubscription.id,
                                                WebhookSubscription.active)
                                         .where(WebhookSubscription.id.in_(
                                             tenant.subscription_of.values()))
                                         .order_by(WebhookSubscription.id)).all()),
                tuple(db.session.execute(select(WebhookDelivery.id, WebhookDelivery.status,
                                                WebhookDelivery.next_attempt_at)
                                         .where(WebhookDelivery.id.in_(
                                             tenant.delivery_of.values()))
                                         .order_by(WebhookDelivery.id)).all()))


def _call(app, token: str, method: str, path: str, body: dict):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.open(path, method=method, buffered=True, **body)


def _page_client(app, user_name: str):
    client = app.test_client()
    response = client.post("/login", data={"name": user_name, "password": PASSWORD,
                                           "csrf_token": _form_token(client)})
    assert response.status_code == 302, user_name
    return client


def _shows(response, tenant: Tenant) -> list[str]:
    """Return what an answer shows of a tenant: its markers in the text, its ids in JSON."""
    text = response.get_data(as_text=True)
    shown = [marker for marker in tenant.markers if marker and marker in text]
    references = {name: tenant.ids[name] for name in (
        "project_id", "component_id", "photo_id", "storey_id", "building_id")}

    def walk(value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in references and references[key] == item:
                    shown.append(f"{key}={item}")
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(response.get_json(silent=True))
    return shown


def _check_cross_write(endpoint: str, response, target: Tenant) -> str | None:
    """Return what is wrong with the answer to a write aimed at another tenant's objects."""
    answer = response.get_json(silent=True) or {}
    if endpoint == "decode.Decode":
        found = [code for code in answer.get("codes", []) if code.get("component")]
        return f"decode named {found}" if found else None
    if endpoint == "scans.ScanBatch":
        results = answer.get("results", [])
        if not results or results[0].get("outcome") != "rejected":
            return f"batch item not rejected: {answer}"
        return None
    if endpoint == "pours.StrengthImport":  # rows naming unknown pours: nothing imported
        return None if response.status_code == 422 else f"{response.status_code}: {answer}"
    if endpoint == "epcis.EpcisCapture":  # the one event names an EPC of no reachable piece
        counts = {key: answer.get(key) for key in ("accepted", "partial", "rejected")}
        return None if counts == {"accepted": 0, "partial": 0, "rejected": 1} else \
            f"{response.status_code}: {answer}"
    return None if response.status_code == 404 else \
        f"{response.status_code} instead of 404: {answer}"


# Calls that aim at no tenant: creating a project, sealing the (one) ledger, a mould of
# the caller's own plant.
UNTARGETED = {("projects.Projects", "POST"), ("ledger.Checkpoints", "POST"),
              ("pours.Moulds", "POST")}


def _judge(rule, method: str, capability: str, role: str, target: Tenant, own: bool,
           response) -> str | None:
    """Return what is wrong with one answer of the matrix, or None."""
    status = response.status_code
    if status >= 500:
        return f"{status}"
    if not role_may(role, capability):
        return None if status == 403 else f"{status}, the role lacks {capability}"
    if own:
        return f"{status} {response.get_data()[:200]}" if status in (401, 403, 404) else None
    if any(name in target.ids or name in ("subscription_id", "delivery_id")
           for name in rule.arguments):
        return None if status == 404 else f"{status} instead of 404"
    if method == "GET":
        shown = _shows(response, target)
        return f"shows {shown}" if shown else None
    return _check_cross_write(rule.endpoint, response, target)


def _run_actor(app, tenants, home_key: str, role: str, failures: list[str]) -> int:
    home = tenants[home_key]
    other = tenants["far" if home_key == "main" else "main"]
    pages = None
    checked = 0
    for rule, method in _routes(app):
        if rule.endpoint in FRAMEWORK_ENDPOINTS:
            continue
        capability = declared_capability(app.view_functions[rule.endpoint], method)
        if capability == PUBLIC:
            continue
        for target, own in ((home, True), (other, role == "admin")):
            path = _path(rule, role, target, own)
            if path is None or (not own and (rule.endpoint, method) in UNTARGETED):
                continue
            before = None
            if not rule.rule.startswith("/api/"):
                pages = pages or _page_client(app, _user_name(app, home.users[role]))
                response = pages.open(path, method=method, buffered=True)
            else:
                if not own and method != "GET":
                    before = _fingerprint(app, target)
                response = _call(app, home.tokens[role], method, path,
                                 _body(rule.endpoint, method, target, role))
            checked += 1
            where = f"{role}@{home_key} {method} {path} -> {target.key}"
            if problem := _judge(rule, method, capability, role, target, own, response):
                failures.append(f"{where}: {problem}")
            if before is not None and _fingerprint(app, target) != before:
                failures.append(f"{where}: changed the other tenant")
    return checked


def test_role_route_tenant_matrix(app, world, tenants):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    failures: list[str] = []
    # One platform admin, for whom both tenants are its own; last, as what it
    # creates (in its own organization) is then no one else's concern.
    actors = [(home, role) for home in ("main", "far") for role in lifecycle.ROLES
              if role != "admin"] + [("main", "admin")]
    checked = sum(_run_actor(app, tenants, home, role, failures) for home, role in actors)
    assert failures == [], "\n".join(failures)
    assert checked > 500



def _user_name(app, user_id: int) -> str:
    with app.app_context():
        return db.session.get(User, user_id).name


def test_the_readme_shows_the_table_as_it_is():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    shown = {}
    for line in readme.splitlines():
        match = re.fullmatch(r"\| `([a-z_.]+)` \|(.*)\|", line)
        if match and match.group(1) in CAPABILITIES:
            cells = [cell.strip() for cell in match.group(2).split("|")]
            shown[match.group(1)] = frozenset(
                role for role, cell in zip(lifecycle.ROLES, cells, strict=True) if cell == "✓")
    assert shown == CAPABILITIES
