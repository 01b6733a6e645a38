"""``forestmon serve``: the map and API with uvicorn."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import data_dir_option, host_option, port_option, region_option, settings_from
from api.cli.steps import run_server


@click.command()
@host_option
@port_option
@data_dir_option
@region_option
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Server processes (default: $FORESTMON_WORKERS or one per CPU core).")
def serve(host: str | None, port: int | None, data_dir: Path | None, region: str | None,
          workers: int | None) -> None:
    """Serve the app at / and the API (GeoJSON alerts, vector and imagery tiles, OpenAPI at /docs)."""
    run_server(settings_from(host=host, port=port, data_dir=data_dir, region=region, workers=workers))
