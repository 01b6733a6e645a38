"""Forest-loss detection: a per-pixel seasonal baseline and GLAD-style confirmation, updated one scene at a time.

Each pixel keeps a harmonic (annual) least-squares model of NDVI and NBR (and NDMI where SWIR-1 is seen):
value = b0 + b1·cos + b2·sin of the time of year, so the baseline knows the dry season. The model is kept as
the running means of its normal equations (the design's 1, cos, sin products and each index's y, y·cos,
y·sin), so a new observation is folded in without keeping the series, and the baseline is the exact
least-squares fit to the pixel's learned observations (weighted exponentially once there are more than
``memory_obs`` of them, so it follows slow change such as a growing plantation). The spread is the root mean
square of recent prediction errors. Observations that do not fit are not learned (robust by exclusion).
A clear observation that drops below the baseline beyond both an absolute and a robust (z) threshold is
*flagged*; the first flag makes the pixel a *low*-confidence alert, 2 flags among the next 4 valid
observations make it *high* (and *highest* when NBR or NDMI agrees), otherwise the flag expires after 4
observations or 180 days. Confirmed pixels are not alerted again. Only pixels whose own history says
"stable forest" (enough observations over most of a year, high and steady NDVI, few outliers), or that the
user's forest layer names, are monitored.

The state of a window is one numpy record array (``STATE_DTYPE``, 62 bytes a pixel: days and counters as
small integers, the means as int16 in units of 1/32000, spreads in units of 1e-5). The per-pixel step is
compiled with Numba (``nogil``, cached on disk): it reads each pixel's record once, decides, and writes it
back, so an update costs a few tens of nanoseconds a pixel and windows can be folded in parallel threads.
``update`` takes index arrays; ``update_dn`` takes the bands' digital numbers and computes NDVI, NBR and
NDMI on the fly.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass
from datetime import date

import numba
import numpy as np

EPOCH = date(1970, 1, 1)

# Per-pixel state. Day numbers are days since EPOCH (uint16 holds them until 2149); 0 means "none".
# Means (int16, units of MEAN_UNIT; every term lies in [-1, 1]): the design's cos, sin, cos², cos·sin (sin² is
# 1 - cos²) and, per index, y, y·cos, y·sin. Spreads (uint16, units of SD_UNIT).
STATE_DTYPE = np.dtype([
    ("last_day", "u2"), ("first_day", "u2"), ("last_learned", "u2"),  # newest observation; first, last learned
    ("flag_day", "u2"), ("before_day", "u2"), ("confirm_day", "u2"),  # first flag, last learned before it, high
    ("n", "u2"), ("ndmi_n", "u2"),                 # learned observations (NDMI counted apart: B11 is optional)
    ("n_valid", "u2"), ("n_outlier", "u2"),        # clear observations seen while idle, and those not learned
    ("flag_drop", "f4"),                           # sum of the flagged observations' NDVI drops
    ("mc", "i2"), ("ms", "i2"), ("mcc", "i2"), ("mcs", "i2"),
    ("ndvi_y", "i2"), ("ndvi_yc", "i2"), ("ndvi_ys", "i2"), ("ndvi_sd", "u2"),
    ("nbr_y", "i2"), ("nbr_yc", "i2"), ("nbr_ys", "i2"), ("nbr_sd", "u2"),
    ("ndmi_y", "i2"), ("ndmi_yc", "i2"), ("ndmi_ys", "i2"), ("ndmi_sd", "u2"),
    ("status", "u1"),                              # 0 none, 1 low (pending), 2 high, 3 highest
    ("watched", "u1"),                             # 1 if judged forest at the newest clear observation
    ("flag_after", "u1"), ("flag_hits", "u1"), ("flag_nbr_hits", "u1"),  # nbr_hits: NBR or NDMI agreed
    ("pad", "u1"),
])
MEAN_UNIT, SD_UNIT = 1 / 32000, 1e-5
STATE_BANDS = tuple(name for name in STATE_DTYPE.names if name != "pad")
NONE, LOW, HIGH, HIGHEST = 0, 1, 2, 3
CONFIDENCE_NAMES = {LOW: "low", HIGH: "high", HIGHEST: "highest"}


@dataclass(frozen=True)
class DetectorParams:
    """Thresholds of the detector; defaults tuned on the demo scenario and documented in the README."""

    abs_drop: float = 0.15        # NDVI (and NBR) must fall at least this far below the baseline...
    z_drop: float = 4.0           # ...and at least this many residual standard deviations
    rel_drop: float = 0.2         # ...and by at least this fraction of the baseline value
    sigma_floor: float = 0.025    # smallest spread assumed for a pixel
    min_obs: int = 12             # learned observations before a pixel is monitored
    min_span_days: int = 300      # ...spanning most of a year, so the seasonal cycle is known
    confirm_hits: int = 2         # flags among the next `confirm_window` valid observations for "high"
    confirm_window: int = 4
    expire_days: int = 180
    forest_min_ndvi: float = 0.6  # stable forest: mean NDVI at least this,
    forest_min_season: float = 0.45  # seasonal low at least this,
    forest_max_sigma: float = 0.08   # residual spread at most this,
    forest_max_outliers: float = 0.2  # and at most this share of observations not fitting the baseline
    outlier_z: float = 4.0        # observations further than this from the baseline are not learned
    warmup_obs: int = 6           # every clear observation is learned until the pixel has this many
    memory_obs: int = 60          # the baseline's memory, in learned observations (about two years)
    spread_memory_obs: int = 20   # the spread's memory: early errors, made before the season was learned, fade

    def as_tuple(self) -> tuple[float, ...]:
        """The thresholds in field order, as the compiled step reads them (a tuple: passed by value)."""
        return tuple(float(v) for v in astuple(self))


# Positions in DetectorParams.as_tuple().
(_ABS, _Z, _REL, _FLOOR, _MIN_OBS, _MIN_SPAN, _HITS, _WINDOW, _EXPIRE, _F_NDVI, _F_SEASON, _F_SIGMA, _F_OUT,
 _OUT_Z, _WARMUP, _MEMORY, _SD_MEMORY) = range(17)


def day_number(day: date) -> int:
    return (day - EPOCH).days


def from_day_number(n: float) -> date:
    return date.fromordinal(EPOCH.toordinal() + int(n))


def new_state(shape: tuple[int, int]) -> np.ndarray:
    """A window's state with no history: one zeroed record per pixel."""
    return np.zeros(shape, dtype=STATE_DTYPE)


