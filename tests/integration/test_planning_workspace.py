"""The planners' workspace through the API, on both stores: each zone's own name kept as a real column (guessed
from ten_khu/ten/name or chosen), the overlay by a layer's id or name with dismissed alerts left out (listed apart
on request) and confirmed/unreviewed counted, its CSV and GeoPackage exports, the diff between two versions of a
plan against an independent geopandas computation, and the names of zone types in Vietnamese and English."""

from __future__ import annotations

import csv
import io

import geopandas as gpd
import pyogrio
import pytest
from fastapi.testclient import TestClient
from reviewkit import PASSWORD, USERS, login
from shapely.geometry import box

from api.app import create_app
from api.settings import Settings
from api.users import add_user
from geo.workflow.planning import ZONES

A1, A2, A3 = "20240305-086100-0133500", "20240312-086200-0133600", "20240610-086300-0133700"
NAME = "Quy hoạch Lạc Dương"
ZONES_2023 = [("RPH", "Khu phòng hộ Đa Nhim", 120.5, 1, box(108.34, 11.99, 108.355, 12.02)),
              ("ONT", "Khu dân cư Lát", 310.0, 2, box(108.355, 11.99, 108.4005, 12.0505)),
              ("RDD", "Khu đặc dụng Bidoup", 88.25, 3, box(108.29, 11.94, 108.33, 11.98))]
ZONES_2024 = [ZONES_2023[0], ("CLN", "Khu dân cư Lát", 310.0, 2, ZONES_2023[1][4]),
              ("RSX", "Khu sản xuất mới", 12.0, 4, box(108.41, 12.06, 108.42, 12.07))]


def plan_file(tmp_path, zones, year: int, crs: int = 4326):
    """A planner's file: zone type, name, a real and an integer attribute; optionally in VN-2000."""
    gdf = gpd.GeoDataFrame({"loai_dat": [z[0] for z in zones], "ten_khu": [z[1] for z in zones],
                            "dien_tich": [z[2] for z in zones], "so_thua": [z[3] for z in zones]},
                           geometry=[z[4] for z in zones], crs=4326).to_crs(crs)
    path = tmp_path / f"quy-hoach-{year}.geojson"
    gdf.to_file(path)
    return path


@pytest.fixture
def client(store, tmp_path):
    for name, (role, units) in USERS.items():
        add_user(store, name, PASSWORD, role, units)
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as c:
        c.headers.update(login(c, "planner"))
        yield c


