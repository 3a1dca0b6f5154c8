"""GS1 EPCIS 2.0: events exported as EPCISQueryDocuments, documents captured as scans."""

import json
import os
import re
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from construction import lifecycle
from construction.extensions import db
from construction.models import Event

PROBLEM = "application/problem+json"
CORPUS = Path(os.environ.get("EPCIS_CORPUS", "/work/shared/corpus/epcis"))
BASE = "http://127.0.0.1:8000"  # PUBLIC_BASE_URL's default, which the tests run with
EVENTS = "/api/v1/epcis/events"
CAPTURE = "/api/v1/epcis/capture"
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]*")


def _gtin(item: int) -> str:
    body = f"0952114{item:06d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def _sgtin(gtin: str, serial: str) -> str:
    """Write a GTIN (company prefix of 7 digits) with a serial as an SGTIN URN."""
    return f"urn:epc:id:sgtin:{gtin[1:8]}.{gtin[0]}{gtin[8:13]}.{serial}"


@pytest.fixture(scope="module")
def gs1_schema():
    """A validator for the GS1 EPCIS 2.0 JSON Schema, read from the corpus."""
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    root = CORPUS / "gs1" / "JSON-Schema"
    if not (root / "EPCIS-JSON-Schema-root.json").is_file():
        pytest.skip("the GS1 EPCIS corpus is not present")
    from referencing.jsonschema import DRAFT7

    resources = []
    for path in sorted(root.glob("*.json")) + sorted((root / "schemas").glob("*.json")):
        contents = json.loads(path.read_text())
        if "$id" in contents:
            resources.append((contents["$id"], referencing.Resource.from_contents(
                contents, default_specification=DRAFT7)))
    registry = referencing.Registry().with_resources(resources)
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("uri")
    def _uri(value):
        return not isinstance(value, str) or _URI.fullmatch(value) is not None

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value):
        if not isinstance(value, str):
            return True
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
            return False
        datetime.fromisoformat(value)
        return True

    schema = json.loads((root / "EPCIS-JSON-Schema-root.json").read_text())
    validator = jsonschema.Draft7Validator(schema, registry=registry, format_checker=checker)
    # The validator really checks: a GS1 example passes, a broken copy fails.
    example = json.loads((CORPUS / "gs1" / "JSON" / "EPCISQueryDocument.jsonld").read_text())
    assert list(validator.iter_errors(example)) == []
    example["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0]["action"] = "CREATE"
    assert list(validator.iter_errors(example)) != []
    return validator


def _assert_valid(validator, document):
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(document)]
    assert errors == [], errors[:5]


def _events(client, **params):
    response = client.get(EVENTS, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]


def _every_action(world):
    """Components whose events cover every lifecycle action, with and without location."""
    gs1 = world.component("accepted", gtin=_gtin(1), serial="S/1")
    rejected = world.component("rejected", gtin=_gtin(2), serial="S2")
    coded = world.component("planned")
    code = coded["code"]
    world.scan(code, "cast", expect=201, client_time="2020-01-01T08:00:00+08:00",
               location={"latitude": 30.274085, "longitude": 120.15507})
    world.scan(code, "demould", expect=201, client_time="2026-03-01T09:30:00-05:30")
    for action in ("qc_fail", "repair", "qc_pass", "hold", "release", "report_damage",
                   "repair", "store"):
        world.scan(code, action, expect=201, location={"latitude": 30.3, "longitude": 120.2})
    scrap = world.scan(code, "scrap", expect=201).get_json()["event"]
    world.scan(code, "correct", role="project_manager", expect=201,
               corrects_event_id=scrap["id"])
    return gs1, rejected, coded, scrap


# --- export ----------------------------------------------------------------------


