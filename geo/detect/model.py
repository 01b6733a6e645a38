"""Forest-loss detection: a per-pixel seasonal baseline and GLAD-style confirmation, one scene at a time.

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

The state has three parts, each with one job (``State`` holds a window of all three):
- **sums** (``SUMS_DTYPE``, 46 bytes a pixel): the running means and counters the baseline is learned in;
- **model** (``MODEL_DTYPE`` and ``SECOND_DTYPE``, 16 + 16 bytes): the fitted baseline (coefficients, spreads,
  from which day the pixel is monitored), refitted from the sums; it is all a scene is judged against (the
  second part, NBR's and NDMI's, only where a pixel is flagged);
- **flags** (``FLAG_DTYPE``, 16 bytes): the alert of a pixel (first flag, hits, confirmation); only pixels
  with an alert have one, so on disk they are a short list.
A scene is *judged* (flags start, confirm, expire) against the model, then *learned* into the sums (every
clear observation of a pixel that was not in alert at that time), and the model is refitted. ``update`` does
all three at once; the pipeline judges every scene as it arrives and learns the judged scenes in batches
(``refit_days``), so a weekly run reads the model and writes only the flags, as GLAD and BFAST Monitor
monitor against a baseline fitted beforehand. The per-pixel steps are compiled with Numba (``nogil``,
cached on disk), so windows are folded in parallel threads.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass
from datetime import date

import numba
import numpy as np

EPOCH = date(1970, 1, 1)

# Day numbers are days since EPOCH (uint16 holds them until 2149); 0 means "none".
# Means (int16, units of MEAN_UNIT; every term lies in [-1, 1]): the design's cos, sin, cos², cos·sin (sin² is
# 1 - cos²) and, per index, y, y·cos, y·sin. Spreads (uint16, units of SD_UNIT).
SUMS_DTYPE = np.dtype([
    ("last_day", "u2"),                            # newest observation folded in (learned or not)
    ("first_day", "u2"), ("last_learned", "u2"),   # first and last learned observation
    ("n", "u2"), ("ndmi_n", "u2"),                 # learned observations (NDMI counted apart: B11 is optional)
    ("n_valid", "u2"), ("n_outlier", "u2"),        # clear observations seen while idle, and those not learned
    ("mc", "i2"), ("ms", "i2"), ("mcc", "i2"), ("mcs", "i2"),
    ("ndvi_y", "i2"), ("ndvi_yc", "i2"), ("ndvi_ys", "i2"), ("ndvi_sd", "u2"),
    ("nbr_y", "i2"), ("nbr_yc", "i2"), ("nbr_ys", "i2"), ("nbr_sd", "u2"),
    ("ndmi_y", "i2"), ("ndmi_yc", "i2"), ("ndmi_ys", "i2"), ("ndmi_sd", "u2"),
])
# The fitted baseline: per index b0 + b1·cos + b2·sin (int16, units of COEF_UNIT) and the spread (units of
# SD_UNIT; NO_SIGMA until more than three observations are learned). NDVI's, with what every judged pixel
# needs, in MODEL_DTYPE; the second, independent indices', read only for flagged pixels, in SECOND_DTYPE.
MODEL_DTYPE = np.dtype([
    ("ndvi_b0", "i2"), ("ndvi_b1", "i2"), ("ndvi_b2", "i2"), ("ndvi_sigma", "u2"),
    ("ready_day", "u2"),      # monitored from this day on (enough history); 0: not yet
    ("baseline_day", "u2"),   # the newest observation folded into the sums: older ones are not judged
    ("learned_day", "u2"),    # the last learned observation (the alert's "scene before")
    ("stable", "u1"),         # 1: stable forest by its own history (high, steady NDVI, few outliers)
    ("ndmi_ok", "u1"),        # 1: NDMI was learned with every observation, so it can vouch for a flag
])
SECOND_DTYPE = np.dtype([
    ("nbr_b0", "i2"), ("nbr_b1", "i2"), ("nbr_b2", "i2"), ("nbr_sigma", "u2"),
    ("ndmi_b0", "i2"), ("ndmi_b1", "i2"), ("ndmi_b2", "i2"), ("ndmi_sigma", "u2"),
])
FLAG_DTYPE = np.dtype([
    ("judged_day", "u2"),                          # newest observation judged (re-feeding it changes nothing)
    ("flag_day", "u2"), ("before_day", "u2"), ("confirm_day", "u2"),  # first flag, last learned before, high
    ("flag_drop", "f4"),                           # sum of the flagged observations' NDVI drops
    ("status", "u1"),                              # 0 none, 1 low (pending), 2 high, 3 highest
    ("flag_after", "u1"), ("flag_hits", "u1"), ("flag_nbr_hits", "u1"),  # nbr_hits: NBR or NDMI agreed
])
MEAN_UNIT, SD_UNIT, COEF_UNIT = 1 / 32000, 1e-5, 1 / 16000
NO_SIGMA = 65535
STATE_BANDS = tuple(name for dtype in (SUMS_DTYPE, MODEL_DTYPE, SECOND_DTYPE, FLAG_DTYPE) for name in dtype.names)
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
    refit_days: int = 28          # the pipeline learns judged scenes (refits the baseline) when it is this old

    def as_tuple(self) -> tuple[float, ...]:
        """The thresholds in field order, as the compiled step reads them (a tuple: passed by value)."""
        return tuple(float(v) for v in astuple(self))


# Positions in DetectorParams.as_tuple().
(_ABS, _Z, _REL, _FLOOR, _MIN_OBS, _MIN_SPAN, _HITS, _WINDOW, _EXPIRE, _F_NDVI, _F_SEASON, _F_SIGMA, _F_OUT,
 _OUT_Z, _WARMUP, _MEMORY, _SD_MEMORY) = range(17)  # (refit_days is the pipeline's)


def day_number(day: date) -> int:
    return (day - EPOCH).days


def from_day_number(n: float) -> date:
    return date.fromordinal(EPOCH.toordinal() + int(n))


class State:
    """A window of the detector state: its sums, model and flags, one record of each per pixel.

    ``state[name]`` is the named field of whichever part holds it (names are unique across the parts);
    ``state[rows, cols]`` a part of the window (views). The pipeline keeps the flags on disk as a list of the
    pixels in alert (see ``WindowFlags``).
    """

    def __init__(self, sums: np.ndarray, model: np.ndarray, second: np.ndarray, flags: np.ndarray):
        self.sums, self.model, self.second, self.flags = sums, model, second, flags

    @property
    def shape(self) -> tuple[int, ...]:
        return self.sums.shape

    def __getitem__(self, name):
        if not isinstance(name, str):
            return State(self.sums[name], self.model[name], self.second[name], self.flags[name])
        for part in (self.sums, self.model, self.second, self.flags):
            if name in part.dtype.names:
                return part[name]
        raise KeyError(name)


def new_state(shape: tuple[int, int]) -> State:
    """A window's state with no history: zeroed records."""
    return State(np.zeros(shape, SUMS_DTYPE), np.zeros(shape, MODEL_DTYPE), np.zeros(shape, SECOND_DTYPE),
                 np.zeros(shape, FLAG_DTYPE))


