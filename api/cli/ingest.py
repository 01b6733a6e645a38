"""``forestmon ingest PATH...`` and ``forestmon ingest sentinelhub``: catalogue imagery as analysis-ready tiles,
then detect and assign.

One command for both sources: a first argument ``sentinelhub`` fetches from Sentinel Hub or CDSE, anything
else is local files and folders. ``SOURCE_OPTIONS`` says which options go with one source only; the help lists
them under that source, and giving one to the other source is a usage error naming it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
import geopandas as gpd
from click.core import ParameterSource
from pyogrio.errors import DataSourceError
from shapely.ops import unary_union

from api.cli.options import (
    DATE,
    data_dir_option,
    detect_option,
    forest_option,
    region_option,
    scheduler_option,
    settings_from,
)
from api.cli.steps import ProgressBars, detect_and_assign
from geo.errors import InvalidInputError
from geo.store import open_store
from ingest.catalogue import ingest_local, ingest_sentinelhub
from ingest.sentinelhub_source import SentinelHubSettings

SENTINELHUB = "sentinelhub"
LOCAL = "local"
# The options of one source only (by parameter name); every other option goes with both.
SOURCE_OPTIONS = {LOCAL: ("band_map",), SENTINELHUB: ("start", "end", "max_cloud", "area", "endpoint")}
SECTIONS = {LOCAL: "Options for local files (PATH...)", SENTINELHUB: "Options for sentinelhub",
            None: "Options for both"}


class IngestCommand(click.Command):
    """Shows the two forms in its usage line and its options under the source they go with."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "PATH... [OPTIONS] | sentinelhub --start DATE --end DATE [OPTIONS]")

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str | None, list[tuple[str, str]]] = {source: [] for source in SECTIONS}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                sections[_source_of(param.name)].append(record)
        for source, records in sections.items():
            with formatter.section(SECTIONS[source]):
                formatter.write_dl(records)


def _source_of(name: str | None) -> str | None:
    return next((source for source, names in SOURCE_OPTIONS.items() if name in names), None)


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)


def _param(ctx: click.Context, name: str) -> click.Parameter:
    return next(p for p in ctx.command.params if p.name == name)


def _check_source(ctx: click.Context, source: str, extra: tuple[str, ...]) -> None:
    """Refuse, with a usage error naming it, an option of the other source or what the source needs but lacks."""
    other = LOCAL if source == SENTINELHUB else SENTINELHUB
    for name in SOURCE_OPTIONS[other]:
        if _given(ctx, name):
            what = "local files (PATH...)" if other == LOCAL else "sentinelhub"
            raise click.UsageError(f"{_param(ctx, name).opts[0]} goes with {what} only", ctx)
    if source == SENTINELHUB:
        if extra:
            raise click.UsageError(f"sentinelhub takes no PATH (got {' '.join(extra)})", ctx)
        for name in ("start", "end"):
            if ctx.params[name] is None:
                raise click.MissingParameter(ctx=ctx, param=_param(ctx, name))
        if ctx.params["end"] < ctx.params["start"]:
            raise click.BadParameter(f"--end {ctx.params['end']} is before --start {ctx.params['start']}", ctx,
                                     param_hint="--end")


def _local_paths(ctx: click.Context, inputs: tuple[str, ...]) -> list[Path]:
    """The local PATHs, each of which must exist (a usage error naming the first that does not)."""
    exists = click.Path(exists=True, path_type=Path)
    return [exists.convert(value, _param(ctx, "inputs"), ctx) for value in inputs]


def _band_map(text: str | None) -> dict[str, int] | None:
    if not text:
        return None
    try:
        mapping = {k.strip().upper(): int(v) for k, v in (pair.split("=") for pair in text.split(","))}
    except ValueError as exc:
        raise InvalidInputError(
            f"--bands: expected NAME=INDEX pairs like B04=3,B08=4,B12=6,SCL=7, got {text!r}") from exc
    return mapping


