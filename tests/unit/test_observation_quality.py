"""Per-observation quality: what masks miss (rims and haze next to clouds, haze and snow on the observation
itself) is marked suspect, and the detector flags a suspect observation only on a larger drop that NBR shares."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from geo import cloudmask, detect
from geo.cloudmask import CLEAR, SPECTRAL_SUSPECT, SUSPECT, UNUSABLE


def test_distance_to_the_dates_clouds_grades_the_pixels():
    scl = np.full((1, 80), 4, np.uint8)
    scl[0, 0] = 9
    q = cloudmask.observation_quality(scl, buffer_px=4, near_px=30)
    assert (q[0, :5] == UNUSABLE).all()
    assert (q[0, 5:31] == SUSPECT).all()
    assert (q[0, 31:] == CLEAR).all()
    np.testing.assert_array_equal(q != UNUSABLE, cloudmask.scl_clear_mask(scl, 4))


@pytest.mark.parametrize("code", [0, 1, 3, 8, 9, 10, 11])
def test_masked_classes_are_unusable(code):
    assert cloudmask.observation_quality(np.array([[code]], np.uint8))[0, 0] == UNUSABLE


def test_haze_and_snow_like_observations_are_spectrally_suspect():
    # forest, bare soil, hazy forest (blue raised), partly snowy forest (red above SWIR-1)
    blue = np.array([[0.03, 0.08, 0.15, 0.18]], np.float32)
    red = np.array([[0.03, 0.15, 0.09, 0.18]], np.float32)
    swir1 = np.array([[0.16, 0.30, 0.15, 0.15]], np.float32)
    q = cloudmask.observation_quality(np.full((1, 4), 4, np.uint8), blue, red, swir1)
    assert list(q[0]) == [CLEAR, CLEAR, SPECTRAL_SUSPECT, SPECTRAL_SUSPECT]
    # the same from digital numbers with the L2A offset
    dn = [((a + 0.1) * 10000).astype(np.uint16) for a in (blue, red, swir1)]
    q_dn = cloudmask.observation_quality(np.full((1, 4), 4, np.uint8), *dn, scale=1e-4, offset=-0.1)
    np.testing.assert_array_equal(q_dn, q)


def _forest_pixel():
    s = detect.new_state((1, 1))
    rng = np.random.default_rng(1)
    day = date(2023, 1, 1)
    for _ in range(45):
        detect.update(s, day, np.full((1, 1), 0.8 + rng.normal(0, 0.01), np.float32), np.ones((1, 1), bool),
                      np.full((1, 1), 0.5 + rng.normal(0, 0.01), np.float32))
        day += timedelta(days=10)
    return s, day


@pytest.mark.parametrize(("quality", "ndvi", "nbr", "flagged"), [
    (CLEAR, 0.6, 0.5, True),             # a clear observation: the NDVI drop alone flags it
    (SUSPECT, 0.6, 0.5, False),          # near a cloud: a rim-sized drop with NBR unchanged does not
    (SUSPECT, 0.6, 0.2, False),          # ...nor with NBR dropping, below the stricter NDVI drop
    (SUSPECT, 0.3, 0.5, False),          # ...nor a large NDVI drop NBR does not share (haze)
    (SUSPECT, 0.3, 0.2, True),           # a clearing: both drop far
    (SPECTRAL_SUSPECT, 0.3, 0.2, True),
])
def test_a_suspect_observation_needs_a_larger_drop_that_nbr_shares(quality, ndvi, nbr, flagged):
    s, day = _forest_pixel()
    detect.update(s, day, np.full((1, 1), ndvi, np.float32), np.full((1, 1), quality, np.uint8),
                  np.full((1, 1), nbr, np.float32))
    assert (s["status"][0, 0] == detect.LOW) == flagged


def test_spectrally_suspect_observations_are_not_learned():
    s, day = _forest_pixel()
    n = int(s["n"][0, 0])
    for k, quality in enumerate((SPECTRAL_SUSPECT, SUSPECT, CLEAR)):
        detect.update(s, day + timedelta(days=10 * k), np.full((1, 1), 0.8, np.float32),
                      np.full((1, 1), quality, np.uint8), np.full((1, 1), 0.5, np.float32))
    assert s["n"][0, 0] == n + 2


def test_digital_numbers_take_the_one_pass_kernel_with_the_array_expressions_results():
    """The haze and brightness tests on uint16 digital numbers run in one compiled pass (a detection run's hot
    path); they give what the float32 array expressions give, near the thresholds too."""
    from geo import cloudmask as cm

    rng = np.random.default_rng(1)
    scl = rng.choice([0, 3, 4, 5, 8, 9, 10, 11], (300, 200), p=[.02, .03, .5, .2, .05, .05, .05, .1]).astype(np.uint8)
    red = rng.integers(0, 4000, scl.shape).astype(np.uint16)
    blue = (red * 0.5 + rng.integers(0, 2000, scl.shape)).astype(np.uint16)  # around the HOT threshold
    swir = (red.astype(np.int32) + rng.integers(-3, 3, scl.shape)).clip(0).astype(np.uint16)  # around red
    for scale, offset in ((1e-4, 0.0), (2.75e-5, -0.2)):
        fast = cm.observation_quality(scl, blue, red, swir, scale=scale, offset=offset)
        q = cm.observation_quality(scl)
        refl = lambda b, s=scale, o=offset: b * np.float32(s) + np.float32(o)  # noqa: E731
        q[(refl(blue) - 0.5 * refl(red) - np.float32(cm.HOT_OFFSET) > np.float32(cm.HOT_HAZY)) & (q != 0)] = 3
        q[(refl(red) >= refl(swir)) & (swir != 0) & (q != 0)] = 3
        np.testing.assert_array_equal(fast, q)
