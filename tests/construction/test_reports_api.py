"""Regulator reports: progress, daily curve, stalled, quality, CSV exports; scope."""

import csv
import io
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, update

from bench.events_csv import reference_lines
from construction.auth import authenticate_request
from construction.extensions import db
from construction.ledger_format import utf8
from construction.models import Component, Event, Organization, ProgressCounter, User
from construction.permissions import principal_from
from construction.services.chain import seal_all
from construction.services.reports import ReportFilters, _csv_lines, spreadsheet_safe
from construction.services.scans import ScanItem, record_scans


def test_progress_counts_by_state_and_group_within_the_region(world):
    for state in ("planned", "cast", "cast", "installed"):
        world.component(state)
    world.component("installed", project="far")
    body = world.client("regulator").get("/api/v1/progress").get_json()
    assert body["total"] == 4
    assert body["by_state"] == {"cast": 2, "installed": 1, "planned": 1}
    assert body["percent_by_state"]["cast"] == 50.0
    assert [p["name"] for p in body["by_project"]] == ["Project main"]
    assert body["by_type"][0]["name"] == "Wall" and body["by_storey"] == []
    project = world.client("regulator").get(
        f"/api/v1/progress?project_id={world.ids['project_main']}").get_json()
    assert project["by_storey"][0]["name"] == "1F" and project["by_building"][0]["name"] == "B1"
    assert project["by_storey"][0]["by_state"] == {"cast": 2, "installed": 1, "planned": 1}
    admin = world.client("admin").get("/api/v1/progress").get_json()
    assert admin["total"] == 5 and len(admin["by_project"]) == 2
    region = world.client("admin").get("/api/v1/progress?region=4401").get_json()
    assert region["total"] == 1
    far = world.client("far_regulator").get("/api/v1/progress").get_json()
    assert far["total"] == 1 and far["by_state"] == {"installed": 1}
    filtered = world.client("regulator").get(
        f"/api/v1/progress?storey_id={world.ids['storey_main']}&component_type_id="
        f"{world.ids['type_main']}").get_json()
    assert filtered["total"] == 4
    assert world.client("regulator").get("/api/v1/progress?region=abc").status_code == 422
    assert world.client().get("/api/v1/progress").status_code == 401


def test_daily_transitions_and_the_installed_curve(world):
    world.component("installed")
    world.component("cast")
    body = world.client("regulator").get("/api/v1/progress/daily").get_json()
    assert len(body["days"]) == 1
    transitions = body["days"][0]["transitions"]
    assert transitions["cast"] == 2 and transitions["install"] == 1
    assert body["installed_vs_planned"][-1] == {"day": body["days"][0]["day"], "installed": 1,
                                                "planned": 2}
    later = world.client("regulator").get("/api/v1/progress/daily?since=2100-01-01").get_json()
    assert later["days"] == [] and later["deliveries"] == []
    # Narrowed by type, the same days come from the counters per type.
    by_type = world.client("regulator").get(
        f"/api/v1/progress/daily?component_type_id={world.ids['type_main']}").get_json()
    assert by_type["days"] == body["days"]
    maker = world.client("regulator").get(
        f"/api/v1/progress/daily?manufacturer_id={world.ids['org_other_maker']}").get_json()
    assert maker["days"] == []
    # Counted per project and type, not per storey: such a filter is refused, not ignored.
    storey = world.client("regulator").get(
        f"/api/v1/progress/daily?storey_id={world.ids['storey_main']}")
    assert storey.status_code == 422 and "storey_id" in storey.get_json()["errors"]["query"]


def _daily_days(world, role: str, query: str = "") -> list[dict]:
    return world.client(role).get(f"/api/v1/progress/daily{query}").get_json()["days"]