@dataclass
class WindowFlags:
    """The flag records of a window's pixels in alert: ``pix`` (row × width + col in the window, ascending)
    and their records."""

    pix: np.ndarray
    rec: np.ndarray

    @classmethod
    def empty(cls) -> WindowFlags:
        return cls(np.zeros(0, np.int32), np.zeros(0, FLAG_DTYPE))

    @classmethod
    def from_dense(cls, flags: np.ndarray) -> WindowFlags:
        pix = np.flatnonzero(flags["status"] != NONE).astype(np.int32)
        return cls(pix, flags.reshape(-1)[pix])

    def to_dense(self, shape: tuple[int, int]) -> np.ndarray:
        out = np.zeros(shape, FLAG_DTYPE)
        out.reshape(-1)[self.pix] = self.rec
        return out

    def alerts(self) -> WindowFlags:
        """Only the records still in alert (expired flags dropped)."""
        keep = self.rec["status"] != NONE
        return self if keep.all() else WindowFlags(self.pix[keep], self.rec[keep])

    def merged(self, pix: np.ndarray, rec: np.ndarray) -> WindowFlags:
        """These records plus new ones (pixels that had none), in pixel order."""
        if pix.size == 0:
            return self
        all_pix = np.concatenate([self.pix, pix])
        order = np.argsort(all_pix, kind="stable")
        return WindowFlags(all_pix[order], np.concatenate([self.rec, rec])[order])

def _harmonics(day: int) -> tuple[float, float]:
    angle = 2 * np.pi * day / 365.25
    return float(np.cos(angle)), float(np.sin(angle))


_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")  # small per-pixel helpers


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
def _reset_flag(f):
    f.status = NONE
    f.flag_day = 0
    f.flag_after = 0
    f.flag_hits = 0
    f.flag_nbr_hits = 0
    f.flag_drop = 0.0
    f.before_day = 0