def _harmonics(day: int) -> tuple[float, float]:
    angle = 2 * np.pi * day / 365.25
    return float(np.cos(angle)), float(np.sin(angle))


_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_jit
def _design(n, mc, ms, mcc, mcs):
    """The six distinct entries of the inverse of the normal matrix A = [[1, c̄, s̄], [c̄, cc̄, cs̄], [s̄, cs̄, 1 − cc̄]]
    of one pixel's learned days (means), shared by its indices. A small ridge keeps it invertible for pixels
    with little history (it mostly shrinks the harmonics)."""
    u = MEAN_UNIT
    ridge = 1e-3 / np.maximum(n, 1.0)  # (np.maximum: also compiles for whole arrays, see ``baseline``)
    a00, a01, a02 = 1.0 + 1e-6 / np.maximum(n, 1.0), mc * u, ms * u
    a11, a12, a22 = mcc * u + ridge, mcs * u, 1.0 - mcc * u + ridge
    c00, c01, c02 = a11 * a22 - a12 * a12, a02 * a12 - a01 * a22, a01 * a12 - a02 * a11
    c11, c12, c22 = a00 * a22 - a02 * a02, a01 * a02 - a00 * a12, a00 * a11 - a01 * a01
    inv_det = 1.0 / (a00 * c00 + a01 * c01 + a02 * c02)
    return c00 * inv_det, c01 * inv_det, c02 * inv_det, c11 * inv_det, c12 * inv_det, c22 * inv_det


