"""Planning layers: import from every format and CRS (VN-2000 landing within 1 m of where the official
transformation puts it), repairs reported by feature index, clear refusals that store nothing, versions by
validity date, styles per zone type, the upload endpoint, the overlay against an independent geopandas
overlay, and the CLI."""

from __future__ import annotations

import json
import zipfile
from datetime import date

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pyproj import Geod, Transformer
from reviewkit import PASSWORD, login
from shapely.geometry import Polygon, box

from api.app import create_app
from api.cli import cli
from api.settings import Settings
from api.users import add_user
from geo.errors import InvalidInputError
from geo.workflow.overlay import overlay_report
from geo.workflow.planning import count_zones, import_layer, read_planning_file

# VN-2000 → WGS 84 as published in Decision 05/2007/QĐ-BTNMT, written out here as an explicit PROJ pipeline
# (independent of how forestmon picks the transformation). Forward direction: WGS 84 lon/lat → VN-2000 TM.
DECISION_05_2007 = ("+x=-191.90441429 +y=-39.30318279 +z=-111.45032835 +rx=-0.00928836 +ry=0.01975479 "
                    "+rz=-0.00427372 +s=0.252906278 +convention=coordinate_frame")


def wgs84_to_vn2000(lon: float, lat: float, lon_0: float, k: float) -> tuple[float, float]:
    pipeline = ("+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step +proj=cart +ellps=WGS84 "
                f"+step +inv +proj=helmert {DECISION_05_2007} +step +inv +proj=cart +ellps=WGS84 "
                f"+step +proj=tmerc +lat_0=0 +lon_0={lon_0} +k={k} +x_0=500000 +y_0=0 +ellps=WGS84")
    return Transformer.from_pipeline(pipeline).transform(lon, lat)


KNOWN = (108.4419, 11.9404)  # a point in Đà Lạt (WGS 84)
GEOD = Geod(ellps="WGS84")


def _square_at(x: float, y: float, size: float = 200.0) -> Polygon:
    """A square whose first vertex (south-west corner) is (x, y)."""
    return Polygon([(x, y), (x + size, y), (x + size, y + size), (x, y + size)])


def _distance_m(lon1, lat1, lon2, lat2) -> float:
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def _corner(zones: gpd.GeoDataFrame) -> tuple[float, float]:
    poly = zones.geometry.iloc[0].geoms[0]
    return min(poly.exterior.coords, key=lambda c: (c[0] + c[1]))


@pytest.mark.parametrize(("epsg", "lon_0", "k", "fmt"), [
    (5899, 107.75, 0.9999, "geojson"), (9218, 108.5, 0.9999, "gpkg"), (3405, 105.0, 0.9996, "gpkg"),
    (3406, 111.0, 0.9996, "geojson"),
])
def test_vn2000_file_lands_within_a_metre(tmp_path, epsg, lon_0, k, fmt):
    x, y = wgs84_to_vn2000(*KNOWN, lon_0=lon_0, k=k)
    path = tmp_path / f"zones.{fmt}"
    gpd.GeoDataFrame({"loai_dat": ["RPH"]}, geometry=[_square_at(x, y)], crs=epsg).to_file(path)
    read = read_planning_file(path, kind="zoning")
    assert read.source_crs.startswith(f"EPSG:{epsg}")
    lon, lat = _corner(read.zones)
    assert _distance_m(lon, lat, *KNOWN) < 1.0


def _shapefile_zip(tmp_path, gdf: gpd.GeoDataFrame, prj: str | None, name: str = "zones") -> str:
    folder = tmp_path / "shp"
    folder.mkdir(exist_ok=True)
    gdf.to_file(folder / f"{name}.shp")
    out = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(out, "w") as z:
        for part in folder.glob(f"{name}.*"):
            if part.suffix == ".prj":
                if prj is None:
                    continue
                z.writestr(part.name, prj)
            else:
                z.write(part, part.name)
    return out


@pytest.mark.parametrize(("lon_0", "label"), [(107.75, "EPSG:5899"), (106.75, "VN_2000_TM3")])
def test_zipped_shapefile_whose_prj_names_vn2000_without_an_epsg_code(tmp_path, lon_0, label):
    """107°45' is EPSG:5899 once recognised; 106°45' has no EPSG code and gets the official parameters."""
    x, y = wgs84_to_vn2000(*KNOWN, lon_0=lon_0, k=0.9999)
    gdf = gpd.GeoDataFrame({"loai_dat": ["RPH"]}, geometry=[_square_at(x, y)], crs=5899)
    # What VN-2000 software writes: ESRI WKT, datum by name only, no AUTHORITY and no TOWGS84.
    prj = ('PROJCS["VN_2000_TM3",GEOGCS["GCS_VN_2000",DATUM["D_Vietnam_2000",SPHEROID["WGS_1984",'
           '6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],'
           'PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],'
           f'PARAMETER["Central_Meridian",{lon_0}],PARAMETER["Scale_Factor",0.9999],'
           'PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]')
    read = read_planning_file(_shapefile_zip(tmp_path, gdf, prj), kind="zoning")
    assert read.source_crs.startswith(label)
    lon, lat = _corner(read.zones)
    assert _distance_m(lon, lat, *KNOWN) < 1.0


