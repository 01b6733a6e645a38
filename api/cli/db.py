"""``forestmon db upgrade|status``: apply and list the store's schema migrations."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import data_dir_option, settings_from
from geo.store import open_store


@click.group()
def db() -> None:
    """The store's schema (GeoPackage file or PostGIS database)."""


@db.command()
@data_dir_option
def upgrade(data_dir: Path | None) -> None:
    """Apply the pending schema migrations (they also run whenever the service or a command opens the store)."""
    with open_store(settings_from(data_dir=data_dir).store) as store:  # opening applies them
        click.echo(f"{store!r}: schema up to date ({len(store.applied_migrations())} migrations applied)")


@db.command()
@data_dir_option
def status(data_dir: Path | None) -> None:
    """List the applied migrations."""
    with open_store(settings_from(data_dir=data_dir).store) as store:
        for name in store.applied_migrations():
            click.echo(name)
