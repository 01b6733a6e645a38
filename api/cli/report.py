"""``forestmon report --week YYYY-Www``: the week's reports, the province's and one per admin unit, in HTML and PDF."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import data_dir_option, lang_option, region_option, settings_from
from api.cli.steps import write_report


@click.command()
@click.option("--week", required=True, help="ISO week, e.g. 2024-W11.")
@click.option("--unit", "units", multiple=True,
              help="Only this admin unit's report besides the province's (its code; repeat for more). "
                   "Default: every unit in force that week (2024 districts; 2025 communes from 1 July 2025).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write only the province's HTML report, to this file.")
@data_dir_option
@region_option
@lang_option
def report(week: str, units: tuple[str, ...], output: Path | None, data_dir: Path | None, region: str | None,
           lang: str | None) -> None:
    """Write the week's reports (DATA_DIR/reports/WEEK.html, .pdf, WEEK_UNIT.html, .pdf, WEEK.json): new alerts by
    confidence, forest category and unit, cloud cover, the same week of earlier years, a map, the year's targets."""
    settings = settings_from(data_dir=data_dir, region=region)
    click.echo(str(write_report(settings, week, output, lang, list(units) if units else None)))
