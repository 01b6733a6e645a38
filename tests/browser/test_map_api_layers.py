"""The demo in the app, in headless Chromium, with a planning layer imported: switching on the zoning and the NDVI
imagery in the layers box draws them from our own tiles (nothing leaves
127.0.0.1, no errors). A zone's popup is checked in the planner's test (test_planner_app.py)."""

from __future__ import annotations

import json
import shutil
import urllib.request
from datetime import date

import geopandas as gpd
import pytest
from chromium import chromium_page
from conftest import ServerThread
from shapely.geometry import box

from api.app import create_app
from api.settings import Settings
from geo.grid import Grid
from geo.store import open_store
from geo.workflow.planning import import_layer

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def server(demo_run, tmp_path_factory):
    assert demo_run["proc"].returncode == 0, demo_run["proc"].stderr[-2000:]
    # A copy of the demo's store and grid (scene paths in the catalogue stay absolute), so the shared demo
    # data is left as it was.
    data_dir = tmp_path_factory.mktemp("layers")
    (data_dir / "state").mkdir()
    shutil.copy(demo_run["data_dir"] / "forestmon.gpkg", data_dir / "forestmon.gpkg")
    shutil.copy(demo_run["data_dir"] / "state" / "grid.json", data_dir / "state" / "grid.json")
    west, south, east, north = Grid.from_json((data_dir / "state" / "grid.json").read_text()).bounds_lonlat()
    mid = (west + east) / 2
    zoning = data_dir / "phan-khu.geojson"
    halves = [box(west, south, mid, north), box(mid, south, east, north)]
    gpd.GeoDataFrame({"loai_dat": ["RPH", "ONT"]}, geometry=halves, crs=4326).to_file(zoning)
    store = open_store(data_dir / "forestmon.gpkg")
    import_layer(store, zoning, name="Phân khu thử nghiệm", kind="zoning", valid_from=date(2024, 1, 1))
    app = create_app(Settings(data_dir=data_dir, store_url=None))
    with ServerThread(app) as srv:
        yield srv


def test_planning_zones_and_ndvi_tiles_switch_on(server, tmp_path):
    with chromium_page() as (page, log):
        with urllib.request.urlopen(f"{server.url}/imagery/latest/ndvi/tilejson.json") as r:
            imagery = json.load(r)  # open the map over the imagery, at a zoom it is served at
        west, south, east, north = imagery["bounds"]
        page.goto(f"{server.url}/#map={imagery['minzoom'] + 1}/{(south + north) / 2}/{(west + east) / 2}",
                  wait_until="networkidle")
        layers = page.locator("#layers")
        layers.locator("summary").click()
        layers.get_by_label("Phân khu thử nghiệm", exact=False).check()
        with page.expect_response(lambda r: "/imagery/latest/ndvi/tiles/WebMercatorQuad/" in r.url,
                                  timeout=120_000):  # rendered on demand: give it time
            layers.get_by_label("NDVI", exact=True).check()
        page.wait_for_function("() => window.forestmonMap.loaded()", timeout=120_000)
        zones = page.evaluate("window.forestmonMap.queryRenderedFeatures({layers: window.forestmonMap.getStyle()"
                              ".layers.filter(l => l.id.startsWith('plan:')).map(l => l.id)})"
                              ".map(f => f.properties.zone_type)")
        assert set(zones) == {"RPH", "ONT"}
        page.screenshot(path=str(tmp_path / "layers.png"))
    ndvi = [u for u in log.requests if "/imagery/latest/ndvi/tiles/WebMercatorQuad/" in u]
    assert ndvi and all(u.startswith(server.url) for u in ndvi)
    assert not log.blocked and not log.errors, (log.blocked, log.errors)
