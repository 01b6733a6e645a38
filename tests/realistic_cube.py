"""A realistic evaluation cube for the detector: the failure modes of real masks and landscapes, with known truth.

A square of 10 m pixels seen on ``n_dates`` dates over two years, generated one date at a time (memory follows
one scene, not the series) from a fixed seed:
- land cover: evergreen forest, deciduous forest (leaf-off in winter, NDVI ~0.35), crop fields beside the forest
  on their own calendars (two crops a year, bare between), grassland;
- clearings of 0.1-20 ha (log-uniform) cut on a known day of the second year, each regrowing at its own rate;
- clouds (SCL 8/9) with an *unmasked rim* 2-8 px wide outside them (semi-transparent cloud, NDVI lowered 10-50%),
  unmasked *haze* patches near clouds, cloud *shadows displaced* from their clouds and marked only in their
  core (SCL 3), thin cirrus marked (SCL 10); winter *snow*, marked (SCL 11) where thick, unmasked where patchy.

Reflectances come from a linear mix of endmembers (vegetation, soil, leaf-off canopy, snow, cloud) plus
atmospheric haze (additive, strongest in blue) and sensor noise, so every index and quality test sees
physically consistent bands. ``scene(t)`` gives one date's bands (reflectance 0-1, float32) and SCL;
``truth`` the clearings. The evaluation (``evaluate``) is area-weighted over alerts of at least 0.3 ha.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
from scipy import ndimage

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
# Endmember reflectances in BANDS order.
VEG = np.array([0.03, 0.06, 0.03, 0.35, 0.16, 0.07], np.float32)
LEAF_OFF = np.array([0.05, 0.07, 0.08, 0.22, 0.22, 0.15], np.float32)
SOIL = np.array([0.08, 0.11, 0.15, 0.22, 0.30, 0.24], np.float32)
SNOW = np.array([0.80, 0.80, 0.78, 0.65, 0.10, 0.08], np.float32)
CLOUD = np.array([0.45, 0.44, 0.42, 0.45, 0.35, 0.25], np.float32)
HAZE = np.array([0.12, 0.09, 0.07, 0.03, 0.01, 0.005], np.float32)  # path radiance per unit haze
GRASS, EVERGREEN, DECIDUOUS, CROP = 0, 1, 2, 3
PIXEL_HA = 0.01


@dataclass
class Cube:
    """A generated cube: static landscape and truth; scenes generated on demand by ``scene(t)``."""

    size: int
    days: list[date]
    cover: np.ndarray          # land cover class per pixel
    clearing: np.ndarray       # clearing id per pixel (0: none)
    cut_day: np.ndarray        # day index (days since start) the pixel is cleared; 32767: never
    regrow_days: np.ndarray    # days for a cleared pixel to regrow to half cover
    crop_phase: np.ndarray     # crop calendar phase (days)
    seed: int
    start: date
    monitor_from: date         # clearings happen on or after this day
    stats: dict = field(default_factory=dict)  # rim/haze share of clear observations, filled by scene()

    @property
    def forest(self) -> np.ndarray:
        """The forest layer as a user would give it: forest at the start (evergreen and deciduous)."""
        return (self.cover == EVERGREEN) | (self.cover == DECIDUOUS)

    def scene(self, t: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Bands (reflectance, float32) and SCL of date ``t``."""
        rng = np.random.default_rng([self.seed, t])
        n = self.size
        day = (self.days[t] - self.start).days
        doy = self.days[t].timetuple().tm_yday
        winter = 0.5 + 0.5 * np.cos(2 * np.pi * (doy - 15) / 365.25)  # 1 mid-January, 0 mid-July
        # Vegetation cover per pixel and the leaf-off share of deciduous canopy.
        veg = np.full((n, n), 0.55, np.float32)
        veg += np.float32(0.1 * np.cos(2 * np.pi * (doy - 200) / 365.25))  # grassland greens in summer
        leaf_off = np.zeros((n, n), np.float32)
        ev, de, cr = self.cover == EVERGREEN, self.cover == DECIDUOUS, self.cover == CROP
        veg[ev] = 0.97 - 0.03 * winter
        veg[de] = 0.97
        leaf_off[de] = np.clip(winter * 1.5 - 0.35, 0, 1) ** 1.5  # leafless from December to early March
        growth = ((day + self.crop_phase[cr]) % 182) / 182.0  # two crops a year, bare after harvest
        veg[cr] = np.where(growth < 0.15, 0.05, np.clip((growth - 0.15) * 1.6, 0, 0.92))
        cut = self.cut_day <= day
        since = (day - self.cut_day[cut]).astype(np.float32)
        veg[cut] = 0.05 + 0.9 * since / (since + self.regrow_days[cut])  # regrowth after the clearing
        leaf_off[cut] = 0
        veg += rng.normal(0, 0.015, (n, n)).astype(np.float32)
        veg = np.clip(veg, 0, 1)
        canopy = (1 - leaf_off)[..., None] * VEG + leaf_off[..., None] * LEAF_OFF
        refl = veg[..., None] * canopy + (1 - veg)[..., None] * SOIL
        scl = np.where(veg > 0.5, 4, 5).astype(np.uint8)

        # Snow on winter dates: thick snow is marked, patchy snow is not.
        if winter > 0.85 and rng.random() < 0.5:
            snow = np.clip(_field(rng, n, 24) * 1.6 - 0.3, 0, 1).astype(np.float32)
            refl = (1 - snow)[..., None] * refl + snow[..., None] * SNOW
            scl[snow > 0.45] = 11

        # Clouds, their unmasked rims and the haze near them.
        cover = rng.choice([0.0, 0.05, 0.15, 0.3, 0.5], p=[0.3, 0.25, 0.2, 0.15, 0.1])
        cloud = np.zeros((n, n), bool)
        rim = np.zeros((n, n), np.float32)
        haze = np.zeros((n, n), np.float32)
        if cover > 0:
            f = _field(rng, n, 16)
            cloud = f > np.quantile(f, 1 - cover)
            dist = ndimage.distance_transform_edt(~cloud)
            width = rng.uniform(2, 8)
            alpha = rng.uniform(0.12, 0.45)  # NDVI lowered by ~10-50% over forest
            rim = np.where((dist > 0) & (dist <= width), alpha * (1 - (dist - 1) / width * 0.5), 0).astype(np.float32)
            patches = _field(rng, n, 8) > 0.75
            haze = np.where(patches & (dist > width) & (dist < 40), rng.uniform(0.4, 1.4), 0).astype(np.float32)
            # The shadow lies displaced from its cloud; SCL marks only its core.
            dy, dx = rng.integers(8, 30, 2) * rng.choice([-1, 1], 2)
            shadow = np.roll(cloud, (dy, dx), axis=(0, 1)) & ~cloud
            refl[shadow] = refl[shadow] * 0.35 + np.array([0.02, 0.015, 0.01, 0.01, 0.005, 0.003], np.float32)
            scl[ndimage.binary_erosion(shadow, iterations=2)] = 3
            refl = (1 - rim)[..., None] * refl + rim[..., None] * CLOUD
            refl = refl * (1 - 0.08 * haze)[..., None] + haze[..., None] * HAZE
            refl[cloud] = CLOUD * rng.uniform(0.9, 1.3)
            scl[cloud] = rng.choice([8, 9])
        if rng.random() < 0.1:  # thin cirrus over part of the scene, marked
            cirrus = _field(rng, n, 32) > 0.7
            refl[cirrus] = refl[cirrus] * 0.85 + 0.05
            scl[cirrus & ~cloud] = 10
        refl *= rng.normal(1, 0.02, (n, n, 1)).astype(np.float32)  # sensor and correction noise
        refl = np.clip(refl, 0.0001, 1)
        clear = ~np.isin(scl, (3, 8, 9, 10, 11))
        self.stats.setdefault("clear", 0)
        self.stats["clear"] += int(clear.sum())
        self.stats["leaked"] = self.stats.get("leaked", 0) + int((clear & ((rim > 0) | (haze > 0))).sum())
        return {b: np.ascontiguousarray(refl[..., k]) for k, b in enumerate(BANDS)}, scl