def test_the_export_validates_and_covers_every_action(world, gs1_schema):
    gs1, rejected, coded, scrap = _every_action(world)
    response = world.client("admin").get(EVENTS, query_string={"perPage": 500})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["GS1-EPCIS-Version"] == "2.0.0" and "Link" not in response.headers
    document = response.get_json()
    _assert_valid(gs1_schema, document)
    assert document["@context"][0] == "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    assert document["type"] == "EPCISQueryDocument" and document["schemaVersion"] == "2.0"
    results = document["epcisBody"]["queryResults"]
    assert results["queryName"] == "SimpleEventQuery"
    events = results["resultsBody"]["eventList"]
    assert {e["pt:action"] for e in events} == set(lifecycle.ACTIONS)
    by_action = {}
    for event in events:
        by_action.setdefault(event["pt:action"], []).append(event)
        spec = lifecycle.ACTIONS[event["pt:action"]]
        assert (event["bizStep"], event["disposition"]) == (spec.biz_step, spec.disposition)
        assert event["action"] == {"cast": "ADD", "scrap": "DELETE"}.get(event["pt:action"],
                                                                          "OBSERVE")
        assert event["bizLocation"]["id"] == f"urn:prefabtrace:project:{world.ids['project_main']}"
    assert len({e["eventID"] for e in events}) == len(events)
    epcs = {e["epcList"][0] for e in events}
    assert epcs == {f"{BASE}/01/{_gtin(1)}/21/S%2F1", f"{BASE}/01/{_gtin(2)}/21/S2",
                    f"{BASE}/c/{coded['code']}"}
    # Client time and offset when the scan had them; else server time in UTC.
    first_cast = next(e for e in by_action["cast"] if e["pt:componentCode"] == coded["code"])
    assert first_cast["eventTime"].startswith("2020-01-01T08:00:00")
    assert first_cast["eventTimeZoneOffset"] == "+08:00"
    assert first_cast["readPoint"] == {"id": "geo:30.274085,120.15507"}
    assert first_cast["pt:stateBefore"] == "planned" and first_cast["pt:stateAfter"] == "cast"
    assert first_cast["pt:user"] == "user-admin" and first_cast["pt:organization"] == "Maker"
    assert by_action["demould"][-1]["eventTimeZoneOffset"] == "-05:30"
    assert all(e["eventTimeZoneOffset"] == "+00:00" and "readPoint" not in e
               for e in by_action["install"])
    assert by_action["connect"][0]["pt:record"] == "REC-1"
    # The scrap was corrected: it declares the error and names the correction.
    scrapped = by_action["scrap"][0]
    correction = by_action["correct"][0]
    assert scrapped["pt:eventNumber"] == scrap["id"]
    assert scrapped["errorDeclaration"]["reason"] == "incorrect_data"
    assert scrapped["errorDeclaration"]["correctiveEventIDs"] == [correction["eventID"]]
    assert scrapped["errorDeclaration"]["declarationTime"] == correction["eventTime"]
    assert correction["pt:correctsEventID"] == scrapped["eventID"]
    assert sum("errorDeclaration" in e for e in events) == 1
    # Event ids are stable from one query to the next.
    again = _events(world.client("admin"), perPage=500)
    assert [e["eventID"] for e in again] == [e["eventID"] for e in events]


def _load_trip(world, sscc_prefix: str | None = "6901234"):
    """A load of three components (one with GS1 numbers), loaded, driven and accepted."""
    if sscc_prefix:
        world.app.config["GS1_COMPANY_PREFIX"] = sscc_prefix
    pieces = [world.component("stored", gtin=_gtin(7), serial="L-1"),
              world.component("stored"), world.component("stored")]
    load = world.client("factory_worker").post("/api/v1/loads", json={
        "project_id": world.ids["project_main"],
        "component_ids": [p["id"] for p in pieces]}).get_json()
    for action, role, extra in (
            ("load", "factory_worker", {"location": {"latitude": 30.2, "longitude": 120.1}}),
            ("depart", "factory_worker", {}), ("arrive", "site_supervisor", {}),
            # The bottom piece, the first of the load, is the exception: the scan's own
            # event (its anchor in an export) is the second piece's.
            ("accept_delivery", "site_supervisor", {"exceptions": [{
                "component_id": pieces[0]["id"], "action": "reject_delivery"}]})):
        response = world.client(role).post(f"/api/v1/loads/{load['id']}/scans", json={
            "action": action, "client_event_id": f"trip-{action}-0001", **extra})
        assert response.status_code == 201, response.get_json()
    return load, pieces


