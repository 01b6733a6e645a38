"""The detector's per-pixel steps, compiled with Numba (``nogil``, cached on disk) so windows run in parallel
threads: judge an observation against the fitted baseline (start, confirm, expire an alert), learn it into the
sums, refit the baseline from the sums, count the monitored pixels.

Every function takes the thresholds as ``p``, a ``geo.detect.model.DetectorParams`` (a named tuple, passed by
value) and reads them by name. Loops come in two forms, for the two ways a scene is read: from its digital
numbers (a scene on the grid; the indices are computed pixel by pixel here) or from index arrays (a scene
warped onto the window).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from geo.detect.model import COEF_UNIT, HIGH, HIGHEST, LOW, MEAN_UNIT, NO_SIGMA, NONE, SD_UNIT

# Multiply-adds are fused (fastmath "contract" only: no reordering, no approximations): learning a scene takes
# a tenth to a fifth less time, and the state's rounding to its int16 units absorbs the last-bit differences.
_FAST = {"contract"}
_jit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always", fastmath=_FAST)  # per-pixel helpers


@_jit
def design(n, mc, ms, mcc, mcs):
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
def fit(inv, my, myc, mys, c, sn):
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
    return pred - y >= max(p.abs_drop, p.z_drop * max(sigma, p.sigma_floor))


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
def _second_drop(r, which, c, sn, y, p):
    """Whether a second index (``which`` 0: NBR, 1: NDMI) of value ``y`` falls below its baseline, fitted from
    the pixel's sums ``r`` (as ``refit`` fits NDVI's, coefficients and spread rounded to the model's units):
    read only where NDVI flags a pixel, so only NDVI's baseline is kept fitted."""
    n = float(r.n)
    inv = design(n, r.mc, r.ms, r.mcc, r.mcs)
    if which == 0:
        _, b0, b1, b2 = fit(inv, r.nbr_y, r.nbr_yc, r.nbr_ys, 1.0, 0.0)
        sd = r.nbr_sd
    else:
        _, b0, b1, b2 = fit(inv, r.ndmi_y, r.ndmi_yc, r.ndmi_ys, 1.0, 0.0)
        sd = r.ndmi_sd
    pred = _predict(_coef(b0), _coef(b1), _coef(b2), c, sn)
    return _flags_drop(pred, _model_sigma(_model_sd(sd, n)), y, p)