def _read_area(path: Path | None):
    """The area of interest from any vector file GDAL reads (any CRS), as one EPSG:4326 geometry."""
    if path is None:
        return None
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


@click.command(cls=IngestCommand, no_args_is_help=True)
@click.argument("inputs", nargs=-1, required=True, metavar="PATH...")
@click.option("--bands", "band_map", default=None,
              help="Band mapping for files whose bands are not named, e.g. B04=3,B08=4,B12=6,SCL=7.")
@click.option("--start", type=DATE, default=None, help="First day (YYYY-MM-DD); required.")
@click.option("--end", type=DATE, default=None, help="Last day (YYYY-MM-DD); required.")
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
@click.pass_context
def ingest(ctx: click.Context, inputs: tuple[str, ...], band_map: str | None, start: date | None, end: date | None,
           max_cloud: float, area: Path | None, endpoint: str | None, detect: bool, scheduler: str | None,
           forest: Path | None, data_dir: Path | None, region: str | None) -> None:
    """Turn imagery into cloud-masked, analysis-ready tiles on the region's grid and catalogue them, then detect.

    \b
    forestmon ingest PATH... [OPTIONS]
    forestmon ingest sentinelhub --start DATE --end DATE [OPTIONS]

    PATH...: local files and folders of GeoTIFF/COG scenes (one multi-band file, or one file per band),
    Sentinel-2 L2A SAFE folders and Landsat 8/9 Collection 2 Level-2 scenes (bands named CLP or CLM, s2cloudless's
    cloud probability and mask, are folded into the cloud mask). Files that cannot be used are named,
    recorded as failed, and skipped; the others go on. When none could be used the command fails (exit 1).
    (A folder named sentinelhub: give it as ./sentinelhub.)

    sentinelhub: Sentinel-2 L2A from Sentinel Hub or CDSE for the region (or --area), from --start to --end.
    Credentials from the environment: FORESTMON_SH_CLIENT_ID and FORESTMON_SH_CLIENT_SECRET. Downloads are cached
    in DATA_DIR/cache/sentinelhub, so a re-run fetches nothing twice. s2cloudless's CLP and CLM come with the bands
    and mark cloud SCL missed (FORESTMON_SH_CLOUD_LAYERS=false leaves them out).

    Detection follows (unless --no-detect), then the new alerts are assigned to the rangers of their units.
    """
    source = SENTINELHUB if inputs[0] == SENTINELHUB else LOCAL
    _check_source(ctx, source, inputs[1:] if source == SENTINELHUB else inputs)
    paths = _local_paths(ctx, inputs) if source == LOCAL else []
    settings = settings_from(data_dir=data_dir, region=region)
    store = open_store(settings.store)
    bars = ProgressBars()
    if source == SENTINELHUB:
        sh_settings = SentinelHubSettings(**({"endpoint": endpoint} if endpoint else {}))
        result = ingest_sentinelhub(sh_settings, store, settings.load_region(), settings.paths.ard,
                                    settings.paths.sentinelhub_cache, start, end, max_cloud=max_cloud,
                                    area=_read_area(area), progress=bars, scheduler=scheduler, forest_mask=forest)
    else:
        result = ingest_local(paths, store, settings.load_region(), settings.paths.ard,
                              band_map=_band_map(band_map), progress=bars, scheduler=scheduler, forest_mask=forest)
    for record in result.failed:
        click.echo(f"skipped: {record['reason']}", err=True)
    click.echo(f"catalogued {len(result.ok)} scene(s), {len(result.failed)} failed "
               f"({result.tiles_written} tile(s) written, {result.tiles_skipped} already done)")
    if not result.ok and (source == LOCAL or result.failed):
        raise click.ClickException(
            f"no input could be used ({len(result.failed)} failed, reasons above); nothing was ingested")
    if detect and result.ok:
        detect_and_assign(settings, store, bars, forest_layer=forest)
