"""Quick-look images of scenes for the web map and reports: true colour, warped to Web Mercator, as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

# Reflectance shown as full brightness (x 10000 DN); a gamma lifts the dark forest.
TRUE_COLOUR_MAX = 0.25
GAMMA = 0.8


def true_colour_png(path: Path, bands: dict[str, int], *, scale: float = 1e-4, offset: float = 0.0,
                    max_size: int = 1024) -> tuple[bytes, tuple[float, float, float, float]]:
    """A true-colour (B04, B03, B02) PNG of the scene in EPSG:3857 and its (west, south, east, north) in lon/lat.

    Web Mercator so that Leaflet's image overlay lines up with vector layers; no-data is transparent.
    """
    with rasterio.open(path) as src, WarpedVRT(src, crs="EPSG:3857", resampling=Resampling.bilinear,
                                                 nodata=0) as vrt:
        factor = max(vrt.width, vrt.height) / max_size
        out_shape = (max(1, int(vrt.height / max(factor, 1))), max(1, int(vrt.width / max(factor, 1))))
        rgb = vrt.read([bands["B04"], bands["B03"], bands["B02"]], out_shape=(3, *out_shape),
                       resampling=Resampling.average).astype(np.float32)
        bounds = transform_bounds(vrt.crs, "EPSG:4326", *vrt.bounds)
    valid = (rgb > 0).all(axis=0)
    refl = np.clip((rgb * scale + offset) / TRUE_COLOUR_MAX, 0, 1) ** GAMMA
    image = np.concatenate([(refl * 255).astype(np.uint8), (valid * 255).astype(np.uint8)[None]])
    with MemoryFile() as mem:
        with mem.open(driver="PNG", width=image.shape[2], height=image.shape[1], count=4, dtype="uint8") as dst:
            dst.write(image)
        return mem.read(), bounds
