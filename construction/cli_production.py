"""`flask production`: import a laboratory's strength results, print a quality certificate."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from construction.errors import ApiProblem
from construction.schemas import StrengthImportRowSchema
from construction.services.accounts import acting_principal
from construction.services.certificates import certificate_pdf
from construction.services.components import find_component_id
from construction.services.production import import_strength_csv

production = AppGroup("production", help="Production records: strength results, certificates.")

_USER = click.option("--user", "user_name", default=None,
                     help="Who acts (default: the first admin); their scope applies.")


@production.command("import-strength")
@click.argument("file", type=click.File("rb"))
@_USER
def import_strength_command(file, user_name: str | None) -> None:
    """Import a laboratory's strength results from a CSV file: every row or none.

    Columns as for POST /api/v1/strength-results/import: pour_id, specimen,
    age_days, tested_at, and strength_mpa or load_kn with area_mm2.
    """
    try:
        text = file.read().decode("utf-8")
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{file.name} is not UTF-8 text") from error
    try:
        principal = acting_principal(user_name)
        results = import_strength_csv(principal, text, current_app.config["IMPORT_MAX_ROWS"],
                                      StrengthImportRowSchema().load)
    except ApiProblem as problem:
        for error in problem.extra.get("errors") or []:
            where = f"row {error['row']}" if error.get("row") else "file"
            field = f" {error['field']}" if error.get("field") else ""
            click.echo(f"{where}{field}: {error['message']}", err=True)
        raise click.ClickException(problem.detail) from problem
    click.echo(f"{len(results)} strength results imported")


@production.command("certificate")
@click.argument("component")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True)
@_USER
def certificate_command(component: str, output: str, user_name: str | None) -> None:
    """Write a component's quality certificate (by id or code) to a PDF file."""
    try:
        principal = acting_principal(user_name)
        found = find_component_id(component)
        pdf = certificate_pdf(principal, found, current_app.config["PUBLIC_BASE_URL"])
    except ApiProblem as problem:
        raise click.ClickException(problem.detail) from problem
    with open(output, "wb") as handle:
        handle.write(pdf)
    click.echo(f"certificate of component {found} written to {output}")
