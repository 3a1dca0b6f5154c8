"""The dashboard and the component history page in Chromium, checked against the database."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from construction.extensions import db
from construction.models import Building, Component, Event, Storey
from construction.services.alerts import raise_alert
from construction.services.reports import COMPONENT_HEADER, EVENT_HEADER
from tests.e2e.conftest import PHONE, shot, sign_in

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

CHART_DRAWN = """(id) => {
    const canvas = document.getElementById(id);
    const chart = window.Chart && Chart.getChart(canvas);
    if (!chart || !canvas.width) return 0;
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
    return painted;
}"""


def read(server, query):
    """Run a query in the live server's app and return all rows."""
    with server.app.app_context():
        rows = db.session.execute(query).all()
        db.session.remove()
    return rows


def building_components(server, building_id: int) -> dict[int, dict]:
    """The building's components by id: state and flags, as the grid must show them."""
    rows = read(server, select(Component.id, Component.mark, Component.state,
                               Component.on_hold, Component.damaged, Component.ncr_open,
                               Storey.id.label("storey_id"))
                .join(Storey, Component.storey_id == Storey.id)
                .where(Storey.building_id == building_id))
    return {row.id: dict(row._mapping) for row in rows}


@pytest.fixture(scope="module")
def buildings(live_server) -> list[dict]:
    rows = read(live_server, select(Building.id, Building.name, Building.project_id)
                .order_by(Building.id))
    assert len(rows) == 2, "the demo has two buildings"
    return [dict(row._mapping) for row in rows]


@pytest.fixture(scope="module")
def watched(live_server, buildings) -> dict:
    """An accepted component with an open alert and a photo of it, for the lists and evidence."""
    building = buildings[-1]
    component_id = read(live_server, select(func.max(Component.id))
                        .join(Storey, Component.storey_id == Storey.id)
                        .where(Storey.building_id == building["id"],
                               Component.state == "accepted"))[0][0]
    with live_server.app.app_context():
        component = db.session.get(Component, component_id)
        raise_alert("copy-installed-elsewhere", component.id, component.project_id, None,
                    {"note": "browser test"}, datetime.now(UTC))
        db.session.commit()
        mark = component.mark
        db.session.remove()
    rng = np.random.default_rng(7)
    concrete = rng.normal(150, 12, (900, 1200)).clip(0, 255).astype(np.uint8)
    ok, png = cv2.imencode(".png", concrete)
    assert ok
    client = live_server.app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {live_server.tokens['site_supervisor']}"
    response = client.post("/api/v1/photos", data={
        "component_id": str(component_id),
        "image": (io.BytesIO(png.tobytes()), "panel.png", "image/png")},
        content_type="multipart/form-data")
    assert response.status_code in (200, 202), response.get_data(as_text=True)
    return {"id": component_id, "mark": mark, "building_id": building["id"],
            "photo_id": response.get_json()["items"][0]["id"]}


def open_dashboard(page, building_id: int | None = None) -> None:
    page.goto("/dashboard")
    page.get_by_test_id("grid-cell").first.wait_for()
    if building_id is not None:
        page.select_option("#building", str(building_id))
        page.wait_for_url(re.compile(rf"building_id={building_id}"))
        page.locator(f"[data-testid=grid-building][data-building-id='{building_id}']").wait_for()
    page.wait_for_function("() => !document.body.classList.contains('loading')")
    for chart in ("chart-states", "chart-time"):
        page.wait_for_function(f"() => ({CHART_DRAWN})('{chart}') > 2000")


