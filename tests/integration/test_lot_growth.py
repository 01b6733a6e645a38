"""Afforestation checked from space, through the API on both stores: lots' NDVI trajectories from catalogued
scenes equal a direct computation on the pixels written; a greening lot comes out established, a lot on land
that stays bare not yet visible and then failed after the documented time, a lot cleared later cleared; the
registered area stands beside the area confirmed from imagery."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from fastapi.testclient import TestClient
from rasterio.transform import from_origin
from reviewkit import PASSWORD, USERS, login
from shapely.geometry import box

from api.app import create_app
from api.settings import Settings
from api.users import add_user
from geo.workflow.lot_growth import VISIBLE_AFTER_DAYS
from geo.workflow.planting import import_lots
from geo.workflow.targets import afforestation_status

X0, Y0, RES, SIZE = 860000.0, 1335400.0, 10.0, 40  # a 400 m square in UTM 48N near Đà Lạt
RED = 0.05
# Lots: 10 x 10 pixels each, aligned to the pixels (rows, cols of the upper-left pixel).
LOTS = {"GREEN": (2, 2), "BARE": (2, 20), "CLEARED": (20, 2)}
DAYS = [date(2023, m, 15) for m in (2, 4, 6, 8, 10, 12)] + [date(2024, m, 15) for m in (2, 4, 6, 8, 10, 12)]


def ndvi_of(lot: str, i: int) -> float:
    """What each lot's pixels show in observation i: greening, bare, and green then cleared in mid-2024."""
    t = i / (len(DAYS) - 1)
    if lot == "GREEN":
        return 0.2 + 0.65 * t
    if lot == "BARE":
        return 0.15
    return 0.8 if DAYS[i] < date(2024, 6, 1) else 0.12


def write_scenes(folder) -> list[dict]:
    """One 4-band scene (B04, B08, B12, SCL) per day with a pixel-to-pixel texture and, on the third day, a cloud
    over half the GREEN lot (SCL 9) and the lot's pixels there made bright (as a cloud is)."""
    rng = np.random.default_rng(7)
    records = []
    for i, day in enumerate(DAYS):
        red = np.full((SIZE, SIZE), RED * 10000, np.float32)
        nir = np.full((SIZE, SIZE), 0.25 * 10000, np.float32)
        scl = np.full((SIZE, SIZE), 4, np.uint8)
        for lot, (r, c) in LOTS.items():
            v = ndvi_of(lot, i) + rng.normal(0, 0.02, (10, 10))
            nir[r:r + 10, c:c + 10] = RED * (1 + v) / (1 - v) * 10000
        if i == 2:
            r, c = LOTS["GREEN"]
            scl[r:r + 5, c:c + 10] = 9
            red[r:r + 5, c:c + 10] = nir[r:r + 5, c:c + 10] = 6000
        path = folder / f"scene-{day:%Y%m%d}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=4, dtype="uint16",
                           crs="EPSG:32648", transform=from_origin(X0, Y0, RES, RES)) as dst:
            for b, (name, arr) in enumerate((("B04", red), ("B08", nir), ("B12", red), ("SCL", scl)), start=1):
                dst.write(np.round(arr).astype("uint16"), b)
                dst.set_band_description(b, name)
            dst.update_tags(ACQUISITION_DATE=day.isoformat())
        records.append({"id": f"{day:%Y%m%d}-T", "acquisition": f"{day:%Y%m%d}", "tile": "T",
                        "acquired": day.isoformat(), "sensor": "Sentinel-2", "source": "local",
                        "path": str(path.resolve()), "status": "ok"})
    return records


def lot_box(lot: str):
    r, c = LOTS[lot]
    return box(X0 + c * RES, Y0 - (r + 10) * RES, X0 + (c + 10) * RES, Y0 - r * RES)


def direct_medians(path_records, lot: str) -> list[float]:
    """The lot's clear-pixel NDVI median per scene, computed straight from the files."""
    r, c = LOTS[lot]
    out = []
    for rec in path_records:
        with rasterio.open(rec["path"]) as src:
            red, nir, _, scl = (src.read(b, window=((r, r + 10), (c, c + 10))).astype(float) for b in (1, 2, 3, 4))
        values = ((nir - red) / (nir + red))[scl == 4]  # vegetation class only: the clouded scene is left out
        out.append(float(np.median(values)))
    return out


