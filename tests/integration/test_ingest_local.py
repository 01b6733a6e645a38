"""Local files through the CLI: usable scenes catalogued, bad files named and skipped, the run goes on."""

from __future__ import annotations

import shutil
from datetime import date

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from conftest import write_scene

from api.cli import cli
from geo.errors import InvalidInputError
from geo.grid import Grid
from geo.scenes import open_scene, read_window
from geo.store import open_store


@pytest.fixture
def folder(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "S2_20240101.tif", date(2024, 1, 1))
    write_scene(scenes / "S2_20240111.tif", date(2024, 1, 11))
    (scenes / "corrupt_20240121.tif").write_bytes(b"II*\x00" + bytes(range(256)) * 4)
    good = (scenes / "S2_20240101.tif").read_bytes()
    (scenes / "truncated_20240131.tif").write_bytes(good[: len(good) // 2])
    (scenes / "notes.txt").write_text("field notes, not a raster")
    return scenes


def test_ingest_names_each_bad_file_and_catalogues_the_good_ones(folder, tmp_path):
    result = CliRunner().invoke(cli, ["ingest", str(folder), "--no-detect", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "catalogued 2 scene(s), 3 failed" in result.output
    for name in ("corrupt_20240121.tif", "truncated_20240131.tif", "notes.txt"):
        assert name in result.output
    store = open_store(tmp_path / "d" / "forestmon.gpkg")
    assert [s["acquired"] for s in store.scenes("ok")] == ["2024-01-01", "2024-01-11"]
    failed = store.scenes("failed")
    assert len(failed) == 3 and all(s["reason"] for s in failed)


def test_reingesting_the_same_folder_adds_no_duplicates(folder, tmp_path):
    args = ["ingest", str(folder), "--no-detect", "--data-dir", str(tmp_path / "d")]
    CliRunner().invoke(cli, args)
    CliRunner().invoke(cli, args)
    store = open_store(tmp_path / "d" / "forestmon.gpkg")
    assert len(store.scenes("ok")) == 2 and len(store.scenes("failed")) == 3


def test_unnamed_bands_need_a_mapping_and_work_with_one(tmp_path):
    path = write_scene(tmp_path / "plain_20240105.tif", date(2024, 1, 5), names=None)
    with pytest.raises(InvalidInputError, match="missing bands B04, B08, B12, SCL"):
        open_scene(path)
    scene = open_scene(path, {"B04": 3, "B08": 4, "B12": 6, "SCL": 7})
    assert scene.acquired == date(2024, 1, 5)
    result = CliRunner().invoke(cli, ["ingest", str(path), "--no-detect", "--bands", "B04=3,B08=4,B12=6,SCL=7",
                                      "--data-dir", str(tmp_path / "d")])
    assert "catalogued 1 scene(s), 0 failed" in result.output
    bad = CliRunner().invoke(cli, ["ingest", str(path), "--bands", "red:3", "--data-dir", str(tmp_path / "d")])
    assert bad.exit_code != 0


def test_scene_in_another_crs_is_warped_onto_the_grid(tmp_path):
    """A scene in WGS 84 lands on the UTM grid: reflectance scaled, pixels outside it are NaN."""
    src = write_scene(tmp_path / "utm_20240105.tif", date(2024, 1, 5), size=64)
    dst = tmp_path / "wgs84_20240105.tif"
    with rasterio.open(src) as s:
        from rasterio.warp import calculate_default_transform, reproject
        transform, w, h = calculate_default_transform(s.crs, "EPSG:4326", s.width, s.height, *s.bounds)
        profile = {**s.profile, "driver": "GTiff", "crs": "EPSG:4326", "transform": transform, "width": w, "height": h}
        with rasterio.open(dst, "w", **profile) as d:
            for b in range(1, 8):
                reproject(rasterio.band(s, b), rasterio.band(d, b), resampling=rasterio.enums.Resampling.nearest)
            d.descriptions = s.descriptions
            d.update_tags(**s.tags())
    grid = Grid.covering((859900, 1339300, 860700, 1340100), "EPSG:32648", 10)
    bands = read_window(open_scene(dst), grid, next(grid.windows(512)))
    inside = bands["B04"][20:60, 20:60]
    assert np.nanmedian(inside) == pytest.approx(0.03)
    assert np.isnan(bands["B04"][:5, :5]).all()  # the grid starts 100 m west of the scene
    assert bands["SCL"][30, 30] == 4


def test_missing_path_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_detect_without_scenes_says_what_to_do(tmp_path):
    from api.cli import main  # noqa: F401  (the entry point turns this into one line and exit 1)
    result = CliRunner().invoke(cli, ["detect", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "forestmon ingest" in str(result.exception)


def test_ingest_copies_nothing(folder, tmp_path):
    before = sorted(p.name for p in folder.iterdir())
    CliRunner().invoke(cli, ["ingest", str(folder), "--no-detect", "--data-dir", str(tmp_path / "d")])
    assert sorted(p.name for p in folder.iterdir()) == before
    shutil.rmtree(tmp_path / "d")