@_jit
def _copy_flag(dst, src):
    dst.judged_day = src.judged_day
    dst.flag_day = src.flag_day
    dst.before_day = src.before_day
    dst.confirm_day = src.confirm_day
    dst.flag_drop = src.flag_drop
    dst.status = src.status
    dst.flag_after = src.flag_after
    dst.flag_hits = src.flag_hits
    dst.flag_nbr_hits = src.flag_nbr_hits


@_jit
def _predict(b0, b1, b2, c, sn):
    return (b0 + b1 * c + b2 * sn) * COEF_UNIT


@_jit
def _model_sigma(sigma):
    return math.inf if sigma == NO_SIGMA else sigma * SD_UNIT


@_jit
def _judge_px(m, m2, f, has, d, c, sn, y, y_nbr, has_nbr, y_ndmi, has_ndmi, forest, has_forest, p):
    """Judge one clear observation (NDVI ``y``; NBR and NDMI when present) of one pixel against its fitted
    baseline ``m`` (``m2``: NBR's and NDMI's, read only when the pixel is flagged); ``f`` is its flag record
    (``has``: it had one; else a zeroed scratch record).

    Returns (how many times its alert status changed: started, confirmed or expired, and whether the
    observation is held out of learning because the pixel was flagged, pending or just flagged).
    """
    if has:
        if f.judged_day >= d:  # judged already: re-feeding a scene changes nothing
            return 0, False
    elif d <= m.baseline_day:  # older than what the baseline has seen
        return 0, False
    pred = _predict(m.ndvi_b0, m.ndvi_b1, m.ndvi_b2, c, sn)
    drop = pred - y
    sig = max(_model_sigma(m.ndvi_sigma), p[_FLOOR])
    flagged = drop >= max(p[_ABS], p[_Z] * sig) and y <= pred * (1 - p[_REL])
    if not (flagged or has):  # the common case: an idle pixel that fits its baseline
        return 0, False
    second = False  # the second, independent index agrees (NBR; or NDMI where SWIR-1 was always seen)
    if flagged and has_nbr:
        second = _flags_drop(_predict(m2.nbr_b0, m2.nbr_b1, m2.nbr_b2, c, sn), _model_sigma(m2.nbr_sigma), y_nbr, p)
    if flagged and has_ndmi and not math.isnan(y_ndmi) and m.ndmi_ok:
        second = second or _flags_drop(_predict(m2.ndmi_b0, m2.ndmi_b1, m2.ndmi_b2, c, sn),
                                       _model_sigma(m2.ndmi_sigma), y_ndmi, p)
    ready = m.ready_day != 0 and d >= m.ready_day
    watched = (forest != 0 and ready) if has_forest else (ready and m.stable != 0)
    if not has:  # a flagged idle pixel: its record starts from the zeroed scratch one
        _reset_flag(f)
        f.confirm_day = 0

    f.judged_day = d
    changed = 0
    status = f.status
    expired = status == LOW and d - float(f.flag_day) > p[_EXPIRE]
    if status == LOW and not expired:  # pending: count this observation towards confirmation
        f.flag_after += 1
        if flagged:
            f.flag_hits += 1
            f.flag_drop += drop
            if second:
                f.flag_nbr_hits += 1
        if f.flag_hits >= p[_HITS]:
            f.status = HIGHEST if f.flag_nbr_hits >= p[_HITS] else HIGH
            f.confirm_day = d
            changed = 1
        elif f.flag_after >= p[_WINDOW]:
            _reset_flag(f)
            changed = 1
        return changed, True
    if expired:
        _reset_flag(f)
        changed = 1
    elif status != NONE:  # confirmed: never alerted again, never learned again
        return changed, False
    if watched and flagged:  # idle (or just expired by age): a new alert
        f.status = LOW
        f.flag_day = d
        f.flag_after = 0
        f.flag_hits = 1
        f.flag_nbr_hits = 1 if second else 0
        f.flag_drop = drop
        f.before_day = m.learned_day
        f.confirm_day = 0
        return changed + 1, True
    return changed, False


