"""The ``forestmon`` command: a click group with one module per subcommand, named after it.

Options several commands share are in ``options``; work several commands run (detection then assignment, the
report, serving) is in ``steps``.
"""

from __future__ import annotations

import logging
import sys

import click

from api.cli import (
    assign,
    cases,
    db,
    demo,
    detect,
    export,
    ingest,
    layers,
    planting,
    region,
    report,
    runs,
    serve,
    subscriptions,
    targets,
    users,
    weekly,
)
from geo.errors import ForestmonError
from geo.store.sql import redact


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress and decisions.")
def cli(verbose: bool) -> None:
    """forestmon: forest-loss monitoring from satellite imagery (Lâm Đồng bundled; any region via `region init`)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for command in (demo.demo, ingest.ingest, detect.detect, report.report, serve.serve, db.db, users.users,
                targets.targets, cases.cases, planting.planting, assign.assign, export.export, layers.layers,
                region.region, weekly.weekly, runs.runs, subscriptions.subscriptions):
    cli.add_command(command)


def main() -> None:
    """Entry point: domain errors become one line on stderr and exit code 1, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ForestmonError as exc:
        click.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(1)
