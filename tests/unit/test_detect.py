"""The per-pixel detector: seasonal baseline, thresholds, confirmation (2 of the next 4 after the first flag),
expiry, clouds, idempotency.

Expected baselines and residual spreads come from an independent least-squares fit (numpy ``lstsq`` of the
observations on 1, cos, sin of the annual cycle), never from the detector's own statistics.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pytest

from geo import detect
from geo.detect import HIGH, HIGHEST, LOW, NONE, DetectorParams

EPOCH = date(1970, 1, 1)
START = date(2023, 1, 2)
STEP = 10        # days between observations of the history
N_HISTORY = 41   # 400 days of history
AFTER = START + timedelta(days=STEP * N_HISTORY)  # the first day after the history
OMEGA = 2 * np.pi / 365.25


def dn(day: date) -> int:
    """Days since 1970-01-01, worked out here rather than with the module's helper."""
    return (day - EPOCH).days


def seasonal(day: date, mean: float = 0.8, amp: float = 0.05) -> float:
    return mean + amp * np.cos(2 * np.pi * day.timetuple().tm_yday / 365.25)


def harmonic_fit(days: list[date], values: list[float], at: date) -> tuple[float, float]:
    """Independent annual-harmonic OLS: prediction at ``at`` and residual standard deviation."""
    t = np.array([dn(d) for d in days], dtype=np.float64)
    x = np.column_stack([np.ones_like(t), np.cos(OMEGA * t), np.sin(OMEGA * t)])
    y = np.asarray(values, dtype=np.float64)
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    sd = float(np.sqrt(resid @ resid / (len(y) - 3)))
    ta = dn(at)
    return float(beta @ [1.0, np.cos(OMEGA * ta), np.sin(OMEGA * ta)]), sd


def f32(v: float) -> float:
    return float(np.float32(v))


def feed(state, day: date, ndvi: float, nbr: float | None = None, clear: bool = True,
         params: DetectorParams = DetectorParams()) -> int:
    """One observation of a constant value over the whole (small) window."""
    shape = state["status"].shape
    return detect.update(state, day, np.full(shape, ndvi, dtype=np.float32), np.full(shape, clear),
                         None if nbr is None else np.full(shape, nbr, dtype=np.float32), params)


@dataclass
class Pixel:
    """A 1x1 window with a learned history; remembers what it was fed so baselines can be refitted."""

    state: dict
    days: list[date] = field(default_factory=list)
    ndvi: list[float] = field(default_factory=list)
    nbr: list[float] = field(default_factory=list)

    def baseline(self, day: date) -> float:
        return harmonic_fit(self.days, self.ndvi, day)[0]

    def nbr_baseline(self, day: date) -> float:
        return harmonic_fit(self.days, self.nbr, day)[0]

    def sd(self) -> float:
        return harmonic_fit(self.days, self.ndvi, self.days[-1])[1]

    def drop(self, day: date, ndvi_drop: float, nbr_drop: float = 0.0, clear: bool = True,
             params: DetectorParams = DetectorParams()) -> int:
        """Observe the baseline minus ``ndvi_drop`` (and the NBR baseline minus ``nbr_drop``)."""
        return feed(self.state, day, self.baseline(day) - ndvi_drop, self.nbr_baseline(day) - nbr_drop,
                    clear, params)

    def copy(self) -> Pixel:
        return Pixel(copy.deepcopy(self.state), list(self.days), list(self.ndvi), list(self.nbr))

    def v(self, band: str) -> float:
        return float(self.state[band][0, 0])


def make_forest(*, mean=0.8, amp=0.05, noise=0.002, alternating=0.0, n=N_HISTORY, step=STEP, start=START,
                seed=7, params=DetectorParams()) -> Pixel:
    """A stable forest pixel observed every ``step`` days; asserts it is learned and never flagged."""
    rng = np.random.default_rng(seed)
    px = Pixel(detect.new_state((1, 1)))
    for k in range(n):
        day = start + timedelta(days=step * k)
        v = f32(seasonal(day, mean, amp) + rng.normal(0, noise) + alternating * (-1) ** k)
        b = f32(seasonal(day, 0.45, 0.04) + rng.normal(0, noise))
        assert feed(px.state, day, v, b, params=params) == 0
        assert px.v("status") == NONE
        px.days.append(day)
        px.ndvi.append(v)
        px.nbr.append(b)
    assert px.v("n") == n  # everything learned: the history is the one the independent fit uses
    return px


