"""How much of each admin unit's monitored forest a run saw cloud-free, so that "no alert" can be told apart from
"not observed": the admin units burnt onto the grid, the counts per unit, and a cache of the last run's
counts for the windows a new run does not observe."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.windows
import shapely
from rasterio.features import rasterize
from rasterio.windows import Window
from shapely.geometry import box

from geo.datadir import StateDir
from geo.grid import Grid
from geo.region import Region


def grid_units(region: Region, grid: Grid) -> gpd.GeoDataFrame:
    """The region's admin units in the grid's CRS, cut to the grid."""
    units = region.units().to_crs(grid.crs)
    units["geometry"] = units.geometry.clip_by_rect(*grid.bounds)
    return units


def units_raster(units: gpd.GeoDataFrame, grid: Grid, state: StateDir, window: int = 512) -> None:
    """The admin units on the grid (1..n in the units' order, 0 outside them all), burnt once into
    ``state.units`` for coverage counts; burnt again when the units or the grid change."""
    digest = hashlib.sha1(grid.to_json().encode())
    for unit in units.itertuples():
        digest.update(f"{unit.id}|".encode() + shapely.to_wkb(unit.geometry))
    key = digest.hexdigest()
    if state.units.exists():
        with rasterio.open(state.units) as src:
            if src.tags().get("UNITS_KEY") == key:
                return
    shapes = [(g, k) for k, g in enumerate(units.geometry, start=1) if not g.is_empty]
    tmp = state.units.with_suffix(".tmp.tif")
    with rasterio.Env(GDAL_CACHEMAX=512), \
            rasterio.open(tmp, "w", **grid.gtiff_profile(1, "uint16", window), nodata=None) as dst:
        for win in grid.windows(window):
            area = box(*rasterio.windows.bounds(win, grid.transform))
            inside = [k for g, k in shapes if g.contains(area)]
            shape = (int(win.height), int(win.width))
            if inside or not any(g.intersects(area) for g, _ in shapes):
                codes = np.full(shape, inside[0] if inside else 0, np.uint16)
            else:
                codes = rasterize(shapes, out_shape=shape, transform=grid.window_transform(win), fill=0,
                                  dtype="uint16")
            dst.write(codes, 1, window=win)
        dst.update_tags(UNITS_KEY=key, **{f"UNIT_{k}": unit.id for k, unit in enumerate(units.itertuples(), start=1)})
    os.replace(tmp, state.units)


def coverage_rows(units: gpd.GeoDataFrame, unit_forest: np.ndarray, unit_seen: np.ndarray,
                  pixel_ha: float) -> list[dict]:
    """Per admin unit with monitored forest: its hectares, those seen cloud-free, and the share; the unit's area
    on the grid (``units`` in the grid's projected CRS, cut to it) and the share of it watched (run records)."""
    rows = []
    for k, unit in enumerate(units.itertuples(), start=1):
        if unit_forest[k] > 0:
            area_ha = unit.geometry.area / 10000
            rows.append({"unit_id": unit.id, "unit": unit.name,
                         "forest_ha": round(unit_forest[k] * pixel_ha, 2),
                         "observed_ha": round(unit_seen[k] * pixel_ha, 2),
                         "observed_share": round(unit_seen[k] / unit_forest[k], 4),
                         "area_ha": round(area_ha, 2),
                         "watched_share": round(min(unit_forest[k] * pixel_ha / area_ha, 1.0), 4) if area_ha else None})
    return rows


@dataclass
class WindowCount:
    """A window's monitored pixels per admin unit (index 0: outside every unit), valid from day ``since`` until
    day ``until`` for the same model (0: not to be kept)."""

    window: Window
    counts: np.ndarray
    since: int
    until: int


class CoverageCache:
    """The monitored forest per admin unit of each window as the last run counted it, for windows with no alert:
    a window that no scene of a run covers is then not read at all. Valid for the same model, forest layer and
    units, from the day counted until the next day one of its pixels becomes monitored. A derived file
    (``StateDir.coverage``): when missing or stale, the windows are counted again."""

    def __init__(self, entries: dict[tuple[int, int], tuple[np.ndarray, int, int]]):
        self.entries = entries

    def get(self, window: Window, day: int, model: str) -> tuple[np.ndarray, int, int] | None:
        """(counts, day counted, valid until) of the window, if valid on ``day`` and counted from the model file
        named ``model`` (the window's refit group's: another group's refit leaves it valid)."""
        entry = self.entries.get((int(window.row_off), int(window.col_off)))
        if entry is None or entry[3] != model:
            return None
        return entry[:3] if entry[1] <= day < entry[2] else None

    @staticmethod
    def _key(state: StateDir) -> str:
        stamp = lambda p: f"{p.name}:{p.stat().st_mtime_ns}" if p.exists() else "-"  # noqa: E731
        return "|".join(["2", stamp(state.forest), stamp(state.units)])

    @classmethod
    def load(cls, state: StateDir, has_state: bool) -> CoverageCache:
        if not has_state or not state.coverage.exists():
            return cls({})
        try:
            with np.load(state.coverage) as data:
                if str(data["key"]) != cls._key(state):
                    return cls({})
                return cls({(int(r), int(c)): (counts, int(d), int(u), str(m)) for r, c, counts, d, u, m in
                            zip(data["row"], data["col"], data["counts"], data["day"], data["until"], data["model"],
                                strict=True)})
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            return cls({})

    @classmethod
    def save(cls, state: StateDir, day: int, counted: list[WindowCount], model: Callable[[Window], str]) -> None:
        """Keep the windows' counts that stay valid after ``day`` (the run's newest scene), each with the name of
        the model file it was counted from (``model(window)``)."""
        kept = [c for c in counted if c.until > day]
        counts = np.array([c.counts for c in kept], np.int64) if kept else np.zeros((0, 0), np.int64)
        tmp = state.coverage.with_name(state.coverage.name + ".tmp")
        with open(tmp, "wb") as handle:
            np.savez(handle, key=cls._key(state),
                     row=np.array([int(c.window.row_off) for c in kept], np.int64),
                     col=np.array([int(c.window.col_off) for c in kept], np.int64),
                     counts=counts,
                     day=np.array([c.since or day for c in kept], np.int64),
                     until=np.array([c.until for c in kept], np.int64),
                     model=np.array([model(c.window) for c in kept], dtype=str))
        os.replace(tmp, state.coverage)
