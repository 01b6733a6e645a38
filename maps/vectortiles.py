"""Mapbox Vector Tiles (MVT) of feature layers on the WebMercatorQuad grid, encoded with ``mapbox-vector-tile``.

Features are clipped to the tile plus a small buffer, simplified to the tile's resolution at low zooms, and
capped per tile, so a tile's size stays bounded whatever the data holds. (PostGIS does the same with
``ST_AsMVT``; this is the embedded store's path.)
"""

from __future__ import annotations

import math

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import shapely
from mapbox_vector_tile.encoder import on_invalid_geometry_make_valid
from shapely.geometry import box

from geo.errors import NotFoundError

TMS = morecantile.tms.get("WebMercatorQuad")
EXTENT = 4096          # tile coordinate units
BUFFER = 64            # tile units of context around the tile, so strokes don't end at tile edges
MAX_ZOOM = 22
MAX_FEATURES = 5000    # per layer and tile


def tile_bounds(z: int, x: int, y: int) -> tuple[tuple[float, float, float, float], tuple[float, float, float, float]]:
    """(Web Mercator bounds, WGS 84 bounds) of a tile; NotFoundError for a tile outside the grid."""
    if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFoundError(f"tile {z}/{x}/{y} is outside WebMercatorQuad (zoom 0-{MAX_ZOOM}, x and y 0-2^z-1)")
    xy = TMS.xy_bounds(x, y, z)
    ll = TMS.bounds(x, y, z)
    return (xy.left, xy.bottom, xy.right, xy.top), (ll.left, ll.bottom, ll.right, ll.top)


def _properties(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, np.generic):
            v = v.item()
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        out[k] = v if isinstance(v, str | int | float | bool) else str(v)
    return out


POLYGONAL = ("Polygon", "MultiPolygon")


def encode_tile(layers: dict[str, gpd.GeoDataFrame], z: int, x: int, y: int,
                max_features: int = MAX_FEATURES) -> bytes:
    """One MVT tile holding each named layer (frames in any CRS, with a ``fid`` column)."""
    merc, _ = tile_bounds(z, x, y)
    size = merc[2] - merc[0]
    pad = size * BUFFER / EXTENT
    clip = box(merc[0] - pad, merc[1] - pad, merc[2] + pad, merc[3] + pad)
    tolerance = size / EXTENT if z < 14 else 0.0  # one tile unit: invisible, but fewer vertices at low zooms
    encoded = []
    for name, gdf in layers.items():
        features = []
        if len(gdf):
            gdf = gdf.iloc[:max_features].to_crs(3857)
            geoms = shapely.intersection(gdf.geometry.values, clip)
            if tolerance:
                geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
            # Quantise to integer tile coordinates (y down) in one vectorised step; the encoder's own
            # quantisation works point by point in Python and dominated the tile time.
            geoms = shapely.transform(geoms, lambda xy: np.column_stack(
                [(xy[:, 0] - merc[0]) / size * EXTENT, (merc[3] - xy[:, 1]) / size * EXTENT]).round())
            # MVT wants exterior rings of positive (shoelace) area in tile coordinates: orient them here,
            # vectorised, instead of ring by ring in the encoder.
            geoms = shapely.make_valid(geoms)
            # Repairing a clipped, quantised ring may leave a collection of a polygon and a stray line: keep the
            # polygonal parts (the encoder refuses collections).
            mixed = shapely.get_type_id(geoms) == 7
            if mixed.any():
                geoms[mixed] = [shapely.union_all([p for p in shapely.get_parts(g) if p.geom_type in POLYGONAL])
                                for g in geoms[mixed]]
            geoms = shapely.orient_polygons(geoms, exterior_cw=False)
            props = gdf.drop(columns=gdf.geometry.name).to_dict("records")
            for geom, row in zip(geoms, props, strict=True):
                if geom is None or geom.is_empty:
                    continue
                features.append({"geometry": geom, "properties": _properties(row)})
        encoded.append({"name": name, "features": features})
    return mapbox_vector_tile.encode(encoded, default_options={
        "extents": EXTENT, "y_coord_down": True, "check_winding_order": False,
        "on_invalid_geometry": on_invalid_geometry_make_valid})