@pytest.fixture
def forest() -> Pixel:
    return make_forest()


@pytest.fixture
def flagged(forest) -> tuple[Pixel, date]:
    """The forest pixel with a first flag (NDVI and NBR both dropped by 0.3) on AFTER."""
    assert forest.drop(AFTER, 0.3, 0.3) == 1
    assert forest.v("status") == LOW
    return forest, AFTER


def later(day: date, k: int) -> date:
    return day + timedelta(days=STEP * k)


# ---------------------------------------------------------------------------------------------------------
# Helpers of the module.


def test_day_number_known_values():
    assert detect.day_number(date(1970, 1, 1)) == 0
    assert detect.day_number(date(2024, 3, 18)) == 54 * 365 + 13 + 31 + 29 + 17  # 13 leap days 1972-2020
    assert detect.from_day_number(19800.0) == date(2024, 3, 18)


def test_new_state_is_one_zeroed_record_per_pixel_in_each_part():
    s = detect.new_state((2, 3))
    assert s.shape == (2, 3)
    assert (s.sums.dtype, s.model.dtype, s.flags.dtype) == (detect.SUMS_DTYPE, detect.MODEL_DTYPE, detect.FLAG_DTYPE)
    assert len(set(detect.STATE_BANDS)) == len(detect.STATE_BANDS)  # a field's name says which part holds it
    for band in detect.STATE_BANDS:
        assert s[band].shape == (2, 3) and not s[band].any()
    # bytes a pixel on disk: the sums (learned monthly; the second indices' baselines are fitted from them where
    # a pixel is flagged), the model (read whole by every weekly run) and, for pixels in alert only, a flag record
    assert tuple(t.itemsize for t in (detect.SUMS_DTYPE, detect.MODEL_DTYPE, detect.FLAG_DTYPE)) == (46, 16, 16)


def test_day_numbers_fit_the_state_until_2149():
    s = detect.new_state((1, 1))
    s["last_day"][...] = detect.day_number(date(2149, 6, 1))
    assert detect.from_day_number(s["last_day"][0, 0]) == date(2149, 6, 1)


# ---------------------------------------------------------------------------------------------------------
# Stable forest and the seasonal baseline.


def test_stable_seasonal_forest_is_never_flagged(forest):
    # make_forest asserted status 0 and no change after each of the 41 observations
    assert forest.v("n_outlier") == 0
    assert forest.v("first_day") == dn(START)
    assert forest.v("last_day") == forest.v("last_learned") == dn(later(START, N_HISTORY - 1))


def test_independent_baseline_matches_the_generating_cycle(forest):
    # sanity of the test's own fit: it recovers 0.8 + 0.05·cos(2π·doy/365.25) within the noise
    for k in range(0, 40, 7):
        day = later(AFTER, k)
        assert forest.baseline(day) == pytest.approx(seasonal(day), abs=0.003)


def test_state_baseline_is_the_independent_least_squares_fit(forest):
    """The running means held in the state (int16) give the least-squares baseline of the whole history."""
    for k in (0, 5, 18, 30):
        day = later(AFTER, k)
        assert detect.baseline(forest.state, day)[0][0, 0] == pytest.approx(forest.baseline(day), abs=1e-3)
        assert detect.baseline(forest.state, day, "nbr")[0][0, 0] == pytest.approx(forest.nbr_baseline(day), abs=1e-3)
    sigma = detect.baseline(forest.state, AFTER)[1][0, 0]
    assert forest.sd() / 2 < sigma < forest.sd() * 3  # recent prediction errors: the noise, and a little more


