"""``forestmon demo``: the whole monitor on a SYNTHETIC scenario near Đà Lạt, from scenes to served map."""

from __future__ import annotations

import shutil
import sys
from datetime import date
from pathlib import Path

import click
import geopandas as gpd

from api.cli.options import data_dir_option, host_option, port_option, settings_from
from api.cli.steps import ProgressBars, detect_and_assign, run_server, write_report
from geo.evaluate import accuracy
from geo.grid import Grid
from geo.store import open_store
from geo.workflow.lot_growth import lots_growth
from geo.workflow.planning import import_layer
from geo.workflow.planting import import_lots
from ingest import synthetic
from ingest.catalogue import ingest_local

DEMO_PLAN = "Quy hoạch sử dụng đất 2021-2030 (mô phỏng)"


@click.command()
@data_dir_option
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve the map when done.")
@host_option
@port_option
def demo(data_dir: Path | None, serve: bool, host: str | None, port: int | None) -> None:
    """Run the monitor end to end on synthetic Sentinel-2 scenes with known clearings.

    Writes the scenes, their ground truth, the plantation lots' register and a land-use plan to DATA_DIR/demo;
    the lots, the plan and the alerts to the store (alerts assigned to the rangers of their units, if any); a
    weekly report to DATA_DIR/reports; prints the lots' status checked from the imagery and the alerts'
    area-weighted recall and precision against the truth, then serves the map. Re-running reuses what is already there.
    """
    settings = settings_from(data_dir=data_dir, host=host, port=port)
    region = settings.load_region()
    if region.demo is None:
        raise click.ClickException(f"region {region.name!r} has no demo area in its profile")
    bars = ProgressBars()
    click.echo(f"SYNTHETIC demo scenario over {region.title} -> {settings.data_dir}")
    scene_dir = settings.paths.demo_scenes
    synthetic.generate(region.demo, scene_dir, settings.paths.demo_truth, settings.paths.demo_landcover,
                       crs=region.grid_crs.to_string(), progress=bars, lots_path=settings.paths.demo_lots,
                       plan_path=settings.paths.demo_plan)
    store = open_store(settings.store)
    result = ingest_local([scene_dir], store, region, settings.paths.ard, progress=bars)
    for record in result.failed:
        click.echo(f"skipped: {record['reason']}", err=True)
    import_lots(store, settings.paths.demo_lots, region.grid_crs)  # the register a forest office keeps
    import_layer(store, settings.paths.demo_plan, name=DEMO_PLAN, kind="landuse_plan", valid_from=date(2021, 1, 1),
                 area_crs=region.grid_crs)  # the plan planners overlay (re-importing replaces it)
    grid = Grid.covering(region.demo.bounds, region.grid_crs, region.resolution)
    detect_and_assign(settings, store, bars, grid=grid)
    alerts = store.query_alerts()
    last = max(s["acquired"] for s in store.scenes("ok"))
    # Report the week of the newest alert (the last week of data may have none), as a ranger would look it up.
    newest = max(alerts["first_detected"]) if len(alerts) else last
    iso = date.fromisoformat(newest).isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    report_path = write_report(settings, week)
    click.echo(f"{len(alerts)} alert(s), {alerts['area_ha'].sum():.1f} ha; report: {report_path}")
    lots = lots_growth(store, date.fromisoformat(last))["lots"]
    click.echo("plantation lots checked from the imagery: " + "; ".join(
        f"{lot['lot_id']} planted {lot['planted']}: {lot['status']}, {lot['green_share']:.0%} green" for lot in lots))
    truth = gpd.read_file(settings.paths.demo_truth)
    score = accuracy(alerts, truth, region.grid_crs, until=date.fromisoformat(last))
    click.echo(f"clearings found: {score.found}/{score.total}; median delay {score.median_delay_days} days")
    click.echo(score.line())
    if serve:
        where = f" --data-dir {settings.data_dir}" if data_dir else ""
        exe = "forestmon" if shutil.which("forestmon") else sys.argv[0]  # e.g. .venv/bin/forestmon, not on PATH
        click.echo("to review the alerts as a ranger, or open the planners' workspace, add a user and log in:\n"
                   f"  {exe} users add an --role ranger --units 674,675,676{where} && {exe} assign{where}\n"
                   f"  {exe} users add hoa --role planner{where}")
        run_server(settings)
