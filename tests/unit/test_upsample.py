"""The numpy 20 m -> 10 m upsampling gives GDAL's warp values exactly, no data and edges included."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.vrt import WarpedVRT

from geo.grid import Grid
from ingest import ard, upsample


@pytest.fixture
def band20(tmp_path):
    """A 20 m uint16 band with scattered and blocky no data (0)."""
    rng = np.random.default_rng(0)
    data = rng.integers(1, 10000, (120, 130)).astype("uint16")
    data[rng.random(data.shape) < 0.05] = 0
    data[10:30, 50:70] = 0
    path = tmp_path / "b20.tif"
    with rasterio.open(path, "w", driver="GTiff", width=130, height=120, count=1, dtype="uint16", nodata=0,
                       crs="EPSG:32648", transform=from_origin(799980, 1400040, 20, 20)) as dst:
        dst.write(data, 1)
    return path


@pytest.mark.parametrize("col,row,width,height", [(0, 0, 100, 90), (1, 3, 101, 77), (-7, -5, 300, 270),
                                                  (240, 220, 40, 40), (133, 17, 99, 98)])
@pytest.mark.parametrize("resampling", [Resampling.bilinear, Resampling.nearest])
def test_upsampled_read_equals_gdal_warp(band20, col, row, width, height, resampling):
    with rasterio.open(band20) as ds:
        grid = Grid(ds.crs, Affine(10, 0, 799980 + 10 * col, 0, -10, 1400040 - 10 * row), width, height)
        assert ard._integer_factor(ds.transform, grid) == 2
        ours = ard._read_one(ds, [1], grid, resampling, 0)
        with WarpedVRT(ds, transform=grid.transform, width=width, height=height, resampling=resampling,
                       src_nodata=0, nodata=0) as vrt:
            gdal = vrt.read([1])
    assert ours.dtype == gdal.dtype
    np.testing.assert_array_equal(ours, gdal)


def test_bilinear_weights_by_hand():
    # source row [100, 200] with margin: grid pixels at -1/4, +1/4, 3/4, 5/4 source pixels -> 100, 125, 175, 200
    src = np.array([[[0, 0, 0, 0], [0, 100, 200, 0], [0, 100, 200, 0], [0, 0, 0, 0]]], dtype="uint16")
    out = upsample.upsample(src, 2, 0, 0, 4, 4, bilinear=True, nodata=0)
    np.testing.assert_array_equal(out[0, 0], [100, 125, 175, 200])
    assert (out[0] == out[0, 0]).all()


def test_unaligned_source_is_not_upsampled_in_numpy():
    grid = Grid("EPSG:32648", Affine(10, 0, 800000, 0, -10, 1400000), 10, 10)
    assert ard._integer_factor(from_origin(800005, 1400000, 20, 20), grid) is None
    assert ard._integer_factor(from_origin(800000, 1400000, 25, 25), grid) is None
    assert ard._integer_factor(from_origin(800000, 1400000, 10, 10), grid) is None


def test_32_bit_band_is_warped_by_gdal(tmp_path):
    # outside the exact integer kernel's range: still read, through the WarpedVRT
    path = tmp_path / "b32.tif"
    data = np.arange(1, 401, dtype="uint32").reshape(20, 20)
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=1, dtype="uint32", nodata=0,
                       crs="EPSG:32648", transform=from_origin(799980, 1400040, 20, 20)) as dst:
        dst.write(data, 1)
    with rasterio.open(path) as ds:
        grid = Grid(ds.crs, Affine(10, 0, 799990, 0, -10, 1400030), 30, 30)
        out = ard._read_one(ds, [1], grid, Resampling.bilinear, 0)
    assert out.dtype == np.uint32 and out.shape == (1, 30, 30)
    # grid pixel (1, 1) is 10 m pixel (2, 2) of the source's grid, centre 1.25 source pixels from its corner:
    # 3/4 of 20 m pixel (1, 1) = 22, 1/4 of the ones before it (row 0: 2, column 0: 21, corner: 1)
    assert out[0, 1, 1] == round(22 * 0.5625 + 2 * 0.1875 + 21 * 0.1875 + 1 * 0.0625) == 17
