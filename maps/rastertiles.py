"""Imagery tiles (XYZ, WebMercatorQuad) from scene COGs with rio-tiler: true colour, false colour, NDVI and
change magnitude, per scene or as a cloud-free mosaic of the newest scenes.

Clouds, shadows, cirrus and no-data (SCL) are transparent. Colormaps (rio-tiler's, after matplotlib):

- ``truecolor``: B04, B03, B02, reflectance 0–0.25 stretched to 0–255;
- ``falsecolor``: B08 (NIR), B11 (SWIR 1.6 µm), B04 (red), reflectance 0–0.5 (forest shows green-red, bare soil blue);
- ``ndvi``: (B08 − B04) / (B08 + B04), −0.2 (red) … 0.9 (green), colormap ``rdylgn``;
- ``change``: NDVI of the reference mosaic minus NDVI of the image, 0 (pale yellow) … 0.5 (dark red),
  colormap ``ylorrd``; pixels that gained greenness are transparent.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rio_tiler.colormap import cmap
from rio_tiler.errors import EmptyMosaicError, TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from rio_tiler.mosaic import mosaic_reader
from rio_tiler.mosaic.methods.defaults import FirstMethod

from geo.cloudmask import scl_clear_mask
from geo.errors import InvalidInputError, NotFoundError


class NoImagery(NotFoundError):
    """The tile is on the grid but none of the chosen scenes covers it."""


@dataclass(frozen=True)
class Layer:
    name: str
    bands: tuple[str, ...]
    range: tuple[float, float]
    colormap: str | None
    description: str


LAYERS: dict[str, Layer] = {
    "truecolor": Layer("truecolor", ("B04", "B03", "B02"), (0.0, 0.25), None,
                       "true colour (red, green, blue), reflectance 0–0.25"),
    "falsecolor": Layer("falsecolor", ("B08", "B11", "B04"), (0.0, 0.5), None,
                        "false colour NIR-SWIR-red (B08, B11, B04), reflectance 0–0.5"),
    "ndvi": Layer("ndvi", ("B04", "B08"), (-0.2, 0.9), "rdylgn", "NDVI, −0.2 red to 0.9 green (rdylgn)"),
    "change": Layer("change", ("B04", "B08"), (0.0, 0.5), "ylorrd",
                    "NDVI drop from the reference mosaic, 0 to 0.5 (ylorrd)"),
}
FORMATS = {"png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp")}


@dataclass(frozen=True)
class TileScene:
    """A catalogued scene as the tiler needs it: path, band indexes by name, reflectance scale and offset."""

    path: str
    bands: tuple[tuple[str, int], ...]
    scale: float = 1e-4
    offset: float = 0.0

    def index(self, band: str) -> int:
        found = dict(self.bands).get(band)
        if found is None:
            raise InvalidInputError(f"scene {self.path} has no band {band}")
        return found


@lru_cache(maxsize=1024)
def scene_info(path: str) -> dict:
    """WGS 84 bounds and the zoom range where the scene has data to show (from its resolution and overviews);
    read once per file, as a catalogued scene's pixels never change."""
    with Reader(path) as src:
        return {"bounds": list(src.get_geographic_bounds("EPSG:4326")), "minzoom": src.minzoom,
                "maxzoom": src.maxzoom}


OVERZOOM = 2  # zooms served past the finest native one (10 m pixels drawn at ~2.4 m), for maps zoomed in


def zoom_range(paths: list[str]) -> tuple[int, int]:
    """The zooms at which the scenes at ``paths`` are served: from the smallest native minzoom (its coarsest
    overview) to the largest native maxzoom plus ``OVERZOOM``.

    Below it one tile would read whole scenes at full resolution (minutes and gigabytes at z0); above it there
    is nothing finer to show."""
    infos = [scene_info(p) for p in paths]
    return min(i["minzoom"] for i in infos), max(i["maxzoom"] for i in infos) + OVERZOOM


