"""Health, OpenAPI, the docs page and the error shape."""

import json

from sqlalchemy import select

PROBLEM = "application/problem+json"


def test_health_reports_database_migrations_and_decoders(world):
    response = world.client("regulator").get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["migrations"]["ok"]
    assert body["migrations"]["current"] == body["migrations"]["head"]
    assert body["decoders"]["zxing-cpp"]["available"]
    assert set(body["back_ends"]) == {"storage", "jobs"}
    fonts = body["labels"]
    assert fonts["embedded"] is (fonts["font"] is not None)
    assert fonts["embedded"] or "note" in fonts


def test_health_tells_strangers_the_status_alone(world, client):
    for anonymous in (client, world.client(token="pt_not-a-token")):
        response = anonymous.get("/health")
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok"}
    assert "decoders" in world.client("factory_worker").get("/health").get_json()


def test_health_says_when_the_database_is_behind(app, world):
    client = world.client("admin")
    from sqlalchemy import text

    from construction.extensions import db

    with app.app_context():
        head = db.session.scalar(text("SELECT version_num FROM alembic_version"))
        db.session.execute(text("UPDATE alembic_version SET version_num = 'old'"))
        db.session.commit()
    try:
        response = client.get("/health")
        assert response.status_code == 503
        assert response.get_json()["migrations"]["ok"] is False
    finally:  # the PostgreSQL test database is shared by the tests that follow
        with app.app_context():
            db.session.execute(text("UPDATE alembic_version SET version_num = :head"),
                               {"head": head})
            db.session.commit()


def test_openapi_document_lists_the_api(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/scans", "/api/v1/scans/batch", "/api/v1/components",
                 "/api/v1/components/{component_id}", "/api/v1/projects"):
        assert path in spec["paths"], path
    assert spec["paths"]["/api/v1/scans"]["post"]["summary"].startswith(
        "Record a scan of one component")
    assert "bearer" in spec["components"]["securitySchemes"]


