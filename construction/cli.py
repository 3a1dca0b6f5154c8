"""Command-line groups: `flask users`, `flask ledger`, `flask demo`."""

from __future__ import annotations

import json
import os
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from construction.extensions import db, reading
from construction.models import ApiToken, Organization, OrganizationKind, Role, User

users = AppGroup("users", help="Manage organizations, users and API tokens.")
ledger = AppGroup("ledger", help="Check the event ledger.")
demo = AppGroup("demo", help="Demo data.")


@users.command("create-org")
@click.argument("name")
@click.option("--kind", type=click.Choice([k.value for k in OrganizationKind]), required=True)
@click.option("--region", "region_code", required=True,
              help="Administrative division code, e.g. 330106.")
def create_org(name: str, kind: str, region_code: str) -> None:
    """Create an organization."""
    from construction.services.accounts import create_organization

    try:
        organization = create_organization(name, kind, region_code)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    except IntegrityError as error:
        raise click.ClickException(f"an organization named '{name}' already exists") from error
    click.echo(f"organization {organization.id}: {organization.name}")


@users.command("create")
@click.argument("name")
@click.option("--org", "organization_id", type=int, required=True, help="Organization id.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--token/--no-token", default=True, help="Also issue an API token.")
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True,
              help="Token lifetime in days.")
def create_user_command(name: str, organization_id: int, role: str, token: bool,
                        days: int) -> None:
    """Create a user (and print a token, shown only this once)."""
    from construction.services.accounts import create_user, issue_token

    try:
        user = create_user(name, organization_id, role)
    except (LookupError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    except IntegrityError as error:
        raise click.ClickException(f"a user named '{name}' already exists") from error
    click.echo(f"user {user.id}: {user.name} ({user.role.value})")
    if token:
        record, secret = issue_token(user.id, name="cli", days=days)
        click.echo(f"token {record.id} (shown once): {secret}")


@users.command("token")
@click.argument("user_id", type=int)
@click.option("--name", default="cli")
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True,
              help="Token lifetime in days.")
def token_command(user_id: int, name: str, days: int) -> None:
    """Issue an API token for a user (shown only this once)."""
    from construction.services.accounts import issue_token

    try:
        record, secret = issue_token(user_id, name=name, days=days)
    except LookupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"token {record.id} (shown once): {secret}")


@users.command("revoke")
@click.argument("token_id", type=int)
def revoke_command(token_id: int) -> None:
    """Revoke an API token."""
    from construction.services.accounts import revoke_token

    try:
        revoke_token(token_id)
    except LookupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"token {token_id} revoked")


@users.command("list")
def list_command() -> None:
    """List organizations, users and their tokens."""
    for organization in db.session.scalars(select(Organization).order_by(Organization.id)):
        click.echo(f"{organization.id:>4} {organization.kind.value:<13} "
                   f"{organization.region_code:<8} {organization.name}")
        for user in db.session.scalars(select(User).where(
                User.organization_id == organization.id).order_by(User.id)):
            click.echo(f"       user {user.id}: {user.name} ({user.role.value})")
            for token in db.session.scalars(select(ApiToken).where(
                    ApiToken.user_id == user.id).order_by(ApiToken.id)):
                state = "revoked" if token.revoked_at else \
                    f"expires {token.expires_at:%Y-%m-%d}" if token.expires_at else "no expiry"
                click.echo(f"         token {token.id}: {token.prefix}… {state}")


@ledger.command("check")
def check_command() -> None:
    """Recompute every component's state from its events; exit 1 on any mismatch."""
    from construction.services.ledger import check_ledger

    with reading(), click.progressbar(length=0, label="replaying", file=sys.stderr) as bar:
        checked, mismatches = check_ledger(progress=bar.update)
    for mismatch in mismatches:
        derived = mismatch.derived.state if mismatch.derived else "-"
        click.echo(f"MISMATCH component {mismatch.component_id} ({mismatch.code}): "
                   f"stored {mismatch.stored}, events say {derived}: {mismatch.reason}")
    click.echo(f"{checked} components checked, {len(mismatches)} mismatches")
    if mismatches:
        sys.exit(1)


@demo.command("load")
@click.option("--tokens", "tokens_path", default=None,
              help="Where to write the tokens (default: instance/demo-tokens.json).")
def demo_load(tokens_path: str | None) -> None:
    """Load the demo into an empty database and write one token per role."""
    from construction.demo import ROUTE, database_is_empty, load_demo, refresh_tokens

    path = tokens_path or os.path.join(current_app.instance_path, "demo-tokens.json")
    if database_is_empty():
        with click.progressbar(length=len(ROUTE), label="loading demo",
                               file=sys.stderr) as bar:
            load_demo(path, progress=bar.update)
        click.echo(f"demo loaded; tokens in {path}")
    elif os.path.exists(path):
        click.echo(f"database not empty: demo not loaded; tokens in {path}")
    elif refresh_tokens(path) is not None:
        click.echo(f"database not empty: new demo tokens written to {path}")
    else:
        click.echo("database not empty and has no demo users: no tokens written")


@demo.command("tokens")
def demo_tokens() -> None:
    """Print the demo tokens file."""
    path = os.path.join(current_app.instance_path, "demo-tokens.json")
    with open(path) as handle:
        click.echo(json.dumps(json.load(handle), indent=2))


def init_commands(app: Flask) -> None:
    """Register the command groups."""
    for group in (users, ledger, demo):
        app.cli.add_command(group)
