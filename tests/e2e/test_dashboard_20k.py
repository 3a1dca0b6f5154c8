"""A 20,000-component project in Chromium: the dashboard's counts and requests, the model page.

The project is seeded in bulk (services.seed.seed_project) into a database of its own,
served beside the demo's, so the other browser tests' counts hold; its model's geometry
is written directly (bim.synthetic.panels_glb), as converting 20,000 elements with
IfcOpenShell would take minutes.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, select

from bim.synthetic import Piece, panels_glb
from construction.extensions import db
from construction.models import (
    BimModel,
    Component,
    Organization,
    OrganizationKind,
    Role,
    Storey,
    User,
)
from tests.e2e.conftest import LiveServer, shot, sign_in

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

COMPONENTS = 20_000
PASSWORD = "twenty-thousand-pieces"


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """A server whose one project has 20,000 components and an imported model of them."""
    import flask_migrate
    from werkzeug.serving import make_server

    from construction.services.accounts import set_password
    from construction.services.models import geometry_key
    from construction.services.seed import seed_project
    from construction.storage import storage
    from tests.conftest import _app

    folder = tmp_path_factory.mktemp("large")
    app = _app(f"sqlite:///{folder / 'large.db'}", PHOTO_DIR=str(folder / "photos"),
               JOBS="inline", STORAGE="local", WTF_CSRF_SSL_STRICT=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    with app.app_context():
        flask_migrate.upgrade()
        maker = Organization(name="Scale Precast", kind=OrganizationKind.manufacturer,
                             region_code="330110")
        db.session.add(maker)
        db.session.flush()
        manager = User(name="demo-project-manager", organization=maker,
                       role=Role.project_manager)
        db.session.add(manager)
        db.session.commit()
        set_password(manager.id, PASSWORD)
        project_id = seed_project(COMPONENTS, [maker.id])
        rows = db.session.execute(select(Component.ifc_global_id, Storey.name)
                                  .join(Storey, Component.storey_id == Storey.id)
                                  .where(Component.project_id == project_id)
                                  .order_by(Component.id)).all()
        pieces = [Piece(mark="P", storey=int(storey.rstrip("F")) - 1, global_id=global_id)
                  for global_id, storey in rows]
        content = b"synthetic model of the scale project"
        model = BimModel(project_id=project_id, content_hash=hashlib.sha256(content).hexdigest(),
                         storage_key="models/none.ifc", original_name="scale.ifc",
                         size_bytes=len(content), schema="IFC4", status="done",
                         added=len(pieces), uploaded_by_user_id=manager.id)
        db.session.add(model)
        db.session.commit()
        storage().put(geometry_key(model), panels_glb(pieces), "model/gltf-binary")
        db.session.remove()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    live = LiveServer(app, f"http://127.0.0.1:{server.server_port}",
                      {"demo-project-manager": PASSWORD}, {}, folder, server)
    live.project_id = project_id
    yield live
    server.shutdown()
    with app.app_context():
        db.engine.dispose()


def _database_counts(server) -> tuple[dict, dict]:
    """Components per storey and state, and per storey and flag, counted row by row."""
    with server.app.app_context():
        states: dict[int, Counter] = defaultdict(Counter)
        flags: dict[int, Counter] = defaultdict(Counter)
        for storey_id, state, on_hold, damaged, ncr_open in db.session.execute(
                select(Component.storey_id, Component.state, Component.on_hold,
                       Component.damaged, Component.ncr_open)
                .where(Component.project_id == server.project_id)):
            states[storey_id][state] += 1
            flags[storey_id].update(name for name, value in (
                ("on_hold", on_hold), ("damaged", damaged), ("ncr_open", ncr_open)) if value)
        db.session.remove()
    return states, flags


API_REQUESTS = """() => performance.getEntriesByType('resource')
    .map((entry) => new URL(entry.name).pathname).filter((path) => path.startsWith('/api/'))"""


def test_the_dashboard_of_20000_components_counts_each_storey_in_three_requests(browser, large):
    page, errors = sign_in(browser, large, "project_manager")
    page.goto(f"/dashboard?project_id={large.project_id}")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=storey-row]').length"
                           " && !document.body.classList.contains('loading')")
    requests = page.evaluate(API_REQUESTS)
    assert len(requests) <= 3, requests
    assert f"/api/v1/projects/{large.project_id}/summary" in requests
    assert not any(path == "/api/v1/components" for path in requests)
    assert page.get_by_test_id("figure-total").locator(".figure-value").inner_text() == \
        f"{COMPONENTS:,}"
    # Each storey shows its count per state and its flags: what the rows say.
    drawn = page.locator("[data-testid=storey-row]").evaluate_all("""rows => rows.map(row => ({
        storey: Number(row.dataset.storeyId), total: Number(row.dataset.total),
        states: Object.fromEntries([...row.querySelectorAll('[data-testid=storey-state]')]
            .map((segment) => [segment.dataset.state, Number(segment.dataset.count)])),
        flags: Object.fromEntries([...row.querySelectorAll('[data-testid=storey-flag]')]
            .map((badge) => [badge.dataset.flag, Number(badge.textContent.match(/[\\d,]+$/)[0]
                .replace(/,/g, ''))])),
        cells: row.querySelectorAll('.cell').length}))""")
    states, flags = _database_counts(large)
    assert len(drawn) == len(states) == 120
    assert {row["storey"]: row["states"] for row in drawn} == \
        {storey: dict(counts) for storey, counts in states.items()}
    assert {row["storey"]: row["flags"] for row in drawn} == \
        {storey: dict(flags.get(storey, {})) for storey in states}
    assert sum(row["total"] for row in drawn) == COMPONENTS
    assert not any(row["cells"] for row in drawn), "no square per component at this size"
    assert page.get_by_test_id("flag-item").count() == 50
    shot(page, "dashboard-20000")

    # A storey's state opens its components on demand: one more request, that page only.
    row = page.locator("[data-testid=storey-row]").first
    segment = row.get_by_test_id("storey-state").first
    count = int(segment.get_attribute("data-count"))
    segment.click()
    row.locator(".storey-pieces .cell").first.wait_for()
    assert row.locator(".storey-pieces .cell").count() == min(count, 500)
    assert {cell for cell in row.locator(".storey-pieces .cell").evaluate_all(
        "cells => cells.map(cell => cell.dataset.state)")} == {segment.get_attribute("data-state")}
    assert len(page.evaluate(API_REQUESTS)) == len(requests) + 1
    assert errors == []
    page.context.close()


def test_the_model_page_of_20000_components_opens(browser, large):
    page, errors = sign_in(browser, large, "project_manager")
    page.goto(f"/projects/{large.project_id}/model")
    page.wait_for_selector("#viewer[data-ready=true]", timeout=60_000)
    assert page.evaluate("window.prefabModel.elements()") == COMPONENTS
    # The models, the geometry and the pieces' states: three requests, none a page of 500.
    requests = page.evaluate(API_REQUESTS)
    assert len(requests) == 3, requests
    assert any(path.endswith("/states") for path in requests)
    assert not any(path == "/api/v1/components" for path in requests)
    with large.app.app_context():
        global_id, state = db.session.execute(
            select(Component.ifc_global_id, Component.state)
            .where(Component.project_id == large.project_id, Component.state == "accepted")
            .order_by(Component.id).limit(1)).one()
        held = db.session.scalar(select(Component.ifc_global_id).where(
            Component.project_id == large.project_id, Component.on_hold.is_(True),
            Component.ncr_open.is_(False)).order_by(Component.id).limit(1))
        tracked = db.session.scalar(select(func.count()).select_from(Component).where(
            Component.project_id == large.project_id))
        db.session.remove()
    assert tracked == COMPONENTS
    colour = page.evaluate("(state) => { const probe = document.createElement('span');"
                           " probe.className = `hidden-probe st-${state}`;"
                           " document.body.append(probe);"
                           " const colour = getComputedStyle(probe).backgroundColor;"
                           " probe.remove(); return colour; }", state)
    red, green, blue = (int(part) for part in colour[colour.index("(") + 1:-1].split(",")[:3])
    assert page.evaluate("(id) => window.prefabModel.colourOf(id)", global_id) == \
        f"#{red:02x}{green:02x}{blue:02x}"
    assert page.evaluate("(id) => window.prefabModel.mark(id)", held) == "hold"
    shot(page, "model-20000")
    assert errors == [], errors
    page.context.close()
