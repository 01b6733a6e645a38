"""The analysis grid: one CRS, one resolution, pixel edges on multiples of the resolution, read in windows."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from affine import Affine
from pyproj import CRS, Transformer
from rasterio.windows import Window


@dataclass(frozen=True)
class Grid:
    crs: CRS
    transform: Affine
    width: int
    height: int

    @classmethod
    def covering(cls, bounds: tuple[float, float, float, float], crs: CRS, resolution: float) -> Grid:
        """The smallest snapped grid covering ``bounds`` (in ``crs`` units)."""
        west = math.floor(bounds[0] / resolution) * resolution
        south = math.floor(bounds[1] / resolution) * resolution
        east = math.ceil(bounds[2] / resolution) * resolution
        north = math.ceil(bounds[3] / resolution) * resolution
        return cls(CRS.from_user_input(crs), Affine(resolution, 0, west, 0, -resolution, north),
                   int(round((east - west) / resolution)), int(round((north - south) / resolution)))

    @property
    def resolution(self) -> float:
        return self.transform.a

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        west, north = self.transform.c, self.transform.f
        return (west, north - self.height * self.resolution, west + self.width * self.resolution, north)

    def bounds_lonlat(self) -> tuple[float, float, float, float]:
        t = Transformer.from_crs(self.crs, 4326, always_xy=True)
        return t.transform_bounds(*self.bounds)

    def windows(self, size: int = 512) -> Iterator[Window]:
        for row in range(0, self.height, size):
            for col in range(0, self.width, size):
                yield Window(col, row, min(size, self.width - col), min(size, self.height - row))

    def window_transform(self, window: Window) -> Affine:
        return self.transform @ Affine.translation(window.col_off, window.row_off)

    def to_json(self) -> str:
        return json.dumps({"crs": self.crs.to_string(), "transform": list(self.transform)[:6],
                           "width": self.width, "height": self.height})

    @classmethod
    def from_json(cls, text: str) -> Grid:
        d = json.loads(text)
        return cls(CRS.from_user_input(d["crs"]), Affine(*d["transform"]), d["width"], d["height"])

    def save(self, path: Path) -> None:
        path.write_text(self.to_json())
