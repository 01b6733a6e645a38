"""``forestmon export LAYER``: alerts, cases or planting lots to GeoPackage, GeoJSON, CSV, KML or GPX."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import data_dir_option, settings_from
from geo.store import open_store
from geo.workflow import exports


@click.command()
@click.argument("layer", type=click.Choice(exports.LAYERS))
@click.option("-f", "--format", "fmt", type=click.Choice(list(exports.FORMATS)), default="gpkg", show_default=True)
@click.option("--crs", type=click.Choice(["4326", "5899", "9218"]), default="4326", show_default=True,
              help="WGS 84, or VN-2000 TM-3 107°45' (5899) / 108°30' (9218) through EPSG:6960.")
@click.option("--year", type=int, default=None, help="Only cases opened / lots planted in that year.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@data_dir_option
def export(layer: str, fmt: str, crs: str, year: int | None, output: Path, data_dir: Path | None) -> None:
    """Write LAYER (alerts, cases, planting_lots) to a file for GIS software or GPS units."""
    settings = settings_from(data_dir=data_dir)
    with open_store(settings.store) as store:
        names = settings.load_region().coordinate_names  # the projected centroid named by the region's CRS
        data = exports.export(exports.layer(store, layer, year, names=names), fmt, layer, int(crs))
    tmp = output.with_name(output.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(output)
    click.echo(f"wrote {output} ({len(data):,} bytes)")