@pytest.mark.parametrize("role", ["regulator", "project_manager"])
def test_the_dashboard_draws_its_charts_figures_and_grid(browser, live_server, buildings,
                                                          watched, role):
    page, errors = sign_in(browser, live_server, role)
    open_dashboard(page)
    total = read(live_server, select(func.count()).select_from(Component))[0][0]
    by_state = dict(read(live_server, select(Component.state, func.count())
                         .group_by(Component.state)))
    chart = page.evaluate("""() => { const chart = Chart.getChart('chart-states');
        return {labels: chart.data.labels, data: chart.data.datasets[0].data}; }""")
    assert sum(chart["data"]) == total
    assert dict(zip(chart["labels"], chart["data"], strict=True))["Installed"] == \
        by_state.get("installed", 0)
    time_chart = page.evaluate("Chart.getChart('chart-time').data.datasets.map(d => d.label)")
    assert time_chart == ["Installed in total", "Planned", "Installed that day"]
    assert page.get_by_test_id("figure-total").locator(".figure-value").inner_text() == \
        f"{total:,}"
    installed = sum(by_state.get(name, 0) for name in ("installed", "connected", "accepted"))
    assert page.get_by_test_id("figure-installed").locator(".figure-value").inner_text() == \
        f"{installed:,}"
    # Every building is drawn, each with as many cells as it has components.
    for building in buildings:
        block = page.locator(f"[data-testid=grid-building][data-building-id='{building['id']}']")
        expected = building_components(live_server, building["id"])
        assert block.get_by_test_id("grid-cell").count() == len(expected)
    # The open NCRs and the alert link to their components.
    ncr_ids = {row.id for row in read(live_server, select(Component.id)
                                      .where(Component.ncr_open.is_(True)))}
    listed = page.get_by_test_id("ncr-item").locator("a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    assert {int(href.rsplit("/", 1)[1]) for href in listed} == ncr_ids
    # The demo's NCRs come from failed post-demould inspections, named by the failed item's
    # category, in words.
    page.get_by_test_id("ncr-item").filter(has_text="Dimensions").first.wait_for()
    chips = page.get_by_test_id("ncr-category").all_inner_texts()
    assert any(chip.startswith("Dimensions · ") for chip in chips), chips
    assert not any("dimension" in chip for chip in chips), chips
    alert = page.get_by_test_id("alert-item").filter(has_text=watched["mark"])
    assert alert.locator("a").get_attribute("href") == f"/components/{watched['id']}"
    assert "installed component scanned elsewhere" in alert.inner_text()
    shot(page, f"dashboard-{role}-desktop")
    assert errors == []
    page.context.close()


def test_the_storey_grid_shows_every_component_of_a_building_in_its_state(browser,
                                                                          live_server,
                                                                          buildings):
    building = buildings[0]
    page, errors = sign_in(browser, live_server, "project_manager")
    open_dashboard(page, building["id"])
    expected = building_components(live_server, building["id"])
    cells = page.get_by_test_id("grid-cell")
    assert cells.count() == len(expected)
    assert page.locator("[data-testid=grid-building]").count() == 1
    drawn = cells.evaluate_all("""cells => cells.map(cell => ({
        id: Number(cell.dataset.id), state: cell.dataset.state, className: cell.className,
        href: cell.getAttribute('href'), title: cell.title,
        colour: getComputedStyle(cell).backgroundColor,
        storey: cell.closest('[data-testid=storey-row]')
                    .querySelector('.storey-name').textContent}))""")
    legend = dict(page.locator("#legend .legend-item[data-state]").evaluate_all(
        """items => items.map(item => [item.dataset.state,
            getComputedStyle(item.querySelector('.swatch')).backgroundColor])"""))
    chart = page.evaluate("""() => { const chart = Chart.getChart('chart-states');
        return chart.data.datasets[0].backgroundColor; }""")
    assert len(set(legend.values())) >= 10, "the states are told apart by colour"
    storey_names = dict(read(live_server, select(Storey.id, Storey.name)))
    assert {cell["id"] for cell in drawn} == set(expected)
    for cell in drawn:
        component = expected[cell["id"]]
        assert cell["state"] == component["state"]
        assert f"st-{component['state']}" in cell["className"].split()
        assert cell["colour"] == legend[component["state"]]
        assert cell["href"] == f"/components/{cell['id']}"
        assert cell["title"].startswith(f"{component['mark']} · ")
        assert cell["storey"] == storey_names[component["storey_id"]]
        for flag, name in (("on_hold", "flag-hold"), ("damaged", "flag-damaged"),
                           ("ncr_open", "flag-ncr")):
            assert (name in cell["className"].split()) == component[flag], (cell, flag)
    # The chart's bars have the grid's colours, in the legend's order.
    assert chart == list(legend.values())
    # Top floor first.
    rows = page.locator("[data-testid=storey-row] .storey-name").all_inner_texts()
    elevations = dict(read(live_server, select(Storey.name, Storey.elevation_m)
                           .where(Storey.building_id == building["id"])))
    assert rows == sorted(elevations, key=elevations.get, reverse=True)
    assert errors == []
    page.context.close()


def test_a_grid_cell_opens_the_component_history(browser, live_server, buildings):
    component_id, building_id = read(live_server, select(Component.id, Storey.building_id)
                                     .join(Storey, Component.storey_id == Storey.id)
                                     .where(Component.ncr_open.is_(True),
                                            Component.state == "demoulded")
                                     .order_by(Component.id))[0]
    page, errors = sign_in(browser, live_server, "regulator")
    open_dashboard(page, building_id)
    page.click(f"a.cell[data-id='{component_id}']")
    page.wait_for_url(re.compile(rf"/components/{component_id}$"))
    rows = page.get_by_test_id("history-row")
    rows.first.wait_for()
    events = [row[0] for row in read(live_server, select(Event).where(
        Event.component_id == component_id).order_by(Event.id))]
    shown = rows.evaluate_all("""rows => rows.map(row => ({
        id: Number(row.dataset.eventId), action: row.dataset.action,
        cells: [...row.cells].map(cell => cell.innerText.trim())}))""")
    assert [(row["id"], row["action"]) for row in shown] == \
        [(event.id, event.action) for event in events]
    failed = next(row for row in shown if row["action"] == "qc_fail")
    assert failed["cells"][1] == "QC fail"
    assert "Category: Dimensions" in failed["cells"][5]
    # What a failed inspection adds to its NCR is named too, never by its key.
    assert "Inspection ID: " in failed["cells"][5] and "Failed items: " in failed["cells"][5]
    assert not re.search(r"^(inspection_id|items):", failed["cells"][5], re.M), failed["cells"]
    assert failed["cells"][3] == "demo-qc-inspector"
    assert re.sub(r"\s", "", shown[0]["cells"][2]) == "Planned→Cast"
    component = read(live_server, select(Component).where(Component.id == component_id))[0][0]
    assert page.get_by_test_id("component-state").inner_text() == "Demoulded"
    assert page.get_by_test_id("component-mark").inner_text() == component.mark
    assert page.get_by_test_id("component-code").inner_text().replace("-", "") == component.code
    assert "NCR open" in page.locator("#flags").inner_text()
    facts = page.get_by_test_id("facts").inner_text()
    assert "Storey" in facts and "Building" in facts and "mm" in facts
    # The ledger proof is one click away and about this component.
    proof = page.request.get(page.get_by_test_id("proof-link").get_attribute("href"))
    assert proof.status == 200
    assert proof.json()["component_id"] == component_id
    assert len(proof.json()["events"]) == len(events)
    # Back to the dashboard, on the same building.
    assert page.locator("#back").get_attribute("href") == \
        f"/dashboard?project_id={component.project_id}&building_id={building_id}"
    shot(page, "component-history-desktop")
    assert errors == []
    page.context.close()


def test_the_component_page_shows_alerts_and_evidence(browser, live_server, watched):
    page, errors = sign_in(browser, live_server, "project_manager", viewport=PHONE)
    page.goto(f"/components/{watched['id']}")
    page.get_by_test_id("history-row").first.wait_for()
    alerts = page.get_by_test_id("component-alerts").inner_text()
    assert "installed component scanned elsewhere" in alerts
    assert "Open alerts: 1" in page.locator("#flags").inner_text()
    photo = page.get_by_test_id("evidence-photo").locator("a")
    assert photo.get_attribute("href") == f"/photos/{watched['photo_id']}"
    assert "Version 1" in page.get_by_test_id("evidence-labels").inner_text()
    # The history reads on a phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "component-evidence-phone")
    assert errors == []
    page.context.close()


def test_the_export_links_download_what_is_chosen(browser, live_server, buildings):
    building = buildings[1]
    page, errors = sign_in(browser, live_server, "regulator")
    open_dashboard(page, building["id"])
    expected = building_components(live_server, building["id"])
    link = page.get_by_test_id("export-components")
    assert link.get_attribute("href") == \
        f"/api/v1/exports/components.csv?project_id={building['project_id']}" \
        f"&building_id={building['id']}"
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "components.csv"
    with open(download.value.path(), encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == COMPONENT_HEADER
    assert {int(row[0]) for row in rows[1:]} == set(expected)

    events = page.request.get(page.get_by_test_id("export-events").get_attribute("href"))
    assert events.status == 200 and events.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(events.body().decode("utf-8-sig"))))
    assert lines[0] == EVENT_HEADER
    count = read(live_server, select(func.count()).select_from(Event).where(
        Event.component_id.in_(list(expected))))[0][0]
    assert len(lines) - 1 == count

    epcis_href = page.get_by_test_id("export-epcis").get_attribute("href")
    assert f"project_id={building['project_id']}" in epcis_href
    document = page.request.get(epcis_href)
    assert document.status == 200
    body = json.loads(document.body())
    assert body["type"] == "EPCISQueryDocument"
    assert body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert errors == []
    page.context.close()