@_jit
def _learn_px(r, d, c, sn, y, y_nbr, has_nbr, y_ndmi, has_ndmi, p):
    """Learn one clear observation of an idle pixel into its sums ``r``, unless it does not fit the baseline."""
    n = float(r.n)
    inv = _design(n, r.mc, r.ms, r.mcc, r.mcs)
    pred = _fit(inv, r.ndvi_y, r.ndvi_yc, r.ndvi_ys, c, sn)[0]
    drop = pred - y
    sig = max(_sigma(r.ndvi_sd, n), p[_FLOOR])
    r.n_valid = min(r.n_valid + 1, 65535)
    if not (n < p[_WARMUP] or abs(drop) <= max(p[_OUT_Z] * sig, p[_ABS] * 2 / 3)):
        r.n_outlier = min(r.n_outlier + 1, 65535)
        return
    if r.n == 0:
        r.first_day = d
    r.last_learned = d
    inv_k = 1.0 / min(n + 1.0, p[_MEMORY])
    inv_e = 1.0 / min(n, p[_SD_MEMORY]) if n > 0 else 0.0
    r.ndvi_sd = _spread_step(r.ndvi_sd, drop, inv_e)
    r.ndvi_y, r.ndvi_yc, r.ndvi_ys = _mean_step(r.ndvi_y, y, inv_k), _mean_step(r.ndvi_yc, y * c, inv_k), \
        _mean_step(r.ndvi_ys, y * sn, inv_k)
    if has_nbr:
        pred_nbr = _fit(inv, r.nbr_y, r.nbr_yc, r.nbr_ys, c, sn)[0]
        r.nbr_sd = _spread_step(r.nbr_sd, pred_nbr - y_nbr, inv_e)
        r.nbr_y, r.nbr_yc, r.nbr_ys = _mean_step(r.nbr_y, y_nbr, inv_k), _mean_step(r.nbr_yc, y_nbr * c, inv_k), \
            _mean_step(r.nbr_ys, y_nbr * sn, inv_k)
    if has_ndmi and not math.isnan(y_ndmi):  # NDMI shares the design: usable where learned every time
        ndmi_whole = r.ndmi_n == r.n
        pred_ndmi = _fit(inv, r.ndmi_y, r.ndmi_yc, r.ndmi_ys, c, sn)[0] if ndmi_whole else 0.0
        r.ndmi_sd = _spread_step(r.ndmi_sd, pred_ndmi - y_ndmi, inv_e if ndmi_whole else 0.0)
        r.ndmi_y, r.ndmi_yc, r.ndmi_ys = (_mean_step(r.ndmi_y, y_ndmi, inv_k),
                                          _mean_step(r.ndmi_yc, y_ndmi * c, inv_k),
                                          _mean_step(r.ndmi_ys, y_ndmi * sn, inv_k))
        r.ndmi_n = min(r.ndmi_n + 1, 65535)
    r.mc, r.ms = _mean_step(r.mc, c, inv_k), _mean_step(r.ms, sn, inv_k)
    r.mcc, r.mcs = _mean_step(r.mcc, c * c, inv_k), _mean_step(r.mcs, c * sn, inv_k)
    r.n = min(r.n + 1, 65535)


@_jit
def _coef(b):
    return min(max(math.floor(b * (1 / COEF_UNIT) + 0.5), -32767), 32767)


@_jit
def _model_sd(sd, n):
    return NO_SIGMA if n <= 3 else min(sd, NO_SIGMA - 1)


@_jit
def _refit(sums, model, second, p):
    """Fit every pixel's baseline (``model``, ``second``) from its sums."""
    for i in range(sums.shape[0]):
        for j in range(sums.shape[1]):
            r, m, m2 = sums[i, j], model[i, j], second[i, j]
            n = float(r.n)
            inv = _design(n, r.mc, r.ms, r.mcc, r.mcs)
            _, b0, b1, b2 = _fit(inv, r.ndvi_y, r.ndvi_yc, r.ndvi_ys, 1.0, 0.0)
            m.ndvi_b0, m.ndvi_b1, m.ndvi_b2 = _coef(b0), _coef(b1), _coef(b2)
            m.ndvi_sigma = _model_sd(r.ndvi_sd, n)
            _, nb0, nb1, nb2 = _fit(inv, r.nbr_y, r.nbr_yc, r.nbr_ys, 1.0, 0.0)
            m2.nbr_b0, m2.nbr_b1, m2.nbr_b2 = _coef(nb0), _coef(nb1), _coef(nb2)
            m2.nbr_sigma = _model_sd(r.nbr_sd, n)
            _, mb0, mb1, mb2 = _fit(inv, r.ndmi_y, r.ndmi_yc, r.ndmi_ys, 1.0, 0.0)
            m2.ndmi_b0, m2.ndmi_b1, m2.ndmi_b2 = _coef(mb0), _coef(mb1), _coef(mb2)
            m2.ndmi_sigma = _model_sd(r.ndmi_sd, n)
            m.ndmi_ok = 1 if r.ndmi_n == r.n else 0
            m.ready_day = min(r.first_day + p[_MIN_SPAN], 65535) if n >= p[_MIN_OBS] and r.first_day > 0 else 0
            amplitude = math.sqrt(b1 * b1 + b2 * b2)  # (math.hypot is a slow libm call)
            m.stable = 1 if (b0 >= p[_F_NDVI] and b0 - amplitude >= p[_F_SEASON]
                             and _sigma(r.ndvi_sd, n) <= p[_F_SIGMA]
                             and r.n_outlier / max(float(r.n_valid), 1.0) <= p[_F_OUT]) else 0
            m.learned_day = r.last_learned
            m.baseline_day = r.last_day