@pytest.mark.parametrize(("trend_per_year", "tolerance"), [(0.0, 0.002), (0.02, 0.04)])
def test_long_series_keeps_its_precision_and_follows_slow_change(trend_per_year, tolerance):
    """14 years every 10 days: the int16 means do not drift, and with a memory of ``memory_obs`` observations
    the baseline follows a slowly greening forest (a plantation growing in) without ever flagging it."""
    rng = np.random.default_rng(11)
    s = detect.new_state((1, 1))
    day = START
    for k in range(510):
        day = START + timedelta(days=10 * k)
        truth = seasonal(day, 0.65 + trend_per_year * k * 10 / 365.25)
        assert feed(s, day, f32(truth + rng.normal(0, 0.005)), f32(0.45 + rng.normal(0, 0.005))) == 0
    assert s["n"][0, 0] == 510 and s["status"][0, 0] == NONE
    assert s["stable"][0, 0] == 1 and 0 < s["ready_day"][0, 0] <= dn(day)  # still monitored as forest
    ahead = day + timedelta(days=10)
    expected = seasonal(ahead, 0.65 + trend_per_year * 510 * 10 / 365.25)
    assert detect.baseline(s, ahead)[0][0, 0] == pytest.approx(expected, abs=tolerance)
    assert detect.baseline(s, ahead, "nbr")[0][0, 0] == pytest.approx(0.45, abs=0.004)


def test_dip_of_0_10_below_baseline_is_not_flagged(forest):
    assert forest.drop(AFTER, 0.10) == 0
    assert forest.v("status") == NONE
    assert forest.v("flag_day") == 0


def test_drop_of_0_30_below_baseline_is_flagged_low(forest):
    assert forest.drop(AFTER, 0.30) == 1
    assert forest.v("status") == LOW
    assert forest.v("flag_day") == dn(AFTER)
    assert forest.v("flag_hits") == 1
    assert forest.v("confirm_day") == 0
    assert forest.v("before_day") == dn(later(START, N_HISTORY - 1))  # the last learned observation
    assert forest.v("flag_drop") == pytest.approx(0.30, abs=1e-3)


@pytest.mark.parametrize("k", [0, 9, 18, 27])
def test_flag_follows_the_season(forest, k):
    # at different phases of the cycle a 0.10 dip is ignored and a 0.30 drop flagged
    day = later(AFTER, k)
    small, big = forest.copy(), forest.copy()
    small.drop(day, 0.10)
    big.drop(day, 0.30)
    assert small.v("status") == NONE
    assert big.v("status") == LOW and big.v("flag_day") == dn(day)


def test_dry_season_low_is_not_a_drop():
    # amplitude 0.1: the dry-season baseline is 0.70. 0.62 is 0.18 below the yearly mean 0.8 (and <= 0.8·0.8),
    # so a flat baseline would flag it; the harmonic baseline knows it is only 0.08 below the season.
    px = make_forest(amp=0.1)
    trough = min((later(AFTER, k) for k in range(37)), key=seasonal)
    assert px.baseline(trough) == pytest.approx(0.70, abs=0.003)
    assert feed(px.state, trough, 0.62, px.nbr_baseline(trough)) == 0
    assert px.v("status") == NONE


def test_a_field_added_in_the_middle_of_the_parameters_shifts_no_threshold():
    """The compiled steps read every threshold by its name: parameters with a new field inserted half-way decide
    exactly as the originals, although every later threshold has moved one position along."""
    from collections import namedtuple

    names = list(DetectorParams._fields)
    middle = names.index("forest_min_ndvi")  # a threshold that decides whether forest is watched at all
    values = list(DetectorParams())
    Extended = namedtuple("Extended", [*names[:middle], "inserted", *names[middle:]])
    extended = Extended(*values[:middle], 99.0, *values[middle:])
    assert extended[middle] != DetectorParams()[middle]  # read by position, the forest test would take 99.0

    runs = []
    for params in (DetectorParams(), extended):
        px = make_forest(params=params)
        changes = [px.drop(later(AFTER, k), 0.3, 0.3, params=params) for k in range(3)]
        runs.append((changes, px.state.sums.tobytes(), px.state.model.tobytes(), px.state.flags.tobytes()))
    assert runs[0][0] == [1, 0, 1]  # flagged, pending, then confirmed
    assert runs[1] == runs[0]


