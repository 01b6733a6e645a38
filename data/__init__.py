"""Bundled data files: region profiles (boundaries, CRS, targets), the demo scenario, vendored web assets."""

from importlib.resources import files
from pathlib import Path


def data_path(*parts: str) -> Path:
    """Path of a bundled data file, e.g. ``data_path("regions", "lamdong", "profile.toml")``."""
    return Path(str(files(__name__).joinpath(*parts)))
