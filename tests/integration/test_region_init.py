"""Any region: ``forestmon region init`` writes a profile for an area outside Vietnam (Pará, Brazil, UTM 22S),
and imagery of that area ingests and detects end to end through the CLI on both store backends."""

from __future__ import annotations

import tomllib
from datetime import date

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_scene
from pyproj import Transformer
from shapely.geometry import box

from api.cli import cli
from geo.store import open_store

UTM22S = "EPSG:32722"                  # WGS 84 / UTM zone 22S: the zone of Pará between 54° and 48° W
X0, Y0 = 444400.0, 9613000.0           # upper-left corner of the scenes, ~51.5° W 3.5° S
CLEARING = (slice(10, 30), slice(20, 40))


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="forestmon", env=env)


@pytest.fixture
def brazil(tmp_path):
    """A boundary (GeoJSON, WGS 84) around the scenes, admin units split west/east (GeoPackage, Web Mercator, with
    Portuguese column names), and two scenes in UTM 22S: forest, then forest with a clearing."""
    outline = gpd.GeoDataFrame({"nome": ["Área de estudo"]}, geometry=[box(X0 - 2000, Y0 - 3000, X0 + 3000, Y0 + 2000)],
                               crs=UTM22S)
    outline.to_crs(4326).to_file(tmp_path / "boundary.geojson", driver="GeoJSON")
    halves = gpd.GeoDataFrame({"codigo": ["W", "E"], "nome": ["Oeste", "Leste"]},
                              geometry=[box(X0 - 2000, Y0 - 3000, X0 + 250, Y0 + 2000),
                                        box(X0 + 250, Y0 - 3000, X0 + 3000, Y0 + 2000)], crs=UTM22S)
    halves.to_crs(3857).to_file(tmp_path / "units.gpkg", driver="GPKG")
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "before_20240105.tif", date(2024, 1, 5), x0=X0, y0=Y0, crs=UTM22S)
    write_scene(scenes / "after_20240305.tif", date(2024, 3, 5), x0=X0, y0=Y0, crs=UTM22S, bare=CLEARING)
    return tmp_path