# ---------------------------------------------------------------------------------------------------------
# Thresholds.


@pytest.mark.parametrize(("drop", "expected"), [(0.14, NONE), (0.20, LOW)])
def test_absolute_threshold_with_tiny_spread(forest, drop, expected):
    assert forest.sd() < 0.005  # 4σ (floored at 0.025) = 0.1 < abs_drop: the absolute threshold rules
    forest.drop(AFTER, drop)
    assert forest.v("status") == expected


@pytest.mark.parametrize(("drop", "expected"), [(0.14, NONE), (0.16, LOW)])
def test_absolute_threshold_alone(drop, expected):
    params = DetectorParams(rel_drop=0.0)
    px = make_forest(params=params)
    px.drop(AFTER, drop, params=params)
    assert px.v("status") == expected


@pytest.mark.parametrize(("drop", "expected"), [(0.165, NONE), (0.19, LOW)])
def test_relative_threshold(drop, expected):
    # flat baseline 0.9: y must be <= 0.9·(1-0.2) = 0.72, i.e. a drop of at least 0.18 (0.165 passes abs only)
    px = make_forest(mean=0.9, amp=0.0, noise=0.001)
    assert px.baseline(AFTER) == pytest.approx(0.9, abs=0.001)
    px.drop(AFTER, drop)
    assert px.v("status") == expected


@pytest.mark.parametrize(("drop", "expected"), [(0.17, NONE), (0.30, LOW)])
def test_z_threshold_for_noisy_pixel(drop, expected):
    px = make_forest(noise=0.0, alternating=0.05)
    sd = px.sd()
    assert 0.048 < sd < 0.056  # residual spread ≈ 0.05, so 4σ ≈ 0.2 > abs_drop 0.15
    assert 4 * sd > 0.17 + 0.01
    dry = min((later(AFTER, k) for k in range(37)), key=seasonal)  # baseline ≈ 0.75
    assert 0.17 >= 0.2 * px.baseline(dry) + 0.01  # 0.17 passes the absolute and relative thresholds...
    px.drop(dry, drop)
    assert px.v("status") == expected  # ...so only the z threshold keeps it from being flagged