@pytest.fixture
def client(store, tmp_path):
    for name, (role, units) in USERS.items():
        add_user(store, name, PASSWORD, role, units)
    scenes = write_scenes(tmp_path)
    store.upsert_scenes(scenes)
    lots = gpd.GeoDataFrame({"lot_id": list(LOTS), "planted": ["2023-01-10"] * 3, "trees": [1600, 1600, 1600],
                             "programme": ["trồng rừng tập trung"] * 3},
                            geometry=[lot_box(k) for k in LOTS], crs=32648)
    path = tmp_path / "lots.geojson"
    lots.to_crs(4326).to_file(path)
    import_lots(store, path, "EPSG:32648")
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as c:
        c.headers.update(login(c, "planner"))
        c.scenes = scenes
        yield c


def test_statuses_by_the_rules(client):
    body = client.get("/planting-lots/growth", params={"as_of": "2024-12-31"}).json()
    status = {lot["lot_id"]: lot["status"] for lot in body["lots"]}
    assert status == {"GREEN": "established", "BARE": "failed", "CLEARED": "cleared"}
    one_ha = body["lots"][0]["area_ha"]
    assert one_ha == pytest.approx(1.0, rel=1e-3)  # 10 x 10 pixels of 10 m
    assert body["registered_ha"] == pytest.approx(3.0, rel=1e-3)
    assert body["confirmed_ha"] == pytest.approx(1.0, rel=1e-3)
    assert body["area_by_status"]["failed"] == pytest.approx(1.0, rel=1e-3)
    early = client.get("/planting-lots/growth", params={"as_of": "2023-08-31"}).json()
    bare = next(lot for lot in early["lots"] if lot["lot_id"] == "BARE")
    assert (date(2023, 8, 31) - date(2023, 1, 10)).days < VISIBLE_AFTER_DAYS
    assert bare["status"] == "not_yet_visible"


def test_trajectory_equals_a_direct_computation(client):
    body = client.get("/planting-lots/GREEN/growth", params={"as_of": "2024-12-31"}).json()
    traj = body["trajectory"]
    # The clouded scene: half the lot is cloud plus its buffer, under half clear: left out.
    assert [t["acquired"] for t in traj] == [d.isoformat() for i, d in enumerate(DAYS) if i != 2]
    want = [m for i, m in enumerate(direct_medians(client.scenes, "GREEN")) if i != 2]
    assert [t["median"] for t in traj] == pytest.approx(want, abs=1e-4)
    assert all(t["pixels"] == 100 and t["clear_pixels"] == 100 for t in traj)
    assert all(t["p25"] <= t["median"] <= t["p75"] for t in traj)
    assert traj[-1]["green_share"] == 1.0 and traj[0]["green_share"] == 0.0
    assert client.get("/planting-lots/NOPE/growth").status_code == 404


def test_targets_count_plantation_hectares_and_scattered_trees_by_programme(client, store, tmp_path):
    lots = gpd.GeoDataFrame({"lot_id": ["P24", "S24"], "planted": ["2024-05-02", "2024-06-01"],
                             "trees": [1600, 300], "programme": ["Trồng rừng tập trung", "Trồng cây phân tán"]},
                            geometry=[lot_box("GREEN"), lot_box("BARE")], crs=32648)
    path = tmp_path / "lots-2024.geojson"
    lots.to_crs(4326).to_file(path)
    import_lots(store, path, "EPSG:32648")
    t = client.get("/targets/2024", params={"as_of": "2024-12-31"}).json()["afforestation"]
    assert t["new_plantation_ha"]["current"] == pytest.approx(1.0, rel=1e-3)  # the scattered trees' lot is not forest
    assert t["new_plantation_ha"]["by_programme"]["scattered"] == pytest.approx(1.0, rel=1e-3)
    assert t["trees_planted"]["current"] == 300  # the trees target is scattered trees (cây phân tán)
    assert t["trees_planted"]["in_plantation_lots"] == 1600  # told, not counted
    assert t["trees_planted"]["by_programme"] == {"plantation": 1600, "scattered": 300}