@_jit
def _nd(a, b):
    """Normalised difference of two reflectances (float32, as geo.indices computes it); NaN without data."""
    total = a + b
    if not total > 0:
        return math.nan
    return float((a - b) / total)


@_inline
def _index_obs(i, j, ndvi, nbr, has_nbr, ndmi, has_ndmi):
    """NDVI, NBR (0 when absent) and NDMI of one pixel of index arrays; NaN where not finite."""
    y = ndvi[i, j] if math.isfinite(ndvi[i, j]) else math.nan
    y_nbr = (nbr[i, j] if math.isfinite(nbr[i, j]) else math.nan) if has_nbr else 0.0
    y_ndmi = ndmi[i, j] if has_ndmi and math.isfinite(ndmi[i, j]) else math.nan
    return y, y_nbr, y_ndmi


@_inline
def _dn_obs(i, j, red, nir, swir2, swir1, has_swir1, scale, offset):
    """NDVI, NBR and NDMI of one pixel from its digital numbers (0 = no data; NaN where a band has none)."""
    if red[i, j] == 0 or nir[i, j] == 0 or swir2[i, j] == 0:
        return math.nan, math.nan, math.nan
    r8 = np.float32(nir[i, j]) * scale + offset
    y = _nd(r8, np.float32(red[i, j]) * scale + offset)
    y_nbr = _nd(r8, np.float32(swir2[i, j]) * scale + offset)
    y_ndmi = _nd(r8, np.float32(swir1[i, j]) * scale + offset) if has_swir1 and swir1[i, j] != 0 else math.nan
    return y, y_nbr, y_ndmi


# The two judging loops differ only in how a pixel's indices are read; the walk along the window's flag
# records stays written out in each: as a helper called per pixel (even inlined) it made judging 3-5x slower.
@_jit
def _judge_indices(model, second, pix, rec, new_pix, new_rec, blocked, scratch, d, c, sn, ndvi, clear, nbr, has_nbr,
                   ndmi, has_ndmi, forest, has_forest, seen, p):
    h, w = model.shape
    n_rows, k, n_new, n_blocked, changed = pix.shape[0], 0, 0, 0, 0
    for i in range(h):
        for j in range(w):
            if not clear[i, j]:
                continue
            y, y_nbr, y_ndmi = _index_obs(i, j, ndvi, nbr, has_nbr, ndmi, has_ndmi)
            if math.isnan(y):
                continue
            seen[i, j] = True
            if math.isnan(y_nbr):
                continue
            q = i * w + j
            while k < n_rows and pix[k] < q:
                k += 1
            has = k < n_rows and pix[k] == q
            f = rec[k] if has else scratch[0]
            ch, held = _judge_px(model[i, j], second[i, j], f, has, d, c, sn, y, y_nbr, has_nbr, y_ndmi, has_ndmi,
                                 forest[i, j] if has_forest else 0, has_forest, p)
            changed += ch
            if held:
                blocked[n_blocked] = q
                n_blocked += 1
                if not has:  # a new alert
                    _copy_flag(new_rec[n_new], f)
                    new_pix[n_new] = q
                    n_new += 1
    return changed, n_new, n_blocked


@_jit
def _judge_dn(model, second, pix, rec, new_pix, new_rec, blocked, scratch, d, c, sn, red, nir, swir2, swir1, has_swir1,
              clear, scale, offset, forest, has_forest, seen, p):
    h, w = model.shape
    n_rows, k, n_new, n_blocked, changed = pix.shape[0], 0, 0, 0, 0
    for i in range(h):
        for j in range(w):
            if not clear[i, j] or red[i, j] == 0 or nir[i, j] == 0:
                continue
            seen[i, j] = True
            y, y_nbr, y_ndmi = _dn_obs(i, j, red, nir, swir2, swir1, has_swir1, scale, offset)
            if math.isnan(y) or math.isnan(y_nbr):
                continue
            q = i * w + j
            while k < n_rows and pix[k] < q:
                k += 1
            has = k < n_rows and pix[k] == q
            f = rec[k] if has else scratch[0]
            ch, held = _judge_px(model[i, j], second[i, j], f, has, d, c, sn, y, y_nbr, True, y_ndmi, has_swir1,
                                 forest[i, j] if has_forest else 0, has_forest, p)
            changed += ch
            if held:
                blocked[n_blocked] = q
                n_blocked += 1
                if not has:  # a new alert
                    _copy_flag(new_rec[n_new], f)
                    new_pix[n_new] = q
                    n_new += 1
    return changed, n_new, n_blocked


