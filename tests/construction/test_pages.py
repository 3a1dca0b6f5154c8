"""Page sign-in, the API through the session cookie, CSRF, roles and languages."""

from __future__ import annotations

import io
import json
import re
import uuid

import pytest
from sqlalchemy import select

from construction.extensions import db
from construction.models import User
from construction.services.accounts import set_password

PASSWORD = "correct-horse-battery"
PROBLEM = "application/problem+json"
PAGES = ("/scan", "/photos", "/dashboard")
ALLOWED = {
    "admin": {"/scan", "/photos", "/dashboard"},
    "project_manager": {"/scan", "/photos", "/dashboard"},
    "factory_worker": {"/scan", "/photos"},
    "qc_inspector": {"/scan", "/photos", "/dashboard"},
    "site_supervisor": {"/scan", "/photos", "/dashboard"},
    "regulator": {"/photos", "/dashboard"},
}


def _form_token(client, path: str = "/login") -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _page_token(client, path: str = "/scan") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'"csrf":\s*"([^"]+)"', page).group(1)


def _sign_in(world, role: str, password: str = PASSWORD):
    with world.app.app_context():
        set_password(world.ids[f"user_{role}"], PASSWORD)
    client = world.app.test_client()
    response = client.post("/login", data={"csrf_token": _form_token(client),
                                           "name": f"user-{role}", "password": password})
    return client, response


@pytest.fixture
def app(app):
    # Forms are checked here as in production.
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def test_sign_in_sends_each_role_to_its_first_page(world):
    for role in ALLOWED:
        client, response = _sign_in(world, role)
        assert response.status_code == 302
        assert response.headers["Location"] == ("/photos" if role == "regulator" else "/scan")
        cookie = client.get_cookie("prefabtrace_session")
        assert cookie.http_only and cookie.same_site == "Lax"


def test_wrong_password_unknown_user_and_no_password_are_refused_alike(world):
    client, response = _sign_in(world, "factory_worker", password="wrong-password-here")
    assert response.status_code == 401
    assert "The user name or password is wrong." in response.get_data(as_text=True)
    for name in ("user-nobody", "user-qc_inspector"):  # unknown; known without password
        response = client.post("/login", data={"csrf_token": _form_token(client),
                                               "name": name, "password": PASSWORD})
        assert response.status_code == 401
    assert client.get("/scan").status_code == 302


def test_a_form_without_its_token_is_refused(world):
    with world.app.app_context():
        set_password(world.ids["user_admin"], PASSWORD)
    client = world.app.test_client()
    response = client.post("/login", data={"name": "user-admin", "password": PASSWORD})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/scan").status_code == 302  # still signed out


def test_pages_follow_the_role(world):
    for role, allowed in ALLOWED.items():
        client, _ = _sign_in(world, role)
        for path in PAGES:
            expected = 200 if path in allowed else 403
            assert client.get(path).status_code == expected, (role, path)
        navigation = re.findall(r'<nav class="nav".*?</nav>',
                                client.get(sorted(allowed)[0]).get_data(as_text=True), re.S)[0]
        assert set(re.findall(r'href="(/\w+)"', navigation)) == allowed


def test_signed_out_pages_send_to_sign_in_and_back(world):
    client = world.app.test_client()
    response = client.get("/dashboard?project_id=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/dashboard?project_id%3D1"
    with world.app.app_context():
        set_password(world.ids["user_regulator"], PASSWORD)
    response = client.post("/login", data={
        "csrf_token": _form_token(client), "name": "user-regulator", "password": PASSWORD,
        "next": "/dashboard?project_id=1"})
    assert response.headers["Location"] == "/dashboard?project_id=1"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil",
                                    "javascript:alert(1)"])
def test_sign_in_never_redirects_off_site(world, target):
    with world.app.app_context():
        set_password(world.ids["user_admin"], PASSWORD)
    client = world.app.test_client()
    response = client.post("/login", data={"csrf_token": _form_token(client),
                                           "name": "user-admin", "password": PASSWORD,
                                           "next": target})
    assert response.headers["Location"] == "/scan"


def test_the_api_reads_with_the_session_and_writes_only_with_the_page_token(world):
    component = world.component("planned")
    client, _ = _sign_in(world, "factory_worker")
    assert client.get("/api/v1/components").status_code == 200
    scan = {"code": component["code"], "action": "cast", "client_event_id": str(uuid.uuid4())}
    response = client.post("/api/v1/scans", json=scan)
    assert response.status_code == 403 and response.mimetype == PROBLEM
    assert response.get_json()["type"].endswith("/csrf-failed")
    assert response.get_json()["detail"] == ("The CSRF token is missing: send the page's "
                                             "token in X-CSRFToken")
    response = client.post("/api/v1/scans", json=scan, headers={"X-CSRFToken": "forged"})
    assert response.status_code == 403
    token = _page_token(client)
    response = client.post("/api/v1/scans", json=scan, headers={"X-CSRFToken": token})
    assert response.status_code == 201
    assert response.get_json()["event"]["user"] == "user-factory_worker"


