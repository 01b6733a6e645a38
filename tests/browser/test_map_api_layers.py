"""The demo in the app, in headless Chromium, with a planning layer imported: switching on the zoning and the NDVI
imagery in the layers box draws them from our own tiles, a click on a zone names it in Vietnamese (nothing leaves
127.0.0.1, no errors)."""

from __future__ import annotations

import shutil
from datetime import date

import geopandas as gpd
import pytest
from chromium import chromium_page
from conftest import ServerThread
from playwright.sync_api import expect
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
        page.goto(server.url + "/", wait_until="networkidle")
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
        point = page.evaluate("""() => { const m = window.forestmonMap;
            const f = m.queryRenderedFeatures({layers: m.getStyle().layers.filter(l => l.id.startsWith('plan:'))
                .map(l => l.id), filter: ['==', ['get', 'zone_type'], 'RPH']})[0];
            const c = f.geometry.coordinates[0]; const p = m.project([(c[0][0] + c[2][0]) / 2,
                (c[0][1] + c[2][1]) / 2]); return [p.x, p.y]; }""")
        page.locator("#map canvas").click(position={"x": point[0], "y": point[1]})
        expect(page.locator(".zone-popup")).to_contain_text("Đất rừng phòng hộ (RPH)")
        page.screenshot(path=str(tmp_path / "layers.png"))
    ndvi = [u for u in log.requests if "/imagery/latest/ndvi/tiles/WebMercatorQuad/" in u]
    assert ndvi and all(u.startswith(server.url) for u in ndvi)
    assert not log.blocked and not log.errors, (log.blocked, log.errors)
