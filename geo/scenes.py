"""The scene reader: a raster of Sentinel-2 bands on disk (an analysis-ready tile from ``ingest``, or any
GeoTIFF/COG scene) recognised by its band names and read over windows of the analysis grid.

A scene is one multi-band file whose bands are named (band descriptions such as ``B04``/``red`` or ``SCL``),
or any file with a band mapping given by the user (``{"B04": 3, ...}``). Its date comes from the
``ACQUISITION_DATE`` tag, the TIFF date tag, or a ``YYYYMMDD`` in the file name. A scene on the grid is read
as stored (digital numbers, ``read_dn``); any other CRS or resolution is warped onto the window
(``read_window``), so detection, imagery tiles and exports need not care where the file came from.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from geo.errors import InvalidInputError
from geo.grid import Grid

REQUIRED_BANDS = ("B04", "B08", "B12", "SCL")
KNOWN_BANDS = ("B02", "B03", "B04", "B08", "B8A", "B11", "B12", "SCL")
# Common names for the Sentinel-2 bands in band descriptions of files made by other tools.
BAND_ALIASES = {
    "B2": "B02", "BLUE": "B02", "B3": "B03", "GREEN": "B03", "B4": "B04", "RED": "B04",
    "B8": "B08", "NIR": "B08", "B8A": "B8A", "NIR08": "B8A", "B11": "B11", "SWIR1": "B11", "SWIR16": "B11",
    "B12": "B12", "SWIR2": "B12", "SWIR22": "B12", "SCL": "SCL", "SCENECLASSIFICATION": "SCL",
}
RASTER_SUFFIXES = {".tif", ".tiff", ".vrt", ".jp2"}
_DATE_IN_NAME = re.compile(r"(20\d{2})(\d{2})(\d{2})")


@dataclass
class SceneFile:
    """A recognised scene file: where it is, when it was taken, and which band index holds which band."""

    path: Path
    acquired: date
    bands: dict[str, int]
    sensor: str = "Sentinel-2"
    scale: float = 1e-4
    offset: float = 0.0
    tags: dict[str, str] = field(default_factory=dict)
    crs: CRS | None = None          # where its pixels lie (as read when it was opened)
    transform: Affine | None = None
    shape: tuple[int, int] = (0, 0)  # rows, columns

    @property
    def id(self) -> str:
        digest = hashlib.sha1(str(self.path.resolve()).encode()).hexdigest()[:8]
        return f"{self.acquired:%Y%m%d}-{self.path.stem}-{digest}"


def band_name(description: str | None) -> str | None:
    """The Sentinel-2 band a band description names (``B04``, ``red``, ``SWIR 1``...), or None."""
    if not description:
        return None
    key = re.sub(r"[^A-Z0-9]", "", description.upper())
    if key in KNOWN_BANDS:
        return key
    return BAND_ALIASES.get(key)


def acquisition_date(path: Path, tags: dict[str, str]) -> date:
    """When a scene file was taken: its ``ACQUISITION_DATE`` (or sensing start, or TIFF date) tag, else a
    ``YYYYMMDD`` in its name."""
    for key in ("ACQUISITION_DATE", "DATATAKE_SENSING_START", "TIFFTAG_DATETIME"):
        text = tags.get(key)
        if text:
            try:
                return datetime.fromisoformat(text.replace(":", "-", 2)[:10]).date()
            except ValueError:
                pass
    match = _DATE_IN_NAME.search(path.name)
    if match:
        try:
            return date(*(int(g) for g in match.groups()))
        except ValueError:
            pass
    raise InvalidInputError(f"{path}: no acquisition date (no ACQUISITION_DATE tag and no YYYYMMDD in the name)")


def open_scene(path: Path, band_map: dict[str, int] | None = None, *, check: bool = True) -> SceneFile:
    """Recognise a scene file; raises InvalidInputError naming the file and what is wrong with it. With
    ``check`` its last block is read too, so a truncated file fails here."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise InvalidInputError(f"{path}: raster has no CRS; cannot place it on the grid")
            tags = src.tags()
            bands = dict(band_map) if band_map else {}
            if not bands:
                for i, desc in enumerate(src.descriptions, start=1):
                    name = band_name(desc)
                    if name and name not in bands:
                        bands[name] = i
            bad = {b: i for b, i in bands.items() if not 1 <= i <= src.count}
            if bad:
                raise InvalidInputError(f"{path}: band mapping {bad} outside the file's {src.count} bands")
            missing = [b for b in REQUIRED_BANDS if b not in bands]
            if missing:
                raise InvalidInputError(
                    f"{path}: missing bands {', '.join(missing)} (found {', '.join(bands) or 'no named bands'}); "
                    "name them in the band descriptions or give a band mapping")
            if check:  # touch the last block: a truncated file fails here, by name, not halfway through a run
                src.read(bands["SCL"], window=Window(max(src.width - 1, 0), max(src.height - 1, 0), 1, 1))
            scale = float(tags.get("REFLECTANCE_SCALE", 1e-4))
            offset = float(tags.get("BOA_ADD_OFFSET", 0)) * scale
            crs, transform, shape = src.crs, src.transform, (src.height, src.width)
    except InvalidInputError:
        raise
    except (RasterioError, OSError) as exc:
        is_raster_name = path.suffix.lower() in RASTER_SUFFIXES
        kind = "corrupt or unreadable raster" if is_raster_name else "not a raster GDAL can read"
        raise InvalidInputError(f"{path}: {kind} ({str(exc).splitlines()[0][:200]})") from exc
    sensor = tags.get("SENSOR", "Sentinel-2")
    return SceneFile(path=path, acquired=acquisition_date(path, tags), bands=bands, sensor=sensor,
                     scale=scale, offset=offset, tags=tags, crs=crs, transform=transform, shape=shape)