def test_no_flag_before_min_obs():
    # 11 observations over 360 days: the span is enough but not the count; the 12th makes the pixel ready
    px = make_forest(n=11, step=36)
    probe_day = later(START, 12 * 36 // STEP)
    early = px.copy()
    early.drop(probe_day, 0.4, 0.4)
    assert early.v("status") == NONE
    day12 = START + timedelta(days=11 * 36)
    v = f32(seasonal(day12))
    b = f32(seasonal(day12, 0.45, 0.04))
    feed(px.state, day12, v, b)
    px.days.append(day12)
    px.ndvi.append(v)
    px.nbr.append(b)
    assert px.v("n") == 12
    px.drop(probe_day, 0.4, 0.4)
    assert px.v("status") == LOW


@pytest.mark.parametrize(("offset", "expected"), [(299, NONE), (300, LOW)])
def test_no_flag_before_min_span_days(offset, expected):
    # 60 observations every 5 days (days 0..295): plenty of them, but a flag needs 300 days of history
    px = make_forest(n=60, step=5)
    assert px.v("n") >= 12
    px.drop(START + timedelta(days=offset), 0.4, 0.4)
    assert px.v("status") == expected


def test_no_flag_without_history():
    s = detect.new_state((1, 1))
    for k, v in enumerate([0.8, 0.8, 0.8, 0.1, 0.1]):
        assert feed(s, START + timedelta(days=10 * k), v, 0.4) == 0
    assert s["status"][0, 0] == NONE


# ---------------------------------------------------------------------------------------------------------
# Confirmation: the first flag, then 2 of the next 4 valid observations flagged.


def test_one_more_flag_is_not_enough(flagged):
    # A single bad observation after the first flag (a leaked cloud rim, haze) does not confirm an alert.
    px, first = flagged
    assert px.drop(later(first, 1), 0.3, 0.3) == 0
    assert px.v("status") == LOW
    assert px.v("flag_hits") == 2


def test_third_flag_confirms_high_without_nbr(flagged):
    px, first = flagged
    px.drop(later(first, 1), 0.3, 0.0)
    third = later(first, 2)
    assert px.drop(third, 0.3, 0.0) == 1
    assert px.v("status") == HIGH
    assert px.v("confirm_day") == dn(third)
    assert px.v("flag_day") == dn(first)
    assert px.v("flag_hits") == 3
    assert px.v("flag_drop") == pytest.approx(0.9, abs=3e-3)


def test_third_flag_with_nbr_drop_confirms_highest(flagged):
    px, first = flagged
    px.drop(later(first, 1), 0.3, 0.3)
    third = later(first, 2)
    px.drop(third, 0.3, 0.3)
    assert px.v("status") == HIGHEST
    assert px.v("confirm_day") == dn(third)


def test_nbr_dropped_only_on_later_flags_is_high(forest):
    forest.drop(AFTER, 0.3, 0.0)
    forest.drop(later(AFTER, 1), 0.3, 0.3)
    forest.drop(later(AFTER, 2), 0.3, 0.3)
    assert forest.v("status") == HIGH


def test_nbr_drop_on_unflagged_observation_does_not_count(flagged):
    # NBR drops on the first flag and on an observation whose NDVI is normal: only the flagged ones count
    px, first = flagged
    px.drop(later(first, 1), 0.0, 0.3)
    px.drop(later(first, 2), 0.3, 0.0)
    assert px.v("status") == LOW
    px.drop(later(first, 3), 0.3, 0.0)
    assert px.v("status") == HIGH


def test_pending_between_flags_stays_low(flagged):
    px, first = flagged
    for k in (1, 2, 3):
        assert px.drop(later(first, k), 0.0) == 0
        assert px.v("status") == LOW
        assert px.v("flag_after") == k


def test_second_flag_on_fourth_following_observation_confirms(flagged):
    px, first = flagged
    px.drop(later(first, 1), 0.3, 0.3)
    for k in (2, 3):
        px.drop(later(first, k), 0.0)
    fourth = later(first, 4)
    assert px.drop(fourth, 0.3, 0.3) == 1
    assert px.v("status") == HIGHEST
    assert px.v("confirm_day") == dn(fourth)


def test_observations_while_pending_are_not_learned(flagged):
    px, first = flagged
    n = px.v("n")
    px.drop(later(first, 1), 0.0)
    assert px.v("n") == n


# ---------------------------------------------------------------------------------------------------------
# Expiry.


def test_flag_expires_after_four_unflagged_observations(flagged):
    px, first = flagged
    for k in (1, 2, 3):
        px.drop(later(first, k), 0.0)
    assert px.drop(later(first, 4), 0.0) == 1
    for band in ("status", "flag_day", "flag_after", "flag_hits", "flag_nbr_hits", "flag_drop", "before_day"):
        assert px.v(band) == 0, band
    assert px.v("confirm_day") == 0


def test_new_flag_after_expiry_starts_a_new_alert(flagged):
    px, first = flagged
    for k in (1, 2, 3, 4):
        px.drop(later(first, k), 0.0)
    fifth = later(first, 5)
    px.drop(fifth, 0.3)
    assert px.v("status") == LOW
    assert px.v("flag_day") == dn(fifth)
    assert px.v("flag_hits") == 1


def test_flag_expires_by_age(flagged):
    px, first = flagged
    assert px.drop(first + timedelta(days=181), 0.0) == 1
    assert px.v("status") == NONE
    assert px.v("flag_day") == 0


def test_flag_180_days_old_still_counts(flagged):
    px, first = flagged
    px.drop(first + timedelta(days=180), 0.0)
    assert px.v("status") == LOW
    assert px.v("flag_after") == 1


def test_third_flag_180_days_later_confirms(flagged):
    px, first = flagged
    px.drop(later(first, 1), 0.3)
    day = first + timedelta(days=180)
    px.drop(day, 0.3)
    assert px.v("status") in (HIGH, HIGHEST)
    assert px.v("confirm_day") == dn(day)


def test_second_flag_181_days_later_starts_over(flagged):
    px, first = flagged
    day = first + timedelta(days=181)
    px.drop(day, 0.3)
    assert px.v("status") == LOW
    assert px.v("flag_day") == dn(day)
    assert px.v("confirm_day") == 0


# ---------------------------------------------------------------------------------------------------------
# Clouds and missing data.


@pytest.mark.parametrize("pending", [False, True])
def test_cloudy_observation_changes_nothing(forest, pending):
    if pending:
        forest.drop(AFTER, 0.3, 0.3)
    before = copy.deepcopy(forest.state)
    day = later(AFTER, 1)
    assert feed(forest.state, day, 0.05, 0.0, clear=False) == 0
    for band in detect.STATE_BANDS:
        np.testing.assert_array_equal(forest.state[band], before[band], err_msg=band)


@pytest.mark.parametrize(("ndvi", "nbr"), [(np.nan, 0.4), (0.1, np.nan)])
def test_missing_index_changes_nothing(forest, ndvi, nbr):
    before = copy.deepcopy(forest.state)
    assert feed(forest.state, AFTER, ndvi, nbr) == 0
    for band in detect.STATE_BANDS:
        np.testing.assert_array_equal(forest.state[band], before[band], err_msg=band)


def test_cloudy_observations_do_not_count_towards_the_four(flagged):
    px, first = flagged
    px.drop(later(first, 1), 0.3, clear=False)
    px.drop(later(first, 2), 0.0, clear=False)
    px.drop(later(first, 3), 0.3, 0.3)
    for k in (4, 5):
        px.drop(later(first, k), 0.0)
    assert px.v("status") == LOW
    assert px.v("flag_after") == 3
    px.drop(later(first, 6), 0.3, 0.3)
    assert px.v("status") == HIGHEST


# ---------------------------------------------------------------------------------------------------------
# Confirmed pixels.


def test_confirmed_pixel_is_not_alerted_again(flagged):
    px, first = flagged
    px.drop(later(first, 1), 0.3, 0.3)
    confirm = later(first, 2)
    px.drop(confirm, 0.3, 0.3)
    assert px.v("status") == HIGHEST
    for k in (2, 3, 4, 5, 6, 30):
        assert px.drop(later(first, k), 0.4, 0.4) == 0
    for k in (31, 32, 33, 34, 35):
        assert px.drop(later(first, k), 0.0, 0.0) == 0
    assert px.v("status") == HIGHEST
    assert px.v("confirm_day") == dn(confirm)
    assert px.v("flag_day") == dn(first)


# ---------------------------------------------------------------------------------------------------------
# Idempotency.


def _assert_same(state, before):
    for band in detect.STATE_BANDS:
        assert np.array_equal(state[band], before[band]), band


def test_same_day_twice_changes_nothing(forest):
    forest.drop(AFTER, 0.1)
    before = copy.deepcopy(forest.state)
    assert forest.drop(AFTER, 0.1) == 0
    assert forest.drop(AFTER, 0.5, 0.5) == 0  # even with other values
    _assert_same(forest.state, before)


def test_refeeding_the_flag_scene_is_not_a_second_hit(flagged):
    px, first = flagged
    before = copy.deepcopy(px.state)
    assert px.drop(first, 0.3, 0.3) == 0
    _assert_same(px.state, before)
    assert px.v("status") == LOW


def test_older_day_changes_nothing(forest):
    before = copy.deepcopy(forest.state)
    assert forest.drop(START + timedelta(days=55), 0.4, 0.4) == 0
    assert forest.drop(START - timedelta(days=30), 0.0) == 0
    _assert_same(forest.state, before)


# ---------------------------------------------------------------------------------------------------------
# Not forest.


def test_seasonal_crop_is_never_flagged():
    # NDVI cycling 0.2 <-> 0.8 every 110 days (harvests), observed every 10 days for two years
    s = detect.new_state((1, 1))
    for k in range(73):
        day = START + timedelta(days=10 * k)
        phase = 2 * np.pi * (10 * k) / 110
        assert feed(s, day, 0.5 - 0.3 * np.cos(phase), 0.3 - 0.25 * np.cos(phase)) == 0
        assert s["status"][0, 0] == NONE
    assert s["n"][0, 0] >= 12  # it was observed enough to be judged, and judged not to be forest


def test_low_ndvi_stable_pixel_is_not_monitored():
    # stable, steady but sparse vegetation: mean 0.55 < forest_min_ndvi 0.6 (its low, 0.53, would pass
    # forest_min_season 0.45); a crash to about 0.2 passes every drop threshold but is not an alert
    px = make_forest(mean=0.55, amp=0.02)
    px.drop(AFTER, 0.35, 0.3)
    assert px.v("status") == NONE


def test_erratic_pixel_is_not_monitored():
    # high mean NDVI but a residual spread ≈ 0.1 > forest_max_sigma 0.08: a drop of 0.5 (> 4σ ≈ 0.41) is ignored
    px = make_forest(noise=0.0, alternating=0.1)
    assert 0.09 < px.sd() < 0.11
    px.drop(AFTER, 0.5, 0.3)
    assert px.v("status") == NONE


# ---------------------------------------------------------------------------------------------------------
# Vectorised over a window.


def test_window_flags_exactly_the_cleared_block():
    rng = np.random.default_rng(3)
    shape = (50, 50)
    s = detect.new_state(shape)
    clear = np.ones(shape, dtype=bool)
    for k in range(N_HISTORY):
        day = later(START, k)
        ndvi = (seasonal(day) + rng.normal(0, 0.002, shape)).astype(np.float32)
        nbr = (seasonal(day, 0.45, 0.04) + rng.normal(0, 0.002, shape)).astype(np.float32)
        assert detect.update(s, day, ndvi, clear, nbr) == 0
    block = np.zeros(shape, dtype=bool)
    block[20:25, 30:35] = True
    for k, expected_status, changed in ((0, LOW, 25), (1, LOW, 0), (2, HIGHEST, 25)):
        day = later(AFTER, k)
        ndvi = np.full(shape, seasonal(day), dtype=np.float32)
        nbr = np.full(shape, seasonal(day, 0.45, 0.04), dtype=np.float32)
        ndvi[block] -= 0.4
        nbr[block] -= 0.4
        assert detect.update(s, day, ndvi, clear, nbr) == changed
        np.testing.assert_array_equal(s["status"] > 0, block)
        assert (s["status"][block] == expected_status).all()
        assert (s["flag_day"][block] == dn(AFTER)).all()
    assert (s["confirm_day"][block] == dn(later(AFTER, 2))).all()
    assert not s["flag_day"][~block].any() and not s["confirm_day"][~block].any()


def test_window_cloud_hides_part_of_the_block():
    # the same clearing seen through a cloud over its left half: only the visible pixels are flagged
    rng = np.random.default_rng(4)
    shape = (6, 6)
    s = detect.new_state(shape)
    for k in range(N_HISTORY):
        day = later(START, k)
        detect.update(s, day, (seasonal(day) + rng.normal(0, 0.002, shape)).astype(np.float32),
                      np.ones(shape, dtype=bool))
    ndvi = np.full(shape, seasonal(AFTER) - 0.4, dtype=np.float32)
    clear = np.ones(shape, dtype=bool)
    clear[:, :3] = False
    assert detect.update(s, AFTER, ndvi, clear) == 18
    np.testing.assert_array_equal(s["status"] == LOW, clear)
