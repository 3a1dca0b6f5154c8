"""`flask loads`: plan truckloads for storeys and print a load's label and delivery note."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from construction.errors import ApiProblem
from construction.services import load_papers
from construction.services.accounts import acting_principal
from construction.services.load_plans import propose_load_plan
from construction.services.loads import printable_load
from construction.services.projects import find_project
from labels.render import LOAD_LAYOUTS

loads = AppGroup("loads", help="Plan loads (truck trips) and print their papers.")


@loads.command("plan")
@click.option("--project", "project_code", required=True, help="Project code.")
@click.option("--storey", "storey_ids", type=int, multiple=True, required=True,
              help="A storey id (repeat for several storeys).")
@click.option("--max-weight", "max_weight_kg", type=click.FloatRange(min=0.1), required=True,
              help="The truck's payload in kg.")
@click.option("--max-items", type=click.IntRange(min=1), default=None)
@click.option("--max-length", "max_length_mm", type=click.IntRange(min=1), default=None,
              help="The longest piece the truck takes, in mm.")
@click.option("--accept", is_flag=True, help="Create the proposed loads.")
@click.option("--user", "user_name", default=None,
              help="Who plans (default: the first admin).")
def plan_command(project_code, storey_ids, max_weight_kg, max_items, max_length_mm, accept,
                 user_name) -> None:
    """Propose truckloads for storeys in erection order (and with --accept, create them)."""
    values = {"storey_ids": list(storey_ids), "max_weight_kg": max_weight_kg,
              "max_items": max_items, "max_length_mm": max_length_mm, "accept": accept}
    try:
        principal = acting_principal(user_name)
        plan = propose_load_plan(principal, find_project(code=project_code).id, values)
    except ApiProblem as problem:
        raise click.ClickException(problem.detail) from problem
    for number, load in enumerate(plan["loads"], start=1):
        name = load.get("code") or f"truck {number}"
        ids = load.get("component_ids") or [i["component_id"] for i in load["items"]]
        waiting = len(load.get("not_ready", []))
        click.echo(f"{name}: {len(ids)} pieces, {load['weight_kg']:,.1f} kg, loading order "
                   f"{json.dumps(ids)}" + (f" ({waiting} not ready)" if waiting else ""))
    for piece in plan["not_ready"]:
        click.echo(f"left off, not ready: {piece['code']} ({piece['reason']})")
    click.echo(f"{len(plan['loads'])} loads " + ("created" if plan["accepted"] else "proposed"))


@loads.command("print")
@click.argument("load_id", type=int)
@click.option("--layout", type=click.Choice(list(LOAD_LAYOUTS)), default="a4",
              show_default=True, help="The load label's size.")
@click.option("--label", "label_path", type=click.Path(dir_okay=False, writable=True),
              default=None, help="Write the load label (PDF) here.")
@click.option("--note", "note_path", type=click.Path(dir_okay=False, writable=True),
              default=None, help="Write the delivery note (PDF) here.")
@click.option("--user", "user_name", default=None,
              help="Who prints (default: the first admin).")
def print_command(load_id, layout, label_path, note_path, user_name) -> None:
    """Print a load's label and delivery note to PDF files."""
    if not label_path and not note_path:
        raise click.UsageError("give --label, --note or both")
    try:
        principal = acting_principal(user_name)
        note = load_papers.delivery_note(printable_load(principal, load_id)) \
            if note_path else None
        if label_path:
            _code, label = load_papers.print_load_label(principal, load_id, "pdf", layout, 300)
    except ApiProblem as problem:
        raise click.ClickException(problem.detail) from problem
    if label_path:
        with open(label_path, "wb") as handle:
            handle.write(label)
        click.echo(f"load label written to {label_path}")
    if note_path:
        with open(note_path, "wb") as handle:
            handle.write(note)
        click.echo(f"delivery note written to {note_path}")