@_jit
def _fit(inv, my, myc, mys, c, sn):
    """Least-squares baseline of one index at (cos, sin) = (c, sn) and its coefficients: β = A⁻¹·b with
    b = (ȳ, y·cos‾, y·sin‾), the index's running means."""
    i00, i01, i02, i11, i12, i22 = inv
    b0, b1, b2 = my * MEAN_UNIT, myc * MEAN_UNIT, mys * MEAN_UNIT
    beta0 = i00 * b0 + i01 * b1 + i02 * b2
    beta1 = i01 * b0 + i11 * b1 + i12 * b2
    beta2 = i02 * b0 + i12 * b1 + i22 * b2
    return beta0 + beta1 * c + beta2 * sn, beta0, beta1, beta2


@_jit
def _sigma(sd, count):
    """The spread of a model; infinite (nothing is flagged) until it has learned more than three observations."""
    return math.inf if count <= 3 else sd * SD_UNIT


@_jit
def _mean_step(m, v, inv_k):
    """A running mean (int16, units of MEAN_UNIT) moved towards ``v`` as the k-th value (inv_k = 1/k)."""
    return min(max(math.floor(m + (v * (1 / MEAN_UNIT) - m) * inv_k + 0.5), -32767), 32767)


@_jit
def _spread_step(sd, e, inv_count):
    """The root mean square of recent prediction errors after one more error ``e`` (inv_count = 1/the number
    of errors it averages; 0 for the first observation, which has no error)."""
    var = (sd * SD_UNIT) ** 2
    var += (e * e - var) * inv_count
    return min(math.floor(math.sqrt(var) * (1 / SD_UNIT) + 0.5), 65535)


@_jit
def _flags_drop(pred, sigma, y, p):
    """True when ``y`` is below the baseline ``pred`` by the absolute and the robust (z) threshold."""
    return pred - y >= max(p[_ABS], p[_Z] * max(sigma, p[_FLOOR]))


@_jit
def _reset_flag(r):
    r.status = NONE
    r.flag_day = 0
    r.flag_after = 0
    r.flag_hits = 0
    r.flag_nbr_hits = 0
    r.flag_drop = 0.0
    r.before_day = 0


