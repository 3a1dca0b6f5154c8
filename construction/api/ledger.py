"""The tamper-evident ledger: checkpoints, the chain for offline checks, component proofs."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from construction.api.base import Blueprint, api_blueprint
from construction.auth import authenticate_request
from construction.errors import ApiProblem
from construction.permissions import PUBLIC, requires
from construction.schemas import MAX_BIG_ID, LedgerKeysSchema
from construction.services import chain

blp = api_blueprint("ledger", __name__, "Signed checkpoints and proofs of the event ledger.",
                    url_prefix="/api/v1")
public = Blueprint("ledger-keys", __name__, url_prefix="/api/v1/ledger",
                   description="Public keys that verify ledger checkpoints (no token needed).")


@public.route("/keys")
class LedgerKeys(MethodView):
    @requires(PUBLIC)
    @public.response(200, LedgerKeysSchema)
    @public.doc(security=[])
    def get(self):
        """List the public keys that verify checkpoint signatures, retired ones included.

        Keep a copy: `flask ledger verify --trusted-keys FILE` and
        `scripts/verify_ledger.py verify --keys FILE` check the ledger against
        the keys in that copy, not against the keys its database publishes.
        A key is listed once it has signed a checkpoint (or was made with
        `flask ledger new-key`).
        """
        return {"keys": chain.ledger_keys()}


class CheckpointSchema(Schema):
    id = fields.Integer()
    sequence = fields.Integer()
    first_sequence = fields.Integer()
    head_hash = fields.String()
    merkle_root = fields.String()
    created_at = fields.AwareDateTime()
    key_id = fields.String()
    statement = fields.String(metadata={"description": "The exact signed text (JSON)"})
    signature = fields.String(metadata={"description": "Ed25519 over the statement, base64"})


class CheckpointListSchema(Schema):
    items = fields.List(fields.Nested(CheckpointSchema))


class AfterArgs(Schema):
    after_sequence = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_BIG_ID))
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=10_000))


class ChainPageSchema(Schema):
    items = fields.List(fields.Dict())
    next_after_sequence = fields.Integer(allow_none=True)


class ProofSchema(Schema):
    component_id = fields.Integer()
    events = fields.List(fields.Dict(), metadata={
        "description": "Each event's recorded fields, content and chain hashes, sequence, and "
                       "its Merkle audit path to the checkpoint that covers it (null while "
                       "no checkpoint covers it yet)"})
    checkpoints = fields.List(fields.Nested(CheckpointSchema))
    pending = fields.Integer(metadata={"description": "Events not yet in a checkpoint"})


@blp.route("/ledger/checkpoints")
class Checkpoints(MethodView):
    @requires("ledger.read")
    @blp.arguments(AfterArgs(), location="query")
    @blp.response(200, CheckpointListSchema)
    def get(self, args):
        """List signed checkpoints in order (listing makes none).

        The sealer makes one when the newest is LEDGER_CHECKPOINT_HOURS old;
        POST makes one now. Verify each statement with the key named by
        `key_id` from /api/v1/ledger/keys; `scripts/verify_ledger.py` does it
        offline.
        """
        authenticate_request()
        items = chain.checkpoints(args["after_sequence"], args["limit"])
        return {"items": [chain.checkpoint_view(c) for c in items]}

    @requires("ledger.checkpoint")
    @blp.response(201, CheckpointSchema)
    def post(self):
        """Seal and sign a checkpoint now (admins and regulators)."""
        checkpoint = chain.create_checkpoint()
        if checkpoint is None:
            raise ApiProblem("conflict", "the ledger has no events yet")
        return chain.checkpoint_view(checkpoint)


@blp.route("/ledger/events")
class ChainEvents(MethodView):
    @requires("ledger.read")
    @blp.arguments(AfterArgs(), location="query")
    @blp.response(200, ChainPageSchema)
    def get(self, args):
        """Page through the chain in order: every link's hashes, visible events' content."""
        items = chain.export_events(authenticate_request(), args["after_sequence"],
                                    args["limit"])
        return {"items": items,
                "next_after_sequence": items[-1]["sequence"] if len(items) == args["limit"]
                else None}


@blp.route("/components/<id(max=9223372036854775807):component_id>/proof")
class ComponentProof(MethodView):
    @requires("ledger.read")
    @blp.response(200, ProofSchema)
    def get(self, component_id):
        """A component's events, each with its Merkle path to a signed checkpoint."""
        return chain.component_proof(authenticate_request(), component_id)