def test_a_bearer_token_needs_no_page_token(world):
    component = world.component("planned")
    response = world.client("factory_worker").post("/api/v1/scans", json={
        "code": component["code"], "action": "cast", "client_event_id": str(uuid.uuid4())})
    assert response.status_code == 201


def test_sign_out_and_password_change_and_deactivation_end_sessions(world):
    client, _ = _sign_in(world, "site_supervisor")
    assert client.get("/api/v1/components").status_code == 200
    client.post("/logout", data={"csrf_token": _page_token(client)})
    assert client.get("/api/v1/components").status_code == 401
    assert client.get("/scan").status_code == 302

    client, _ = _sign_in(world, "site_supervisor")
    with world.app.app_context():
        set_password(world.ids["user_site_supervisor"], "another-long-password")
    response = client.get("/api/v1/components")
    assert response.status_code == 401 and response.mimetype == PROBLEM

    client, _ = _sign_in(world, "site_supervisor")
    with world.app.app_context():
        db.session.get(User, world.ids["user_site_supervisor"]).active = False
        db.session.commit()
    assert client.get("/scan").status_code == 302


def test_passwords_are_stored_hashed_and_short_ones_refused(world):
    with world.app.app_context():
        set_password(world.ids["user_admin"], PASSWORD)
        stored = db.session.scalar(select(User.password_hash).where(
            User.id == world.ids["user_admin"]))
        assert PASSWORD not in stored and stored.startswith(("scrypt:", "pbkdf2:"))
        with pytest.raises(ValueError):
            set_password(world.ids["user_admin"], "short")


