"""`flask backup`: write a backup that restores, and restore one with the ledger verified."""

from __future__ import annotations

import os
import sys

import click
from flask.cli import AppGroup

from construction.services.backups import BackupError, create_backup, restore_backup

backup = AppGroup("backup", help="Back up and restore the database, photos and public keys.")


@backup.command("create")
@click.argument("directory", type=click.Path(file_okay=False))
def create_command(directory: str) -> None:
    """Write a consistent backup into DIRECTORY (a new or empty folder).

    The database (SQLite's online backup API, or pg_dump -Fc), the stored
    files (local storage: the files; S3: every object's size and SHA-256 and
    the command that copies the bucket), the public label and checkpoint keys,
    and manifest.json with every file's size and SHA-256. Private keys are not
    copied: keep them apart.
    """
    try:
        manifest = create_backup(directory, say=click.echo)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"backup of revision {manifest['alembic_revision']} written to {directory}")


@backup.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--upgrade", is_flag=True,
              help="Restore a backup made at an older migration, then migrate it to head.")
@click.option("--workers", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default=True, help="Processes verifying the ledger (as `ledger verify`).")
def restore_command(directory: str, upgrade: bool, workers: int) -> None:
    """Restore the backup in DIRECTORY into an empty database and photo store.

    Every file is checked against the manifest first, and the database and
    the photo store must be empty: on any mismatch nothing is written. After
    restoring, the equivalent of `flask ledger verify` (against the backup's
    checkpoint keys) and `flask ledger check` run; exit 1 if either fails.
    """
    try:
        report = restore_backup(directory, upgrade=upgrade, workers=workers, say=click.echo)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    for key_id in report.keys_missing:
        click.echo(f"KEY {key_id}: listed in the backup, not published by the restored database")
    if report.breach:
        click.echo(f"ledger verify: BROKEN at {report.breach} "
                   f"({report.events_verified} events verified before it)")
    else:
        click.echo(f"ledger verify: {report.events_verified} events verified: the chain and "
                   "every checkpoint hold")
    for mismatch in report.mismatches:
        click.echo(f"MISMATCH {mismatch}")
    click.echo(f"ledger check: {report.components_checked} components checked, "
               f"{len(report.mismatches)} mismatches")
    if not report.ok:
        click.echo("restored, but the checks above failed")
        sys.exit(1)
    click.echo(f"restored from {directory}")