@_jit
def _learn_indices(sums, d, c, sn, ndvi, clear, nbr, has_nbr, ndmi, has_ndmi, held, p):
    for i in range(sums.shape[0]):
        for j in range(sums.shape[1]):
            if not clear[i, j] or sums[i, j].last_day >= d:
                continue
            y, y_nbr, y_ndmi = _index_obs(i, j, ndvi, nbr, has_nbr, ndmi, has_ndmi)
            if math.isnan(y) or math.isnan(y_nbr):
                continue
            sums[i, j].last_day = d
            if not held[i, j]:
                _learn_px(sums[i, j], d, c, sn, y, y_nbr, has_nbr, y_ndmi, has_ndmi, p)


@_jit
def _learn_dn(sums, d, c, sn, red, nir, swir2, swir1, has_swir1, clear, scale, offset, held, p):
    for i in range(sums.shape[0]):
        for j in range(sums.shape[1]):
            if not clear[i, j] or sums[i, j].last_day >= d:
                continue
            y, y_nbr, y_ndmi = _dn_obs(i, j, red, nir, swir2, swir1, has_swir1, scale, offset)
            if math.isnan(y) or math.isnan(y_nbr):
                continue
            sums[i, j].last_day = d
            if not held[i, j]:
                _learn_px(sums[i, j], d, c, sn, y, y_nbr, True, y_ndmi, has_swir1, p)


@_jit
def _coverage_counts(model, alert, forest, has_forest, d, seen, units, unit, n_units, p):
    """Monitored pixels per admin unit, those of them seen clear, and the next day a pixel becomes monitored."""
    monitored = np.zeros(n_units, dtype=np.int64)
    observed = np.zeros(n_units, dtype=np.int64)
    next_day = 65535
    for i in range(model.shape[0]):
        for j in range(model.shape[1]):
            m = model[i, j]
            candidate = forest[i, j] != 0 if has_forest else m.stable != 0
            ready = m.ready_day != 0 and d >= m.ready_day
            if candidate and m.ready_day > d:
                next_day = min(next_day, m.ready_day)
            if (candidate and ready) or alert[i, j]:
                k = unit if unit >= 0 else units[i, j]
                monitored[k] += 1
                observed[k] += seen[i, j]
    return monitored, observed, next_day


_NO_FLOAT = np.zeros((1, 1), dtype=np.float64)
_NO_DN = np.zeros((1, 1), dtype=np.uint16)
_NO_FOREST = np.zeros((1, 1), dtype=np.uint8)
_NO_UNITS = np.zeros((1, 1), dtype=np.int32)


def baseline(s: State, day: date, index: str = "ndvi") -> tuple[np.ndarray, np.ndarray]:
    """Every pixel's least-squares baseline of ``index`` (ndvi, nbr or ndmi) on ``day`` from its sums, and its
    spread (infinite until the model has learned more than three observations)."""
    c, sn = _harmonics(day_number(day))
    f = {k: np.ascontiguousarray(s[k], dtype=np.float64) for k in ("n", "mc", "ms", "mcc", "mcs")}
    y, yc, ys = (np.ascontiguousarray(s[f"{index}_{k}"], dtype=np.float64) for k in ("y", "yc", "ys"))
    pred = _fit(_design(f["n"], f["mc"], f["ms"], f["mcc"], f["mcs"]), y, yc, ys, c, sn)[0]
    count = s["ndmi_n"] if index == "ndmi" else s["n"]
    return pred, np.where(count > 3, s[f"{index}_sd"] * SD_UNIT, np.inf)


def refit(sums: np.ndarray, model: np.ndarray, second: np.ndarray, params: DetectorParams = DetectorParams()) -> None:
    """Fit the baseline (``model``, ``second``) of every pixel from its ``sums``, in place."""
    _refit(sums, model, second, params.as_tuple())