def test_a_regions_daily_curve_follows_its_projects_wherever_they_move(world):
    world.component("installed")
    world.component("cast", project="far")
    main_days = _daily_days(world, "regulator", f"?project_id={world.ids['project_main']}")
    far_days = _daily_days(world, "far_regulator")
    assert [d["transitions"].get("install") for d in main_days] == [1]
    assert [d["transitions"] for d in far_days] == [{"cast": 1}]
    # Read by region (`rday`), the same days as the projects' own counters (`pday`).
    assert _daily_days(world, "regulator") == main_days
    assert _daily_days(world, "regulator", "?region=3301") == main_days
    assert _daily_days(world, "regulator", "?region=4401") == []
    both = _daily_days(world, "admin")
    assert both[0]["transitions"]["cast"] == main_days[0]["transitions"]["cast"] + 1
    assert _daily_days(world, "admin", "?region=4401") == far_days
    # A project moved to another region takes its past transitions along.
    moved = world.client("admin").patch(f"/api/v1/projects/{world.ids['project_far']}",
                                        json={"region_code": "330110"})
    assert moved.status_code == 200, moved.get_json()
    assert _daily_days(world, "far_regulator") == []
    assert _daily_days(world, "regulator") == both
    assert _daily_days(world, "admin") == both


def test_a_region_move_waits_for_a_scan_in_flight_and_takes_its_transitions(world):
    piece = world.component("planned")
    scanned, moving = threading.Event(), threading.Event()
    moved: list = []

    def hold(events, now):  # inside the scan's transaction, before its commit
        scanned.set()
        moving.wait(10)
        time.sleep(1.0)  # the move has started by now, and must wait for this commit

    def scan():
        with world.app.app_context():
            admin = db.session.execute(
                select(User.id, User.name, User.role, User.organization_id, Organization.kind,
                       Organization.region_code).join(Organization)
                .where(User.id == world.ids["user_admin"])).one()
            record_scans(principal_from(admin), [ScanItem(piece["code"], "cast", "in-flight")],
                         before_commit=hold)

    def move():
        moved.append(world.client("admin").patch(
            f"/api/v1/projects/{world.ids['project_main']}", json={"region_code": "440107"}))

    scanner = threading.Thread(target=scan)
    scanner.start()
    assert scanned.wait(10)
    mover = threading.Thread(target=move)
    mover.start()
    moving.set()
    scanner.join(20)
    mover.join(20)
    assert moved[0].status_code == 200, moved[0].get_json()
    assert _daily_days(world, "regulator") == []
    assert [d["transitions"] for d in _daily_days(world, "far_regulator")] == [{"cast": 1}]


def test_recount_regions_restores_what_an_older_release_left_out(world):
    world.component("installed")
    days = _daily_days(world, "regulator")
    with world.app.app_context():
        # As the previous release scans after migration 0017: no region counters.
        db.session.execute(update(ProgressCounter).where(ProgressCounter.kind == "rday")
                           .values(count=0))
        db.session.commit()
    assert _daily_days(world, "regulator") == []
    result = world.app.test_cli_runner().invoke(args=["ledger", "recount-regions"])
    assert result.exit_code == 0, result.output
    assert _daily_days(world, "regulator") == days
    again = world.app.test_cli_runner().invoke(args=["ledger", "recount-regions"])
    assert again.output == result.output and _daily_days(world, "regulator") == days


def test_daily_progress_shows_the_deliveries(world):
    pieces = [world.component("stored")["id"] for _ in range(2)]
    load = world.client("factory_worker").post("/api/v1/loads", json={
        "project_id": world.ids["project_main"], "component_ids": pieces}).get_json()
    for action, role in (("load", "factory_worker"), ("depart", "factory_worker"),
                         ("arrive", "site_supervisor")):
        assert world.client(role).post(f"/api/v1/loads/{load['id']}/scans", json={
            "action": action, "client_event_id": f"daily-{action}"}).status_code == 201
    body = world.client("regulator").get("/api/v1/progress/daily").get_json()
    assert [(d["loads"], d["pieces"]) for d in body["deliveries"]] == [(1, 2)]
    far = world.client("far_regulator").get("/api/v1/progress/daily").get_json()
    assert far["deliveries"] == []


