"""The embedded store: a real GeoPackage that GDAL reads, with transactional upserts by stable id."""

from __future__ import annotations

from datetime import date

import pyogrio
import pytest
from conftest import sample_alerts
from shapely.geometry import MultiPolygon, box

from geo.errors import ConfigError, NotFoundError
from geo.store import open_store
from geo.store.base import AlertQuery


def test_gdal_opens_the_store_as_a_geopackage_with_an_alerts_layer(store):
    layers = dict(pyogrio.list_layers(store.path))
    assert layers["alerts"] == "MultiPolygon"
    assert "scenes" in layers
    info = pyogrio.read_info(store.path, layer="alerts")
    assert info["features"] == 3
    assert info["crs"] == "EPSG:4326"
    frame = pyogrio.read_dataframe(store.path, layer="alerts", bbox=(108.349, 11.999, 108.361, 12.011))
    assert list(frame["id"]) == ["20240305-086100-0133500"]


def test_sync_updates_by_id_keeps_review_status_and_removes_vanished_unreviewed(store):
    alerts = sample_alerts()
    alerts.loc[0, "area_ha"] = 3.0  # the alert grew
    alerts.loc[0, "geometry"] = MultiPolygon([box(108.35, 12.00, 108.365, 12.01)])
    counts = store.sync_alerts(alerts.iloc[[0, 2]])
    assert counts == {"inserted": 0, "updated": 2, "removed": 1}
    assert store.get_alert("20240305-086100-0133500")["area_ha"].item() == 3.0
    with pytest.raises(NotFoundError):
        store.get_alert("20240312-086200-0133600")
    # The R-tree follows the new geometry.
    assert store.count_alerts(AlertQuery(bbox=(108.362, 12.001, 108.364, 12.002))) == 1


def test_resync_of_the_same_alerts_changes_nothing(store):
    before = store.query_alerts()
    store.sync_alerts(sample_alerts())
    after = store.query_alerts()
    assert before.drop(columns="geometry").equals(after.drop(columns="geometry"))
    assert before.geometry.geom_equals(after.geometry).all()


def test_queries_filter_by_bbox_dates_and_confidence(store):
    assert store.count_alerts() == 3
    assert store.count_alerts(AlertQuery(start=date(2024, 3, 10))) == 2
    assert store.count_alerts(AlertQuery(start=date(2024, 3, 1), end=date(2024, 3, 31))) == 2
    assert store.count_alerts(AlertQuery(confidence=("high", "highest"))) == 2
    assert store.count_alerts(AlertQuery(bbox=(108.29, 11.94, 108.33, 11.98))) == 1
    page = store.query_alerts(AlertQuery(limit=2, offset=1))
    assert list(page["id"]) == ["20240312-086200-0133600", "20240305-086100-0133500"]


def test_a_failed_write_leaves_the_store_unchanged(store):
    version = store.data_version()
    broken = sample_alerts()
    broken.loc[1, "geometry"] = None  # cannot be encoded: the whole sync must roll back
    with pytest.raises(AttributeError):
        store.sync_alerts(broken)
    assert store.count_alerts() == 3
    assert store.data_version() == version


def test_scene_catalogue_upserts_by_id(store):
    store.upsert_scenes([{"id": "a", "acquired": "2024-01-02", "status": "ok", "path": "/x", "processed": 0}])
    store.upsert_scenes([{"id": "a", "acquired": "2024-01-02", "status": "ok", "path": "/x", "processed": 1}])
    scenes = store.scenes()
    assert len(scenes) == 1 and scenes[0]["processed"] == 1


def test_store_url_must_name_a_known_backend(tmp_path):
    with pytest.raises(ConfigError, match="neither a .gpkg"):
        open_store(tmp_path / "alerts.sqlite")
