"""`flask bim`: import IFC models from the command line, as the API does."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from construction.errors import ApiProblem
from construction.services.accounts import acting_principal
from construction.services.models import import_model, model_view, submit_model
from construction.services.projects import find_project

bim = AppGroup("bim", help="Import building models (IFC) as components.")


@bim.command("import")
@click.argument("project")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Report the counts and differences; write nothing.")
@click.option("--classes", default="", help="Comma-separated IFC classes to import "
              "(default: assemblies, walls, slabs, beams, columns, stairs, members, plates, "
              "footings, proxies).")
@click.option("--user", "user_name", default=None, help="Who imports (default: the first admin).")
def import_command(project, file, dry_run, classes, user_name) -> None:
    """Import an .ifc or .ifczip model into PROJECT (its code or id): a diff by GlobalId."""
    wanted = [c.strip() for c in classes.split(",") if c.strip()] or None
    try:
        principal = acting_principal(user_name)
        found = find_project(project_id=int(project)) if project.isdigit() else \
            find_project(code=project)
        model, created = submit_model(principal, found.id, file.name, file.read_bytes(),
                                      dry_run, wanted)
    except ApiProblem as problem:
        raise click.ClickException(problem.detail) from problem
    if created:
        with click.progressbar(length=0, label="importing", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)
            model = import_model(model.id, progress)
    else:
        click.echo(f"model {model.id}: this file was imported before; nothing changes",
                   err=True)
    view = model_view(model)
    click.echo(json.dumps({name: view[name] for name in (
        "id", "status", "reason", "schema", "authoring_application", "dry_run", "added",
        "changed", "unchanged", "removed", "skipped", "skipped_reasons", "storeys",
        "differences")},
        indent=2, default=str))
    if model.status == "failed":
        sys.exit(1)
