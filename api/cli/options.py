"""Options shared by the subcommands, and the progress bars they show."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from api.settings import Settings

data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                               help="Data directory (default: $FORESTMON_DATA_DIR or ./forestmon-data).")
region_option = click.option("--region", default=None, help="Region profile name or folder (default: lamdong).")
forest_option = click.option(
    "--forest", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="Forest layer (polygons with an optional category column, or a raster): only its forest is monitored. "
         "Kept for later runs; without one, forest is judged from the imagery.")
lang_option = click.option("--lang", type=click.Choice(["vi", "en"]), default=None, help="Language (default: vi).")


def settings_from(**overrides) -> Settings:
    """Settings from the environment, with the options the user actually gave on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


class ProgressBars:
    """A progress callback ``(label, done, total)`` drawing one click progress bar per label on stderr."""

    def __init__(self) -> None:
        self._bars: dict[str, tuple[object, int]] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        bar, seen = self._bars.get(label, (None, 0))
        if bar is None:
            bar = click.progressbar(length=total, label=label.ljust(10), file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(done - seen)
        self._bars[label] = (bar, done)
        if done >= total:
            bar.__exit__(None, None, None)
            del self._bars[label]
