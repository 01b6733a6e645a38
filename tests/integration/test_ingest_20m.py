"""Sentinel-2 with its 20 m bands at 20 m on the grid: stored at 20 m (a 10 m COG, a 20 m COG and a VRT per tile)
and read through the VRT as the same 8-band 10 m raster the single-COG layout gives."""

from __future__ import annotations

import os
from datetime import date

import numpy as np
import pytest
import rasterio
from affine import Affine
from conftest import write_scene
from imagery_builders import write_band
from pyproj import Transformer
from rasterio.windows import Window
from scipy import ndimage
from shapely.geometry import Polygon

from geo import cloudmask
from geo.grid import Grid
from geo.region import load_region
from geo.scenes import grid_footprint, open_scene, read_window
from geo.store import open_store
from ingest import ard
from ingest.catalogue import ingest_local

X0, Y0 = 879400.0, 1340000.0      # 1200 x 1200 px at 10 m: straddles the tile edge at 880000 (two tiles)
SIZE = 1200
MEAN = {"B02": 300, "B03": 550, "B04": 400, "B08": 2900, "B8A": 3000, "B11": 1700, "B12": 800}


@pytest.fixture(scope="module")
def region():
    return load_region("lamdong")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """One file per band as a converted SAFE: textured reflectance, 20 m bands with a hole of no data, SCL with
    clouds and shadow at 20 m."""
    folder = tmp_path_factory.mktemp("s2")
    rng = np.random.default_rng(7)
    for band, mean in MEAN.items():
        n, res = (SIZE, 10) if band in ard.BANDS_10M else (SIZE // 2, 20)
        field = ndimage.zoom(rng.standard_normal((n // 16 + 2, n // 16 + 2)), 16, order=1)[:n, :n]
        data = np.clip(mean * (1 + 0.3 * field) + rng.normal(0, 40, (n, n)), 1, 10000).astype(np.uint16)
        if res == 20:
            data[400:430, 100:140] = 0                        # a hole in the 20 m bands (far from the tile edge)
        write_band(folder / f"T48PZU_20240105T032109_{band}_{res}m.tif", data, X0, Y0, res, nodata=0)
    scl = np.full((SIZE // 2, SIZE // 2), cloudmask.SCL_VEGETATION, np.uint8)
    scl[50:120, 300:420] = cloudmask.SCL_CLOUD_HIGH
    scl[130:150, 300:420] = cloudmask.SCL_CLOUD_SHADOW
    scl[400:430, 100:140] = cloudmask.SCL_NO_DATA
    write_band(folder / "T48PZU_20240105T032109_SCL_20m.tif", scl, X0, Y0, 20, nodata=0)
    return folder


def _ingest(folder, out, region, **kw):
    store = open_store(out / "store.gpkg")
    result = ingest_local([folder], store, region, out / "ard", **kw)
    return store, result


@pytest.fixture(scope="module")
def forest_and_area(tmp_path_factory):
    """A patchy forest raster over the scene and an area (EPSG:4326) cutting through both tiles, so the
    statistics count through a region mask and a forest mask."""
    folder = tmp_path_factory.mktemp("forest")
    rng = np.random.default_rng(3)
    forest = (ndimage.zoom(rng.standard_normal((40, 40)), 30, order=1) > 0).astype(np.uint8)
    path = write_band(folder / "forest.tif", forest, X0, Y0, 10)
    to_lonlat = Transformer.from_crs("EPSG:32648", 4326, always_xy=True)
    area = Polygon([to_lonlat.transform(x, y) for x, y in
                    ((X0 + 2333, Y0 - 1111), (X0 + 11000, Y0 - 3000), (X0 + 9000, Y0 - 11777), (X0 + 300, Y0 - 9000))])
    return path, area


@pytest.fixture(scope="module")
def both(scene, region, forest_and_area, tmp_path_factory):
    """The same input ingested in the 20 m layout and, forced, in the single-COG 10 m layout (today's values)."""
    forest, area = forest_and_area
    split = _ingest(scene, tmp_path_factory.mktemp("split"), region, forest_mask=forest, area=area)
    mp = pytest.MonkeyPatch()
    mp.setattr(ard, "_native_20m", lambda *a: False)
    try:
        single = _ingest(scene, tmp_path_factory.mktemp("single"), region, forest_mask=forest, area=area)
    finally:
        mp.undo()
    return split, single


def _records(store):
    return {r["tile"]: r for r in store.scenes("ok")}


def test_20m_sources_give_two_cogs_and_a_vrt_per_tile(both):
    (store, result), _ = both
    assert not result.failed and result.tiles_written == 2
    for record in _records(store).values():
        vrt = record["path"]
        assert vrt.endswith(".vrt")
        cog10, cog20 = vrt[:-4] + ".10m.tif", vrt[:-4] + ".20m.tif"
        assert sorted(os.listdir(os.path.dirname(vrt))) == sorted(os.path.basename(p) for p in (vrt, cog10, cog20))
        with rasterio.open(cog10) as c10, rasterio.open(cog20) as c20:
            assert c10.descriptions == ard.BANDS_10M and c20.descriptions == ard.BANDS_20M
            assert c10.res == (10, 10) and c20.res == (20, 20) and c10.bounds == c20.bounds
            assert c10.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == c20.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert len(c20.overviews(1)) == len(c10.overviews(1)) > 0
            levels = c10.overviews(1)
        if record["tile"] == "E044N066":      # (not the 60 px strip, whose overview sizes GDAL cannot match)
            with rasterio.open(vrt) as src:   # the VRT offers the COGs' overviews (map tiles at low zoom)
                assert src.overviews(1) == src.overviews(8) == levels


def test_vrt_is_the_usual_8_band_10m_raster(both):
    (store, _), (single_store, _) = both
    singles = _records(single_store)
    for tile, record in _records(store).items():
        with rasterio.open(record["path"]) as vrt, rasterio.open(singles[tile]["path"]) as cog:
            assert vrt.count == 8 and vrt.descriptions == ard.OUTPUT_BANDS == cog.descriptions
            assert vrt.res == (10, 10) and vrt.crs == cog.crs and vrt.transform == cog.transform
            assert vrt.shape == cog.shape and vrt.nodata == 0 and vrt.dtypes == cog.dtypes
            assert vrt.tags() == cog.tags()
            assert vrt.tags()["MASK_SOURCE"] == "scl" and vrt.tags()["TILE"] == tile
            assert vrt.tags()["ACQUISITION_DATE"] == "2024-01-05" and vrt.tags()["REFLECTANCE_SCALE"] == "0.0001"


def test_vrt_values_against_the_single_cog(both):
    """10 m bands identical; SCL the 2 x 2 repeat of the 20 m classes; B8A/B11/B12 equal to ingest/upsample.py's
    bilinear values away from no data and from the tile's edge (tolerance 0 there). Within one 10 m pixel of
    the tile's edge GDAL sees no pixels beyond the tile; next to no data it renormalises differently and fills
    the no-data ring's inner 10 m pixels (SCL is no data there): not compared."""
    (store, _), (single_store, _) = both
    singles = _records(single_store)
    for tile, record in _records(store).items():
        with rasterio.open(record["path"]) as vrt, rasterio.open(singles[tile]["path"]) as cog:
            new = {d: vrt.read(i + 1) for i, d in enumerate(vrt.descriptions)}
            old = {d: cog.read(i + 1) for i, d in enumerate(cog.descriptions)}
        with rasterio.open(record["path"][:-4] + ".20m.tif") as c20:
            scl20 = c20.read(4)
        for band in ard.BANDS_10M:
            assert (new[band] == old[band]).all(), band
        assert (new["SCL"] == np.repeat(np.repeat(scl20, 2, 0), 2, 1)).all()
        assert (new["SCL"] == old["SCL"]).all()
        interior = np.zeros(new["B12"].shape, bool)
        interior[1:-1, 1:-1] = True
        away = ndimage.binary_erosion(old["B12"] != 0, np.ones((5, 5), bool)) & interior
        assert away.sum() > 0.9 * interior.sum() or tile == "E043N066"     # E043N066 is a 60 px strip
        for band in ("B8A", "B11", "B12"):
            assert (new[band][away] == old[band][away]).all(), band
            assert ((new[band] == 0) <= (old[band] == 0)).all()           # no data only where it was
            assert (new[band][old["SCL"] != 0] != 0).all()                # every observed pixel has a value


def test_windowed_reads_equal_whole_reads(both):
    """Detection reads the tiles in 512 px windows: the VRT's resampling gives the same values in any window."""
    (store, _), _ = both
    record = _records(store)["E044N066"]
    with rasterio.open(record["path"]) as vrt:
        whole = vrt.read()
        for window in (Window(0, 0, 512, 512), Window(511, 3, 300, 517), Window(1000, 1000, 140, 200)):
            part = vrt.read(window=window)
            r, c = int(window.row_off), int(window.col_off)
            assert (part == whole[:, r:r + part.shape[1], c:c + part.shape[2]]).all()


def test_statistics_and_detection_reads_are_unchanged(both, region):
    (store, _), (single_store, _) = both
    singles = _records(single_store)
    for tile, record in _records(store).items():
        for key in ("cloud_pct", "valid_fraction", "forest_valid_fraction", "status"):
            assert record[key] == singles[tile][key], key
    big = singles["E044N066"]
    assert big["cloud_pct"] > 0 and 0 < big["valid_fraction"] < 1 and 0 < big["forest_valid_fraction"] < 1
    record = _records(store)["E044N066"]
    scene, single = open_scene(record["path"]), open_scene(singles["E044N066"]["path"])
    assert scene.bands == single.bands and scene.acquired == single.acquired
    with rasterio.open(record["path"]) as src:      # a grid wider than the tile, as detection's
        grid = Grid(src.crs, src.transform @ Affine.translation(-100, -50), src.width + 300, src.height + 100)
    assert grid_footprint(scene, grid) == grid_footprint(single, grid)
    for window in grid.windows(512):
        a, b = read_window(scene, grid, window, ard.OUTPUT_BANDS), read_window(single, grid, window, ard.OUTPUT_BANDS)
        for band in ("B02", "B04", "B08", "SCL"):
            np.testing.assert_array_equal(a[band], b[band])


def test_10m_inputs_keep_the_single_cog(tmp_path, region):
    (tmp_path / "in").mkdir()
    write_scene(tmp_path / "in" / "S2_20240101.tif", date(2024, 1, 1))
    store, result = _ingest(tmp_path / "in", tmp_path, region)
    (record,) = store.scenes("ok")
    assert record["path"].endswith(".tif") and not record["path"].endswith(".10m.tif")
    assert os.listdir(os.path.dirname(record["path"])) == [os.path.basename(record["path"])]
    with rasterio.open(record["path"]) as src:
        assert src.count == 8 and src.descriptions == ard.OUTPUT_BANDS
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"


def test_interrupted_and_repeated_ingest_finish_without_duplicates_or_rework(scene, region, tmp_path):
    store, first = _ingest(scene, tmp_path, region)
    assert first.tiles_written == 2
    records = _records(store)
    mtimes = {p: os.stat(p).st_mtime_ns for p in (tmp_path / "ard").rglob("*") if p.is_file()}
    # as a run killed between the COGs and the VRT of one tile would leave it: COGs and a half VRT, no VRT
    cut = records["E043N066"]["path"]
    os.replace(cut, os.path.join(os.path.dirname(cut), "." + os.path.basename(cut) + ".tmp"))
    store, again = _ingest(scene, tmp_path, region)
    assert again.tiles_written == 1 and again.tiles_skipped == 1
    assert len(store.scenes()) == 2 == len({r["id"] for r in store.scenes()})
    for path, mtime in mtimes.items():
        if path.parent.name == "E044N066":
            assert os.stat(path).st_mtime_ns == mtime              # the finished tile was not written again
    with rasterio.open(cut) as src:
        assert src.count == 8 and src.read(8).any()
    store, third = _ingest(scene, tmp_path, region)
    assert third.tiles_written == 0 and len(store.scenes()) == 2