def test_loading_and_unloading_export_as_aggregation_events(world, gs1_schema):
    load, pieces = _load_trip(world)
    response = world.client("regulator").get(EVENTS, query_string={"perPage": 500})
    document = response.get_json()
    _assert_valid(gs1_schema, document)
    events = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    aggregations = [e for e in events if e["type"] == "AggregationEvent"]
    assert [(e["action"], e["bizStep"]) for e in aggregations] == [("ADD", "loading"),
                                                                   ("DELETE", "receiving")]
    sscc = load["sscc"]
    assert {e["parentID"] for e in aggregations} == {
        f"urn:epc:id:sscc:6901234.{sscc[0]}{sscc[8:17]}"}
    children = [f"{BASE}/01/{_gtin(7)}/21/L-1", f"{BASE}/c/{pieces[1]['code']}",
                f"{BASE}/c/{pieces[2]['code']}"]
    assert all(e["childEPCs"] == children for e in aggregations)
    assert aggregations[0]["readPoint"] == {"id": "geo:30.2,120.1"}
    assert aggregations[0]["pt:load"] == load["code"]
    assert len({e["eventID"] for e in events}) == len(events)
    # The component events stay ObjectEvents, one per component and scan.
    assert sum(e["type"] == "ObjectEvent" and e["pt:action"] == "load" for e in events) == 3
    only = _events(world.client("admin"), eventType="AggregationEvent", perPage=500)
    assert [e["eventID"] for e in only] == [e["eventID"] for e in aggregations]
    assert [e["action"] for e in _events(world.client("admin"), eventType="AggregationEvent",
                                         EQ_action="DELETE")] == ["DELETE"]
    assert all(e["type"] == "ObjectEvent"
               for e in _events(world.client("admin"), eventType="ObjectEvent", perPage=500))


def test_a_load_rejected_whole_ends_its_aggregation_too(world, gs1_schema):
    pieces = [world.component("stored") for _ in range(2)]
    load = world.client("factory_worker").post("/api/v1/loads", json={
        "project_id": world.ids["project_main"],
        "component_ids": [p["id"] for p in pieces]}).get_json()
    for action, role in (("load", "factory_worker"), ("depart", "factory_worker"),
                         ("arrive", "site_supervisor"), ("reject_delivery", "site_supervisor")):
        response = world.client(role).post(f"/api/v1/loads/{load['id']}/scans", json={
            "action": action, "client_event_id": f"whole-{action}-0001"})
        assert response.status_code == 201, response.get_json()
    document = world.client("admin").get(EVENTS, query_string={
        "eventType": "AggregationEvent"}).get_json()
    _assert_valid(gs1_schema, document)
    events = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [(e["action"], e["pt:action"]) for e in events] == [("ADD", "load"),
                                                                ("DELETE", "reject_delivery")]


def test_a_load_without_gs1_numbers_aggregates_under_its_load_link(world, gs1_schema):
    load, _ = _load_trip(world, sscc_prefix=None)
    document = world.client("admin").get(EVENTS, query_string={
        "eventType": "AggregationEvent"}).get_json()
    _assert_valid(gs1_schema, document)
    events = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert {e["parentID"] for e in events} == {f"{BASE}/l/{load['code']}"}


def test_the_export_carries_the_ifc_global_id(world, gs1_schema):
    from_model = world.component("delivered", ifc_global_id="2" + "G" * 21,
                                 ifc_class="IfcElementAssembly")
    typed_in = world.component("cast")
    document = world.client("admin").get(EVENTS, query_string={"perPage": 500}).get_json()
    _assert_valid(gs1_schema, document)
    events = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    modelled = [e for e in events if e["pt:componentCode"] == from_model["code"]]
    assert [e["pt:action"] for e in modelled][:2] == ["cast", "demould"] and len(modelled) > 4
    assert all(e["pt:ifcGlobalId"] == "2" + "G" * 21 for e in modelled)
    assert modelled[0]["action"] == "ADD"
    assert modelled[0]["ilmd"] == {"pt:ifcGlobalId": "2" + "G" * 21}
    assert all("ilmd" not in e for e in modelled[1:])  # only an ADD event carries ilmd
    others = [e for e in events if e["pt:componentCode"] == typed_in["code"]]
    assert others and all("pt:ifcGlobalId" not in e and "ilmd" not in e for e in others)


