"""Security headers: every answer says what a browser may load, frame and send."""


def test_pages_api_and_docs_carry_security_headers(world, client):
    page = client.get("/login")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self' 'wasm-unsafe-eval'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    for response in (page, world.client("admin").get("/api/v1/components"),
                     client.get("/api/v1/components"), client.get("/api/v1/openapi.json")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response.headers
    data = world.client("admin").get("/api/v1/components")
    assert data.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "script-src 'self' 'unsafe-inline'" in docs.headers["Content-Security-Policy"]


def test_hsts_only_over_tls(client):
    assert client.get("/login", base_url="https://localhost").headers[
        "Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/login").headers