@_jit
def _step(r, d, c, sn, y, y_nbr, has_nbr, y_ndmi, has_ndmi, forest, has_forest, p):
    """Fold one clear observation (NDVI ``y``; NBR and NDMI when present) into one pixel's record ``r``.

    Returns 1 when the pixel's alert status changed (started, confirmed or expired), else 0.
    """
    r.last_day = d
    n = float(r.n)
    inv = _design(n, r.mc, r.ms, r.mcc, r.mcs)
    pred, beta0, beta1, beta2 = _fit(inv, r.ndvi_y, r.ndvi_yc, r.ndvi_ys, c, sn)
    sigma = _sigma(r.ndvi_sd, n)
    drop = pred - y
    sig = max(sigma, p[_FLOOR])
    flagged = drop >= max(p[_ABS], p[_Z] * sig) and y <= pred * (1 - p[_REL])
    second = False  # the second, independent index agrees (NBR; or NDMI where SWIR-1 was always seen)
    learn_now = r.status == NONE or d - float(r.flag_day) > p[_EXPIRE]
    pred_nbr = pred_ndmi = 0.0
    if has_nbr and (flagged or learn_now):
        pred_nbr = _fit(inv, r.nbr_y, r.nbr_yc, r.nbr_ys, c, sn)[0]
        second = flagged and _flags_drop(pred_nbr, _sigma(r.nbr_sd, n), y_nbr, p)
    ndmi_whole = has_ndmi and not math.isnan(y_ndmi) and r.ndmi_n == r.n
    if ndmi_whole and (flagged or learn_now):
        pred_ndmi = _fit(inv, r.ndmi_y, r.ndmi_yc, r.ndmi_ys, c, sn)[0]
        second = second or (flagged and _flags_drop(pred_ndmi, _sigma(r.ndmi_sd, n), y_ndmi, p))

    ready = n >= p[_MIN_OBS] and d - float(r.first_day) >= p[_MIN_SPAN]
    if has_forest:
        watched = forest != 0 and ready
    else:  # stable forest by its own history: high and steady NDVI through the seasons, few outliers
        amplitude = math.sqrt(beta1 * beta1 + beta2 * beta2)  # (math.hypot is a slow libm call)
        watched = (ready and beta0 >= p[_F_NDVI] and beta0 - amplitude >= p[_F_SEASON] and sigma <= p[_F_SIGMA]
                   and r.n_outlier / max(float(r.n_valid), 1.0) <= p[_F_OUT])
    r.watched = 1 if watched else 0  # the verdict at the pixel's newest clear observation, for coverage

    changed = 0
    status = r.status
    expired = status == LOW and d - float(r.flag_day) > p[_EXPIRE]
    if status == LOW and not expired:  # pending: count this observation towards confirmation
        r.flag_after += 1
        if flagged:
            r.flag_hits += 1
            r.flag_drop += drop
            if second:
                r.flag_nbr_hits += 1
        if r.flag_hits >= p[_HITS]:
            r.status = HIGHEST if r.flag_nbr_hits >= p[_HITS] else HIGH
            r.confirm_day = d
            changed = 1
        elif r.flag_after >= p[_WINDOW]:
            _reset_flag(r)
            changed = 1
    if expired:
        _reset_flag(r)
        changed = 1
    if status != NONE and not expired:
        return changed

    # Idle (or just expired by age): start an alert, or learn the observation.
    if watched and flagged:
        r.status = LOW
        r.flag_day = d
        r.flag_after = 0
        r.flag_hits = 1
        r.flag_nbr_hits = 1 if second else 0
        r.flag_drop = drop
        r.before_day = r.last_learned
        return changed + 1
    r.n_valid = min(r.n_valid + 1, 65535)
    if not (n < p[_WARMUP] or abs(drop) <= max(p[_OUT_Z] * sig, p[_ABS] * 2 / 3)):
        r.n_outlier = min(r.n_outlier + 1, 65535)
        return changed
    if r.n == 0:
        r.first_day = d
    r.last_learned = d
    inv_k = 1.0 / min(n + 1.0, p[_MEMORY])
    inv_e = 1.0 / min(n, p[_SD_MEMORY]) if n > 0 else 0.0
    r.ndvi_sd = _spread_step(r.ndvi_sd, drop, inv_e)
    r.ndvi_y, r.ndvi_yc, r.ndvi_ys = _mean_step(r.ndvi_y, y, inv_k), _mean_step(r.ndvi_yc, y * c, inv_k), \
        _mean_step(r.ndvi_ys, y * sn, inv_k)
    if has_nbr:
        r.nbr_sd = _spread_step(r.nbr_sd, pred_nbr - y_nbr, inv_e)
        r.nbr_y, r.nbr_yc, r.nbr_ys = _mean_step(r.nbr_y, y_nbr, inv_k), _mean_step(r.nbr_yc, y_nbr * c, inv_k), \
            _mean_step(r.nbr_ys, y_nbr * sn, inv_k)
    if has_ndmi and not math.isnan(y_ndmi):  # NDMI shares the design: usable where learned every time
        r.ndmi_sd = _spread_step(r.ndmi_sd, pred_ndmi - y_ndmi, inv_e if ndmi_whole else 0.0)
        r.ndmi_y, r.ndmi_yc, r.ndmi_ys = (_mean_step(r.ndmi_y, y_ndmi, inv_k),
                                          _mean_step(r.ndmi_yc, y_ndmi * c, inv_k),
                                          _mean_step(r.ndmi_ys, y_ndmi * sn, inv_k))
        r.ndmi_n = min(r.ndmi_n + 1, 65535)
    r.mc, r.ms = _mean_step(r.mc, c, inv_k), _mean_step(r.ms, sn, inv_k)
    r.mcc, r.mcs = _mean_step(r.mcc, c * c, inv_k), _mean_step(r.mcs, c * sn, inv_k)
    r.n = min(r.n + 1, 65535)
    return changed


