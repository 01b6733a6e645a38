"""``forestmon cases import CSV``: the register of violation cases, imported from CSV."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import data_dir_option, settings_from
from geo.store import open_store
from geo.workflow.cases import import_cases_csv
from geo.workflow.review import SystemActor


@click.group()
def cases() -> None:
    """Violation cases."""


@cases.command(name="import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
def import_cases(csv_file: Path, data_dir: Path | None) -> None:
    """Import historical cases from CSV (columns: number, opened, violation_type, area_ha, timber_m3, outcome,
    fine_amount, district_id, note); re-importing updates cases by number."""
    try:
        text = csv_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{csv_file}: not UTF-8 text") from None
    with open_store(settings_from(data_dir=data_dir).store) as store:
        counts = import_cases_csv(store, text, SystemActor(username="import"))
    click.echo(f"{csv_file.name}: {counts['inserted']} cases added, {counts['updated']} updated")
