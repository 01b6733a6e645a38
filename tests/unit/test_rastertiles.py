"""Imagery tiles with known answers: NDVI and change colours of uniform scenes, clouds transparent, the
mosaic taking the newest clear pixel; and MVT tile coordinates of a known square."""

from __future__ import annotations

import warnings
from datetime import date

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
import rasterio
from conftest import write_scene
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.warp import transform_bounds
from rio_tiler.colormap import cmap
from shapely.geometry import box

from geo.errors import NotFoundError
from maps.rastertiles import TileScene, render_tile
from maps.vectortiles import encode_tile, tile_bounds

TMS = morecantile.tms.get("WebMercatorQuad")


def _scene(path) -> TileScene:
    names = ("B02", "B03", "B04", "B08", "B11", "B12", "SCL")
    return TileScene(str(path), tuple((n, i) for i, n in enumerate(names, start=1)))


def _tile(path):
    with rasterio.open(path) as src:
        w, s, e, n = transform_bounds(src.crs, 4326, *src.bounds)
    return TMS.tile((w + e) / 2, (s + n) / 2, 15)


def _pixels(png: bytes) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a tile PNG has no georeferencing
        with MemoryFile(png) as mem, mem.open() as src:
            return src.read()


@pytest.fixture
def scenes(tmp_path):
    return {
        "forest": write_scene(tmp_path / "a.tif", date(2024, 1, 1), size=128),
        "bare": write_scene(tmp_path / "b.tif", date(2024, 2, 1), size=128, forest=False),
        "cloud": write_scene(tmp_path / "c.tif", date(2024, 3, 1), size=128, forest=False, cloud=True),
    }


def test_ndvi_colour_of_forest(scenes):
    t = _tile(scenes["forest"])
    rgba = _pixels(render_tile("ndvi", [_scene(scenes["forest"])], t.x, t.y, t.z))
    ndvi = (3100 - 300) / (3100 + 300)
    index = int(np.clip((ndvi + 0.2) / 1.1, 0, 1) * 254 + 1)
    assert tuple(rgba[:, 128, 128]) == tuple(cmap.get("rdylgn")[index])


def test_change_is_the_ndvi_drop_from_the_reference(scenes):
    t = _tile(scenes["forest"])
    rgba = _pixels(render_tile("change", [_scene(scenes["bare"])], t.x, t.y, t.z,
                               reference=[_scene(scenes["forest"])]))
    drop = (3100 - 300) / 3400 - (2100 - 1500) / 3600  # 0.66, above the 0.5 top of the scale
    assert drop > 0.5
    assert tuple(rgba[:, 128, 128]) == tuple(cmap.get("ylorrd")[255])
    regrowth = _pixels(render_tile("change", [_scene(scenes["forest"])], t.x, t.y, t.z,
                                   reference=[_scene(scenes["bare"])]))
    assert regrowth[3, 128, 128] == 0  # greener than before: transparent


def test_clouds_are_transparent_and_the_mosaic_takes_the_newest_clear_pixel(scenes):
    t = _tile(scenes["forest"])
    cloudy = _pixels(render_tile("truecolor", [_scene(scenes["cloud"])], t.x, t.y, t.z))
    assert (cloudy[3] == 0).all()
    mosaic = _pixels(render_tile("truecolor", [_scene(scenes["cloud"]), _scene(scenes["bare"]),
                                               _scene(scenes["forest"])], t.x, t.y, t.z))
    bare_red = int(np.clip(0.15 / 0.25, 0, 1) * 254 + 1)
    assert mosaic[0, 128, 128] == bare_red and mosaic[3, 128, 128] == 255


def test_webp_tiles(scenes):
    t = _tile(scenes["forest"])
    webp = render_tile("falsecolor", [_scene(scenes["forest"])], t.x, t.y, t.z, fmt="webp")
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"


def test_a_tile_without_imagery_is_not_found(scenes):
    with pytest.raises(NotFoundError, match="holds no imagery"):
        render_tile("ndvi", [_scene(scenes["forest"])], 0, 0, 15)


def test_mvt_places_a_square_in_tile_coordinates():
    tile = TMS.tile(108.31, 11.96, 14)
    merc, lonlat = tile_bounds(tile.z, tile.x, tile.y)
    west, south, east, north = lonlat
    # The middle quarter of the tile (in Web Mercator) as a polygon in lon/lat.
    xs = np.array([merc[0] + (merc[2] - merc[0]) * f for f in (0.25, 0.75)])
    ys = np.array([merc[1] + (merc[3] - merc[1]) * f for f in (0.25, 0.75)])
    square = gpd.GeoSeries([box(xs[0], ys[0], xs[1], ys[1])], crs=3857).to_crs(4326)
    data = encode_tile({"zones": gpd.GeoDataFrame({"fid": ["a"]}, geometry=square)}, tile.z, tile.x, tile.y)
    feature = mapbox_vector_tile.decode(data)["zones"]["features"][0]
    ring = np.array(feature["geometry"]["coordinates"][0])
    assert ring.min(axis=0).tolist() == [1024, 1024] and ring.max(axis=0).tolist() == [3072, 3072]
    assert feature["properties"] == {"fid": "a"}
    with pytest.raises(NotFoundError, match="outside"):
        tile_bounds(2, 4, 0)
