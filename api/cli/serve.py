"""``forestmon serve``: the map and API with uvicorn."""

from __future__ import annotations

import click

from api.cli.options import data_dir_option, region_option, settings_from
from api.settings import Settings


def run_server(settings: Settings) -> None:
    import uvicorn

    from api.app import create_app

    click.echo(f"serving the map on http://{settings.host}:{settings.port}/  (API docs at /docs; Ctrl+C stops)")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default: 8000).")
@data_dir_option
@region_option
def serve(host, port, data_dir, region) -> None:
    """Serve the web map at / and the API (GeoJSON alerts, OpenAPI at /docs)."""
    run_server(settings_from(host=host, port=port, data_dir=data_dir, region=region))
