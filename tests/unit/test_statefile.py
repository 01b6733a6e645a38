"""The detector state on disk: records on the grid, a VRT that GDAL reads, atomic commits, older states."""

from __future__ import annotations

from datetime import date, timedelta
from xml.etree import ElementTree as ET

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.windows import Window

from geo import detect
from geo.datadir import StateDir
from geo.detect import state as statefile
from geo.errors import InvalidInputError
from geo.grid import Grid

GRID = Grid(CRS.from_epsg(32648), Affine(10, 0, 839_990, 0, -10, 1_340_010), 37, 23)


def _random(dtype: np.dtype, shape, rng) -> np.ndarray:
    out = np.zeros(shape, dtype)
    for name in dtype.names:
        kind = out[name].dtype
        out[name] = rng.integers(0, np.iinfo(kind).max, shape) if kind.kind in "iu" else rng.random(shape)
    return out


def _write(state_dir, seed=0, *, commit=True):
    """Random model and sums over the grid (written in small windows breaking at the tile edge one pixel in)
    and flags for a few pixels; returns what was written."""
    rng = np.random.default_rng(seed)
    model = _random(detect.MODEL_DTYPE, (GRID.height, GRID.width), rng)
    sums = _random(detect.SUMS_DTYPE, (GRID.height, GRID.width), rng)
    flags = detect.new_state((GRID.height, GRID.width)).flags
    flags[[2, 9, 9, 20], [3, 0, 30, 36]] = _random(detect.FLAG_DTYPE, 4, rng)
    flags["status"][[2, 9, 9, 20], [3, 0, 30, 36]] = [1, 2, 3, 1]
    files = statefile.create(StateDir(state_dir), GRID)
    parts = []
    for window in GRID.windows(8, 2000):
        r, c, h, w = int(window.row_off), int(window.col_off), int(window.height), int(window.width)
        for f, whole in zip(files, (model, sums), strict=True):
            f.write(window, whole[r:r + h, c:c + w])
        parts.append((window, detect.WindowFlags.from_dense(flags[r:r + h, c:c + w]),
                      {19000: np.array([0, 5], np.int32)} if (r, c) == (1, 1) else {}))
    for f in files:
        f.close()
    table = statefile.FlagTable.gather(GRID.width, parts)
    paths = tuple(f.path for f in files)
    if commit:
        statefile.commit(StateDir(state_dir), GRID, paths, table, 19000)
    return model, sums, flags, paths


def test_windows_written_then_read_back_and_seen_by_gdal(tmp_path):
    model, sums, flags, _ = _write(tmp_path)
    state = statefile.open_state(StateDir(tmp_path), GRID)
    window = Window(5, 3, 20, 11)
    np.testing.assert_array_equal(state.model.read(window), model[3:14, 5:25])
    mapped = state.sums.mapped()
    np.testing.assert_array_equal(mapped.window(window), sums[3:14, 5:25])
    mapped.release(window)  # the pages are let go of, the records still read the same
    np.testing.assert_array_equal(mapped.window(window), sums[3:14, 5:25])
    np.testing.assert_array_equal(state.sums.read(window), sums[3:14, 5:25])
    for row in range(0, GRID.height, 5):  # read in the grid's order, letting go of the rows above
        rows = min(5, GRID.height - row)
        np.testing.assert_array_equal(state.sums.read(Window(0, row, GRID.width, rows)), sums[row:row + rows])
    np.testing.assert_array_equal(state.sums.read(window), sums[3:14, 5:25])  # a row let go of reads the same
    np.testing.assert_array_equal(state.flags.window(window).to_dense((11, 20)), flags[3:14, 5:25])
    assert state.flags.pix.size == 4 and state.learned_through == 19000
    held = state.flags.held(Window(1, 1, 8, 8))  # pixels 0 and 5 of the window at (1, 1), by day
    assert list(held) == [19000] and list(held[19000]) == [0, 5]
    assert list(state.flags.held(Window(0, 0, 8, 8))[19000]) == [9, 14]  # the same pixels seen from another window
    state.close()
    with rasterio.open(tmp_path / "detector.vrt") as src:  # what QGIS or gdalinfo see: the model, then the sums
        assert src.crs == GRID.crs and src.transform == GRID.transform
        assert src.descriptions == (*detect.MODEL_DTYPE.names, *detect.SUMS_DTYPE.names)
        for band, name in enumerate(src.descriptions, start=1):
            expected = next(part[name] for part in (model, sums) if name in part.dtype.names)
            np.testing.assert_array_equal(src.read(band), expected, err_msg=name)


