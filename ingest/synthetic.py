"""Deterministic SYNTHETIC Sentinel-2 L2A-like time series for the demo, with its ground truth.

The world is a 10 m grid: forest (evergreen and dry dipterocarp that browns in the dry season), farmland
(vegetable fields on their own crop calendars, coffee), a town, greenhouses, a reservoir and plantation lots
greening over the year. Clearings of 0.1-20 ha are cut into forest at known dates, some growing over weeks.
Clouds, cloud shadows (marked in SCL, with unmarked fringes as in real SCL), cirrus, haze and swath edges
make the detector's life realistic. Everything derives from one seed, so two runs write identical files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.features import shapes, sieve
from rasterio.transform import from_origin
from scipy import ndimage
from shapely.geometry import box, shape
from shapely.ops import unary_union

from geo.progress import Progress
from geo.region import DemoArea

log = logging.getLogger(__name__)

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
RESOLUTION = 10.0

# Land-cover classes of the synthetic world (also written to landcover.tif).
FOREST, DIPTEROCARP, CROPS, COFFEE, TOWN, GREENHOUSE, WATER, PLANTATION = range(1, 9)
LANDCOVER_NAMES = {
    FOREST: "evergreen forest", DIPTEROCARP: "dry dipterocarp forest", CROPS: "seasonal crops",
    COFFEE: "coffee", TOWN: "town", GREENHOUSE: "greenhouses", WATER: "water", PLANTATION: "plantation lot",
}

# Surface reflectance x 10000 of the end-members, in BANDS order.
VEGETATION = np.array([250, 500, 280, 3200, 1500, 650], dtype=np.float32)
SOIL = np.array([900, 1200, 1500, 2100, 2900, 2300], dtype=np.float32)
WATER_SR = np.array([600, 700, 500, 300, 150, 100], dtype=np.float32)
TOWN_SR = np.array([1100, 1200, 1300, 1900, 2300, 2000], dtype=np.float32)
GREENHOUSE_SR = np.array([2800, 2900, 3000, 3300, 2800, 2400], dtype=np.float32)
CLOUD_SR = np.array([5200, 5100, 5000, 5500, 3800, 2900], dtype=np.float32)

# Sentinel-2 scene classification (SCL) codes used here.
SCL_NODATA, SCL_SHADOW, SCL_VEG, SCL_BARE, SCL_WATER, SCL_CLOUD_MED, SCL_CLOUD_HIGH, SCL_CIRRUS = (
    0, 3, 4, 5, 6, 8, 9, 10)

# Clearings: sizes in hectares chosen to span the range rangers care about (0.1 ha to 20 ha).
CLEARING_SIZES_HA = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.3, 1.8, 2.5, 3.0, 4.0, 5.0, 6.5, 8.0,
                     10.0, 12.0, 15.0, 20.0)


@dataclass(frozen=True)
class Clearing:
    """One clearing of the ground truth: pixels cut progressively from ``start`` to ``end``."""

    id: int
    start: date
    end: date
    distance: np.ndarray  # per-pixel growth order inside the bounding window (0 = first cut, 1 = last)
    window: tuple[slice, slice]

    def cut_fraction(self, day: date) -> float:
        if day < self.start:
            return 0.0
        if day >= self.end:
            return 1.0
        return (day - self.start).days / max((self.end - self.start).days, 1)


def _smooth_noise(rng: np.random.Generator, shape_: tuple[int, int], sigma: float, coarse: int = 4) -> np.ndarray:
    """Smooth random field in [0, 1] (ranked), built on a coarse grid and zoomed up for speed."""
    small = (shape_[0] // coarse + 2, shape_[1] // coarse + 2)
    field = ndimage.gaussian_filter(rng.standard_normal(small).astype(np.float32), sigma / coarse)
    field = ndimage.zoom(field, coarse, order=1)[: shape_[0], : shape_[1]]
    ranks = field.ravel().argsort().argsort().reshape(shape_)
    return (ranks / ranks.size).astype(np.float32)


# The plantation lots: (lot id, pixel rows, pixel columns, days after PLANTED_AFTER_DAYS they were planted).
PLANTATION_LOTS = (("DEMO-TR-01", slice(700, 740), slice(100, 160), 0),   # 24 ha
                   ("DEMO-TR-02", slice(560, 590), slice(250, 300), 30))  # 15 ha
PLANTED_AFTER_DAYS = 120  # planted this many days after the series starts: bare, then a canopy over ~14 months
TREES_PER_HA = 1660       # acacia planted at 3 m x 2 m


def _dates(area: DemoArea) -> list[date]:
    days = (area.end - area.start).days
    return [area.start + timedelta(days=d) for d in range(0, days + 1, area.interval_days)]


def _landcover(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Land-cover classes, per-pixel crop phase (days) and plantation planting offsets."""
    lc = np.full((n, n), FOREST, dtype=np.uint8)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    valley = _smooth_noise(rng, (n, n), 60) * 0.6 + (1 - yy) * 0.4  # farmland gathers in the southern valley
    deciduous = _smooth_noise(rng, (n, n), 80)
    lc[(deciduous > 0.72) & (xx < 0.7)] = DIPTEROCARP
    # Fields: a grid of 15 x 12 pixel blocks, each block a field with its own crop type and calendar.
    fields = valley > 0.62
    block = (np.arange(n)[:, None] // 15) * 1000 + (np.arange(n)[None, :] // 12)
    ids, inverse = np.unique(block, return_inverse=True)
    field_phase = rng.integers(0, 110, ids.size)
    field_coffee = rng.random(ids.size) < 0.3
    phase = field_phase[inverse].reshape(n, n).astype(np.int16)
    coffee = field_coffee[inverse].reshape(n, n)
    lc[fields & ~coffee] = CROPS
    lc[fields & coffee] = COFFEE
    # Town: a blob in the south-east corner; greenhouses: small rectangles among the fields near it.
    town = ((xx - 0.82) ** 2 + (yy - 0.85) ** 2) < 0.012 + 0.004 * (_smooth_noise(rng, (n, n), 20) - 0.5)
    lc[town] = TOWN
    for _ in range(70):
        r, c = rng.integers(600, n - 10), rng.integers(450, n - 10)
        if lc[r, c] in (CROPS, COFFEE):
            lc[r : r + rng.integers(3, 7), c : c + rng.integers(4, 9)] = GREENHOUSE
    # Reservoir: an elongated lake in the north-east.
    lake = (((xx - 0.75) / 0.16) ** 2 + ((yy - 0.2) / 0.05) ** 2) < 1 + 0.5 * (_smooth_noise(rng, (n, n), 10) - 0.5)
    lc[lake] = WATER
    # Two plantation lots on former bare land, planted in the series' first months and greening through it.
    plant_offset = np.zeros((n, n), dtype=np.int16)
    for _, rows, cols, offset in PLANTATION_LOTS:
        lc[rows, cols] = PLANTATION
        plant_offset[rows, cols] = offset
    return lc, phase, plant_offset


def _clearings(rng: np.random.Generator, lc: np.ndarray, start: date, end: date) -> list[Clearing]:
    """Place irregular clearings in forest, apart from each other, dated in the second half of the series."""
    n = lc.shape[0]
    forest = np.isin(lc, (FOREST, DIPTEROCARP))
    taken = np.zeros_like(forest)
    first = start + (end - start) * 12 // 18      # after a year of baseline
    last = end - timedelta(days=40)                 # leave observations after the last clearing
    out: list[Clearing] = []
    for i, size_ha in enumerate(CLEARING_SIZES_HA):
        npix = int(round(size_ha * 100))
        radius = int(np.sqrt(npix / np.pi) * 1.6) + 4
        for _attempt in range(200):
            r, c = (int(v) for v in rng.integers(radius + 10, n - radius - 10, 2))
            win = (slice(r - radius, r + radius + 1), slice(c - radius, c + radius + 1))
            if not forest[win].all() or taken[win].any():
                continue
            yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(np.float32)
            angle = rng.uniform(0, np.pi)
            stretch = rng.uniform(1.0, 2.2)
            u = (xx * np.cos(angle) + yy * np.sin(angle)) / stretch
            v = -xx * np.sin(angle) + yy * np.cos(angle)
            wobble = 1 + 0.25 * ndimage.gaussian_filter(rng.standard_normal(u.shape), 2) * 3
            dist = np.hypot(u, v) / np.clip(wobble, 0.5, 1.6)
            # Keep the npix pixels nearest the seed: the clearing's exact extent on the 10 m grid.
            order = dist.ravel().argsort()
            mask = np.zeros(dist.size, bool)
            mask[order[:npix]] = True
            mask = mask.reshape(dist.shape)
            mask = ndimage.binary_fill_holes(mask)
            labels, nlab = ndimage.label(mask)
            if nlab > 1:
                mask = labels == labels[radius, radius]
            growth = np.full(dist.shape, np.inf, dtype=np.float32)
            growth[mask] = dist[mask] / dist[mask].max()
            day0 = first + timedelta(days=int(rng.integers(0, (last - first).days)))
            grows = size_ha >= 1.0 and rng.random() < 0.5
            day1 = day0 + timedelta(days=int(rng.integers(21, 43))) if grows else day0
            taken[r - radius - 5 : r + radius + 6, c - radius - 5 : c + radius + 6] = True
            out.append(Clearing(id=i + 1, start=day0, end=day1, distance=growth, window=win))
            break
    return out


def _greenness(lc: np.ndarray, phase: np.ndarray, plant_offset: np.ndarray, texture: np.ndarray,
               day: date, series_start: date) -> np.ndarray:
    """Vegetation fraction (0-1) per pixel on ``day``: seasonal forest, crop cycles, greening plantations."""
    doy = day.timetuple().tm_yday
    # Dry season peaks in March; 2024 (El Niño) was drier than 2023.
    dry = (0.5 * (1 + np.cos(2 * np.pi * (doy - 75) / 365.25))) ** 1.5
    dry *= 1.15 if day.year >= 2024 else 1.0
    g = np.empty(lc.shape, dtype=np.float32)
    g[:] = 0.94 - 0.05 * dry + texture * 0.04
    m = lc == DIPTEROCARP
    g[m] = 0.92 - 0.30 * dry + texture[m] * 0.04
    m = lc == CROPS  # vegetable cycles of 110 days: planted, green, harvested, short fallow
    cyc = ((doy + phase[m]) % 110) / 110.0
    g[m] = 0.08 + 0.8 * np.clip(np.sin(np.pi * cyc / 0.85), 0, None) * (cyc < 0.85)
    m = lc == COFFEE
    g[m] = 0.58 - 0.12 * dry + texture[m] * 0.04
    m = lc == PLANTATION  # bare at planting, closing canopy over about 14 months
    age = (day - series_start).days - PLANTED_AFTER_DAYS - plant_offset[m]
    g[m] = 0.1 + 0.75 * np.clip(age / 420.0, 0, 1)
    return g


def _scene(rng: np.random.Generator, world: dict, day: date, series_start: date,
           clearings: list[Clearing]) -> tuple[np.ndarray, np.ndarray]:
    """One acquisition: (6 bands uint16, SCL uint8)."""
    lc, n = world["lc"], world["lc"].shape[0]
    g = _greenness(lc, world["phase"], world["plant_offset"], world["texture"], day, series_start)
    for cl in clearings:
        frac = cl.cut_fraction(day)
        if frac > 0:
            cut = cl.distance <= frac
            regrowth = min(max((day - cl.start).days - 60, 0) / 400.0, 0.15)
            g[cl.window][cut] = 0.08 + regrowth
    sr = g[None] * VEGETATION[:, None, None] + (1 - g[None]) * SOIL[:, None, None]
    for cls, spectrum in ((WATER, WATER_SR), (TOWN, TOWN_SR), (GREENHOUSE, GREENHOUSE_SR)):
        m = lc == cls
        sr[:, m] = spectrum[:, None] * (1 + 0.08 * (world["texture"][m] - 0.5))[None]
    sr *= rng.normal(1.0, 0.02, (6, 1, 1)).astype(np.float32)             # scene-wide radiometric jitter
    sr *= 1 + rng.normal(0, 0.015, sr.shape).astype(np.float32)           # sensor noise
    veg = g > 0.45
    scl = np.where(veg, SCL_VEG, SCL_BARE).astype(np.uint8)
    scl[lc == WATER] = SCL_WATER

    # Clouds: wetter months (May-October) are cloudier; a third of the scenes are clear.
    wet = day.month in range(5, 11)
    cover = 0.0 if rng.random() < (0.2 if wet else 0.45) else rng.uniform(0.05, 0.75 if wet else 0.4)
    if cover > 0:
        field = _smooth_noise(rng, (n, n), rng.uniform(15, 40))
        core = field > 1 - cover
        opacity = np.clip((field - (1 - cover)) / 0.08, 0, 1)
        fringe = ndimage.binary_dilation(core, iterations=2) & ~core     # unmarked edge, as in real SCL
        alpha = np.where(core, 0.6 + 0.4 * opacity, np.where(fringe, 0.25, 0.0)).astype(np.float32)
        dy, dx = int(rng.integers(15, 30)), int(rng.integers(-30, -10))
        shadow = np.roll(core, (dy, dx), axis=(0, 1)) & ~core
        shadow_fringe = np.roll(fringe, (dy, dx), axis=(0, 1)) & ~core & ~shadow
        dark = np.array([0.5, 0.45, 0.42, 0.3, 0.3, 0.3], dtype=np.float32)[:, None]
        sr[:, shadow] *= dark
        sr[:, shadow_fringe] *= (1 + dark) / 2
        sr = sr * (1 - alpha[None]) + CLOUD_SR[:, None, None] * alpha[None]
        scl[shadow] = SCL_SHADOW
        scl[core] = np.where(opacity[core] > 0.5, SCL_CLOUD_HIGH, SCL_CLOUD_MED)
    if rng.random() < 0.1:  # thin cirrus, marked in SCL
        cirrus = _smooth_noise(rng, (n, n), 50) > 0.7
        sr[:, cirrus] = sr[:, cirrus] * 0.8 + CLOUD_SR[:, None] * 0.2
        scl[cirrus & (scl != SCL_CLOUD_HIGH) & (scl != SCL_CLOUD_MED)] = SCL_CIRRUS
    if rng.random() < 0.1:  # haze: path radiance in the visible bands, not flagged by SCL
        h = _smooth_noise(rng, (n, n), 80)
        sr += (np.array([380, 280, 180, 40, 0, 0], dtype=np.float32)[:, None, None] * h[None])
    if rng.random() < 0.06:  # swath edge: a diagonal strip without data
        yy, xx = np.mgrid[0:n, 0:n]
        edge = (xx + yy * rng.uniform(0.2, 0.5)) < rng.uniform(0.1, 0.4) * n
        sr[:, edge] = 0
        scl[edge] = SCL_NODATA
    bands = np.clip(sr, 1, 16000).astype(np.uint16)
    bands[:, scl == SCL_NODATA] = 0
    return bands, scl


def _truth(clearings: list[Clearing], transform, n: int, crs: str) -> gpd.GeoDataFrame:
    rows = []
    for cl in clearings:
        full = np.zeros((n, n), dtype=np.uint8)
        full[cl.window] = np.isfinite(cl.distance)
        geom = unary_union([shape(g) for g, v in shapes(full, mask=full > 0, transform=transform) if v])
        rows.append({
            "id": cl.id, "area_ha": round(float(full.sum()) * RESOLUTION**2 / 10000, 4),
            "start_date": cl.start.isoformat(), "end_date": cl.end.isoformat(),
            "grows": cl.end > cl.start, "synthetic": True, "geometry": geom,
        })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def _lots(area: DemoArea, transform, crs: str) -> gpd.GeoDataFrame:
    """The plantation lots as a planting register would list them (the columns ``forestmon planting import``
    reads), outlined on their pixels."""
    rows = []
    for lot_id, r, c, offset in PLANTATION_LOTS:
        (x0, y0), (x1, y1) = transform * (c.start, r.stop), transform * (c.stop, r.start)
        ha = (r.stop - r.start) * (c.stop - c.start) * RESOLUTION**2 / 10_000
        planted = area.start + timedelta(days=PLANTED_AFTER_DAYS + offset)
        rows.append({"lot_id": lot_id, "planted": planted.isoformat(),
                     "species": "Keo lai (SYNTHETIC)", "trees": int(ha * TREES_PER_HA),
                     "programme": "Trồng rừng tập trung", "geometry": box(x0, y0, x1, y1)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


# The land-use plan over the synthetic world (SYNTHETIC), as a 2021-2030 plan would draw it: zones of 100 m cells.
PLAN_CELL = 10  # pixels a side of one cell of the plan
PLAN_MIN_CELLS = 10  # smaller patches join the zone around them
PLAN_ZONE_OF = {FOREST: "RPH", DIPTEROCARP: "RSX", CROPS: "HNK", COFFEE: "CLN", TOWN: "ODT", GREENHOUSE: "HNK",
                WATER: "MNC", PLANTATION: "RSX"}
PLAN_SPECIAL_USE = (slice(0, 400), slice(0, 500))      # forest here is a national park's (special-use forest)
PLAN_CONVERSION = (slice(540, 640), slice(560, 680))   # forest here is approved for conversion
PLAN_ZONE_NAMES = {"RDD": "Phân khu bảo vệ nghiêm ngặt", "RPH": "Rừng phòng hộ đầu nguồn", "RSX": "Rừng sản xuất",
                   "HNK": "Vùng rau hoa", "CLN": "Vùng cà phê", "ODT": "Thị trấn", "MNC": "Hồ chứa",
                   "CHUYEN_DOI": "Dự án được phép chuyển đổi"}


def _plan(lc: np.ndarray, transform, crs: str) -> gpd.GeoDataFrame:
    """A land-use plan over the land cover, with the columns a provincial plan's file has (``loai_dat``: the
    zone type's code, ``ten_khu``: the zone's own name): each 100 m cell takes the land cover most of its pixels
    have, smoothed over 5 cells, patches under 10 ha joined to the zone around them, so zones are as coarse as a
    plan's. Evergreen forest is protection forest, except in the north-west (special-use: a national park's) and
    in one block near the middle (approved for conversion); dry dipterocarp forest and the plantations are
    production forest."""
    m = lc.shape[0] // PLAN_CELL
    share = np.stack([ndimage.uniform_filter((lc[: m * PLAN_CELL, : m * PLAN_CELL] == k).reshape(
        m, PLAN_CELL, m, PLAN_CELL).mean((1, 3)), 5, mode="nearest") for k in LANDCOVER_NAMES])
    cover = np.asarray(list(LANDCOVER_NAMES))[share.argmax(0)]
    codes = np.vectorize(PLAN_ZONE_OF.get, otypes=[object])(cover)
    forest = cover == FOREST
    for (rows, cols), code in ((PLAN_SPECIAL_USE, "RDD"), (PLAN_CONVERSION, "CHUYEN_DOI")):
        cells = np.zeros_like(forest)
        cells[rows.start // PLAN_CELL: rows.stop // PLAN_CELL, cols.start // PLAN_CELL: cols.stop // PLAN_CELL] = True
        codes[forest & cells] = code
    names = sorted(set(codes.ravel()))
    index = sieve(np.vectorize(names.index, otypes=[np.int32])(codes), PLAN_MIN_CELLS)  # no zone under 10 ha
    cell = transform * rasterio.Affine.scale(PLAN_CELL)
    rows, count = [], dict.fromkeys(names, 0)
    for geom, value in shapes(index, transform=cell):
        code = names[int(value)]
        count[code] += 1
        rows.append({"loai_dat": code, "ten_khu": f"{PLAN_ZONE_NAMES[code]} {count[code]} (mô phỏng)",
                     "geometry": shape(geom)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def _write_once(path: Path | None, frame: Callable[[], gpd.GeoDataFrame], **options) -> None:
    """Write the frame to ``path`` whole or not at all (to a temporary name, then renamed), unless it is there."""
    if path is None or path.exists():
        return
    tmp = path.with_suffix(f".tmp{path.suffix}")
    tmp.unlink(missing_ok=True)
    frame().to_file(tmp, **options)
    tmp.rename(path)


def scene_name(day: date) -> str:
    return f"S2_SYNTHETIC_L2A_{day:%Y%m%d}.tif"


def generate(area: DemoArea, out_dir: Path, truth_path: Path, landcover_path: Path, crs: str = "EPSG:32648",
             progress: Progress | None = None, lots_path: Path | None = None,
             plan_path: Path | None = None) -> list[Path]:
    """Write the demo scenes (COGs) into ``out_dir``, the clearings with their dates to ``truth_path`` (a
    GeoPackage, layer ``clearings``), the land cover to ``landcover_path``, given ``lots_path`` the plantation
    lots' register and given ``plan_path`` a land-use plan over the area (GeoJSON both); existing files are kept.

    Re-running after an interruption completes the series: each file is written to a temporary name and
    renamed when whole, and every scene's random stream derives from the seed and its date alone.
    """
    for folder in (out_dir, truth_path.parent, landcover_path.parent):
        folder.mkdir(parents=True, exist_ok=True)
    n = int(round(area.size_m / RESOLUTION))
    transform = from_origin(area.x0, area.y0 + area.size_m, RESOLUTION, RESOLUTION)
    rng = np.random.default_rng(area.seed)
    lc, phase, plant_offset = _landcover(rng, n)
    world = {"lc": lc, "phase": phase, "plant_offset": plant_offset,
             "texture": _smooth_noise(rng, (n, n), 2, coarse=1)}
    clearings = _clearings(rng, lc, area.start, area.end)
    profile = {"driver": "COG", "width": n, "height": n, "crs": crs, "transform": transform,
               "compress": "deflate", "predictor": 2, "blocksize": 512}

    _write_once(truth_path, lambda: _truth(clearings, transform, n, crs), layer="clearings")
    _write_once(lots_path, lambda: _lots(area, transform, crs), driver="GeoJSON")
    _write_once(plan_path, lambda: _plan(lc, transform, crs), driver="GeoJSON")
    if not landcover_path.exists():
        tmp = landcover_path.with_suffix(".tmp.tif")
        with rasterio.open(tmp, "w", count=1, dtype="uint8", **profile) as dst:
            dst.write(lc, 1)
            dst.update_tags(SYNTHETIC="yes", **{f"CLASS_{k}": v for k, v in LANDCOVER_NAMES.items()})
        tmp.rename(landcover_path)

    days = _dates(area)
    paths = []
    for i, day in enumerate(days):
        path = out_dir / scene_name(day)
        paths.append(path)
        if not path.exists():
            scene_rng = np.random.default_rng([area.seed, day.toordinal()])
            bands, scl = _scene(scene_rng, world, day, area.start, clearings)
            tmp = path.with_suffix(".tmp.tif")
            with rasterio.open(tmp, "w", count=7, dtype="uint16", nodata=0, **profile) as dst:
                dst.write(bands, indexes=list(range(1, 7)))
                dst.write(scl.astype(np.uint16), 7)
                for b, name in enumerate((*BANDS, "SCL"), start=1):
                    dst.set_band_description(b, name)
                dst.update_tags(ACQUISITION_DATE=day.isoformat(), SENSOR="Sentinel-2 (SYNTHETIC)",
                                PROCESSING_LEVEL="L2A", REFLECTANCE_SCALE="0.0001", SYNTHETIC="yes")
            tmp.rename(path)
        if progress:
            progress("generate", i + 1, len(days))
    return paths
