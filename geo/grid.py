"""The analysis grid: one CRS, one resolution, pixel edges on multiples of the resolution, read in windows."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

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

    def windows(self, size: int = 512, tile_px: int | None = None) -> Iterator[Window]:
        """Windows of at most ``size`` pixels, row by row. With ``tile_px`` (the fixed tiles' size) they break
        at the tiles' edges and every ``size`` pixels from each tile's corner, so a window covers whole blocks
        of the analysis-ready rasters (tiled ``size`` from the tile corner) and no block is decoded twice."""
        cols = _breaks(self.width, round(self.transform.c / self.resolution), size, tile_px)
        rows = _breaks(self.height, round(-self.transform.f / self.resolution), size, tile_px)
        for row, row_end in zip(rows[:-1], rows[1:], strict=True):
            for col, col_end in zip(cols[:-1], cols[1:], strict=True):
                yield Window(col, row, col_end - col, row_end - row)

    def window_transform(self, window: Window) -> Affine:
        return self.transform @ Affine.translation(window.col_off, window.row_off)

    def gtiff_profile(self, count: int, dtype: str, block: int = 512) -> dict:
        """rasterio creation options of a tiled, compressed GeoTIFF on this grid (layers kept beside the state)."""
        return {"driver": "GTiff", "width": self.width, "height": self.height, "count": count, "dtype": dtype,
                "crs": self.crs, "transform": self.transform, "tiled": True, "blockxsize": block,
                "blockysize": block, "compress": "zstd", "zstd_level": 1, "interleave": "band", "BIGTIFF": "IF_SAFER"}

    def vrt(self, metadata: dict[str, str]) -> ET.Element:
        """A GDAL VRT dataset on this grid (size, CRS, transform) carrying ``metadata``; the caller adds bands."""
        root = ET.Element("VRTDataset", rasterXSize=str(self.width), rasterYSize=str(self.height))
        ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = self.crs.to_wkt()
        t = self.transform
        ET.SubElement(root, "GeoTransform").text = ", ".join(repr(float(v)) for v in (t.c, t.a, t.b, t.f, t.d, t.e))
        meta = ET.SubElement(root, "Metadata")
        for key, value in metadata.items():
            ET.SubElement(meta, "MDI", key=key).text = str(value)
        return root

    def to_json(self) -> str:
        return json.dumps({"crs": self.crs.to_string(), "transform": list(self.transform)[:6],
                           "width": self.width, "height": self.height})

    @classmethod
    def from_json(cls, text: str) -> Grid:
        d = json.loads(text)
        return cls(CRS.from_user_input(d["crs"]), Affine(*d["transform"]), d["width"], d["height"])

    def save(self, path: Path) -> None:
        path.write_text(self.to_json())


def _breaks(length: int, origin: int, size: int, tile_px: int | None) -> list[int]:
    """Window edges along one axis: 0, then every ``size`` pixels, restarting at each tile edge (pixel
    ``origin + p`` of the CRS lattice is a tile edge when it is a multiple of ``tile_px``), then ``length``."""
    out, p = [0], 0
    while p < length:
        if tile_px is None:
            step = size
        else:
            within = (origin + p) % tile_px
            step = min(size - within % size, tile_px - within)
        p = min(p + step, length)
        out.append(p)
    return out
