"""``forestmon ingest PATH...`` and ``forestmon detect``: catalogue imagery, then fold it into the alerts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.options import ProgressBars, data_dir_option, forest_option, region_option, settings_from
from geo.detect import DetectorParams
from geo.detect.run import run_detection
from geo.errors import InvalidInputError
from geo.region import load_region
from geo.store import open_store
from geo.workflow import review
from ingest.catalogue import ingest_local


def _band_map(text: str | None) -> dict[str, int] | None:
    if not text:
        return None
    try:
        mapping = {k.strip().upper(): int(v) for k, v in (pair.split("=") for pair in text.split(","))}
    except ValueError as exc:
        raise InvalidInputError(
            f"--bands: expected NAME=INDEX pairs like B04=3,B08=4,B12=6,SCL=7, got {text!r}") from exc
    return mapping


class PathsOrSourceGroup(click.Group):
    """``forestmon ingest SOURCE ...`` for a named source, and ``forestmon ingest PATH...`` for local files."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["files", *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "PATH... [OPTIONS] | sentinelhub --start DATE --end DATE [OPTIONS]")


scheduler_option = click.option(
    "--scheduler", default=None, metavar="tcp://HOST:PORT",
    help="Dask scheduler to run the tiles on (default: Dask's scheduler-address config, else this machine).")
detect_option = click.option("--detect/--no-detect", default=True, show_default=True,
                             help="Run detection after ingesting.")


@click.group(cls=PathsOrSourceGroup)
def ingest() -> None:
    """Turn imagery into cloud-masked, analysis-ready tiles on the region's grid and catalogue them, then detect.

    \b
    forestmon ingest PATH...              local files and folders (GeoTIFF/COG, Sentinel-2 SAFE, Landsat C2 L2)
    forestmon ingest sentinelhub --start 2024-01-01 --end 2024-01-31   from Sentinel Hub or CDSE
    """


def _report(result, settings, store, bars, detect: bool, forest: Path | None = None) -> None:
    for record in result.failed:
        click.echo(f"skipped: {record['reason']}", err=True)
    click.echo(f"catalogued {len(result.ok)} scene(s), {len(result.failed)} failed "
               f"({result.tiles_written} tile(s) written, {result.tiles_skipped} already done)")
    if detect and result.ok:
        _detect(settings, store, bars, forest=forest)


@ingest.command("files", hidden=True)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--bands", "band_map", default=None,
              help="Band mapping for files whose bands are not named, e.g. B04=3,B08=4,B12=6,SCL=7.")
@detect_option
@scheduler_option
@forest_option
@data_dir_option
@region_option
def files(paths: tuple[Path, ...], band_map: str | None, detect: bool, scheduler, forest: Path | None,
          data_dir, region) -> None:
    """Ingest local imagery: GeoTIFF/COG scenes (one multi-band file, or one file per band), Sentinel-2 L2A SAFE
    folders and Landsat 8/9 Collection 2 Level-2 scenes, in files or folders.

    Files that cannot be used are named, recorded as failed, and skipped; the others go on.
    """
    settings = settings_from(data_dir=data_dir, region=region)
    store = open_store(settings.store)
    bars = ProgressBars()
    result = ingest_local(list(paths), store, load_region(settings.region), settings.paths.ard,
                          band_map=_band_map(band_map), progress=bars, scheduler=scheduler, forest_mask=forest)
    _report(result, settings, store, bars, detect, forest)


def _read_area(path: Path | None):
    """The area of interest from any vector file GDAL reads (any CRS), as one EPSG:4326 geometry."""
    if path is None:
        return None
    import geopandas as gpd
    from pyogrio.errors import DataSourceError
    from shapely.ops import unary_union

    try:
        frame = gpd.read_file(path)
    except (DataSourceError, ValueError, OSError) as exc:
        raise InvalidInputError(f"--area {path}: not a vector file GDAL can read ({exc})") from exc
    if frame.empty or frame.crs is None:
        raise InvalidInputError(f"--area {path}: no features or no CRS")
    area = unary_union(list(frame.to_crs(4326).geometry.make_valid()))
    if area.is_empty or area.area == 0:
        raise InvalidInputError(f"--area {path}: no polygon area")
    return area


