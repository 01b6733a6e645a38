"""The MVT writer (protobuf bytes written with numpy) gives byte for byte what the protobuf library gives for the
same tile: the reference below is the encoder it replaced, one protobuf message per feature and value."""

from __future__ import annotations

import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
import shapely
from mapbox_vector_tile.Mapbox import vector_tile_pb2

from geo.query import FeatureRows
from maps import vectortiles as vt


def _reference_tags(rows: FeatureRows, layer) -> tuple[list[int], list[int]]:
    n, index = len(rows.values), {}
    codes = np.full((n, len(rows.columns)), -1, np.int64)
    for k, (name, column) in enumerate(zip(rows.columns, zip(*rows.values, strict=True), strict=True)):
        layer.keys.append(name)
        values = np.empty(n, dtype=object)
        values[:] = column
        local, uniques = pd.factorize(values)
        to_global = np.empty(len(uniques), np.int64)
        for u, v in enumerate(uniques.tolist()):
            v = vt._plain(v)
            key = (type(v), v)
            if key not in index:
                index[key] = len(index)
                value = layer.values.add()
                if isinstance(v, bool):
                    value.bool_value = v
                elif isinstance(v, int):
                    value.int_value = v
                elif isinstance(v, float):
                    value.double_value = v
                else:
                    value.string_value = v
            to_global[u] = index[key]
        present = local >= 0
        codes[present, k] = to_global[local[present]]
    present = codes >= 0
    keys = np.broadcast_to(np.arange(len(rows.columns)), codes.shape)
    flat = np.stack([keys[present], codes[present]], axis=1).ravel()
    starts = np.concatenate([[0], np.cumsum(2 * present.sum(axis=1))])
    return flat.tolist(), starts.tolist()


def reference_tile(layers: dict, z: int, x: int, y: int, max_features: int = vt.MAX_FEATURES) -> bytes:
    """The encoder before the direct writer: the same geometry work, protobuf messages for the bytes."""
    tile = vector_tile_pb2.tile()
    for name, source in layers.items():
        rows = vt._rows(source)
        rows = FeatureRows(rows.columns, rows.values[:max_features], rows.geometry[:max_features])
        layer = tile.layers.add()
        layer.name, layer.version, layer.extent = name, 2, vt.EXTENT
        if not len(rows.values):
            continue
        geoms = vt.tile_geometries(rows.geometry, z, x, y)
        polygonal = geoms != None  # noqa: E711
        points = vt.tile_points(rows.geometry, z, x, y)
        inside = ((points >= -vt.BUFFER) & (points <= vt.EXTENT + vt.BUFFER)).all(axis=1)
        shown = np.flatnonzero(polygonal | inside)
        if not len(shown):
            continue
        drawn = FeatureRows(rows.columns, [rows.values[i] for i in shown], rows.geometry[shown])
        as_polygon = polygonal[shown]
        commands, bounds = vt.polygon_commands(geoms[shown][as_polygon])
        commands, bounds = commands.tolist(), bounds.tolist()
        tags, tag_bounds = _reference_tags(drawn, layer)
        k = 0
        for i, row in enumerate(shown):
            geometry = None
            if as_polygon[i]:
                if bounds[k] != bounds[k + 1]:
                    geometry = (vector_tile_pb2.tile.Polygon, commands[bounds[k]:bounds[k + 1]])
                k += 1
            if geometry is None:
                if not inside[row]:
                    continue
                px, py = (int(v) for v in points[row])
                geometry = (vector_tile_pb2.tile.Point, [9, (px << 1) ^ (px >> 63), (py << 1) ^ (py >> 63)])
            feature = layer.features.add()
            feature.type = geometry[0]
            feature.tags.extend(tags[tag_bounds[i]:tag_bounds[i + 1]])
            feature.geometry.extend(geometry[1])
    return tile.SerializeToString()


def _rows(n: int, seed: int = 3) -> FeatureRows:
    """``n`` alert-like outlines around a z12 tile near Đà Lạt: large and tiny ones (points at low zooms), some
    crossing the tile's edge, one self-intersecting, with text, integer, float, bool, date-like and missing values."""
    rng = np.random.default_rng(seed)
    cx, cy = rng.uniform(108.38, 108.52, n), rng.uniform(11.88, 12.00, n)
    size = np.exp(rng.uniform(np.log(2e-5), np.log(5e-3), n))
    angles = np.sort(rng.uniform(0, 2 * np.pi, (n, 8)), axis=1)
    ring = np.stack([cx[:, None] + size[:, None] * np.cos(angles), cy[:, None] + size[:, None] * np.sin(angles)], -1)
    geoms = shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))
    geoms[0] = shapely.Polygon([(108.45, 11.93), (108.46, 11.94), (108.46, 11.93), (108.45, 11.94)])  # a bow tie
    geoms[1] = shapely.MultiPolygon([shapely.box(108.40, 11.90, 108.401, 11.901),
                                     shapely.box(108.41, 11.91, 108.42, 11.92)])
    statuses = ["new", "assigned", "confirmed", None]
    values = [(f"2024-{i:07d}", statuses[i % 4], int(i % 5) - 2, float(size[i]), bool(i % 2),
               np.float64(1.5) if i % 3 else float("nan"), np.int64(i), None, f"{i}") for i in range(n)]
    return FeatureRows(("id", "status", "small", "area", "flag", "drop", "version", "case_id", "fid"), values, geoms)


@pytest.mark.parametrize("z,x,y", [(12, 3282, 1911), (9, 410, 238), (14, 13128, 7645), (16, 52514, 30583)])
def test_written_bytes_equal_the_protobuf_library(z, x, y):
    rows = _rows(1500)
    ours = vt.encode_tile({"alerts": rows, "empty": FeatureRows(("fid",), [], np.empty(0, object))}, z, x, y)
    assert ours == reference_tile({"alerts": rows, "empty": FeatureRows(("fid",), [], np.empty(0, object))}, z, x, y)
    decoded = mapbox_vector_tile.decode(ours)
    assert "empty" in decoded


def test_a_self_intersecting_outline_crossing_the_tile_edge_still_encodes():
    bow = shapely.Polygon([(108.40, 11.93), (108.52, 11.99), (108.52, 11.93), (108.40, 11.99)])
    assert not bow.is_valid
    rows = FeatureRows(("id", "fid"), [("a", "a")], np.array([bow], dtype=object))
    features = mapbox_vector_tile.decode(vt.encode_tile({"alerts": rows}, 12, 3282, 1911))["alerts"]["features"]
    assert [f["properties"]["id"] for f in features] == ["a"]
    assert features[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