def grid_footprint(scene: SceneFile, grid: Grid) -> Window | None:
    """Where the scene's pixels lie on the grid, when they are the grid's own pixels (same CRS and resolution,
    offset by whole pixels: analysis-ready tiles); None when the scene must be warped."""
    t = scene.transform
    if scene.crs != grid.crs or t is None or t.a != grid.transform.a or t.e != grid.transform.e:
        return None
    col = (t.c - grid.transform.c) / grid.transform.a
    row = (t.f - grid.transform.f) / grid.transform.e
    if not (float(col).is_integer() and float(row).is_integer()):
        return None
    return Window(int(col), int(row), scene.shape[1], scene.shape[0])


def read_dn(src: rasterio.DatasetReader, scene: SceneFile, window: Window,
            bands: tuple[str, ...], out: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The scene's digital numbers (as stored; 0 = no data) in a window of the open file ``src``; into ``out``
    (a flat buffer of the file's data type, reused by the caller) when given."""
    if out is not None:
        out = out[:len(bands) * int(window.height) * int(window.width)].reshape(
            len(bands), int(window.height), int(window.width))
    try:
        data = src.read([scene.bands[b] for b in bands], window=window, out=out)
    except (RasterioError, OSError) as exc:
        raise InvalidInputError(f"{scene.path}: cannot read ({str(exc).splitlines()[0][:200]})") from exc
    return dict(zip(bands, data, strict=True))


def read_window(scene: SceneFile, grid: Grid, window: Window,
                bands: tuple[str, ...] = ("B04", "B08", "B12", "SCL")) -> dict[str, np.ndarray]:
    """The scene's bands over one grid window: reflectance (float32, NaN = no data) and SCL (uint8).

    Files already on the grid are read directly; anything else is warped onto it (nearest neighbour, so SCL
    classes stay classes).
    """
    out: dict[str, np.ndarray] = {}
    try:
        with rasterio.open(scene.path) as src:
            aligned = (src.crs == grid.crs and src.transform.a == grid.transform.a
                       and src.transform.e == grid.transform.e)
            if aligned:
                col = (grid.transform.c - src.transform.c) / src.transform.a + window.col_off
                row = (grid.transform.f - src.transform.f) / src.transform.e + window.row_off
                aligned = float(col).is_integer() and float(row).is_integer()
            if aligned:
                src_window = Window(int(col), int(row), window.width, window.height)
                data = src.read([scene.bands[b] for b in bands], window=src_window, boundless=True, fill_value=0)
            else:
                with WarpedVRT(src, crs=grid.crs, transform=grid.transform, width=grid.width,
                               height=grid.height, resampling=Resampling.nearest, nodata=0) as vrt:
                    data = vrt.read([scene.bands[b] for b in bands], window=window)
    except (RasterioError, OSError) as exc:
        raise InvalidInputError(f"{scene.path}: cannot read ({str(exc).splitlines()[0][:200]})") from exc
    for name, arr in zip(bands, data, strict=True):
        if name == "SCL":
            out[name] = arr.astype(np.uint8)
        else:
            refl = arr.astype(np.float32) * scene.scale + scene.offset
            refl[arr == 0] = np.nan
            out[name] = refl
    return out
