"""Forest-loss detection: a per-pixel seasonal baseline and GLAD-style confirmation, updated one scene at a time.

Each pixel keeps the sufficient statistics of a harmonic (annual) least-squares fit of NDVI and NBR to its
clear observations, so the baseline knows the dry season and is updated incrementally without keeping the
series. A clear observation that drops below the baseline beyond both an absolute and a robust (z) threshold
is *flagged*; the first flag makes the pixel a *low*-confidence alert, 2 flags among the next 4 valid
observations make it *high* (and *highest* when NBR agrees), otherwise the flag expires after 4 observations
or 180 days. Confirmed pixels are not alerted again. Only pixels whose own history says "stable forest"
(enough observations over most of a year, high and steady NDVI, few outliers) are monitored.

All work is vectorised numpy over one window of the grid; the caller loops over windows and scenes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

EPOCH = date(1970, 1, 1)

# Per-pixel state, one float32 array each (day numbers are days since EPOCH, exact in float32).
STATE_BANDS = (
    "last_day", "first_day", "last_learned",       # newest observation seen; first and last learned ones
    "n", "sc", "ss", "scc", "scs", "sss",          # harmonic design sums: Σ1, Σcos, Σsin, Σcos², Σcos·sin, Σsin²
    "ndvi_y", "ndvi_yc", "ndvi_ys", "ndvi_yy",     # Σy, Σy·cos, Σy·sin, Σy² for NDVI
    "nbr_y", "nbr_yc", "nbr_ys", "nbr_yy",         # the same for NBR
    "ndmi_n", "ndmi_y", "ndmi_yc", "ndmi_ys", "ndmi_yy",  # NDMI (SWIR-1), counted apart: not every scene has B11
    "n_valid", "n_outlier",                        # clear observations seen while idle, and those not learned
    "status",                                      # 0 none, 1 low (pending), 2 high, 3 highest
    "flag_day", "flag_after", "flag_hits", "flag_nbr_hits", "flag_drop", "before_day",  # nbr_hits: NBR or NDMI
    "confirm_day", "watched",                      # date of high confidence; 1 if watched as forest
)
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


def day_number(day: date) -> int:
    return (day - EPOCH).days


def from_day_number(n: float) -> date:
    return date.fromordinal(EPOCH.toordinal() + int(n))


def new_state(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    return {name: np.zeros(shape, dtype=np.float32) for name in STATE_BANDS}


def _harmonics(day: int) -> tuple[float, float]:
    angle = 2 * np.pi * day / 365.25
    return float(np.cos(angle)), float(np.sin(angle))


def _fit(s: dict[str, np.ndarray], prefix: str, idx: np.ndarray, c: float, sn: float):
    """Baseline prediction, residual spread and coefficients at the pixels ``idx`` (flat indices)."""
    g = {k: s[k].ravel()[idx].astype(np.float64) for k in ("n", "sc", "ss", "scc", "scs", "sss")}
    n = g["n"]
    # Normal equations A·β = b with A = [[n, Σc, Σs], [Σc, Σcc, Σcs], [Σs, Σcs, Σss]], solved in closed form.
    # A small ridge keeps them solvable for pixels with little history (it mostly shrinks the harmonics).
    a00, a01, a02 = n + 1e-6, g["sc"], g["ss"]
    a11, a12, a22 = g["scc"] + 1e-3, g["scs"], g["sss"] + 1e-3
    b0, b1, b2 = (s[f"{prefix}_{k}"].ravel()[idx].astype(np.float64) for k in ("y", "yc", "ys"))
    c00, c01, c02 = a11 * a22 - a12 * a12, a02 * a12 - a01 * a22, a01 * a12 - a02 * a11
    c11, c12, c22 = a00 * a22 - a02 * a02, a01 * a02 - a00 * a12, a00 * a11 - a01 * a01
    det = a00 * c00 + a01 * c01 + a02 * c02
    beta = np.stack([c00 * b0 + c01 * b1 + c02 * b2, c01 * b0 + c11 * b1 + c12 * b2,
                     c02 * b0 + c12 * b1 + c22 * b2], axis=1) / det[:, None]
    pred = beta[:, 0] + beta[:, 1] * c + beta[:, 2] * sn
    yy = s[f"{prefix}_yy"].ravel()[idx].astype(np.float64)
    # Residual sum of squares = Σy² − βᵀb (exact at the least-squares solution, up to the tiny ridge).
    rss = yy - (beta[:, 0] * b0 + beta[:, 1] * b1 + beta[:, 2] * b2)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(np.clip(rss, 0, None) / (n - 3))
    sigma[n <= 3] = np.inf
    return pred, sigma, beta


def _learn(s: dict[str, np.ndarray], idx: np.ndarray, day: int, c: float, sn: float,
           ndvi: np.ndarray, nbr: np.ndarray | None, ndmi: np.ndarray | None = None) -> None:
    flat = {k: v.reshape(-1) for k, v in s.items()}
    first = flat["n"][idx] == 0
    flat["first_day"][idx[first]] = day
    flat["last_learned"][idx] = day
    for name, value in (("n", 1.0), ("sc", c), ("ss", sn), ("scc", c * c), ("scs", c * sn), ("sss", sn * sn)):
        flat[name][idx] += value
    if ndmi is not None:  # NDMI shares the design sums, so it is only usable where it was learned every time
        finite = np.isfinite(ndmi)
        flat["ndmi_n"][idx[finite]] += 1
        ndmi = np.where(finite, ndmi, 0.0)
    for prefix, y in (("ndvi", ndvi), ("nbr", nbr), ("ndmi", ndmi)):
        if y is None:
            continue
        flat[f"{prefix}_y"][idx] += y
        flat[f"{prefix}_yc"][idx] += y * c
        flat[f"{prefix}_ys"][idx] += y * sn
        flat[f"{prefix}_yy"][idx] += y * y


def _stable_forest(s: dict[str, np.ndarray], idx: np.ndarray, d: int, beta: np.ndarray, sigma: np.ndarray,
                   p: DetectorParams) -> np.ndarray:
    """Pixels whose own history says stable forest: enough of it, high and steady NDVI, few outliers."""
    flat = {k: s[k].reshape(-1) for k in ("n", "first_day", "n_valid", "n_outlier")}
    ready = (flat["n"][idx] >= p.min_obs) & (d - flat["first_day"][idx] >= p.min_span_days)
    amplitude = np.hypot(beta[:, 1], beta[:, 2])
    n_valid = np.maximum(flat["n_valid"][idx], 1)
    return (ready & (beta[:, 0] >= p.forest_min_ndvi) & (beta[:, 0] - amplitude >= p.forest_min_season)
            & (sigma <= p.forest_max_sigma) & (flat["n_outlier"][idx] / n_valid <= p.forest_max_outliers))


def _ready(s: dict[str, np.ndarray], idx: np.ndarray, d: int, p: DetectorParams) -> np.ndarray:
    return (s["n"].reshape(-1)[idx] >= p.min_obs) & (d - s["first_day"].reshape(-1)[idx] >= p.min_span_days)


def monitored(s: dict[str, np.ndarray]) -> np.ndarray:
    """Pixels of the window under watch: judged forest (the user's layer, or stable forest by its own history,
    with enough history) at their newest clear observation, plus pixels already in alert."""
    return (s["watched"] > 0) | (s["status"] > NONE)


def before_after(s: dict[str, np.ndarray], before: date, after: date, ndvi_before: np.ndarray,
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


def update(s: dict[str, np.ndarray], day: date, ndvi: np.ndarray, clear: np.ndarray,
           nbr: np.ndarray | None = None, params: DetectorParams = DetectorParams(),
           forest: np.ndarray | None = None, ndmi: np.ndarray | None = None) -> int:
    """Fold one acquisition into the state, in place; returns the number of pixels that changed alert status.

    ``ndvi``/``nbr``/``ndmi`` are index arrays of the window (NBR and NDMI optional: the second, independent
    indices that raise a confirmed alert to *highest*), ``clear`` the clear-land mask, ``forest`` the user's
    forest layer on the window (nonzero = forest; when absent, forest is judged from each pixel's history).
    Observations not newer than a pixel's last one are ignored, so feeding the same scene twice changes nothing.
    """
    p = params
    d = day_number(day)
    c, sn = _harmonics(d)
    flat = {k: v.reshape(-1) for k, v in s.items()}
    ok = clear.reshape(-1) & np.isfinite(ndvi.reshape(-1)) & (flat["last_day"] < d)
    if nbr is not None:
        ok &= np.isfinite(nbr.reshape(-1))
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return 0
    y = ndvi.reshape(-1)[idx].astype(np.float64)
    y_nbr = nbr.reshape(-1)[idx].astype(np.float64) if nbr is not None else None
    y_ndmi = ndmi.reshape(-1)[idx].astype(np.float64) if ndmi is not None else None
    flat["last_day"][idx] = d

    pred, sigma, beta = _fit(s, "ndvi", idx, c, sn)
    drop = pred - y
    sig = np.maximum(sigma, p.sigma_floor)
    flagged = (drop >= np.maximum(p.abs_drop, p.z_drop * sig)) & (y <= pred * (1 - p.rel_drop))
    nbr_flagged = np.zeros(idx.size, dtype=bool)
    if y_nbr is not None and flagged.any():  # NBR only matters where NDVI flags: fit it there alone
        fi = np.flatnonzero(flagged)
        pred_n, sigma_n, _ = _fit(s, "nbr", idx[fi], c, sn)
        nbr_flagged[fi] = (pred_n - y_nbr[fi]) >= np.maximum(p.abs_drop, p.z_drop * np.maximum(sigma_n, p.sigma_floor))
    if y_ndmi is not None and flagged.any():  # NDMI where SWIR-1 was seen at every learned observation
        fi = np.flatnonzero(flagged & np.isfinite(y_ndmi) & (flat["ndmi_n"][idx] == flat["n"][idx]))
        if fi.size:
            pred_m, sigma_m, _ = _fit(s, "ndmi", idx[fi], c, sn)
            nbr_flagged[fi] |= ((pred_m - y_ndmi[fi])
                                >= np.maximum(p.abs_drop, p.z_drop * np.maximum(sigma_m, p.sigma_floor)))

    status = flat["status"][idx]
    n = flat["n"][idx]
    if forest is not None:
        watched = forest.reshape(-1)[idx].astype(bool) & _ready(s, idx, d, p)
    else:
        watched = _stable_forest(s, idx, d, beta, sigma, p)
    flat["watched"][idx] = watched  # the verdict at the pixel's newest clear observation, for coverage
    changed = 0

    # Pending pixels: expire after `expire_days`, else count this observation towards confirmation.
    pending = status == LOW
    expired = pending & (d - flat["flag_day"][idx] > p.expire_days)
    pending &= ~expired
    pi = idx[pending]
    flat["flag_after"][pi] += 1
    hit = flagged[pending]
    flat["flag_hits"][pi] += hit
    flat["flag_nbr_hits"][pi] += hit & nbr_flagged[pending]
    flat["flag_drop"][pi] += np.where(hit, drop[pending], 0)
    confirmed = flat["flag_hits"][pi] >= p.confirm_hits
    ci = pi[confirmed]
    flat["status"][ci] = np.where(flat["flag_nbr_hits"][ci] >= p.confirm_hits, HIGHEST, HIGH)
    flat["confirm_day"][ci] = d
    expired_idx = np.concatenate([idx[expired], pi[~confirmed & (flat["flag_after"][pi] >= p.confirm_window)]])
    for name in ("status", "flag_day", "flag_after", "flag_hits", "flag_nbr_hits", "flag_drop", "before_day"):
        flat[name][expired_idx] = 0
    changed += ci.size + expired_idx.size

    # Idle pixels (including those whose flag just expired by age): start an alert, or learn the observation.
    idle = (status == NONE) | expired
    start = idle & watched & flagged
    si = idx[start]
    flat["status"][si] = LOW
    flat["flag_day"][si] = d
    flat["flag_after"][si] = 0
    flat["flag_hits"][si] = 1
    flat["flag_nbr_hits"][si] = nbr_flagged[start]
    flat["flag_drop"][si] = drop[start]
    flat["before_day"][si] = flat["last_learned"][si]
    changed += si.size

    rest = idle & ~start
    fits = (n < p.warmup_obs) | (np.abs(drop) <= np.maximum(p.outlier_z * sig, p.abs_drop * 2 / 3))
    ri = idx[rest]
    flat["n_valid"][ri] += 1
    flat["n_outlier"][idx[rest & ~fits]] += 1
    learn = rest & fits
    _learn(s, idx[learn], d, c, sn, y[learn], y_nbr[learn] if y_nbr is not None else None,
           y_ndmi[learn] if y_ndmi is not None else None)
    return changed
