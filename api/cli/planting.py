"""``forestmon planting import FILE``: the register of planting lots, imported from vector files or CSV."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import data_dir_option, region_option, settings_from
from geo.store import open_store
from geo.workflow.planting import import_lots as import_planting_lots


@click.group()
def planting() -> None:
    """The register of planting lots."""


@planting.command(name="import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@data_dir_option
@region_option
def import_lots(path: Path, data_dir: Path | None, region: str | None) -> None:
    """Import planting lots (GeoPackage, GeoJSON, Shapefile, or CSV with a wkt column): lot_id, planted, species,
    trees, programme; areas computed in hectares in the region's grid CRS."""
    settings = settings_from(data_dir=data_dir, region=region)
    with open_store(settings.store) as store:
        counts = import_planting_lots(store, path, settings.load_region().grid_crs)
    click.echo(f"{path.name}: {counts['inserted']} lots added, {counts['updated']} updated")