def test_the_dashboard_on_a_phone(browser, live_server):
    page, errors = sign_in(browser, live_server, "project_manager", viewport=PHONE,
                           is_mobile=True, has_touch=True)
    open_dashboard(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Cells stay big enough to aim at with a finger, and the charts fit the screen.
    size = page.get_by_test_id("grid-cell").first.bounding_box()
    assert size["width"] >= 18 and size["height"] >= 18
    for chart in ("chart-states", "chart-time"):
        assert page.locator(f"#{chart}").bounding_box()["width"] <= PHONE["width"]
    shot(page, "dashboard-phone")
    assert errors == []
    page.context.close()


def test_the_dashboard_and_history_in_chinese(browser, live_server):
    for viewport, name in ((PHONE, "phone"), (None, "desktop")):
        page, errors = sign_in(browser, live_server, "regulator", locale="zh-CN",
                               viewport=viewport)
        open_dashboard(page)
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("h1").inner_text() == "进度看板"
        assert page.locator("nav.nav a").all_inner_texts() == ["照片", "看板"]
        assert page.locator("#status").inner_text().startswith("数据截至")
        assert page.get_by_test_id("figure-total").locator(".figure-label").inner_text() == "构件"
        assert "已安装" in page.get_by_test_id("legend").inner_text()
        labels = page.evaluate("Chart.getChart('chart-time').data.datasets.map(d => d.label)")
        assert labels == ["累计安装", "计划", "当日安装"]
        # Dates as Chinese readers write them.
        assert re.search(r"\d{4}/\d{1,2}/\d{1,2}", page.locator("#status").inner_text())
        chips = page.get_by_test_id("ncr-category").all_inner_texts()
        assert any(chip.startswith("尺寸偏差 · ") for chip in chips), chips
        assert not any(re.search("[a-z]", chip) for chip in chips), chips
        assert "尺寸偏差" in page.get_by_test_id("ncr-list").inner_text()
        shot(page, f"dashboard-zh-{name}")
        page.locator("a.cell[data-state=accepted]").first.click()
        page.get_by_test_id("history-row").first.wait_for()
        assert page.locator("#event-count").inner_text().endswith("条记录")
        assert page.get_by_test_id("history-row").first.get_attribute("data-action") == "cast"
        assert page.get_by_test_id("history-row").first.locator("td").nth(1).inner_text() \
            == "浇筑"
        # A load scan's notes name the truck in Chinese, not by the data's keys.
        loaded = page.locator("[data-testid=history-row][data-action=load]").first \
            .locator("td").nth(5).inner_text()
        assert re.search(r"车次：[0-9A-Z]{3}-[0-9A-Z]{3}-[0-9A-Z]{3}|车次：\d{18}", loaded), loaded
        assert "车次 ID：" in loaded, loaded
        assert not re.search(r"load(_id)?：", page.locator("#history").inner_text())
        shot(page, f"component-zh-{name}")
        assert errors == []
        page.context.close()
