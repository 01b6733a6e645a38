"""Real clients against the running server on 127.0.0.1 (a separate process: GDAL holds the GIL while it
fetches): GDAL's OGC API Features driver through pyogrio, OWSLib, mapbox-vector-tile, and GDAL's WMS/TMS
driver reading imagery tiles."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date

import geopandas as gpd
import httpx
import mapbox_vector_tile
import morecantile
import numpy as np
import pyogrio
import pytest
import rasterio
from conftest import free_port, sample_alerts, write_scene
from pyproj import Transformer
from shapely.geometry import box

from geo.store import open_store
from geo.workflow.planning import import_layer

TMS = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``uvicorn --factory api.app:create_app`` on a free port, over a store with the three sample alerts."""
    data_dir = tmp_path_factory.mktemp("clients")
    store = open_store(data_dir / "forestmon.gpkg")
    store.sync_alerts(sample_alerts())
    scenes = []
    for day in (date(2024, 5, 1), date(2024, 5, 8)):
        path = write_scene(data_dir / f"S2_{day:%Y%m%d}.tif", day)
        scenes.append({"id": f"{day:%Y%m%d}-test", "sensor": "Sentinel-2", "acquired": day.isoformat(),
                       "source": "test", "path": str(path), "cloud_pct": 0.0, "valid_fraction": 1.0, "status": "ok",
                       "reason": None, "processed": 1})
    store.upsert_scenes(scenes)
    zoning = data_dir / "zoning.geojson"
    zones = [box(108.30, 11.95, 108.31, 11.97), box(108.31, 11.95, 108.32, 11.97)]
    gpd.GeoDataFrame({"loai_dat": ["RPH", "ONT"]}, geometry=zones, crs=4326).to_file(zoning)
    import_layer(store, zoning, name="Phân khu", kind="zoning", valid_from=date(2024, 1, 1))
    port = free_port()
    env = {**os.environ, "FORESTMON_DATA_DIR": str(data_dir), "FORESTMON_STORE_URL": store.url}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            httpx.get(url + "/health", timeout=2)
            break
        except httpx.TransportError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the API server did not start") from None
            time.sleep(0.2)
    yield {"url": url, "store": store, "data_dir": data_dir}
    proc.terminate()
    proc.wait(timeout=10)


def test_gdal_oapif_driver_lists_collections_and_reads_alerts_in_a_bbox(server):
    source = f"OAPIF:{server['url']}/ogc/"
    layers = {name for name, _ in pyogrio.list_layers(source)}
    assert {"alerts", "admin_2024"} <= layers
    alerts = pyogrio.read_dataframe(source, layer="alerts", bbox=(108.29, 11.94, 108.33, 11.98))
    assert list(alerts["id"]) == ["20240610-086300-0133700"]
    assert alerts.crs.to_epsg() == 4326
    assert alerts.geometry.iloc[0].bounds == pytest.approx((108.30, 11.95, 108.32, 11.97))
    everything = pyogrio.read_dataframe(source, layer="alerts")
    assert sorted(everything["confidence"]) == ["high", "highest", "low"]


def test_owslib_reads_collections_and_items(server):
    from owslib.ogcapi.features import Features

    api = Features(server["url"] + "/ogc/")
    assert {"alerts", "admin_2024"} <= {c["id"] for c in api.collections()["collections"]}
    page = api.collection_items("alerts", limit=2)
    assert page["numberMatched"] == 3 and len(page["features"]) == 2
    low = api.collection_items("alerts", confidence="low")
    assert [f["id"] for f in low["features"]] == ["20240312-086200-0133600"]
    districts = api.collection_items("admin_2024", limit=20)
    assert len(districts["features"]) == 12


def test_gdal_reads_a_planning_layer_collection(server):
    zones = pyogrio.read_dataframe(f"OAPIF:{server['url']}/ogc/", layer="plan-phan-khu-20240101")
    assert sorted(zones["zone_class"]) == ["conversion", "keep_forest"]


QGIS_READS = """
import os, sys
from qgis.core import QgsApplication, QgsFeatureRequest, QgsRectangle, QgsVectorLayer, QgsVectorTileLayer
QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()
url = sys.argv[1]
for name in sys.argv[2:]:
    layer = QgsVectorLayer(f"url='{url}/ogc' typename='{name}'", name, "OAPIF")
    ids = sorted(str(f["id"] if "id" in layer.fields().names() else f.id()) for f in layer.getFeatures())
    near = layer.getFeatures(QgsFeatureRequest().setFilterRect(QgsRectangle(108.29, 11.94, 108.33, 11.98)))
    print(name, layer.isValid(), len(ids), len(list(near)), ",".join(layer.fields().names()), sep="|")
tiles = QgsVectorTileLayer(f"type=xyz&url={url}/ogc/collections/alerts/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}"
                           "&zmin=0&zmax=14", "tiles")
print("tiles", tiles.isValid(), sep="|")
app.exitQgis()
"""


