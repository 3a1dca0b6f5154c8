"""The tamper-evident ledger: sealing, checkpoints, proofs, verify, and the offline script."""

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select, text, update

from construction.extensions import db, reading
from construction.ledger_format import chain_hash, content_hash, root_from_path, statement_text
from construction.models import Event, LedgerCheckpoint
from construction.services.chain import _COLUMNS, _row_dict, seal_all
from construction.services.chain import verify_ledger as verify_ledger_in_database
from labels.keys import read_key
from scripts import verify_ledger


def _history(world, count: int = 3, project: str = "main") -> list[dict]:
    return [world.component("qc_passed", project=project) for _ in range(count)]


def _verify(runner):
    return runner.invoke(args=["ledger", "verify"])


def _checkpoint(world, role="admin"):
    response = world.client(role).post("/api/v1/ledger/checkpoints")
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _events(world):
    with world.app.app_context():
        return db.session.execute(select(Event.id, Event.sequence).order_by(Event.sequence)).all()


def test_events_are_sealed_into_one_chain_that_verifies(world, runner):
    _history(world)
    with world.app.app_context():
        seal_all()
        rows = db.session.execute(select(*_COLUMNS, Event.sequence, Event.content_hash,
                                         Event.chain_hash).order_by(Event.sequence)).all()
    assert [r.sequence for r in rows] == list(range(1, len(rows) + 1))
    previous = "00" * 32
    for row in rows:
        assert content_hash(_row_dict(row)) == row.content_hash
        previous = chain_hash(previous, row.content_hash)
        assert previous == row.chain_hash
    result = _verify(runner)
    assert result.exit_code == 0, result.output
    assert f"{len(rows)} events verified" in result.output


def test_a_checkpoint_signs_the_head_and_a_merkle_root(world):
    _history(world, 2)
    first = _checkpoint(world)
    statement = json.loads(first["statement"])
    assert statement["sequence"] == first["sequence"] == len(_events(world))
    assert statement["first_sequence"] == 1 and statement["previous"] is None
    _history(world, 1)
    second = _checkpoint(world, role="regulator")
    signed = json.loads(second["statement"])
    assert signed["first_sequence"] == first["sequence"] + 1
    assert signed["previous"] == {"sequence": first["sequence"],
                                  "head_hash": first["head_hash"]}
    assert world.client("factory_worker").post("/api/v1/ledger/checkpoints").status_code == 403
    listed = world.client("regulator").get("/api/v1/ledger/checkpoints").get_json()["items"]
    assert [c["sequence"] for c in listed] == [first["sequence"], second["sequence"]]


def test_listing_makes_no_checkpoint_and_the_sealer_makes_one_when_due(world, runner):
    _history(world, 1)
    for _ in range(2):
        items = world.client("regulator").get("/api/v1/ledger/checkpoints").get_json()["items"]
        assert items == []

    def sealer_round() -> list:
        result = runner.invoke(args=["ledger", "seal", "--loop", "--rounds", "1"])
        assert result.exit_code == 0, result.output
        return world.client("regulator").get("/api/v1/ledger/checkpoints").get_json()["items"]

    assert len(sealer_round()) == 1  # none yet: one is due
    _history(world, 1)
    assert len(sealer_round()) == 1  # the newest is recent
    with world.app.app_context():
        db.session.execute(update(LedgerCheckpoint).values(
            created_at=datetime.now(UTC) - timedelta(days=2)))
        db.session.commit()
    items = sealer_round()
    assert len(items) == 2 and items[1]["sequence"] == len(_events(world))
    with world.app.app_context():
        db.session.execute(update(LedgerCheckpoint).values(
            created_at=datetime.now(UTC) - timedelta(days=2)))
        db.session.commit()
    assert len(sealer_round()) == 2  # due, but nothing happened since the newest


def test_a_component_proof_verifies_against_the_signed_checkpoint(world):
    component = _history(world, 3)[1]
    pending = world.client("regulator").get(f"/api/v1/components/{component['id']}/proof")
    assert pending.get_json()["pending"] == len(pending.get_json()["events"]) == 3
    _checkpoint(world)
    proof = world.client("regulator").get(
        f"/api/v1/components/{component['id']}/proof").get_json()
    assert proof["pending"] == 0 and len(proof["events"]) == 3
    roots = {c["id"]: json.loads(c["statement"])["merkle_root"] for c in proof["checkpoints"]}
    for entry in proof["events"]:
        assert entry["event"]["component_id"] == component["id"]
        assert content_hash(entry["event"]) == entry["content_hash"]
        assert root_from_path(entry["content_hash"], entry["audit_path"]) == \
            roots[entry["checkpoint_id"]]
    assert world.client("far_regulator").get(
        f"/api/v1/components/{component['id']}/proof").status_code == 404


