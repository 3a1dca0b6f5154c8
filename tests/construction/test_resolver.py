"""The label resolver pages (/c/{code}, /01/{gtin}/21/{serial}, /l/{code}) and photo decoding."""

import io
import re
import uuid
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from labels.codes import display
from tests.images import png_declaring

PROBLEM = "application/problem+json"
JSON = {"Accept": "application/json"}


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def test_a_genuine_label_opens_a_public_page(world):
    component = world.component("qc_passed")
    url = world.label(component["id"])["url"]
    page = world.app.test_client().get(_path(url))
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "正品标签" in html and "Genuine label" in html and "质检合格" in html
    assert "Project main" in html and "Wall" in html
    assert component["code"] not in html  # the public sees no identifiers or history
    assert "certificate.pdf" not in html  # nor the certificate
    assert page.headers["Cache-Control"] == "private, no-store"


def test_json_when_asked_with_detail_for_the_project(world):
    component = world.component("cast")
    url = world.label(component["id"])["url"]
    public = world.app.test_client().get(_path(url), headers=JSON).get_json()
    assert public["label"]["status"] == "genuine" and public["label"]["version"] == 1
    assert public["component"]["state"] == "cast" and public["detail"] is None
    inside = world.client("site_supervisor").get(_path(url), headers=JSON).get_json()
    assert inside["detail"]["code"] == component["code"]
    assert inside["detail"]["display_code"] == display(component["code"])
    assert [e["action"] for e in inside["detail"]["events"]] == ["cast"]
    event = inside["detail"]["events"][0]
    assert (event["action_en"], event["to_state_en"]) == ("Cast", "Cast")
    assert event["action_zh"] != "cast" and event["to_state_zh"] != "cast"
    page = world.client("site_supervisor").get(_path(url)).get_data(as_text=True)
    assert f"{event['action_zh']} <span class=\"en\">Cast</span>" in page
    assert "· cast →" not in page  # no key where words belong
    certificate = inside["detail"]["certificate_url"]
    assert certificate == f"/api/v1/components/{component['id']}/certificate.pdf"
    pdf = world.client("site_supervisor").get(certificate)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    outsider = world.client("far_regulator").get(_path(url), headers=JSON).get_json()
    assert outsider["detail"] is None
    bad_token = world.client(token="pt_nonsense").get(_path(url), headers=JSON)
    assert bad_token.status_code == 200 and bad_token.get_json()["detail"] is None


def test_forged_revoked_and_unsigned_links_say_so(world):
    component = world.component("planned", gtin="06901234567892", serial="PC-77")
    old = world.label(component["id"])["url"]
    new = world.label(component["id"], reprint=True)["url"]
    client = world.app.test_client()
    assert client.get(_path(new), headers=JSON).get_json()["label"]["status"] == "genuine"
    revoked = client.get(_path(old), headers=JSON).get_json()["label"]
    assert revoked["status"] == "revoked" and revoked["current_version"] == 2
    forged = _path(new)[:-1] + ("A" if new[-1] != "A" else "B")
    assert client.get(forged, headers=JSON).get_json()["label"]["status"] == "invalid"
    assert "伪造" in client.get(forged).get_data(as_text=True)
    unsigned = client.get("/01/06901234567892/21/PC-77", headers=JSON).get_json()
    assert unsigned["label"]["status"] == "unverified"


def test_the_printed_host_verifies_behind_a_proxy(world):
    # The phone opens PUBLIC_BASE_URL; the app may see another host behind a proxy.
    component = world.component("planned")
    url = world.label(component["id"])["url"]
    assert url.startswith(world.app.config["PUBLIC_BASE_URL"])
    response = world.app.test_client().get(_path(url), headers=JSON,
                                           base_url="http://10.0.0.7:8000")
    assert response.get_json()["label"]["status"] == "genuine"