def coverage_counts(model: np.ndarray, alert: np.ndarray, seen: np.ndarray, units: np.ndarray | int, n_units: int,
                    day: date, forest: np.ndarray | None = None,
                    params: DetectorParams = DetectorParams()) -> tuple[np.ndarray, np.ndarray, int]:
    """Per admin unit (``units``: each pixel's unit number 0..n_units-1, or one number for the whole window), the
    monitored pixels (watched on ``day``, the run's newest scene, or in ``alert``) and those of them ``seen``
    clear; and the next day a pixel of the window becomes monitored (65535: none), until which the monitored
    counts stay as they are (for the same model and no alert)."""
    forest_arr, has_forest = _forest_arg(forest)
    if isinstance(units, np.ndarray):
        unit_arr, unit = units, -1
    else:
        unit_arr, unit = _NO_UNITS, int(units)
    monitored, observed, next_day = _coverage_counts(model, alert, forest_arr, has_forest, day_number(day), seen,
                                                     unit_arr, unit, n_units, params.as_tuple())
    return monitored, observed, int(next_day)


def held_out(shape: tuple[int, int], flags: WindowFlags, day: date, pix: np.ndarray) -> np.ndarray:
    """The pixels of a window whose observation of ``day`` is not learned: those listed in ``pix`` when the
    scene was judged (flagged or pending) and the confirmed ones, flagged on or before that day."""
    out = np.zeros(shape, dtype=np.bool_)
    flat = out.reshape(-1)
    flat[pix] = True
    confirmed = (flags.rec["status"] >= HIGH) & (flags.rec["flag_day"] <= day_number(day))
    flat[flags.pix[confirmed]] = True
    return out


