"""``forestmon runs [ID]``: the record of the weekly job's runs and their steps, with timings and counts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.options import data_dir_option, settings_from
from geo.errors import NotFoundError
from geo.store import jobs, open_store


@click.command()
@click.argument("run_id", required=False, type=int)
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True, help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
def runs(run_id: int | None, limit: int, as_json: bool, data_dir: Path | None) -> None:
    """List the weekly job's runs, newest first (or one run), each with its steps."""
    with open_store(settings_from(data_dir=data_dir).store) as store:
        if run_id is not None:
            found = [jobs.get_run(store, run_id)]
            if found[0] is None:
                raise NotFoundError(f"no run with id {run_id}")
        else:
            found = jobs.list_runs(store, limit=limit)
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo("no run recorded yet")
    for run in found:
        click.echo(f"run {run['id']}  {run['job']} {run['week']}  {run['status']}  started {run['started']}  "
                   f"finished {run['finished'] or '-'}  ({run['trigger']}, {run['holder']})"
                   + (f"  {run['error']}" if run["error"] else ""))
        for step in run["steps"]:
            counts = ", ".join(f"{k}={v}" for k, v in step["counts"].items())
            seconds = f"{step['seconds']:.1f} s" if step["seconds"] is not None else "-"
            click.echo(f"  {step['step']:<8} {step['status']:<7} {seconds:>8}  {counts}"
                       + (f"  {step['message']}" if step["message"] else ""))
