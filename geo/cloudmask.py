"""Which pixels of an acquisition are clear land, and how far to trust them: cloud, cirrus, shadow, snow and
no-data removed from the SCL band (or Landsat's QA bits, or a spectral screen), and the observations that
masks typically miss marked *suspect*: near a masked cloud or shadow on the same date (unmasked rims and
haze), hazy themselves (HOT), or snow-like (red as bright as SWIR-1)."""

from __future__ import annotations

import numba
import numpy as np

# Sentinel-2 L2A scene classification (SCL) codes.
SCL_NO_DATA, SCL_SATURATED, SCL_DARK, SCL_CLOUD_SHADOW = 0, 1, 2, 3
SCL_VEGETATION, SCL_NOT_VEGETATED, SCL_WATER, SCL_UNCLASSIFIED = 4, 5, 6, 7
SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_THIN_CIRRUS, SCL_SNOW = 8, 9, 10, 11

SCL_CLOUDY = (SCL_CLOUD_SHADOW, SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_THIN_CIRRUS)
SCL_UNUSABLE = (SCL_NO_DATA, SCL_SATURATED, SCL_SNOW)

# Real SCL masks miss cloud and shadow edges; widen them by this many pixels (30-40 m) before use.
DEFAULT_BUFFER_PX = 4


def scl_clear_mask(scl: np.ndarray, buffer_px: int = DEFAULT_BUFFER_PX) -> np.ndarray:
    """True where the pixel is observed and free of cloud, cirrus and shadow (with a safety buffer of
    ``buffer_px`` 4-connected steps around them, as ``scipy.ndimage.binary_dilation(cloudy, iterations=k)``)."""
    scl = np.asarray(scl, dtype=np.uint8)
    if scl.ndim > 2:
        raise ValueError(f"an SCL band is a 2-D array, not {scl.ndim}-D")
    plane = np.ascontiguousarray(scl.reshape(1, -1) if scl.ndim < 2 else scl)  # a line of pixels is one row
    return _clear_mask(plane, max(int(buffer_px), 0), _CLOUDY_LUT, _UNUSABLE_LUT).reshape(scl.shape)


_CLOUDY_LUT = np.isin(np.arange(256), SCL_CLOUDY)
_UNUSABLE_LUT = np.isin(np.arange(256), SCL_UNUSABLE)
_NOTHING_LUT = np.zeros(256, dtype=bool)

# Pixel size of each sensor's own cloud mask: Sentinel-2's SCL is made at 20 m, Landsat's QA_PIXEL at 30 m.
MASK_RESOLUTION_M = {"Sentinel-2": 20.0, "Landsat": 30.0}


def mask_resolution_m(sensor: str, fallback: float) -> float:
    """The pixel size (m) of the cloud mask a ``sensor`` ships ("Landsat-9", "Sentinel-2 (SYNTHETIC)"...);
    ``fallback`` (the grid's) for a sensor not known here, whose mask was made on the grid."""
    return next((m for name, m in MASK_RESOLUTION_M.items() if sensor.startswith(name)), fallback)


def buffer_px(buffer_m: float, resolution: float) -> int:
    """A buffer in metres as whole grid pixels of ``resolution`` m, at least the distance asked for."""
    return max(int(np.ceil(buffer_m / resolution - 1e-9)), 0)


def near_cloud(scl: np.ndarray, within_px: int) -> np.ndarray:
    """True where a cloud, cirrus or shadow pixel lies within ``within_px`` city-block steps (itself included)."""
    scl = np.asarray(scl, dtype=np.uint8)
    plane = np.ascontiguousarray(scl.reshape(1, -1) if scl.ndim < 2 else scl)
    return ~_clear_mask(plane, max(int(within_px), 0), _CLOUDY_LUT, _NOTHING_LUT).reshape(scl.shape)


