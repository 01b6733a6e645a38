"""The ``forestmon`` command: a click group with one module per subcommand."""

from __future__ import annotations

import logging
import sys

import click

from api.cli import db, demo, export, ingest, layers, report, serve, targets, users
from geo.errors import ForestmonError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress and decisions.")
def cli(verbose: bool) -> None:
    """forestmon: forest-loss monitoring for Lâm Đồng from satellite imagery."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


cli.add_command(demo.demo)
cli.add_command(ingest.ingest)
cli.add_command(ingest.detect)
cli.add_command(report.report)
cli.add_command(serve.serve)
cli.add_command(db.db)
cli.add_command(users.users)
cli.add_command(targets.targets)
cli.add_command(targets.cases)
cli.add_command(targets.planting_group)
cli.add_command(targets.assign)
cli.add_command(export.export)
cli.add_command(layers.layers)


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
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