def test_attributes_kept_repairs_reported_by_feature_index_and_classes(tmp_path):
    bowtie = Polygon([(108.40, 11.90), (108.41, 11.91), (108.41, 11.90), (108.40, 11.91)])
    gdf = gpd.GeoDataFrame({"Loai_Dat": ["RPH", "ONT", "MNC", "??"], "ten": ["Khu A", "Khu B", "Hồ", "D"]},
                           geometry=[box(108.3, 11.9, 108.31, 11.91), bowtie, box(108.32, 11.9, 108.33, 11.91),
                                     box(108.34, 11.9, 108.35, 11.91)], crs=4326)
    gdf.to_file(tmp_path / "plan.geojson")
    read = read_planning_file(tmp_path / "plan.geojson", kind="landuse_plan")
    assert read.zone_field == "Loai_Dat"
    assert read.repairs == ["feature 1: Self-intersection[108.405 11.905]; repaired"]
    assert list(read.zones["zone_class"]) == ["keep_forest", "conversion", "other", "other"]
    assert json.loads(read.zones["properties"].iloc[2]) == {"Loai_Dat": "MNC", "ten": "Hồ"}
    assert read.zones.geometry.is_valid.all()
    assert read.zones["area_ha"].iloc[1] == pytest.approx(2 * read.zones["area_ha"].iloc[0] / 4, rel=0.01)


