"""Every paged list answers the same envelope and the same Link header."""

from __future__ import annotations

import re

import pytest

LISTS = ("/api/v1/components", "/api/v1/photos", "/api/v1/alerts", "/api/v1/security-events",
         "/api/v1/webhooks")


def _links(response) -> dict[str, str]:
    return {relation: target for target, relation in
            re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("Link", ""))}


def test_every_paged_list_in_the_openapi_document_answers_the_envelope(world):
    spec = world.client("admin").get("/api/v1/openapi.json").get_json()
    paged = sorted(path for path, operations in spec["paths"].items()
                   if any(p["name"] == "per_page" for p in
                          operations.get("get", {}).get("parameters", [])))
    assert set(LISTS) <= set(paged)
    for path in paged:
        if "{" in path:
            continue
        response = world.client("admin").get(path, query_string={"per_page": 1})
        assert response.status_code == 200, path
        body = response.get_json()
        assert set(body) == {"items", "total", "page", "per_page", "pages"}, path
        assert "first" in _links(response) and "last" in _links(response), path
        schema = spec["components"]["schemas"][
            response_schema(spec, path).rsplit("/", 1)[-1]]
        assert set(schema["properties"]) == set(body), path


def response_schema(spec: dict, path: str) -> str:
    content = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    return content["schema"]["$ref"]


@pytest.mark.parametrize("per_page", [1, 2, 5])
def test_pages_and_links_walk_the_whole_list(world, per_page):
    codes = {world.component()["code"] for _ in range(5)}
    client = world.client("admin")
    seen, url, pages = [], f"/api/v1/components?per_page={per_page}&state=planned", 0
    while url:
        response = client.get(url)
        body = response.get_json()
        pages += 1
        assert body["total"] == 5 and body["pages"] == -(-5 // per_page)
        seen += [item["code"] for item in body["items"]]
        links = _links(response)
        assert "state=planned" in links["last"] and f"page={body['pages']}" in links["last"]
        assert ("prev" in links) == (body["page"] > 1)
        url = links.get("next")
    assert pages == -(-5 // per_page)
    assert sorted(seen) == sorted(codes)


def test_a_page_past_the_end_is_empty_and_points_back(world):
    world.component()
    response = world.client("admin").get("/api/v1/components?page=3")
    body = response.get_json()
    assert body["items"] == [] and body["total"] == 1 and body["pages"] == 1
    links = _links(response)
    assert "next" not in links and "page=1" in links["prev"] and "page=1" in links["last"]