def test_qgis_reads_every_collection_and_the_vector_tiles(server):
    """QGIS (the Debian package, headless), as a planner adds the layers: the OGC API Features provider reads
    each collection whole and in a bbox, and the vector tile layer opens."""
    names = ["alerts", "admin_2024", "plan-phan-khu-20240101"]
    run = subprocess.run(["/usr/bin/python3", "-c", QGIS_READS, server["url"], *names], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {line.split("|")[0]: line.split("|")[1:] for line in run.stdout.splitlines() if "|" in line}
    assert rows["alerts"][:3] == ["True", "3", "1"] and "confidence" in rows["alerts"][3]
    assert rows["admin_2024"][:2] == ["True", "12"]
    plan = rows["plan-phan-khu-20240101"]
    assert plan[:3] == ["True", "2", "2"] and "zone_class" in plan[3]
    assert rows["tiles"] == ["True"]


@pytest.mark.parametrize("collection", ["alerts", "admin_2024", "plan-phan-khu-20240101"])
def test_mapbox_vector_tile_decodes_the_expected_features(server, collection):
    tile = TMS.tile(108.31, 11.96, 12)
    r = httpx.get(f"{server['url']}/ogc/collections/{collection}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layer = mapbox_vector_tile.decode(r.content)[collection]
    assert layer["extent"] == 4096
    source = httpx.get(f"{server['url']}/ogc/collections/{collection}/items",
                       params={"limit": 1000}).json()["features"]
    frame = gpd.GeoDataFrame.from_features(source, crs=4326).assign(fid=[str(f["id"]) for f in source])
    expected = set(frame[frame.intersects(box(*TMS.bounds(tile)))]["fid"])
    assert expected
    assert {str(f["properties"]["fid"]) for f in layer["features"]} == expected
    if collection == "alerts":  # the 12 ha alert's outline, back from tile coordinates, is where it was
        west, south, east, north = TMS.xy_bounds(tile)
        feature = next(f for f in layer["features"] if f["properties"]["fid"] == "20240610-086300-0133700")
        ring = np.array(feature["geometry"]["coordinates"][0], dtype=float)
        lon, lat = Transformer.from_crs(3857, 4326, always_xy=True).transform(
            west + ring[:, 0] / 4096 * (east - west), south + ring[:, 1] / 4096 * (north - south))
        # The alert (108.30-108.32 E, 11.95-11.97 N) clipped to the tile plus its 64-unit buffer.
        pad = (north - south) * 64 / 4096
        _, clip_south = Transformer.from_crs(3857, 4326, always_xy=True).transform(west, south - pad)
        assert (lon.min(), lat.min(), lon.max(), lat.max()) == pytest.approx(
            (108.30, max(11.95, clip_south), 108.32, 11.97), abs=1e-4)


def test_bad_tiles_are_4xx(server):
    for path in ("/ogc/collections/alerts/tiles/WebMercatorQuad/3/8/1",
                 "/ogc/collections/alerts/tiles/WebMercatorQuad/23/0/0",
                 "/ogc/collections/nothing/tiles/WebMercatorQuad/1/0/0",
                 "/imagery/latest/ndvi/tiles/WebMercatorQuad/14/16384/0.png",
                 "/imagery/no-such-scene/ndvi/tiles/WebMercatorQuad/14/13100/7600.png",
                 "/imagery/latest/infrared/tiles/WebMercatorQuad/14/13100/7600.png",
                 "/imagery/latest/ndvi/tiles/WebMercatorQuad/14/13100/7600.gif"):
        r = httpx.get(server["url"] + path)
        assert 400 <= r.status_code < 500, path
        assert r.json()["detail"], path


def test_imagery_tile_outside_the_scenes_is_transparent(server):
    r = httpx.get(server["url"] + "/imagery/latest/ndvi/tiles/WebMercatorQuad/14/0/0.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    with rasterio.MemoryFile(r.content) as mem, mem.open() as src:
        assert src.count == 4 and (src.read(4) == 0).all()


def test_gdal_wms_client_reads_back_a_true_colour_tile(server, tmp_path):
    """GDAL's WMS driver (TMS mini-driver) fetching our XYZ tiles: the forest scene's true colour comes back."""
    scene = server["store"].scenes("ok")[-1]
    tilejson = httpx.get(f"{server['url']}/imagery/{scene['id']}/truecolor/tilejson.json").json()
    assert tilejson["maxzoom"] >= 14
    template = tilejson["tiles"][0].replace("{z}", "${z}").replace("{x}", "${x}").replace("{y}", "${y}")
    xml = tmp_path / "xyz.xml"
    xml.write_text(f"""<GDAL_WMS><Service name="TMS"><ServerUrl>{template}</ServerUrl></Service>
<DataWindow><UpperLeftX>-20037508.34</UpperLeftX><UpperLeftY>20037508.34</UpperLeftY>
<LowerRightX>20037508.34</LowerRightX><LowerRightY>-20037508.34</LowerRightY>
<TileLevel>15</TileLevel><TileCountX>1</TileCountX><TileCountY>1</TileCountY><YOrigin>top</YOrigin></DataWindow>
<Projection>EPSG:3857</Projection><BlockSizeX>256</BlockSizeX><BlockSizeY>256</BlockSizeY><BandsCount>4</BandsCount>
<ZeroBlockHttpCodes>404</ZeroBlockHttpCodes><Cache/></GDAL_WMS>""")
    west, south, east, north = tilejson["bounds"]
    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform((west + east) / 2, (south + north) / 2)
    with rasterio.Env(GDAL_HTTP_TIMEOUT=30), rasterio.open(xml) as src:
        row, col = src.index(x, y)
        rgba = src.read(window=rasterio.windows.Window(col - 2, row - 2, 5, 5))
    # Forest reflectance 0.030, 0.050, 0.025 stretched from 0-0.25 to 1-255; opaque.
    assert rgba[:, 2, 2].tolist() == pytest.approx([31, 52, 26, 255], abs=1)
    assert (rgba[3] == 255).all()
