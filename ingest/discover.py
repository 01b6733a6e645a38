"""Find the acquisitions among local paths: SAFE folders, Landsat scenes, multi-band files, one file per band.

Each input either becomes an :class:`Acquisition` or a failure naming the file and what is wrong with it, so one
bad file never stops the others.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
from pyproj import CRS
from rasterio.errors import RasterioError
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from geo.errors import InvalidInputError
from geo.scenes import RASTER_SUFFIXES, acquisition_date, band_name
from ingest import landsat, safe
from ingest.acquisition import CLOUD_BANDS, Acquisition, BandSource

_BAND_IN_NAME = re.compile(r"(?<![A-Za-z0-9])(B0?[1-9]|B1[0-2]|B8A|SCL|QA_PIXEL|CLP|CLM)(?![A-Za-z0-9])",
                           re.IGNORECASE)
_RESOLUTION_SUFFIX = re.compile(r"[_-]+(10|20|30|60)m$", re.IGNORECASE)
MASK_NAMES = {"SCL": "scl", "QAPIXEL": "qa_pixel", "QA_PIXEL": "qa_pixel"}
SIDECAR_SUFFIXES = {".aux.xml", ".ovr", ".msk"}  # GDAL's files beside a raster, never inputs themselves


def acquisition_id(acquired: datetime, stem: str, key: str) -> str:
    """Stable id: date, a readable stem, and a digest of where the input is (same input -> same id)."""
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    return f"{acquired:%Y%m%d}-{stem}-{digest}"


def _finish(acq: Acquisition, stem: str, grid_crs: CRS) -> Acquisition:
    missing = acq.missing_bands()
    if missing:
        raise InvalidInputError(
            f"{acq.source_path}: missing bands {', '.join(missing)} (found {', '.join(acq.bands) or 'no named bands'}"
            f"{', ' + acq.mask_kind.upper() if acq.mask else ''}); name them in the band descriptions or file "
            "names, or give a band mapping")
    with rasterio.open(acq.bands["B04"].paths[0]) as ds:
        if ds.crs is None:
            raise InvalidInputError(f"{ds.name}: raster has no CRS; cannot place it on the grid")
        bounds = transform_bounds(ds.crs, grid_crs, *ds.bounds)
    return replace(acq, id=acquisition_id(acq.acquired, stem, acq.source_path), bounds=bounds)


def _touch(path: Path, index: int = 1) -> None:
    """Read the last pixel so truncated files fail now, by name, and not halfway through a tile."""
    with rasterio.open(path) as ds:
        ds.read(index, window=Window(max(ds.width - 1, 0), max(ds.height - 1, 0), 1, 1))


def _raster_error(path: Path, exc: Exception) -> InvalidInputError:
    kind = "corrupt or unreadable raster" if path.suffix.lower() in RASTER_SUFFIXES else "not a raster GDAL can read"
    return InvalidInputError(f"{path}: {kind} ({str(exc).splitlines()[0][:200]})")


def _as_datetime(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _cloud_layers(sources: dict[str, tuple[str, int]]) -> dict[str, BandSource]:
    """CLP and CLM among a file's named bands ({name: (file, band index)}) as the acquisition's cloud layers."""
    out = {}
    for name, (path, index) in sources.items():
        if name == "CLP":
            with rasterio.open(path) as ds:
                integer = np.issubdtype(np.dtype(ds.dtypes[index - 1]), np.integer)
            out["cloud_probability"] = BandSource((path,), index, scale=1 / 255 if integer else 1.0, nodata=None)
        elif name == "CLM":
            out["cloud_flag"] = BandSource((path,), index, scale=1.0, nodata=255)
    return out


def _multiband(path: Path, band_map: dict[str, int] | None) -> Acquisition:
    """One file holding several bands, named by descriptions or by the user's mapping."""
    with rasterio.open(path) as ds:
        tags = ds.tags()
        mapping = dict(band_map) if band_map else {}
        if not mapping:
            for i, desc in enumerate(ds.descriptions, start=1):
                key = re.sub(r"[^A-Z0-9]", "", (desc or "").upper())
                name = "SCL" if key in ("SCL", "SCENECLASSIFICATION") else (
                    "QA_PIXEL" if key == "QAPIXEL" else key if key in CLOUD_BANDS else band_name(desc))
                if name and name not in mapping:
                    mapping[name] = i
        bad = {b: i for b, i in mapping.items() if not 1 <= i <= ds.count}
        if bad:
            raise InvalidInputError(f"{path}: band mapping {bad} outside the file's {ds.count} bands")
        count = ds.count
    scale = float(tags.get("REFLECTANCE_SCALE", 1e-4))
    offset = float(tags.get("BOA_ADD_OFFSET", 0)) * scale
    mask, kind = None, "spectral"
    for name, k in (("SCL", "scl"), ("QA_PIXEL", "qa_pixel")):
        if name in mapping:
            mask, kind = BandSource((str(path),), mapping[name], scale=1.0, nodata=0 if k == "scl" else 1), k
            break
    if "B04" in mapping:
        _touch(path, mapping.get("SCL", count))
    bands = {b: BandSource((str(path),), i, scale=scale, offset=offset, nodata=0)
             for b, i in mapping.items() if b not in ("SCL", "QA_PIXEL", *CLOUD_BANDS)}
    clouds = _cloud_layers({b: (str(path), i) for b, i in mapping.items() if b in CLOUD_BANDS})
    return Acquisition(id="", sensor=tags.get("SENSOR", "Sentinel-2"),
                       acquired=_as_datetime(acquisition_date(path, tags)), source="local",
                       source_path=str(path.resolve()), bands=bands, mask=mask, mask_kind=kind, **clouds)


