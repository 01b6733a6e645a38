"""What the detector keeps per pixel and the thresholds it decides with.

Each pixel keeps a harmonic (annual) least-squares model of NDVI and NBR (and NDMI where SWIR-1 is seen):
value = b0 + b1·cos + b2·sin of the time of year, so the baseline knows the dry season. The model is kept as
the running means of its normal equations (the design's 1, cos, sin products and each index's y, y·cos,
y·sin), so a new observation is folded in without keeping the series, and the baseline is the exact
least-squares fit to the pixel's learned observations (weighted exponentially once there are more than
``memory_obs`` of them, so it follows slow change such as a growing plantation). The spread is the root mean
square of recent prediction errors.

The state of a pixel has three parts, each with one job:
- **sums** (``SUMS_DTYPE``, 46 bytes): the running means and counters the baseline is learned in;
- **model** (``MODEL_DTYPE``, 16 bytes): the fitted NDVI baseline (coefficients, spread, from which day the
  pixel is monitored), refitted from the sums; it is all a scene is judged against. NBR's and NDMI's baselines
  are fitted from the sums only where NDVI flags a pixel (a few pixels a scene), so they are not kept;
- **flags** (``FLAG_DTYPE``, 16 bytes): the alert of a pixel (first flag, hits, confirmation); only pixels
  with an alert have one, so on disk they are a short list.

The thresholds (``DetectorParams``) are below; the compiled per-pixel steps that apply them are in
``geo.detect.kernels``; the confidence levels they give, in words, are ``geo.alerts.CONFIDENCE_RULES``.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import numpy as np

from geo.alerts import CONFIDENCE_LEVELS

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
# The fitted NDVI baseline: b0 + b1·cos + b2·sin (int16, units of COEF_UNIT) and the spread (units of SD_UNIT;
# NO_SIGMA until more than three observations are learned), with what every judged pixel needs. The second,
# independent indices' baselines are fitted in the same units from the sums where a pixel is flagged.
MODEL_DTYPE = np.dtype([
    ("ndvi_b0", "i2"), ("ndvi_b1", "i2"), ("ndvi_b2", "i2"), ("ndvi_sigma", "u2"),
    ("ready_day", "u2"),      # monitored from this day on (enough history); 0: not yet
    ("baseline_day", "u2"),   # the newest observation folded into the sums: older ones are not judged
    ("learned_day", "u2"),    # the last learned observation (the alert's "scene before")
    ("stable", "u1"),         # 1: stable forest by its own history (high, steady NDVI, few outliers)
    ("ndmi_ok", "u1"),        # 1: NDMI was learned with every observation, so it can vouch for a flag
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
STATE_BANDS = tuple(name for dtype in (SUMS_DTYPE, MODEL_DTYPE, FLAG_DTYPE) for name in dtype.names)

NONE, LOW, HIGH, HIGHEST = 0, 1, 2, 3
CONFIDENCE_NAMES = dict(zip((LOW, HIGH, HIGHEST), CONFIDENCE_LEVELS, strict=True))  # see geo.alerts.CONFIDENCE_RULES

class DetectorParams(NamedTuple):
    """Thresholds of the detector; defaults tuned on the demo scenario and documented in the README.

    A named tuple: the compiled kernels receive it by value and read every threshold by its name.
    """

    abs_drop: float = 0.15        # NDVI (and NBR) must fall at least this far below the baseline...
    z_drop: float = 4.0           # ...and at least this many residual standard deviations
    rel_drop: float = 0.2         # ...and by at least this fraction of the baseline value
    sigma_floor: float = 0.025    # smallest spread assumed for a pixel
    min_obs: int = 12             # learned observations before a pixel is monitored
    min_span_days: int = 300      # ...spanning most of a year, so the seasonal cycle is known
    confirm_hits: int = 2         # flags among the next `confirm_window` valid observations after the first, for "high"
    confirm_window: int = 4
    suspect_drop: float = 0.25    # a suspect observation (near a masked cloud, hazy, snow-like) must drop this far,
    suspect_z: float = 6.0        # ...this many residual standard deviations, and the second index must agree
    expire_days: int = 180
    forest_min_ndvi: float = 0.6  # two-date mode: vegetated forest before has NDVI at least this
    forest_min_mean: float = 0.45  # stable forest: mean NDVI at least this,
    forest_min_peak: float = 0.65    # seasonal peak at least this (leafy canopy),
    forest_min_season: float = 0.25  # seasonal low at least this (leaf-off canopy, not bare soil),
    forest_max_sigma: float = 0.08   # residual spread at most this plus
    forest_sigma_per_amplitude: float = 0.4  # this share of the seasonal amplitude (deciduous forest fits a
                                             # single harmonic less tightly than evergreen),
    forest_max_outliers: float = 0.2  # and at most this share of observations not fitting the baseline
    outlier_z: float = 4.0        # observations further than this from the baseline are not learned
    warmup_obs: int = 6           # every clear observation is learned until the pixel has this many
    memory_obs: int = 60          # the baseline's memory, in learned observations (about two years)
    spread_memory_obs: int = 20   # the spread's memory: early errors, made before the season was learned, fade
    refit_days: int = 28          # a run learns judged scenes (refits the baseline) when it is this old


class TwoDateParams(NamedTuple):
    """Thresholds of the two-date mode (two scenes, no history), on top of ``DetectorParams``' drops.

    Without a baseline a fall in NDVI alone also catches harvests, wet soil and haze: a loss must also brighten
    SWIR2 (bare soil, mud). Cloud masks miss the rims of clouds and shadows, so pixels near them on either date
    must fall further; the mask itself is widened by one pixel of the sensor's mask, in metres, so a wide
    fixed buffer does not cut a large clearing next to a cloud into pieces.
    """

    swir_rise: float = 0.03          # SWIR2 (B12) reflectance must rise at least this much
    near_cloud_m: float = 300.0      # a cloud or shadow this close on either date...
    near_cloud_factor: float = 1.5   # ...asks this many times the NDVI drop (absolute and relative) and SWIR rise
    mask_buffer_pixels: float = 1.0  # the clear mask's buffer, in pixels of the sensor's own mask


def day_number(day: date) -> int:
    return (day - EPOCH).days


def from_day_number(n: float) -> date:
    return date.fromordinal(EPOCH.toordinal() + int(n))
