"""The scan page in Chromium: fake camera, wedge scanner, typed codes, offline queue."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from construction.extensions import db
from construction.models import Component, Event, Label
from tests.e2e.conftest import BROWSER_ARGS, CHROMIUM, PHONE, shot, sign_in

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(scope="module")
def planned(live_server) -> list[dict]:
    """Planned demo components (not on hold), inspected before pouring, with their current
    label URL, to use up."""
    with live_server.app.app_context():
        rows = db.session.execute(
            select(Component.id, Component.code, Component.mark, Label.url)
            .join(Label, (Label.component_id == Component.id) & Label.revoked_at.is_(None))
            .where(Component.state == "planned", Component.on_hold.is_(False))
            .order_by(Component.id.desc()).limit(12)).all()
        db.session.remove()
    assert len(rows) >= 6, "the demo has planned components"
    live_server.ready_to_cast([row.id for row in rows])
    return [dict(row._mapping) for row in rows]


def events_of(server, component_id: int, action: str | None = None) -> list[Event]:
    with server.app.app_context():
        query = select(Event).where(Event.component_id == component_id)
        if action:
            query = query.where(Event.action == action)
        events = list(db.session.scalars(query.order_by(Event.id)))
        db.session.remove()
    return events


def label_video(server, component_id: int, path, away_frames: int = 0) -> None:
    """Write a .y4m clip of the component's printed label held in front of a camera
    (for 1 s, then `away_frames` tenths of a second of bare wall; the clip loops)."""
    label = server.label_image(component_id, "thermal-100x70", 150, cv2.IMREAD_GRAYSCALE)
    still_video(label, path, away_frames)


def still_video(label, path, away_frames: int = 0) -> None:
    """Write a .y4m clip of a printed label (a grey image) held in front of a camera."""
    width, height = 640, 480
    scene = np.full((height, width, 3), (96, 110, 120), np.uint8)  # a grey concrete wall
    scale = min(0.8 * width / label.shape[1], 0.8 * height / label.shape[0])
    label = cv2.resize(label, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    top, left = (height - label.shape[0]) // 2, (width - label.shape[1]) // 2
    scene[top:top + label.shape[0], left:left + label.shape[1]] = label[..., None]
    wall = np.full((height, width, 3), (96, 110, 120), np.uint8)
    frame = cv2.cvtColor(scene, cv2.COLOR_BGR2YUV_I420).tobytes()
    away = cv2.cvtColor(wall, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for index in range(10 + away_frames):
            handle.write(b"FRAME\n" + (frame if index < 10 else away))


def camera(playwright, clip):
    """Launch Chromium with a fake camera that films `clip` (it loops)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[*BROWSER_ARGS, "--use-fake-ui-for-media-stream",
              "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip}"])