def test_filters_select_events(world):
    gs1, rejected, coded, scrap = _every_action(world)
    client = world.client("admin")
    for value in ("inspecting", "urn:epcglobal:cbv:bizstep:inspecting",
                  "https://ref.gs1.org/cbv/BizStep-inspecting"):
        assert {e["bizStep"] for e in _events(client, EQ_bizStep=value)} == {"inspecting"}
    both = _events(client, EQ_bizStep="storing|loading")
    assert {e["pt:action"] for e in both} == {"store", "load"}
    assert {e["pt:action"] for e in _events(client, EQ_bizStep="storing,loading")} == \
        {"store", "load"}
    assert _events(client, EQ_bizStep="shipping") == []  # a CBV step we never record
    assert {e["pt:action"] for e in _events(client, EQ_bizStep="inspecting",
                                            EQ_disposition="non_conformant")} == {"qc_fail"}
    assert {e["pt:action"] for e in _events(client, EQ_action="ADD")} == {"cast"}
    assert {e["pt:action"] for e in _events(client, EQ_action="DELETE")} == {"scrap"}
    assert _events(client, eventType="AggregationEvent") == []
    epc = f"{BASE}/01/{_gtin(1)}/21/S%2F1"
    assert {e["epcList"][0] for e in _events(client, MATCH_epc=epc)} == {epc}
    urn = _sgtin(_gtin(2), "S2")
    assert {e["epcList"][0] for e in _events(client, MATCH_epc=urn)} == \
        {f"{BASE}/01/{_gtin(2)}/21/S2"}
    assert _events(client, MATCH_epc="urn:epc:id:sgtin:0614141.107346.2017") == []
    early = _events(client, LT_eventTime="2021-01-01T00:00:00+08:00")
    assert [e["pt:action"] for e in early] == ["cast"]
    # An unencoded '+' arrives as a space: it is understood all the same.
    assert client.get(f"{EVENTS}?LT_eventTime=2021-01-01T00:00:00+08:00").get_json()[
        "epcisBody"]["queryResults"]["resultsBody"]["eventList"] == early
    assert len(_events(client, GE_eventTime="2021-01-01T00:00:00Z", perPage=500)) == \
        len(_events(client, perPage=500)) - 1
    assert _events(client, GE_recordTime="2099-01-01T00:00:00Z") == []
    assert len(_events(client, LT_recordTime="2099-01-01T00:00:00Z", perPage=500)) == \
        len(_events(client, perPage=500))
    assert len(_events(client, project_id=world.ids["project_main"], perPage=500)) == \
        len(_events(client, perPage=500))


