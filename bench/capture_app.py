"""The real PrefabTrace app plus one bare route, for `bench/capture.py`.

`POST /bench/baseline` inserts one row into `bench_row` (a table that
`bench/capture.py` creates with plain SQL in the bench database only) through
the same `db.session` and engine set-up as the real endpoints (SQLite WAL and
BEGIN IMMEDIATE, the same connection pool), with no authentication, no schema
and no lifecycle: it is the floor against which scan capture is measured.

Serve it with gunicorn from the repository root:
`gunicorn --workers 4 --bind 127.0.0.1:PORT 'bench.capture_app:app'`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import request
from sqlalchemy import DateTime, bindparam, text

from app import create_app
from construction.extensions import db

app = create_app()

_INSERT = text(
    "INSERT INTO bench_row (payload, created_at) VALUES (:payload, :created_at) RETURNING id"
).bindparams(bindparam("created_at", type_=DateTime(timezone=True)))


@app.post("/bench/baseline")
def bench_baseline():
    """Insert one bare row and answer 201 with its id."""
    body = request.get_json(silent=True) or {}
    payload = str(body.get("payload", ""))[:200]
    row_id = db.session.execute(_INSERT, {"payload": payload,
                                          "created_at": datetime.now(UTC)}).scalar_one()
    db.session.commit()
    return {"id": row_id}, 201