def upload(client, path, valid_from: str, **extra):
    with path.open("rb") as f:
        r = client.post("/planning/layers", files={"file": (path.name, f, "application/geo+json")},
                        data={"name": NAME, "kind": "landuse_plan", "valid_from": valid_from, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def review(client, alert_id: str, *steps):
    """Walk an alert through review steps as the admin (assign) and the ranger of its unit (the rest)."""
    for to, extra in steps:
        version = client.get(f"/alerts/{alert_id}").json()["properties"]["version"]
        who = "admin" if to == "assigned" else "an"
        r = client.post(f"/alerts/{alert_id}/transitions", json={"to": to, "version": version, **extra},
                        headers=login(client, who))
        assert r.status_code == 200, r.text


def test_zone_name_is_guessed_kept_as_a_column_and_served(client, store, tmp_path):
    rec = upload(client, plan_file(tmp_path, ZONES_2023, 2023, crs=5899), "2023-01-01")
    assert rec["name_field"] == "ten_khu" and rec["source_crs"].startswith("EPSG:5899")
    items = client.get(f"/ogc/collections/plan-{rec['id']}/items").json()["features"]
    assert [f["properties"]["zone_name"] for f in items] == [z[1] for z in ZONES_2023]
    assert items[0]["properties"]["dien_tich"] == 120.5 and items[0]["properties"]["so_thua"] == 1
    zones = store.features(ZONES)
    assert list(zones["zone_name"]) == [z[1] for z in ZONES_2023]


def test_zone_name_column_chosen_or_refused(client, store, tmp_path):
    path = plan_file(tmp_path, ZONES_2023, 2023)
    rec = upload(client, path, "2023-01-01", name_field="loai_dat")
    assert rec["name_field"] == "loai_dat"
    with path.open("rb") as f:
        r = client.post("/planning/layers", files={"file": (path.name, f, "application/geo+json")},
                        data={"name": NAME, "kind": "zoning", "valid_from": "2024-01-01", "name_field": "ten_lo"},
                        headers={"Accept-Language": "en"})
    assert r.status_code == 422 and "ten_lo" in r.json()["detail"] and "ten_khu" in r.json()["detail"]
    assert [x["id"] for x in store.planning_layers()] == [rec["id"]]


def test_store_keeps_the_zone_name_as_a_typed_column_gdal_reads(store, tmp_path, client):
    upload(client, plan_file(tmp_path, ZONES_2023, 2023), "2023-01-01")
    if not store.url.startswith("postgresql"):
        info = pyogrio.read_info(store.url, layer="planning_zones")
        fields = dict(zip(info["fields"], info["dtypes"], strict=True))
        assert fields["zone_name"] == "object" and fields["area_ha"] == "float64"
        assert fields["feature_index"] in ("int32", "int64")
        read = pyogrio.read_dataframe(store.url, layer="planning_zones")
        assert "Khu dân cư Lát" in set(read["zone_name"])
    layers = client.get("/planning/layers").json()["layers"]
    assert layers[0]["name_field"] == "ten_khu"


def test_overlay_by_id_or_name_leaves_dismissed_out_and_counts_confirmed_and_unreviewed(client, store, tmp_path):
    rec = upload(client, plan_file(tmp_path, ZONES_2023, 2023), "2023-01-01")
    upload(client, plan_file(tmp_path, ZONES_2024, 2024), "2024-01-01")
    review(client, A1, ("assigned", {"assignee": "an"}), ("dismissed", {"reason": "seasonal_crop"}))
    review(client, A2, ("assigned", {"assignee": "an"}), ("in_field", {}), ("confirmed", {"cause": "illegal_clearing"}))
    by_id = client.get("/planning/overlay", params={"layer": rec["id"]}).json()
    by_name = client.get("/planning/overlay", params={"layer": NAME, "on": "2023-06-01"}).json()
    assert by_id == by_name and [x["id"] for x in by_id["layers"]] == [rec["id"]]
    assert {row["alert_id"] for row in by_id["alerts"]} == {A2, A3}  # A1 was dismissed
    assert by_id["dismissed"] == []
    summary = {row["zone_class"]: row for row in by_id["summary"]}
    alerts = store.query_alerts().set_index("id")
    def inside(alert_id, zone):  # intersected in UTM 48N, as the overlay does
        return gpd.overlay(alerts.loc[[alert_id]].reset_index().to_crs(32648),
                           gpd.GeoDataFrame(geometry=[zone[4]], crs=4326).to_crs(32648)).area.sum() / 1e4
    a2 = inside(A2, ZONES_2023[1])  # the quarter of the 0.4 ha alert inside the residential zone
    assert summary["conversion"]["alerts"] == 1 and summary["conversion"]["confirmed"] == 1
    assert summary["conversion"]["ha"] == pytest.approx(a2, rel=1e-6)
    assert summary["keep_forest"]["unreviewed"] == 1 and summary["keep_forest"]["confirmed"] == 0
    assert summary["keep_forest"]["ha"] == pytest.approx(inside(A3, ZONES_2023[2]), rel=1e-6)
    assert summary["keep_forest"]["zone_class_name"] == "Quy hoạch giữ rừng"
    months = {(row["zone_name"], row["month"]): row for row in by_id["zones"]}
    assert months[("Khu đặc dụng Bidoup", "2024-06")]["zone_type_name"] == "Đất rừng đặc dụng"
    apart = client.get("/planning/overlay", params={"layer": rec["id"], "dismissed": "true"},
                       headers={"Accept-Language": "en"}).json()
    assert {row["alert_id"] for row in apart["dismissed"]} == {A1}
    assert apart["summary"] == [{**row, "zone_class_name": apart["summary"][i]["zone_class_name"]}
                                for i, row in enumerate(by_id["summary"])]  # still not counted
    assert apart["alerts"][0]["zone_type_name"] in ("Rural residential land", "Special-use forest land")
    r = client.get("/planning/overlay", params={"layer": "quy-hoach-khac-20230101"}, headers={"Accept-Language": "en"})
    assert r.status_code == 404 and "quy-hoach-khac-20230101" in r.json()["detail"]


def test_overlay_exports_csv_and_geopackage(client, tmp_path):
    rec = upload(client, plan_file(tmp_path, ZONES_2023, 2023), "2023-01-01")
    review(client, A1, ("assigned", {"assignee": "an"}), ("dismissed", {"reason": "seasonal_crop"}))
    body = client.get("/planning/overlay", params={"layer": rec["id"]}).json()
    r = client.get("/planning/overlay", params={"layer": rec["id"], "f": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert {row["alert_id"] for row in rows} == {A2, A3}
    assert sum(float(row["overlap_ha"]) for row in rows) == pytest.approx(sum(x["overlap_ha"] for x in body["alerts"]))
    assert "Khu dân cư Lát" in {row["zone_name"] for row in rows}
    r = client.get("/planning/overlay", params={"layer": rec["id"], "f": "gpkg", "dismissed": "true"})
    assert r.status_code == 200
    path = tmp_path / "overlay.gpkg"
    path.write_bytes(r.content)
    assert {name for name, _ in pyogrio.list_layers(path)} == {"overlaps", "dismissed", "summary", "zones_by_month"}
    overlaps = gpd.read_file(path, layer="overlaps")
    assert overlaps.to_crs(32648).area.sum() / 1e4 == pytest.approx(overlaps["overlap_ha"].sum(), rel=1e-6)
    assert overlaps["overlap_ha"].dtype == "float64" and set(gpd.read_file(path, layer="dismissed")["alert_id"]) == {A1}


def test_diff_between_two_versions_matches_geopandas(client, tmp_path):
    old = upload(client, plan_file(tmp_path, ZONES_2023, 2023), "2023-01-01")
    new = upload(client, plan_file(tmp_path, ZONES_2024, 2024), "2024-01-01")
    r = client.get("/planning/diff", params={"from": old["id"], "to": new["id"]})
    assert r.status_code == 200, r.text
    body = r.json()
    area = {z[1]: gpd.GeoSeries([z[4]], crs=4326).to_crs(32648).area.iloc[0] / 1e4 for z in ZONES_2024 + ZONES_2023}
    table = {(row["change"], row["from_type"], row["to_type"]): row for row in body["table"]}
    assert set(table) == {("changed", "ONT", "CLN"), ("removed", "RDD", ""), ("added", "", "RSX")}
    assert table[("changed", "ONT", "CLN")]["ha"] == pytest.approx(area["Khu dân cư Lát"], rel=1e-6)
    assert table[("removed", "RDD", "")]["ha"] == pytest.approx(area["Khu đặc dụng Bidoup"], rel=1e-6)
    assert table[("added", "", "RSX")]["ha"] == pytest.approx(area["Khu sản xuất mới"], rel=1e-6)
    assert table[("changed", "ONT", "CLN")]["change_name"] == "Đổi loại đất"
    assert table[("changed", "ONT", "CLN")]["to_type_name"] == "Đất trồng cây lâu năm"
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 3
    assert body["from"]["id"] == old["id"] and body["to"]["valid_from"] == "2024-01-01"
    by_name = client.get("/planning/diff", params={"from": NAME, "from_on": "2023-05-01", "to": NAME, "lang": "en"})
    assert {row["change_name"] for row in by_name.json()["table"]} == {"Type changed", "Zone added", "Zone removed"}
    assert client.get("/planning/diff", params={"from": "nope", "to": new["id"]}).status_code == 404