def _field(rng: np.random.Generator, n: int, scale: int) -> np.ndarray:
    """Smooth random field in [0, 1] with features about ``scale`` px across."""
    low = rng.random((n // scale + 2, n // scale + 2))
    f = ndimage.zoom(ndimage.gaussian_filter(low, 1.0), scale, order=1)[:n, :n]
    return (f - f.min()) / max(np.ptp(f), 1e-9)


def make_cube(size: int = 1000, n_dates: int = 66, n_clearings: int = 300, seed: int = 15,
              start: date = date(2022, 1, 3)) -> Cube:
    """A cube of ``size`` × ``size`` px on ``n_dates`` dates over two years, clearings in the second year."""
    rng = np.random.default_rng(seed)
    step = 730 / n_dates
    days = [start + timedelta(days=round(i * step)) for i in range(n_dates)]
    f = _field(rng, size, 64)
    g = _field(rng, size, 48)
    cover = np.full((size, size), GRASS, np.uint8)
    forest = f > 0.45
    cover[forest & (g > 0.5)] = EVERGREEN
    cover[forest & (g <= 0.5)] = DECIDUOUS
    # Crop fields along the forest edge: 20x30 px plots just outside it.
    edge = ndimage.binary_dilation(forest, iterations=25) & ~forest
    crop_phase = np.zeros((size, size), np.int32)
    placed = 0
    for _ in range(size * size // 200):
        if placed >= size * size // 4000:
            break
        i, j = rng.integers(0, size - 30, 2)
        if edge[i + 10, j + 15]:
            placed += 1
            plot = (slice(i, i + 20), slice(j, j + 30))
            cover[plot] = np.where(forest[plot], cover[plot], CROP)
            crop_phase[plot] = rng.integers(0, 182)
    clearing = np.zeros((size, size), np.int32)
    cut_day = np.full((size, size), 32767, np.int32)
    regrow = np.full((size, size), 1.0, np.float32)
    monitor_from = start + timedelta(days=400)
    inner = ndimage.binary_erosion(forest, iterations=3)
    k = 0
    attempts = 0
    while k < n_clearings and attempts < n_clearings * 50:
        attempts += 1
        area_px = np.exp(rng.uniform(np.log(10), np.log(2000)))  # 0.1-20 ha
        a = np.sqrt(area_px / np.pi) * rng.uniform(0.7, 1.4)
        b = area_px / (np.pi * a)
        ci, cj = rng.integers(int(a + b) + 2, size - int(a + b) - 2, 2)
        r = int(max(a, b)) + 2
        ii, jj = np.mgrid[-r:r + 1, -r:r + 1]
        theta = rng.uniform(0, np.pi)
        u = ii * np.cos(theta) + jj * np.sin(theta)
        v = -ii * np.sin(theta) + jj * np.cos(theta)
        shape = (u / a) ** 2 + (v / b) ** 2 <= 1
        rows, cols = ii[shape] + ci, jj[shape] + cj
        if not inner[rows, cols].all() or clearing[rows, cols].any():
            continue
        k += 1
        clearing[rows, cols] = k
        cut_day[rows, cols] = rng.integers(400, 660)
        regrow[rows, cols] = rng.uniform(60, 600)
    regrow_days = regrow
    return Cube(size, days, cover, clearing, cut_day, regrow_days, crop_phase, seed, start, monitor_from)


def indices(bands: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NDVI, NBR and NDMI of a scene's bands."""
    def nd(a, b):
        return (bands[a] - bands[b]) / (bands[a] + bands[b])
    return nd("B08", "B04"), nd("B08", "B12"), nd("B08", "B11")


@dataclass
class Scores:
    recall: float
    precision: float
    median_delay_obs: float
    median_delay_days: float
    alerts_ha: float
    false_ha: float
    recall_seen3: float | None = None  # recall over the clearing pixels seen clear 3 times or more after the cut

    def line(self, name: str) -> str:
        seen3 = "" if self.recall_seen3 is None else f" (seen 3+ times after the cut: {self.recall_seen3:.3f})"
        return (f"{name:<12} recall={self.recall:.3f}{seen3} precision={self.precision:.3f} "
                f"median_delay={self.median_delay_obs:.1f} obs ({self.median_delay_days:.0f} days) "
                f"alerts={self.alerts_ha:.1f} ha false={self.false_ha:.1f} ha")


def evaluate(cube: Cube, alert: np.ndarray, delay_obs: np.ndarray, delay_days: np.ndarray,
             min_px: int = 30) -> Scores:
    """Area-weighted recall and precision of alert patches of at least ``min_px`` pixels (0.3 ha) against the
    clearings of at least that size, and the median delay of the detected clearing pixels (valid observations
    after the first one following the cut, and days from the cut). Once ``run_forestmon`` has counted how often
    each pixel was seen clear (SCL) after its cut, also the recall over the pixels seen 3 times or more: a
    clearing cut just before the series ends cannot be confirmed by a rule that asks for three observations."""
    labels, n = ndimage.label(alert, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    kept = (sizes[labels] >= min_px) & (labels > 0)
    sizes_cl = np.bincount(cube.clearing.ravel())
    truth = (cube.clearing > 0) & (sizes_cl[cube.clearing] >= min_px)
    hit = kept & truth
    recall = hit.sum() / max(truth.sum(), 1)
    precision = (kept & (cube.clearing > 0)).sum() / max(kept.sum(), 1)
    seen = cube.stats.get("seen_after_cut")
    seen3 = None if seen is None else float((kept & truth & (seen >= 3)).sum() / max((truth & (seen >= 3)).sum(), 1))
    return Scores(float(recall), float(precision), float(np.nanmedian(delay_obs[hit])) if hit.any() else np.nan,
                  float(np.nanmedian(delay_days[hit])) if hit.any() else np.nan, float(kept.sum() * PIXEL_HA),
                  float((kept & (cube.clearing == 0)).sum() * PIXEL_HA), seen3)


def run_forestmon(cube: Cube, quality, params=None, forest: np.ndarray | None = None, *,
                  polygons: bool = False) -> tuple[np.ndarray, ...]:
    """forestmon's detector over the cube, one scene at a time as a run folds them: ``quality(bands, scl)``
    gives each scene's observation quality (0 unusable, 1 clear, 2 suspect). Returns the high-confidence alert
    pixels, their delay in valid observations and in days, and the share of ``forest`` watched at the end.

    ``polygons``: the alert pixels are those of the high-confidence alert polygons a run stores
    (``geo.detect.polygons.alert_polygons``: flagged pixels grouped with their neighbours, the group confirmed
    once a mappable share of it is), which is what rangers receive; else the pixels confirmed one by one. The
    delay is that of the pixels confirmed one by one (NaN for the others)."""
    from geo import cloudmask, detect

    params = params or detect.DetectorParams()
    shape = (cube.size, cube.size)
    state = detect.new_state(shape)
    n_valid = np.zeros(shape, np.int16)
    at_cut = np.full(shape, -1, np.int16)
    at_confirm = np.full(shape, -1, np.int16)
    confirm_day = np.zeros(shape, np.int32)
    seen_after = np.zeros(shape, np.int16)  # clear in SCL on or after the cut: the same count for every detector
    for t, day in enumerate(cube.days):
        bands, scl = cube.scene(t)
        q = quality(bands, scl)
        seen_after += (cube.cut_day <= (day - cube.start).days) & cloudmask.scl_clear_mask(scl, buffer_px=0)
        ndvi, nbr, ndmi = indices(bands)
        d = (day - cube.start).days
        just_cut = (cube.cut_day <= d) & (at_cut < 0)
        at_cut[just_cut] = n_valid[just_cut]
        n_valid += q > 0
        detect.update(state, day, ndvi, q, nbr, params, forest, ndmi)
        new = (state["status"] >= detect.HIGH) & (at_confirm < 0)
        at_confirm[new] = n_valid[new]
        confirm_day[new] = d
    cube.stats["seen_after_cut"] = seen_after
    cube.stats["confirmed_pixels"] = state["status"] >= detect.HIGH
    alert = delivered_alerts(state) if polygons else cube.stats["confirmed_pixels"]
    delay_obs = np.where(at_confirm >= 0, at_confirm - at_cut - 1, np.nan).astype(np.float32)
    delay_days = np.where(at_confirm >= 0, confirm_day - cube.cut_day, np.nan).astype(np.float32)
    watched = state["ready_day"] != 0
    if forest is None:
        watched &= state["stable"] != 0
    share = float((watched & cube.forest).sum() / max(cube.forest.sum(), 1))
    return alert, delay_obs, delay_days, share


def delivered_alerts(state) -> np.ndarray:
    """The pixels of the high-confidence alert polygons a detector state (``geo.detect.State``) makes, as a run
    stores them."""
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    from geo.detect.model import CONFIDENCE_NAMES, HIGH, HIGHEST
    from geo.detect.polygons import alert_pixels, alert_polygons

    shape = state.shape
    transform = from_origin(0, shape[0] * 10.0, 10.0, 10.0)
    alerts = alert_polygons(None, transform, "EPSG:32648", pixels=alert_pixels(state))
    high = alerts[alerts["confidence"].isin([CONFIDENCE_NAMES[HIGH], CONFIDENCE_NAMES[HIGHEST]])]
    if high.empty:
        return np.zeros(shape, bool)
    return rasterize(high.geometry, out_shape=shape, transform=transform, fill=0, default_value=1,
                     dtype="uint8").astype(bool)


def run_nrt(cube: Cube, forest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The JRC ``nrt`` package's CCDC (trend=False, so fitted by OLS after its RIRLS outlier screen) on the same
    cube: fitted on the first year's clear observations (SCL classes 4, 5, 7 as in its documentation), then
    monitoring each later date. Returns confirmed breaks, their delay in valid observations and in days."""
    import pandas as pd
    import xarray as xr
    from nrt.monitor.ccdc import CCDC

    n = cube.size
    hist = [t for t, d in enumerate(cube.days) if d < cube.monitor_from]
    ndvi_h = np.full((len(hist), n, n), np.nan, np.float32)
    green_h = np.full((len(hist), n, n), np.nan, np.float32)
    swir_h = np.full((len(hist), n, n), np.nan, np.float32)
    for k, t in enumerate(hist):
        bands, scl = cube.scene(t)
        ok = np.isin(scl, (4, 5, 7))
        ndvi_h[k][ok] = indices(bands)[0][ok]
        green_h[k][ok], swir_h[k][ok] = bands["B03"][ok], bands["B11"][ok]
    coords = {"time": pd.to_datetime([cube.days[t] for t in hist]), "y": np.arange(n)[::-1] * 10.0 + 5,
              "x": np.arange(n) * 10.0 + 5}
    da = lambda a: xr.DataArray(a, coords=coords, dims=("time", "y", "x"))  # noqa: E731
    monitor = CCDC(trend=False, mask=forest.astype(np.uint8))
    monitor.fit(da(ndvi_h), method="OLS", green=da(green_h), swir=da(swir_h))  # CCDC-stable needs a trend
    del ndvi_h, green_h, swir_h
    n_valid = np.zeros((n, n), np.int16)
    at_cut = np.full((n, n), -1, np.int16)
    at_confirm = np.full((n, n), -1, np.int16)
    confirm_day = np.zeros((n, n), np.int32)
    for t in range(len(hist), len(cube.days)):
        bands, scl = cube.scene(t)
        ok = np.isin(scl, (4, 5, 7))
        ndvi = np.where(ok, indices(bands)[0], np.nan)
        d = (cube.days[t] - cube.start).days
        just_cut = (cube.cut_day <= d) & (at_cut < 0)
        at_cut[just_cut] = n_valid[just_cut]
        n_valid += ok
        monitor.monitor(array=ndvi, date=datetime.combine(cube.days[t], time()))
        new = (monitor.mask == 3) & (at_confirm < 0)
        at_confirm[new] = n_valid[new]
        confirm_day[new] = d
    alert = monitor.mask == 3
    return alert, (at_confirm - at_cut - 1).astype(np.float32), (confirm_day - cube.cut_day).astype(np.float32)