def test_pages_follow_the_link_header(world):
    world.component("stored")
    world.component("loaded")
    client = world.client("admin")
    everything = _events(client, perPage=500)
    seen, url, pages = [], f"{EVENTS}?perPage=3&EQ_action=OBSERVE,ADD", 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += response.get_json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        link = response.headers.get("Link")
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else None
        pages += 1
    assert [e["eventID"] for e in seen] == [e["eventID"] for e in everything]
    assert pages == -(-len(everything) // 3)


@pytest.mark.parametrize("params", [
    {"EQ_bizStep": "transforming"}, {"EQ_disposition": "in_transport"},
    {"EQ_action": "CREATE"}, {"GE_eventTime": "yesterday"},
    {"LT_recordTime": "2026-01-01T00:00:00"}, {"perPage": "0"}, {"perPage": "x"},
    {"nextPageToken": "not-a-token"}, {"EQ_readPoint": "urn:epc:id:sgln:1.2.3"},
    {"project_id": "-1"}, {"GE_eventTime": "1999-01-01T00:00:00Z"},
])
def test_bad_parameters_are_refused(world, params):
    response = world.client("admin").get(EVENTS, query_string=params)
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert response.get_json()["type"].endswith("/validation-error")


def test_regulators_see_their_region_only(world):
    main = world.component("stored")
    far = world.component("cast", project="far")
    near_epcs = {e["epcList"][0] for e in _events(world.client("regulator"), perPage=500)}
    assert near_epcs == {f"{BASE}/c/{main['code']}"}
    far_epcs = {e["epcList"][0] for e in _events(world.client("far_regulator"), perPage=500)}
    assert far_epcs == {f"{BASE}/c/{far['code']}"}
    assert _events(world.client("regulator"), project_id=world.ids["project_main"])
    refused = world.client("far_regulator").get(
        EVENTS, query_string={"project_id": world.ids["project_main"]})
    assert refused.status_code == 404 and refused.mimetype == PROBLEM
    assert world.client("other_worker").get(
        EVENTS, query_string={"project_id": world.ids["project_main"]}).status_code == 404
    assert world.client().get(EVENTS).status_code == 401
    assert world.client(token="nonsense").get(EVENTS).status_code == 401


# --- capture ---------------------------------------------------------------------


def _document(*events, context=None):
    return {"@context": context or ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
                                    {"pt": "urn:prefabtrace:epcis:"}],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-11-25T10:00:00+08:00", "epcisBody": {"eventList": list(events)}}


def _object_event(epcs, biz_step, disposition=None, time="2026-11-25T10:00:00+08:00", **more):
    event = {"type": "ObjectEvent", "eventTime": time, "eventTimeZoneOffset": "+08:00",
             "epcList": epcs, "action": "ADD" if biz_step == "commissioning" else "OBSERVE",
             "bizStep": biz_step, **more}
    if disposition:
        event["disposition"] = disposition
    return event


def _state(world, component_id):
    response = world.client("admin").get(f"/api/v1/components/{component_id}")
    return response.get_json()["state"]


def _event_count(world):
    with world.app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(Event))


def test_a_document_about_our_components_moves_them_once(world, gs1_schema):
    gs1 = world.component("planned", gtin=_gtin(7), serial="A-7")
    coded = world.component("planned")
    installed = world.component("installed")
    dl = f"https://id.gs1.org/01/{_gtin(7)}/21/A-7"  # any Digital Link host names it
    urn = _sgtin(_gtin(7), "A-7")
    code_epc = f"{BASE}/c/{coded['code']}"
    document = _document(
        # Out of order on purpose: events are recorded by event time.
        _object_event([urn], "inspecting", "conformant", "2026-11-25T12:00:00+08:00",
                      eventID=f"urn:uuid:{uuid.uuid4()}"),
        _object_event([dl, code_epc], "commissioning", "active", "2026-11-25T10:00:00+08:00",
                      eventID=f"urn:uuid:{uuid.uuid4()}",
                      readPoint={"id": "geo:30.27,120.15"}),
        _object_event([dl, code_epc], "assembling", "in_progress", "2026-11-25T11:00:00+08:00"),
        _object_event([dl], "storing", None, "2026-11-25T13:00:00+08:00",
                      eventID=f"urn:uuid:{uuid.uuid4()}"),
        _object_event([f"{BASE}/c/{installed['code']}"], "assembling", "in_progress",
                      eventID=f"urn:uuid:{uuid.uuid4()}", **{"pt:record": "GROUT-12"}),
    )
    _assert_valid(gs1_schema, document)
    client = world.client("project_manager")
    before = _event_count(world)
    response = client.post(CAPTURE, json=document)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["captureErrorBehaviour"] == "proceed"
    assert (response.headers["GS1-Capture-Error-Behaviour"],
            response.headers["GS1-EPCIS-Version"], response.headers["GS1-CBV-Version"]) \
        == ("proceed", "2.0.0", "2.0.0")
    assert (body["accepted"], body["rejected"], body["partial"]) == (5, 0, 0)
    assert [e["action"] for e in body["events"]] == ["qc_pass", "cast", "demould", "store",
                                                     "connect"]
    assert all(epc["outcome"] == "accepted" for e in body["events"] for epc in e["epcs"])
    assert _state(world, gs1["id"]) == "stored"
    assert _state(world, coded["id"]) == "demoulded"
    assert _state(world, installed["id"]) == "connected"
    assert _event_count(world) == before + 7
    cast = body["events"][1]["epcs"][0]["event"]
    assert cast["client_time"] == "2026-11-25T10:00:00+08:00"
    assert cast["location"] == {"latitude": 30.27, "longitude": 120.15}
    assert cast["data"]["epcis_event_id"] == document["epcisBody"]["eventList"][1]["eventID"]
    # The same document again (as JSON-LD) records nothing new.
    again = client.post(CAPTURE, data=json.dumps(document),
                        content_type="application/ld+json")
    assert again.status_code == 200
    assert again.get_json()["duplicate"] == 5 and again.get_json()["accepted"] == 0
    assert _event_count(world) == before + 7
    # What was captured reads back as EPCIS.
    exported = _events(world.client("regulator"), MATCH_epc=dl)
    assert [e["pt:action"] for e in exported] == ["cast", "demould", "qc_pass", "store"]
    assert exported[0]["readPoint"] == {"id": "geo:30.27,120.15"}