def test_docs_page_uses_local_assets_only(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/api/v1/docs-assets/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    with client.get("/api/v1/docs-assets/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200 and len(asset.data) > 100_000


def test_unknown_api_paths_and_methods_are_problems(client):
    missing = client.get("/api/v1/nowhere")
    assert missing.status_code == 404 and missing.mimetype == PROBLEM
    wrong_method = client.delete("/api/v1/scans")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == PROBLEM


def test_problem_titles_in_chinese(world):
    response = world.client().get("/api/v1/components",
                                  headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.get_json()["title"] == "需要身份验证"


def test_problem_types_are_described(client):
    body = client.get("/api/v1/problems/invalid-transition").get_json()
    assert body["status"] == 409 and body["title"]["zh-CN"]


def test_malformed_json_is_a_problem(world):
    response = world.client("admin").post("/api/v1/scans", data=b"{not json",
                                          content_type="application/json")
    assert 400 <= response.status_code < 500
    assert response.mimetype == PROBLEM


def test_the_root_leads_to_sign_in_which_links_the_docs(client):
    response = client.get("/")
    assert response.status_code == 302 and response.location == "/login"
    assert 'href="/api/v1/docs"' in client.get("/login").get_data(as_text=True)


def test_openapi_documents_errors_as_problems(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    default = spec["components"]["responses"]["DEFAULT_ERROR"]
    assert list(default["content"]) == ["application/problem+json"]
    parameter = spec["paths"]["/api/v1/components/{component_id}"]["parameters"][0]
    assert parameter["schema"]["type"] == "integer"


def test_tokens_are_remembered_briefly_and_forgotten_on_revocation(world):
    from sqlalchemy import update

    from construction.extensions import db
    from construction.models import ApiToken, User
    from construction.services.accounts import revoke_token

    world.app.config["TOKEN_CACHE_SECONDS"] = 60
    client = world.client("factory_worker")
    assert client.get("/api/v1/components").status_code == 200
    with world.app.app_context():
        # Changed behind the app's back: the remembered principal still answers...
        db.session.execute(update(User).where(User.id == world.ids["user_factory_worker"])
                           .values(active=False))
        db.session.commit()
    assert client.get("/api/v1/components").status_code == 200
    with world.app.app_context():
        token_id = db.session.scalar(select(ApiToken.id).where(
            ApiToken.user_id == world.ids["user_factory_worker"]))
        revoke_token(token_id)  # ...until a revocation in this process forgets it
    assert client.get("/api/v1/components").status_code == 401
    world.app.config["TOKEN_CACHE_SECONDS"] = 0
    assert world.client("qc_inspector").get("/api/v1/components").status_code == 200


def test_health_reports_ledger_sealing_and_degrades_when_it_stalls(world):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from construction.extensions import db
    from construction.models import Event
    from construction.services.chain import seal_all

    client = world.client("admin")
    world.component("demoulded")  # two events, not sealed yet
    body = client.get("/health").get_json()
    assert body["status"] == "ok", body
    assert body["ledger"]["unsealed_events"] == 2 and body["ledger"]["ok"] is True
    assert body["ledger"]["oldest_unsealed_age_s"] < 60
    assert body["ledger"]["newest_sealed_age_s"] is None
    with world.app.app_context():  # as if the sealer had been down for two minutes
        db.session.execute(update(Event).values(
            server_time=datetime.now(UTC) - timedelta(minutes=2)))
        db.session.commit()
    response = client.get("/health")
    body = response.get_json()
    # Scans are still recorded: a load balancer must keep this node.
    assert response.status_code == 200 and body["status"] == "degraded"
    assert body["ledger"]["ok"] is False and body["ledger"]["oldest_unsealed_age_s"] >= 120
    world.app.config["LEDGER_SEAL_MAX_LAG_S"] = 600
    assert client.get("/health").get_json()["status"] == "ok"
    world.app.config["LEDGER_SEAL_MAX_LAG_S"] = 60
    with world.app.app_context():
        assert seal_all() == 2
    body = client.get("/health").get_json()
    assert body["status"] == "ok" and body["ledger"]["unsealed_events"] == 0
    assert body["ledger"]["oldest_unsealed_age_s"] is None
    assert body["ledger"]["newest_sealed_age_s"] >= 120


def test_a_query_parameter_the_route_does_not_know_is_refused_not_ignored(world):
    regulator = world.client("regulator")
    for path in ("/api/v1/components?stat=installed", "/api/v1/photos?bogus=1",
                 "/api/v1/exports/components.csv?state=installed",
                 "/api/v1/progress?since=2026-12-01",  # a snapshot has no days
                 "/api/v1/exports/pours.csv?storey_id=1"):  # pours are on no storey
        response = regulator.get(path)
        assert response.status_code == 422 and response.mimetype == PROBLEM, path
        name = path.split("?")[1].split("=")[0]
        assert response.get_json()["errors"]["query"][name] == ["Unknown field."], path
    assert regulator.get("/api/v1/components?state=installed").status_code == 200
    # A route that takes no query parameters at all refuses them too.
    component = world.component("cast")
    admin = world.client("admin")
    for path in ("/api/v1/moulds?foo=1", f"/api/v1/components/{component['id']}?foo=1",
                 f"/api/v1/components/{component['id']}/certificate.pdf?lang=en"):
        response = admin.get(path)
        assert response.status_code == 422 and response.mimetype == PROBLEM, path
        name = path.split("?")[1].split("=")[0]
        assert response.get_json()["errors"]["query"][name] == ["Unknown field."], path
        assert admin.get(path.split("?")[0]).status_code == 200, path
    assert admin.head("/api/v1/components?state=cast").status_code == 200
    # EPCIS queries name the parameters they support.
    epcis = regulator.get("/api/v1/epcis/events?EQ_bogus=1")
    assert epcis.status_code == 422 and "supported are" in str(epcis.get_json()["errors"])


def test_since_after_until_is_refused_not_answered_empty(world):
    regulator, manager = world.client("regulator"), world.client("project_manager")
    for client, path in (
            (regulator, "/api/v1/exports/events.csv?since=2026-12-07&until=2026-12-01"),
            (regulator, "/api/v1/progress?since=2026-12-07&until=2026-12-01"),
            (regulator, "/api/v1/alerts?since=2026-12-07T00:00:00Z&until=2026-12-01T00:00:00Z"),
            (manager, f"/api/v1/projects/{world.ids['project_main']}/deliveries"
                      "?since=2026-12-07&until=2026-12-01")):
        response = client.get(path)
        assert response.status_code == 422 and response.mimetype == PROBLEM, path
        assert "until" in response.get_json()["errors"]["query"], path
    assert regulator.get("/api/v1/exports/events.csv?since=2026-12-01&until=2026-12-01"
                         ).status_code == 200


def test_json_sent_as_text_or_a_form_is_415_not_missing_fields(world):
    component = world.component("planned")
    body = json.dumps({"code": component["code"], "action": "cast",
                       "client_event_id": "as-text-1"})
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = world.client("factory_worker").post("/api/v1/scans", data=body,
                                                        content_type=content_type)
        assert response.status_code == 415 and response.mimetype == PROBLEM, content_type
        assert "application/json" in response.get_json()["detail"]
    # CSV imports take text/plain as they did.
    csv = world.client("project_manager").post(
        f"/api/v1/projects/{world.ids['project_main']}/components/import",
        data="code,mark\n", content_type="text/plain")
    assert csv.status_code != 415