def test_stalled_components(world):
    stuck, moving = world.component("in_transit"), world.component("cast")
    older = world.component("stored")
    not_started, done = world.component("planned"), world.component("accepted")
    far = world.component("cast", project="far")
    with world.app.app_context():
        for component, days in ((stuck, 20), (older, 30), (not_started, 40), (done, 50),
                                (far, 60)):
            db.session.execute(update(Component).where(Component.id == component["id"])
                               .values(updated_at=datetime.now(UTC) - timedelta(days=days)))
        db.session.commit()
    body = world.client("regulator").get("/api/v1/progress/stalled?days=14").get_json()
    assert [item["id"] for item in body["items"]] == [older["id"], stuck["id"]]
    assert body["total"] == 2
    assert body["items"][1]["days_in_state"] >= 19
    assert moving["id"] not in [item["id"] for item in body["items"]]
    # The total counts past the page, and follows the scope and the filters.
    limited = world.client("regulator").get("/api/v1/progress/stalled?days=25&limit=1")
    assert limited.get_json()["total"] == 1
    everyone = world.client("admin").get("/api/v1/progress/stalled?days=14").get_json()
    assert everyone["total"] == 3 and everyone["items"][0]["id"] == far["id"]
    for place in (f"storey_id={world.ids['storey_main']}",
                  f"building_id={world.ids['building_main']}",
                  f"component_type_id={world.ids['type_main']}"):
        narrowed = world.client("admin").get(f"/api/v1/progress/stalled?days=14&{place}")
        assert narrowed.get_json()["total"] == 2, place
    elsewhere = world.client("admin").get(
        f"/api/v1/progress/stalled?days=14&storey_id={world.ids['storey_far']}")
    assert elsewhere.get_json()["total"] == 1


def test_quality_report(world):
    world.component("qc_passed")
    failed = world.component("demoulded")
    world.scan(failed["code"], "qc_fail", role="qc_inspector", expect=201,
               data={"category": "honeycombing"})
    body = world.client("regulator").get("/api/v1/quality").get_json()
    assert body["qc_by_manufacturer"][0]["qc_pass"] == 1
    assert body["qc_by_manufacturer"][0]["qc_fail"] == 1
    assert body["qc_by_manufacturer"][0]["pass_rate"] == 0.5
    assert body["ncrs"] == [{"category": "honeycombing", "status": "open", "count": 1}]


def test_an_ncr_a_later_failure_replaced_is_closed_in_an_earlier_period(world):
    failed = world.component("demoulded")
    world.scan(failed["code"], "qc_fail", role="qc_inspector", expect=201,
               data={"category": "honeycombing"})
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    with world.app.app_context():
        db.session.execute(update(Event).where(Event.component_id == failed["id"],
                                               Event.action == "qc_fail")
                           .values(server_time=three_days_ago))
        db.session.commit()
        zone = timedelta(minutes=world.app.config["REPORT_UTC_OFFSET_MINUTES"])
    world.scan(failed["code"], "repair", role="qc_inspector", expect=201)
    world.scan(failed["code"], "qc_fail", role="qc_inspector", expect=201,
               data={"category": "crack"})
    day = (three_days_ago + zone).date()
    regulator = world.client("regulator")
    then = regulator.get(f"/api/v1/quality?since={day}&until={day + timedelta(days=1)}")
    # Still open is the NCR of the later failure, after the period: not this one.
    assert then.get_json()["ncrs"] == [{"category": "honeycombing", "status": "closed",
                                        "count": 1}]
    assert regulator.get("/api/v1/quality").get_json()["ncrs"] == [
        {"category": "crack", "status": "open", "count": 1},
        {"category": "honeycombing", "status": "closed", "count": 1}]


def _rows(response) -> list[list[str]]:
    assert response.mimetype == "text/csv"
    data = response.get_data()
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_exports_open_in_excel_and_respect_scope(world):
    with world.app.app_context():
        from construction.models import Project

        db.session.get(Project, world.ids["project_main"]).code = "杭州-西溪-01"
        db.session.commit()
    installed = world.component("installed", mark="YWQ-墙-1")
    world.component("cast", project="far")
    components = _rows(world.client("regulator").get("/api/v1/exports/components.csv"))
    assert components[0][:3] == ["id", "code", "mark"]
    assert [row[1] for row in components[1:]] == [installed["code"]]
    assert components[1][2] == "YWQ-墙-1" and components[1][3] == "杭州-西溪-01"
    events = _rows(world.client("regulator").get("/api/v1/exports/events.csv"))
    assert len(events) == 1 + 9 and {row[2] for row in events[1:]} == {installed["code"]}
    assert [row[5] for row in events[1:4]] == ["cast", "demould", "qc_pass"]
    everything = _rows(world.client("admin").get("/api/v1/exports/events.csv"))
    assert len(everything) == 1 + 9 + 1
    none = _rows(world.client("regulator").get("/api/v1/exports/events.csv?until=2000-01-02"))
    assert len(none) == 1
    # Days are the report zone's, as in every report: with a zone whose date is not UTC's
    # today, today's events fall on the zone's day, not on UTC's.
    now = datetime.now(UTC)
    minutes = now.hour * 60 + now.minute
    offset = 1440 - minutes + 30 if 1440 - minutes + 30 <= 14 * 60 else -(minutes + 30)
    world.app.config["REPORT_UTC_OFFSET_MINUTES"] = offset
    zone_day = (now + timedelta(minutes=offset)).date()
    assert zone_day != now.date()
    for day, expected in ((zone_day, 1 + 9), (now.date(), 1)):
        period = f"since={day}&until={day + timedelta(days=1)}"
        assert len(_rows(world.client("regulator").get(
            f"/api/v1/exports/events.csv?{period}"))) == expected, day


