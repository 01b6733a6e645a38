"""``forestmon region init NAME --boundary FILE``: a region profile for any area, kept in the data directory."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import data_dir_option, settings_from
from geo.region import init_region


@click.group()
def region() -> None:
    """Region profiles: the area watched, its admin units, analysis grid and official CRS."""


@region.command()
@click.argument("name")
@click.option("--boundary", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Vector file of the region's outline (GeoJSON, GeoPackage, shapefile…; any CRS).")
@click.option("--admin", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Vector file of its admin units (columns id and name when it has them); alerts and coverage "
                   "are counted per unit. Default: the whole region is one unit.")
@click.option("--crs", "official_crs", default=None, metavar="EPSG",
              help="Official projected CRS of exports and of alert coordinates (e.g. EPSG:31983); "
                   "default: the analysis grid's UTM zone.")
@click.option("--title", default=None, help="Name shown on maps and reports (default: NAME).")
@click.option("--resolution", type=click.FloatRange(1, 1000), default=10.0, show_default=True,
              help="Pixel size of the analysis grid, metres (10 for Sentinel-2; 30 for Landsat alone).")
@data_dir_option
def init(name: str, boundary: Path, admin: Path | None, official_crs: str | None, title: str | None,
         resolution: float, data_dir: Path | None) -> None:
    """Write the profile of region NAME into DATA_DIR/regions/NAME; then --region NAME (or FORESTMON_REGION)
    uses it. The analysis grid is the WGS 84 UTM zone of the area's centre."""
    settings = settings_from(data_dir=data_dir)
    crs = official_crs if official_crs is None or ":" in official_crs else f"EPSG:{official_crs}"
    made = init_region(name, boundary, settings.paths.regions, admin=admin, official_crs=crs, title=title,
                       resolution=resolution)
    click.echo(f"region {made.name}: grid {made.grid_crs.to_string()} ({made.grid_crs.name}), official CRS "
               f"{made.official_crs.name}, {len(made.units())} unit(s); profile {made.folder / 'profile.toml'}")
