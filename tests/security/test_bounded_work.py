"""Work per request is bounded whatever the request asks, on both backends:

- an imagery tile outside its layer's zoom range (from the scenes' resolution, as the TileJSON says) is a 404
  at once, before any pixel is read (z0 used to read whole scenes: minutes and gigabytes);
- every feature collection caps a page at 10 000 features, and OpenAPI says so;
- the web map does not embed planning zones: its size does not grow with the number of zones.
"""

from __future__ import annotations

import time
from datetime import date

import geopandas as gpd
import morecantile
import pytest
from conftest import write_scene
from fastapi.testclient import TestClient
from shapely.geometry import box

from api.app import create_app
from api.params import MAX_LIMIT
from api.settings import Settings
from geo.workflow.planning import import_layer

TMS = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture
def client(store, tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as c:
        yield c


def test_imagery_tiles_outside_the_zoom_range_are_404_at_once(client, store, tmp_path):
    path = write_scene(tmp_path / "scene.tif", date(2024, 5, 1), size=512)  # 5 km at 10 m, with overviews
    store.upsert_scenes([{"id": "20240501-test", "sensor": "Sentinel-2", "acquired": "2024-05-01", "source": "test",
                          "path": str(path), "cloud_pct": 0.0, "valid_fraction": 1.0, "status": "ok",
                          "reason": None, "processed": 1}])
    tilejson = client.get("/imagery/latest/ndvi/tilejson.json").json()
    lo, hi = tilejson["minzoom"], tilejson["maxzoom"]
    assert 0 < lo <= 12 and 14 <= hi <= 18  # 10 m pixels: natively z14, overviews down to z12
    west, south, east, north = tilejson["bounds"]
    lon, lat = (west + east) / 2, (south + north) / 2

    def tile(z: int):
        t = TMS.tile(lon, lat, z)
        return client.get(f"/imagery/latest/ndvi/tiles/WebMercatorQuad/{z}/{t.x}/{t.y}.png")

    assert tile(lo).status_code == 200 and tile(hi).status_code == 200
    for z in (0, 5, lo - 1, hi + 1, 22):
        started = time.perf_counter()
        r = tile(z)
        assert r.status_code == 404, z
        assert f"{lo}-{hi}" in r.json()["detail"]
        assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("path", ["/alerts", "/ogc/collections/alerts/items"])
def test_pages_of_features_are_capped(client, path):
    assert client.get(path, params={"limit": MAX_LIMIT}).status_code == 200
    r = client.get(path, params={"limit": MAX_LIMIT + 1})
    assert r.status_code == 422 and "limit" in r.text


def test_openapi_documents_the_cap_on_every_paged_route(client):
    spec = client.get("/openapi.json").json()
    paged = {path: op for path, ops in spec["paths"].items() for op in ops.values()
             if any(p["name"] == "limit" for p in op.get("parameters", []))}
    assert {"/alerts", "/ogc/collections/{collection_id}/items"} <= set(paged)
    for path, op in paged.items():
        limit = next(p for p in op["parameters"] if p["name"] == "limit")
        assert limit["schema"]["maximum"] == MAX_LIMIT, path


def _zoning(path, n: int):
    """A zoning layer of ``n`` small squares (the same name and version, so pages differ only by the zones)."""
    side = 0.001
    squares = [box(108.3 + (i % 100) * side, 11.9 + (i // 100) * side,
                   108.3 + (i % 100 + 0.8) * side, 11.9 + (i // 100 + 0.8) * side) for i in range(n)]
    gpd.GeoDataFrame({"loai_dat": ["RPH", "ONT"] * (n // 2)}, geometry=squares, crs=4326).to_file(path)
    return path


@pytest.fixture
def store_pair(backend_url, tmp_path):
    """Two stores of one backend: one with 2 zones, one with 600."""
    from conftest import pg_schema_url

    from geo.store import open_store

    if backend_url.endswith(".gpkg"):
        urls = [str(tmp_path / "few.gpkg"), str(tmp_path / "many.gpkg")]
        yield [open_store(u) for u in urls]
    else:
        with pg_schema_url(backend_url.split("?")[0]) as second:
            yield [open_store(backend_url), open_store(second)]


def test_the_web_map_does_not_grow_with_the_number_of_zones(store_pair, tmp_path):
    sizes = []
    for store, n in zip(store_pair, (2, 600), strict=True):
        import_layer(store, _zoning(tmp_path / f"zones-{n}.geojson", n), name="Phân khu", kind="zoning",
                     valid_from=date(2024, 1, 1))
        with TestClient(create_app(Settings(data_dir=tmp_path, store_url=store.url))) as c:
            sizes.append(len(c.get("/").content))
        store.close()
    assert abs(sizes[1] - sizes[0]) < 200, sizes  # 600 zones used to add ~100 KB