@numba.njit(cache=True, nogil=True)
def _cloud_distance(scl: np.ndarray, cloudy: np.ndarray, cap: int) -> np.ndarray:
    """City-block steps from each pixel to the nearest cloudy one (at most ``cap``): a two-pass distance
    transform, so the cost is linear in pixels whatever the distance asked about."""
    h, w = scl.shape
    far = h + w + cap + 1
    dist = np.empty((h, w), dtype=np.int32)
    for i in range(h):
        for j in range(w):
            d = 0 if cloudy[scl[i, j]] else far
            if i > 0:
                d = min(d, dist[i - 1, j] + 1)
            if j > 0:
                d = min(d, dist[i, j - 1] + 1)
            dist[i, j] = d
    for i in range(h - 1, -1, -1):
        for j in range(w - 1, -1, -1):
            d = dist[i, j]
            if i < h - 1:
                d = min(d, dist[i + 1, j] + 1)
            if j < w - 1:
                d = min(d, dist[i, j + 1] + 1)
            dist[i, j] = d
    return dist


@numba.njit(cache=True, nogil=True)
def _clear_mask(scl: np.ndarray, k: int, cloudy: np.ndarray, unusable: np.ndarray) -> np.ndarray:
    """Clear pixels: not unusable and further than ``k`` city-block steps from a cloudy one."""
    dist = _cloud_distance(scl, cloudy, k)
    h, w = scl.shape
    out = np.empty((h, w), dtype=np.bool_)
    for i in range(h):
        for j in range(w):
            out[i, j] = dist[i, j] > k and not unusable[scl[i, j]]
    return out


# Observation quality codes (``observation_quality``): what the detector reads for each pixel of a scene.
UNUSABLE, CLEAR, SUSPECT, SPECTRAL_SUSPECT = 0, 1, 2, 3
# Observations this many pixels (10 m) or fewer from a masked cloud or shadow on their date are suspect:
# masks miss rims a few pixels wide and haze a few hundred metres around clouds.
NEAR_CLOUD_PX = 30
# Haze optimised transform (Zhang et al. 2002), HOT = blue - 0.5 red - HOT_OFFSET: clear land lies below 0
# (forest about -0.065, bare soil -0.06 to -0.08); haze and thin cloud raise blue more than red.
HOT_OFFSET = 0.08
HOT_HAZY = -0.045


