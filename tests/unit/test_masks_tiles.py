"""Known answers for the Landsat QA_PIXEL mapping, the spectral cloud-and-shadow screen and the fixed tiles."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import CRS
from shapely.geometry import box

from geo import cloudmask
from geo.tiles import TileScheme


def test_qa_pixel_bits_become_scl_codes():
    qa = np.array([
        1,                              # fill
        (1 << 3) | (3 << 8),            # cloud, high confidence
        (1 << 3) | (2 << 8),            # cloud, medium confidence
        1 << 1,                         # dilated cloud
        1 << 2,                         # cirrus
        1 << 4,                         # cloud shadow
        1 << 7,                         # water
        1 << 6,                         # clear land
        21824,                          # a real clear-land value of Landsat 8/9 (bits 6, 8, 10, 12, 14)
        22280,                          # a real high-confidence cloud value (bits 3, 8, 9, 10, 12, 14)
    ], dtype=np.uint16)
    assert cloudmask.qa_pixel_to_scl(qa).tolist() == [0, 9, 8, 8, 10, 3, 6, 7, 7, 9]
    clear = cloudmask.scl_clear_mask(cloudmask.qa_pixel_to_scl(qa), buffer_px=0)
    assert clear.tolist() == [False, False, False, False, False, False, True, True, True, False]


def _spectra(rows):
    arr = np.array(rows, dtype=np.float32).T / 10000
    return [a.reshape(1, -1) for a in arr]


def test_spectral_screen_tells_cloud_haze_shadow_water_and_land_apart():
    # blue, green, red, nir, swir1 (reflectance x 10000)
    rows = [
        (5200, 5100, 5000, 5500, 3800),   # thick cloud
        (1600, 1500, 1400, 2400, 1600),   # haze over vegetation: blue lifted
        (75, 150, 90, 930, 450),          # forest in cloud shadow (30 % of the light)
        (600, 700, 500, 300, 150),        # water
        (250, 500, 300, 3100, 1500),      # forest
        (900, 1200, 1500, 2100, 2900),    # bare soil
        (1100, 1200, 1300, 1900, 2300),   # town
    ]
    scl = cloudmask.spectral_scl(*_spectra(rows))
    assert scl.ravel().tolist() == [9, 8, 3, 6, 4, 5, 5]


def test_spectral_screen_marks_missing_values_as_no_data():
    bands = _spectra([(250, 500, 300, 3100, 1500), (250, 500, 300, 3100, 1500)])
    bands[3][0, 1] = np.nan
    assert cloudmask.spectral_scl(*bands).ravel().tolist() == [4, 0]


def test_tiles_are_counted_from_the_crs_origin_and_cover_an_area_exactly():
    scheme = TileScheme(CRS.from_epsg(32648), 10.0, 2000)
    tile = scheme.tile(43, 66)
    assert tile.id == "E043N066" and tile.grid.bounds == (860000, 1320000, 880000, 1340000)
    tiles = scheme.tiles_intersecting(box(859000, 1330000, 881000, 1341000))
    assert [t.id for t in tiles] == ["E042N066", "E043N066", "E044N066", "E042N067", "E043N067", "E044N067"]
    assert scheme.tiles_intersecting(box(860000, 1320000, 880000, 1340000))[0].id == "E043N066"
    assert len(scheme.tiles_intersecting(box(860000, 1320000, 880000, 1340000))) == 1  # touching edges don't count


def test_tile_window_snaps_outwards_to_whole_pixels():
    tile = TileScheme(CRS.from_epsg(32648), 10.0, 2000).tile(43, 66)
    w = tile.window_covering((860025.0, 1339000.5, 860100.0, 1339995.0))
    assert (w.col_off, w.row_off, w.width, w.height) == (2, 0, 8, 100)
    assert tile.window_covering((900000, 1339000, 901000, 1339500)) is None
    sub = tile.subgrid(w)
    assert sub.transform.c == 860020 and sub.transform.f == 1340000 and (sub.width, sub.height) == (8, 100)


@pytest.mark.parametrize("size", [1, 7])
def test_qa_pixel_mapping_keeps_shape(size):
    assert cloudmask.qa_pixel_to_scl(np.zeros((size, size), np.uint16)).shape == (size, size)