def test_users_password_command(world):
    runner = world.app.test_cli_runner()
    user_id = world.ids["user_qc_inspector"]
    result = runner.invoke(args=["users", "password", str(user_id)],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "password set" in result.output
    _, response = _sign_in(world, "qc_inspector")
    assert response.status_code == 302
    result = runner.invoke(args=["users", "password", str(user_id), "--password", "tiny"])
    assert result.exit_code != 0 and "at least" in result.output
    result = runner.invoke(args=["users", "password", "999999", "--password", PASSWORD])
    assert result.exit_code != 0 and "no user" in result.output


def test_language_follows_the_browser_then_the_switch(world):
    client = world.app.test_client()
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    text = page.get_data(as_text=True)
    assert '<html lang="zh-CN">' in text and "用户名" in text and "User name" not in text
    assert 'lang="en"' in client.get("/login", headers={"Accept-Language": "en-GB"}).get_data(
        as_text=True)
    response = client.get("/language/en?next=/login", headers={"Accept-Language": "zh-CN"})
    assert response.headers["Location"] == "/login"
    text = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "User name" in text
    assert client.get("/language/fr").status_code == 404
    assert client.get("/language/en?next=https://evil.example").headers["Location"] == "/"


def test_scan_page_names_states_and_actions_in_the_language(world):
    client, _ = _sign_in(world, "factory_worker")
    client.get("/language/zh_CN")
    text = client.get("/scan").get_data(as_text=True)
    config = json.loads(re.search(r'id="page-config">(.*?)</script>', text, re.S).group(1))
    assert config["actions"]["cast"] == "浇筑" and config["states"]["cast"] == "已浇筑"
    assert config["strings"]["Recorded: {action}"] == "已记录：{action}"
    assert config["role_actions"] == ["cast", "demould", "store", "load", "depart"]


def _page_config(client, path: str) -> dict:
    text = client.get(path).get_data(as_text=True)
    return json.loads(re.search(r'id="page-config">(.*?)</script>', text, re.S).group(1))


def test_pages_get_lifecycle_order_load_states_and_photo_checks_from_the_server(world):
    from PIL import Image

    from construction import lifecycle
    from construction.services.photos import CHECKS

    client, _ = _sign_in(world, "site_supervisor")
    client.get("/language/zh_CN")
    dashboard = _page_config(client, "/dashboard")
    assert dashboard["state_order"] == list(lifecycle.STATES)
    assert dashboard["load_states"]["open"] == "装车中"
    assert dashboard["load_states"]["rejected"] == "已拒收"  # a load refused, not sent back
    assert _page_config(client, "/scan")["load_states"]["received"] == "已验收"
    image = io.BytesIO()
    Image.new("RGB", (320, 240), (150, 150, 150)).save(image, "PNG")
    image.seek(0)
    body = world.client("site_supervisor").post("/api/v1/photos", data={
        "image": (image, "wall.png"), "project_id": world.ids["project_main"]}).get_json()
    photo = _page_config(client, f"/photos/{body['items'][0]['id']}")
    assert photo["checks"] == list(CHECKS)


def test_pages_get_checklist_stages_gates_and_alert_kinds_in_words_from_the_server(world):
    from construction import lifecycle

    client, _ = _sign_in(world, "qc_inspector")
    client.get("/language/zh_CN")
    scan = _page_config(client, "/scan")
    assert scan["stage_order"] == list(lifecycle.CHECKLIST_STAGES)
    assert scan["stage_for_state"]["planned"] == "pre_pour"
    assert scan["stages"]["pre_pour"] == "浇筑前隐蔽工程验收"
    component = _page_config(client, f"/components/{world.component('cast')['id']}")
    assert component["gates"]["stripping_strength"] == "脱模强度"
    assert component["gates"]["post_demould_inspection"] == "脱模后检验"
    assert component["alert_kinds"]["copy-too-many-scans"] == "标签疑似被复制：扫描次数异常"
    assert component["ncr_categories"]["surface"] == "外观质量"
    assert _page_config(client, "/dashboard")["ncr_categories"]["dimension"] == "尺寸偏差"
    client.get("/language/en")
    assert _page_config(client, "/scan")["alert_kinds"]["label-invalid"] == \
        "Forged or altered label"
    assert _page_config(client, "/dashboard")["ncr_categories"]["uncategorised"] == \
        "Uncategorised"


def test_the_component_page_names_what_events_carry_in_the_language(world):
    client, _ = _sign_in(world, "regulator")
    client.get("/language/zh_CN")
    strings = _page_config(client, f"/components/{world.component('cast')['id']}")["strings"]
    assert (strings["Load"], strings["Load ID"]) == ("车次", "车次 ID")
    assert (strings["Inspection ID"], strings["Failed items"]) == ("检验 ID", "不合格项")


def test_components_are_found_by_what_a_scanner_read(world):
    component = world.component("planned", gtin="06901234567892", serial="S-77")
    label = world.label(component["id"])
    client = world.client("factory_worker")
    code = component["code"]
    for scanned in (code, code.lower(), f"{code[:3]}-{code[3:6]}-{code[6:]}", label["url"],
                    str(component["id"]),
                    "https://id.example.com/01/06901234567892/21/S-77"):
        body = client.get("/api/v1/components", query_string={"code": scanned}).get_json()
        assert [item["id"] for item in body["items"]] == [component["id"]], scanned
        assert body["items"][0]["allowed_actions"] == ["cast", "hold", "scrap"]
    response = client.get("/api/v1/components", query_string={"code": code[:-1] + (
        "A" if code[-1] != "A" else "B")})
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert "code" in response.get_json()["errors"]
    outside = world.component("planned", project="far")
    body = client.get("/api/v1/components", query_string={"code": outside["code"]}).get_json()
    assert body["items"] == []


def test_the_root_sends_to_sign_in_and_the_service_worker_is_served_fresh(world):
    client = world.app.test_client()
    assert client.get("/").headers["Location"] == "/login"
    response = client.get("/sw.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    assert b"caches.open" in response.data
    # The release and the page lifetime are filled in: 12 hours in milliseconds.
    assert b"__RELEASE__" not in response.data and b"43200000" in response.data
    client, _ = _sign_in(world, "regulator")
    assert client.get("/").headers["Location"] == "/photos"


def test_too_many_wrong_passwords_pause_signing_in_as_that_name(world):
    world.app.config["SIGN_IN_MAX_FAILURES"] = 3
    client, response = _sign_in(world, "project_manager", password="wrong-password-1")
    for attempt in range(2):
        response = client.post("/login", data={"csrf_token": _form_token(client),
                                               "name": "user-project_manager",
                                               "password": f"wrong-password-{attempt}"})
        assert response.status_code == 401
    # Now even the right password waits, and the page says why.
    response = client.post("/login", data={"csrf_token": _form_token(client),
                                           "name": "user-project_manager",
                                           "password": PASSWORD})
    assert response.status_code == 429
    assert "Try again in 15 minutes" in response.get_data(as_text=True)
    # Other names, and the same name from elsewhere, are not affected.
    assert _sign_in(world, "admin")[1].status_code == 302
    elsewhere = world.app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    response = elsewhere.post("/login", data={"csrf_token": _form_token(elsewhere),
                                              "name": "user-project_manager",
                                              "password": PASSWORD})
    assert response.status_code == 302
    # A right password later clears the count.
    with world.app.app_context():
        from construction.models import SignInFailure

        for failure in db.session.scalars(select(SignInFailure)):
            failure.at = failure.at.replace(year=2000)
        db.session.commit()
    _, response = _sign_in(world, "project_manager")
    assert response.status_code == 302
    with world.app.app_context():
        from construction.models import SignInFailure

        assert db.session.scalars(select(SignInFailure)).all() == []


def test_one_address_guessing_many_names_is_paused(world):
    world.app.config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"] = 4
    client = world.app.test_client()
    for number in range(4):
        response = client.post("/login", data={"csrf_token": _form_token(client),
                                               "name": f"guess-{number}", "password": "x" * 12})
        assert response.status_code == 401
    with world.app.app_context():
        set_password(world.ids["user_admin"], PASSWORD)
    response = client.post("/login", data={"csrf_token": _form_token(client),
                                           "name": "user-admin", "password": PASSWORD})
    assert response.status_code == 429


def test_guesses_at_one_name_from_many_addresses_add_up_and_are_logged(world, caplog):
    world.app.config["SIGN_IN_MAX_FAILURES_PER_NAME"] = 5
    with world.app.app_context():
        set_password(world.ids["user_admin"], PASSWORD)
    for number in range(5):
        guesser = world.app.test_client()
        guesser.environ_base["REMOTE_ADDR"] = f"203.0.113.{number + 1}"
        response = guesser.post("/login", data={"csrf_token": _form_token(guesser),
                                                "name": "user-admin",
                                                "password": f"guess-{number}-xxxxxxx"})
        assert response.status_code == 401
    assert "wrong password for 'user-admin' from 203.0.113.5" in caplog.text
    newcomer = world.app.test_client()
    newcomer.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    response = newcomer.post("/login", data={"csrf_token": _form_token(newcomer),
                                             "name": "user-admin", "password": PASSWORD})
    assert response.status_code == 429
    assert "sign-in paused for 'user-admin'" in caplog.text
    # Other names are not affected.
    assert _sign_in(world, "project_manager")[1].status_code == 302


def test_signing_out_ends_the_sessions_on_every_device_and_a_stale_form_still_signs_out(world):
    phone, _ = _sign_in(world, "site_supervisor")
    tablet = world.app.test_client()
    tablet.post("/login", data={"csrf_token": _form_token(tablet),
                                "name": "user-site_supervisor", "password": PASSWORD})
    assert tablet.get("/api/v1/components").status_code == 200
    # A copy of the phone's cookie taken before signing out is worth nothing after.
    copied = world.app.test_client()
    copied.set_cookie("prefabtrace_session", phone.get_cookie("prefabtrace_session").value)
    phone.post("/logout", data={"csrf_token": _page_token(phone)})
    assert copied.get("/api/v1/components").status_code == 401
    assert tablet.get("/api/v1/components").status_code == 401

    phone, _ = _sign_in(world, "site_supervisor")
    response = phone.post("/logout", data={"csrf_token": "stale"})
    assert response.headers["Location"] == "/login"
    assert phone.get("/api/v1/components").status_code == 401


def test_the_session_does_not_ride_on_links_from_other_sites(world):
    client, _ = _sign_in(world, "project_manager")
    for site in ("cross-site", "same-site"):
        response = client.get("/api/v1/components", headers={"Sec-Fetch-Site": site})
        assert response.status_code == 403 and response.mimetype == PROBLEM
    for site in ("same-origin", "none"):
        assert client.get("/api/v1/components",
                          headers={"Sec-Fetch-Site": site}).status_code == 200
    # Programs with a token are not browsers: the header does not concern them.
    response = world.client("project_manager").get(
        "/api/v1/components", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200


def test_page_errors_are_pages_in_the_language_and_api_errors_stay_problems(world):
    client, _ = _sign_in(world, "factory_worker")
    client.get("/language/zh_CN")
    response = client.get("/dashboard")
    assert response.status_code == 403 and response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "无权访问" in text and 'href="/scan"' in text
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "未找到" in response.get_data(as_text=True)
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404 and response.mimetype == PROBLEM


def test_production_sends_the_session_cookie_only_over_https(monkeypatch, tmp_path):
    from construction.config import load_config

    monkeypatch.setenv("PREFABTRACE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-real-secret-for-this-test")
    key = tmp_path / "key.pem"
    key.write_text("-")
    monkeypatch.setenv("LABEL_SIGNING_KEY_FILE", str(key))
    monkeypatch.setenv("LEDGER_SIGNING_KEY_FILE", str(key))
    assert load_config(str(tmp_path))["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "0")
    assert load_config(str(tmp_path))["SESSION_COOKIE_SECURE"] is False
