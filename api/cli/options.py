"""The options registry: every option that more than one command takes, defined once, and the settings they make.

Each ``*_option`` is a decorator that adds the option to a command. An option left out is ``None`` and
``settings_from`` leaves it to the environment (``FORESTMON_*``), so a command never restates a default.
``DATE`` is the one type of every date option (``YYYY-MM-DD``).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click

from api.settings import Settings


class DateType(click.ParamType):
    """A day written ``YYYY-MM-DD``, given to the command as a ``datetime.date``."""

    name = "yyyy-mm-dd"

    def convert(self, value, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return datetime.strptime(value, "%Y-%m-%d").date()
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD)", param, ctx)


DATE = DateType()

data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Data directory (default: $FORESTMON_DATA_DIR or ./forestmon-data).")
region_option = click.option(
    "--region", default=None, help="Region profile name or folder (default: $FORESTMON_REGION or lamdong).")
forest_option = click.option(
    "--forest", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="Forest layer (polygons with an optional category column, or a raster): only its forest is monitored. "
         "Kept for later runs; without one, forest is judged from the imagery.")
lang_option = click.option(
    "--lang", type=click.Choice(["vi", "en"]), default=None, help="Language (default: $FORESTMON_LANG or vi).")
host_option = click.option(
    "--host", default=None, help="Address to serve the map on (default: $FORESTMON_HOST or 127.0.0.1).")
port_option = click.option(
    "--port", type=click.IntRange(1, 65535), default=None,
    help="Port to serve the map on (default: $FORESTMON_PORT or 8000).")
scheduler_option = click.option(
    "--scheduler", default=None, metavar="tcp://HOST:PORT",
    help="Dask scheduler to run the tiles on (default: Dask's scheduler-address config, else this machine).")
detect_option = click.option(
    "--detect/--no-detect", default=True, show_default=True,
    help="Run detection, then assign the new alerts to rangers, after ingesting.")


def settings_from(**overrides) -> Settings:
    """Settings from the environment, with the options the user actually gave on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
