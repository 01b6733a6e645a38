"""``forestmon detect``: judge the catalogued scenes not yet processed, update the alerts, assign the new ones."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import data_dir_option, forest_option, region_option, settings_from
from api.cli.steps import ProgressBars, detect_and_assign
from geo.detect import DetectorParams
from geo.detect.polygons import MIN_AREA_HA
from geo.store import open_store


@click.command()
@data_dir_option
@region_option
@click.option("--min-area", type=click.FloatRange(min=0), default=MIN_AREA_HA, show_default=True,
              help="Minimum mapping unit in hectares.")
@forest_option
@click.option("--refit-days", type=click.IntRange(min=0), default=DetectorParams().refit_days, show_default=True,
              help="Learn the scenes judged since the last refit into the baseline once it is this many days older "
                   "than the newest scene (0: learn every scene as it comes; slower weekly runs).")
def detect(data_dir: Path | None, region: str | None, min_area: float, forest: Path | None, refit_days: int) -> None:
    """Judge catalogued scenes not yet processed against the baseline, refit it when due, update the alerts, and
    assign the new ones to the rangers of their units."""
    settings = settings_from(data_dir=data_dir, region=region)
    detect_and_assign(settings, open_store(settings.store), ProgressBars(),
                      params=DetectorParams(refit_days=refit_days), min_area_ha=min_area, forest_layer=forest)
