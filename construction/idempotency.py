"""Idempotency-Key support for writes that a client may retry."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, json, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from construction.auth import authenticate_request
from construction.errors import ApiProblem
from construction.extensions import db
from construction.models import IdempotentRequest

IN_PROGRESS = 0  # status_code of a key whose request has not finished


def idempotent(view=None, *, when: Callable[[Any], bool] | None = None):
    """Replay the stored answer when a request repeats its Idempotency-Key.

    The key is inserted in the same transaction as the write it guards, so the
    write and the key commit together: two requests with one key can never
    both write (the second waits on the key's unique index, then replays).
    The same key with a different request is refused (422). A request that
    fails leaves no key behind, so it may be retried. With `when`, only the
    requests whose JSON body it approves are guarded: the others write nothing,
    so their key is neither kept nor checked.
    """
    if view is None:
        return functools.partial(idempotent, when=when)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or (when is not None and not when(request.get_json(silent=True))):
            return view(*args, **kwargs)
        if len(key) > 100:
            raise ApiProblem("validation-error", "Idempotency-Key has at most 100 characters")
        principal = authenticate_request()
        digest = hashlib.sha256(
            request.method.encode() + b" " + request.full_path.encode() + b"\n"
            + request.get_data()).hexdigest()
        stored = _stored(principal.user_id, key)
        if stored is not None:
            return _replay(stored, key, digest)
        record = IdempotentRequest(user_id=principal.user_id, key=key, request_hash=digest,
                                   status_code=IN_PROGRESS, body="")
        db.session.add(record)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            return _replay(_stored(principal.user_id, key), key, digest)
        record_id = record.id
        response = _as_response(view(*args, **kwargs))
        # The view's own commit has stored the key with the write; now its answer.
        if 200 <= response.status_code < 300:
            db.session.execute(
                update(IdempotentRequest).where(IdempotentRequest.id == record_id)
                .values(status_code=response.status_code, body=response.get_data(as_text=True)))
        else:
            db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.id == record_id))
        db.session.commit()
        return response

    return wrapper


def _stored(user_id: int, key: str) -> IdempotentRequest | None:
    return db.session.scalar(select(IdempotentRequest).where(
        IdempotentRequest.user_id == user_id, IdempotentRequest.key == key))


def _replay(stored: IdempotentRequest | None, key: str, digest: str) -> Response:
    if stored is None:  # the other request failed and took its key away: retry
        raise ApiProblem("conflict", f"a request with Idempotency-Key '{key}' just failed; "
                         "send it again")
    if stored.request_hash != digest:
        raise ApiProblem("idempotency-key-reused",
                         f"Idempotency-Key '{key}' was sent with another request")
    if stored.status_code == IN_PROGRESS:
        raise ApiProblem("conflict", f"the request with Idempotency-Key '{key}' is being "
                         "processed (or its answer was lost); send it again shortly")
    response = Response(stored.body, status=stored.status_code, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _as_response(result) -> Response:
    if isinstance(result, Response):
        return result
    body, status = (result if isinstance(result, tuple) else (result, 200))[:2]
    return current_app.response_class(json.dumps(body), status=status,
                                      mimetype="application/json")
