"""The audit log: exports, accounts and tokens, reprints, keys, projects, refusals; who reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from construction.extensions import db
from construction.models import AuditRecord
from tests.conftest import ROLES

PROBLEM = "application/problem+json"


def _records(world, action: str | None = None) -> list[AuditRecord]:
    with world.app.app_context():
        query = select(AuditRecord).order_by(AuditRecord.id)
        if action:
            query = query.where(AuditRecord.action == action)
        records = list(db.session.scalars(query))
        db.session.expunge_all()
    return records


def _audit(world, role: str = "admin", **query) -> dict:
    response = world.client(role).get("/api/v1/audit", query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_exports_are_recorded_with_who_what_and_from_where(world):
    regulator = world.client("regulator")
    project_id = world.ids["project_main"]
    response = regulator.get(f"/api/v1/exports/components.csv?project_id={project_id}",
                             headers={"X-Request-Id": "req-42"},
                             environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert response.status_code == 200
    unnamed = regulator.get("/api/v1/exports/events.csv?since=2026-01-01", buffered=True)
    assert unnamed.status_code == 200
    assert regulator.get(f"/api/v1/epcis/events?project_id={project_id}").status_code == 200
    [components] = _records(world, "export.components_csv")
    assert (components.user_id, components.user_name, components.role) == (
        world.ids["user_regulator"], "user-regulator", "regulator")
    assert components.organization_id == world.ids["org_regulator"]
    assert components.project_id == project_id and components.address == "198.51.100.4"
    assert components.request_id == "req-42"
    assert components.detail == {"filters": {"project_id": project_id}}
    assert components.at > datetime.now(UTC) - timedelta(minutes=1)
    [events] = _records(world, "export.events_csv")
    assert events.project_id is None and events.detail == {"filters": {"since": "2026-01-01"}}
    # Without one from the client, the id the server made and answered with.
    assert events.request_id == unnamed.headers["X-Request-ID"] and events.address == "127.0.0.1"
    [epcis] = _records(world, "export.epcis")
    assert epcis.project_id == project_id and epcis.detail["filters"]["per_page"] == 30
    # An export refused for scope writes nothing.
    far = world.client("regulator").get(
        f"/api/v1/epcis/events?project_id={world.ids['project_far']}")
    assert far.status_code == 404 and len(_records(world, "export.epcis")) == 1


def test_account_and_token_changes_from_commands_are_recorded(world, runner):
    org = str(world.ids["org_maker"])
    created = runner.invoke(args=["users", "create", "li-wei", "--org", org,
                                  "--role", "factory_worker"])
    assert created.exit_code == 0, created.output
    user_id = created.output.split()[1].rstrip(":")
    token_id = runner.invoke(args=["users", "token", user_id]).output.split()[1]
    for command in (["users", "revoke", token_id], ["users", "revoke", token_id],
                    ["users", "password", user_id, "--password", "long-enough-secret"],
                    ["users", "deactivate", user_id], ["users", "deactivate", user_id],
                    ["users", "activate", user_id]):
        result = runner.invoke(args=command)
        assert result.exit_code == 0, result.output
    mine = [r for r in _records(world) if r.action != "token.create"
            or r.detail["user_id"] == int(user_id)]
    # A second revocation or deactivation changes nothing and records nothing.
    assert [r.action for r in mine] == ["user.create", "token.create", "token.create",
                                        "token.revoke", "user.password", "user.deactivate",
                                        "user.activate"]
    assert all(r.address == "cli" and r.user_id is None and r.user_name.startswith("os:")
               for r in mine)
    assert mine[0].subject == f"user {user_id} (li-wei)"
    assert mine[0].detail == {"organization_id": int(org), "role": "factory_worker"}
    assert mine[3].subject == f"token {token_id} of user {user_id}"
    assert "long-enough-secret" not in str([r.detail for r in mine])


def test_a_reprint_is_recorded_in_its_project_and_a_refused_one_is_not(world):
    component = world.component("planned")
    world.label(component["id"])
    world.label(component["id"], role="qc_inspector", reprint=True)
    [reprint] = _records(world, "label.reprint")
    assert reprint.project_id == world.ids["project_main"] and reprint.role == "qc_inspector"
    assert reprint.subject == f"component {component['id']}"
    assert reprint.detail == {"reason": "torn", "components": [
        {"id": component["id"], "code": component["code"], "version": 2}]}
    refused = world.client("factory_worker").post(
        f"/api/v1/components/{component['id']}/labels", json={"reprint": True, "reason": "x"})
    assert refused.status_code == 403
    assert len(_records(world, "label.reprint")) == 1
    [refusal] = _records(world, "authz.refused")
    assert refusal.user_name == "user-factory_worker"
    assert refusal.subject == f"POST /api/v1/components/{component['id']}/labels"
    assert refusal.detail["problem"] == "forbidden"


def test_key_rotation_and_new_keys_are_recorded(world, runner, tmp_path):
    world.app.config["LABEL_SIGNING_KEY_FILE"] = str(tmp_path / "label.pem")
    world.app.config["LEDGER_SIGNING_KEY_FILE"] = str(tmp_path / "ledger.pem")
    for command in (["labels", "new-key"], ["labels", "rotate-key"], ["ledger", "new-key"]):
        result = runner.invoke(args=command)
        assert result.exit_code == 0, result.output
    created, rotated, ledger = (_records(world, action)[0] for action in
                                ("key.create", "key.rotate", "ledger.new_key"))
    assert rotated.detail["old_key_id"] == created.detail["key_id"]
    assert rotated.subject == f"label key {rotated.detail['new_key_id']}"
    assert ledger.subject.startswith("ledger key ") and ledger.address == "cli"


def test_region_and_participant_changes_are_recorded(world):
    admin = world.client("admin")
    project = admin.post("/api/v1/projects", json={
        "code": "P-AUD", "name": "Audited", "region_code": "330106",
        "participant_ids": [world.ids["org_maker"]]}).get_json()
    [joined] = _records(world, "project.participant_add")
    assert joined.project_id == project["id"]
    assert joined.detail == {"organization_id": world.ids["org_maker"],
                             "organization_name": "Maker", "project_created": True}
    moved = admin.patch(f"/api/v1/projects/{project['id']}", json={
        "region_code": "330110", "participant_ids": [world.ids["org_maker"],
                                                     world.ids["org_builder"]]})
    assert moved.status_code == 200, moved.get_json()
    [region] = _records(world, "project.region_change")
    assert region.detail == {"from": "330106", "to": "330110"}
    added = _records(world, "project.participant_add")
    assert [r.detail["organization_id"] for r in added] == [world.ids["org_maker"],
                                                            world.ids["org_builder"]]
    # A change that fails leaves no record: it shares the change's transaction.
    clash = admin.patch(f"/api/v1/projects/{project['id']}", json={
        "code": "P-MAIN", "participant_ids": [world.ids["org_supervisor"]]})
    assert clash.status_code == 409
    assert len(_records(world, "project.participant_add")) == 2
    assert admin.delete(f"/api/v1/projects/{project['id']}").status_code == 204
    left = _records(world, "project.participant_remove")
    assert {r.detail["organization_id"] for r in left} == {world.ids["org_maker"],
                                                           world.ids["org_builder"]}
    assert all(r.detail["project_deleted"] for r in left)


def test_a_refusal_is_recorded_and_still_answered_when_the_record_fails(world, monkeypatch):
    refused = world.client("factory_worker").post("/api/v1/projects", json={
        "code": "P-X", "name": "X", "region_code": "330106"})
    assert refused.status_code == 403
    regulator = world.scan("ABC-123-XYZ", "cast", role="regulator")
    assert regulator.status_code == 403
    [project, scan] = _records(world, "authz.refused")
    assert project.subject == "POST /api/v1/projects" and project.role == "factory_worker"
    assert scan.detail["problem"] == "forbidden-action" and scan.role == "regulator"

    from construction.services import audit

    def broken(*args, **kwargs):
        raise RuntimeError("the audit table is gone")

    monkeypatch.setattr(audit, "record", broken)
    again = world.client("factory_worker").post("/api/v1/projects", json={
        "code": "P-X", "name": "X", "region_code": "330106"})
    assert again.status_code == 403 and again.mimetype == PROBLEM


def test_a_refused_page_is_recorded(world):
    import re

    from construction.services.accounts import set_password

    with world.app.app_context():
        set_password(world.ids["user_regulator"], "correct-horse-battery")
    client = world.app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"csrf_token": token, "name": "user-regulator",
                                "password": "correct-horse-battery"})
    assert client.get("/scan").status_code == 403
    [refusal] = _records(world, "authz.refused")
    assert refusal.subject == "GET /scan" and refusal.user_id == world.ids["user_regulator"]


def test_admins_read_everything_and_regulators_their_projects(world):
    with world.app.app_context():  # the world's own tokens are recorded too: start afresh
        db.session.execute(delete(AuditRecord))
        db.session.commit()
    world.client("regulator").get(
        f"/api/v1/exports/components.csv?project_id={world.ids['project_main']}")
    world.client("admin").get(
        f"/api/v1/exports/components.csv?project_id={world.ids['project_far']}")
    world.client("admin").get("/api/v1/exports/events.csv")
    world.client("factory_worker").post("/api/v1/projects", json={
        "code": "P-X", "name": "X", "region_code": "330106"})  # refused: 403
    everything = _audit(world)
    assert everything["total"] == 4 and everything["page"] == 1
    actions = [item["action"] for item in everything["items"]]
    assert actions == ["authz.refused", "export.events_csv", "export.components_csv",
                       "export.components_csv"]  # newest first
    # A regulator sees the records of projects in its region, no others and none without one.
    mine = _audit(world, "regulator")
    assert [item["project_id"] for item in mine["items"]] == [world.ids["project_main"]]
    assert _audit(world, "far_regulator")["items"][0]["project_id"] == world.ids["project_far"]
    assert _audit(world, "far_regulator")["total"] == 1
    # Filters and pages.
    assert _audit(world, action="export.components_csv")["total"] == 2
    assert _audit(world, user_id=world.ids["user_admin"])["total"] == 2
    assert _audit(world, project_id=world.ids["project_far"])["total"] == 1
    page = _audit(world, per_page=1, page=2)
    assert page["total"] == 4 and [i["action"] for i in page["items"]] == ["export.events_csv"]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert _audit(world, since=later)["total"] == 0
    assert _audit(world, until=later)["total"] == 4
    bad = world.client("admin").get("/api/v1/audit?action=export.everything")
    assert bad.status_code == 422 and bad.mimetype == PROBLEM


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_and_regulators_read_the_audit_log(world, role):
    response = world.client(role).get("/api/v1/audit")
    assert response.status_code == (200 if role in ("admin", "regulator") else 403)
    if response.status_code == 403:
        assert response.get_json()["type"].endswith("/forbidden")


def test_the_audit_log_needs_a_token(world):
    response = world.app.test_client().get("/api/v1/audit")
    assert response.status_code == 401 and response.mimetype == PROBLEM


def test_flask_audit_list_prints_the_records(world, runner):
    world.client("regulator").get("/api/v1/exports/events.csv")
    runner.invoke(args=["users", "revoke", "1"])
    listing = runner.invoke(args=["audit", "list"])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert "token.revoke by os:" in lines[0] and "from cli" in lines[0]
    assert "export.events_csv by user-regulator (regulator) from 127.0.0.1" in lines[1]
    only = runner.invoke(args=["audit", "list", "--action", "export.events_csv"])
    assert only.output.count("\n") == 1
    assert runner.invoke(args=["audit", "list", "--project", "999"]).output == ""
