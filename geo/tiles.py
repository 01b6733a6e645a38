"""The region's fixed tiles: squares of the analysis grid counted from the CRS origin, so ids never move.

Tile ``E043N066`` of a 2000 px, 10 m scheme covers easting 860-880 km and northing 1320-1340 km. Every
analysis-ready raster is cut on these tiles, so tiles from any source, date or run line up pixel for pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine
from pyproj import CRS
from rasterio.windows import Window
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from geo.grid import Grid


@dataclass(frozen=True)
class Tile:
    """One tile: its id and its full grid."""

    id: str
    col: int
    row: int
    grid: Grid

    def window_covering(self, bounds: tuple[float, float, float, float]) -> Window | None:
        """The tile's pixels overlapping ``bounds`` (grid CRS), snapped outwards; None when they don't overlap."""
        res = self.grid.resolution
        west, south, east, north = self.grid.bounds
        x0, x1 = max(bounds[0], west), min(bounds[2], east)
        y0, y1 = max(bounds[1], south), min(bounds[3], north)
        if x1 <= x0 or y1 <= y0:
            return None
        col0 = math.floor(round((x0 - west) / res, 6))
        col1 = math.ceil(round((x1 - west) / res, 6))
        row0 = math.floor(round((north - y1) / res, 6))
        row1 = math.ceil(round((north - y0) / res, 6))
        return Window(col0, row0, col1 - col0, row1 - row0)

    def subgrid(self, window: Window) -> Grid:
        """The grid of a window of this tile."""
        return Grid(self.grid.crs, self.grid.window_transform(window), int(window.width), int(window.height))


@dataclass(frozen=True)
class TileScheme:
    """Square tiles of ``size_px`` pixels of ``resolution`` metres in ``crs``, aligned on the CRS origin."""

    crs: CRS
    resolution: float
    size_px: int

    @property
    def size_m(self) -> float:
        return self.size_px * self.resolution

    def tile(self, col: int, row: int) -> Tile:
        west, north = col * self.size_m, (row + 1) * self.size_m
        grid = Grid(self.crs, Affine(self.resolution, 0, west, 0, -self.resolution, north), self.size_px, self.size_px)
        return Tile(f"E{col:03d}N{row:03d}", col, row, grid)

    def tiles_intersecting(self, area: BaseGeometry) -> list[Tile]:
        """Tiles whose interior overlaps ``area`` (a geometry in the scheme's CRS), west to east, south to north."""
        if area.is_empty:
            return []
        west, south, east, north = area.bounds
        out = []
        for row in range(math.floor(south / self.size_m), math.ceil(north / self.size_m)):
            for col in range(math.floor(west / self.size_m), math.ceil(east / self.size_m)):
                tile = self.tile(col, row)
                overlap = area.intersection(box(*tile.grid.bounds))
                if not overlap.is_empty and overlap.area > 0:
                    out.append(tile)
        return out
