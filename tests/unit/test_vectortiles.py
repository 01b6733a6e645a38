"""Vector tiles of real boundaries: every tile over the merged province's 124 communes encodes at the zooms the
app asks for, each feature one kind of geometry (clipping and snapping can leave a polygon with a stray line)."""

from __future__ import annotations

import mapbox_vector_tile
import morecantile
import pytest

from geo.region import load_region
from maps.vectortiles import encode_tile


@pytest.mark.parametrize("zoom", [7, 9, 11])
def test_every_commune_tile_encodes_with_one_kind_of_geometry_per_feature(zoom):
    region = load_region("lamdong")
    version = max(region.admin_versions, key=lambda v: v.valid_from)
    communes = region.units(version.valid_from).assign(fid=lambda f: f["id"].astype(str))
    assert len(communes) == 124
    west, south, east, north = communes.total_bounds
    tiles = list(morecantile.tms.get("WebMercatorQuad").tiles(west, south, east, north, [zoom]))
    if zoom == 11:
        tiles = tiles[::7]  # a sample across the province: the whole set takes minutes
    kinds = set()
    for t in tiles:
        data = mapbox_vector_tile.decode(encode_tile({"communes": communes}, t.z, t.x, t.y))
        kinds |= {f["geometry"]["type"] for f in data.get("communes", {}).get("features", [])}
    assert kinds and kinds <= {"Polygon", "MultiPolygon"}, kinds
