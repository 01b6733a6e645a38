"""``forestmon report --week YYYY-Www``: the weekly change report as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import data_dir_option, lang_option, region_option, settings_from
from api.cli.steps import write_report


@click.command()
@click.option("--week", required=True, help="ISO week, e.g. 2024-W11.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (default: DATA_DIR/reports/WEEK.html).")
@data_dir_option
@region_option
@lang_option
def report(week: str, output: Path | None, data_dir: Path | None, region: str | None, lang: str | None) -> None:
    """Write the weekly change report: new alerts by district, a map, and the year's targets."""
    settings = settings_from(data_dir=data_dir, region=region)
    click.echo(str(write_report(settings, week, output, lang)))
