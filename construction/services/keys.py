"""Signing keys: the label and checkpoint keys on disk, their published public halves.

A key is published (its public half in the label_key table) when it first
signs; verifying reads the published keys, revoked ones included.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from construction.errors import ApiProblem
from construction.extensions import db
from construction.models import Component, Label, LabelKey, Project
from construction.services import audit
from labels.keys import (
    check_retired_folder,
    public_key_from_text,
    public_key_text,
    read_key,
    retire_key_file,
    write_new_key,
)
from labels.payload import key_id

_lock = threading.Lock()
_signing: dict[str, tuple[int, Ed25519PrivateKey]] = {}  # path -> (mtime, key)
_public: dict[str, object] = {"keys": {}, "revoked": frozenset(), "loaded_at": 0.0,
                              "database": None}
_PUBLIC_REFRESH_SECONDS = 5.0


def signing_key(setting: str = "LABEL_SIGNING_KEY_FILE") -> Ed25519PrivateKey:
    """Return the signing key the setting names, creating it on first use outside production."""
    path = current_app.config[setting]
    try:
        mtime = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        if current_app.config["ENV_NAME"] == "production":
            raise
        try:
            write_new_key(path)
            current_app.logger.warning("created a new signing key in %s", path)
        except FileExistsError:
            pass  # another worker created it first
        mtime = os.stat(path).st_mtime_ns
    with _lock:
        cached = _signing.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
    key = read_key(path)
    with _lock:
        _signing[path] = (mtime, key)
    return key


def publish_key(public_key: Ed25519PublicKey, purpose: str = "label") -> str:
    """Make sure the key's public half is published for its purpose; return its key id.

    A key published before ids grew keeps its short id (labels carry it); a new
    one gets a full-length id.
    """
    text = public_key_text(public_key)
    kid = db.session.scalar(select(LabelKey.key_id).where(LabelKey.public_key == text))
    if kid is None:
        kid = key_id(public_key)
        try:
            with db.session.begin_nested():
                db.session.add(LabelKey(key_id=kid, public_key=text, purpose=purpose))
        except IntegrityError:
            # Published by a concurrent request, or another key has this id (2**-65).
            if db.session.scalar(select(LabelKey.public_key)
                                 .where(LabelKey.key_id == kid)) != text:
                raise
    return kid


def publish_signing_key() -> str:
    """Make sure the current label signing key is published; return its key id."""
    return publish_key(signing_key().public_key())


def rotate_signing_key(keep_retired: str | None = None) -> tuple[str | None, str]:
    """Start signing with a new key; the old one is retired but keeps verifying.

    The retired private key leaves the key folder: into `keep_retired`, or
    deleted (its public half stays published, which is all verifying needs).
    Retired keys an earlier rotation left beside the key go the same way.
    """
    path = Path(current_app.config["LABEL_SIGNING_KEY_FILE"])
    try:
        check_retired_folder(path, keep_retired)
    except ValueError as error:
        raise ApiProblem("validation-error", str(error),
                         errors={"keep_retired": [str(error)]}) from error
    old_kid = None
    retiring = []
    if path.exists():
        old = read_key(path)
        old_kid = publish_key(old.public_key())
        # Moved aside first, never overwritten: the new key takes its name below.
        aside = path.with_name(f"{path.name}.{old_kid}.retired")
        os.replace(path, aside)
        retiring.append(aside)
    new = write_new_key(path)
    new_kid = publish_key(new.public_key())
    if old_kid is not None and old_kid != new_kid:
        db.session.execute(update(LabelKey).where(LabelKey.key_id == old_kid,
                                                  LabelKey.retired_at.is_(None))
                           .values(retired_at=datetime.now(UTC)))
    audit.record("key.rotate", f"label key {new_kid}",
                 detail={"old_key_id": old_kid, "new_key_id": new_kid})
    db.session.commit()
    retiring += [p for p in path.parent.glob(f"{path.name}.*.retired") if p not in retiring]
    for retired in retiring:
        retire_key_file(retired, keep_retired, retired.name)
    return old_kid, new_kid


def create_signing_key() -> str:
    """Create the label signing key and publish it (FileExistsError when one exists)."""
    key = write_new_key(current_app.config["LABEL_SIGNING_KEY_FILE"])
    kid = publish_key(key.public_key())
    audit.record("key.create", f"label key {kid}", detail={"key_id": kid})
    db.session.commit()
    return kid



def revoke_key(kid: str, reason: str) -> tuple[LabelKey, dict[str, int]]:
    """Revoke a label key: every label it signed is refused from now on.

    Returns the key and, by project code, how many components carry a current
    label it signed (they need a reprint). Revoking a revoked key changes
    nothing. The signing key itself is refused: rotate it first.
    """
    if not reason.strip():
        raise ApiProblem("validation-error", "a revocation says why",
                         errors={"reason": ["Say why (lost, stolen, leaked...)."]})
    key = db.session.get(LabelKey, kid)
    if key is None or key.purpose != "label":
        raise ApiProblem("not-found", f"no label key {kid!r}")
    if key.revoked_at is None:
        path = current_app.config["LABEL_SIGNING_KEY_FILE"]
        if os.path.exists(path) and public_key_text(read_key(path).public_key()) == \
                key.public_key:
            raise ApiProblem("conflict", f"{kid} signs labels now: rotate it first "
                             "(flask labels rotate-key), then revoke it")
        key.revoked_at = datetime.now(UTC)
        key.revoked_reason = reason.strip()[:200]
        key.retired_at = key.retired_at or key.revoked_at
        audit.record("key.revoke", f"label key {kid}",
                     detail={"key_id": kid, "reason": key.revoked_reason})
        db.session.commit()
        with _lock:
            _public["loaded_at"] = 0.0  # this process refuses its labels at once
    affected = dict(db.session.execute(
        select(Project.code, func.count(Label.id))
        .join(Component, Component.project_id == Project.id)
        .join(Label, Label.component_id == Component.id)
        .where(Label.key_id == kid, Label.revoked_at.is_(None))
        .group_by(Project.code).order_by(Project.code)).all())
    return key, affected



def published_keys() -> list[LabelKey]:
    """List every public key labels were ever signed with, newest first (revoked ones too).

    Only what is published: a key is published when it first signs a label (or
    by `flask labels new-key` and `rotate-key`), so reading the list writes nothing.
    """
    return list(db.session.scalars(select(LabelKey).where(LabelKey.purpose == "label")
                                   .order_by(LabelKey.created_at.desc(), LabelKey.key_id)))


def verifying_keys(refresh: bool = False) -> tuple[dict[str, Ed25519PublicKey],
                                                  frozenset[str]]:
    """Return the published public keys by key id and the ids of revoked ones.

    Kept in memory a few seconds; `refresh` re-reads them: a key id not in
    memory may have been published since (a rotation in another process). The
    table is tiny.
    """
    database = current_app.config["SQLALCHEMY_DATABASE_URI"]
    with _lock:
        if (not refresh and _public["database"] == database
                and time.monotonic() - _public["loaded_at"] < _PUBLIC_REFRESH_SECONDS):
            return _public["keys"], _public["revoked"]
    rows = db.session.execute(select(LabelKey.key_id, LabelKey.public_key, LabelKey.revoked_at)
                              .where(LabelKey.purpose == "label")).all()
    keys = {row.key_id: public_key_from_text(row.public_key) for row in rows}
    revoked = frozenset(row.key_id for row in rows if row.revoked_at is not None)
    with _lock:
        _public.update(keys=keys, revoked=revoked, loaded_at=time.monotonic(),
                       database=database)
    return keys, revoked
