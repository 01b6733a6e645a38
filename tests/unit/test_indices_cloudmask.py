"""Spectral indices and the SCL clear-land mask, checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from geo import cloudmask, indices

# ---------------------------------------------------------------------------------------------------------
# Indices: (a - b) / (a + b), float32, NaN where a + b is not positive.


def test_ndvi_known_values_from_uint16_reflectance():
    red = np.array([[1000, 3000], [500, 2000]], dtype=np.uint16)
    nir = np.array([[3000, 1000], [4500, 2000]], dtype=np.uint16)
    # (3000-1000)/4000 = 0.5; (1000-3000)/4000 = -0.5 (no uint16 wrap-around); (4500-500)/5000 = 0.8; 0/4000 = 0
    expected = np.array([[0.5, -0.5], [0.8, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(indices.ndvi(red, nir), expected, rtol=1e-6, atol=0)


def test_nbr_is_nir_minus_swir2_over_sum():
    nir = np.array([2500.0, 1200.0])
    swir2 = np.array([500.0, 1800.0])
    # (2500-500)/3000 = 2/3; (1200-1800)/3000 = -0.2
    np.testing.assert_allclose(indices.nbr(nir, swir2), [2 / 3, -0.2], rtol=1e-6)


def test_ndmi_is_nir_minus_swir1_over_sum():
    nir = np.array([3000, 100], dtype=np.uint16)
    swir1 = np.array([1000, 300], dtype=np.uint16)
    # (3000-1000)/4000 = 0.5; (100-300)/400 = -0.5
    np.testing.assert_allclose(indices.ndmi(nir, swir1), [0.5, -0.5], rtol=1e-6)


@pytest.mark.parametrize("func", [indices.ndvi, indices.nbr, indices.ndmi])
def test_index_is_float32(func):
    a = np.array([[100, 200]], dtype=np.uint16)
    b = np.array([[300, 50]], dtype=np.uint16)
    assert func(a, b).dtype == np.float32
    assert func(a.astype(np.float64), b.astype(np.float64)).dtype == np.float32


def test_zero_sum_is_nan_without_warning():
    a = np.array([0, 0, 1000], dtype=np.uint16)
    b = np.array([0, 0, 1000], dtype=np.uint16)
    with np.errstate(all="raise"):  # the division must be guarded, not raise or warn
        out = indices.ndvi(a, b)
    assert np.isnan(out[0]) and np.isnan(out[1])
    assert out[2] == 0.0


def test_negative_sum_is_nan():
    red = np.array([-300.0, -100.0, 100.0], dtype=np.float32)
    nir = np.array([100.0, 100.0, 300.0], dtype=np.float32)
    out = indices.ndvi(red, nir)
    assert np.isnan(out[0])  # sum -200 < 0
    assert np.isnan(out[1])  # sum 0
    assert out[2] == pytest.approx(0.5)


def test_nan_input_gives_nan():
    out = indices.ndvi(np.array([np.nan, 1000.0]), np.array([3000.0, 3000.0]))
    assert np.isnan(out[0])
    assert out[1] == pytest.approx(0.5)


def test_index_does_not_modify_float32_inputs():
    red = np.array([0.0, 0.1], dtype=np.float32)
    nir = np.array([0.0, 0.3], dtype=np.float32)
    red0, nir0 = red.copy(), nir.copy()
    indices.ndvi(red, nir)
    np.testing.assert_array_equal(red, red0)
    np.testing.assert_array_equal(nir, nir0)


# ---------------------------------------------------------------------------------------------------------
# SCL clear mask.


@pytest.mark.parametrize("code", [3, 8, 9, 10])
def test_cloud_and_shadow_classes_are_masked(code):
    scl = np.array([[code]], dtype=np.uint8)
    assert not cloudmask.scl_clear_mask(scl, buffer_px=0)[0, 0]


@pytest.mark.parametrize("code", [0, 1, 11])
def test_no_data_saturated_and_snow_are_unusable(code):
    scl = np.array([[code]], dtype=np.uint8)
    assert not cloudmask.scl_clear_mask(scl, buffer_px=0)[0, 0]


@pytest.mark.parametrize("code", [4, 5, 6, 2, 7])
def test_vegetation_bare_water_dark_unclassified_are_clear(code):
    scl = np.array([[code]], dtype=np.uint8)
    assert cloudmask.scl_clear_mask(scl, buffer_px=0)[0, 0]


def test_clear_mask_is_boolean_of_input_shape():
    scl = np.full((3, 7), 4, dtype=np.uint8)
    mask = cloudmask.scl_clear_mask(scl)
    assert mask.dtype == bool and mask.shape == (3, 7)
    assert mask.all()


def test_buffer_zero_masks_only_the_cloud_pixel():
    scl = np.full((5, 5), 4, dtype=np.uint8)
    scl[2, 2] = 9
    expected = np.ones((5, 5), dtype=bool)
    expected[2, 2] = False
    np.testing.assert_array_equal(cloudmask.scl_clear_mask(scl, buffer_px=0), expected)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_buffer_widens_a_cloud_pixel_to_a_diamond_of_radius_n(n):
    # scipy's default dilation structure is the 4-connected cross, so N iterations give the city-block
    # (L1) ball: masked exactly where |dr| + |dc| <= N.
    size = 2 * n + 5
    c = size // 2
    scl = np.full((size, size), 4, dtype=np.uint8)
    scl[c, c] = 8
    rr, cc = np.mgrid[0:size, 0:size]
    expected_cloudy = np.abs(rr - c) + np.abs(cc - c) <= n
    mask = cloudmask.scl_clear_mask(scl, buffer_px=n)
    np.testing.assert_array_equal(mask, ~expected_cloudy)
    assert (~mask).sum() == 2 * n * n + 2 * n + 1


def test_buffer_two_exact_shape():
    scl = np.full((7, 7), 4, dtype=np.uint8)
    scl[3, 3] = 3  # cloud shadow
    expected = np.array([
        [1, 1, 1, 1, 1, 1, 1],
        [1, 1, 1, 0, 1, 1, 1],
        [1, 1, 0, 0, 0, 1, 1],
        [1, 0, 0, 0, 0, 0, 1],
        [1, 1, 0, 0, 0, 1, 1],
        [1, 1, 1, 0, 1, 1, 1],
        [1, 1, 1, 1, 1, 1, 1],
    ], dtype=bool)
    np.testing.assert_array_equal(cloudmask.scl_clear_mask(scl, buffer_px=2), expected)


def test_default_buffer_is_four_pixels():
    scl = np.full((11, 11), 4, dtype=np.uint8)
    scl[5, 5] = 10
    mask = cloudmask.scl_clear_mask(scl)
    assert not mask[5, 9] and mask[5, 10]       # 4 px away along a row: masked; 5 px: clear
    assert not mask[7, 7] and mask[7, 8]        # |2|+|2| = 4 masked; |2|+|3| = 5 clear


def test_unusable_pixels_are_not_buffered():
    scl = np.full((5, 5), 4, dtype=np.uint8)
    scl[2, 2] = 0  # no data: masked itself but does not widen
    scl[0, 0] = 11
    mask = cloudmask.scl_clear_mask(scl, buffer_px=2)
    assert (~mask).sum() == 2
    assert not mask[2, 2] and not mask[0, 0]


def test_buffer_clipped_at_window_edge():
    scl = np.full((4, 4), 5, dtype=np.uint8)
    scl[0, 0] = 9
    mask = cloudmask.scl_clear_mask(scl, buffer_px=1)
    expected = np.ones((4, 4), dtype=bool)
    expected[0, 0] = expected[0, 1] = expected[1, 0] = False
    np.testing.assert_array_equal(mask, expected)


# ---------------------------------------------------------------------------------------------------------
# Cloud fraction: cloudy share of observed (SCL != 0) pixels.


def test_cloud_fraction_known_value():
    # 2 no data (ignored), 2 cloudy (3 shadow, 9 high cloud) among 8 observed -> 0.25
    scl = np.array([0, 0, 3, 9, 4, 4, 5, 6, 1, 11], dtype=np.uint8)
    assert cloudmask.cloud_fraction(scl) == pytest.approx(0.25)


def test_cloud_fraction_counts_every_cloudy_class():
    scl = np.array([[3, 8], [9, 10]], dtype=np.uint8)
    assert cloudmask.cloud_fraction(scl) == 1.0


def test_cloud_fraction_clear_scene_is_zero():
    assert cloudmask.cloud_fraction(np.full((3, 3), 4, dtype=np.uint8)) == 0.0


def test_cloud_fraction_all_no_data_is_one():
    assert cloudmask.cloud_fraction(np.zeros((4, 4), dtype=np.uint8)) == 1.0


def test_cloud_fraction_empty_is_one():
    assert cloudmask.cloud_fraction(np.zeros((0, 0), dtype=np.uint8)) == 1.0


def test_cloud_fraction_is_python_float():
    assert type(cloudmask.cloud_fraction(np.array([4, 8], dtype=np.uint8))) is float


@pytest.mark.parametrize("buffer_px", [1, 2, 4, 7])
def test_buffer_equals_scipy_binary_dilation_on_random_masks(buffer_px):
    """The linear-time city-block distance gives exactly ``binary_dilation(cloudy, iterations=k)``."""
    from scipy import ndimage

    rng = np.random.default_rng(buffer_px)
    for density in (0.001, 0.01, 0.2):
        scl = np.where(rng.random((61, 77)) < density, rng.integers(0, 12, (61, 77)), 4).astype(np.uint8)
        cloudy = np.isin(scl, cloudmask.SCL_CLOUDY)
        expected = ~ndimage.binary_dilation(cloudy, iterations=buffer_px) & ~np.isin(scl, cloudmask.SCL_UNUSABLE)
        np.testing.assert_array_equal(cloudmask.scl_clear_mask(scl, buffer_px), expected)