def test_sign_in_refuses_a_wrong_password_and_shows_only_allowed_pages(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    page.goto("/scan")
    assert "/login" in page.url
    page.fill("input[name=name]", live_server.user("factory_worker"))
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "The user name or password is wrong."
    shot(page, "login-en")
    page.fill("input[name=password]", live_server.password("factory_worker"))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/scan$"))
    # Factory workers scan and may upload photos; the dashboard is not theirs.
    assert page.locator("nav.nav a").all_inner_texts() == ["Scan", "Photos"]
    assert page.goto("/dashboard").status == 403
    context.close()

    regulator, _ = sign_in(browser, live_server, "regulator")
    assert regulator.locator("nav.nav a").all_inner_texts() == ["Photos", "Dashboard"]
    assert regulator.goto("/scan").status == 403
    regulator.context.close()


def test_camera_reads_a_label_and_one_tap_records_the_action(playwright_instance, live_server,
                                                             planned, tmp_path):
    component = planned.pop()
    clip = tmp_path / "label.y4m"
    label_video(live_server, component["id"], clip)
    camera_browser = camera(playwright_instance, clip)
    try:
        page, errors = sign_in(camera_browser, live_server, "factory_worker", viewport=PHONE,
                               permissions=["camera"], is_mobile=True, has_touch=True)
        page.wait_for_url(re.compile(r"/scan$"))
        code = page.get_by_test_id("card-code")
        code.wait_for(timeout=20000)
        assert code.inner_text().replace("-", "") == component["code"]
        assert page.get_by_test_id("card-state").inner_text() == "Planned"
        shot(page, "scan-camera-card-phone")
        page.click("button[data-action=cast]")
        page.wait_for_selector(".result.ok")
        assert page.locator("#result").inner_text() == "Recorded: Cast"
        page.get_by_test_id("card-state").filter(has_text="Cast").wait_for()
        # The camera keeps reading the same label: it must not act again.
        page.wait_for_timeout(1500)
        shot(page, "scan-camera-recorded-phone")
        cast = events_of(live_server, component["id"], "cast")
        assert len(cast) == 1 and cast[0].device.startswith("web-")
        # The decoder came from our own static folder, not from a CDN.
        loaded = page.evaluate(
            "performance.getEntriesByType('resource').map((entry) => entry.name)")
        assert [url for url in loaded if url.endswith(".wasm")] == [
            f"{live_server.url}/static/vendor/zxing_reader.wasm"]
        assert page.get_by_test_id("waiting-count").inner_text() == "0"
        assert errors == []
    finally:
        camera_browser.close()


def test_a_wedge_scanner_typing_the_label_url_works_like_the_camera(browser, live_server,
                                                                  planned):
    component = planned.pop()
    page, errors = sign_in(browser, live_server, "factory_worker")
    page.locator("h1, main").first.click(position={"x": 5, "y": 5})
    page.keyboard.type(component["url"], delay=5)
    page.keyboard.press("Enter")
    page.get_by_test_id("card-code").wait_for()
    assert page.get_by_test_id("card-code").inner_text().replace("-", "") == component["code"]
    page.click("button[data-action=cast]")
    page.wait_for_selector(".result.ok")
    shot(page, "scan-wedge-desktop")
    assert len(events_of(live_server, component["id"], "cast")) == 1
    assert errors == []
    page.context.close()


def test_a_typed_code_with_dashes_in_lower_case_finds_the_component(browser, live_server,
                                                                  planned):
    component = planned[-1]
    page, errors = sign_in(browser, live_server, "factory_worker", viewport=PHONE)
    code = component["code"].lower()
    page.fill("#manual-code", f"{code[:3]}-{code[3:6]}-{code[6:]}")
    page.press("#manual-code", "Enter")
    page.get_by_test_id("card-code").wait_for()
    assert page.get_by_test_id("card-state").inner_text() == "Planned"
    page.fill("#manual-code", "ABCDEFGHJ")
    page.press("#manual-code", "Enter")
    page.wait_for_selector("#card .result.bad")
    assert errors == [] or all("422" in error for error in errors)
    page.context.close()


def test_offline_actions_queue_and_are_sent_once_when_the_network_returns(browser, live_server,
                                                                        planned):
    first, second = planned.pop(), planned.pop()
    page, errors = sign_in(browser, live_server, "factory_worker", viewport=PHONE)
    # Once its service worker runs, the page and its files are kept on the phone.
    page.wait_for_function("""async () => {
        const names = await caches.keys();
        return names.length === 1 && await (await caches.open(names[0])).match('/scan')
            && await (await caches.open(names[0])).match('/static/vendor/zxing_reader.wasm');
    }""")
    page.fill("#manual-code", first["code"])
    page.press("#manual-code", "Enter")
    page.get_by_test_id("card-code").wait_for()

    # Chromium's offline emulation does not reach requests that pass through the
    # service worker; refusing the API here too makes the phone truly offline.
    page.context.set_offline(True)
    page.context.route("**/api/**", lambda route: route.abort("internetdisconnected"))
    page.evaluate("window.dispatchEvent(new Event('offline'))")
    page.click("button[data-action=cast]")
    page.wait_for_selector(".result.queued")
    page.get_by_test_id("waiting-count").filter(has_text="1").wait_for()
    assert page.locator("button[data-action=cast]").is_disabled()  # no second tap
    # A code read while offline: its state is unknown, the role's actions are offered.
    page.fill("#manual-code", second["code"])
    page.press("#manual-code", "Enter")
    page.wait_for_selector("#card .result.queued")
    page.click("button[data-action=demould]")  # not allowed from planned: refused later
    page.get_by_test_id("waiting-count").filter(has_text="2").wait_for()
    assert page.locator("#online-text").inner_text() == "Offline"
    shot(page, "scan-offline-queue-phone")
    # With no network the page still opens, and its queue is still there.
    page.reload()
    page.get_by_test_id("waiting-count").filter(has_text="2").wait_for()
    page.evaluate("window.dispatchEvent(new Event('offline'))")
    assert events_of(live_server, first["id"]) == []

    page.context.unroute("**/api/**")
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.get_by_test_id("waiting-count").filter(has_text="0").wait_for(timeout=20000)
    page.get_by_test_id("refused-count").filter(has_text="1").wait_for()
    refused = page.get_by_test_id("refused-item").inner_text()
    assert "Demould — Not possible while the component is Planned." in refused
    shot(page, "scan-after-reconnect-phone")
    cast = events_of(live_server, first["id"])
    assert [event.action for event in cast] == ["cast"]
    assert events_of(live_server, second["id"]) == []

    # Sending the same queue again (a second tab, a retry) records nothing more.
    status = page.evaluate("""async ([code, eventId]) => {
        const response = await fetch('/api/v1/scans/batch', {method: 'POST',
          headers: {'Content-Type': 'application/json',
                    'X-CSRFToken': JSON.parse(document.getElementById('page-config')
                                              .textContent).csrf},
          body: JSON.stringify({items: [{code, action: 'cast', client_event_id: eventId}]})});
        return (await response.json()).duplicate; }""", [first["code"], cast[0].client_event_id])
    assert status == 1
    assert len(events_of(live_server, first["id"])) == 1
    with live_server.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event).where(
            Event.client_event_id == cast[0].client_event_id)) == 1
        db.session.remove()
    # Chromium logs each request it could not send while offline; nothing else.
    assert [e for e in errors if "ERR_INTERNET_DISCONNECTED" not in e] == []
    page.context.close()


