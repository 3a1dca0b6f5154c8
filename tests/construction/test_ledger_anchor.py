"""A ledger anchored outside its own database: an insider who rewrites and re-signs is caught."""

import json

from sqlalchemy import select, update

from construction.extensions import db
from construction.models import Event, LabelKey, LedgerCheckpoint
from construction.services.chain import create_checkpoint, seal_all
from scripts import verify_ledger
from tests.construction.test_ledger_chain import _download, _history


def _rewrite_as_an_insider(world, tmp_path) -> None:
    """Edit an event, recompute every hash, publish a key of one's own and re-sign."""
    world.app.config["LEDGER_SIGNING_KEY_FILE"] = str(tmp_path / "insider-key.pem")
    with world.app.app_context():
        victim = db.session.scalar(select(Event.id).order_by(Event.id).limit(1))
        db.session.execute(update(Event).where(Event.id == victim).values(
            data={"note": "never happened"}))
        db.session.execute(update(Event).values(sequence=None, content_hash=None,
                                                chain_hash=None))
        db.session.execute(LedgerCheckpoint.__table__.delete())
        db.session.commit()
        seal_all()
        assert create_checkpoint() is not None  # signed with the insider's key, published


def test_checkpoints_have_their_own_published_key(world):
    _history(world, 1)
    checkpoint = world.client("admin").post("/api/v1/ledger/checkpoints").get_json()
    keys = world.app.test_client().get("/api/v1/ledger/keys")  # no token needed
    assert keys.status_code == 200
    published = {key["key_id"]: key for key in keys.get_json()["keys"]}
    assert checkpoint["key_id"] in published
    assert published[checkpoint["key_id"]]["purpose"] == "ledger"
    label_keys = world.app.test_client().get("/api/v1/labels/keys").get_json()["keys"]
    label = world.label(world.component("planned")["id"])
    assert checkpoint["key_id"] not in {key["key_id"] for key in label_keys}
    assert label["key_id"] != checkpoint["key_id"]


def test_an_insider_rewrite_passes_the_database_but_not_the_pinned_keys(world, runner,
                                                                       tmp_path):
    _history(world, 2)
    assert world.client("admin").post("/api/v1/ledger/checkpoints").status_code == 201
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(world.app.test_client().get("/api/v1/ledger/keys").get_json()))
    held = tmp_path / "checkpoints.json"
    held.write_text(json.dumps(world.client("regulator").get(
        "/api/v1/ledger/checkpoints").get_json()))
    before = runner.invoke(args=["ledger", "verify", "--workers", "1", "--trusted-keys",
                                 str(keys), "--checkpoints", str(held)])
    assert before.exit_code == 0, before.output

    _rewrite_as_an_insider(world, tmp_path)
    with world.app.app_context():
        assert db.session.scalar(select(LabelKey).where(LabelKey.purpose == "ledger")
                                 .order_by(LabelKey.created_at.desc()).limit(1)) is not None
    # Against the keys its own database publishes, the rewritten ledger holds together:
    # the database alone cannot tell.
    assert runner.invoke(args=["ledger", "verify", "--workers", "1"]).exit_code == 0
    pinned = runner.invoke(args=["ledger", "verify", "--workers", "1", "--trusted-keys",
                                 str(keys)])
    assert pinned.exit_code == 1 and "unknown key" in pinned.output, pinned.output
    kept = runner.invoke(args=["ledger", "verify", "--workers", "1", "--checkpoints",
                               str(held)])
    assert kept.exit_code == 1 and "held outside" in kept.output, kept.output
    # The offline verifier, with the keys saved before, says the same.
    _download(world, tmp_path / "after")
    assert verify_ledger.main(["check", str(tmp_path / "after")]) == 0
    assert verify_ledger.main(["check", str(tmp_path / "after"), "--key", str(keys)]) == 1


def test_a_checkpoint_taken_out_of_the_middle_is_caught(world, runner):
    for _ in range(3):
        _history(world, 1)
        assert world.client("admin").post("/api/v1/ledger/checkpoints").status_code == 201
    with world.app.app_context():
        first, middle, last = db.session.scalars(select(LedgerCheckpoint.id)
                                                 .order_by(LedgerCheckpoint.sequence)).all()
        db.session.execute(update(LedgerCheckpoint).where(LedgerCheckpoint.id == last)
                           .values(previous_id=first))
        db.session.execute(LedgerCheckpoint.__table__.delete().where(
            LedgerCheckpoint.id == middle))
        db.session.commit()
    result = runner.invoke(args=["ledger", "verify", "--workers", "1"])
    assert result.exit_code == 1 and "does not follow" in result.output, result.output


def test_unreadable_pinned_files_are_refused(runner, tmp_path):
    bad = tmp_path / "keys.json"
    bad.write_text('{"nothing": []}')
    result = runner.invoke(args=["ledger", "verify", "--trusted-keys", str(bad)])
    assert result.exit_code == 1 and "cannot read" in result.output


def test_health_reports_the_age_of_the_newest_checkpoint(world):
    admin = world.client("admin")
    assert admin.get("/health").get_json()["ledger"]["newest_checkpoint_age_s"] is None
    _history(world, 1)
    assert admin.post("/api/v1/ledger/checkpoints").status_code == 201
    age = admin.get("/health").get_json()["ledger"]["newest_checkpoint_age_s"]
    assert 0 <= age < 60


def test_checkpoints_are_appended_to_the_export_as_they_are_made(world, runner, tmp_path):
    export = tmp_path / "checkpoints.jsonl"
    world.app.config["LEDGER_CHECKPOINT_EXPORT"] = str(export)
    made = []
    for _ in range(2):
        _history(world, 1)
        made.append(world.client("admin").post("/api/v1/ledger/checkpoints").get_json())
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert [(c["sequence"], c["signature"]) for c in lines] == \
        [(c["sequence"], c["signature"]) for c in made]
    held = runner.invoke(args=["ledger", "verify", "--workers", "1", "--checkpoints",
                               str(export)])
    assert held.exit_code == 0, held.output
    _rewrite_as_an_insider(world, tmp_path)
    caught = runner.invoke(args=["ledger", "verify", "--workers", "1", "--checkpoints",
                                 str(export)])
    assert caught.exit_code == 1 and "held outside" in caught.output, caught.output
