"""Backups that restore: the database, the stored files and the public keys, under a manifest.

A backup is one folder:

    manifest.json          size and SHA-256 of every other file, the app version, the
                           database's Alembic revision, the engine, the creation time
    database.sqlite3       SQLite: a copy made with SQLite's online backup API
    database.dump          PostgreSQL: pg_dump's custom format (-Fc)
    photos/...             local storage: every stored file (photos, overlays, models)
    photos-s3.json         S3 storage: every object with its size and SHA-256, and the
                           commands that copy the bucket (copying it is the store's job)
    keys/label-keys.json   the public keys labels are checked against
    keys/ledger-keys.json  the public keys checkpoints are checked against, shaped as
                           GET /api/v1/ledger/keys (`flask ledger verify --trusted-keys`)

Private keys are never in it: they are secrets, kept apart.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import flask_migrate
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import URL, inspect, select, text

from construction.extensions import db, reading
from construction.models import LabelKey
from construction.schemas import LabelKeysSchema, LedgerKeysSchema
from construction.services.chain import keys_from_document, ledger_keys, seal_all, verify_ledger
from construction.services.keys import published_keys
from construction.services.ledger import check_ledger
from construction.storage import S3Storage, storage

FORMAT = "prefabtrace-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
POSTGRES_FILE = "database.dump"
PHOTOS = "photos"
S3_LIST = "photos-s3.json"
LABEL_KEYS = "keys/label-keys.json"
LEDGER_KEYS = "keys/ledger-keys.json"
_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what was changed."""


def _quiet(_: str) -> None:
    pass


# --- what both directions need ------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file, read a chunk at a time."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def app_version() -> str:
    """Name the running code: its git commit (`describe`), or "unknown" outside a checkout."""
    root = Path(current_app.root_path).parent
    try:
        done = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty",
                               "--abbrev=12"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def _scripts():
    return ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())


def _stored_files(root: Path) -> Iterator[Path]:
    """Every file a local store holds (not half-written ones: their names start with a dot)."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield path


def _tool_major(path: str) -> int | None:
    try:
        answer = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"PostgreSQL\)\s+(\d+)", answer.stdout)
    return int(found.group(1)) if found else None


def postgres_tool(name: str, major_version: int) -> str:
    """Return a pg_dump, pg_restore or psql of the server's major version (PATH first).

    A dump made by one major version may not restore with another, so a
    different major version is refused rather than tried.
    """
    candidates = [found] if (found := shutil.which(name)) else []
    candidates += sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    seen = []
    for path in dict.fromkeys(candidates):
        major = _tool_major(path)
        if major == major_version:
            return path
        seen.append(f"{path} ({major or 'unknown version'})")
    others = f" (found {', '.join(seen)})" if seen else ""
    raise BackupError(f"no {name} of PostgreSQL {major_version}, the server's major version, on "
                      f"PATH or in /usr/lib/postgresql/*/bin{others}: install "
                      f"postgresql-client-{major_version}")


def server_major(connection) -> int:
    """Return the major version of the PostgreSQL server a connection is on."""
    return int(connection.exec_driver_sql("SHOW server_version_num").scalar()) // 10000


def libpq_address(url: URL) -> tuple[str, dict[str, str]]:
    """Return a database URL as a libpq address for the PostgreSQL tools, and their env.

    The password goes in the environment (PGPASSWORD), not on a command line
    others can read.
    """
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), environment


def _run(command: list[str], environment: dict[str, str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): "
                          f"{done.stderr.strip()[-2000:]}")


# --- create -----------------------------------------------------------------------------------


def _snapshot_facts() -> dict:
    """The revision and the published keys, read in the session's open transaction."""

    return {"revision": MigrationContext.configure(db.session.connection())
            .get_current_revision(),
            # As GET /api/v1/labels/keys and GET /api/v1/ledger/keys answer.
            "label_keys": LabelKeysSchema().dump({"keys": published_keys()}),
            "ledger_keys": LedgerKeysSchema().dump({"keys": ledger_keys()})}


def _copy_sqlite(folder: Path) -> dict:
    target = folder / SQLITE_FILE
    with reading():
        # The keys and the revision are read in the read transaction the copy is made in.
        facts = _snapshot_facts()
        copy = sqlite3.connect(target)
        try:
            db.session.connection().connection.dbapi_connection.backup(copy)
            # A copy of a WAL database is one too: opening it would add -wal and -shm
            # files beside it that the manifest does not list.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    facts["database"] = {"file": SQLITE_FILE, "sqlite_version": sqlite3.sqlite_version}
    return facts


