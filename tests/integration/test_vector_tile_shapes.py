"""Alert vector tiles keep the shapes the map draws, on both stores: holes stay holes (exterior rings of positive
area in tile units, holes negative, as MVT wants), multi-part alerts keep their parts, alerts across the tile
edge are clipped to the tile and its buffer, and missing values are left out of the properties."""

from __future__ import annotations

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
from fastapi.testclient import TestClient
from shapely.geometry import MultiPolygon, Polygon, box

from api.app import create_app
from api.settings import Settings

TMS = morecantile.tms.get("WebMercatorQuad")
TILE = TMS.tile(108.45, 11.93, 13)
W, S, E, N = TMS.bounds(TILE)
DX, DY = (E - W) / 10, (N - S) / 10


def _cell(i: float, j: float, w: float = 1.0, h: float = 1.0) -> Polygon:
    """A box in tenths of the tile from its south-west corner."""
    return box(W + i * DX, S + j * DY, W + (i + w) * DX, S + (j + h) * DY)


def _alerts() -> gpd.GeoDataFrame:
    holed = Polygon(_cell(1, 1, 3, 3).exterior.coords, [_cell(2, 2).exterior.coords])
    rows = [
        ("20240401-holed", "high", "2024-04-01", MultiPolygon([holed])),
        ("20240402-parts", "low", None, MultiPolygon([_cell(6, 1), _cell(8, 1)])),
        ("20240403-edge", "highest", "2024-04-03", MultiPolygon([_cell(8, 6, 4, 2)])),  # past the east edge
    ]
    return gpd.GeoDataFrame(
        [{"id": i, "confidence": c, "first_detected": "2024-04-01", "confirmed": d, "last_update": "2024-04-01",
          "area_ha": 1.0, "district_id": "672", "district": "Thành phố Đà Lạt", "mean_drop": 0.4, "geometry": g}
         for i, c, d, g in rows], geometry="geometry", crs=4326)


def _shoelace(ring: list) -> float:
    xy = np.asarray(ring, dtype=float)
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def test_tiles_keep_holes_parts_and_clip_at_the_edge(empty_store, tmp_path):
    empty_store.sync_alerts(_alerts())
    with TestClient(create_app(Settings(data_dir=tmp_path, store_url=empty_store.url))) as client:
        r = client.get(f"/ogc/collections/alerts/tiles/WebMercatorQuad/{TILE.z}/{TILE.x}/{TILE.y}")
    assert r.status_code == 200, r.text
    layer = mapbox_vector_tile.decode(r.content, default_options={"y_coord_down": True})["alerts"]
    features = {f["properties"]["fid"]: f for f in layer["features"]}
    assert set(features) == {"20240401-holed", "20240402-parts", "20240403-edge"}

    holed = features["20240401-holed"]
    assert holed["geometry"]["type"] == "Polygon"
    exterior, hole = holed["geometry"]["coordinates"]
    assert _shoelace(exterior) > 0 > _shoelace(hole)
    # 3 x 3 tenths of the tile around a hole of 1 x 1: 9/100 and 1/100 of 4096² tile units (rounding aside)
    assert abs(_shoelace(exterior) / 4096**2 - 0.09) < 0.002 and abs(-_shoelace(hole) / 4096**2 - 0.01) < 0.001

    parts = features["20240402-parts"]
    assert parts["geometry"]["type"] == "MultiPolygon" and len(parts["geometry"]["coordinates"]) == 2
    assert all(_shoelace(p[0]) > 0 for p in parts["geometry"]["coordinates"])
    assert "confirmed" not in parts["properties"]  # a missing value is left out, not written as text
    assert parts["properties"]["confidence"] == "low" and parts["properties"]["area_ha"] == 1.0

    edge = np.asarray(features["20240403-edge"]["geometry"]["coordinates"][0])
    assert edge[:, 0].max() <= 4096 + 64 + 1 and edge[:, 0].min() >= int(0.8 * 4096) - 1
    assert features["20240403-edge"]["properties"]["confirmed"] == "2024-04-03"
