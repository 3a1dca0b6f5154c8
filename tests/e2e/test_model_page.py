"""The model page in Chromium: a small model drawn in the states' colours, a click opens a card."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bim.synthetic import Piece, build_model, precast_pieces
from construction.extensions import db
from construction.models import Component, Project, Role, User
from construction.services.accounts import principal_of_user
from construction.services.models import convert_geometry, import_model, submit_model
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

# The dashboard's colours (app.css .st-<state>).
PLANNED, CAST = "#e4e8ee", "#cfe0f5"


@pytest.fixture(scope="module")
def modelled(live_server) -> dict:
    """A demo project with a six-piece model on two storeys; one piece cast, one on hold."""
    pieces = precast_pieces(6, storeys=2)
    pieces[0] = Piece("E2E/1", storey=0, parts=2, global_id=pieces[0].global_id)
    model = build_model(pieces, schema="IFC2X3", storeys=2, geometry=True)
    # Into the demo's own building and storeys: the other browser tests count buildings.
    model.by_type("IfcBuilding")[0].Name = "1#楼 Block 1"
    for index, storey in enumerate(model.by_type("IfcBuildingStorey")):
        storey.Name = f"{index + 1}F"
    data = model.to_string().encode()
    app = live_server.app
    with app.app_context():
        project_id = db.session.scalar(select(Project.id).order_by(Project.id))
        admin = db.session.scalar(select(User.id).where(User.role == Role.admin))
        model, _ = submit_model(principal_of_user(admin), project_id, "e2e.ifc", data)
        assert import_model(model.id).status == "done"
        convert_geometry(model.id)
        components = {c.ifc_global_id: {"id": c.id, "code": c.code, "mark": c.mark}
                      for c in db.session.scalars(select(Component).where(
                          Component.bim_model_id == model.id))}
        db.session.remove()
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {live_server.tokens['admin']}"
    for global_id, action in ((pieces[0].global_id, "cast"), (pieces[1].global_id, "hold")):
        response = client.post("/api/v1/scans", json={
            "code": components[global_id]["code"], "action": action,
            "client_event_id": f"e2e-model-{global_id}"})
        assert response.status_code in (200, 201), response.get_json()
    return {"project_id": project_id, "pieces": pieces, "components": components}


def _open(page, modelled) -> None:
    page.goto(f"/projects/{modelled['project_id']}/model")
    page.wait_for_selector("#viewer[data-ready=true]", timeout=30000)


def test_the_model_is_drawn_in_state_colours_and_a_click_opens_the_card(
        browser, live_server, modelled, tmp_path):
    page, errors = sign_in(browser, live_server, "project_manager")
    _open(page, modelled)
    cast, held, planned = (p.global_id for p in modelled["pieces"][:3])
    assert page.evaluate("window.prefabModel.elements()") == 6
    colour = "(id) => window.prefabModel.colourOf(id)"
    assert page.evaluate(colour, cast) == CAST
    assert page.evaluate(colour, planned) == PLANNED
    assert page.evaluate("(id) => window.prefabModel.mark(id)", held) == "hold"
    assert page.evaluate("(id) => window.prefabModel.mark(id)", planned) is None
    legend = page.inner_text("[data-testid=legend]")
    assert "Cast" in legend and "Planned" in legend and "On hold" in legend
    # The canvas shows the cast colour somewhere (drawn, not only assigned).
    page.screenshot(path=str(tmp_path / "model.png"))
    assert (tmp_path / "model.png").stat().st_size > 0
    point = page.evaluate("(id) => window.prefabModel.screenPoint(id)", cast)
    page.mouse.click(point["x"], point["y"])
    card = page.locator("[data-testid=element-card]")
    card.wait_for(state="visible")
    assert "E2E/1" in card.inner_text()
    assert page.inner_text("[data-testid=card-state]") == "Cast"
    history = page.get_attribute("[data-testid=card-history]", "href")
    assert history == f"/components/{modelled['components'][cast]['id']}"
    page.screenshot(path=str(tmp_path / "model-card.png"))
    # Search by mark narrows to one piece and opens its card.
    page.fill("[data-testid=model-search]", "W/3")
    page.wait_for_selector("[data-testid=element-card] h2:text-is('W/3')")
    # Storey isolation hides the other storey.
    page.fill("[data-testid=model-search]", "")
    page.select_option("[data-testid=storey-select]", "2F")
    page.check("[data-testid=isolate]")
    visible = page.evaluate("(ids) => ids.map((id) => window.prefabModel.visible(id))",
                            [p.global_id for p in modelled["pieces"]])
    assert visible == [p.storey == 1 for p in modelled["pieces"]]
    # The card's history link opens the component's page (W/3's, the last card opened).
    third = modelled["components"][modelled["pieces"][2].global_id]["id"]
    page.click("[data-testid=card-history]")
    page.wait_for_url(f"**/components/{third}")
    assert errors == []
    page.context.close()


def test_the_page_speaks_chinese_and_the_dashboard_links_to_it(browser, live_server, modelled):
    page, errors = sign_in(browser, live_server, "regulator", locale="zh-CN")
    page.goto(f"/dashboard?project_id={modelled['project_id']}")
    link = page.locator("[data-testid=model-link]")
    link.wait_for(state="visible")
    assert link.inner_text() == "建筑模型（3D）"
    link.click()
    page.wait_for_selector("#viewer[data-ready=true]", timeout=30000)
    assert page.inner_text("h1").startswith("建筑模型")
    assert "已浇筑" in page.inner_text("[data-testid=legend]") or \
        "浇筑" in page.inner_text("[data-testid=legend]")
    assert errors == []
    page.context.close()