def _dump_postgres(folder: Path) -> dict:
    address, environment = libpq_address(db.engine.url)
    try:
        connection = db.session.connection(
            execution_options={"isolation_level": "REPEATABLE READ"})
        # pg_dump reads the snapshot this transaction exports, so the keys and the
        # revision read here are those of the dump.
        snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
        major = server_major(connection)
        facts = _snapshot_facts()
        pg_dump = postgres_tool("pg_dump", major)
        _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges",
              f"--snapshot={snapshot}", f"--file={folder / POSTGRES_FILE}",
              f"--dbname={address}"], environment, "pg_dump")
    finally:
        db.session.rollback()
    facts["database"] = {"file": POSTGRES_FILE, "server_major": major, "pg_dump_major": major}
    return facts


def _s3_commands(bucket: str, prefix: str, endpoint: str) -> dict:
    source = f"s3://{bucket}/{prefix}"
    option = f"--endpoint-url {shlex.quote(endpoint)} " if endpoint else ""
    return {"copy_out": f"aws s3 sync {option}{shlex.quote(source)} DESTINATION",
            "copy_back": f"aws s3 sync {option}SOURCE {shlex.quote(source)}",
            "mirror_out": f"mc mirror --preserve ALIAS/{shlex.quote(f'{bucket}/{prefix}')} "
                          "DESTINATION"}


def _bucket_sizes(backend) -> Iterator[tuple[str, int]]:
    """Every object under the bucket's prefix: its key (less the prefix) and size."""
    paginator = backend.client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=backend.bucket, Prefix=backend.prefix):
        for item in page.get("Contents", []):
            yield item["Key"][len(backend.prefix):], item["Size"]


def _s3_objects(backend) -> list[dict]:
    """List the bucket's objects under the prefix with their sizes, hashing each one."""
    objects = []
    for key, size in _bucket_sizes(backend):
        body = backend.client.get_object(Bucket=backend.bucket, Key=backend.prefix + key)["Body"]
        digest = hashlib.sha256()
        for chunk in iter(lambda body=body: body.read(_CHUNK), b""):
            digest.update(chunk)
        objects.append({"key": key, "size": size, "sha256": digest.hexdigest()})
    return objects


def _copy_store(folder: Path, say: Callable[[str], None]) -> dict:
    # After the database: a file is stored before the row that names it is committed, and
    # never deleted, so every file the copied database names is here by now.
    backend = storage()
    config = current_app.config
    if isinstance(backend, S3Storage):
        objects = _s3_objects(backend)
        listing = {"bucket": backend.bucket, "prefix": backend.prefix,
                   "endpoint_url": config["S3_ENDPOINT_URL"] or None,
                   "objects": objects,
                   "commands": _s3_commands(backend.bucket, backend.prefix,
                                            config["S3_ENDPOINT_URL"] or "")}
        (folder / S3_LIST).write_text(json.dumps(listing, indent=1), encoding="utf-8")
        say(f"photos: {len(objects)} objects in s3://{backend.bucket}/{backend.prefix} listed "
            f"with their hashes; copy them with: {listing['commands']['copy_out']}")
        return {"kind": "s3", "bucket": backend.bucket, "prefix": backend.prefix,
                "objects": len(objects)}
    root = Path(config["PHOTO_DIR"])
    count = 0
    for path in _stored_files(root):
        target = folder / PHOTOS / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        count += 1
    say(f"photos: {count} files copied from {root}")
    return {"kind": "local", "files": count}


def _write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")


def create_backup(directory: str | os.PathLike, say: Callable[[str], None] = _quiet) -> dict:
    """Write a consistent backup into `directory` (new or empty); return its manifest."""
    folder = Path(directory)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupError(f"{folder} is not an empty folder: back up into a new one")
    engine = db.engine.dialect.name
    if engine not in ("sqlite", "postgresql"):
        raise BackupError(f"cannot back up a {engine} database")
    folder.mkdir(parents=True, exist_ok=True)
    db.session.remove()
    facts = _copy_sqlite(folder) if engine == "sqlite" else _dump_postgres(folder)
    say(f"database: {engine} at revision {facts['revision']} copied to "
        f"{facts['database']['file']}")
    stored = _copy_store(folder, say)
    _write_json(folder / LABEL_KEYS, facts["label_keys"])
    _write_json(folder / LEDGER_KEYS, facts["ledger_keys"])
    files = [{"path": path.relative_to(folder).as_posix(), "size": path.stat().st_size,
              "sha256": file_sha256(path)}
             for path in sorted(folder.rglob("*")) if path.is_file()]
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "app_version": app_version(), "engine": engine,
                "alembic_revision": facts["revision"],
                "alembic_head": _scripts().get_current_head(),
                "database": facts["database"], "storage": stored, "files": files}
    # Written last, and renamed into place: a folder without it is an unfinished backup.
    partial = folder / f".{MANIFEST}.{secrets.token_hex(4)}"
    _write_json(partial, manifest)
    os.replace(partial, folder / MANIFEST)
    say(f"manifest: {len(files)} files, {sum(f['size'] for f in files):,} bytes")
    return manifest