def _per_band(files: dict[str, Path], group: str) -> Acquisition:
    """One file per band (``..._B04.tif``, ``..._SCL.tif``): the band from the file name or description."""
    first = files.get("B04") or next(iter(files.values()))
    with rasterio.open(first) as ds:
        tags = ds.tags()
    scale = float(tags.get("REFLECTANCE_SCALE", 1e-4))
    offset = float(tags.get("BOA_ADD_OFFSET", 0)) * scale
    for path in files.values():
        _touch(path)
    mask, kind = None, "spectral"
    if "SCL" in files:
        mask, kind = BandSource((str(files["SCL"]),), scale=1.0, nodata=0), "scl"
    elif "QA_PIXEL" in files:
        mask, kind = BandSource((str(files["QA_PIXEL"]),), scale=1.0, nodata=1), "qa_pixel"
    bands = {b: BandSource((str(p),), scale=scale, offset=offset, nodata=0)
             for b, p in files.items() if b not in ("SCL", "QA_PIXEL", *CLOUD_BANDS)}
    clouds = _cloud_layers({b: (str(p), 1) for b, p in files.items() if b in CLOUD_BANDS})
    return Acquisition(id="", sensor=tags.get("SENSOR", "Sentinel-2"),
                       acquired=_as_datetime(acquisition_date(first, tags)), source="local",
                       source_path=group, bands=bands, mask=mask, mask_kind=kind, **clouds)


def _band_of_single(path: Path, description: str | None) -> str | None:
    name = band_name(description)
    if name:
        return name
    match = _BAND_IN_NAME.search(path.stem)
    if not match:
        return None
    token = match[1].upper()
    if token in ("SCL", "QA_PIXEL", "B8A", *CLOUD_BANDS):
        return token
    return f"B{int(token[1:]):02d}"


def _walk(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(product folders: SAFE and Landsat, loose files), hidden entries and GDAL sidecars skipped."""
    products: list[Path] = []
    files: list[Path] = []

    def visit(path: Path, top: bool) -> None:
        if not top and path.name.startswith("."):
            return
        if path.is_dir():
            if safe.is_safe(path) or landsat.is_landsat(path):
                products.append(path)
                return
            for child in sorted(path.iterdir()):
                visit(child, False)
        elif path.name == safe.METADATA:
            products.append(path.parent)
        elif path.name.endswith(("_MTL.txt", "_MTL.xml")):
            products.append(path.parent)
        elif not any(str(path).endswith(s) for s in SIDECAR_SUFFIXES):
            files.append(path)

    for p in paths:
        visit(Path(p), True)
    return list(dict.fromkeys(products)), files


def find_acquisitions(paths: list[Path], grid_crs: CRS, band_map: dict[str, int] | None = None
                      ) -> tuple[list[Acquisition], list[tuple[str, str]]]:
    """Acquisitions found under ``paths``, and failures as (input path, reason)."""
    grid_crs = CRS.from_user_input(grid_crs)
    products, files = _walk(paths)
    found: list[Acquisition] = []
    failed: list[tuple[str, str]] = []
    for folder in products:
        try:
            acq = safe.read_safe(folder) if safe.is_safe(folder) else landsat.read_landsat(folder)
            found.append(_finish(acq, acq.extra.get("PRODUCT_ID", folder.name), grid_crs))
        except InvalidInputError as exc:
            failed.append((str(folder), str(exc)))
        except (RasterioError, OSError) as exc:
            failed.append((str(folder), str(_raster_error(folder, exc))))
    groups: dict[tuple[Path, str], dict[str, Path]] = defaultdict(dict)
    for path in files:
        try:
            with rasterio.open(path) as ds:
                count, description = ds.count, ds.descriptions[0]
        except (RasterioError, OSError) as exc:
            failed.append((str(path), str(_raster_error(path, exc))))
            continue
        try:
            if count == 1 and not band_map:
                band = _band_of_single(path, description)
                if band is None:
                    raise InvalidInputError(f"{path}: one band without a name (no band description and no B04/SCL... "
                                            "in the file name); cannot tell which band it is")
                stem = path.stem
                if _BAND_IN_NAME.search(stem):   # T48PZU_20240105_B04_10m and ..._B12_20m: one group
                    stem = _RESOLUTION_SUFFIX.sub("", _BAND_IN_NAME.sub("", stem)).strip("_-. ")
                groups[(path.parent, stem)][band] = path
                continue
            acq = _multiband(path, band_map)
            found.append(_finish(acq, path.stem, grid_crs))
        except InvalidInputError as exc:
            failed.append((str(path), str(exc)))
        except (RasterioError, OSError) as exc:
            failed.append((str(path), str(_raster_error(path, exc))))
    for (parent, stem), members in groups.items():
        group = str((parent / stem).resolve())
        try:
            found.append(_finish(_per_band(members, group), stem, grid_crs))
        except InvalidInputError as exc:
            failed.append((group, str(exc)))
        except (RasterioError, OSError) as exc:
            failed.append((group, str(_raster_error(Path(group), exc))))
    return found, failed