def test_events_that_are_not_ours_are_refused_one_by_one(world):
    mine = world.component("planned")
    far = world.component("planned", project="far")
    document = _document(
        _object_event([f"{BASE}/c/{mine['code']}"], "shipping", "in_transit"),
        _object_event([f"{BASE}/c/{mine['code']}"], "inspecting"),
        _object_event([f"{BASE}/c/{mine['code']}", f"{BASE}/c/{far['code']}",
                       "urn:epc:id:sgtin:0614141.107346.2017"], "commissioning", "active"),
        _object_event([f"{BASE}/c/{mine['code']}"], "void_shipping", "unknown"),
        {"type": "AggregationEvent", "eventTime": "2026-11-25T10:00:00Z",
         "eventTimeZoneOffset": "+00:00", "action": "ADD", "parentID": "urn:epc:id:sscc:1.2",
         "childEPCs": [f"{BASE}/c/{mine['code']}"]},
        _object_event([], "commissioning", "active",
                      quantityList=[{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877",
                                     "quantity": 2}]),
        _object_event([f"{BASE}/c/{mine['code']}"], "commissioning", "active",
                      errorDeclaration={"declarationTime": "2026-11-25T10:00:00Z"}),
    )
    document["epcisBody"]["eventList"][5].pop("epcList")
    response = world.client("factory_worker").post(CAPTURE, json=document)
    assert response.status_code == 200, response.get_json()
    events = response.get_json()["events"]
    kinds = [(e["outcome"], e.get("problem", {}).get("type", "").rsplit("/", 1)[-1])
             for e in events]
    assert kinds == [("rejected", "unmapped-biz-step"), ("rejected", "unmapped-biz-step"),
                     ("partial", ""), ("rejected", "unmapped-biz-step"),
                     ("rejected", "unsupported-event"), ("rejected", "unsupported-event"),
                     ("rejected", "unsupported-event")]
    assert "needs a disposition" in events[1]["problem"]["detail"]
    per_epc = {e["epc"]: e for e in events[2]["epcs"]}
    assert per_epc[f"{BASE}/c/{mine['code']}"]["outcome"] == "accepted"
    for epc in (f"{BASE}/c/{far['code']}", "urn:epc:id:sgtin:0614141.107346.2017"):
        assert per_epc[epc]["outcome"] == "rejected"
        assert per_epc[epc]["problem"]["type"].endswith("/unknown-epc")
    # Lifecycle and role rules apply as to any scan.
    refused = world.client("site_supervisor").post(CAPTURE, json=_document(
        _object_event([f"{BASE}/c/{mine['code']}"], "assembling", "in_progress")))
    problem = refused.get_json()["events"][0]["epcs"][0]["problem"]
    assert problem["type"].endswith("/forbidden-action")