@pytest.mark.parametrize("mark", ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)",
                                  "\tX", "\rY"])
def test_csv_cells_never_start_a_formula(world, mark):
    installed = world.component("cast", mark=mark, gtin="06901234567892",
                                serial="=cmd|'/C")
    components = _rows(world.client("admin").get("/api/v1/exports/components.csv"))
    row = next(r for r in components[1:] if r[1] == installed["code"])
    assert row[2] == "'" + mark
    assert row[13] == "'=cmd|'/C"
    assert row[0] == str(installed["id"])  # numbers stay numbers
    events = _rows(world.client("admin").get("/api/v1/exports/events.csv"))
    assert {r[3] for r in events[1:]} == {"'" + mark}


def test_events_csv_writes_every_column_as_the_record_holds_it(world):
    # Every column as stored: formulas defused, commas, quotes and newlines kept, times in UTC.
    with world.app.app_context():
        from construction.models import Organization, User

        db.session.get(User, world.ids["user_admin"]).name = "=admin"
        db.session.get(Organization, world.ids["org_maker"]).name = 'Maker, "Precast"'
        db.session.commit()
    component = world.component("planned", mark="-M1\nsecond line")
    world.scan(component["code"], "cast", expect=201, client_time="2026-11-25T10:00:00+08:00",
               location={"latitude": -33.865, "longitude": 151.2093})
    events = _rows(world.client("admin").get("/api/v1/exports/events.csv"))
    with world.app.app_context():
        event = db.session.scalar(select(Event).where(Event.component_id == component["id"]))
        expected = [str(event.id), str(event.sequence or ""), component["code"],
                    "'-M1\nsecond line", "P-MAIN", "cast", "planned", "cast", "'=admin",
                    'Maker, "Precast"', "2026-11-25T02:00:00+00:00",
                    event.server_time.isoformat(), "-33.865", "151.2093",
                    event.content_hash or ""]
    assert events[1:] == [expected]


def _export(client, query: str = "") -> bytes:
    response = client.get(f"/api/v1/exports/events.csv{query}")
    assert response.status_code == 200, response.get_data()[:300]
    return response.get_data()


def _reference(world, role: str, **filters) -> bytes:
    """The events CSV as written before the export joined plain lines itself."""
    with world.app.test_request_context(
            headers={"Authorization": f"Bearer {world.tokens[role]}"}):
        try:
            return b"".join(reference_lines(authenticate_request(), ReportFilters(**filters)))
        finally:
            db.session.rollback()


def _stored_event(world, mark: str = "YWQ-1", **fields) -> None:
    """Write an event as an older release could have, past today's checks.

    By the project manager of the builder, whose names need nothing done to them: each
    such row is awkward only for what `fields` and `mark` hold.
    """
    component = world.component("planned", mark=mark)
    with world.app.app_context():
        db.session.execute(insert(Event).values(
            component_id=component["id"], action="hold", from_state="planned",
            to_state="planned", user_id=world.ids["user_project_manager"],
            organization_id=world.ids["org_builder"], client_event_id=str(uuid.uuid4()),
            **fields))
        db.session.commit()


