"""Exports on both backends: every format opens in GDAL with the right features; VN-2000 coordinates agree with
the explicit EPSG:6960 seven-parameter pipeline; GPS formats refuse a projected CRS."""

from __future__ import annotations

import io
import json

import pyogrio
import pytest
import shapely
from pyproj import Transformer
from reviewkit import login

from geo.workflow import exports

IDS = ["20240305-086100-0133500", "20240312-086200-0133600", "20240610-086300-0133700"]
# EPSG:6960 (VN-2000 to WGS 84 (2)) written out, inverted, then the TM-3 107°45' projection of EPSG:5899.
EPSG_6960_TO_5899 = (
    "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step +proj=push +v_3 +step +proj=cart "
    "+ellps=WGS84 +step +inv +proj=helmert +x=-191.90441429 +y=-39.30318279 +z=-111.45032835 +rx=-0.00928836 "
    "+ry=0.01975479 +rz=-0.00427372 +s=0.252906278 +convention=coordinate_frame +step +inv +proj=cart "
    "+ellps=WGS84 +step +proj=pop +v_3 +step +proj=tmerc +lat_0=0 +lon_0=107.75 +k=0.9999 +x_0=500000 +y_0=0 "
    "+ellps=WGS84")


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "csv", "kml"])
def test_alerts_export_opens_in_gdal_with_every_alert(store, tmp_path, fmt):
    data = exports.export(exports.layer(store, "alerts"), fmt, "alerts")
    path = tmp_path / f"alerts.{fmt}"
    path.write_bytes(data)
    frame = pyogrio.read_dataframe(path)
    names = frame["Name"] if fmt == "kml" else frame["id"]
    assert sorted(names) == IDS
    if fmt != "csv":
        assert frame.crs.to_epsg() == 4326
        stored = store.query_alerts().set_index("id").loc[list(names)].geometry
        assert all(a.equals_exact(b, 1e-9) for a, b in zip(frame.geometry, stored, strict=True))


def test_gpx_has_one_named_waypoint_inside_each_alert(store, tmp_path):
    path = tmp_path / "alerts.gpx"
    path.write_bytes(exports.export(exports.layer(store, "alerts"), "gpx", "alerts"))
    points = pyogrio.read_dataframe(path, layer="waypoints")
    assert sorted(points["name"]) == IDS
    alerts = store.query_alerts().set_index("id")
    assert all(alerts.loc[n].geometry.contains(p) for n, p in zip(points["name"], points.geometry, strict=True))
    assert "area_ha=12.0" in points.set_index("name").loc[IDS[2], "desc"]


def test_vn2000_export_uses_the_seven_parameter_transformation(store):
    data = json.loads(exports.export(exports.layer(store, "alerts"), "geojson", "alerts", 5899))
    feature = next(f for f in data["features"] if f["properties"]["id"] == IDS[2])
    x, y = feature["geometry"]["coordinates"][0][0][0]
    lon, lat = store.get_alert(IDS[2]).geometry.iloc[0].geoms[0].exterior.coords[0]
    ex, ey = Transformer.from_pipeline(EPSG_6960_TO_5899).transform(lon, lat)
    assert (x, y) == (pytest.approx(ex, abs=0.001), pytest.approx(ey, abs=0.001))
    assert 500000 < x < 700000 and 1_300_000 < y < 1_400_000  # TM-3 metres near Đà Lạt
    with pytest.raises(Exception, match="crs: KML is always WGS 84"):
        exports.export(exports.layer(store, "alerts"), "kml", "alerts", 5899)


def test_export_endpoint_and_cases_layer(app_client):
    admin = login(app_client, "admin")
    app_client.post("/assignments/run", headers=admin)
    ranger = login(app_client, "an")
    app_client.post(f"/alerts/{IDS[2]}/transitions", headers=ranger, json={"to": "in_field", "version": 2})
    app_client.post(f"/alerts/{IDS[2]}/transitions", headers=ranger,
                    json={"to": "confirmed", "version": 3, "cause": "fire"})
    r = app_client.post("/cases", headers=ranger, json={"number": "C-1", "opened": "2024-06-20",
                                                        "violation_type": "fire", "alert_ids": [IDS[2]]})
    assert r.status_code == 201, r.text
    r = app_client.get("/exports/cases", params={"format": "csv", "crs": 9218})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="cases-epsg9218.csv"' in r.headers["content-disposition"]
    rows = list(__import__("csv").DictReader(io.StringIO(r.text)))
    assert [row["number"] for row in rows] == ["C-1"] and float(rows[0]["area_ha"]) == 12.0
    assert shapely.from_wkt(rows[0]["WKT"]).bounds[0] > 100000  # metres, not degrees
    assert app_client.get("/exports/alerts", params={"format": "gpx"}).text.count("<wpt ") == 3
    assert app_client.get("/exports/planting_lots", params={"format": "geojson"}).json()["features"] == []
    for params, field in [({"format": "shp"}, "format"), ({"crs": 3857}, "crs")]:
        r = app_client.get("/exports/alerts", params=params)
        assert r.status_code == 422 and field in str(r.json()["detail"])
    r = app_client.get("/exports/alerts", params={"format": "kml", "crs": 5899})
    assert r.status_code == 422 and "crs" in r.json()["detail"]
    assert app_client.get("/exports/rivers").status_code == 422


def test_planting_lots_through_the_api(app_client, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    lots = gpd.GeoDataFrame({"lot_id": ["P1"], "planted": ["2024-03-01"], "trees": [2000]},
                            geometry=[box(860000, 1335000, 860200, 1335100)], crs=32648)  # 2 ha
    path = tmp_path / "lots.gpkg"
    lots.to_file(path)  # in UTM: the import reprojects
    files = {"file": ("lots.gpkg", path.read_bytes(), "application/geopackage+sqlite3")}
    assert app_client.post("/planting-lots/import", files=files).status_code == 401
    assert app_client.post("/planting-lots/import", files=files, headers=login(app_client, "an")).status_code == 403
    r = app_client.post("/planting-lots/import", files=files, headers=login(app_client, "planner"))
    assert r.json() == {"inserted": 1, "updated": 0}
    listed = app_client.get("/planting-lots", params={"year": 2024}).json()["features"]
    assert [(f["properties"]["lot_id"], f["properties"]["area_ha"]) for f in listed] == [("P1", 2.0)]
    t = app_client.get("/targets/2024", params={"as_of": "2024-12-31"}).json()["afforestation"]
    assert t["new_plantation_ha"]["current"] == 2.0 and t["trees_planted"]["in_plantation_lots"] == 2000
    r = app_client.post("/planting-lots/import", headers=login(app_client, "planner"),
                        files={"file": ("lots.txt", b"nothing", "text/plain")})
    assert r.status_code == 422 and "file" in r.json()["detail"]
    r = app_client.post("/planting-lots/import", headers=login(app_client, "planner"),
                        files={"file": ("lots.gpkg", b"not a geopackage", "application/octet-stream")})
    assert r.status_code == 422 and "cannot be read" in r.json()["detail"]


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "csv", "kml", "gpx"])
def test_an_empty_case_register_exports_in_every_format(store, fmt):
    """Found by the schemathesis run: GET /exports/cases?format=gpx with no cases answered 500."""
    from geo.workflow.exports import export, layer

    frame = layer(store, "cases")
    assert len(frame) == 0 and "number" in frame.columns
    assert export(frame, fmt, "cases")
