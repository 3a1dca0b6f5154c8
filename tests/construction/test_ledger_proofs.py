"""Component proofs read a few stored Merkle nodes, never a checkpoint's whole range."""

import json
from contextlib import contextmanager

import pytest
from sqlalchemy import delete, event, func, select

from bench.proofs import Reads
from construction.extensions import db
from construction.ledger_format import audit_path, merkle_levels, root_from_path
from construction.models import Event, LedgerCheckpoint, MerkleNode
from construction.services import chain
from scripts import verify_ledger
from tests.construction.test_ledger_chain import _checkpoint, _download


def _filler(world, count: int) -> None:
    """Add `count` events of one other component straight into the table (then seal)."""
    template_id = world.component("cast")["id"]
    with world.app.app_context():
        source = db.session.scalar(select(Event).where(Event.component_id == template_id))
        values = {c.key: getattr(source, c.key) for c in Event.__table__.columns
                  if c.key not in ("id", "sequence", "content_hash", "chain_hash")}
        start = db.session.scalar(select(func.count()).select_from(Event))
        db.session.execute(Event.__table__.insert(), [
            {**values, "client_event_id": f"filler-{start + number}"}
            for number in range(count)])
        db.session.commit()
        chain.seal_all()


@contextmanager
def counting_reads(app):
    """Count the statements and rows a block sends (the counter bench/proofs.py prints)."""
    reads = Reads()
    with app.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", reads.after_execute)
    try:
        yield reads
    finally:
        event.remove(engine, "after_cursor_execute", reads.after_execute)


def _proof(world, component_id: int) -> dict:
    response = world.client("regulator").get(f"/api/v1/components/{component_id}/proof")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _whole_tree_paths(world, checkpoint: dict) -> dict[int, list]:
    """The paths as the whole tree gives them (how proofs were made before nodes were kept)."""
    with world.app.app_context():
        contents = db.session.scalars(
            select(Event.content_hash).where(Event.sequence.between(
                checkpoint["first_sequence"], checkpoint["sequence"]))
            .order_by(Event.sequence)).all()
    levels = merkle_levels(contents)
    return {index: audit_path(levels, index) for index in range(len(contents))}


def test_a_proof_reads_as_much_from_a_large_checkpoint_as_from_a_small_one(world, tmp_path):
    small = world.component("qc_passed")
    _filler(world, 700)
    first = _checkpoint(world)
    large = world.component("qc_passed")
    _filler(world, 3300)
    second = _checkpoint(world)
    assert second["sequence"] - second["first_sequence"] > 4 * (first["sequence"]
                                                              - first["first_sequence"])
    reads = {}
    for name, component in (("small", small), ("large", large)):
        with counting_reads(world.app) as counted:
            proof = _proof(world, component["id"])
        reads[name] = counted
        assert proof["pending"] == 0 and len(proof["events"]) == 3
    assert reads["large"].statements == reads["small"].statements
    # One block of leaves and one stored sibling per level: only the levels add up.
    assert reads["small"].rows <= (1 << chain.MERKLE_BLOCK_LEVEL) + 40
    assert reads["large"].rows - reads["small"].rows <= 3
    # The same paths, byte for byte, as the whole tree gives; the offline verifier agrees.
    expected = _whole_tree_paths(world, second)
    for entry in proof["events"]:
        assert entry["audit_path"] == expected[entry["leaf_index"]]
    _download(world, tmp_path / "ledger")
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    assert verify_ledger.main(["proof", str(tmp_path / "ledger"),
                               str(tmp_path / "proof.json")]) == 0


@pytest.mark.parametrize("block_level", [0, 3, 8])
def test_every_leaf_path_from_stored_nodes_is_the_whole_tree_path(world, monkeypatch,
                                                                   block_level):
    monkeypatch.setattr(chain, "MERKLE_BLOCK_LEVEL", block_level)
    world.component("qc_passed")
    _filler(world, 300)  # with the first events, a ragged last block on every level
    checkpoint = _checkpoint(world)
    width = checkpoint["sequence"] - checkpoint["first_sequence"] + 1
    expected = _whole_tree_paths(world, checkpoint)
    root = json.loads(checkpoint["statement"])["merkle_root"]
    with world.app.app_context():
        mark = db.session.get(LedgerCheckpoint, checkpoint["id"])
        paths = chain.audit_paths(mark, range(width))
        contents = db.session.scalars(select(Event.content_hash).where(
            Event.sequence >= mark.first_sequence).order_by(Event.sequence)).all()
    assert paths == expected
    assert all(root_from_path(contents[i], paths[i]) == root for i in range(width))


def test_a_checkpoint_signed_before_nodes_were_kept_gets_them_on_its_first_proof(world,
                                                                                 tmp_path):
    component = world.component("qc_passed")
    _filler(world, 400)
    checkpoint = _checkpoint(world)
    with world.app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(MerkleNode))
        db.session.execute(delete(MerkleNode))
        db.session.commit()
    assert stored == 3  # two blocks of 256 leaves and their root
    proof = _proof(world, component["id"])
    with world.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MerkleNode)) == stored
    expected = _whole_tree_paths(world, checkpoint)
    assert [e["audit_path"] for e in proof["events"]] == [expected[e["leaf_index"]]
                                                           for e in proof["events"]]
    assert _proof(world, component["id"]) == proof
