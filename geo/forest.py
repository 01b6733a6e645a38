"""The forest layer a user supplies: polygons (e.g. a forest-status map with its category) or a raster,
burnt onto the analysis grid as category codes so only forest is monitored and alerts know their category."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.features import rasterize
from rasterio.vrt import WarpedVRT

from geo.errors import InvalidInputError

# Category codes on the grid (0 = not forest). Vietnam's three forest categories (Luật Lâm nghiệp 2017).
SPECIAL_USE, PROTECTION, PRODUCTION, FOREST = 1, 2, 3, 4
CATEGORY_NAMES = {SPECIAL_USE: "special_use", PROTECTION: "protection", PRODUCTION: "production", FOREST: "forest"}
_CATEGORY_WORDS = {
    SPECIAL_USE: ("dac dung", "special", "rung dac dung", "rdd"),
    PROTECTION: ("phong ho", "protection", "rung phong ho", "rph"),
    PRODUCTION: ("san xuat", "production", "rung san xuat", "rsx"),
}
CATEGORY_FIELDS = ("forest_category", "category", "loai_rung", "loairung", "phan_loai", "chuc_nang", "function")


def _plain(text: str) -> str:
    """Lower-case ASCII without Vietnamese diacritics (đ → d), for matching category names."""
    text = unicodedata.normalize("NFD", str(text).replace("đ", "d").replace("Đ", "D"))
    return re.sub(r"\s+", " ", "".join(c for c in text if not unicodedata.combining(c)).lower()).strip()


def category_code(value) -> int:
    """Category code of a value such as 'Rừng phòng hộ', 'protection', 2; anything else is plain forest."""
    if value is None:
        return FOREST
    if isinstance(value, int | np.integer) and int(value) in CATEGORY_NAMES:
        return int(value)
    plain = _plain(value)
    for code, words in _CATEGORY_WORDS.items():
        if any(w in plain for w in words):
            return code
    return FOREST


class ForestLayer:
    """A forest layer read once, burnt onto any grid window with ``codes``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.polygons: gpd.GeoDataFrame | None = None
        if not self.path.exists():
            raise InvalidInputError(f"{self.path}: forest layer not found")
        try:
            with rasterio.open(self.path) as src:
                if src.crs is None:
                    raise InvalidInputError(f"{self.path}: forest raster has no CRS")
            return
        except RasterioError:
            pass
        try:
            gdf = gpd.read_file(self.path)
        except Exception as exc:  # pyogrio raises several types for unreadable files
            raise InvalidInputError(f"{self.path}: neither a raster nor a vector layer GDAL can read ({exc})") from exc
        if gdf.empty:
            raise InvalidInputError(f"{self.path}: forest layer has no features")
        if gdf.crs is None:
            raise InvalidInputError(f"{self.path}: forest layer has no CRS")
        field = next((c for c in gdf.columns if c.lower() in CATEGORY_FIELDS), None)
        gdf["code"] = [category_code(v) for v in gdf[field]] if field else FOREST
        gdf["geometry"] = gdf.geometry.make_valid()
        self.polygons = gdf[["code", "geometry"]]

    def codes(self, transform: Affine, shape: tuple[int, int], crs: CRS) -> np.ndarray:
        """Category codes (uint8, 0 = not forest) on a grid window; the strongest protection wins overlaps."""
        if self.polygons is not None:
            gdf = self.polygons.to_crs(crs).sort_values("code", ascending=False)
            if gdf.empty:
                return np.zeros(shape, np.uint8)
            return rasterize(zip(gdf.geometry, gdf["code"], strict=True), out_shape=shape, transform=transform,
                             fill=0, dtype="uint8")
        with rasterio.open(self.path) as src, WarpedVRT(src, crs=crs, transform=transform, width=shape[1],
                                                        height=shape[0], resampling=Resampling.nearest) as vrt:
            values = vrt.read(1)
        codes = np.where(np.isin(values, list(CATEGORY_NAMES)), values, np.where(values > 0, FOREST, 0))
        if src.nodata is not None:
            codes[values == src.nodata] = 0
        return codes.astype(np.uint8)