def test_an_uncommitted_run_leaves_the_state_whole_and_the_next_commit_cleans_up(tmp_path):
    model, _, _, first = _write(tmp_path, seed=1)
    killed = _write(tmp_path, seed=2, commit=False)[3]  # a run killed before its commit
    state = statefile.open_state(StateDir(tmp_path), GRID)
    np.testing.assert_array_equal(state.model.read(Window(0, 0, GRID.width, GRID.height)), model)
    assert [state.model.path, state.sums.path] == list(first)
    state.close()
    assert all(path.exists() for path in killed)
    again = _write(tmp_path, seed=3)[3]
    assert sorted(tmp_path.glob("detector-*")) == sorted(again)
    assert len(list(tmp_path.glob("flags-*.npz"))) == 1


def test_state_of_another_grid_is_refused_with_a_clear_message(tmp_path):
    _write(tmp_path)
    other = Grid(GRID.crs, GRID.transform, GRID.width + 1, GRID.height)
    with pytest.raises(InvalidInputError, match="does not match the grid"):
        statefile.open_state(StateDir(tmp_path), other)


def test_state_of_another_version_is_refused_with_a_clear_message(tmp_path):
    _write(tmp_path)
    vrt = tmp_path / "detector.vrt"
    vrt.write_text(vrt.read_text().replace(statefile.FORMAT, "forestmon-state-0"))
    with pytest.raises(InvalidInputError, match="not a detector state of this version"):
        statefile.open_state(StateDir(tmp_path), GRID)


def test_damaged_flags_are_refused_with_a_clear_message(tmp_path):
    _write(tmp_path)
    flags = next(tmp_path.glob("flags-*.npz"))
    flags.write_bytes(flags.read_bytes()[:100])
    with pytest.raises(InvalidInputError, match="detector flags are unreadable"):
        statefile.open_state(StateDir(tmp_path), GRID)


def _learned_history(shape) -> detect.State:
    """A window that learned a year of forest every 10 days, with one pixel in alert (high)."""
    s = detect.new_state(shape)
    for k in range(40):
        day = date(2023, 1, 1) + timedelta(days=10 * k)
        detect.update(s, day, np.full(shape, 0.8, np.float32), np.ones(shape, bool), np.full(shape, 0.5, np.float32))
    for k in (40, 41, 42):  # the first flag and 2 more
        day = date(2023, 1, 1) + timedelta(days=10 * k)
        ndvi = np.full(shape, 0.8, np.float32)
        ndvi[4, 7] = 0.2
        detect.update(s, day, ndvi, np.ones(shape, bool), np.full(shape, 0.5, np.float32))
    assert s["status"][4, 7] == detect.HIGH and s["status"].sum() == detect.HIGH
    return s


def test_an_earlier_versions_record_state_is_converted(tmp_path):
    """The previous version kept every field in one 62-byte record a pixel ("forestmon-state-1-62"): its sums
    and flags are carried over and the baseline fitted from the sums, so the next scene is judged as before."""
    s = _learned_history((GRID.height, GRID.width))
    old = np.zeros((GRID.height, GRID.width), statefile._V1_DTYPE)
    for part in (s.sums, s.flags):
        for name in part.dtype.names:
            if name in old.dtype.names:
                old[name] = part[name]
    (tmp_path / "detector-1.state").write_bytes(old.tobytes())
    vrt = GRID.vrt({"FORMAT": "forestmon-state-1-62"})
    band = ET.SubElement(vrt, "VRTRasterBand", dataType="UInt16", band="1", subClass="VRTRawRasterBand")
    ET.SubElement(band, "SourceFilename", relativeToVRT="1").text = "detector-1.state"
    (tmp_path / "detector.vrt").write_text(ET.tostring(vrt, encoding="unicode"))
    state = statefile.open_state(StateDir(tmp_path), GRID)
    whole = Window(0, 0, GRID.width, GRID.height)
    np.testing.assert_array_equal(state.sums.read(whole), s.sums)
    np.testing.assert_array_equal(state.model.read(whole), s.model)
    np.testing.assert_array_equal(state.flags.window(whole).to_dense(s.shape)["status"], s.flags["status"])
    assert state.learned_through == s["last_day"].max()
    state.close()
    assert not (tmp_path / "detector-1.state").exists()


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
    state = statefile.open_state(StateDir(tmp_path), GRID)
    sums = state.sums.read(Window(0, 0, GRID.width, GRID.height))
    flags = state.flags.window(Window(0, 0, GRID.width, GRID.height)).to_dense((GRID.height, GRID.width))
    state.close()
    assert not (tmp_path / "detector.tif").exists()
    assert (sums["last_day"] == detect.day_number(date(2024, 3, 5))).all() and (sums["n"] == 52).all()
    assert flags["status"][4, 7] == detect.HIGH and flags["status"].sum() == detect.HIGH
    assert flags["flag_drop"][4, 7] == pytest.approx(0.55)
    assert flags["flag_day"][4, 7] == detect.day_number(date(2024, 2, 1))


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


