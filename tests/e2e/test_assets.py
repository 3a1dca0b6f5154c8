"""Every page loads only from our own server (closed factory networks) and logs no errors."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, PageErrors, shot, sign_in

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


def test_the_api_docs_page_shows_every_operation(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    errors = PageErrors()
    errors.watch(page)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/v1/docs")
    # Swagger UI renders an operation block per path and method once it has read the
    # OpenAPI 3.1 document; an older one shows only "Unable to render this definition".
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() >= 60
    assert "Unable to render" not in page.content()
    shot(page, "api-docs")
    assert [url for url in requested
            if not url.startswith((live_server.url, "data:", "blob:"))] == []
    assert errors == []
    context.close()