def before_after(s: State, before: date, after: date, ndvi_before: np.ndarray,
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
    flags = s.flags
    flagged = (clear_before & clear_after & vegetated & (drop >= p.abs_drop)
               & (ndvi_after <= ndvi_before * (1 - p.rel_drop)) & (flags["status"] == NONE))
    flags["status"][flagged] = LOW
    flags["flag_day"][flagged] = day_number(after)
    flags["judged_day"][flagged] = day_number(after)
    flags["flag_hits"][flagged] = 1
    flags["flag_drop"][flagged] = drop[flagged]
    flags["before_day"][flagged] = day_number(before)
    return int(flagged.sum())


def _forest_arg(forest: np.ndarray | None) -> tuple[np.ndarray, bool]:
    if forest is None:
        return _NO_FOREST, False
    return np.asarray(forest != 0, dtype=np.uint8), True


def _judged(flags: WindowFlags, kernel, model: np.ndarray, second: np.ndarray,
            *args) -> tuple[int, WindowFlags, np.ndarray]:
    size = model.shape[0] * model.shape[1]
    new_pix, new_rec = np.empty(size, np.int32), np.empty(size, FLAG_DTYPE)  # untouched pages cost nothing
    blocked = np.empty(size, np.int32)
    changed, n_new, n_blocked = kernel(model, second, flags.pix, flags.rec, new_pix, new_rec, blocked,
                                       np.zeros(1, FLAG_DTYPE), *args)
    return int(changed), flags.merged(new_pix[:n_new].copy(), new_rec[:n_new].copy()), blocked[:n_blocked].copy()


def judge(model: np.ndarray, second: np.ndarray, flags: WindowFlags, day: date, ndvi: np.ndarray, clear: np.ndarray,
          nbr: np.ndarray | None = None, params: DetectorParams = DetectorParams(),
          forest: np.ndarray | None = None, ndmi: np.ndarray | None = None,
          seen: np.ndarray | None = None) -> tuple[int, WindowFlags, np.ndarray]:
    """Judge one acquisition of a window against its fitted baseline: start, confirm and expire alerts.

    Returns the number of status changes, the window's flags afterwards (expired ones still listed, with
    status none) and the pixels (row × width + col) whose observation is held out of learning.
    ``seen`` (optional, updated in place) gets the pixels observed clear."""
    d = day_number(day)
    c, sn = _harmonics(d)
    forest_arr, has_forest = _forest_arg(forest)
    as64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    seen = seen if seen is not None else np.zeros(model.shape, dtype=bool)
    return _judged(flags, _judge_indices, model, second, d, c, sn, as64(ndvi), np.asarray(clear, np.bool_),
                   as64(nbr) if nbr is not None else _NO_FLOAT, nbr is not None,
                   as64(ndmi) if ndmi is not None else _NO_FLOAT, ndmi is not None,
                   forest_arr, has_forest, seen, params.as_tuple())


def judge_dn(model: np.ndarray, second: np.ndarray, flags: WindowFlags, day: date, bands: dict[str, np.ndarray],
             clear: np.ndarray, scale: float, offset: float, params: DetectorParams = DetectorParams(),
             forest: np.ndarray | None = None, seen: np.ndarray | None = None) -> tuple[int, WindowFlags, np.ndarray]:
    """``judge`` from the digital numbers of B04, B08, B12 (and B11 when present; 0 = no data) of a scene,
    reflectance = DN × scale + offset: the indices are computed pixel by pixel inside the compiled step."""
    d = day_number(day)
    c, sn = _harmonics(d)
    forest_arr, has_forest = _forest_arg(forest)
    swir1 = bands.get("B11")
    seen = seen if seen is not None else np.zeros(model.shape, dtype=bool)
    return _judged(flags, _judge_dn, model, second, d, c, sn, bands["B04"], bands["B08"], bands["B12"],
                   swir1 if swir1 is not None else _NO_DN, swir1 is not None, np.asarray(clear, np.bool_),
                   np.float32(scale), np.float32(offset), forest_arr, has_forest, seen, params.as_tuple())


def learn(sums: np.ndarray, day: date, ndvi: np.ndarray, clear: np.ndarray, held: np.ndarray,
          nbr: np.ndarray | None = None, ndmi: np.ndarray | None = None,
          params: DetectorParams = DetectorParams()) -> None:
    """Learn one acquisition into a window's sums (in place), except the ``held`` pixels (see ``held_out``).
    Observations not newer than a pixel's last one are ignored."""
    d = day_number(day)
    c, sn = _harmonics(d)
    as64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    _learn_indices(sums, d, c, sn, as64(ndvi), np.asarray(clear, np.bool_),
                   as64(nbr) if nbr is not None else _NO_FLOAT, nbr is not None,
                   as64(ndmi) if ndmi is not None else _NO_FLOAT, ndmi is not None, held, params.as_tuple())


def learn_dn(sums: np.ndarray, day: date, bands: dict[str, np.ndarray], clear: np.ndarray, held: np.ndarray,
             scale: float, offset: float, params: DetectorParams = DetectorParams()) -> None:
    """``learn`` from the digital numbers of a scene (see ``judge_dn``)."""
    d = day_number(day)
    c, sn = _harmonics(d)
    swir1 = bands.get("B11")
    _learn_dn(sums, d, c, sn, bands["B04"], bands["B08"], bands["B12"],
              swir1 if swir1 is not None else _NO_DN, swir1 is not None, np.asarray(clear, np.bool_),
              np.float32(scale), np.float32(offset), held, params.as_tuple())


def _judge_learn_refit(s: State, day: date, judged: tuple[int, WindowFlags, np.ndarray], learn_one,
                       params: DetectorParams) -> int:
    changed, flags, blocked = judged
    s.flags[...] = flags.to_dense(s.shape)
    learn_one(held_out(s.shape, flags, day, blocked))
    refit(s.sums, s.model, s.second, params)
    return changed


def update(s: State, day: date, ndvi: np.ndarray, clear: np.ndarray,
           nbr: np.ndarray | None = None, params: DetectorParams = DetectorParams(),
           forest: np.ndarray | None = None, ndmi: np.ndarray | None = None) -> int:
    """Fold one acquisition into a window's state, in place: judge it, learn it, refit the baseline. Returns
    the number of pixels that changed alert status.

    ``ndvi``/``nbr``/``ndmi`` are index arrays of the window (NBR and NDMI optional: the second, independent
    indices that raise a confirmed alert to *highest*), ``clear`` the clear-land mask, ``forest`` the user's
    forest layer on the window (nonzero = forest; when absent, forest is judged from each pixel's history).
    Observations not newer than a pixel's last one are ignored, so feeding the same scene twice changes nothing.
    """
    judged = judge(s.model, s.second, WindowFlags.from_dense(s.flags), day, ndvi, clear, nbr, params, forest, ndmi)
    return _judge_learn_refit(s, day, judged, lambda held: learn(s.sums, day, ndvi, clear, held, nbr, ndmi, params),
                              params)


def update_dn(s: State, day: date, bands: dict[str, np.ndarray], clear: np.ndarray, scale: float,
              offset: float, params: DetectorParams = DetectorParams(), forest: np.ndarray | None = None,
              seen: np.ndarray | None = None) -> int:
    """``update`` from the digital numbers of a scene (see ``judge_dn``)."""
    judged = judge_dn(s.model, s.second, WindowFlags.from_dense(s.flags), day, bands, clear, scale, offset, params,
                      forest, seen)
    return _judge_learn_refit(s, day, judged,
                              lambda held: learn_dn(s.sums, day, bands, clear, held, scale, offset, params), params)