def test_kml_imports(tmp_path):
    kml = tmp_path / "protected.kml"
    kml.write_text("""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>Vườn quốc gia Bidoup</name>
<Polygon><outerBoundaryIs><LinearRing><coordinates>108.3,11.9 108.4,11.9 108.4,12.0 108.3,12.0 108.3,11.9
</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></Document></kml>""", encoding="utf-8")
    read = read_planning_file(kml, kind="protected_area")
    assert len(read.zones) == 1 and read.zones["zone_class"].iloc[0] == "keep_forest"
    assert "Bidoup" in read.zones["properties"].iloc[0]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("plan.txt", "hello", "unsupported format"),
    ("plan.geojson", "", "empty"),
    ("plan.geojson", "{not json", "not a readable GeoJSON"),
    ("plan.geojson", '{"type": "FeatureCollection", "features": []}', "no features"),
    ("plan.geojson", '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
                     '"geometry": {"type": "Point", "coordinates": [108.4, 11.9]}}]}', "must be polygons"),
    ("plan.zip", "not a zip", "not a zip"),
])
def test_bad_files_are_refused_and_nothing_is_stored(store, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    before = store.data_version()
    with pytest.raises(InvalidInputError, match=message):
        import_layer(store, path, name="Quy hoạch", kind="zoning", valid_from=date(2024, 1, 1))
    assert store.planning_layers() == [] and store.data_version() == before


def test_shapefile_without_prj_is_refused_as_unknown_crs(store, tmp_path):
    gdf = gpd.GeoDataFrame({"zone": ["RPH"]}, geometry=[box(0, 0, 1, 1)], crs=5899)
    with pytest.raises(InvalidInputError, match="no .prj"):
        import_layer(store, _shapefile_zip(tmp_path, gdf, None), name="x", kind="zoning", valid_from=date(2024, 1, 1))
    assert store.planning_layers() == []


def test_versions_by_validity_date_and_reimport_without_duplicates(store, tmp_path):
    for year, zone in ((2023, "RSX"), (2024, "ONT")):
        gpd.GeoDataFrame({"zone_type": [zone]}, geometry=[box(108.3, 11.9, 108.31, 11.91)], crs=4326).to_file(
            tmp_path / f"{year}.geojson")
        import_layer(store, tmp_path / f"{year}.geojson", name="Quy hoạch Lạc Dương", kind="landuse_plan",
                     valid_from=date(year, 1, 1))
    import_layer(store, tmp_path / "2024.geojson", name="Quy hoạch Lạc Dương", kind="landuse_plan",
                 valid_from=date(2024, 1, 1))
    layers = store.planning_layers()
    assert [(r["id"], r["valid_to"]) for r in layers] == [("quy-hoach-lac-duong-20230101", "2023-12-31"),
                                                          ("quy-hoach-lac-duong-20240101", None)]
    assert [count_zones(store, r["id"]) for r in layers] == [1, 1]


def _zoning(tmp_path) -> str:
    """Keep-forest zone over the west half of the 2.5 ha alert, a conversion zone over the east half and the
    0.4 ha alert's corner, and a forest zone far from every alert."""
    gdf = gpd.GeoDataFrame(
        {"loai_dat": ["RPH", "ONT", "RDD"], "ten": ["Phòng hộ", "Dân cư", "Đặc dụng"]},
        geometry=[box(108.34, 11.99, 108.355, 12.02), box(108.355, 11.99, 108.4005, 12.0505),
                  box(108.0, 11.5, 108.01, 11.51)], crs=4326)
    path = tmp_path / "zoning.geojson"
    gdf.to_file(path)
    return path


def test_overlay_matches_an_independent_geopandas_overlay(store, tmp_path):
    zoning = _zoning(tmp_path)
    import_layer(store, zoning, name="Phân khu", kind="zoning", valid_from=date(2024, 1, 1))
    report = overlay_report(store)
    alerts = store.query_alerts().to_crs(32648)
    zones = gpd.read_file(zoning).to_crs(32648).reset_index(names="feature_index")
    expected = gpd.overlay(alerts[["id", "geometry"]], zones[["feature_index", "loai_dat", "geometry"]],
                           how="intersection", keep_geom_type=True)
    expected["ha"] = expected.area / 10000
    expected["share"] = expected["ha"] / expected["id"].map(alerts.set_index("id").area / 10000)
    got = report["alerts"].set_index(["alert_id", "feature_index"]).sort_index()
    want = expected.set_index(["id", "feature_index"]).sort_index()
    assert list(got.index) == list(want.index) and len(got) == 3
    assert got["overlap_ha"].to_numpy() == pytest.approx(want["ha"].to_numpy(), rel=1e-6)
    assert got["share"].to_numpy() == pytest.approx(want["share"].to_numpy(), rel=1e-6)
    summary = report["summary"].set_index("zone_class")
    keep = expected[expected["loai_dat"] == "RPH"]["ha"].sum()
    conv = expected[expected["loai_dat"] == "ONT"]["ha"].sum()
    assert summary.loc["keep_forest", "ha"] == pytest.approx(keep, rel=1e-6)
    assert summary.loc["conversion", "ha"] == pytest.approx(conv, rel=1e-6)
    assert summary.loc["outside", "ha"] == pytest.approx(alerts.area.sum() / 10000 - keep - conv, rel=1e-6)
    assert summary.loc["keep_forest", "alerts"] == 1 and summary.loc["conversion", "alerts"] == 2
    months = report["zones"]
    ont = months[months["zone_type"] == "ONT"]
    assert list(ont["month"]) == ["2024-03"] and int(ont["alerts"].iloc[0]) == 2
    assert ont["ha"].iloc[0] == pytest.approx(conv, rel=1e-6)


@pytest.fixture
def client(store, tmp_path):
    """A client logged in as a planner (uploads need the planner or admin role)."""
    add_user(store, "lan", PASSWORD, "planner")
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url, upload_max_mb=0.01))) as c:
        c.headers.update(login(c, "lan"))
        yield c


def test_uploads_need_a_planner_or_admin(store, tmp_path):
    add_user(store, "an", PASSWORD, "ranger", ["675"])
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as c:
        files = {"file": ("z.geojson", b"{}", "application/geo+json")}
        data = {"name": "z", "kind": "zoning", "valid_from": "2024-01-01"}
        assert c.post("/planning/layers", files=files, data=data).status_code == 401
        r = c.post("/planning/layers", files=files, data=data, headers={**login(c, "an"), "Accept-Language": "en"})
        assert r.status_code == 403 and "planner" in r.json()["detail"] and r.json()["code"] == "forbidden_role"


