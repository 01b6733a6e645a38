"""Local sources onto the grid tiles: SAFE with the baseline-04.00 offset, Landsat C2 L2, one file per band with the
spectral screen, scenes across tiles; every number checked against values worked out by hand."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import rasterio
from conftest import write_scene
from imagery_builders import UTM48, write_band, write_landsat, write_safe

from geo import cloudmask
from geo.grid import Grid
from geo.region import load_region
from geo.scenes import open_scene, read_window
from geo.store import open_store
from ingest.catalogue import ingest_local

S2_DN = {"B02": 1250, "B03": 1500, "B04": 1300, "B08": 4100, "B8A": 4000, "B11": 2500, "B12": 1700}


@pytest.fixture(scope="module")
def region():
    return load_region("lamdong")


def _ingest(tmp_path, region, paths, **kw):
    store = open_store(tmp_path / "store.gpkg")
    result = ingest_local(paths, store, region, tmp_path / "ard", **kw)
    return store, result


class _Info:
    """What the tests look at in a written COG, read while it is open."""

    def __init__(self, src):
        self.crs, self.transform, self.nodata, self.width = src.crs, src.transform, src.nodata, src.width
        self.tags_, self.overviews_ = src.tags(), src.overviews(1)
        self.layout = src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT")

    def tags(self):
        return self.tags_


def _read(path):
    with rasterio.open(path) as src:
        return {d: src.read(i + 1) for i, d in enumerate(src.descriptions)}, _Info(src)


def test_safe_baseline_04_offset_is_applied_and_20m_bands_land_on_the_10m_grid(tmp_path, region):
    scl = np.full((32, 32), cloudmask.SCL_VEGETATION, np.uint8)
    scl[:8, :8] = cloudmask.SCL_CLOUD_HIGH            # NW 160 m x 160 m is cloud
    safe = write_safe(tmp_path / "in", date(2024, 1, 5), S2_DN, scl)
    store, result = _ingest(tmp_path, region, [tmp_path / "in"])
    assert not result.failed and len(result.ok) == 1
    (record,) = store.scenes("ok")
    assert record["tile"] == "E043N066" and record["source_path"] == str(safe.resolve())
    assert record["sensor"] == "Sentinel-2B" and record["acquired"] == "2024-01-05"
    assert record["acquired_time"].startswith("2024-01-05T03:21:09")
    bands, src = _read(record["path"])
    # (DN + BOA_ADD_OFFSET) / 10000 * 10000: 1300 - 1000 = 300 for B04, 1700 - 1000 = 700 for B12 (20 m)
    assert bands["B04"][20, 20] == 300 and bands["B08"][20, 20] == 3100 and bands["B02"][20, 20] == 250
    assert bands["B12"][40, 40] == 700 and bands["B8A"][40, 40] == 3000 and bands["B11"][40, 40] == 1500
    assert (bands["SCL"][:16, :16] == 9).all() and bands["SCL"][16, 16] == 4  # 20 m classes onto 10 m, nearest
    assert src.crs.to_epsg() == 32648 and src.transform.a == 10 and src.transform.c % 10 == 0
    assert src.tags()["REFLECTANCE_SCALE"] == "0.0001" and src.tags()["PROCESSING_BASELINE"] == "05.10"
    # 20 m bands at 20 m: a 10 m and a 20 m COG, presented on the 10 m grid by the recorded VRT (ingest/ard.py)
    assert record["path"].endswith(".vrt")
    assert all(_read(record["path"][:-4] + f".{res}.tif")[1].layout == "COG" for res in ("10m", "20m"))
    assert record["cloud_pct"] == pytest.approx(100 * 256 / 4096)
    # detection reads it through the same reader as before: reflectance 0.03 and SCL
    scene = open_scene(record["path"])
    grid = Grid.covering((860000, 1339360, 860640, 1340000), UTM48, 10)
    window = read_window(scene, grid, next(grid.windows(512)))
    assert window["B04"][30, 30] == pytest.approx(0.03) and window["SCL"][0, 0] == 9


def test_safe_before_baseline_04_has_no_offset(tmp_path, region):
    write_safe(tmp_path / "in", date(2021, 6, 1), S2_DN, np.full((32, 32), 4, np.uint8), baseline="03.00")
    store, _ = _ingest(tmp_path, region, [tmp_path / "in"])
    bands, _src = _read(store.scenes("ok")[0]["path"])
    assert bands["B04"][10, 10] == 1300 and bands["B12"][10, 10] == 1700


def test_reflectance_at_or_below_the_offset_is_kept_as_valid_minimum_and_dn_zero_is_no_data(tmp_path, region):
    dn = {**S2_DN, "B04": 900}                         # (900 - 1000) / 10000 < 0: dark water, still observed
    write_safe(tmp_path / "in", date(2024, 2, 1), dn, np.full((32, 32), 6, np.uint8))
    store, _ = _ingest(tmp_path, region, [tmp_path / "in"])
    bands, src = _read(store.scenes("ok")[0]["path"])
    assert bands["B04"][5, 5] == 1 and src.nodata == 0


def test_landsat_c2_l2_scaled_by_the_mtl_and_masked_by_qa_pixel(tmp_path, region):
    # reflectance = DN * 2.75e-5 - 0.2: DN 8364 -> 0.030010 -> 300; 18545 -> 0.309988 -> 3100
    qa = np.full((24, 24), 1 << cloudmask.QA_CLEAR, np.uint16)
    qa[:6, :6] = (1 << cloudmask.QA_CLOUD) | (3 << 8)           # high-confidence cloud
    qa[:6, 18:] = 1 << cloudmask.QA_CLOUD_SHADOW
    qa[18:, :6] = 1                                            # fill
    sr = {2: 8182, 3: 9091, 4: 8364, 5: 18545, 6: 12727, 7: 9818}
    sr = {b: np.where(qa == 1, 0, v).astype(np.uint16) for b, v in sr.items()}
    write_landsat(tmp_path / "in", date(2024, 3, 2), sr, qa, x0=860025, y0=1339995)  # Landsat: multiples of 15 m
    store, result = _ingest(tmp_path, region, [tmp_path / "in"])
    assert not result.failed
    (record,) = store.scenes("ok")
    assert record["sensor"] == "Landsat-9" and record["acquired_time"].startswith("2024-03-02T03:12:45")
    bands, src = _read(record["path"])
    assert src.tags()["MASK_SOURCE"] == "qa_pixel"
    assert bands["B04"][36, 36] == 300 and bands["B08"][36, 36] == 3100 and bands["B8A"][36, 36] == 3100
    assert bands["B12"][36, 36] == round((9818 * 2.75e-5 - 0.2) * 10000)
    # 30 m QA cells onto the 10 m grid: the tile COG starts at 860020 / 1340000, the scene 5 m inside
    assert bands["SCL"][5, 5] == cloudmask.SCL_CLOUD_HIGH
    assert bands["SCL"][5, 65] == cloudmask.SCL_CLOUD_SHADOW
    assert bands["SCL"][65, 5] == cloudmask.SCL_NO_DATA
    assert bands["SCL"][36, 36] == cloudmask.SCL_UNCLASSIFIED


def test_one_file_per_band_without_mask_gets_the_spectral_screen(tmp_path, region):
    folder = tmp_path / "in"
    folder.mkdir()
    refl = {"B02": 250, "B03": 500, "B04": 300, "B08": 3100, "B11": 1500, "B12": 700}
    arrays = {b: np.full((40, 40), v, np.uint16) for b, v in refl.items()}
    for b, v in zip(refl, (5200, 5100, 5000, 5500, 3800, 2900), strict=True):
        arrays[b][:10, :10] = v                                   # a cloud
    for b, v in refl.items():
        arrays[b][30:, 30:] = v * 3 // 10                         # its shadow: 30% of the light
    for b, data in arrays.items():
        write_band(folder / f"PLANET_20240405_{b}.tif", data, 860000, 1340000, 10)
    store, result = _ingest(tmp_path, region, [folder])
    assert not result.failed and len(result.ok) == 1
    bands, src = _read(store.scenes("ok")[0]["path"])
    assert src.tags()["MASK_SOURCE"] == "spectral" and src.tags()["MISSING_BANDS"] == "B8A"
    assert (bands["SCL"][:10, :10] == cloudmask.SCL_CLOUD_HIGH).all()
    assert (bands["SCL"][30:40, 30:40] == cloudmask.SCL_CLOUD_SHADOW).all()
    assert bands["SCL"][20, 20] == cloudmask.SCL_VEGETATION
    assert store.scenes("ok")[0]["cloud_pct"] == pytest.approx(200 * 100 / 1600)


def test_s2cloudless_layers_beside_the_bands_are_folded_into_the_mask(tmp_path, region):
    """A multi-band file with CLP (0-1 floats are read as probabilities, here 0-255 integers) and CLM named in its
    band descriptions, and one file per band with ``_CLP`` in its name: cloud where the probability reaches 0.4
    or the mask says 1, unless SCL already said cloud, shadow or no data."""
    from rasterio.transform import from_origin
    scl = np.full((40, 40), cloudmask.SCL_VEGETATION, np.uint8)
    scl[:, 35:] = cloudmask.SCL_CLOUD_SHADOW
    clp = np.full((40, 40), 60, np.uint16)            # probability 0.24: clear
    clp[:10] = 102                                     # 0.40: cloud
    clm = np.zeros((40, 40), np.uint16)
    clm[:, :5] = 1
    clm[-1, -1] = 255                                  # no data in CLM says nothing
    names = [*S2_DN, "SCL", "CLP", "CLM"]
    layers = [np.full((40, 40), S2_DN[b], np.uint16) for b in S2_DN] + [scl.astype(np.uint16), clp, clm]
    (tmp_path / "in").mkdir()
    with rasterio.open(tmp_path / "in" / "S2_20240405.tif", "w", driver="GTiff", width=40, height=40,
                       count=len(names), dtype="uint16", crs=UTM48,
                       transform=from_origin(860000, 1340000, 10, 10)) as dst:
        dst.write(np.stack(layers))
        dst.descriptions = tuple(names)
    store, result = _ingest(tmp_path / "a", region, [tmp_path / "in"])
    assert not result.failed and len(result.ok) == 1
    bands, src = _read(store.scenes("ok")[0]["path"])
    expected = np.where((clp >= 102) | (clm == 1), cloudmask.SCL_CLOUD_MEDIUM, scl)
    expected[:, 35:] = cloudmask.SCL_CLOUD_SHADOW
    assert src.tags()["MASK_SOURCE"] == "scl+clp+clm" and (bands["SCL"] == expected).all()

    folder = tmp_path / "per_band"
    folder.mkdir()
    for b, v in S2_DN.items():
        write_band(folder / f"T48_20240406_{b}.tif", np.full((40, 40), v, np.uint16), 860000, 1340000, 10)
    write_band(folder / "T48_20240406_SCL.tif", scl, 860000, 1340000, 10)
    write_band(folder / "T48_20240406_CLP.tif", clp.astype(np.float32) / 255, 860000, 1340000, 10)
    store, result = _ingest(tmp_path / "b", region, [folder])
    assert not result.failed and len(result.ok) == 1
    bands, src = _read(store.scenes("ok")[0]["path"])
    expected = np.where(clp >= 102, cloudmask.SCL_CLOUD_MEDIUM, scl)
    expected[:, 35:] = cloudmask.SCL_CLOUD_SHADOW
    assert src.tags()["MASK_SOURCE"] == "scl+clp" and (bands["SCL"] == expected).all()


def test_scene_across_two_tiles_gives_two_records_and_reruns_skip_them(tmp_path, region):
    # 880000 is a tile edge (20 km tiles): 640 m west of it and 640 m east of it
    path = write_scene(tmp_path / "S2_20240110.tif", date(2024, 1, 10), size=128, x0=879360)
    store, result = _ingest(tmp_path, region, [path])
    assert result.tiles_written == 2
    records = store.scenes("ok")
    assert sorted(r["tile"] for r in records) == ["E043N066", "E044N066"]
    for r in records:
        with rasterio.open(r["path"]) as src:
            assert src.width == 64 and (src.transform.c in (879360, 880000))
    mtimes = [rasterio.open(r["path"]).name for r in records]
    _, again = _ingest(tmp_path, region, [path])
    assert again.tiles_written == 0 and again.tiles_skipped == 2 and len(again.ok) == 1
    assert [r["path"] for r in store.scenes("ok")] == mtimes


def test_valid_fractions_over_region_and_forest(tmp_path, region):
    cog = write_scene(tmp_path / "cog_20240115.tif", date(2024, 1, 15), size=64)
    with rasterio.open(cog) as src:
        data, profile, tags, names = src.read(), src.profile, src.tags(), src.descriptions
    data[6, :16] = 9                                           # cloud over the northern quarter
    path = tmp_path / "scenes" / "S2_20240115.tif"
    path.parent.mkdir()
    with rasterio.open(path, "w", **{**profile, "driver": "GTiff"}) as dst:
        dst.write(data)
        dst.descriptions = names
        dst.update_tags(**tags)
    forest = np.zeros((64, 64), np.uint8)
    forest[:, :32] = 1                                         # forest in the western half
    mask = write_band(tmp_path / "forest.tif", forest, 860000, 1340000, 10)
    store, _ = _ingest(tmp_path, region, [path], forest_mask=mask)
    (record,) = store.scenes("ok")
    assert record["valid_fraction"] == pytest.approx(0.75)
    assert record["forest_valid_fraction"] == pytest.approx(0.75)
    assert record["cloud_pct"] == pytest.approx(25)


def test_a_corrupt_band_fails_its_product_by_name_and_the_rest_goes_on(tmp_path, region):
    write_safe(tmp_path / "in", date(2024, 1, 5), S2_DN, np.full((32, 32), 4, np.uint8))
    bad = write_safe(tmp_path / "in", date(2024, 1, 15), S2_DN, np.full((32, 32), 4, np.uint8))
    jp2 = next(bad.glob("GRANULE/*/IMG_DATA/R10m/*_B08_10m.jp2"))
    jp2.write_bytes(jp2.read_bytes()[:200])
    store, result = _ingest(tmp_path, region, [tmp_path / "in"])
    assert len(result.ok) == 1 and len(result.failed) == 1
    assert jp2.name in result.failed[0]["reason"]
    assert [r["acquired"] for r in store.scenes("ok")] == ["2024-01-05"]
    assert store.scenes("failed")[0]["reason"] == result.failed[0]["reason"]


def test_scene_outside_the_region_is_reported(tmp_path, region):
    path = write_scene(tmp_path / "S2_20240110.tif", date(2024, 1, 10), x0=500000, y0=2300000)  # northern Vietnam
    store, result = _ingest(tmp_path, region, [path])
    assert not result.ok and "does not overlap the region" in result.failed[0]["reason"]
