"""A whole truck received with one scan of its load label (fake camera), on a phone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from construction.extensions import db
from construction.models import Component, Event, LoadItem, LoadScan
from tests.e2e.conftest import PHONE, shot, sign_in
from tests.e2e.test_scan import camera, still_video

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
PIECES = 20


def _api(server, role: str):
    client = server.app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {server.tokens[role]}"
    return client


def test_one_scan_of_the_load_label_receives_the_whole_truck(playwright_instance, live_server,
                                                             tmp_path):
    with live_server.app.app_context():
        rows = db.session.execute(
            select(Component.id, Component.project_id).where(
                Component.state == "stored", Component.on_hold.is_(False),
                Component.damaged.is_(False), Component.ncr_open.is_(False),
                Component.id.not_in(select(LoadItem.active_component_id)
                                    .where(LoadItem.active_component_id.isnot(None))))
            .order_by(Component.id).limit(PIECES)).all()
        db.session.remove()
    assert len(rows) == PIECES, "the demo has components in the yard"
    ids = [row.id for row in rows]
    worker = _api(live_server, "factory_worker")
    live_server.app.config["GS1_COMPANY_PREFIX"] = "6901234"
    try:
        load = worker.post("/api/v1/loads", json={
            "project_id": rows[0].project_id, "component_ids": ids, "vehicle": "浙A·D1234",
            "driver": "王师傅"}).get_json()
    finally:
        live_server.app.config["GS1_COMPANY_PREFIX"] = ""
    assert load["sscc"], load
    for action in ("load", "depart"):
        response = worker.post(f"/api/v1/loads/{load['id']}/scans", json={
            "action": action, "client_event_id": f"e2e-{action}-{load['id']}"})
        assert response.status_code == 201, response.get_json()
    label = worker.get(f"/api/v1/loads/{load['id']}/label.png?dpi=150")
    assert label.status_code == 200
    image = cv2.imdecode(np.frombuffer(label.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    clip = tmp_path / "load-label.y4m"
    still_video(image, clip)

    camera_browser = camera(playwright_instance, clip)
    try:
        page, errors = sign_in(camera_browser, live_server, "site_supervisor", viewport=PHONE,
                               permissions=["camera"], is_mobile=True, has_touch=True)
        page.wait_for_url(re.compile(r"/scan$"))
        page.get_by_test_id("load-code").wait_for(timeout=20000)
        assert page.get_by_test_id("load-code").inner_text() == load["sscc_text"]
        assert page.get_by_test_id("load-state").inner_text() == "In transit"
        assert page.get_by_test_id("load-items").locator("li").count() == PIECES
        shot(page, "scan-load-card-phone")
        page.click("button[data-load-action=arrive]")
        page.wait_for_selector(".result.ok")
        assert page.locator("#result").inner_text() == f"Recorded: Arrived for {PIECES} pieces"
        page.get_by_test_id("load-state").filter(has_text="Arrived").wait_for()
        # The camera keeps seeing the label: nothing is recorded twice.
        page.wait_for_timeout(1500)
        page.click("button[data-load-action=accept_delivery]")
        page.get_by_test_id("load-state").filter(has_text="Received").wait_for()
        assert page.locator("#result").inner_text() == \
            f"Recorded: Accept delivery for {PIECES} pieces"
        shot(page, "scan-load-received-phone")
        assert errors == []
    finally:
        camera_browser.close()

    with live_server.app.app_context():
        states = set(db.session.scalars(select(Component.state).where(Component.id.in_(ids))))
        events = db.session.execute(
            select(Event.component_id, Event.action, Event.client_event_id, Event.device)
            .where(Event.component_id.in_(ids), Event.action.in_(("arrive", "accept_delivery")))
        ).all()
        scans = db.session.scalars(select(LoadScan).where(LoadScan.load_id == load["id"])
                                   .order_by(LoadScan.id)).all()
        db.session.remove()
    assert states == {"accepted_on_site"}
    assert sorted((e.component_id, e.action) for e in events) == sorted(
        (i, a) for i in ids for a in ("arrive", "accept_delivery"))
    assert all(e.device.startswith("web-") for e in events)
    assert [s.action for s in scans] == ["load", "depart", "arrive", "accept_delivery"]
    arrival = scans[2]
    assert {e.client_event_id for e in events if e.action == "arrive"} == {
        f"{arrival.client_event_id}#{i}" for i in ids}


def test_the_dashboard_shows_todays_trucks_and_the_next_storeys(browser, live_server):
    with live_server.app.app_context():
        row = db.session.execute(
            select(Component.id, Component.project_id).where(
                Component.state == "qc_passed", Component.on_hold.is_(False),
                Component.damaged.is_(False), Component.ncr_open.is_(False),
                Component.id.not_in(select(LoadItem.active_component_id)
                                    .where(LoadItem.active_component_id.isnot(None))))
            .order_by(Component.id.desc()).limit(1)).one()
        db.session.remove()
    arrival = datetime.now(UTC).astimezone().replace(microsecond=0)
    load = _api(live_server, "factory_worker").post("/api/v1/loads", json={
        "project_id": row.project_id, "component_ids": [row.id], "vehicle": "浙A·T0DAY",
        "planned_arrival_at": arrival.isoformat()}).get_json()
    assert load["state"] == "open", load
    page, errors = sign_in(browser, live_server, "project_manager")
    page.goto("/dashboard")
    page.get_by_test_id("truck").filter(has_text="浙A·T0DAY").wait_for()
    readiness = page.get_by_test_id("readiness")
    readiness.first.wait_for()
    assert 1 <= readiness.count() <= 3
    assert "Not ready" in readiness.first.inner_text()  # the demo's next storey is not all there
    shot(page, "dashboard-trucks-readiness")
    assert errors == []
    page.context.close()
