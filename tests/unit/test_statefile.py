"""The detector state on disk: records on the grid, a VRT that GDAL reads, atomic commits, older states."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.windows import Window

from geo import detect
from geo.errors import InvalidInputError
from ingest import statefile
from ingest.grid import Grid

GRID = Grid(CRS.from_epsg(32648), Affine(10, 0, 839_990, 0, -10, 1_340_010), 37, 23)


def _records(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = detect.new_state(shape)
    for name in detect.STATE_BANDS:
        info = np.iinfo(s[name].dtype) if s[name].dtype.kind in "iu" else None
        s[name] = rng.integers(0, info.max, shape) if info else rng.random(shape)
    return s


def test_windows_written_then_read_back_and_seen_by_gdal(tmp_path):
    whole = _records((GRID.height, GRID.width))
    new = statefile.create(tmp_path, GRID)
    for window in GRID.windows(8, 2000):  # small windows, breaking at the tile edge one pixel in
        r, c = int(window.row_off), int(window.col_off)
        new.write(window, whole[r:r + int(window.height), c:c + int(window.width)])
    statefile.commit(new, tmp_path)
    state = statefile.open_state(tmp_path, GRID)
    window = Window(5, 3, 20, 11)
    np.testing.assert_array_equal(state.read(window), whole[3:14, 5:25])
    state.close()
    with rasterio.open(tmp_path / "detector.vrt") as src:  # what QGIS or gdalinfo see
        assert src.crs == GRID.crs and src.transform == GRID.transform
        assert src.descriptions == detect.STATE_BANDS
        for band, name in enumerate(detect.STATE_BANDS, start=1):
            np.testing.assert_array_equal(src.read(band), whole[name], err_msg=name)


def test_an_uncommitted_run_leaves_the_state_whole_and_the_next_commit_cleans_up(tmp_path):
    first = _records((GRID.height, GRID.width), seed=1)
    new = statefile.create(tmp_path, GRID)
    new.write(Window(0, 0, GRID.width, GRID.height), first)
    statefile.commit(new, tmp_path)
    killed = statefile.create(tmp_path, GRID)  # a run killed before its commit
    killed.write(Window(0, 0, GRID.width, GRID.height), _records((GRID.height, GRID.width), seed=2))
    killed.close()
    state = statefile.open_state(tmp_path, GRID)
    np.testing.assert_array_equal(state.read(Window(0, 0, GRID.width, GRID.height)), first)
    state.close()
    again = statefile.create(tmp_path, GRID)
    again.write(Window(0, 0, GRID.width, GRID.height), first)
    statefile.commit(again, tmp_path)
    assert [p.name for p in tmp_path.glob("detector-*.state")] == [again.path.name]


def test_state_of_another_grid_is_refused_with_a_clear_message(tmp_path):
    new = statefile.create(tmp_path, GRID)
    statefile.commit(new, tmp_path)
    other = Grid(GRID.crs, GRID.transform, GRID.width + 1, GRID.height)
    with pytest.raises(InvalidInputError, match="does not match the grid"):
        statefile.open_state(tmp_path, other)


def test_state_of_another_version_is_refused_with_a_clear_message(tmp_path):
    new = statefile.create(tmp_path, GRID)
    statefile.commit(new, tmp_path)
    vrt = tmp_path / "detector.vrt"
    vrt.write_text(vrt.read_text().replace(statefile.FORMAT, "forestmon-state-0"))
    with pytest.raises(InvalidInputError, match="not a detector state of this version"):
        statefile.open_state(tmp_path, GRID)


def test_an_earlier_versions_geotiff_state_is_converted(tmp_path):
    """States saved as one float32 band per field (before the record file) are converted on first use."""
    names = ("last_day", "n", "status", "flag_day", "flag_drop", "watched", "sc")  # sc: a field no longer kept
    data = np.zeros((len(names), GRID.height, GRID.width), dtype=np.float32)
    data[0] = detect.day_number(date(2024, 3, 5))
    data[1] = 52
    data[2, 4, 7], data[3, 4, 7], data[4, 4, 7] = detect.HIGH, detect.day_number(date(2024, 2, 1)), 0.55
    data[5] = 1
    profile = {"driver": "GTiff", "width": GRID.width, "height": GRID.height, "count": len(names),
               "dtype": "float32", "crs": GRID.crs, "transform": GRID.transform}
    with rasterio.open(tmp_path / "detector.tif", "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = names
    state = statefile.open_state(tmp_path, GRID)
    records = state.read(Window(0, 0, GRID.width, GRID.height))
    state.close()
    assert not (tmp_path / "detector.tif").exists()
    assert (records["last_day"] == detect.day_number(date(2024, 3, 5))).all() and (records["n"] == 52).all()
    assert records["status"][4, 7] == detect.HIGH and records["status"].sum() == detect.HIGH
    assert records["flag_drop"][4, 7] == pytest.approx(0.55)
    assert records["flag_day"][4, 7] == detect.day_number(date(2024, 2, 1))


def test_windows_follow_the_tiles_blocks_and_cover_the_grid_once():
    grid = Grid(GRID.crs, Affine(10, 0, 839_990, 0, -10, 1_340_010), 1500, 700)
    windows = list(grid.windows(512, 2000))
    cover = np.zeros((grid.height, grid.width), dtype=int)
    for w in windows:
        cover[int(w.row_off):int(w.row_off + w.height), int(w.col_off):int(w.col_off + w.width)] += 1
    assert (cover == 1).all()
    # Easting 839 990 is one pixel west of the tile edge at 840 km; northing 1 340 010 one pixel north of one.
    cols = sorted({int(w.col_off) for w in windows})
    rows = sorted({int(w.row_off) for w in windows})
    assert cols == [0, 1, 513, 1025] and rows == [0, 1, 513]
    assert max(int(w.width) for w in windows) == 512
