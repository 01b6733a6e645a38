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