def test_init_writes_a_profile_in_the_areas_utm_zone_south(brazil):
    data_dir = brazil / "d"
    result = invoke("region", "init", "para", "--boundary", brazil / "boundary.geojson", "--admin",
                    brazil / "units.gpkg", "--crs", "31982", "--title", "Pará (teste)", "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    assert "EPSG:32722" in result.output and "2 unit(s)" in result.output
    profile = tomllib.loads((data_dir / "regions" / "para" / "profile.toml").read_text(encoding="utf-8"))
    assert profile["grid"]["crs"] == "EPSG:32722" and profile["official"]["crs"] == "EPSG:31982"
    assert profile["title"] == "Pará (teste)"
    admin = gpd.read_file(data_dir / "regions" / "para" / profile["admin"][0]["file"])
    units = admin[admin["level"] == 2]
    assert sorted(units["id"]) == ["E", "W"] and sorted(units["name"]) == ["Leste", "Oeste"]
    again = invoke("region", "init", "para", "--boundary", brazil / "boundary.geojson", "--data-dir", data_dir)
    assert again.exit_code != 0 and "already exists" in str(again.exception or again.output)


def test_without_crs_the_official_crs_is_the_utm_zone_and_the_region_is_one_unit(brazil):
    data_dir = brazil / "d"
    result = invoke("region", "init", "para", "--boundary", brazil / "boundary.geojson", "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    profile = tomllib.loads((data_dir / "regions" / "para" / "profile.toml").read_text())
    assert profile["official"]["crs"] == "EPSG:32722" and "1 unit(s)" in result.output


@pytest.mark.parametrize("name", ["Bad Name", "lamdong"])
def test_bad_or_bundled_names_are_refused(brazil, name):
    result = invoke("region", "init", name, "--boundary", brazil / "boundary.geojson", "--data-dir", brazil / "d")
    assert result.exit_code != 0 and name in str(result.exception)
    assert not (brazil / "d" / "regions").exists()


def test_region_outside_vietnam_ingests_and_detects_end_to_end(brazil, backend_url):
    data_dir = brazil / "d"
    env = {"FORESTMON_STORE_URL": backend_url}
    made = invoke("region", "init", "para", "--boundary", brazil / "boundary.geojson", "--admin",
                  brazil / "units.gpkg", "--crs", "EPSG:31982", "--data-dir", data_dir, env=env)
    assert made.exit_code == 0, made.output
    result = invoke("ingest", brazil / "scenes", "--region", "para", "--data-dir", data_dir, env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "catalogued 2 scene(s), 0 failed" in result.output
    assert "processed 2 new scene(s); 1 alert(s)" in result.output
    alerts = open_store(backend_url).query_alerts()
    assert len(alerts) == 1
    alert = alerts.iloc[0]
    assert alert["area_ha"] == pytest.approx(4.0, rel=0.01)       # 20 x 20 px of 10 m
    assert alert["district_id"] == "E" and alert["district"] == "Leste"
    centre = gpd.GeoSeries(alerts.geometry, crs=4326).to_crs(UTM22S).centroid.iloc[0]
    assert (centre.x, centre.y) == pytest.approx((X0 + 300, Y0 - 200), abs=1)
    assert -52 < alert["centroid_lon"] < -51 and -4 < alert["centroid_lat"] < -3
    # the centroid in the profile's official CRS (SIRGAS 2000 / UTM 22S), not a VN-2000 zone
    expect = Transformer.from_crs(4326, 31982, always_xy=True).transform(alert["centroid_lon"], alert["centroid_lat"])
    assert alert["vn2000_epsg"] == 31982  # (the stored column)
    assert (alert["vn2000_x"], alert["vn2000_y"]) == pytest.approx(expect, abs=0.01)

    # what users read names it after that CRS, not VN-2000: the API (list, item, OGC items), exports
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    with TestClient(create_app(Settings(data_dir=data_dir, store_url=backend_url, region="para"))) as client:
        listed = client.get("/alerts").json()["features"][0]["properties"]
        item = client.get(f"/alerts/{alert['id']}").json()["properties"]
        ogc = client.get("/ogc/collections/alerts/items", params={"f": "json"}).json()["features"][0]["properties"]
        csv = client.get("/exports/alerts", params={"format": "csv"}).text
    for props in (listed, item, ogc):
        assert props["epsg31982_epsg"] == 31982 and "vn2000_x" not in props
        assert (props["epsg31982_x"], props["epsg31982_y"]) == pytest.approx(expect, abs=0.01)
    header = csv.splitlines()[0]
    assert "epsg31982_x" in header and "epsg31982_y" in header and "vn2000" not in header
    out = brazil / "alerts.csv"
    exported = invoke("export", "alerts", "-f", "csv", "-o", out, "--data-dir", data_dir,
                      env={**env, "FORESTMON_REGION": "para"})
    assert exported.exit_code == 0, (exported.output, exported.exception)
    assert "epsg31982_x" in out.read_text().splitlines()[0]


def test_coordinates_are_named_after_the_regions_crs():
    from pyproj import CRS

    from geo.region import coordinate_names, load_region

    names = load_region().coordinate_names  # Lâm Đồng: VN-2000 TM-3 zones keep the names users know
    assert names == {"vn2000_x": "vn2000_x", "vn2000_y": "vn2000_y", "vn2000_epsg": "vn2000_epsg"}
    assert coordinate_names(CRS.from_epsg(32648))["vn2000_x"] == "epsg32648_x"
    assert coordinate_names(CRS.from_epsg(3405))["vn2000_y"] == "vn2000_y"       # VN-2000 / UTM 48N
    assert coordinate_names(CRS.from_epsg(32648), CRS.from_epsg(32649))["vn2000_x"] == "official_x"


def test_ingest_of_nothing_usable_exits_non_zero_naming_why(brazil):
    data_dir = brazil / "d"
    invoke("region", "init", "para", "--boundary", brazil / "boundary.geojson", "--data-dir", data_dir)
    # the Brazilian scenes do not overlap Lâm Đồng
    result = invoke("ingest", brazil / "scenes", "--data-dir", data_dir)
    assert result.exit_code == 1, result.output
    assert "does not overlap the region" in result.output and "no input could be used" in result.output


# Landsat C2 L2 digital numbers (reflectance = DN * 2.75e-5 - 0.2) of forest and of bare soil, bands 2-7
FOREST_DN = {2: 8182, 3: 9091, 4: 8364, 5: 18545, 6: 12727, 7: 9818}    # NDVI 0.82, SWIR2 0.07
SOIL_DN = {2: 10545, 3: 11636, 4: 12727, 5: 14909, 6: 17818, 7: 15636}  # NDVI 0.17, SWIR2 0.23
L_X0, L_Y0 = 444420.0, 9613020.0   # multiples of 30 m


def test_two_landsat_dates_on_a_30_m_grid_keep_a_clearing_beside_a_cloud_whole(tmp_path, backend_url):
    """A 120 m wide clearing with a small cloud against its side on the second date: a buffer of one QA pixel
    (30 m) leaves it one alert; a fixed 4-pixel (120 m) buffer cut it in two."""
    from imagery_builders import write_landsat

    from geo import cloudmask

    outline = gpd.GeoDataFrame(geometry=[box(L_X0 - 600, L_Y0 - 1800, L_X0 + 1800, L_Y0 + 600)], crs=UTM22S)
    outline.to_file(tmp_path / "boundary.gpkg", driver="GPKG")
    clear = np.full((40, 40), 1 << cloudmask.QA_CLEAR, np.uint16)
    cloudy = clear.copy()
    cloudy[18:21, 12:15] = (1 << cloudmask.QA_CLOUD) | (3 << cloudmask.QA_CLOUD_CONFIDENCE_SHIFT)
    cleared = {b: np.full((40, 40), v, np.uint16) for b, v in FOREST_DN.items()}
    for b, v in SOIL_DN.items():
        cleared[b][10:31, 15:19] = v                       # 21 x 4 pixels of 30 m
    write_landsat(tmp_path / "scenes", date(2024, 1, 5), FOREST_DN, clear, x0=L_X0, y0=L_Y0, crs=UTM22S)
    write_landsat(tmp_path / "scenes", date(2024, 2, 6), cleared, cloudy, x0=L_X0, y0=L_Y0, crs=UTM22S,
                  spacecraft="LANDSAT_8")
    data_dir, env = tmp_path / "d", {"FORESTMON_STORE_URL": backend_url}
    made = invoke("region", "init", "para30", "--boundary", tmp_path / "boundary.gpkg", "--resolution", "30",
                  "--data-dir", data_dir, env=env)
    assert made.exit_code == 0, made.output
    result = invoke("ingest", tmp_path / "scenes", "--region", "para30", "--data-dir", data_dir, env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "processed 2 new scene(s); 1 alert(s)" in result.output
    (area,) = open_store(backend_url).query_alerts()["area_ha"]
    # the clearing less the one column of pixels within 30 m of the cloud: (84 - 3) pixels of 0.09 ha
    assert area == pytest.approx(81 * 0.09, rel=1e-3)
