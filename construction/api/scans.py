"""Scan capture: single scans and offline batches."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify
from flask.views import MethodView
from marshmallow import ValidationError

from construction.api.base import api_blueprint, header_device
from construction.api.loads import record_scanned_load
from construction.auth import authenticate_request
from construction.errors import ApiProblem, problem_body
from construction.permissions import requires
from construction.schemas import (
    BatchResultSchema,
    BatchSchema,
    LoadScanResultSchema,
    ScanResultSchema,
    ScanSchema,
)
from construction.services.loads import LOAD_ACTIONS, is_load_reference, load_code_exists
from construction.services.scans import ScanItem, ScanResult, record_scans

blp = api_blueprint("scans", __name__, "Record lifecycle scans from phones and scanners.",
                    url_prefix="/api/v1/scans")

_scan_schema = ScanSchema()
_scan_result = ScanResultSchema()
# A scan of a component answers its event, a scan of a load's label the load scan.
_SCAN_OR_LOAD_SCAN = {"oneOf": [ScanResultSchema, LoadScanResultSchema]}


def _item(values: dict[str, Any], device: str | None) -> ScanItem:
    return ScanItem(code=values["code"], action=values["action"],
                    client_event_id=values["client_event_id"],
                    client_time=values.get("client_time"), location=values.get("location"),
                    data=values.get("data"), device=values.get("device") or device,
                    corrects_event_id=values.get("corrects_event_id"))


@blp.route("")
class Scans(MethodView):
    @requires("scan.record")
    @blp.arguments(ScanSchema())
    @blp.response(201, _SCAN_OR_LOAD_SCAN, description="The event and the component's new "
                  "state; for a load, the load scan (as POST /loads/{id}/scans answers)")
    @blp.alt_response(200, schema=_SCAN_OR_LOAD_SCAN,
                      description="A replay: the original event (or events)")
    def post(self, values):
        """Record a scan of one component, or of a load's label (then of all its components).

        The same client_event_id again returns the original event (200) and
        never records a second one. A load label, an SSCC or a load code acts
        on every component of the load, as POST /loads/{id}/scans does.
        """
        principal = authenticate_request()
        if is_load_reference(values["code"]):
            return _load_scan(principal, values)
        if values.get("exceptions"):
            raise ApiProblem("validation-error", "only a load's accept_delivery lists exceptions",
                             errors={"exceptions": ["Only when scanning a load."]})
        result = record_scans(principal, [_item(values, header_device())])[0]
        if result.outcome == "rejected":
            if result.problem.type == "unknown-code" and values["action"] in LOAD_ACTIONS \
                    and load_code_exists(values["code"]):
                return _load_scan(principal, values)
            raise result.problem
        return _answer(_scan_result.dump({"event": result.event, "component": result.component}),
                       201 if result.outcome == "accepted" else 200)


def _load_scan(principal, values) -> Response:
    return _answer(*record_scanned_load(principal, values["code"], values))


def _answer(body: dict[str, Any], status: int) -> Response:
    # Two schemas answer here, so the view dumps through the right one itself.
    response = jsonify(body)
    response.status_code = status
    return response


@blp.route("/batch")
class ScanBatch(MethodView):
    @requires("scan.record")
    @blp.arguments(BatchSchema())
    @blp.response(200, BatchResultSchema)
    def post(self, values):
        """Record up to 500 scans in order; one result per item."""
        principal = authenticate_request()
        limit = current_app.config["BATCH_MAX_ITEMS"]
        raw_items = values["items"]
        device = header_device()
        if len(raw_items) > limit:
            raise ApiProblem("validation-error", f"at most {limit} items per batch",
                             errors={"items": [f"Longer than {limit}."]})
        items: list[ScanItem] = []
        positions: list[int] = []
        results: list[dict[str, Any] | None] = [None] * len(raw_items)
        for index, raw in enumerate(raw_items):
            try:
                if not isinstance(raw, dict):
                    raise ValidationError({"_schema": ["Each item is an object."]})
                values = _scan_schema.load(raw)
                if is_load_reference(values["code"]):
                    # A load acts on many components in a transaction of its own.
                    raise ValidationError({"code": ["A load label is scanned alone (POST "
                                                    "/api/v1/scans), not in a batch."]})
                items.append(_item(values, device))
                positions.append(index)
            except ValidationError as error:
                results[index] = _item_result(index, raw, ScanResult("rejected", problem=ApiProblem(
                    "validation-error", "the item has invalid fields", errors=error.messages)))
        for position, result in zip(positions, record_scans(principal, items), strict=True):
            results[position] = _item_result(position, raw_items[position], result)
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for result in results:
            counts[result["outcome"]] += 1
        return {**counts, "results": results}


def _item_result(index: int, raw: Any, result: ScanResult) -> dict[str, Any]:
    client_event_id = raw.get("client_event_id") if isinstance(raw, dict) else None
    body: dict[str, Any] = {"index": index, "outcome": result.outcome,
                            "client_event_id": client_event_id if isinstance(
                                client_event_id, str) else None}
    if result.event is not None:
        body["event"] = result.event
    if result.component is not None:
        body["component"] = result.component
    if result.problem is not None:
        problem = result.problem
        body["problem"] = problem_body(problem.type, problem.status, problem.detail,
                                       **problem.extra)
    return body