def _tamper(world, statement: str, **params) -> None:
    with world.app.app_context():
        db.session.execute(text(statement), params)
        db.session.commit()


@pytest.mark.parametrize("kind", ["changed", "deleted", "inserted", "reordered"])
def test_every_kind_of_tampering_is_found_and_named(world, runner, kind):
    _history(world, 3)
    with world.app.app_context():
        seal_all()
    events = _events(world)
    victim_id, victim_sequence = events[4]
    if kind == "changed":
        _tamper(world, "UPDATE event SET to_state = 'accepted' WHERE id = :id", id=victim_id)
        expected = f"event {victim_id}'s content was changed"
    elif kind == "deleted":
        _tamper(world, "DELETE FROM event WHERE id = :id", id=victim_id)
        expected = "missing (deleted)"
    elif kind == "inserted":
        # A forged event slipped in with its own correct content hash, renumbering the rest.
        _tamper(world, "UPDATE event SET sequence = sequence + 1000 WHERE sequence >= :s",
                s=victim_sequence)
        _tamper(world, "UPDATE event SET sequence = sequence - 999 WHERE sequence >= :s",
                s=victim_sequence + 1000)
        with world.app.app_context():
            source = db.session.get(Event, victim_id)
            forged = {c.key: getattr(source, c.key) for c in Event.__table__.columns
                      if c.key not in ("id",)}
            forged.update(client_event_id="forged-0001", sequence=victim_sequence)
            forged["content_hash"] = "0" * 64
            db.session.execute(Event.__table__.insert().values(**forged))
            db.session.commit()
            new_id = db.session.scalar(select(Event.id).where(
                Event.client_event_id == "forged-0001"))
            row = db.session.execute(select(*_COLUMNS).where(Event.id == new_id)).first()
            db.session.execute(update(Event).where(Event.id == new_id).values(
                content_hash=content_hash(_row_dict(row))))
            db.session.commit()
        victim_id = new_id
        expected = f"event {new_id} does not link"
    else:
        other_id, other_sequence = events[5]
        _tamper(world, "UPDATE event SET sequence = -1 WHERE id = :id", id=victim_id)
        _tamper(world, "UPDATE event SET sequence = :s WHERE id = :id", s=victim_sequence,
                id=other_id)
        _tamper(world, "UPDATE event SET sequence = :s WHERE id = :id", s=other_sequence,
                id=victim_id)
        victim_id = other_id
        expected = f"event {other_id} does not link"
    result = _verify(runner)
    assert result.exit_code == 1, result.output
    assert expected in result.output and f"sequence {victim_sequence}" in result.output


def test_a_whole_rewritten_chain_is_caught_by_an_earlier_checkpoint(world, runner):
    _history(world, 2)
    _checkpoint(world)
    with world.app.app_context():
        # Change history, then recompute every hash so the chain itself is consistent.
        first = db.session.scalar(select(Event).order_by(Event.sequence).limit(1))
        first.device = "rewritten"
        db.session.commit()
        previous = "00" * 32
        for row in db.session.execute(select(*_COLUMNS, Event.sequence)
                                      .order_by(Event.sequence)).all():
            content = content_hash(_row_dict(row))
            previous = chain_hash(previous, content)
            db.session.execute(update(Event).where(Event.id == row.id).values(
                content_hash=content, chain_hash=previous))
        db.session.commit()
    result = _verify(runner)
    assert result.exit_code == 1 and "the ledger was rewritten" in result.output


def test_an_event_backdated_after_a_checkpoint_is_caught(world, runner):
    component = _history(world, 1)[0]
    _checkpoint(world)
    with world.app.app_context():
        source = db.session.scalar(select(Event).where(Event.component_id == component["id"])
                                   .limit(1))
        values = {c.key: getattr(source, c.key) for c in Event.__table__.columns
                  if c.key not in ("id", "sequence", "content_hash", "chain_hash")}
        values.update(client_event_id="backdated-1",
                      server_time=datetime.now(UTC) - timedelta(days=3))
        db.session.execute(Event.__table__.insert().values(**values))
        db.session.commit()
    result = _verify(runner)  # seals the insertion first, then finds it
    assert result.exit_code == 1 and "claims a time before a checkpoint" in result.output