def _read_clear(scene: TileScene, x: int, y: int, z: int, bands: tuple[str, ...]) -> ImageData:
    """Reflectance of ``bands`` over a tile, masked where SCL says cloud, shadow, cirrus or no data."""
    indexes = [scene.index(b) for b in bands] + [scene.index("SCL")]
    with Reader(scene.path) as src:
        img = src.tile(x, y, z, indexes=indexes, resampling_method="nearest")
    raw = img.array.data
    scl = raw[-1].astype(np.uint8)
    clear = scl_clear_mask(scl, buffer_px=0) & ~np.ma.getmaskarray(img.array[-1])
    refl = raw[:-1].astype(np.float32) * scene.scale + scene.offset
    mask = np.broadcast_to(~clear | (raw[:-1] == 0).any(axis=0), refl.shape)
    return ImageData(np.ma.MaskedArray(refl, mask=mask), bounds=img.bounds, crs=img.crs, band_names=list(bands))


def clear_mosaic(scenes: list[TileScene], x: int, y: int, z: int, bands: tuple[str, ...]) -> ImageData:
    """Per pixel, the first clear observation among ``scenes`` (give them newest first)."""
    if not scenes:
        raise NotFoundError("no catalogued scene to show")
    try:
        img, _ = mosaic_reader(scenes, _read_clear, x, y, z, bands=bands, pixel_selection=FirstMethod(),
                               threads=0)
    except (EmptyMosaicError, TileOutsideBounds) as exc:
        raise NoImagery(f"tile {z}/{x}/{y} holds no imagery of the chosen scenes") from exc
    return img


def _ndvi(img: ImageData) -> np.ma.MaskedArray:
    red, nir = img.array[0], img.array[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = (nir - red) / (nir + red)
    return np.ma.masked_invalid(ndvi)


def _to_byte(values: np.ma.MaskedArray, lo: float, hi: float) -> np.ma.MaskedArray:
    scaled = np.clip((values.filled(lo) - lo) / (hi - lo), 0, 1) * 254 + 1  # 0 stays for no data
    return np.ma.MaskedArray(scaled.astype(np.uint8), mask=np.ma.getmaskarray(values))


def render_tile(layer: str, scenes: list[TileScene], x: int, y: int, z: int, fmt: str = "png",
                reference: list[TileScene] | None = None) -> bytes:
    """One 256×256 tile of ``layer`` from the clear pixels of ``scenes`` (newest first), as PNG or WebP.

    ``change`` compares with the clear mosaic of ``reference`` (the scenes before, newest first).
    """
    spec = LAYERS[layer]
    img = clear_mosaic(scenes, x, y, z, spec.bands)
    lo, hi = spec.range
    if spec.colormap is None:
        band = _to_byte(img.array, lo, hi)
        mask = np.ma.getmaskarray(band).any(axis=0)
        out = ImageData(np.ma.MaskedArray(band.data, mask=np.broadcast_to(mask, band.shape)), bounds=img.bounds,
                        crs=img.crs)
        return out.render(img_format=FORMATS[fmt][0], add_mask=True)
    values = _ndvi(img)
    if layer == "change":
        if not reference:
            raise NotFoundError("no earlier scene to compare with")
        ref = _ndvi(clear_mosaic(reference, x, y, z, spec.bands))
        values = np.ma.masked_less(ref - values, 0.0)
    band = _to_byte(values, lo, hi)
    out = ImageData(band[None], bounds=img.bounds, crs=img.crs)
    return out.render(img_format=FORMATS[fmt][0], colormap=cmap.get(spec.colormap), add_mask=True)


@lru_cache(maxsize=4)
def empty_tile(fmt: str = "png", size: int = 256) -> bytes:
    """A fully transparent tile: what a map gets where there is no imagery (no broken-image errors)."""
    img = ImageData(np.ma.MaskedArray(np.zeros((3, size, size), np.uint8), mask=True))
    return img.render(img_format=FORMATS[fmt][0], add_mask=True)
