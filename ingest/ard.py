"""Analysis-ready tiles: one acquisition cut on one grid tile, as a COG detection reads directly.

Output: bands B02 B03 B04 B08 B8A B11 B12 as surface reflectance x 10000 (uint16, offsets already applied,
0 = no data) and SCL (Sentinel-2 scene classes; Landsat QA_PIXEL and the spectral screen are mapped onto the
same codes), tags ACQUISITION_DATE, SENSOR, REFLECTANCE_SCALE. The file is written beside its final name and
renamed when complete, so a killed run never leaves a half COG under a real name.

One job touches one tile (at most ``tile_px``² pixels), so memory per worker does not grow with the area.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.features import geometry_mask
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from geo import cloudmask
from geo.errors import InvalidInputError
from geo.forest import ForestLayer
from ingest import upsample
from ingest.acquisition import ARD_BANDS, Acquisition, BandSource
from ingest.grid import Grid
from ingest.tiles import Tile

log = logging.getLogger(__name__)

OUTPUT_BANDS = (*ARD_BANDS, "SCL")
REFLECTANCE_SCALE = 1e-4
# COG creation: 512 px blocks, ZSTD (fast to write and read), overviews by nearest so SCL stays classes; blocks
# that are all no data (outside the swath) are left out of the file, not encoded (readers see 0 there alike).
COG_OPTIONS = {"compress": "ZSTD", "level": 1, "predictor": 2, "blocksize": 512, "overview_resampling": "NEAREST",
               "bigtiff": "IF_SAFER", "sparse_ok": True}


@dataclass(frozen=True)
class TileJob:
    """Everything one worker needs to write one acquisition on one tile (small and picklable)."""

    acquisition: Acquisition
    tile: Tile
    out_dir: str
    region: BaseGeometry | None = None     # the region inside this tile, grid CRS: for the valid fraction
    forest_mask: str | None = None         # forest layer (polygons or raster): for the valid fraction over forest

    @property
    def record_id(self) -> str:
        return f"{self.acquisition.id}-{self.tile.id}"

    @property
    def path(self) -> Path:
        return Path(self.out_dir) / self.tile.id / f"{self.acquisition.id}.tif"


def write_tile(job: TileJob) -> dict:
    """Write the tile COG and return its catalogue record; a file that cannot be read gives a failed record."""
    acq = job.acquisition
    base = {"id": job.record_id, "acquisition": acq.id, "tile": job.tile.id, "sensor": acq.sensor,
            "acquired": acq.acquired.date().isoformat(), "acquired_time": acq.acquired.isoformat(),
            "source": acq.source, "source_path": acq.source_path, "processed": 0}
    try:
        return {**base, **_write(job)}
    except InvalidInputError as exc:
        return {**base, "path": None, "status": "failed", "reason": str(exc)}


def _write(job: TileJob) -> dict:
    acq, tile = job.acquisition, job.tile
    window = tile.window_covering(acq.bounds) if acq.bounds else Window(0, 0, tile.grid.width, tile.grid.height)
    empty = {"path": None, "status": "empty", "reason": "no observed pixel in this tile", "cloud_pct": None,
             "valid_fraction": 0.0, "forest_valid_fraction": 0.0 if job.forest_mask else None}
    if window is None:
        return empty
    with _Datasets() as files:
        return _write_open(job, window, empty, files)


class _Datasets:
    """The job's input files, each opened once: a band and the mask of one file share GDAL's block cache."""

    def __init__(self) -> None:
        self._open: dict[str, object] = {}

    def __enter__(self) -> _Datasets:
        return self

    def __exit__(self, *exc) -> None:
        for ds in self._open.values():
            ds.close()

    def get(self, path: str):
        if path not in self._open:
            self._open[path] = rasterio.open(path)
        return self._open[path]


def _write_open(job: TileJob, window: Window, empty: dict, files: _Datasets) -> dict:
    acq, tile = job.acquisition, job.tile
    grid = tile.subgrid(window)
    dn = _read_bands(acq.bands, grid, Resampling.bilinear, files)
    observed = np.ones((grid.height, grid.width), dtype=bool)
    for name in ("B04", "B08", "B12"):
        observed &= dn[name] != _nodata(acq.bands[name])
    ard = {name: _to_ard(dn[name], acq.bands[name]) for name in ARD_BANDS if name in dn}
    del dn
    scl = _mask(acq, grid, ard, files)
    scl[~observed] = cloudmask.SCL_NO_DATA
    if not (scl != cloudmask.SCL_NO_DATA).any():
        return empty
    stats = _stats(job, window, scl, files)
    path = job.path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    zeros = np.zeros_like(scl, dtype=np.uint16)
    layers = [ard.get(name, zeros) for name in ARD_BANDS] + [scl.astype(np.uint16)]
    tags = {"ACQUISITION_DATE": acq.acquired.date().isoformat(), "ACQUISITION_TIME": acq.acquired.isoformat(),
            "SENSOR": acq.sensor, "SOURCE": acq.source, "TILE": tile.id, "REFLECTANCE_SCALE": str(REFLECTANCE_SCALE),
            "MASK_SOURCE": acq.mask_kind, "MISSING_BANDS": ",".join(b for b in ARD_BANDS if b not in ard), **acq.extra}
    write_cog(tmp, layers, grid, tags)
    os.replace(tmp, path)
    return {"path": str(path.resolve()), "status": "ok", "reason": None, **stats}


def write_cog(path: Path, layers: list[np.ndarray], grid: Grid, tags: dict[str, str]) -> None:
    """The tile's bands (uint16, :data:`OUTPUT_BANDS` order) as a COG at ``path``: the encoding step alone, which
    the ingest benchmark also times by itself."""
    profile = {"driver": "MEM", "width": grid.width, "height": grid.height, "count": len(OUTPUT_BANDS),
               "dtype": "uint16", "crs": grid.crs, "transform": grid.transform, "nodata": 0}
    # A GDAL MEM dataset (plain arrays, no block cache or TIFF encoding: half the time of a /vsimem/ GTiff).
    with rasterio.open("", "w", **profile) as ds:
        for i, (name, layer) in enumerate(zip(OUTPUT_BANDS, layers, strict=True), start=1):
            ds.write(layer, i)        # band by band: no stacked copy of the tile
            ds.set_band_description(i, name)
        ds.update_tags(**tags)
        # Overviews built in memory (uncompressed) and reused: the COG driver would otherwise compress twice.
        ds.build_overviews(_overview_levels(grid.width, grid.height), Resampling.nearest)
        rasterio.shutil.copy(ds, path, driver="COG", overviews="FORCE_USE_EXISTING", **COG_OPTIONS)


def _overview_levels(width: int, height: int, block: int = 512) -> list[int]:
    """Halvings until the overview fits in one block, as the COG driver's AUTO does."""
    levels, factor = [], 2
    while max(width, height) / (factor // 2) > block:
        levels.append(factor)
        factor *= 2
    return levels


def _nodata(src: BandSource) -> float:
    return 0 if src.nodata is None else src.nodata


def _read_bands(sources: dict[str, BandSource], grid: Grid, resampling: Resampling,
                files: _Datasets) -> dict[str, np.ndarray]:
    """Several bands on ``grid``; bands of one file are read in one call (pixel-interleaved files decompress once)."""
    groups: dict[tuple, list[str]] = {}
    for name, src in sources.items():
        groups.setdefault((src.paths, _nodata(src)), []).append(name)
    out: dict[str, np.ndarray] = {}
    for (paths, nodata), names in groups.items():
        data = _read_on(paths, [sources[n].index for n in names], nodata, grid, resampling, files)
        out.update(zip(names, data, strict=True))
    return out


def _read_on(paths: tuple[str, ...], indexes: list[int], nodata: float, grid: Grid,
             resampling: Resampling, files: _Datasets) -> np.ndarray:
    """Bands of one source on ``grid`` (native dtype, nodata where nothing covers), shape (bands, rows, cols):
    a direct read when aligned, else warped. Several files are mosaicked first-wins (granules, request chunks)."""
    out: np.ndarray | None = None
    for path in paths:
        try:
            data = _read_one(files.get(path), indexes, grid, resampling, nodata)
        except (RasterioError, OSError) as exc:
            raise InvalidInputError(f"{path}: corrupt or unreadable raster ({str(exc).splitlines()[0][:200]})") from exc
        if out is None:
            out = data
        else:
            fill = (out == nodata) & (data != nodata)
            out[fill] = data[fill]
    assert out is not None
    return out


def _read_one(ds, index: list[int], grid: Grid, resampling: Resampling, nodata: float) -> np.ndarray:
    if ds.crs is None:
        raise InvalidInputError(f"{ds.name}: raster has no CRS; cannot place it on the grid")
    t = ds.transform
    if ds.crs == grid.crs and t.a == grid.transform.a and t.e == grid.transform.e and t.b == t.d == 0:
        col = (grid.transform.c - t.c) / t.a
        row = (grid.transform.f - t.f) / t.e
        if abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6:
            return _read_aligned(ds, index, grid, int(round(col)), int(round(row)), nodata)
    if ds.crs == grid.crs and t.b == t.d == 0 and resampling in (Resampling.nearest, Resampling.bilinear):
        factor = _integer_factor(t, grid)
        # Bilinear in numpy only where it equals GDAL's to the DN (factor 2, 8/16-bit integers; 1/3 weights tie
        # differently)
        dtype = np.dtype(ds.dtypes[index[0] - 1])
        exact = resampling == Resampling.nearest or (factor == 2 and dtype.kind in "iu" and dtype.itemsize <= 2)
        if factor is not None and exact:
            return _read_upsampled(ds, index, grid, factor, resampling, nodata)
    if ds.crs == grid.crs and t.b == t.d == 0:
        # Same CRS, coarser or finer pixels (Sentinel-2 20 m bands, Landsat 30 m): resample on read.
        with WarpedVRT(ds, transform=grid.transform, width=grid.width, height=grid.height, resampling=resampling,
                       src_nodata=nodata, nodata=nodata) as vrt:
            return vrt.read(index)
    with WarpedVRT(ds, crs=grid.crs, transform=grid.transform, width=grid.width, height=grid.height,
                   resampling=resampling, src_nodata=nodata, nodata=nodata) as vrt:
        return vrt.read(index)


def _read_aligned(ds, index: list[int], grid: Grid, col: int, row: int, nodata: float) -> np.ndarray:
    """Read the part of the file inside the grid window; the rest is nodata (no boundless warping needed)."""
    return _read_clipped(ds, index, Window(col, row, grid.width, grid.height), nodata)


def _read_clipped(ds, index: list[int], window: Window, nodata: float) -> np.ndarray:
    """``window`` of the file (which may reach outside it), nodata outside the file."""
    col, row, width, height = int(window.col_off), int(window.row_off), int(window.width), int(window.height)
    if col >= 0 and row >= 0 and col + width <= ds.width and row + height <= ds.height:
        return ds.read(index, window=window)
    out = np.full((len(index), height, width), nodata, dtype=ds.dtypes[index[0] - 1])
    c0, r0 = max(col, 0), max(row, 0)
    c1, r1 = min(col + width, ds.width), min(row + height, ds.height)
    if c1 > c0 and r1 > r0:
        out[:, r0 - row:r1 - row, c0 - col:c1 - col] = ds.read(index, window=Window(c0, r0, c1 - c0, r1 - r0))
    return out


def _integer_factor(t, grid: Grid) -> int | None:
    """The whole number of grid pixels per source pixel (2 for Sentinel-2 20 m on 10 m) when the source's pixel
    edges lie on the grid's, else None (then a general warp is needed)."""
    g = grid.transform
    factor = t.a / g.a
    if round(factor) < 2 or abs(factor - round(factor)) > 1e-9 or abs(t.e / g.e - round(factor)) > 1e-9:
        return None
    col, row = (t.c - g.c) / g.a, (t.f - g.f) / g.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return int(round(factor))


def _read_upsampled(ds, index: list[int], grid: Grid, factor: int, resampling: Resampling,
                    nodata: float) -> np.ndarray:
    """A coarser source whose pixels are whole blocks of grid pixels: read its pixels under the window and
    upsample in numpy (see :mod:`ingest.upsample`), instead of warping."""
    t, g = ds.transform, grid.transform
    col, row = int(round((g.c - t.c) / g.a)), int(round((g.f - t.f) / g.e))   # window in source-aligned grid px
    bilinear = resampling == Resampling.bilinear
    win = upsample.source_window(col, row, grid.width, grid.height, factor, 1 if bilinear else 0)
    data = _read_clipped(ds, index, win, nodata)
    return upsample.upsample(data, factor, col, row, grid.width, grid.height, bilinear=bilinear, nodata=nodata)


def _to_ard(dn: np.ndarray, src: BandSource) -> np.ndarray:
    """DN -> reflectance x 10000 as uint16: 0 stays no data, valid values clipped to 1..65535."""
    nodata = _nodata(src)
    valid = dn != nodata
    if np.issubdtype(dn.dtype, np.floating):
        valid &= ~np.isnan(dn)
    gain, bias = src.scale * 1e4, src.offset * 1e4
    if abs(gain - 1) < 1e-9 and float(bias).is_integer() and -65534 <= bias <= 0 and dn.dtype == np.uint16:
        # Sentinel-2 DN as stored (uint16, offset 0 or -1000), in uint16: max(DN, 1 - offset) + offset
        if bias == 0 and nodata == 0:
            return dn                              # already reflectance x 10000, 0 = no data: no copy
        out = np.maximum(dn, np.uint16(1 - bias))
        out -= np.uint16(-bias)
        out[~valid] = 0
        return out
    if abs(gain - 1) < 1e-9 and float(bias).is_integer() and np.issubdtype(dn.dtype, np.integer):
        value = dn.astype(np.int32) + int(bias)    # Sentinel-2 DN: integer arithmetic, exact and fast
    else:
        value = np.rint(dn.astype(np.float32) * np.float32(gain) + np.float32(bias))
    out = np.clip(value, 1, 65535).astype(np.uint16)
    out[~valid] = 0
    return out


def _mask(acq: Acquisition, grid: Grid, ard: dict[str, np.ndarray], files: _Datasets) -> np.ndarray:
    """SCL codes for the tile: the SCL band, QA_PIXEL mapped to SCL, or the spectral screen."""
    if acq.mask_kind == "scl" and acq.mask is not None:
        return _read_bands({"SCL": acq.mask}, grid, Resampling.nearest, files)["SCL"].astype(np.uint8)
    if acq.mask_kind == "qa_pixel" and acq.mask is not None:
        qa = _read_bands({"QA": acq.mask}, grid, Resampling.nearest, files)["QA"]
        return cloudmask.qa_pixel_to_scl(qa)

    def refl(name: str) -> np.ndarray:
        r = ard[name].astype(np.float32) * REFLECTANCE_SCALE
        r[ard[name] == 0] = np.nan
        return r

    return cloudmask.spectral_scl(refl("B02"), refl("B03"), refl("B04"), refl("B08"), refl("B11"))


@lru_cache(maxsize=2)
def _forest_layer(path: str) -> ForestLayer:
    """The forest layer, read once per process (tiles may run on Dask workers)."""
    return ForestLayer(Path(path))


# SCL code -> clear (observed and free of cloud, cirrus and shadow), as ``cloudmask.scl_clear_mask`` unbuffered.
_CLEAR = np.ones(256, dtype=bool)
_CLEAR[list(cloudmask.SCL_CLOUDY + cloudmask.SCL_UNUSABLE)] = False


def _stats(job: TileJob, window: Window, scl: np.ndarray, files: _Datasets) -> dict:
    """Cloud % of observed pixels; valid (clear) fraction of the region's and of the forest's pixels that this
    acquisition covers in the tile (its footprint's window). Counted per SCL code (one pass over the tile)."""
    grid = job.tile.subgrid(window)
    counts = np.bincount(scl.ravel(), minlength=256)
    region = None
    if job.region is not None and not job.region.is_empty and not job.region.covers(box(*grid.bounds)):
        region = geometry_mask([job.region], out_shape=scl.shape, transform=grid.transform, invert=True)
    in_region = counts if region is None else np.bincount(scl[region], minlength=256)
    n_region = int(in_region.sum())
    valid = float(in_region[_CLEAR].sum() / n_region) if n_region else 0.0
    observed = int(counts[1:].sum())
    cloudy = int(counts[list(cloudmask.SCL_CLOUDY)].sum())
    forest_valid = None
    if job.forest_mask:
        forest = _forest_layer(job.forest_mask).codes(grid.transform, scl.shape, grid.crs) != 0
        if region is not None:
            forest &= region
        n_forest = int(forest.sum())
        forest_valid = round(float(_CLEAR[scl[forest]].sum() / n_forest), 4) if n_forest else None
    return {"cloud_pct": round(100 * (cloudy / observed if observed else 1.0), 2), "valid_fraction": round(valid, 4),
            "forest_valid_fraction": forest_valid}