def test_a_state_of_one_file_of_each_kind_is_read_as_every_refit_group_sharing_them(tmp_path):
    """The layout before the staggered refit ("forestmon-state-2-…", one model, second-index model and sums
    file, one day learned through) is read as is: every row in those files, every group learned through that
    day."""
    model, sums, _, paths = _write(tmp_path)
    vrt = tmp_path / "detector.vrt"
    text = vrt.read_text().replace(statefile.FORMAT, statefile._V2_FORMAT)
    vrt.write_text("\n".join(line for line in text.splitlines() if "LEARNED_GROUPS" not in line))
    state = statefile.open_state(StateDir(tmp_path), GRID)
    whole = Window(0, 0, GRID.width, GRID.height)
    np.testing.assert_array_equal(state.model.read(whole), model)
    np.testing.assert_array_equal(state.sums.read(whole), sums)
    assert state.learned == (19000,) * 4 and state.layout is None and state.model.path == paths[0]
    state.close()


def test_a_groups_refit_writes_only_its_rows_and_gdal_reads_every_row_from_its_groups_file(tmp_path):
    """Rows of 8 px windows in four refit groups: a refit of group 2 writes new files holding only its rows; the
    other groups keep theirs, and the records, and GDAL's view of them, are the new rows there and the old ones
    elsewhere."""
    model, sums, flags, first = _write(tmp_path)
    layout = statefile.Layout((0, 8, 16))  # 23 rows: stripes 0-7 (group 0), 8-15 (group 1), 16-22 (group 2)
    old = statefile.open_state(StateDir(tmp_path), GRID)
    files = statefile.create(StateDir(tmp_path), GRID, layout, {2, 3})  # group 3 has no rows
    new = _random(detect.MODEL_DTYPE, (7, GRID.width), np.random.default_rng(9))
    files[0].write(Window(0, 16, GRID.width, 7), new)
    files[1].write(Window(0, 16, GRID.width, 7), sums[16:])
    with pytest.raises(ValueError, match="not in the files of this run"):
        files[0].write(Window(0, 8, GRID.width, 1), new[:1])
    paths = tuple(statefile.group_paths(f, o) for f, o in zip(files, (old.model, old.sums), strict=True))
    for f in files:
        f.close()
    old.close()
    statefile.commit(StateDir(tmp_path), GRID, paths, old.flags, (19000, 19000, 19100, 19100), layout)
    expected = model.copy()
    expected[16:] = new
    state = statefile.open_state(StateDir(tmp_path), GRID)
    np.testing.assert_array_equal(state.model.read(Window(0, 0, GRID.width, GRID.height)), expected)
    np.testing.assert_array_equal(state.sums.mapped().window(Window(3, 5, 10, 15)), sums[5:20, 3:13])
    assert state.learned == (19000, 19000, 19100, 19100) and state.learned_through == 19000
    assert state.model.paths[0] == first[0] and state.model.paths[2] != first[0]
    state.close()
    with rasterio.open(tmp_path / "detector.vrt") as src:
        for band, name in enumerate(src.descriptions, start=1):
            want = next(part[name] for part in (expected, sums) if name in part.dtype.names)
            np.testing.assert_array_equal(src.read(band), want, err_msg=name)
    assert len(list(tmp_path.glob("view-*.vrt"))) == 2


def test_a_state_that_kept_the_second_indices_baselines_is_read_and_the_next_commit_drops_them(tmp_path):
    """The layout before this one ("forestmon-state-3-…") also kept NBR's and NDMI's baselines in a ``.second``
    file per group; they are fitted from the sums where needed now: the state is read without them, and the next
    run that writes the state deletes them."""
    model, sums, _, paths = _write(tmp_path)
    second = tmp_path / paths[0].name.replace(".model", ".second")
    second.write_bytes(bytes(GRID.width * GRID.height * 16))
    vrt = tmp_path / "detector.vrt"
    text = vrt.read_text().replace(statefile.FORMAT, statefile._V3_FORMAT)
    vrt.write_text(text.replace('<MDI key="SUMS">', f'<MDI key="SECOND">{second.name}</MDI><MDI key="SUMS">'))
    assert second in statefile.current_paths(StateDir(tmp_path))
    state = statefile.open_state(StateDir(tmp_path), GRID)
    whole = Window(0, 0, GRID.width, GRID.height)
    np.testing.assert_array_equal(state.model.read(whole), model)
    np.testing.assert_array_equal(state.sums.read(whole), sums)
    statefile.commit(StateDir(tmp_path), GRID, (state.model.paths, state.sums.paths), state.flags, state.learned)
    state.close()
    assert not second.exists() and statefile.FORMAT in vrt.read_text()
