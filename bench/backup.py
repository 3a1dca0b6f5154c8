"""Backup benchmark: `flask backup create` and `restore` against the database tools alone.

    .venv/bin/python bench/backup.py [--components 20000] [--photos 200] [--workers N]
        [--database sqlite|postgresql|both]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_backup]

Seeds an empty database (`flask bench seed`: ~10 sealed events per component and a
signed checkpoint every 100,000 events) and puts photo-sized files (200 KB of noise
each) in the photo folder, then, in one run, times: the backup (the database copy, the
files copied, every file hashed into the manifest) beside the baseline of the database
copy alone (SQLite's backup API, or `pg_dump -Fc`); and the restore into an empty
database and folder (every hash checked, the database restored, the files copied, the
ledger verified and replayed) beside the baseline of the restore alone (SQLite's backup
API, or `pg_restore`) and of `ledger verify` plus `ledger check` alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.engine import make_url  # noqa: E402

from bench.capture import drop_postgres, recreate_postgres  # noqa: E402


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _run(engine_name: str, args, work: Path) -> list[tuple[str, str, str]]:
    import flask_migrate

    from app import create_app
    from construction.extensions import db, reading
    from construction.services.backups import (
        create_backup,
        libpq_address,
        postgres_tool,
        restore_backup,
        server_major,
    )
    from construction.services.chain import verify_ledger
    from construction.services.ledger import check_ledger
    from construction.services.seed import seed

    if engine_name == "sqlite":
        live, empty = f"sqlite:///{work / 'live.db'}", f"sqlite:///{work / 'restored.db'}"
    else:
        live = args.postgres_url
        empty = f"{args.postgres_url}_restored"
        recreate_postgres(live)
        recreate_postgres(empty)
    settings = {"LABEL_SIGNING_KEY_FILE": str(work / "label-key.pem"),
                "LEDGER_SIGNING_KEY_FILE": str(work / "ledger-key.pem"),
                "LEDGER_CHECKPOINT_EXPORT": ""}
    source = create_app({"SQLALCHEMY_DATABASE_URI": live, "PHOTO_DIR": str(work / "photos"),
                         **settings})
    with source.app_context():
        flask_migrate.upgrade()
        counts = seed(args.components, progress=None)
        if engine_name == "sqlite":
            version = f"SQLite {sqlite3.sqlite_version}"
        else:
            with db.engine.connect() as connection:
                major = server_major(connection)
            version = f"PostgreSQL {major}"
    for number in range(args.photos):
        path = work / "photos" / "originals" / f"{number % 256:02x}" / f"{number:08d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(200_000))

    rows = [(f"{engine_name}: seeded", "",
             f"{counts['components']:,} components, {counts['events']:,} events, "
             f"{args.photos} files of 200 KB, {version}")]
    target = work / "backup"
    with source.app_context():
        made = _timed(lambda: create_backup(target))
        baseline_copy = work / "baseline"
        if engine_name == "sqlite":
            def copy_alone():
                with sqlite3.connect(work / "live.db") as live_db, \
                        sqlite3.connect(baseline_copy) as copy:
                    live_db.backup(copy)
        else:
            address, environment = libpq_address(make_url(live))

            def copy_alone():
                subprocess.run([postgres_tool("pg_dump", major), "--format=custom",
                                "--no-owner", f"--file={baseline_copy}", f"--dbname={address}"],
                               env=environment, check=True)
        alone = _timed(copy_alone)
        db.engine.dispose()
    rows.append((f"{engine_name}: backup create", f"{made:.2f} s",
                 f"{_size(target) / 1e6:,.1f} MB written"))
    rows.append(("  baseline: the database copy alone", f"{alone:.2f} s",
                 f"create takes {made / alone:.1f}x the copy alone"))

    restored_app = create_app({"SQLALCHEMY_DATABASE_URI": empty,
                               "PHOTO_DIR": str(work / "restored-photos"), **settings})
    with restored_app.app_context():
        report = None

        def restore():
            nonlocal report
            report = restore_backup(target, workers=args.workers)

        restoring = _timed(restore)
        assert report.ok, report
        db.session.remove()
        with reading():  # as `flask ledger verify` and `check` read
            checks = _timed(lambda: (verify_ledger(workers=args.workers),
                                     check_ledger()))
        db.engine.dispose()
    if engine_name == "sqlite":
        def restore_alone():
            with sqlite3.connect(work / "baseline") as copy, \
                    sqlite3.connect(work / "baseline-restored.db") as restored:
                copy.backup(restored)
    else:
        recreate_postgres(empty)
        address, environment = libpq_address(make_url(empty))

        def restore_alone():
            subprocess.run([postgres_tool("pg_restore", major), "--no-owner",
                            "--single-transaction", f"--dbname={address}",
                            str(work / "baseline")], env=environment, check=True)
    alone = _timed(restore_alone)
    rows.append((f"{engine_name}: backup restore", f"{restoring:.2f} s",
                 f"{report.events_verified:,} events verified ({args.workers} processes), "
                 f"{report.components_checked:,} components replayed, "
                 f"{report.files_restored} files"))
    rows.append(("  baseline: the database restore alone", f"{alone:.2f} s",
                 f"restore takes {restoring / alone:.1f}x the restore alone"))
    rows.append(("  baseline: ledger verify + check alone", f"{checks:.2f} s",
                 f"on the restored database ({args.workers} processes)"))
    if engine_name == "postgresql":
        for url in (live, empty):
            drop_postgres(url)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=20_000)
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes verifying the ledger (restore and the baseline)")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_backup")
    args = parser.parse_args()
    rows = []
    for engine_name in (["sqlite", "postgresql"] if args.database == "both"
                        else [args.database]):
        work = Path(tempfile.mkdtemp(prefix="prefabtrace-bench-backup-"))
        try:
            rows += _run(engine_name, args, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    width = max(len(row[0]) for row in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>9}  {note}")


if __name__ == "__main__":
    main()