def test_targets_count_registered_against_confirmed_from_space_by_status(client, store, tmp_path):
    """The three 2023 lots (1 ha each) and a scattered-trees lot: on 2024-12-31 the 2023 target's 3 ha registered
    are 1 ha confirmed (GREEN established), 1 ha failed (BARE), 1 ha cleared; the scattered lot's trees stand apart."""
    scattered = gpd.GeoDataFrame({"lot_id": ["S23"], "planted": ["2023-03-01"], "trees": [450],
                                  "programme": ["Trồng cây phân tán"]}, geometry=[lot_box("BARE")], crs=32648)
    path = tmp_path / "scattered.geojson"
    scattered.to_crs(4326).to_file(path)
    import_lots(store, path, "EPSG:32648")
    got = afforestation_status(store, 2023, date(2024, 12, 31), 617.7)
    assert got["registered_ha"] == pytest.approx(3.0, rel=1e-3)
    assert got["confirmed_ha"] == pytest.approx(1.0, rel=1e-3)
    assert got["fraction_confirmed"] == pytest.approx(1.0 / 617.7, rel=1e-3)
    assert got["area_by_status"]["established"] == pytest.approx(1.0, rel=1e-3)
    assert got["area_by_status"]["failed"] == pytest.approx(1.0, rel=1e-3)
    assert got["area_by_status"]["cleared"] == pytest.approx(1.0, rel=1e-3)
    assert got["area_by_status"]["establishing"] == got["area_by_status"]["not_yet_visible"] == 0
    assert got["lots_by_status"]["established"] == 1 and got["lots"] == {"plantation": 3, "scattered": 1}
    assert got["trees_by_programme"] == {"plantation": 4800, "scattered": 450}
    early = afforestation_status(store, 2023, date(2023, 8, 31), 617.7)
    # judged on the scenes up to that day: CLEARED still green, GREEN and BARE not yet visible
    assert early["confirmed_ha"] == pytest.approx(1.0, rel=1e-3)
    assert early["area_by_status"]["not_yet_visible"] == pytest.approx(2.0, rel=1e-3)


def test_targets_endpoint_reports_the_year_registered_and_confirmed(client, store, tmp_path):
    lots = gpd.GeoDataFrame({"lot_id": ["P24", "S24"], "planted": ["2024-05-02", "2024-06-01"],
                             "trees": [1600, 300], "programme": ["Trồng rừng tập trung", "Trồng cây phân tán"]},
                            geometry=[lot_box("GREEN"), lot_box("BARE")], crs=32648)
    path = tmp_path / "lots-2024.geojson"
    lots.to_crs(4326).to_file(path)
    import_lots(store, path, "EPSG:32648")
    body = client.get("/targets/2024", params={"as_of": "2024-12-31"}).json()
    space = body["afforestation_status"]
    # P24 sits on the GREEN lot's pixels, green since autumn 2024: established, 1 ha confirmed of 617.7
    assert space["target_ha"] == 617.7
    assert space["registered_ha"] == pytest.approx(1.0, rel=1e-3)
    assert space["confirmed_ha"] == pytest.approx(1.0, rel=1e-3)
    assert space["trees_by_programme"] == {"plantation": 1600, "scattered": 300}
    row = body["afforestation"]["new_plantation_ha"]
    assert row["registered"] == space["registered_ha"] and row["confirmed"] == space["confirmed_ha"]


