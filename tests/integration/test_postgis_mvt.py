"""Vector tiles (``ST_AsMVT``) and GeoJSON items written by PostGIS, against the embedded store's Python path:
the same data in both stores gives tiles that ``mapbox-vector-tile`` decodes to the same features, ids and
properties, and the same items; on PostGIS the Python encoder and geopandas are not used for alerts and planning
layers (admin units come from files and keep them)."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
from conftest import pg_schema_url, sample_alerts
from fastapi.testclient import TestClient
from shapely.geometry import box

import api.routers.ogc as ogc
from api.app import create_app
from api.settings import Settings
from geo.store import open_store
from geo.workflow.planning import import_layer

TMS = morecantile.tms.get("WebMercatorQuad")
PLAN = "plan-phan-khu-20240101"


def _fill(store, tmp_path) -> None:
    """The three sample alerts and a two-zone zoning layer with source attributes (one left empty)."""
    store.sync_alerts(sample_alerts())
    zoning = tmp_path / "zoning.geojson"
    if not zoning.exists():
        gpd.GeoDataFrame({"loai_dat": ["RPH", "ONT"], "ma": [7, None], "ghi_chu": ["giữ rừng", None]},
                         geometry=[box(108.30, 11.95, 108.31, 11.97), box(108.31, 11.95, 108.32, 11.97)],
                         crs=4326).to_file(zoning)
    import_layer(store, zoning, name="Phân khu", kind="zoning", valid_from=date(2024, 1, 1))


@pytest.fixture
def clients(tmp_path, pg_database):
    """The app over a GeoPackage store and over a PostGIS store holding the same data."""
    gpkg = open_store(tmp_path / "store.gpkg")
    _fill(gpkg, tmp_path)
    with pg_schema_url(pg_database) as url:
        pg = open_store(url)
        _fill(pg, tmp_path)
        with (TestClient(create_app(Settings(data_dir=tmp_path, store_url=gpkg.url))) as on_gpkg,
              TestClient(create_app(Settings(data_dir=tmp_path, store_url=pg.url))) as on_pg):
            yield {"gpkg": on_gpkg, "postgis": on_pg}
        pg.close()
    gpkg.close()


def _tile(client, collection: str, z: int, lon: float = 108.31, lat: float = 11.96) -> dict:
    t = TMS.tile(lon, lat, z)
    r = client.get(f"/ogc/collections/{collection}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(r.content)


def _by_fid(layer: dict) -> dict[str, dict]:
    return {str(f["properties"]["fid"]): f for f in layer["features"]}


def _rings(feature: dict) -> np.ndarray:
    coords = feature["geometry"]["coordinates"]
    polygons = coords if feature["geometry"]["type"] == "MultiPolygon" else [coords]
    return np.array([xy for polygon in polygons for ring in polygon for xy in ring], dtype=float)


@pytest.mark.parametrize("z", [10, 12, 15])
@pytest.mark.parametrize("collection", ["alerts", PLAN])
def test_postgis_tiles_decode_to_the_same_features_as_the_python_encoder(clients, collection, z):
    tiles = {name: _tile(client, collection, z) for name, client in clients.items()}
    assert all(list(t) == [collection] for t in tiles.values())
    gpkg, pg = (_by_fid(tiles[name][collection]) for name in ("gpkg", "postgis"))
    # Known answer: the features whose lon/lat outline meets the tile, from the items the API serves.
    items = clients["gpkg"].get(f"/ogc/collections/{collection}/items").json()["features"]
    frame = gpd.GeoDataFrame.from_features(items, crs=4326).assign(fid=[str(f["id"]) for f in items])
    expected = set(frame[frame.intersects(box(*TMS.bounds(TMS.tile(108.31, 11.96, z))))]["fid"])
    assert expected and set(pg) == set(gpkg) == expected
    for fid in expected:
        assert pg[fid]["properties"] == pytest.approx(gpkg[fid]["properties"]), fid
        # Same outline to within a tile unit or two (PostGIS and shapely clip and round independently).
        a, b = _rings(pg[fid]), _rings(gpkg[fid])
        assert np.abs(a.min(axis=0) - b.min(axis=0)).max() <= 2
        assert np.abs(a.max(axis=0) - b.max(axis=0)).max() <= 2
    if collection == PLAN:
        zone = next(f["properties"] for f in pg.values() if f["properties"]["loai_dat"] == "RPH")
        assert zone["zone_class"] == "keep_forest" and zone["ma"] == 7 and zone["ghi_chu"] == "giữ rừng"
        assert zone["layer"] == "Phân khu" and zone["valid_from"] == "2024-01-01" and zone["colour"]
        other = next(f["properties"] for f in pg.values() if f["properties"]["loai_dat"] == "ONT")
        assert "ma" not in other and "ghi_chu" not in other  # empty attributes are left out, as in Python


def test_postgis_tiles_are_made_by_st_asmvt_not_the_python_encoder(clients, monkeypatch):
    calls = []
    real = ogc.encode_tile
    monkeypatch.setattr(ogc, "encode_tile", lambda layers, *a, **k: calls.append(list(layers)) or real(
        layers, *a, **k))
    for collection in ("alerts", PLAN, "admin_2024"):
        assert _tile(clients["postgis"], collection, 12)[collection]["features"]
    assert calls == [["admin_2024"]]  # admin units are files: the Python encoder; the rest came from PostGIS
    calls.clear()
    _tile(clients["gpkg"], "alerts", 12)
    assert calls == [["alerts"]]


def test_postgis_tiles_apply_filters_and_the_feature_cap(clients, monkeypatch):
    low = clients["postgis"].get("/ogc/collections/alerts/tiles/WebMercatorQuad/8/205/119",
                                 params={"confidence": "low"})
    features = mapbox_vector_tile.decode(low.content)["alerts"]["features"]
    assert {f["properties"]["confidence"] for f in features} == {"low"} and len(features) == 1
    monkeypatch.setattr(ogc, "MAX_FEATURES", 2)
    capped = mapbox_vector_tile.decode(
        clients["postgis"].get("/ogc/collections/alerts/tiles/WebMercatorQuad/8/205/119").content)
    # Newest first, as the items: the two most recent of the three sample alerts.
    assert sorted(f["properties"]["first_detected"] for f in capped["alerts"]["features"]) == [
        "2024-03-12", "2024-06-10"]


@pytest.mark.parametrize("params", [{}, {"bbox": "108.29,11.94,108.36,12.02"}, {"confidence": "low,high"},
                                    {"limit": 1, "offset": 1}, {"min_area_ha": 100}])
def test_postgis_writes_the_same_geojson_items_as_the_embedded_store(clients, params, monkeypatch):
    monkeypatch.setattr(ogc, "feature_list", lambda gdf: pytest.fail("PostGIS items went through geopandas"))
    pg = clients["postgis"].get("/ogc/collections/alerts/items", params=params).json()
    monkeypatch.undo()
    gpkg = clients["gpkg"].get("/ogc/collections/alerts/items", params=params).json()
    for key in ("type", "numberMatched", "numberReturned"):
        assert pg[key] == gpkg[key], key
    assert [link["rel"] for link in pg["links"]] == [link["rel"] for link in gpkg["links"]]
    assert [f["id"] for f in pg["features"]] == [f["id"] for f in gpkg["features"]]
    for a, b in zip(pg["features"], gpkg["features"], strict=True):
        assert a["type"] == "Feature" and a["properties"] == pytest.approx(b["properties"]), a["id"]
        assert a["geometry"]["type"] == b["geometry"]["type"]
        assert np.array(a["geometry"]["coordinates"], dtype=float) == pytest.approx(
            np.array(b["geometry"]["coordinates"], dtype=float), abs=1e-9)
