"""``forestmon users add|list|disable|api-key``: accounts and roles, stored in the store."""

from __future__ import annotations

from pathlib import Path

import click

from api import users as accounts
from api.cli.options import data_dir_option, settings_from
from geo.store import open_store


@click.group()
def users() -> None:
    """Users and roles: admin, ranger (reviews the alerts of their units), planner, viewer."""


@users.command()
@click.argument("username")
@click.option("--role", type=click.Choice(accounts.ROLES), required=True, help="What the user may do.")
@click.option("--units", default="", help="Admin unit ids a ranger covers, comma-separated (e.g. 675,676).")
@click.option("--name", "display_name", default=None, help="Full name shown in the history.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Asked for when not given (at least 8 characters).")
@data_dir_option
def add(username: str, role: str, units: str, display_name: str | None, password: str,
        data_dir: Path | None) -> None:
    """Add a user (the password is stored as an argon2id hash)."""
    with open_store(settings_from(data_dir=data_dir).store) as store:
        user = accounts.add_user(store, username, password, role, units.split(","), display_name)
    click.echo(f"added {user.username} ({user.role}{'; units ' + ','.join(user.units) if user.units else ''})")


@users.command(name="list")
@data_dir_option
def list_(data_dir: Path | None) -> None:
    """List users with their role, units and whether they are disabled."""
    with open_store(settings_from(data_dir=data_dir).store) as store:
        found = accounts.list_users(store)
    for user in found:
        state = "disabled" if user.disabled else "active"
        click.echo(f"{user.username}\t{user.role}\t{','.join(user.units) or '-'}\t{state}\t{user.display_name or ''}")


@users.command()
@click.argument("username")
@data_dir_option
def disable(username: str, data_dir: Path | None) -> None:
    """Disable a user and revoke their tokens and API keys."""
    with open_store(settings_from(data_dir=data_dir).store) as store:
        accounts.set_disabled(store, username)
    click.echo(f"disabled {username}; their tokens and API keys are revoked")


@users.command(name="api-key")
@click.argument("username")
@click.option("--name", required=True, help="What the key is for.")
@data_dir_option
def api_key(username: str, name: str, data_dir: Path | None) -> None:
    """Create an API key for a script acting as USERNAME (printed once)."""
    with open_store(settings_from(data_dir=data_dir).store) as store:
        click.echo(accounts.create_api_key(store, username, name))