@_jit
def _update_indices(s, d, c, sn, ndvi, clear, nbr, has_nbr, ndmi, has_ndmi, forest, has_forest, p):
    changed = 0
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            y = ndvi[i, j]
            if not clear[i, j] or math.isnan(y) or math.isinf(y) or s[i, j].last_day >= d:
                continue
            y_nbr = nbr[i, j] if has_nbr else 0.0
            if has_nbr and not math.isfinite(y_nbr):
                continue
            y_ndmi = ndmi[i, j] if has_ndmi else math.nan
            if not math.isfinite(y_ndmi):
                y_ndmi = math.nan
            f = forest[i, j] if has_forest else 0
            changed += _step(s[i, j], d, c, sn, y, y_nbr, has_nbr, y_ndmi, has_ndmi, f, has_forest, p)
    return changed


@_jit
def _nd(a, b):
    """Normalised difference of two reflectances (float32, as geo.indices computes it); NaN without data."""
    total = a + b
    if not total > 0:
        return math.nan
    return float((a - b) / total)


@_jit
def _update_dn(s, d, c, sn, red, nir, swir2, swir1, has_swir1, clear, seen, scale, offset, forest, has_forest, p):
    changed = 0
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            if not clear[i, j] or red[i, j] == 0 or nir[i, j] == 0:
                continue
            seen[i, j] = True
            if swir2[i, j] == 0 or s[i, j].last_day >= d:
                continue
            r4 = np.float32(red[i, j]) * scale + offset
            r8 = np.float32(nir[i, j]) * scale + offset
            r12 = np.float32(swir2[i, j]) * scale + offset
            y = _nd(r8, r4)
            y_nbr = _nd(r8, r12)
            if math.isnan(y) or math.isnan(y_nbr):
                continue
            y_ndmi = math.nan
            if has_swir1 and swir1[i, j] != 0:
                y_ndmi = _nd(r8, np.float32(swir1[i, j]) * scale + offset)
            f = forest[i, j] if has_forest else 0
            changed += _step(s[i, j], d, c, sn, y, y_nbr, True, y_ndmi, has_swir1, f, has_forest, p)
    return changed


@_jit
def _coverage_counts(s, seen, units, unit, n_units):
    """Monitored pixels per admin unit, those of them seen clear, and the pixels in alert."""
    forest = np.zeros(n_units, dtype=np.int64)
    observed = np.zeros(n_units, dtype=np.int64)
    alerts = 0
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            status = s[i, j].status
            alerts += status > NONE
            if s[i, j].watched > 0 or status > NONE:
                k = unit if unit >= 0 else units[i, j]
                forest[k] += 1
                observed[k] += seen[i, j]
    return forest, observed, alerts


_NO_FLOAT = np.zeros((1, 1), dtype=np.float64)
_NO_DN = np.zeros((1, 1), dtype=np.uint16)
_NO_FOREST = np.zeros((1, 1), dtype=np.uint8)
_NO_UNITS = np.zeros((1, 1), dtype=np.int32)


def baseline(s: np.ndarray, day: date, index: str = "ndvi") -> tuple[np.ndarray, np.ndarray]:
    """Every pixel's least-squares baseline of ``index`` (ndvi, nbr or ndmi) on ``day`` and its spread
    (infinite until the model has learned more than three observations)."""
    c, sn = _harmonics(day_number(day))
    f = {k: np.ascontiguousarray(s[k], dtype=np.float64) for k in ("n", "mc", "ms", "mcc", "mcs")}
    y, yc, ys = (np.ascontiguousarray(s[f"{index}_{k}"], dtype=np.float64) for k in ("y", "yc", "ys"))
    pred = _fit(_design(f["n"], f["mc"], f["ms"], f["mcc"], f["mcs"]), y, yc, ys, c, sn)[0]
    count = s["ndmi_n"] if index == "ndmi" else s["n"]
    return pred, np.where(count > 3, s[f"{index}_sd"] * SD_UNIT, np.inf)