def test_the_scan_page_in_chinese(browser, live_server, planned):
    component = planned[-1]
    page, errors = sign_in(browser, live_server, "factory_worker", locale="zh-CN",
                           viewport=PHONE)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("nav.nav a").all_inner_texts() == ["扫描", "照片"]
    page.fill("#manual-code", component["code"])
    page.press("#manual-code", "Enter")
    page.get_by_test_id("card-code").wait_for()
    assert page.get_by_test_id("card-state").inner_text() == "计划"
    assert page.locator("button[data-action=cast]").inner_text() == "浇筑"
    shot(page, "scan-zh-phone")
    # The switch changes the language and keeps it for the session.
    page.click("text=English")
    assert page.locator("nav.nav a").all_inner_texts() == ["Scan", "Photos"]
    assert errors == []
    page.context.close()


def test_a_label_url_opens_the_resolver_page_on_a_phone(browser, live_server, planned):
    component = planned[0]
    path = "/" + component["url"].split("/", 3)[3]
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, locale="zh-CN",
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    assert page.goto(path).status == 200
    text = page.inner_text("body")
    assert "Genuine label" in text and "正品标签" in text
    assert component["mark"] not in text  # the position is for signed-in project members
    # Nothing is wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "resolver-anonymous-phone")
    context.close()

    page, errors = sign_in(browser, live_server, "site_supervisor", viewport=PHONE)
    page.goto(path)
    assert component["mark"] in page.inner_text("body")
    shot(page, "resolver-signed-in-phone")
    assert errors == []
    page.context.close()


def test_a_label_read_while_the_record_is_asked_for_does_not_steal_the_action(
        playwright_instance, live_server, planned, tmp_path):
    # The supervisor connects an installed panel; its neighbour's label comes into
    # view for 1 s every 6 s (a panel swinging past on the crane).
    with live_server.app.app_context():
        installed = db.session.execute(
            select(Component.id, Component.code).where(
                Component.state == "installed", Component.on_hold.is_(False),
                Component.damaged.is_(False), Component.ncr_open.is_(False))
            .order_by(Component.id).limit(1)).one()
        db.session.remove()
    neighbour = planned.pop()
    clip = tmp_path / "neighbour.y4m"
    label_video(live_server, neighbour["id"], clip, away_frames=50)
    camera_browser = camera(playwright_instance, clip)
    try:
        page, errors = sign_in(camera_browser, live_server, "site_supervisor", viewport=PHONE,
                               permissions=["camera"])
        page.get_by_test_id("card-code").filter(
            has_text=neighbour["code"][:3]).wait_for(timeout=20000)
        page.fill("#manual-code", installed.code)
        page.press("#manual-code", "Enter")
        page.get_by_test_id("card-state").filter(has_text="Installed").wait_for()
        page.click("button[data-action=connect]")
        page.locator("#record-dialog").wait_for()
        page.fill("#record-input", "GJ-2026-118")
        # Longer than a loop of the clip: the neighbour comes into view meanwhile.
        page.wait_for_timeout(7000)
        page.click("#record-dialog button[value=ok]")
        page.wait_for_selector(".result.ok")
        assert page.get_by_test_id("card-code").inner_text().replace("-", "") == installed.code
        connected = events_of(live_server, installed.id, "connect")
        assert len(connected) == 1 and connected[0].data == {"record": "GJ-2026-118"}
        assert events_of(live_server, neighbour["id"]) == []
        assert errors == []
    finally:
        camera_browser.close()