# --- restore ----------------------------------------------------------------------------------


def read_manifest(directory: str | os.PathLike) -> dict:
    """Return a backup's manifest once every file matches it; else raise naming each mismatch.

    A file missing, of another size or hash, or not listed at all refuses the
    whole backup: nothing is restored from a folder that changed since.
    """
    folder = Path(directory)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        listed = {str(entry["path"]): {"size": int(entry["size"]),
                                        "sha256": str(entry["sha256"])}
                  for entry in manifest["files"]}
    except FileNotFoundError as error:
        raise BackupError(f"{folder} has no {MANIFEST}: not a backup, or an unfinished one") \
            from error
    except (ValueError, KeyError, TypeError) as error:
        raise BackupError(f"{folder / MANIFEST} is not a backup manifest ({error})") from error
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{folder / MANIFEST} is not a {FORMAT} version {FORMAT_VERSION} "
                          "manifest")
    problems = []
    root = folder.resolve()
    for name, entry in listed.items():
        path = (folder / name).resolve()
        if root not in path.parents:
            problems.append(f"{name}: outside the backup folder")
        elif not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != entry["size"]:
            problems.append(f"{name}: {path.stat().st_size} bytes, the manifest says "
                            f"{entry['size']}")
        elif file_sha256(path) != entry["sha256"]:
            problems.append(f"{name}: SHA-256 differs from the manifest")
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    problems += [f"{name}: not in the manifest" for name in sorted(present - set(listed))
                 if name != MANIFEST]
    if problems:
        shown = "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more"
                                            if len(problems) > 20 else "")
        raise BackupError(f"the backup in {folder} does not match its manifest, nothing "
                          f"restored: {shown}")
    return manifest


def database_is_empty() -> bool:
    """Tell whether the app's database has no tables, or only Alembic's, at base."""
    names = set(inspect(db.engine).get_table_names())
    if names - {"alembic_version"}:
        return False
    if "alembic_version" in names:
        with db.engine.connect() as connection:
            return not connection.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar()
    return True


@dataclass
class RestoreReport:
    """What a restore did and what the ledger checks found afterwards."""

    manifest: dict
    files_restored: int = 0
    upgraded_to: str | None = None
    unlisted_objects: list[str] = field(default_factory=list)
    keys_missing: list[str] = field(default_factory=list)
    events_verified: int = 0
    breach: str | None = None
    components_checked: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.breach is None and not self.mismatches and not self.keys_missing


def _check_revision(manifest: dict, upgrade: bool) -> str | None:
    """Return the head to upgrade to after restoring (None: at head), or refuse."""
    scripts = _scripts()
    revision, head = manifest.get("alembic_revision"), scripts.get_current_head()
    known = {script.revision for script in scripts.walk_revisions()}
    if revision not in known:
        raise BackupError(f"the backup's database is at revision {revision}, which this code "
                          f"does not know (made by {manifest.get('app_version')}?): restore it "
                          "with that release or a later one")
    if revision == head:
        return None
    if not upgrade:
        raise BackupError(f"the backup's database is at revision {revision} and this code's "
                          f"migrations end at {head}: restore with --upgrade to migrate it "
                          f"after restoring, or with the release that made it "
                          f"({manifest.get('app_version')})")
    return head


def _check_store(folder: Path, manifest: dict) -> tuple[str, list[str]]:
    """Refuse a photo store that is not ready for the backup's files; return its kind."""
    backend = storage()
    kind = "s3" if isinstance(backend, S3Storage) else "local"
    if manifest["storage"]["kind"] != kind:
        raise BackupError(f"the backup's photos are in {manifest['storage']['kind']} storage "
                          f"and this app's STORAGE is {kind}: restore with the same kind")
    if kind == "local":
        root = Path(current_app.config["PHOTO_DIR"])
        if next(_stored_files(root), None) is not None:
            raise BackupError(f"the photo store {root} is not empty: restore into an empty "
                              "one")
        return kind, []
    # A bucket is copied by the store's own tools (the backup lists the command), never by
    # us: what must hold is that every object the backup lists is in it.
    listing = json.loads((folder / S3_LIST).read_text(encoding="utf-8"))
    present = dict(_bucket_sizes(backend))
    wrong = [o["key"] for o in listing["objects"] if present.get(o["key"]) != o["size"]]
    if wrong:
        target = f"s3://{backend.bucket}/{backend.prefix}"
        raise BackupError(f"{len(wrong)} of the backup's {len(listing['objects'])} objects are "
                          f"missing from {target} or differ in size (first: {wrong[0]}): copy "
                          f"them back first, e.g. {listing['commands']['copy_back']}")
    listed = {o["key"] for o in listing["objects"]}
    return kind, sorted(set(present) - listed)