def coverage_counts(s: np.ndarray, seen: np.ndarray, units: np.ndarray | int,
                    n_units: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per admin unit (``units``: each pixel's unit number 0..n_units-1, or one number for the whole window), the
    monitored pixels (judged forest at their newest clear observation, or already in alert) and those of them
    ``seen`` clear; and the number of pixels in alert."""
    if isinstance(units, np.ndarray):
        forest, observed, alerts = _coverage_counts(s, seen, units.astype(np.int32, copy=False), -1, n_units)
    else:
        forest, observed, alerts = _coverage_counts(s, seen, _NO_UNITS, int(units), n_units)
    return forest, observed, int(alerts)


def before_after(s: np.ndarray, before: date, after: date, ndvi_before: np.ndarray,
                 ndvi_after: np.ndarray, clear_before: np.ndarray, clear_after: np.ndarray,
                 params: DetectorParams = DetectorParams(), forest: np.ndarray | None = None) -> int:
    """Two-date mode: flag pixels that were vegetated forest before and dropped after (low confidence at most).

    With no history there is no seasonal baseline: the before image stands in for it, so the thresholds
    are the absolute and relative ones, and nothing is confirmed. Later scenes fold in with ``update``.
    """
    p = params
    vegetated = ndvi_before >= p.forest_min_ndvi
    if forest is not None:
        vegetated &= forest.astype(bool)
    drop = ndvi_before - ndvi_after
    flagged = (clear_before & clear_after & vegetated & (drop >= p.abs_drop)
               & (ndvi_after <= ndvi_before * (1 - p.rel_drop)) & (s["status"] == NONE))
    s["status"][flagged] = LOW
    s["flag_day"][flagged] = day_number(after)
    s["flag_hits"][flagged] = 1
    s["flag_drop"][flagged] = drop[flagged]
    s["before_day"][flagged] = day_number(before)
    seen = clear_after & np.isfinite(ndvi_after)
    s["last_day"][seen] = np.maximum(s["last_day"][seen], day_number(after))
    return int(flagged.sum())


def _forest_arg(forest: np.ndarray | None) -> tuple[np.ndarray, bool]:
    if forest is None:
        return _NO_FOREST, False
    return np.asarray(forest != 0, dtype=np.uint8), True


def update(s: np.ndarray, day: date, ndvi: np.ndarray, clear: np.ndarray,
           nbr: np.ndarray | None = None, params: DetectorParams = DetectorParams(),
           forest: np.ndarray | None = None, ndmi: np.ndarray | None = None) -> int:
    """Fold one acquisition into the state, in place; returns the number of pixels that changed alert status.

    ``ndvi``/``nbr``/``ndmi`` are index arrays of the window (NBR and NDMI optional: the second, independent
    indices that raise a confirmed alert to *highest*), ``clear`` the clear-land mask, ``forest`` the user's
    forest layer on the window (nonzero = forest; when absent, forest is judged from each pixel's history).
    Observations not newer than a pixel's last one are ignored, so feeding the same scene twice changes nothing.
    """
    d = day_number(day)
    c, sn = _harmonics(d)
    forest_arr, has_forest = _forest_arg(forest)
    as64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    return int(_update_indices(
        s, d, c, sn, as64(ndvi), np.asarray(clear, dtype=np.bool_),
        as64(nbr) if nbr is not None else _NO_FLOAT, nbr is not None,
        as64(ndmi) if ndmi is not None else _NO_FLOAT, ndmi is not None,
        forest_arr, has_forest, params.as_tuple()))


def update_dn(s: np.ndarray, day: date, bands: dict[str, np.ndarray], clear: np.ndarray, scale: float,
              offset: float, params: DetectorParams = DetectorParams(), forest: np.ndarray | None = None,
              seen: np.ndarray | None = None) -> int:
    """``update`` from the digital numbers of B04, B08, B12 (and B11 when present; 0 = no data) of a scene,
    reflectance = DN × scale + offset: the indices are computed pixel by pixel inside the compiled step.
    ``clear`` is the SCL's clear mask; ``seen`` (optional, updated in place) gets the pixels observed clear
    with red and near-infrared data."""
    d = day_number(day)
    c, sn = _harmonics(d)
    forest_arr, has_forest = _forest_arg(forest)
    swir1 = bands.get("B11")
    seen = seen if seen is not None else np.zeros(s.shape, dtype=bool)
    return int(_update_dn(
        s, d, c, sn, bands["B04"], bands["B08"], bands["B12"],
        swir1 if swir1 is not None else _NO_DN, swir1 is not None, np.asarray(clear, dtype=np.bool_), seen,
        np.float32(scale), np.float32(offset), forest_arr, has_forest, params.as_tuple()))

