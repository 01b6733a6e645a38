"""``forestmon weekly [--week YYYY-Www]``: the whole weekly chain (fetch, ingest, detect, assign, report, deliver),
recorded in the store; the exit status says how it ended (``api.weekly``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from api.cli.options import data_dir_option, region_option, settings_from


@click.command()
@click.option("--week", default=None, help="ISO week, e.g. 2024-W11 (default: the last complete week in "
              "Asia/Ho_Chi_Minh).")
@click.option("--force", is_flag=True, help="Run again a week already done (deliveries already made are not "
              "repeated: see `forestmon subscriptions resend`).")
@click.option("--trigger", type=click.Choice(["cli", "schedule"]), default="cli", hidden=True,
              help="What started the run, for its record (the server's scheduler says so).")
@data_dir_option
@region_option
def weekly(week: str | None, force: bool, trigger: str, data_dir: Path | None, region: str | None) -> None:
    """Run the weekly job: new imagery (Sentinel Hub if configured, else the watched folder FORESTMON_WATCH_DIR),
    ingest, detect, assign, the report, e-mails and webhooks.

    \b
    Exit status: 0 done (or the week was already done), 1 a step failed (run again to resume),
    3 another run is in progress, 4 done but some deliveries failed (the next run tries them again).
    """
    from api.weekly import run_weekly  # the whole chain's modules, loaded when the job runs, not with the CLI

    settings = settings_from(data_dir=data_dir, region=region)
    result = run_weekly(settings, week, trigger=trigger, force=force, echo=click.echo)
    click.echo(result.message, err=result.status != 0)
    sys.exit(result.status)
