"""Idempotency-Key support for writes that a client may retry."""

from __future__ import annotations

import functools
import hashlib

from flask import Response, json, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from construction.auth import authenticate_request
from construction.errors import ApiProblem
from construction.extensions import db
from construction.models import IdempotentRequest


def idempotent(view):
    """Replay the stored answer when a request repeats its Idempotency-Key.

    The same key with a different request body is refused (422). Only
    successful answers are stored, so a failed attempt may be retried.
    """

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return view(*args, **kwargs)
        if len(key) > 100:
            raise ApiProblem("validation-error", "Idempotency-Key has at most 100 characters")
        principal = authenticate_request()
        digest = hashlib.sha256(
            request.method.encode() + b" " + request.full_path.encode() + b"\n"
            + request.get_data()).hexdigest()
        stored = db.session.scalar(select(IdempotentRequest).where(
            IdempotentRequest.user_id == principal.user_id, IdempotentRequest.key == key))
        if stored is not None:
            if stored.request_hash != digest:
                raise ApiProblem("idempotency-key-reused",
                                 f"Idempotency-Key '{key}' was sent with another request")
            response = Response(stored.body, status=stored.status_code,
                                mimetype="application/json")
            response.headers["Idempotent-Replayed"] = "true"
            return response
        result = view(*args, **kwargs)
        response = _as_response(result)
        if 200 <= response.status_code < 300:
            db.session.add(IdempotentRequest(
                user_id=principal.user_id, key=key, request_hash=digest,
                status_code=response.status_code, body=response.get_data(as_text=True)))
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
        return response

    return wrapper


def _as_response(result) -> Response:
    from flask import current_app

    if isinstance(result, Response):
        return result
    body, status = (result if isinstance(result, tuple) else (result, 200))[:2]
    response = current_app.response_class(json.dumps(body), status=status,
                                          mimetype="application/json")
    return response
