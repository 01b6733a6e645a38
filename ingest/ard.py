"""Analysis-ready tiles: one acquisition cut on one grid tile, as rasters detection reads directly.

Output: bands B02 B03 B04 B08 B8A B11 B12 as surface reflectance x 10000 (uint16, offsets already applied,
0 = no data) and SCL (Sentinel-2 scene classes; Landsat QA_PIXEL and the spectral screen are mapped onto the
same codes), tags ACQUISITION_DATE, SENSOR, REFLECTANCE_SCALE, MASK_SOURCE, TILE. Two layouts:

- ``TILE/ACQ.tif``: one 8-band COG on the 10 m grid, for inputs whose bands are all at 10 m (the demo's scenes,
  multi-band 10 m GeoTIFFs, Sentinel Hub requests on the grid, Landsat resampled to 10 m).
- ``TILE/ACQ.10m.tif`` (B02 B03 B04 B08) + ``TILE/ACQ.20m.tif`` (B8A B11 B12 SCL at 20 m, same extent) +
  ``TILE/ACQ.vrt``, when B8A B11 B12 and SCL lie natively at 20 m on the grid (Sentinel-2 as delivered: SAFE,
  one file per band): the 20 m bands are stored as they are instead of upsampled. That invents no pixels, takes
  a third less disk and half the encoding. The small GDAL VRT presents both files as the usual 8-band raster on
  the 10 m grid (same band names and tags; bilinear for the 20 m reflectance, nearest for SCL), and is what
  the catalogue records, so every reader (detection, map tiles, exports) opens one 8-band 10 m raster either way.
  GDAL's resampling on read equals :mod:`ingest.upsample` (the 10 m layout's values) away from no data and
  from the tile's edge; next to them it differs slightly (it sees no pixels beyond the tile, and extends values
  one 10 m pixel into no data, where SCL is no data).

On a full Sentinel-2 tile the two-COG layout takes about half the single COG's CPU (measured figures: the
README, section on ingestion, and ``tests/benchmarks/bench_ingest.py``).

Every file is written beside its final name and renamed when complete, the VRT last, so a killed run never
leaves a half file under a real name and a recorded VRT always has its two COGs.

One job touches one tile (at most ``tile_px``² pixels), so memory per worker does not grow with the area.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
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
from geo.grid import Grid
from geo.tiles import Tile
from ingest import upsample
from ingest.acquisition import ARD_BANDS, Acquisition, BandSource

log = logging.getLogger(__name__)

OUTPUT_BANDS = (*ARD_BANDS, "SCL")
# Stored at 20 m (in ``ACQ.20m.tif``) when their sources are at 20 m on the grid; the rest at 10 m.
BANDS_20M = ("B8A", "B11", "B12", "SCL")
BANDS_10M = tuple(b for b in OUTPUT_BANDS if b not in BANDS_20M)
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
        """The single 8-band COG (10 m layout)."""
        return Path(self.out_dir) / self.tile.id / f"{self.acquisition.id}.tif"

    def split_paths(self) -> tuple[Path, Path, Path]:
        """The 10 m COG, the 20 m COG and the VRT presenting both (20 m layout)."""
        base = Path(self.out_dir) / self.tile.id / self.acquisition.id
        return (base.with_name(f"{base.name}.10m.tif"), base.with_name(f"{base.name}.20m.tif"),
                base.with_name(f"{base.name}.vrt"))


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
    if _native_20m(acq, tile, files):
        return _write_split(job, window, empty, files)
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
    write_cog(tmp, layers, grid, _tags(acq, tile, ard))
    os.replace(tmp, path)
    return {"path": str(path.resolve()), "status": "ok", "reason": None, **stats}


def _tags(acq: Acquisition, tile: Tile, ard: dict) -> dict[str, str]:
    return {"ACQUISITION_DATE": acq.acquired.date().isoformat(), "ACQUISITION_TIME": acq.acquired.isoformat(),
            "SENSOR": acq.sensor, "SOURCE": acq.source, "TILE": tile.id, "REFLECTANCE_SCALE": str(REFLECTANCE_SCALE),
            "MASK_SOURCE": acq.mask_source, "MISSING_BANDS": ",".join(b for b in ARD_BANDS if b not in ard),
            **acq.extra}


def _native_20m(acq: Acquisition, tile: Tile, files: _Datasets) -> bool:
    """Whether B8A B11 B12 (those given) and SCL all come from files whose 20 m pixels are 2 x 2 blocks of the
    tile's grid pixels, starting on the tile's corner: then they are stored at 20 m, as they are."""
    if acq.mask_kind != "scl" or acq.mask is None or tile.grid.width % 2 or tile.grid.height % 2:
        return False
    sources = [acq.bands[b] for b in BANDS_20M if b in acq.bands] + [acq.mask]
    g = tile.grid.transform
    for path in {p for src in sources for p in src.paths}:
        try:
            ds = files.get(path)
        except (RasterioError, OSError):
            return False                      # the usual path reports the unreadable file
        t = ds.transform
        if ds.crs != tile.grid.crs or t.b != 0 or t.d != 0 or _integer_factor(t, tile.grid) != 2:
            return False
        if round((t.c - g.c) / g.a) % 2 or round((t.f - g.f) / g.e) % 2:
            return False
    return True


def _write_split(job: TileJob, window: Window, empty: dict, files: _Datasets) -> dict:
    """The 20 m layout: 10 m bands into one COG, the 20 m bands and SCL at 20 m into another, then the VRT.

    The window is widened to whole 20 m pixels (even offsets and sizes on the tile); the statistics are those of
    the 10 m layout: SCL repeated 2 x 2 and masked where a 10 m pixel is not observed, over the same window."""
    acq, tile = job.acquisition, job.tile
    c0, r0 = int(window.col_off) // 2 * 2, int(window.row_off) // 2 * 2
    c1 = -(-int(window.col_off + window.width) // 2) * 2
    r1 = -(-int(window.row_off + window.height) // 2) * 2
    wide = Window(c0, r0, c1 - c0, r1 - r0)
    grid = tile.subgrid(wide)
    t = grid.transform
    grid20 = Grid(grid.crs, Affine(2 * t.a, 0, t.c, 0, 2 * t.e, t.f), grid.width // 2, grid.height // 2)
    dn10 = _read_bands({b: s for b, s in acq.bands.items() if b in BANDS_10M}, grid, Resampling.bilinear, files)
    dn20 = _read_bands({b: s for b, s in acq.bands.items() if b in BANDS_20M}, grid20, Resampling.nearest, files)
    # observed: the 10 m pixels of the window (not of its widening) with B04 and B08, then per 20 m pixel with
    # B12 how many of its four are observed; a 20 m pixel with none is no data in SCL
    observed = np.zeros((grid.height, grid.width), dtype=bool)
    inner = np.s_[int(window.row_off) - r0:int(window.row_off) - r0 + int(window.height),
                  int(window.col_off) - c0:int(window.col_off) - c0 + int(window.width)]
    observed[inner] = True
    for name in ("B04", "B08"):
        observed &= dn10[name] != _nodata(acq.bands[name])
    n_observed = _count4(observed) * (dn20["B12"] != _nodata(acq.bands["B12"]))
    ard = {name: _to_ard(dn10[name], acq.bands[name]) for name in BANDS_10M if name in dn10}
    ard |= {name: _to_ard(dn20[name], acq.bands[name]) for name in BANDS_20M if name in dn20}
    del dn10, dn20
    scl20 = _cloud_layers(acq, grid20, files,
                          _read_bands({"SCL": acq.mask}, grid20, Resampling.nearest, files)["SCL"].astype(np.uint8))
    scl20[n_observed == 0] = cloudmask.SCL_NO_DATA
    if not scl20.any():
        return empty
    stats = _stats20(job, grid, inner, scl20, observed, n_observed)
    del observed
    tags = _tags(acq, tile, ard)
    cog10, cog20, vrt = job.split_paths()
    vrt.parent.mkdir(parents=True, exist_ok=True)
    zeros10, zeros20 = (np.zeros((g.height, g.width), np.uint16) for g in (grid, grid20))
    for path, g, names, layers in (
            (cog10, grid, BANDS_10M, [ard.get(b, zeros10) for b in BANDS_10M]),
            (cog20, grid20, BANDS_20M, [ard.get(b, zeros20) for b in BANDS_20M[:-1]] + [scl20.astype(np.uint16)])):
        tmp = path.with_name(f".{path.name}.tmp")
        # overviews down to 256 px at 20 m: as many levels as the 10 m COG, which the VRT needs to offer them
        write_cog(tmp, layers, g, tags, names, overview_px=512 if g is grid else 256)
        os.replace(tmp, path)
    tmp = vrt.with_name(f".{vrt.name}.tmp")
    write_vrt(tmp, grid, tags, [(b, cog10, grid, i, None) for i, b in enumerate(BANDS_10M, start=1)]
              + [(b, cog20, grid20, i, "nearest" if b == "SCL" else "bilinear")
                 for i, b in enumerate(BANDS_20M, start=1)])
    os.replace(tmp, vrt)
    return {"path": str(vrt.resolve()), "status": "ok", "reason": None, **stats}


def _count4(mask: np.ndarray) -> np.ndarray:
    """How many of each 2 x 2 block's pixels are set (uint8, half the size): strided adds, cheap."""
    quad = mask.view(np.uint8).reshape(mask.shape[0] // 2, 2, mask.shape[1] // 2, 2)
    return quad[:, 0, :, 0] + quad[:, 0, :, 1] + quad[:, 1, :, 0] + quad[:, 1, :, 1]


def write_vrt(path: Path, grid: Grid, tags: dict[str, str],
              bands: list[tuple[str, Path, Grid, int, str | None]]) -> None:
    """A VRT on ``grid`` whose bands are (name, file beside it, the file's grid, band index, resampling): each
    file covers the VRT's whole extent at its own resolution; None reads it as it is (a file on ``grid``)."""
    root = grid.vrt({"AREA_OR_POINT": "Area", **tags})     # as a GeoTIFF's tags read
    for i, (name, file, file_grid, index, resampling) in enumerate(bands, start=1):
        band = ET.SubElement(root, "VRTRasterBand", dataType="UInt16", band=str(i), blockXSize="512",
                             blockYSize="512")
        ET.SubElement(band, "Description").text = name
        ET.SubElement(band, "NoDataValue").text = "0"
        source = ET.SubElement(band, "SimpleSource", **({"resampling": resampling} if resampling else {}))
        ET.SubElement(source, "SourceFilename", relativeToVRT="1").text = file.name
        ET.SubElement(source, "SourceBand").text = str(index)
        ET.SubElement(source, "SrcRect", xOff="0", yOff="0", xSize=str(file_grid.width),
                      ySize=str(file_grid.height))
        ET.SubElement(source, "DstRect", xOff="0", yOff="0", xSize=str(grid.width), ySize=str(grid.height))
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8")


def write_cog(path: Path, layers: list[np.ndarray], grid: Grid, tags: dict[str, str],
              names: tuple[str, ...] = OUTPUT_BANDS, overview_px: int = 512) -> None:
    """The tile's bands (uint16, named ``names``, by default the 8 :data:`OUTPUT_BANDS`) as a COG at ``path``:
    the encoding step alone, which the ingest benchmark also times by itself."""
    profile = {"driver": "MEM", "width": grid.width, "height": grid.height, "count": len(names),
               "dtype": "uint16", "crs": grid.crs, "transform": grid.transform, "nodata": 0}
    # A GDAL MEM dataset (plain arrays, no block cache or TIFF encoding: half the time of a /vsimem/ GTiff).
    with rasterio.open("", "w", **profile) as ds:
        for i, (name, layer) in enumerate(zip(names, layers, strict=True), start=1):
            ds.write(layer[np.newaxis], [i])   # band by band: no stacked copy of the tile (a 2-D one is copied)
            ds.set_band_description(i, name)
        ds.update_tags(**tags)
        # Overviews built in memory (uncompressed) and reused: the COG driver would otherwise compress twice.
        ds.build_overviews(_overview_levels(grid.width, grid.height, overview_px), Resampling.nearest)
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
    """SCL codes for the tile: the SCL band, QA_PIXEL mapped to SCL, or the spectral screen; then the
    acquisition's cloud probability and cloud mask, when it has them, folded in."""
    return _cloud_layers(acq, grid, files, _base_mask(acq, grid, ard, files))


def _cloud_layers(acq: Acquisition, grid: Grid, files: _Datasets, scl: np.ndarray) -> np.ndarray:
    """``scl`` with cloud where the cloud probability reaches s2cloudless's threshold or the cloud mask says cloud."""
    layers = {name: src for name, src in (("CLP", acq.cloud_probability), ("CLM", acq.cloud_flag)) if src}
    if not layers:
        return scl
    dn = _read_bands(layers, grid, Resampling.nearest, files)
    cloudy = np.zeros(scl.shape, dtype=bool)
    for name, src in layers.items():
        value = dn[name].astype(np.float32) * np.float32(src.scale) + np.float32(src.offset)
        limit = cloudmask.CLOUD_PROBABILITY_THRESHOLD if name == "CLP" else 0.5
        cloudy |= (value >= limit - 1e-6) & (dn[name] != _nodata(src))
    return cloudmask.fold_clouds(scl, cloudy)


def _base_mask(acq: Acquisition, grid: Grid, ard: dict[str, np.ndarray], files: _Datasets) -> np.ndarray:
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
    forest_clear = n_forest = 0
    if job.forest_mask:
        forest = _forest_layer(job.forest_mask).codes(grid.transform, scl.shape, grid.crs) != 0
        if region is not None:
            forest &= region
        n_forest, forest_clear = int(forest.sum()), int(_CLEAR[scl[forest]].sum())
    return _fractions(counts, float(in_region[_CLEAR].sum()), int(in_region.sum()), forest_clear, n_forest)


def _fractions(counts: np.ndarray, region_clear: float, n_region: int, forest_clear: float, n_forest: int) -> dict:
    """The tile record's statistics from pixel counts: ``counts`` per SCL code (cloud % of the observed ones),
    clear pixels of the region and of the forest (valid fractions of their pixels; none without forest)."""
    observed = float(counts[1:].sum())
    cloudy = float(counts[list(cloudmask.SCL_CLOUDY)].sum())
    forest_valid = round(forest_clear / n_forest, 4) if n_forest else None
    return {"cloud_pct": round(100 * (cloudy / observed if observed else 1.0), 2),
            "valid_fraction": round(region_clear / n_region, 4) if n_region else 0.0,
            "forest_valid_fraction": forest_valid}


def _stats20(job: TileJob, grid: Grid, inner: tuple[slice, slice], scl20: np.ndarray, observed: np.ndarray,
             n_observed: np.ndarray) -> dict:
    """:func:`_stats` from the 20 m SCL, each 20 m pixel counted for its observed 10 m pixels: the same numbers
    as counting the 10 m layout's SCL (its 2 x 2 repeat, no data where a 10 m pixel is not observed).
    ``grid`` is the 10 m grid of the (widened) tile raster, ``inner`` the job's window in it, ``observed`` the
    10 m pixels observed in B04 and B08 inside that window and ``n_observed`` (per 20 m pixel) with B12 too."""
    def weighted(mask10: np.ndarray | None) -> np.ndarray:      # per SCL code, observed 10 m pixels in mask10
        weights = n_observed if mask10 is None else _count4(mask10 & observed) * (n_observed > 0)
        return np.bincount(scl20.ravel(), weights=weights.ravel(), minlength=256)

    counts = weighted(None)
    region = None
    window_grid = Grid(grid.crs, grid.transform @ Affine.translation(inner[1].start, inner[0].start),
                       inner[1].stop - inner[1].start, inner[0].stop - inner[0].start)
    if job.region is not None and not job.region.is_empty and not job.region.covers(box(*window_grid.bounds)):
        region = geometry_mask([job.region], out_shape=observed.shape, transform=grid.transform, invert=True)
        outside = np.ones(observed.shape, dtype=bool)
        outside[inner] = False
        region[outside] = False
    in_region = counts if region is None else weighted(region)
    n_region = (window_grid.width * window_grid.height) if region is None else int(region.sum())
    forest_clear = n_forest = 0
    if job.forest_mask:
        forest = np.zeros(observed.shape, dtype=bool)
        forest[inner] = _forest_layer(job.forest_mask).codes(window_grid.transform, observed[inner].shape,
                                                             grid.crs) != 0
        if region is not None:
            forest &= region
        n_forest, forest_clear = int(forest.sum()), float(weighted(forest)[_CLEAR].sum())
    return _fractions(counts, float(in_region[_CLEAR].sum()), n_region, forest_clear, n_forest)
