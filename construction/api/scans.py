"""Scan capture: single scans and offline batches."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from flask.views import MethodView
from marshmallow import ValidationError

from construction.api.base import api_blueprint
from construction.auth import authenticate_request
from construction.errors import ApiProblem, problem_body
from construction.permissions import requires
from construction.schemas import BatchResultSchema, BatchSchema, ScanResultSchema, ScanSchema
from construction.services.scans import ScanItem, ScanResult, record_scans

blp = api_blueprint("scans", __name__, "Record lifecycle scans from phones and scanners.",
                    url_prefix="/api/v1/scans")

_scan_schema = ScanSchema()


def _header_device() -> str | None:
    device = request.headers.get("X-Device-Id")
    if device is not None and not 1 <= len(device) <= 100:
        raise ApiProblem("validation-error", "X-Device-Id has 1 to 100 characters",
                         errors={"X-Device-Id": ["Length must be between 1 and 100."]})
    return device


def _item(values: dict[str, Any], header_device: str | None) -> ScanItem:
    return ScanItem(code=values["code"], action=values["action"],
                    client_event_id=values["client_event_id"],
                    client_time=values.get("client_time"), location=values.get("location"),
                    data=values.get("data"), device=values.get("device") or header_device,
                    corrects_event_id=values.get("corrects_event_id"))


@blp.route("")
class Scans(MethodView):
    @requires("scan.record")
    @blp.arguments(ScanSchema())
    @blp.response(201, ScanResultSchema)
    @blp.alt_response(200, schema=ScanResultSchema, description="A replay: the original event")
    def post(self, values):
        """Record a scan of one component.

        The same client_event_id again returns the original event (200) and
        never records a second one.
        """
        principal = authenticate_request()
        result = record_scans(principal, [_item(values, _header_device())])[0]
        if result.outcome == "rejected":
            raise result.problem
        # The body is already in its documented shape: skip a second serialization.
        response = jsonify(event=result.event, component=result.component)
        response.status_code = 201 if result.outcome == "accepted" else 200
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
        header_device = _header_device()
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
                items.append(_item(_scan_schema.load(raw), header_device))
                positions.append(index)
            except ValidationError as error:
                results[index] = _item_result(index, raw, ScanResult("rejected", problem=ApiProblem(
                    "validation-error", "the item has invalid fields", errors=error.messages)))
        for position, result in zip(positions, record_scans(principal, items), strict=True):
            results[position] = _item_result(position, raw_items[position], result)
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for result in results:
            counts[result["outcome"]] += 1
        return jsonify(**counts, results=results)


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