def observation_quality(scl: np.ndarray, blue: np.ndarray | None = None, red: np.ndarray | None = None,
                        swir1: np.ndarray | None = None, buffer_px: int = DEFAULT_BUFFER_PX,
                        near_px: int = NEAR_CLOUD_PX, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """Per pixel: UNUSABLE (no data, masked, or within ``buffer_px`` of a masked cloud or shadow), SUSPECT (within
    ``near_px`` of one), SPECTRAL_SUSPECT (hazy by the HOT test when blue and red are given; red at least as
    bright as SWIR-1, as in snow and cloud but not in vegetation or soil, when both are given) or CLEAR.
    The detector judges suspect observations with a stricter test (``geo.detect.kernels``) and does not learn
    spectrally suspect ones. Bands: reflectance 0-1, or digital numbers with reflectance = DN × ``scale`` +
    ``offset`` (0 = no data)."""
    scl = np.asarray(scl, dtype=np.uint8)
    if scl.ndim != 2:
        raise ValueError(f"an SCL band is a 2-D array, not {scl.ndim}-D")
    q = _quality(np.ascontiguousarray(scl), max(int(buffer_px), 0), max(int(near_px), int(buffer_px), 0),
                 _CLOUDY_LUT, _UNUSABLE_LUT)
    def refl(band: np.ndarray) -> np.ndarray:
        band = np.asarray(band)
        return band * np.float32(scale) + np.float32(offset) if (scale, offset) != (1.0, 0.0) else band

    bands = [np.asarray(b) for b in (blue, red, swir1) if b is not None]
    if bands and (scale, offset) != (1.0, 0.0) and all(b.dtype == np.uint16 and b.shape == q.shape for b in bands):
        # digital numbers (a detection run's scenes): both tests in one pass, no temporary arrays
        none = np.zeros((1, 1), np.uint16)
        _spectral(q, none if blue is None else blue, none if red is None else red, none if swir1 is None else swir1,
                  blue is not None and red is not None, red is not None and swir1 is not None,
                  np.float32(scale), np.float32(offset), np.float32(HOT_OFFSET), np.float32(HOT_HAZY))
        return q
    with np.errstate(invalid="ignore"):
        if blue is not None and red is not None:  # HOT = blue - 0.5 red - offset, in reflectance
            hazy = refl(blue) - 0.5 * refl(red) - np.float32(HOT_OFFSET) > np.float32(HOT_HAZY)
            q[hazy & (q != UNUSABLE)] = SPECTRAL_SUSPECT
        if red is not None and swir1 is not None:
            bright = (refl(red) >= refl(swir1)) & (np.asarray(swir1) != 0)
            q[bright & (q != UNUSABLE)] = SPECTRAL_SUSPECT
    return q


@numba.njit(cache=True, nogil=True)
def _spectral(q, blue, red, swir1, hot, bright, scale, offset, hot_offset, hot_hazy):
    """``observation_quality``'s haze (HOT) and brightness tests on digital numbers, in place on ``q``: the same
    float32 arithmetic as the array expressions."""
    half = np.float32(0.5)
    h, w = q.shape
    for i in range(h):
        for j in range(w):
            if q[i, j] == 0:
                continue
            if hot:
                b = np.float32(blue[i, j]) * scale + offset
                r = np.float32(red[i, j]) * scale + offset
                if b - half * r - hot_offset > hot_hazy:
                    q[i, j] = 3
                    continue
            if bright and swir1[i, j] != 0:
                if np.float32(red[i, j]) * scale + offset >= np.float32(swir1[i, j]) * scale + offset:
                    q[i, j] = 3


@numba.njit(cache=True, nogil=True)
def _quality(scl: np.ndarray, k: int, near: int, cloudy: np.ndarray, unusable: np.ndarray) -> np.ndarray:
    """Quality codes from the city-block distance to the nearest cloudy pixel: 0 within ``k`` or unusable, 2
    within ``near``, else 1."""
    dist = _cloud_distance(scl, cloudy, near)
    h, w = scl.shape
    out = np.empty((h, w), dtype=np.uint8)
    for i in range(h):
        for j in range(w):
            d = dist[i, j]
            if d <= k or unusable[scl[i, j]]:
                out[i, j] = 0
            elif d <= near:
                out[i, j] = 2
            else:
                out[i, j] = 1
    return out


# s2cloudless's own threshold on its cloud probability (its CLM is this, averaged over 4 px and dilated by 2).
CLOUD_PROBABILITY_THRESHOLD = 0.4


def fold_clouds(scl: np.ndarray, cloudy: np.ndarray) -> np.ndarray:
    """``scl`` (in place) with the pixels another cloud detector calls cloudy (``cloudy``, a boolean array) marked
    cloud of medium probability where the scene classification had them observed and free of cloud or shadow."""
    scl[cloudy & ~_CLOUDY_LUT[scl] & (scl != SCL_NO_DATA)] = SCL_CLOUD_MEDIUM
    return scl


def cloud_fraction(scl: np.ndarray) -> float:
    """Share of observed pixels marked cloud, cirrus or shadow (0-1); 1.0 when nothing is observed."""
    observed = scl != SCL_NO_DATA
    n = int(observed.sum())
    return float(np.isin(scl[observed], SCL_CLOUDY).sum() / n) if n else 1.0


# Landsat Collection 2 QA_PIXEL bits (USGS Landsat 8-9 C2 L2 Science Product Guide).
QA_FILL, QA_DILATED_CLOUD, QA_CIRRUS, QA_CLOUD, QA_CLOUD_SHADOW, QA_SNOW, QA_CLEAR, QA_WATER = range(8)
QA_CLOUD_CONFIDENCE_SHIFT = 8  # bits 8-9: cloud confidence, 3 = high


def qa_pixel_to_scl(qa: np.ndarray) -> np.ndarray:
    """Landsat QA_PIXEL as SCL codes, so one clear-mask rule serves every sensor.

    Fill -> no data; cloud -> high (high confidence) or medium cloud; dilated cloud -> medium cloud;
    shadow -> cloud shadow; cirrus -> thin cirrus; snow -> snow; water -> water; anything else -> unclassified.
    """
    qa = qa.astype(np.uint16)

    def bit(b: int) -> np.ndarray:
        return ((qa >> b) & 1).astype(bool)

    scl = np.full(qa.shape, SCL_UNCLASSIFIED, dtype=np.uint8)
    scl[bit(QA_WATER)] = SCL_WATER
    scl[bit(QA_SNOW)] = SCL_SNOW
    scl[bit(QA_CIRRUS)] = SCL_THIN_CIRRUS
    scl[bit(QA_CLOUD_SHADOW)] = SCL_CLOUD_SHADOW
    scl[bit(QA_DILATED_CLOUD)] = SCL_CLOUD_MEDIUM
    cloud = bit(QA_CLOUD)
    high = ((qa >> QA_CLOUD_CONFIDENCE_SHIFT) & 3) == 3
    scl[cloud] = np.where(high[cloud], SCL_CLOUD_HIGH, SCL_CLOUD_MEDIUM)
    scl[bit(QA_FILL)] = SCL_NO_DATA
    return scl


# Spectral screen thresholds (surface reflectance, 0-1) for imagery without a mask band.
BRIGHT_VISIBLE = 0.25     # mean of blue, green, red above this, with bright SWIR1: thick cloud
BRIGHT_SWIR1 = 0.15
HAZY_BLUE = 0.13          # blue above this (clear vegetation 0.02-0.05, bare soil ~0.09, town ~0.11): haze, thin cloud
DARK_NIR = 0.15           # NIR and SWIR1 this dark on land (green below NIR, so not water): cloud shadow
DARK_SWIR1 = 0.10
WATER_NIR = 0.10
VEGETATION_NDVI = 0.4


def spectral_scl(blue: np.ndarray, green: np.ndarray, red: np.ndarray, nir: np.ndarray,
                 swir1: np.ndarray) -> np.ndarray:
    """A cloud-and-shadow screen from reflectance alone, as SCL codes, for imagery that has no mask band.

    Bright white pixels are cloud, blue-bright ones haze (medium cloud), dark land pixels (NIR and SWIR1 low,
    green below NIR) shadow; water, vegetation and bare land are told apart so the codes stay meaningful.
    Pixels with any band missing (NaN) are no data. Bright man-made surfaces (greenhouses) fall under cloud:
    they are never forest, so nothing is lost for detection.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        visible = (blue + green + red) / 3
        ndvi = (nir - red) / (nir + red)
        scl = np.where(ndvi >= VEGETATION_NDVI, SCL_VEGETATION, SCL_NOT_VEGETATED).astype(np.uint8)
        water = (green > nir) & (nir < WATER_NIR)
        scl[water] = SCL_WATER
        scl[(nir < DARK_NIR) & (swir1 < DARK_SWIR1) & ~water] = SCL_CLOUD_SHADOW
        scl[blue > HAZY_BLUE] = SCL_CLOUD_MEDIUM
        scl[(visible > BRIGHT_VISIBLE) & (swir1 > BRIGHT_SWIR1)] = SCL_CLOUD_HIGH
    missing = np.isnan(blue) | np.isnan(green) | np.isnan(red) | np.isnan(nir) | np.isnan(swir1)
    scl[missing] = SCL_NO_DATA
    return scl

