"""``forestmon assign``: assign the new alerts to the rangers of their admin units."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import data_dir_option, settings_from
from geo.store import open_store
from geo.workflow.review import auto_assign


@click.command()
@data_dir_option
def assign(data_dir: Path | None) -> None:
    """Assign new alerts to the active rangers of their admin units, highest priority first."""
    with open_store(settings_from(data_dir=data_dir).store) as store:
        counts = auto_assign(store)
    click.echo(f"assigned {sum(counts.values())} alerts" + "".join(f"\n  {u}: {n}" for u, n in counts.items()))
