"""``forestmon report --week YYYY-Www``: the weekly change report as one self-contained HTML file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from api.cli.options import data_dir_option, lang_option, region_option, settings_from
from api.settings import Settings
from geo.errors import ConfigError
from geo.grid import Grid
from geo.region import load_region
from geo.store import open_store
from geo.workflow.targets import progress as target_progress
from maps.report import build_report, parse_week


def write_report(settings: Settings, week: str, out: Path | None = None, lang: str | None = None) -> Path:
    """Write the report for ``week`` (``YYYY-Www``) and return its path (default: reports/WEEK.html)."""
    monday, sunday = parse_week(week)  # fail on a bad week before any work
    store = open_store(settings.store)
    scenes = store.scenes("ok")
    synthetic = any("SYNTHETIC" in (s["sensor"] or "").upper() for s in scenes)
    grid_file = settings.paths.state.grid
    area = Grid.from_json(grid_file.read_text()).bounds_lonlat() if grid_file.exists() else None
    region = load_region(settings.region)
    try:  # the case and planting registers' figures up to the end of the week, when the profile has targets
        progress = target_progress(store, region, monday.isocalendar()[0], sunday)
    except ConfigError:
        progress = None
    html = build_report(region, store.query_alerts(), week, lang=lang or settings.lang, synthetic=synthetic,
                        demo_bounds=area, progress=progress, observed=weekly_coverage(store, monday, sunday))
    out = out or settings.paths.report(week)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out


def weekly_coverage(store, monday, sunday) -> dict[str, float] | None:
    """Share of forest seen cloud-free per unit, from the newest run whose scenes all fall in that week
    (a weekly run); None when no run matches, so the report shows "not known" rather than a wrong figure."""
    start, end = (monday - timedelta(days=6)).isoformat(), sunday.isoformat()
    for run in store.runs():
        if run["first_scene"] and start <= run["first_scene"] and run["last_scene"] <= end:
            return {c["unit"]: c["observed_share"] for c in run["coverage"]}
    return None


@click.command()
@click.option("--week", required=True, help="ISO week, e.g. 2024-W11.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (default: DATA_DIR/reports/WEEK.html).")
@data_dir_option
@region_option
@lang_option
def report(week: str, output: Path | None, data_dir, region, lang) -> None:
    """Write the weekly change report: new alerts by district, a map, and the year's targets."""
    settings = settings_from(data_dir=data_dir, region=region)
    click.echo(str(write_report(settings, week, output, lang)))