def test_events_csv_bytes_are_the_reference_formatting_for_awkward_rows(world):
    admin, regulator = world.client("admin"), world.client("regulator")
    for state in ("installed", "delivered", "cast"):
        world.component(state)
    with world.app.app_context():
        seal_all()
    # Plain rows: the export joins whole chunks of them.
    assert _export(admin) == _reference(world, "admin")
    with world.app.app_context():
        from construction.models import Organization, Project, User

        db.session.get(User, world.ids["user_admin"]).name = "=admin"
        db.session.get(Organization, world.ids["org_maker"]).name = 'Maker, "Precast"'
        db.session.get(Project, world.ids["project_main"]).code = "杭州-西溪-01"
        db.session.commit()
    for mark in ("-M1\nsecond line", "@SUM(A1)", "\tX", "\rY", "None", "YWQ-墙-1", 'say "hi"',
                 "a,b", "+1"):
        world.component("cast", mark=mark)
    component = world.component("planned")
    for client_time, location in (
            ("2026-11-25T10:00:00+08:00", {"latitude": -33.865, "longitude": 151.2093}),
            ("2026-11-25T10:00:00.000123+08:00", {"latitude": 30.27, "longitude": 120.08}),
            (None, {"site": "yard"}), (None, None)):
        body = {"location": location} if location else {}
        if client_time:
            body["client_time"] = client_time
        world.scan(component["code"], "hold", expect=201, **body)
        world.scan(component["code"], "release", expect=201)
    with world.app.app_context():
        seal_all()
    for fields in ({"location": {"latitude": "north\ud800", "longitude": 1}},
                   {"location": {"site\ud800": "yard"}, "data": {"note": "bad \udc00"}},
                   {"location": [30.2, 120.1]},
                   {"location": {"latitude": None, "longitude": True}},
                   {"location": {"latitude": "=1+1", "longitude": "-2", "x": "a,b"}},
                   {"location": {"latitude": "a,b", "longitude": "\t"}},
                   {"mark": 'say "hi"'}, {"mark": "\rY"}, {"mark": "@x"}, {"mark": "None"},
                   {"server_time": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
                   {"client_time": datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC),
                    "server_time": datetime(2026, 1, 2, 3, 4, 5, 0, tzinfo=UTC)}):
        _stored_event(world, **fields)  # left unsealed: no sequence, no content hash
    everything = _export(admin)
    assert everything == _reference(world, "admin")
    for expected in ("'=admin", '"Maker, ""Precast"""', "杭州-西溪-01", '"\'-M1\nsecond line"',
                     "north\\ud800", "2026-01-02T03:04:05+00:00", "2026-11-25T02:00:00+00:00",
                     "2026-11-25T02:00:00.000123+00:00", ",-33.865,151.2093,", "'=1+1,'-2"):
        assert expected.encode() in everything, expected
    assert _export(regulator) == _reference(world, "regulator")
    project = world.ids["project_main"]
    assert _export(regulator, f"?project_id={project}&since=2026-01-01") == _reference(
        world, "regulator", project_id=project, since=date(2026, 1, 1))
    assert _export(admin, "?until=2000-01-02") == _reference(
        world, "admin", until=date(2000, 1, 2))


def _reference_csv(header: list[str], chunks: list[list[tuple]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for chunk in chunks:
        writer.writerows([spreadsheet_safe(value) for value in row] for row in chunk)
    return "\ufeff".encode() + utf8(buffer.getvalue())


_awkward_text = st.text(st.sampled_from(list(',"\r\n=+-@\t \'x7杭') + ["\ud800", "\udc00"]),
                        max_size=5) | st.sampled_from(["None", "", "-", "a,b", "=1", "\r\n"])
_cells = (st.none() | st.booleans() | st.integers(-10, 10**20) | st.floats()
          | _awkward_text | st.text(max_size=4)
          | st.dictionaries(_awkward_text, st.integers(), max_size=2)
          | st.lists(st.integers(), max_size=2))


@st.composite
def _tables(draw):
    columns = draw(st.integers(1, 4))
    row = st.tuples(*[_cells] * columns)
    plain = st.tuples(*[st.integers(0, 99) | st.sampled_from(["a", "杭州", "1.5"])] * columns)
    chunks = draw(st.lists(st.lists(plain, max_size=3) | st.lists(row | plain, max_size=5),
                           max_size=4))
    return [f"c{i}" for i in range(columns)], chunks


@settings(max_examples=300, deadline=None)
@given(_tables())
def test_csv_lines_writes_the_csv_modules_bytes_with_every_cell_made_safe(table):
    header, chunks = table
    written = b"".join(_csv_lines(header, (chunk for chunk in chunks)))
    assert written == _reference_csv(header, chunks)
