"""Two-date mode's rule with known answers: a loss is a fall in NDVI *and* a rise in SWIR2 where the before image
was vegetated; near a cloud or shadow on either date it must be larger; the clear mask's buffer is one pixel of
the sensor's own mask, in metres."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from geo import cloudmask, detect
from geo.detect import LOW, NONE, TwoDateParams, TwoDateView

BEFORE, AFTER = date(2024, 1, 5), date(2024, 3, 5)


def view(ndvi, swir2, clear=None, near=None) -> TwoDateView:
    ndvi, swir2 = np.array([ndvi], np.float32), np.array([swir2], np.float32)
    return TwoDateView(ndvi, swir2, np.ones_like(ndvi, bool) if clear is None else np.array([clear]),
                       np.zeros_like(ndvi, bool) if near is None else np.array([near]))


def judge(first: TwoDateView, second: TwoDateView) -> list[int]:
    s = detect.new_state(first.ndvi.shape)
    detect.before_after(s, BEFORE, AFTER, first, second)
    return list(s["status"][0])


def test_loss_needs_a_drop_in_ndvi_and_a_rise_in_swir_where_it_was_vegetated():
    #        cleared  stable  bare field  darkened (shadow, wet)  crop browning, SWIR flat  hidden after
    first = view([0.80, 0.80, 0.30, 0.80, 0.70, 0.80], [0.08, 0.08, 0.20, 0.08, 0.10, 0.08])
    second = view([0.25, 0.75, 0.10, 0.45, 0.40, 0.20], [0.23, 0.09, 0.26, 0.06, 0.11, 0.23],
                  clear=[True, True, True, True, True, False])
    assert judge(first, second) == [LOW, NONE, NONE, NONE, NONE, NONE]


def test_dates_and_drop_of_a_two_date_flag():
    s = detect.new_state((1, 1))
    assert detect.before_after(s, BEFORE, AFTER, view([0.8], [0.08]), view([0.3], [0.2])) == 1
    assert s["flag_day"][0, 0] == detect.day_number(AFTER) and s["before_day"][0, 0] == detect.day_number(BEFORE)
    assert s["flag_drop"][0, 0] == pytest.approx(0.5)


def test_near_a_cloud_on_either_date_the_drop_and_rise_must_be_larger():
    # drop 0.20 and SWIR2 rise 0.04 pass the plain thresholds (0.15, 0.03) but not 1.5 times them (0.225, 0.045);
    # drop 0.50 and rise 0.15 pass both
    small_first, small_second = [0.80] * 3, [0.60] * 3
    assert judge(view(small_first, [0.08] * 3), view(small_second, [0.12] * 3)) == [LOW, LOW, LOW]
    near_before = view(small_first, [0.08] * 3, near=[False, True, False])
    near_after = view(small_second, [0.12] * 3, near=[False, False, True])
    assert judge(near_before, near_after) == [LOW, NONE, NONE]
    big = view([0.80] * 2, [0.08] * 2, near=[True, True]), view([0.30] * 2, [0.23] * 2, near=[True, False])
    assert judge(*big) == [LOW, LOW]


def test_mask_buffer_is_one_pixel_of_the_sensors_mask_in_metres():
    one = TwoDateParams().mask_buffer_pixels
    # Landsat QA_PIXEL is 30 m: on a 30 m grid one pixel (30 m, not a fixed 120 m), on a 10 m grid three
    assert cloudmask.buffer_px(one * cloudmask.mask_resolution_m("Landsat-9", 30.0), 30.0) == 1
    assert cloudmask.buffer_px(one * cloudmask.mask_resolution_m("Landsat-8", 10.0), 10.0) == 3
    # Sentinel-2 SCL is 20 m: two pixels of a 10 m grid; a sensor not known here: one grid pixel
    assert cloudmask.buffer_px(one * cloudmask.mask_resolution_m("Sentinel-2 (SYNTHETIC)", 10.0), 10.0) == 2
    assert cloudmask.buffer_px(one * cloudmask.mask_resolution_m("PlanetScope", 3.0), 3.0) == 1


def test_near_cloud_is_within_a_city_block_distance_of_cloud_or_shadow_only():
    scl = np.full((5, 9), cloudmask.SCL_VEGETATION, np.uint8)
    scl[2, 4] = cloudmask.SCL_CLOUD_HIGH
    scl[0, 0] = cloudmask.SCL_NO_DATA          # no data is not a cloud
    scl[4, 8] = cloudmask.SCL_CLOUD_SHADOW
    near = cloudmask.near_cloud(scl, 2)
    rows, cols = np.indices(scl.shape)
    expect = (np.abs(rows - 2) + np.abs(cols - 4) <= 2) | (np.abs(rows - 4) + np.abs(cols - 8) <= 2)
    assert (near == expect).all()
