"""``forestmon ingest PATH...`` and ``forestmon detect``: catalogue imagery, then fold it into the alerts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.options import ProgressBars, data_dir_option, forest_option, region_option, settings_from
from geo.detect import DetectorParams
from geo.errors import InvalidInputError
from geo.region import load_region
from geo.store import open_store
from ingest.pipeline import ingest_local, run_detection


def _band_map(text: str | None) -> dict[str, int] | None:
    if not text:
        return None
    try:
        mapping = {k.strip().upper(): int(v) for k, v in (pair.split("=") for pair in text.split(","))}
    except ValueError as exc:
        raise InvalidInputError(
            f"--bands: expected NAME=INDEX pairs like B04=3,B08=4,B12=6,SCL=7, got {text!r}") from exc
    return mapping


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--bands", "band_map", default=None,
              help="Band mapping for files whose bands are not named, e.g. B04=3,B08=4,B12=6,SCL=7.")
@click.option("--detect/--no-detect", default=True, show_default=True, help="Run detection after cataloguing.")
@forest_option
@data_dir_option
@region_option
def ingest(paths: tuple[Path, ...], band_map: str | None, detect: bool, forest: Path | None, data_dir, region) -> None:
    """Catalogue GeoTIFF/COG scenes (files or folders) and detect forest loss in them.

    Files that cannot be used are named, recorded as failed, and skipped; the others go on.
    """
    settings = settings_from(data_dir=data_dir, region=region)
    store = open_store(settings.store)
    bars = ProgressBars()
    result = ingest_local(list(paths), store, band_map=_band_map(band_map), progress=bars)
    for record in result.failed:
        click.echo(f"skipped: {record['reason']}", err=True)
    click.echo(f"catalogued {len(result.ok)} scene(s), {len(result.failed)} failed")
    if detect and result.ok:
        _detect(settings, store, bars, forest=forest)


@click.command()
@data_dir_option
@region_option
@click.option("--min-area", type=click.FloatRange(min=0), default=0.1, show_default=True,
              help="Minimum mapping unit in hectares.")
@forest_option
def detect(data_dir, region, min_area: float, forest: Path | None) -> None:
    """Fold catalogued scenes not yet processed into the detector state and update the alerts."""
    settings = settings_from(data_dir=data_dir, region=region)
    _detect(settings, open_store(settings.store), ProgressBars(), min_area, forest)


def _detect(settings, store, bars, min_area: float = 0.1, forest: Path | None = None) -> None:
    result = run_detection(load_region(settings.region), store, settings.state_dir,
                           params=DetectorParams(), min_area_ha=min_area, forest_layer=forest, progress=bars)
    click.echo(f"processed {result.scenes_processed} new scene(s); {result.alerts} alert(s) "
               f"({json.dumps(result.counts)})")
    for unit in result.coverage:
        click.echo(f"  {unit['unit']}: {100 * unit['observed_share']:.0f}% of {unit['forest_ha']:,.0f} ha "
                   "monitored forest seen cloud-free")
