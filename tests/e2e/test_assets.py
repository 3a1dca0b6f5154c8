"""Every page loads only from our own server (closed factory networks) and logs no errors."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, shot, sign_in

PAGES = {"admin": ["/scan", "/photos", "/dashboard"],
         "regulator": ["/photos", "/dashboard"]}


@pytest.mark.parametrize("role", sorted(PAGES))
def test_pages_load_nothing_from_elsewhere(browser, live_server, role):
    page, errors = sign_in(browser, live_server, role, viewport=PHONE)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for path in PAGES[role]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        # Nothing overflows a phone's width.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        shot(page, f"assets-{role}-{path.strip('/')}-phone")
    foreign = [url for url in requested
               if not url.startswith((live_server.url, "data:", "blob:"))]
    assert requested and foreign == []
    # The camera is absent in this browser: the scan page says so, it is not an error.
    assert [e for e in errors if "Requested device not found" not in e] == []
    page.context.close()