def test_a_load_label_names_its_pieces_states_in_both_languages(world):
    ids = [world.component("stored")["id"] for _ in range(3)]
    load = world.client("factory_worker").post("/api/v1/loads", json={
        "project_id": world.ids["project_main"], "component_ids": ids}).get_json()
    # Accepted, turned back and kept on site damaged: three states on one truck.
    exceptions = [{"component_id": ids[1], "action": "reject_delivery"},
                  {"component_id": ids[2], "action": "report_damage"}]
    for action, role, extra in (("load", "factory_worker", {}),
                                ("depart", "factory_worker", {}),
                                ("arrive", "site_supervisor", {}),
                                ("accept_delivery", "site_supervisor",
                                 {"exceptions": exceptions})):
        response = world.client(role).post(f"/api/v1/loads/{load['id']}/scans", json={
            "action": action, "client_event_id": str(uuid.uuid4()), **extra})
        assert response.status_code == 201, response.get_json()
    path = _path(load["label_url"])
    reader = world.client("site_supervisor")
    html = reader.get(path, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    pieces = re.search(r"<ol>(.*?)</ol>", html, re.S).group(1)
    for words in ('进场验收 <span class="en">Accepted on site</span>',
                  '退场 <span class="en">Rejected</span>',
                  '已到场 <span class="en">Delivered</span>'):
        assert words in pieces
    assert not re.search(r"accepted_on_site|delivered|· rejected", pieces), pieces
    items = reader.get(path, headers=JSON).get_json()["detail"]["items"]
    assert [(i["component_id"], i["state"], i["state_zh"], i["state_en"]) for i in items] == [
        (ids[0], "accepted_on_site", "进场验收", "Accepted on site"),
        (ids[1], "rejected", "退场", "Rejected"), (ids[2], "delivered", "已到场", "Delivered")]


@pytest.mark.parametrize("path", ["/c/NOTACODE1", "/c/ABCDEFGH2", "/01/06901234567892/21/none",
                                  "/00/123", "/00/000000000000000000", "/l/ABCDEFGH2"])
def test_unknown_labels_are_404_in_both_languages_or_as_a_problem(world, path):
    client = world.app.test_client()
    page = client.get(path)
    assert page.status_code == 404 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "未知标签" in text and "Unknown label" in text and "report it" in text
    problem = client.get(path, headers=JSON)
    assert problem.status_code == 404 and problem.mimetype == "application/problem+json"
    assert problem.get_json()["type"].endswith("/not-found")


# --- POST /api/v1/decode ----------------------------------------------------------


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def _label_photo(world, component) -> bytes:
    png = world.client("admin").post(f"/api/v1/components/{component['id']}/label.png").data
    label = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    photo = np.full((label.shape[0] + 400, label.shape[1] + 600), 120, np.uint8)
    photo[200:200 + label.shape[0], 300:300 + label.shape[1]] = label
    return _png_bytes(photo)


def _decode(world, data: bytes, role="site_supervisor", name="photo.png"):
    return world.client(role).post("/api/v1/decode",
                                   data={"image": (io.BytesIO(data), name)},
                                   content_type="multipart/form-data")


def test_a_photo_of_a_label_gives_the_component_back(world):
    component = world.component("in_transit")
    response = _decode(world, _label_photo(world, component))
    assert response.status_code == 200, response.get_json()
    codes = response.get_json()["codes"]
    assert len(codes) == 1 and codes[0]["genuine"] is True
    assert codes[0]["component"]["id"] == component["id"]
    assert codes[0]["component"]["state"] == "in_transit"
    xs = [x for x, _ in codes[0]["points"]]
    assert min(xs) > 300 and codes[0]["engine"] == "zxing-cpp"
    # Outside the project the code is read but the component is not shown.
    # Outside the project the code is read, but neither the component nor the state of
    # its label (current, revoked) is told.
    world.label(component["id"], reprint=True)
    other = _decode(world, _label_photo(world, component), role="other_worker").get_json()
    assert other["codes"][0]["component"] is None and other["codes"][0]["genuine"] is None
    assert other["codes"][0]["label_status"] == "unknown"


def test_regulators_do_not_decode_photos(world):
    component = world.component("in_transit")
    response = _decode(world, _label_photo(world, component), role="regulator")
    assert response.status_code == 403 and response.mimetype == PROBLEM


def test_a_photo_without_codes_reads_nothing(world):
    response = _decode(world, _png_bytes(np.full((300, 400), 200, np.uint8)))
    assert response.status_code == 200 and response.get_json()["codes"] == []


@pytest.mark.parametrize("data,status,kind", [
    (png_declaring(20000, 20000), 413, "image-too-large"),
    (b"GIF89a" + b"\x00" * 100, 415, "unsupported-image"),
    (b"%PDF-1.4 not an image", 415, "unsupported-image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 422, "unreadable-image"),
    (b"\xff\xd8\xff\xe0" + b"garbage" * 10, 422, "unreadable-image"),
])
def test_bad_uploads_are_refused_with_their_own_problem(world, data, status, kind):
    response = _decode(world, data)
    assert response.status_code == status, response.get_json()
    assert response.mimetype == PROBLEM and response.get_json()["type"].endswith("/" + kind)


def test_a_decode_needs_an_image_and_a_token(world):
    response = world.client("admin").post("/api/v1/decode", data={},
                                          content_type="multipart/form-data")
    assert response.status_code == 422 and "image" in response.get_json()["errors"]
    anonymous = world.app.test_client().post("/api/v1/decode", data={
        "image": (io.BytesIO(b"x"), "x.png")}, content_type="multipart/form-data")
    assert anonymous.status_code == 401


def test_an_oversized_upload_is_413(world):
    world.app.config["MAX_CONTENT_LENGTH"] = 10_000
    response = _decode(world, b"\xff\xd8\xff" + b"\x00" * 20_000)
    assert response.status_code == 413 and response.mimetype == PROBLEM
