"""Browser tests: the demo served on a free port, driven by Debian's Chromium.

Skipped when /usr/bin/chromium or Playwright is missing (`make setup`
installs both where it can). Screenshots go to tests/e2e/screenshots/.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage"]

if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api")


@dataclass
class LiveServer:
    """The demo, served by a real HTTP server in this process."""

    app: object
    url: str
    passwords: dict[str, str]
    tokens: dict[str, str]
    instance: Path
    _server: object = field(repr=False, default=None)

    def label_image(self, component_id: int, layout: str, dpi: int, flags: int):
        """Return the component's printed label (as the factory prints it) as an image."""
        import cv2
        import numpy as np

        client = self.app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {self.tokens['factory_worker']}"
        response = client.post(f"/api/v1/components/{component_id}/label.png"
                               f"?layout={layout}&dpi={dpi}")
        assert response.status_code == 200
        return cv2.imdecode(np.frombuffer(response.data, np.uint8), flags)

    def principal(self, role: str):
        """Return the demo user of `role` as the services see them (in an app context)."""
        from sqlalchemy import select

        from construction.extensions import db
        from construction.models import User
        from construction.services.accounts import principal_of_user

        return principal_of_user(db.session.scalar(
            select(User.id).where(User.name == self.user(role))))

    def ready_to_cast(self, component_ids) -> None:
        """Record a passed pre-pour inspection of each component: casting needs one."""
        from construction.demo_production import CHECKLISTS
        from construction.extensions import db
        from construction.services.inspections import record_inspection

        answers = [{"key": item["key"], "value": item["nominal"]} if item["kind"] == "measured"
                   else {"key": item["key"], "passed": True} for item in CHECKLISTS["pre_pour"]]
        with self.app.app_context():
            qc = self.principal("qc_inspector")
            for component_id in component_ids:
                record_inspection(qc, component_id, {"stage": "pre_pour", "results": answers})
            db.session.remove()

    def user(self, role: str) -> str:
        return "demo-" + role.replace("_", "-")

    def password(self, role: str) -> str:
        return self.passwords[self.user(role)]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """Load the demo into a fresh SQLite file and serve it on 127.0.0.1."""
    import flask_migrate
    from werkzeug.serving import make_server

    from construction.demo import load_demo, passwords_path
    from construction.extensions import db
    from tests.conftest import SIGNING_KEY_FILE, _app

    folder = tmp_path_factory.mktemp("live")
    app = _app(f"sqlite:///{folder / 'live.db'}", PHOTO_DIR=str(folder / "photos"),
               JOBS="inline", STORAGE="local", WTF_CSRF_SSL_STRICT=False)
    assert SIGNING_KEY_FILE
    # Bound first: the demo's labels are signed for the address they are served at.
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = url
    tokens_path = str(folder / "demo-tokens.json")
    with app.app_context():
        flask_migrate.upgrade()
        load_demo(tokens_path)
        db.session.remove()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with open(passwords_path(tokens_path)) as handle:
        passwords = json.load(handle)
    with open(tokens_path) as handle:
        tokens = json.load(handle)
    yield LiveServer(app, url, passwords, tokens, folder, server)
    server.shutdown()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def playwright_instance():
    with playwright_sync.sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance):
    """Chromium without a camera."""
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session", autouse=True)
def screenshot_folder():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


class PageErrors(list):
    """Console errors and uncaught exceptions seen on a page."""

    def watch(self, page) -> None:
        page.on("console", lambda message: message.type == "error" and self.append(
            f"console: {message.text} @ {message.location}"))
        page.on("pageerror", lambda error: self.append(f"pageerror: {error}"))


def sign_in(browser, server: LiveServer, role: str, locale: str = "en-US",
            viewport: dict | None = None, **context_options):
    """Open a context in `locale`, sign in as the demo user of `role`; return (page, errors)."""
    context = browser.new_context(locale=locale, base_url=server.url,
                                  viewport=viewport or {"width": 1280, "height": 900},
                                  **context_options)
    page = context.new_page()
    errors = PageErrors()
    errors.watch(page)
    page.goto("/login")
    page.fill("input[name=name]", server.user(role))
    page.fill("input[name=password]", server.password(role))
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, page.content()[:2000]
    return page, errors


def shot(page, name: str) -> Path:
    """Save a full-page screenshot under tests/e2e/screenshots/."""
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


PHONE = {"width": 412, "height": 915}
