"""``forestmon layers``: import planning layers (zoning, land-use plans, forest categories, protected areas),
list them, and overlay alerts on them."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import click

from api.cli.options import DATE, data_dir_option, region_option, settings_from
from geo.store import open_store
from geo.workflow.planning import KINDS, import_layer


@click.group()
def layers() -> None:
    """Planning layers: import, list, overlay alerts."""


@layers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Layer name (versions of one plan share it).")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="What the layer is.")
@click.option("--valid-from", required=True, type=DATE, help="Date the plan takes effect (YYYY-MM-DD).")
@click.option("--layer", "source_layer", default=None, help="Layer inside a GeoPackage or Shapefile zip.")
@click.option("--zone-field", default=None, help="Attribute holding the zone type (default: guessed).")
@click.option("--name-field", default=None, help="Attribute holding each zone's name (default: guessed, e.g. ten_khu).")
@data_dir_option
@region_option
def import_(file: Path, name: str, kind: str, valid_from: date, source_layer: str | None, zone_field: str | None,
            name_field: str | None, data_dir: Path | None, region: str | None) -> None:
    """Import FILE (GeoJSON, zipped Shapefile, GeoPackage, KML; any CRS incl. VN-2000) as a layer version."""
    settings = settings_from(data_dir=data_dir, region=region)
    area_crs = settings.load_region().grid_crs
    record = import_layer(open_store(settings.store), file, name=name, kind=kind, valid_from=valid_from,
                          layer=source_layer, zone_field=zone_field, name_field=name_field,
                          area_crs=area_crs)
    for repair in record["repairs"]:
        click.echo(f"repaired: {repair}", err=True)
    click.echo(f"imported {record['feature_count']} zone(s) as {record['id']} (from {record['source_crs']}, "
               f"zone type from {record['zone_field'] or 'the layer kind'}, names from "
               f"{record['name_field'] or 'nowhere'}; {len(record['repairs'])} repaired)")
    if record["columns"]:  # each source attribute's typed column in the store (what QGIS shows)
        click.echo("columns: " + ", ".join(source if column == source else f"{source} → {column}"
                                           for source, column in record["columns"].items()))


@layers.command("list")
@data_dir_option
def list_(data_dir: Path | None) -> None:
    """The stored layer versions with their validity."""
    store = open_store(settings_from(data_dir=data_dir).store)
    for rec in store.planning_layers():
        click.echo(f"{rec['id']}\t{rec['name']}\t{rec['kind']}\t{rec['valid_from']} – {rec['valid_to'] or '…'}\t"
                   f"{rec['feature_count']} zones\t{rec['source_crs']}")


@layers.command("overlay")
@click.option("--on", type=DATE, default=None, help="Use the layer versions valid on this date (default: newest).")
@click.option("--name", "names", multiple=True, help="Only these layers (by id or name; repeatable).")
@click.option("--start", type=DATE, default=None, help="Alerts first detected on or after (YYYY-MM-DD).")
@click.option("--end", type=DATE, default=None, help="Alerts first detected on or before (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="Output format.")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", help="Language of zone type names.")
@data_dir_option
@region_option
def overlay(on: date | None, names: tuple[str, ...], start: date | None, end: date | None, fmt: str, lang: str,
            data_dir: Path | None, region: str | None) -> None:
    """Forest loss inside keep-forest zones vs conversion zones, per alert and per zone and month."""
    from geo.workflow.overlay import overlay_report, report_records

    settings = settings_from(data_dir=data_dir, region=region)
    area_crs = settings.load_region().grid_crs
    report = overlay_report(open_store(settings.store), on=on, names=list(names) or None, start=start, end=end,
                            area_crs=area_crs, lang=lang)
    if fmt == "json":
        json.dump(report_records(report), sys.stdout, ensure_ascii=False, indent=1, default=str)
        click.echo()
        return
    if not report["layers"]:
        click.echo("no planning layers imported yet; see `forestmon layers import --help`")
        return
    click.echo("Loss by zone class (ha, alerts):")
    click.echo(report["summary"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    click.echo("\nAlerts in zones:")
    click.echo(report["alerts"].drop(columns="geometry").to_string(index=False, float_format=lambda v: f"{v:.3f}")
               if len(report["alerts"]) else "(none)")
    click.echo("\nPer zone and month:")
    click.echo(report["zones"].to_string(index=False, float_format=lambda v: f"{v:.3f}")
               if len(report["zones"]) else "(none)")