def test_awkward_events_seal_and_verify_to_the_same_hashes(world, runner):
    """The verifier's times written by the database hash as the sealer's do from datetimes."""
    component = _history(world, 1)[0]
    minus = timezone(timedelta(hours=-5, minutes=-30))
    awkward = [
        {"device": "手机 📱 \"q\" back\\slash\nline\t\x1f\u2028é",
         "client_utc_offset_minutes": -330,
         "client_time": datetime(2026, 3, 1, 2, 30, 0, 0, tzinfo=minus),
         "server_time": datetime(2026, 3, 1, 8, 0, 0, 0, tzinfo=UTC)},
        {"data": {"z": 1, "a": {"y": [3, {"b": None, "a": True}], "x": "中文"}, "m": [],
                  "floats": [0.1, 1e16, -0.0, 1e-07], "big": 2 ** 62},
         "location": {"lon": 114.1694, "lat": 22.3193},
         "server_time": datetime(2026, 3, 1, 2, 0, 0, 999999, tzinfo=minus)},
        {"device": None, "data": None, "location": None,
         "server_time": datetime(2025, 12, 31, 23, 59, 59, 1, tzinfo=minus)},
    ]
    with world.app.app_context():
        source = db.session.scalar(select(Event).where(Event.component_id == component["id"])
                                   .limit(1))
        base = {c.key: getattr(source, c.key) for c in Event.__table__.columns
                if c.key not in ("id", "sequence", "content_hash", "chain_hash")}
        for number, changes in enumerate(awkward):
            db.session.execute(Event.__table__.insert().values(
                **{**base, "client_event_id": f"awkward-{number}", **changes}))
        db.session.commit()
        seal_all()
        for row in db.session.execute(select(*_COLUMNS, Event.content_hash)):
            assert content_hash(_row_dict(row)) == row.content_hash
    result = runner.invoke(args=["ledger", "verify", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert f"{len(_events(world))} events verified" in result.output


def _found_every_way(world) -> set:
    """What verify finds in pieces of 1, 2 and 4 events and in one piece per stretch."""
    with world.app.app_context(), reading():
        found = {verify_ledger_in_database(piece=piece) for piece in (1, 2, 4, 1 << 15)}
        found.add(verify_ledger_in_database(piece=2, workers=2))
    return found


def test_the_first_breach_is_the_same_however_the_ledger_is_cut_into_pieces(world):
    """A piece checks its first event against its stored predecessor, and its end reads on."""
    _history(world, 2)
    _checkpoint(world)
    _history(world, 2)
    _checkpoint(world)
    _history(world, 1)
    with world.app.app_context():
        seal_all()
        rows = [dict(row._mapping) for row in db.session.execute(
            select(Event.__table__).order_by(Event.sequence))]
    assert _found_every_way(world) == {(len(rows), None)}
    for row in rows:
        _tamper(world, "UPDATE event SET to_state = 'scrapped' WHERE id = :id", id=row["id"])
        changed = _found_every_way(world)
        assert len(changed) == 1 and next(iter(changed))[1].event_id == row["id"], changed
        _tamper(world, "DELETE FROM event WHERE id = :id", id=row["id"])
        deleted = _found_every_way(world)
        assert len(deleted) == 1, deleted
        if row["sequence"] < len(rows):
            assert next(iter(deleted))[1].sequence == row["sequence"], deleted
        else:  # the newest event, after the last checkpoint: nothing shows it was there
            assert deleted == {(len(rows) - 1, None)}
        with world.app.app_context():
            db.session.execute(Event.__table__.insert().values(**row))
            db.session.commit()
    assert _found_every_way(world) == {(len(rows), None)}


def test_checkpoints_are_read_once_and_met_with_the_values_checked(world):
    """The events meet the checkpoints' values whose signatures held, not a later reading."""
    _history(world, 2)
    _checkpoint(world)
    _history(world, 1)
    _checkpoint(world)
    with world.app.app_context():
        seal_all()
        read = []

        def note(connection, cursor, statement, parameters, context, executemany):
            if "FROM ledger_checkpoint" in statement:
                read.append(statement)

        event.listen(db.engine, "before_cursor_execute", note)
        try:
            checked, breach = verify_ledger_in_database(workers=1, piece=2)
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
    assert breach is None and checked > 0
    assert len(read) == 1, read


def test_a_checkpoint_changed_in_the_database_is_caught(world, runner):
    _history(world, 1)
    _checkpoint(world)
    _tamper(world, "UPDATE ledger_checkpoint SET head_hash = :h", h="f" * 64)
    result = _verify(runner)
    assert result.exit_code == 1 and "differ from its signed statement" in result.output


def _download(world, folder, role="regulator"):
    """What `verify_ledger.py download` saves, fetched through the test client."""
    folder.mkdir(parents=True, exist_ok=True)
    client = world.client(role)
    (folder / "keys.json").write_text(json.dumps(client.get("/api/v1/ledger/keys").get_json()))
    (folder / "checkpoints.json").write_text(json.dumps(
        client.get("/api/v1/ledger/checkpoints").get_json()))
    with open(folder / "chain.jsonl", "w") as out:
        after = 0
        while after is not None:
            page = client.get(f"/api/v1/ledger/events?after_sequence={after}&limit=4").get_json()
            for item in page["items"]:
                out.write(json.dumps(item) + "\n")
            after = page["next_after_sequence"]


def test_a_regulator_verifies_offline_and_sees_only_its_region(world, tmp_path):
    _history(world, 2)
    _history(world, 1, project="far")
    _checkpoint(world)
    _download(world, tmp_path / "november")
    assert verify_ledger.main(["check", str(tmp_path / "november")]) == 0
    items = [json.loads(line) for line in
             (tmp_path / "november" / "chain.jsonl").read_text().splitlines()]
    hidden = [item for item in items if item["event"] is None]
    assert hidden and len(hidden) == len(items) - sum(1 for i in items if i["event"])
    # A month later: new events, a new checkpoint; the kept files still hold.
    _history(world, 1)
    _checkpoint(world)
    _download(world, tmp_path / "december")
    assert verify_ledger.main(["check", str(tmp_path / "december"), "--kept",
                               str(tmp_path / "november")]) == 0


def test_the_offline_script_finds_edited_files_and_rewrites(world, tmp_path, capsys):
    component = _history(world, 2)[0]
    _checkpoint(world)
    folder = tmp_path / "kept"
    _download(world, folder)
    lines = (folder / "chain.jsonl").read_text().splitlines()
    edited = json.loads(lines[2])
    edited["event"]["to_state"] = "accepted"
    broken = tmp_path / "edited"
    broken.mkdir()
    for name in ("keys.json", "checkpoints.json"):
        (broken / name).write_text((folder / name).read_text())
    (broken / "chain.jsonl").write_text("\n".join([*lines[:2], json.dumps(edited), *lines[3:]]))
    assert verify_ledger.main(["check", str(broken)]) == 1
    assert "was changed" in capsys.readouterr().out
    proof = world.client("regulator").get(f"/api/v1/components/{component['id']}/proof")
    (tmp_path / "proof.json").write_text(json.dumps(proof.get_json()))
    assert verify_ledger.main(["proof", str(folder), str(tmp_path / "proof.json")]) == 0
    forged = proof.get_json()
    forged["events"][0]["event"]["action"] = "scrap"
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    assert verify_ledger.main(["proof", str(folder), str(tmp_path / "forged.json")]) == 1
    # The server rewrites its whole chain: the checkpoint kept earlier exposes it.
    with world.app.app_context():
        db.session.execute(update(LedgerCheckpoint).values(head_hash="e" * 64))
        db.session.commit()
    rewritten = tmp_path / "later"
    rewritten.mkdir()
    (rewritten / "keys.json").write_text((folder / "keys.json").read_text())
    (rewritten / "chain.jsonl").write_text((folder / "chain.jsonl").read_text())
    checkpoints = json.loads((folder / "checkpoints.json").read_text())
    fields = json.loads(checkpoints["items"][0]["statement"])
    fields["head_hash"] = "e" * 64
    # The server holds the key, so a rewrite comes signed: only the kept copy exposes it.
    key = read_key(world.app.config["LEDGER_SIGNING_KEY_FILE"])
    checkpoints["items"][0]["statement"] = statement_text(fields)
    checkpoints["items"][0]["signature"] = base64.b64encode(
        key.sign(statement_text(fields).encode())).decode()
    (rewritten / "checkpoints.json").write_text(json.dumps(checkpoints))
    assert verify_ledger.main(["check", str(rewritten), "--kept", str(folder)]) == 1
    assert "no longer matches" in capsys.readouterr().out


@pytest.mark.parametrize("path", ["/api/v1/ledger/events", "/api/v1/ledger/checkpoints"])
@pytest.mark.parametrize("after", [2**63, 2**64 + 1, 10**30, -1])
def test_an_after_sequence_beyond_what_the_ledger_holds_is_422(world, path, after):
    response = world.client("regulator").get(f"{path}?after_sequence={after}")
    assert response.status_code == 422, response.get_data(as_text=True)[:200]
    assert response.mimetype == "application/problem+json"
    assert "after_sequence" in response.get_json()["errors"]["query"]


def test_the_last_possible_after_sequence_is_an_empty_page(world):
    for path in ("/api/v1/ledger/events", "/api/v1/ledger/checkpoints"):
        response = world.client("regulator").get(f"{path}?after_sequence={2**63 - 1}")
        assert response.status_code == 200
        assert response.get_json()["items"] == []