def _loss_alerts(store, tmp_path):
    """The sample alerts, a confirmed clearing over the CLEARED lot after its planting, a dismissed one over GREEN
    and an unreviewed one over BARE detected before the lots were planted; a lot replanted on the clearing."""
    from conftest import sample_alerts
    from shapely.geometry import MultiPolygon

    def alert(alert_id, lot, day):
        geom = gpd.GeoSeries([lot_box(lot)], crs=32648).to_crs(4326).iloc[0]
        return {"id": alert_id, "confidence": "high", "first_detected": day, "confirmed": day, "last_update": day,
                "area_ha": 1.0, "district_id": "672", "district": "Thành phố Đà Lạt", "mean_drop": 0.6,
                "geometry": MultiPolygon([geom])}

    ours = gpd.GeoDataFrame([alert("CLEAR-1", "CLEARED", "2024-07-01"), alert("DISM-1", "GREEN", "2024-03-01"),
                             alert("OLD-1", "BARE", "2022-12-01")], geometry="geometry", crs=4326)
    store.sync_alerts(gpd.GeoDataFrame(pd.concat([sample_alerts(), ours], ignore_index=True), crs=4326))
    with store.transaction() as tx:
        tx.execute("UPDATE alerts SET status = 'confirmed', cause = 'illegal_clearing' WHERE id = 'CLEAR-1'")
        tx.execute("UPDATE alerts SET status = 'dismissed', dismiss_reason = 'cloud_shadow' WHERE id = 'DISM-1'")
    again = gpd.GeoDataFrame({"lot_id": ["RE"], "planted": ["2024-09-01"], "trees": [1000],
                              "programme": ["trồng lại rừng"]}, geometry=[lot_box("CLEARED")], crs=32648)
    path = tmp_path / "replanted.geojson"
    again.to_crs(4326).to_file(path)
    import_lots(store, path, "EPSG:32648")


def test_confirmed_loss_alerts_are_replanting_candidates(client, store, tmp_path):
    _loss_alerts(store, tmp_path)
    body = client.get("/planting-lots/replanting-candidates").json()
    assert body["count"] == 1 and body["area_ha"] == 1.0  # the sample alerts are unreviewed, DISM-1 dismissed
    site = body["candidates"][0]
    assert (site["alert_id"], site["cause"], site["first_detected"]) == ("CLEAR-1", "illegal_clearing", "2024-07-01")
    assert site["commune"]["kind"] == "commune" and site["commune"]["name"]  # the 2025 unit holding it
    want = gpd.GeoSeries([lot_box("CLEARED")], crs=32648).to_crs(4326).iloc[0].centroid
    assert site["centroid"] == pytest.approx([want.x, want.y], abs=1e-4)
    assert site["replanted_by"] == ["RE"]  # planted on it after the loss


def test_lots_carry_their_status_and_loss_alerts_since_planting(client, store, tmp_path):
    _loss_alerts(store, tmp_path)
    features = client.get("/planting-lots", params={"as_of": "2024-12-31"}).json()["features"]
    lots = {f["properties"]["lot_id"]: f["properties"] for f in features}
    assert lots["CLEARED"]["loss_alerts"] == ["CLEAR-1"] and lots["CLEARED"]["loss_alert_count"] == 1
    assert lots["CLEARED"]["status"] == "cleared"
    assert lots["GREEN"]["loss_alerts"] == [] and lots["GREEN"]["status"] == "established"  # dismissed: no loss
    assert lots["GREEN"]["green_share"] == 1.0
    assert lots["BARE"]["loss_alerts"] == []  # OLD-1 was detected before the lot was planted
    assert lots["RE"]["loss_alerts"] == []  # CLEAR-1 came before RE was planted
    growth = client.get("/planting-lots/growth", params={"as_of": "2024-12-31"}).json()["lots"]
    assert {g["lot_id"]: g["loss_alerts"] for g in growth}["CLEARED"] == ["CLEAR-1"]
    assert client.get("/planting-lots/CLEARED/growth").json()["loss_alerts"] == ["CLEAR-1"]
    for fmt in ("gpkg", "geojson"):
        r = client.get("/exports/planting_lots", params={"format": fmt})
        assert r.status_code == 200, r.text
        path = tmp_path / f"lots-export.{fmt}"
        path.write_bytes(r.content)
        exported = pyogrio.read_dataframe(path).set_index("lot_id")
        assert exported.loc["CLEARED", "loss_alert_count"] == 1 and exported.loc["CLEARED", "status"] == "cleared"
        assert exported.loc["GREEN", "green_share"] == 1.0
        assert pd.api.types.is_integer_dtype(exported["loss_alert_count"])
        assert exported["green_share"].dtype == "float64"