def test_upload_endpoint_imports_styles_and_serves_the_layer(client, tmp_path):
    zoning = _zoning(tmp_path)
    with zoning.open("rb") as f:
        r = client.post("/planning/layers", files={"file": ("phan-khu.geojson", f, "application/geo+json")},
                        data={"name": "Phân khu", "kind": "zoning", "valid_from": "2024-01-01"})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "phan-khu-20240101" and r.json()["feature_count"] == 3
    items = client.get("/ogc/collections/plan-phan-khu-20240101/items", params={"zone_class": "keep_forest"}).json()
    assert [f["properties"]["loai_dat"] for f in items["features"]] == ["RPH", "RDD"]
    assert items["features"][0]["properties"]["colour"] == "#2e7d32"
    assert items["features"][0]["properties"]["ten"] == "Phòng hộ"
    before = client.get("/ogc/collections/plan-phan-khu-20240101/items", params={"datetime": "2023-06-01"}).json()
    assert before["numberMatched"] == 0 and before["features"] == []  # the plan was not in force yet
    one = client.get("/ogc/collections/plan-phan-khu-20240101/items/1").json()
    assert one["properties"]["zone_type"] == "ONT" and one["properties"]["zone_class"] == "conversion"
    listed = client.get("/planning/layers").json()
    assert listed["layers"][0]["valid_from"] == "2024-01-01"
    assert any(s["code"] == "RPH" for s in listed["styles"])
    overlay = client.get("/planning/overlay").json()
    assert {row["zone_class"] for row in overlay["summary"]} == {"keep_forest", "conversion", "other", "outside"}
    assert len(overlay["alerts"]) == 3


@pytest.mark.parametrize(("files", "data", "status", "word"), [
    ({"file": ("a.txt", b"x")}, {"name": "a", "kind": "zoning", "valid_from": "2024-01-01"}, 422, "file"),
    ({"file": ("a.geojson", b"{}")}, {"name": "a", "kind": "parks", "valid_from": "2024-01-01"}, 422, "kind"),
    ({"file": ("a.geojson", b"{}")}, {"name": "a", "kind": "zoning", "valid_from": "soon"}, 422, "valid_from"),
    ({"file": ("a.geojson", b"{" * 20000)}, {"name": "a", "kind": "zoning", "valid_from": "2024-01-01"}, 413,
     "MB"),
    ({"file": ("a.geojson", b"{" * 200000)}, {"name": "a", "kind": "zoning", "valid_from": "2024-01-01"}, 413,
     "MB"),  # refused from Content-Length, before reading
    ({"file": ("a.geojson", b'{"type": "FeatureCollection", "features": []}')},
     {"name": "a", "kind": "zoning", "valid_from": "2024-01-01"}, 422, "no features"),
])
def test_bad_uploads_are_refused(client, store, files, data, status, word):
    r = client.post("/planning/layers", files=files, data=data)
    assert r.status_code == status, r.text
    assert word in str(r.json()["detail"])
    assert store.planning_layers() == []


def test_cli_imports_lists_and_overlays(store, tmp_path, monkeypatch):
    monkeypatch.setenv("FORESTMON_STORE_URL", store.url)
    runner = CliRunner()
    zoning = _zoning(tmp_path)
    r = runner.invoke(cli, ["layers", "import", str(zoning), "--name", "Phân khu", "--kind", "zoning",
                            "--valid-from", "2024-01-01", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "imported 3 zone(s) as phan-khu-20240101" in r.output
    assert "columns: loai_dat, ten" in r.output  # the file's attributes, each a typed column of the store
    assert "phan-khu-20240101" in runner.invoke(cli, ["layers", "list", "--data-dir", str(tmp_path)]).output
    r = runner.invoke(cli, ["layers", "overlay", "--format", "json", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    assert pd.DataFrame(body["alerts"])["alert_id"].nunique() == 2
    bad = runner.invoke(cli, ["layers", "import", str(zoning), "--name", "x", "--kind", "parks",
                              "--valid-from", "2024-01-01"])
    assert bad.exit_code != 0 and "kind" in bad.output



def test_the_app_is_offered_each_version_as_a_planning_layer_styled_per_zone_type(client, store, tmp_path):
    import_layer(store, _zoning(tmp_path), name="Phân khu", kind="zoning", valid_from=date(2023, 1, 1))
    import_layer(store, _zoning(tmp_path), name="Phân khu", kind="zoning", valid_from=date(2024, 1, 1))
    offered = [c for c in client.get("/ogc/collections").json()["collections"] if c["forestmon:kind"] == "planning"]
    spans = sorted(c["extent"]["temporal"]["interval"][0] for c in offered)
    assert spans == [["2023-01-01", "2023-12-31"], ["2024-01-01", None]]  # the newest open-ended
    assert all({z["code"] for z in c["style"]["legend"]} >= {"RPH", "ONT"} for c in offered)
    newest = next(r for r in store.planning_layers() if r["valid_from"] == "2024-01-01")
    url = f"/ogc/collections/plan-{newest['id']}/items"
    colours = {f["properties"]["colour"] for f in client.get(url, params={"limit": 100}).json()["features"]}
    assert {"#2e7d32", "#e57373"} <= colours  # RPH green, ONT red