@_jit
def _judge_px(m, r, f, has, d, c, sn, y, y_nbr, has_nbr, y_ndmi, has_ndmi, forest, has_forest, suspect, p):
    """Judge one clear observation (NDVI ``y``; NBR and NDMI when present) of one pixel against its fitted
    baseline ``m`` (``r``: its sums, which NBR's and NDMI's baselines are fitted from, read only when the pixel
    is flagged); ``f`` is its flag record
    (``has``: it had one; else a zeroed scratch record). A ``suspect`` observation (near a masked cloud on its
    date, or hazy or snow-like itself: ``geo.cloudmask.observation_quality``) is flagged only by the stricter
    drop (``suspect_drop``, ``suspect_z``) with the second index agreeing where it is measured: leaked cloud
    rims and haze lower NDVI but barely NBR, a clearing lowers both.

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
    sig = max(_model_sigma(m.ndvi_sigma), p.sigma_floor)
    flagged = drop >= max(p.abs_drop, p.z_drop * sig) and y <= pred * (1 - p.rel_drop)
    if flagged and suspect:
        flagged = drop >= max(p.suspect_drop, p.suspect_z * sig)
    if not (flagged or has):  # the common case: an idle pixel that fits its baseline
        return 0, False
    second = False  # the second, independent index agrees (NBR; or NDMI where SWIR-1 was always seen)
    if flagged and has_nbr:
        second = _second_drop(r, 0, c, sn, y_nbr, p)
    if flagged and has_ndmi and not math.isnan(y_ndmi) and m.ndmi_ok:
        second = second or _second_drop(r, 1, c, sn, y_ndmi, p)
    if flagged and suspect and has_nbr and not second:
        flagged = False
    if not (flagged or has):
        return 0, False
    ready = m.ready_day != 0 and d >= m.ready_day
    watched = (forest != 0 and ready) if has_forest else (ready and m.stable != 0)
    if not has:  # a flagged idle pixel: its record starts from the zeroed scratch one
        _reset_flag(f)
        f.confirm_day = 0

    f.judged_day = d
    changed = 0
    status = f.status
    expired = status == LOW and d - float(f.flag_day) > p.expire_days
    if status == LOW and not expired:  # pending: count this observation towards confirmation
        f.flag_after += 1
        if flagged:
            f.flag_hits += 1
            f.flag_drop += drop
            if second:
                f.flag_nbr_hits += 1
        if f.flag_hits > p.confirm_hits:  # the first flag plus confirm_hits of the next observations
            f.status = HIGHEST if f.flag_nbr_hits > p.confirm_hits else HIGH
            f.confirm_day = d
            changed = 1
        elif f.flag_after >= p.confirm_window:
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
    inv = design(n, r.mc, r.ms, r.mcc, r.mcs)
    pred = fit(inv, r.ndvi_y, r.ndvi_yc, r.ndvi_ys, c, sn)[0]
    drop = pred - y
    sig = max(_sigma(r.ndvi_sd, n), p.sigma_floor)
    r.n_valid = min(r.n_valid + 1, 65535)
    if not (n < p.warmup_obs or abs(drop) <= max(p.outlier_z * sig, p.abs_drop * 2 / 3)):
        r.n_outlier = min(r.n_outlier + 1, 65535)
        return
    if r.n == 0:
        r.first_day = d
    r.last_learned = d
    inv_k = 1.0 / min(n + 1.0, p.memory_obs)
    inv_e = 1.0 / min(n, p.spread_memory_obs) if n > 0 else 0.0
    r.ndvi_sd = _spread_step(r.ndvi_sd, drop, inv_e)
    r.ndvi_y, r.ndvi_yc, r.ndvi_ys = _mean_step(r.ndvi_y, y, inv_k), _mean_step(r.ndvi_yc, y * c, inv_k), \
        _mean_step(r.ndvi_ys, y * sn, inv_k)
    if has_nbr:
        pred_nbr = fit(inv, r.nbr_y, r.nbr_yc, r.nbr_ys, c, sn)[0]
        r.nbr_sd = _spread_step(r.nbr_sd, pred_nbr - y_nbr, inv_e)
        r.nbr_y, r.nbr_yc, r.nbr_ys = _mean_step(r.nbr_y, y_nbr, inv_k), _mean_step(r.nbr_yc, y_nbr * c, inv_k), \
            _mean_step(r.nbr_ys, y_nbr * sn, inv_k)
    if has_ndmi and not math.isnan(y_ndmi):  # NDMI shares the design: usable where learned every time
        ndmi_whole = r.ndmi_n == r.n
        pred_ndmi = fit(inv, r.ndmi_y, r.ndmi_yc, r.ndmi_ys, c, sn)[0] if ndmi_whole else 0.0
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
def refit(sums, model, p):
    """Fit every pixel's NDVI baseline (``model``) from its sums (NBR's and NDMI's are fitted when a pixel is
    flagged: ``_second_drop``)."""
    for i in range(sums.shape[0]):
        for j in range(sums.shape[1]):
            r, m = sums[i, j], model[i, j]
            n = float(r.n)
            inv = design(n, r.mc, r.ms, r.mcc, r.mcs)
            _, b0, b1, b2 = fit(inv, r.ndvi_y, r.ndvi_yc, r.ndvi_ys, 1.0, 0.0)
            m.ndvi_b0, m.ndvi_b1, m.ndvi_b2 = _coef(b0), _coef(b1), _coef(b2)
            m.ndvi_sigma = _model_sd(r.ndvi_sd, n)
            m.ndmi_ok = 1 if r.ndmi_n == r.n else 0
            m.ready_day = min(r.first_day + p.min_span_days, 65535) if n >= p.min_obs and r.first_day > 0 else 0
            amplitude = math.sqrt(b1 * b1 + b2 * b2)  # (math.hypot is a slow libm call)
            # Evergreen forest is high all year; deciduous (and seasonally snowy) forest swings with the
            # seasons but keeps a leafy peak, a leaf-off floor above bare soil, and errors small for its swing.
            m.stable = 1 if (b0 >= p.forest_min_mean and b0 + amplitude >= p.forest_min_peak
                             and b0 - amplitude >= p.forest_min_season
                             and _sigma(r.ndvi_sd, n)
                             <= p.forest_max_sigma + p.forest_sigma_per_amplitude * amplitude
                             and r.n_outlier / max(float(r.n_valid), 1.0) <= p.forest_max_outliers) else 0
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
def judge_indices(model, sums, pix, rec, new_pix, new_rec, blocked, scratch, d, c, sn, ndvi, clear, nbr, has_nbr,
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
            ch, held = _judge_px(model[i, j], sums[i, j], f, has, d, c, sn, y, y_nbr, has_nbr, y_ndmi, has_ndmi,
                                 forest[i, j] if has_forest else 0, has_forest, clear[i, j] >= 2, p)
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
def judge_dn(model, sums, pix, rec, new_pix, new_rec, blocked, scratch, d, c, sn, red, nir, swir2, swir1, has_swir1,
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
            ch, held = _judge_px(model[i, j], sums[i, j], f, has, d, c, sn, y, y_nbr, True, y_ndmi, has_swir1,
                                 forest[i, j] if has_forest else 0, has_forest, clear[i, j] >= 2, p)
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
def learn_indices(sums, d, c, sn, ndvi, clear, nbr, has_nbr, ndmi, has_ndmi, held, p):
    for i in range(sums.shape[0]):
        for j in range(sums.shape[1]):
            if not clear[i, j] or clear[i, j] == 3 or sums[i, j].last_day >= d:  # 3: hazy or snow-like
                continue
            y, y_nbr, y_ndmi = _index_obs(i, j, ndvi, nbr, has_nbr, ndmi, has_ndmi)
            if math.isnan(y) or math.isnan(y_nbr):
                continue
            sums[i, j].last_day = d
            if not held[i, j]:
                _learn_px(sums[i, j], d, c, sn, y, y_nbr, has_nbr, y_ndmi, has_ndmi, p)


@_jit
def learn_dn(sums, d, c, sn, red, nir, swir2, swir1, has_swir1, clear, scale, offset, held, p):
    for i in range(sums.shape[0]):
        for j in range(sums.shape[1]):
            if not clear[i, j] or clear[i, j] == 3 or sums[i, j].last_day >= d:  # 3: hazy or snow-like
                continue
            y, y_nbr, y_ndmi = _dn_obs(i, j, red, nir, swir2, swir1, has_swir1, scale, offset)
            if math.isnan(y) or math.isnan(y_nbr):
                continue
            sums[i, j].last_day = d
            if not held[i, j]:
                _learn_px(sums[i, j], d, c, sn, y, y_nbr, True, y_ndmi, has_swir1, p)


@_jit
def coverage_counts(model, alert, forest, has_forest, d, seen, units, unit, n_units, p):
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