def test_who_may_capture(world):
    component = world.component("planned")
    document = _document(_object_event([f"{BASE}/c/{component['code']}"], "commissioning",
                                       "active"))
    for role in ("regulator", "far_regulator"):
        response = world.client(role).post(CAPTURE, json=document)
        assert response.status_code == 403 and response.mimetype == PROBLEM
    assert world.client().post(CAPTURE, json=document).status_code == 401
    assert _state(world, component["id"]) == "planned"


@pytest.mark.parametrize("body,content_type,status", [
    ("{not json", "application/json", 400),
    ("<EPCISDocument/>", "application/xml", 415),
    ("[]", "application/json", 422),
    ('"EPCISDocument"', "application/json", 422),
    ('{"type": "EPCISDocument"}', "application/json", 422),
    ('{"type": "ObjectEvent", "action": "ADD"}', "application/json", 422),
    (json.dumps(_document(_object_event(["urn:x:1"], "commissioning", time="2026-11-25"))),
     "application/json", 422),
    (json.dumps(_document(_object_event("urn:x:1", "commissioning"))), "application/json", 422),
    (json.dumps({**_document(), "schemaVersion": "1.2"}), "application/json", 422),
    (json.dumps({**_document(), "epcisBody": {"eventList": [None]}}), "application/json", 422),
    ("[" * 100000 + "]" * 100000, "application/json", 400),
])
def test_malformed_documents_are_refused_whole(world, body, content_type, status):
    response = world.client("project_manager").post(CAPTURE, data=body,
                                                    content_type=content_type)
    assert response.status_code == status and response.mimetype == PROBLEM


def _corpus(folder: str) -> list[Path]:
    path = CORPUS / "openepcis" / "Capture" / folder
    if not path.is_dir():
        pytest.skip("the openepcis capture corpus is not present")
    return sorted(path.glob("*.json"))


def test_the_openepcis_capture_corpus_is_answered(world):
    client = world.client("project_manager")
    for path in _corpus("Documents"):
        response = client.post(CAPTURE, data=path.read_bytes(), content_type="application/json")
        assert response.status_code == 200, (path.name, response.get_json())
        body = response.get_json()
        # None of these is about our components: every event is refused, with a reason.
        assert body["events"] and all(e["outcome"] == "rejected" for e in body["events"])
        for event in body["events"]:
            reasons = [event.get("problem")] + [e.get("problem") for e in event["epcs"]]
            assert all(r and r["detail"] for r in reasons if r is not None), path.name
            assert event.get("problem") or event["epcs"], path.name
    for path in _corpus("Events"):  # single events are not documents
        response = client.post(CAPTURE, data=path.read_bytes(), content_type="application/json")
        assert response.status_code == 422 and response.mimetype == PROBLEM, path.name
        assert "single event" in response.get_json()["detail"]
    for path in _corpus("Invalid"):
        response = client.post(CAPTURE, data=path.read_bytes(), content_type="application/json")
        assert response.status_code == 422 and response.mimetype == PROBLEM, path.name
        assert response.get_json()["errors"], path.name
    assert _event_count(world) == 0


def test_quoted_serials_round_trip():
    from construction.services.epcis.vocabulary import component_epc, epc_key

    epc = component_epc(BASE, "K7M4Q2P9C", _gtin(3), "A/B%1")
    assert epc == f"{BASE}/01/{_gtin(3)}/21/{quote('A/B%1', safe='')}"
    key = epc_key(epc)
    assert (key.gtin, key.serial) == (_gtin(3), "A/B%1")
    assert epc_key("urn:epc:id:sgtin:9521140.000003.A%2FB") == key.__class__(
        "gs1", gtin=_gtin(3), serial="A/B")
    assert epc_key("K7M4Q2P9C") is None


def test_the_openapi_document_describes_epcis(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    query = spec["paths"]["/api/v1/epcis/events"]["get"]
    assert query["summary"] == "Query lifecycle events as an EPCIS 2.0 EPCISQueryDocument."
    assert {"EQ_bizStep", "MATCH_epc", "perPage", "nextPageToken"} <= \
        {p["name"] for p in query["parameters"]}
    capture = spec["paths"]["/api/v1/epcis/capture"]["post"]
    assert set(capture["requestBody"]["content"]) == {"application/json", "application/ld+json"}