def _restore_sqlite(folder: Path) -> None:
    target = Path(db.engine.url.database)
    target.parent.mkdir(parents=True, exist_ok=True)
    db.session.remove()
    db.engine.dispose()
    source = sqlite3.connect(f"file:{folder / SQLITE_FILE}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=WAL")  # as the app runs it
    finally:
        copy.close()
        source.close()
    db.engine.dispose()


def _restore_postgres(folder: Path, pg_restore: str) -> None:
    address, environment = libpq_address(db.engine.url)
    db.session.remove()
    with db.engine.begin() as connection:
        # An empty schema at base still has Alembic's table, which the dump creates.
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    _run([pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
          f"--dbname={address}", str(folder / POSTGRES_FILE)], environment, "pg_restore")
    db.engine.dispose()


def _restore_local_files(folder: Path) -> int:
    root = Path(current_app.config["PHOTO_DIR"])
    source = folder / PHOTOS
    count = 0
    for path in _stored_files(source):
        target = root / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{secrets.token_hex(6)}")
        shutil.copyfile(path, partial)
        os.replace(partial, target)
        count += 1
    return count


def _missing_keys(folder: Path) -> list[str]:
    """Keys the backup lists that the restored database does not publish as they were."""
    published = dict(db.session.execute(select(LabelKey.key_id, LabelKey.public_key)).all())
    missing = []
    for name in (LABEL_KEYS, LEDGER_KEYS):
        for key in json.loads((folder / name).read_text(encoding="utf-8"))["keys"]:
            if published.get(key["key_id"]) != key["public_key"]:
                missing.append(key["key_id"])
    return sorted(set(missing))


def verify_restored(folder: Path, report: RestoreReport, workers: int = 1) -> None:
    """Run `flask ledger verify` (against the backup's keys) and `flask ledger check`."""
    report.keys_missing = _missing_keys(folder)
    trusted = keys_from_document(json.loads((folder / LEDGER_KEYS).read_text(encoding="utf-8")))
    seal_all()
    with reading():
        report.events_verified, breach = verify_ledger(workers=workers, trusted_keys=trusted)
    if breach is not None:
        where = f"event {breach.event_id} " if breach.event_id else ""
        report.breach = f"sequence {breach.sequence}: {where}— {breach.reason}"
    with reading():
        report.components_checked, mismatches = check_ledger()
    report.mismatches = [f"component {m.component_id} ({m.code}): {m.reason}"
                         for m in mismatches]


def restore_backup(directory: str | os.PathLike, upgrade: bool = False, workers: int = 1,
                   say: Callable[[str], None] = _quiet) -> RestoreReport:
    """Restore a backup into an empty database and photo store, then verify the ledger.

    Everything is checked before anything is written: every file against the
    manifest, the engine, the migration revision (an older one only with
    `upgrade`), an empty database and an empty store (S3: every listed object
    present). Then the database and the files are restored, the migrations run
    when `upgrade` asks, and the ledger is verified (by `workers` processes)
    and replayed.
    """
    folder = Path(directory)
    manifest = read_manifest(folder)
    say(f"manifest: {len(manifest['files'])} files match their SHA-256")
    engine = db.engine.dialect.name
    if manifest["engine"] != engine:
        raise BackupError(f"the backup holds a {manifest['engine']} database and this app "
                          f"runs on {engine}: restore onto {manifest['engine']}")
    head = _check_revision(manifest, upgrade)
    if not database_is_empty():
        raise BackupError(f"the database {db.engine.url.render_as_string()} is not empty: "
                          "restore into an empty one (no tables, or migrated to base only)")
    kind, unlisted = _check_store(folder, manifest)
    pg_restore = None
    if engine == "postgresql":
        with db.engine.connect() as connection:
            major = server_major(connection)
        made_by = manifest["database"]["pg_dump_major"]
        if made_by > major:
            raise BackupError(f"the dump was made by pg_dump {made_by} and this server is "
                              f"PostgreSQL {major}: restore onto {made_by} or later")
        pg_restore = postgres_tool("pg_restore", major)
    db.session.remove()
    report = RestoreReport(manifest=manifest, unlisted_objects=unlisted)
    if engine == "sqlite":
        _restore_sqlite(folder)
    else:
        _restore_postgres(folder, pg_restore)
    say(f"database: restored ({engine}, revision {manifest['alembic_revision']})")
    if kind == "local":
        report.files_restored = _restore_local_files(folder)
        say(f"photos: {report.files_restored} files restored to "
            f"{current_app.config['PHOTO_DIR']}")
    else:
        say(f"photos: every listed object is in the bucket ({len(unlisted)} not in the "
            "backup, left as they are)")
    if head is not None:

        flask_migrate.upgrade()
        report.upgraded_to = head
        say(f"database: upgraded from {manifest['alembic_revision']} to {head}")
    verify_restored(folder, report, workers)
    return report
