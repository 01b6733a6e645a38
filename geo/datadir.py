"""Where everything lives in a data directory: the one place that names its files and folders.

Every stage asks this object for its paths (``paths.state.grid``, ``paths.report("2024-W11")``) instead of
joining names of its own, so the layout below is the whole truth:

    forestmon.gpkg                the embedded store (unless the store is PostGIS)
    ard/TILE/ACQ.tif|.vrt         analysis-ready tiles of each acquisition
    state/                        the detector's folder (see ``StateDir``)
    cache/sentinelhub/            Sentinel Hub downloads, so a re-run fetches nothing twice
    cache/tiles/KEY/LAYER/Z/X/Y.FMT   rendered imagery tiles, KEY naming the scenes drawn (safe to delete)
    reports/WEEK.html             weekly reports
    regions/NAME/profile.toml     region profiles made with ``forestmon region init`` (with their admin units)
    demo/scenes/, demo/truth.gpkg, demo/landcover.tif   the synthetic demo's scenes and ground truth
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a unique temporary file beside it, then a rename, so
    processes writing the same file at once never leave or read a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


@dataclass(frozen=True)
class StateDir:
    """The detector's folder: its state (named by ``detector.vrt``) and what is kept beside it."""

    path: Path

    @property
    def vrt(self) -> Path:
        """Names the current state files and shows them to GDAL/QGIS as bands."""
        return self.path / "detector.vrt"

    @property
    def legacy(self) -> Path:
        """The float32 GeoTIFF state of the first versions (converted on first use)."""
        return self.path / "detector.tif"

    @property
    def lock(self) -> Path:
        return self.path / "detector.lock"

    @property
    def grid(self) -> Path:
        """The analysis grid, fixed at the first detection run."""
        return self.path / "grid.json"

    @property
    def forest(self) -> Path:
        """The user's forest layer burnt onto the grid as category codes."""
        return self.path / "forest.tif"

    @property
    def units(self) -> Path:
        """The admin units burnt onto the grid."""
        return self.path / "units.tif"

    @property
    def coverage(self) -> Path:
        """Monitored forest counted per window by the last run, for windows no scene covers."""
        return self.path / "coverage.npz"

    def records(self, stamp: int, suffix: str) -> Path:
        """A record file of a state written at ``stamp`` (``model``, ``sums``)."""
        return self.path / f"detector-{stamp}.{suffix}"

    def flags(self, stamp: int) -> Path:
        return self.path / f"flags-{stamp}.npz"

    # Every file a state may be made of, current or left over by an interrupted run (``.second``: an earlier
    # layout's second-index baselines, deleted by the next run that writes the state).
    STATE_PATTERNS = ("detector-*.model", "detector-*.second", "detector-*.sums", "detector-*.state", "flags-*.npz",
                      "view-*.vrt")


@dataclass(frozen=True)
class DataDir:
    """The data directory of one deployment."""

    root: Path

    @property
    def store(self) -> Path:
        """The embedded store (GeoPackage), when no PostGIS URL is configured."""
        return self.root / "forestmon.gpkg"

    @property
    def ard(self) -> Path:
        return self.root / "ard"

    @property
    def state(self) -> StateDir:
        return StateDir(self.root / "state")

    @property
    def sentinelhub_cache(self) -> Path:
        return self.root / "cache" / "sentinelhub"

    @property
    def tile_cache(self) -> Path:
        """Rendered imagery tiles; deleting the folder clears the cache."""
        return self.root / "cache" / "tiles"

    def cached_tile(self, scenes_key: str, layer: str, z: int, x: int, y: int, fmt: str) -> Path:
        """A rendered tile of ``layer`` from the scenes named by ``scenes_key`` (a digest of their ids)."""
        return self.tile_cache / scenes_key / layer / str(z) / str(x) / f"{y}.{fmt}"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def report(self, week: str) -> Path:
        return self.reports / f"{week}.html"

    @property
    def regions(self) -> Path:
        """Region profiles made by the user, one folder per region, found by ``--region NAME``."""
        return self.root / "regions"

    @property
    def demo(self) -> Path:
        return self.root / "demo"

    @property
    def demo_scenes(self) -> Path:
        return self.demo / "scenes"

    @property
    def demo_truth(self) -> Path:
        """The synthetic clearings with their dates (layer ``clearings``)."""
        return self.demo / "truth.gpkg"

    @property
    def demo_lots(self) -> Path:
        """The synthetic plantation lots, as a planting register (GeoJSON)."""
        return self.demo / "plantation_lots.geojson"

    @property
    def demo_plan(self) -> Path:
        """The synthetic land-use plan over the demo area (GeoJSON: ``loai_dat``, ``ten_khu``)."""
        return self.demo / "landuse_plan.geojson"

    @property
    def demo_landcover(self) -> Path:
        return self.demo / "landcover.tif"