@ingest.command("sentinelhub")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True, help="First day (YYYY-MM-DD).")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Last day (YYYY-MM-DD).")
@click.option("--max-cloud", type=click.FloatRange(0, 100), default=60, show_default=True,
              help="Largest scene cloud cover (%) to fetch.")
@click.option("--area", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Vector file (GeoJSON, GeoPackage, shapefile; any CRS) of the area; default the whole region.")
@click.option("--endpoint", type=click.Choice(["sentinelhub", "cdse"]), default=None,
              help="Sentinel Hub (default) or the Copernicus Data Space Ecosystem; or FORESTMON_SH_ENDPOINT.")
@detect_option
@scheduler_option
@forest_option
@data_dir_option
@region_option
def sentinelhub(start, end, max_cloud: float, area: Path | None, endpoint: str | None, detect: bool, scheduler,
                forest: Path | None, data_dir, region) -> None:
    """Fetch Sentinel-2 L2A from Sentinel Hub or CDSE for the region (or --area) and ingest it.

    Credentials from the environment: FORESTMON_SH_CLIENT_ID and FORESTMON_SH_CLIENT_SECRET. Downloads are cached in
    DATA_DIR/cache/sentinelhub, so a re-run fetches nothing twice.
    """
    from ingest.catalogue import ingest_sentinelhub
    from ingest.sentinelhub_source import SentinelHubSettings

    if end < start:
        raise click.BadParameter(f"--end {end:%Y-%m-%d} is before --start {start:%Y-%m-%d}", param_hint="--end")
    settings = settings_from(data_dir=data_dir, region=region)
    sh_settings = SentinelHubSettings(**({"endpoint": endpoint} if endpoint else {}))
    store = open_store(settings.store)
    bars = ProgressBars()
    result = ingest_sentinelhub(sh_settings, store, load_region(settings.region), settings.paths.ard,
                                settings.paths.sentinelhub_cache, start.date(), end.date(), max_cloud=max_cloud,
                                area=_read_area(area), progress=bars, scheduler=scheduler, forest_mask=forest)
    _report(result, settings, store, bars, detect, forest)


@click.command()
@data_dir_option
@region_option
@click.option("--min-area", type=click.FloatRange(min=0), default=0.1, show_default=True,
              help="Minimum mapping unit in hectares.")
@forest_option
@click.option("--refit-days", type=click.IntRange(min=0), default=DetectorParams().refit_days, show_default=True,
              help="Learn the scenes judged since the last refit into the baseline once it is this many days older "
                   "than the newest scene (0: learn every scene as it comes; slower weekly runs).")
def detect(data_dir, region, min_area: float, forest: Path | None, refit_days: int) -> None:
    """Judge catalogued scenes not yet processed against the baseline, refit it when due, update the alerts."""
    settings = settings_from(data_dir=data_dir, region=region)
    _detect(settings, open_store(settings.store), ProgressBars(), min_area, forest, refit_days)


def _detect(settings, store, bars, min_area: float = 0.1, forest: Path | None = None,
            refit_days: int = DetectorParams().refit_days) -> None:
    result = run_detection(load_region(settings.region), store, settings.paths.state.path,
                           params=DetectorParams(refit_days=refit_days), min_area_ha=min_area, forest_layer=forest,
                           progress=bars)
    assigned = review.auto_assign(store)  # new alerts go to the rangers of their admin units
    click.echo(f"processed {result.scenes_processed} new scene(s); {result.alerts} alert(s) "
               f"({json.dumps(result.counts)}); assigned {sum(assigned.values())}")
    for unit in result.coverage:
        click.echo(f"  {unit['unit']}: {100 * unit['observed_share']:.0f}% of {unit['forest_ha']:,.0f} ha "
                   "monitored forest seen cloud-free")
