"""Mapbox Vector Tiles (MVT) of feature layers on the WebMercatorQuad grid: the embedded store's path (PostGIS
makes its own with ``ST_AsMVT``).

Features are clipped to the tile plus a small buffer, simplified to the tile's resolution at low zooms, and
capped per tile, so a tile's size stays bounded whatever the data holds. Geometry work is vectorised over the
whole layer with shapely 2 and numpy: projection to tile units, clipping, quantising, validity and ring
orientation, and the MVT geometry commands themselves (move-to, line-to, close-path with zigzag deltas, as
``ST_AsMVT`` writes them). The protobuf bytes are written with numpy too, exactly as the protobuf schema that
``mapbox-vector-tile`` ships would serialise them (its per-feature Python encoder cost ~40 ms for a z12 tile of
1,000 alerts).
"""

from __future__ import annotations

import struct

import geopandas as gpd
import morecantile
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.errors import NotFoundError
from geo.query import FeatureRows

TMS = morecantile.tms.get("WebMercatorQuad")
EXTENT = 4096          # tile coordinate units
BUFFER = 64            # tile units of context around the tile, so strokes don't end at tile edges
MAX_ZOOM = 22
MAX_FEATURES = 5000    # per layer and tile
_TO_MERCATOR = Transformer.from_crs(4326, 3857, always_xy=True)
_MOVE_TO, _LINE_TO, _CLOSE_PATH = 1, 2, 7
_POINT, _POLYGON = 1, 3  # vector_tile.proto's GeomType


def tile_bounds(z: int, x: int, y: int) -> tuple[tuple[float, float, float, float], tuple[float, float, float, float]]:
    """(Web Mercator bounds, WGS 84 bounds) of a tile; NotFoundError for a tile outside the grid."""
    if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFoundError(f"tile {z}/{x}/{y} is outside WebMercatorQuad (zoom 0-{MAX_ZOOM}, x and y 0-2^z-1)")
    xy = TMS.xy_bounds(x, y, z)
    ll = TMS.bounds(x, y, z)
    return (xy.left, xy.bottom, xy.right, xy.top), (ll.left, ll.bottom, ll.right, ll.top)


def _rows(layer: gpd.GeoDataFrame | FeatureRows) -> FeatureRows:
    """A frame (any CRS) as plain rows in EPSG:4326."""
    if isinstance(layer, FeatureRows):
        return layer
    if layer.crs is not None and layer.crs.to_epsg() != 4326:
        layer = layer.to_crs(4326)
    columns = [c for c in layer.columns if c != layer.geometry.name]
    values = list(layer[columns].astype(object).itertuples(index=False, name=None))
    return FeatureRows(tuple(columns), values, np.asarray(layer.geometry.values, dtype=object))


def tile_points(lonlat: np.ndarray, z: int, x: int, y: int) -> np.ndarray:
    """A point inside each geometry (EPSG:4326), in integer tile units (y down): where a feature too small to draw
    as a polygon at this zoom is drawn."""
    merc, _ = tile_bounds(z, x, y)
    size = merc[2] - merc[0]
    inner = shapely.get_coordinates(shapely.point_on_surface(lonlat))
    mx, my = _TO_MERCATOR.transform(inner[:, 0], inner[:, 1])
    return np.column_stack([(mx - merc[0]) / size * EXTENT, (merc[3] - my) / size * EXTENT]).round().astype(np.int64)


def tile_geometries(lonlat: np.ndarray, z: int, x: int, y: int) -> np.ndarray:
    """Geometries in EPSG:4326 as polygons in integer tile units (y down), clipped to the tile and its buffer,
    simplified to one unit below zoom 14, valid, exterior rings counter-clockwise in tile units (MVT's
    positive area); None where nothing polygonal is left."""
    merc, _ = tile_bounds(z, x, y)
    size = merc[2] - merc[0]

    def to_tile(xy: np.ndarray) -> np.ndarray:
        mx, my = _TO_MERCATOR.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([(mx - merc[0]) / size * EXTENT, (merc[3] - my) / size * EXTENT])

    geoms = shapely.transform(lonlat, to_tile)
    low, high = -BUFFER, EXTENT + BUFFER
    bounds = shapely.bounds(geoms)
    outside = (bounds[:, :2] < low).any(axis=1) | (bounds[:, 2:] > high).any(axis=1)
    crossing = np.flatnonzero(outside)
    broken = crossing[~shapely.is_valid(geoms[crossing])]  # GEOS cannot clip an invalid outline: repair it first
    geoms[broken] = shapely.make_valid(geoms[broken])
    geoms[crossing] = shapely.intersection(geoms[crossing], shapely.box(low, low, high, high))
    if z < 14:  # one tile unit: invisible, but fewer vertices at low zooms
        geoms = shapely.simplify(geoms, 1.0, preserve_topology=False)
    geoms = shapely.transform(geoms, np.round)
    invalid = ~shapely.is_valid(geoms)
    geoms[invalid] = shapely.make_valid(geoms[invalid])
    # Tile units have y down, so counter-clockwise there is what shapely calls clockwise.
    geoms = shapely.orient_polygons(geoms, exterior_cw=False)
    kinds = shapely.get_type_id(geoms)
    out = np.full(len(geoms), None, dtype=object)
    polygonal = (kinds == 3) | (kinds == 6)
    polygonal &= ~shapely.is_empty(geoms)
    out[polygonal] = geoms[polygonal]
    for i in np.flatnonzero(kinds == 7):  # make_valid left a collection: keep its polygons
        parts = [g for g in shapely.get_parts(geoms[i]) if shapely.get_type_id(g) in (3, 6) and not g.is_empty]
        if parts:
            out[i] = shapely.multipolygons(shapely.get_parts(parts))
    return out


def _zigzag(v: np.ndarray) -> np.ndarray:
    return (v << 1) ^ (v >> 63)


def polygon_commands(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MVT geometry commands of polygons in integer tile units, all features at once: the flat command array
    and each feature's [start, end) in it (empty for a feature left with no ring). Closing points and repeated
    points are dropped; rings of fewer than 3 distinct points are dropped, and with an exterior its holes."""
    n = len(geoms)
    if n == 0:
        return np.zeros(0, np.uint32), np.zeros(1, np.int64)
    kind, coords, offsets = shapely.to_ragged_array(geoms)
    if kind == shapely.GeometryType.POLYGON:
        ring_off, poly_off = offsets
        geom_off = np.arange(n + 1)
    else:
        ring_off, poly_off, geom_off = offsets
    xy = coords.astype(np.int64)
    n_rings = len(ring_off) - 1
    ring_of_point = np.repeat(np.arange(n_rings), np.diff(ring_off))
    keep = np.ones(len(xy), bool)
    keep[ring_off[1:][np.diff(ring_off) > 0] - 1] = False  # the closing point repeats the first
    same = np.zeros(len(xy), bool)
    same[1:] = (xy[1:] == xy[:-1]).all(axis=1) & (ring_of_point[1:] == ring_of_point[:-1])
    keep &= ~same
    points_per_ring = np.bincount(ring_of_point[keep], minlength=n_rings)
    ring_ok = points_per_ring >= 3
    poly_of_ring = np.repeat(np.arange(len(poly_off) - 1), np.diff(poly_off))
    exterior_ok = np.zeros(len(poly_off) - 1, bool)
    has_rings = np.diff(poly_off) > 0
    exterior_ok[has_rings] = ring_ok[poly_off[:-1][has_rings]]
    ring_ok &= exterior_ok[poly_of_ring]
    keep &= ring_ok[ring_of_point]

    geom_of_ring = np.repeat(np.arange(n), np.diff(geom_off))[poly_of_ring]
    rings = np.flatnonzero(ring_ok)
    npts = points_per_ring[rings]
    ring_len = 2 * npts + 3                       # MoveTo x y, LineTo(n-1) 2(n-1) values, ClosePath
    ring_start = np.concatenate([[0], np.cumsum(ring_len)[:-1]])
    out = np.empty(int(ring_len.sum()), np.int64)
    out[ring_start] = (1 << 3) | _MOVE_TO
    out[ring_start + 3] = ((npts - 1) << 3) | _LINE_TO
    out[ring_start + ring_len - 1] = (1 << 3) | _CLOSE_PATH

    pts = xy[keep]
    point_ring = ring_of_point[keep]               # rings in order, as `rings`
    ring_rank = np.searchsorted(rings, point_ring)
    first_in_ring = np.concatenate([[0], np.cumsum(npts)[:-1]])
    k = np.arange(len(pts)) - first_in_ring[ring_rank]
    point_geom = geom_of_ring[point_ring]
    delta = np.diff(pts, axis=0, prepend=np.zeros((1, 2), np.int64))
    new_feature = np.ones(len(pts), bool)
    new_feature[1:] = point_geom[1:] != point_geom[:-1]
    delta[new_feature] = pts[new_feature]           # each feature's cursor starts at (0, 0)
    pos = ring_start[ring_rank] + np.where(k == 0, 1, 2 * k + 2)
    out[pos] = _zigzag(delta[:, 0])
    out[pos + 1] = _zigzag(delta[:, 1])
    per_geom = np.bincount(geom_of_ring[rings], weights=ring_len, minlength=n).astype(np.int64)
    return out, np.concatenate([[0], np.cumsum(per_geom)])


def _plain(v) -> str | int | float | bool:
    """A property value as MVT holds it: numpy scalars as Python ones, other types as their text."""
    if isinstance(v, np.generic):
        v = v.item()
    return v if isinstance(v, str | int | float | bool) else str(v)


# -- protobuf, written directly -------------------------------------------------------------------------------
# The tile is written byte by byte as protobuf would serialise vector_tile.proto (fields in number order, packed
# varints), with no protobuf message per feature and per value. Under cProfile those messages looked like a third
# of a z12 tile; without the profiler the gain is small (within the noise of this shared machine), so this is
# kept for the per-feature Python it removes, not for a measured speed-up. tests/unit/test_vectortiles_bytes.py
# proves the bytes identical to the protobuf library's.

def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Protobuf varints of int64 values (negatives as 10-byte two's complement, as int64 fields are): all
    bytes in one uint8 array, and each value's byte count."""
    v = np.asarray(values, dtype=np.int64).astype(np.uint64)
    counts = np.ones(len(v), np.int64)
    for k in range(1, 10):
        counts += v >= np.uint64(1 << (7 * k))
    which = np.repeat(np.arange(len(v)), counts)
    k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    out = (v[which] >> (7 * k).astype(np.uint64)) & np.uint64(0x7F)
    out |= (k < counts[which] - 1).astype(np.uint64) << np.uint64(7)
    return out.astype(np.uint8), counts


def _group_sums(lengths: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Sum of ``lengths`` over each group [bounds[i], bounds[i + 1])."""
    total = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    return total[bounds[1:]] - total[bounds[:-1]]


def _interleave(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Items made of parts: ``parts`` are (stream, per-item lengths) with each item's piece following the last
    one in its stream; the result is every item's pieces in part order, items one after another, and each
    item's length."""
    lengths = np.stack([n for _, n in parts]).astype(np.int64)
    per_item = lengths.sum(axis=0)
    item_start = np.cumsum(per_item) - per_item
    out = np.empty(int(per_item.sum()), dtype=parts[0][0].dtype)
    offset = np.zeros(len(per_item), np.int64)
    for (stream, _), row in zip(parts, lengths, strict=True):
        if len(stream):
            src_start = np.cumsum(row) - row
            out[np.repeat(item_start + offset - src_start, row) + np.arange(len(stream))] = stream
        offset += row
    return out, per_item


def _field(tag: int, payload: np.ndarray, lengths: np.ndarray, omit_empty: bool = True) -> list:
    """Parts of a length-delimited field per item: its key byte, the length varint, the payload (no field at all
    for an empty payload when ``omit_empty``, as for packed repeated fields)."""
    present = (lengths > 0) if omit_empty else np.ones(len(lengths), bool)
    size, size_n = _varints(lengths[present])
    size_lengths = np.zeros(len(lengths), np.int64)
    size_lengths[present] = size_n
    return [(np.full(int(present.sum()), tag, np.uint8), present.astype(np.int64)), (size, size_lengths),
            (payload, lengths)]


def _varint(v: int) -> bytes:
    """One protobuf varint (a negative int64 as its 10-byte two's complement)."""
    v &= (1 << 64) - 1
    out = bytearray()
    while v > 0x7F:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _bytes_field(tag: int, data: bytes) -> bytes:
    return bytes([tag]) + _varint(len(data)) + data


def _value(v: str | int | float | bool) -> bytes:
    """One Value message, as a length-delimited entry of the layer's values (field 4)."""
    if isinstance(v, bool):
        body = bytes([0x38, int(v)])
    elif isinstance(v, int):
        body = b"\x20" + _varint(v)
    elif isinstance(v, float):
        body = b"\x19" + struct.pack("<d", v)
    else:
        encoded = v.encode()
        if len(encoded) < 126:  # the usual short text: one-byte lengths
            return b"\x22" + bytes((len(encoded) + 2, 0x0A, len(encoded))) + encoded
        body = _bytes_field(0x0A, encoded)
    return _bytes_field(0x22, body)


def _property_tags(rows: FeatureRows) -> tuple[np.ndarray, np.ndarray, list[str], list[bytes]]:
    """All features' tags (key index, value index pairs) as one flat array and each feature's bounds in it, the
    layer's keys and its values (encoded), one column at a time, each distinct value once (by type and value,
    in order of first appearance). Missing values (None, NaN) are left out."""
    n, index, values = len(rows.values), {}, []
    codes = np.full((n, len(rows.columns)), -1, np.int64)
    for k, column in enumerate(zip(*rows.values, strict=True)):
        if column.count(None) == n:  # a column no feature fills (review fields of new alerts): no tags
            continue
        column_values = np.empty(n, dtype=object)
        column_values[:] = column
        local, uniques = pd.factorize(column_values)
        uniques = uniques.tolist()
        if all(type(v) is str for v in uniques):  # the common case: text, no conversion
            plain = uniques
            keys = [(str, v) for v in uniques]
        else:
            plain = [_plain(v) for v in uniques]
            keys = [(type(v), v) for v in plain]
        first_new = len(index)
        # setdefault gives a known value its index, a new one the next (len(index) is read before it inserts)
        to_global = np.array([index.setdefault(key, len(index)) for key in keys], np.int64)
        values += [_value(plain[u]) for u in np.flatnonzero(to_global >= first_new).tolist()]
        present = local >= 0
        codes[present, k] = to_global[local[present]]
    present = codes >= 0
    keys = np.broadcast_to(np.arange(len(rows.columns)), codes.shape)
    flat = np.stack([keys[present], codes[present]], axis=1).ravel()
    bounds = np.concatenate([[0], np.cumsum(2 * present.sum(axis=1))])
    return flat, bounds, list(rows.columns), values


def _layer(name: str, rows: FeatureRows, z: int, x: int, y: int) -> bytes:
    """One layer message: its features (polygons, or points for those too small to draw), keys and values."""
    head = _bytes_field(0x0A, name.encode())
    tail = bytes([0x28]) + _varint(EXTENT) + bytes([0x78, 2])  # extent, version 2
    if not len(rows.values):
        return head + tail
    geoms = tile_geometries(rows.geometry, z, x, y)
    polygonal = geoms != None  # noqa: E711 - elementwise over an object array
    # A polygon too small to draw at this zoom stays on the map as a point inside it (as PostGIS's tiles do):
    # the point of each feature left without a polygon, worked out for those alone.
    points = np.zeros((len(geoms), 2), np.int64)
    inside = np.zeros(len(geoms), bool)

    def place(which: np.ndarray) -> None:
        if len(which):
            points[which] = tile_points(rows.geometry[which], z, x, y)
            inside[which] = ((points[which] >= -BUFFER) & (points[which] <= EXTENT + BUFFER)).all(axis=1)

    place(np.flatnonzero(~polygonal))
    shown = np.flatnonzero(polygonal | inside)
    if not len(shown):  # every feature clipped away
        return head + tail
    drawn = FeatureRows(rows.columns, [rows.values[i] for i in shown], rows.geometry[shown])
    as_polygon = polygonal[shown]
    commands, bounds = polygon_commands(geoms[shown][as_polygon])
    poly_len = np.zeros(len(shown), np.int64)
    poly_len[as_polygon] = np.diff(bounds)
    place(shown[as_polygon & (poly_len == 0)])  # every ring dropped: a point after all
    as_point = (poly_len == 0) & inside[shown]
    kept = (poly_len > 0) | as_point
    tags, tag_bounds, keys, values = _property_tags(drawn)

    # the features kept, in order: tags, type, geometry (a polygon's commands, or MoveTo one point)
    tag_len = np.diff(tag_bounds)[kept]
    tag_keep = np.repeat(kept, np.diff(tag_bounds))
    pts = points[shown][as_point]
    point_cmds = np.column_stack([np.full(len(pts), 9, np.int64), _zigzag(pts[:, 0]), _zigzag(pts[:, 1])]).ravel()
    geometry, geom_len = _interleave([(commands, poly_len[kept]),
                                      (point_cmds, 3 * as_point[kept].astype(np.int64))])
    tag_bytes, tag_n = _varints(tags[tag_keep])
    geom_bytes, geom_n = _varints(geometry)
    feature_tag_bounds = np.concatenate([[0], np.cumsum(tag_len)])
    feature_geom_bounds = np.concatenate([[0], np.cumsum(geom_len)])
    n = int(kept.sum())
    kind = np.where(as_point[kept], _POINT, _POLYGON).astype(np.uint8)
    feature, feature_len = _interleave([
        *_field(0x12, tag_bytes, _group_sums(tag_n, feature_tag_bounds)),
        (np.full(n, 0x18, np.uint8), np.ones(n, np.int64)), (kind, np.ones(n, np.int64)),
        *_field(0x22, geom_bytes, _group_sums(geom_n, feature_geom_bounds))])
    features, _ = _interleave(_field(0x12, feature, feature_len, omit_empty=False))
    return (head + features.tobytes() + b"".join(_bytes_field(0x1A, k.encode()) for k in keys)
            + b"".join(values) + tail)


def encode_tile(layers: dict[str, gpd.GeoDataFrame | FeatureRows], z: int, x: int, y: int,
                max_features: int = MAX_FEATURES) -> bytes:
    """One MVT tile holding each named layer of polygons (frames in any CRS or rows in EPSG:4326, each with a
    ``fid`` column), at most ``max_features`` per layer."""
    out = []
    for name, source in layers.items():
        rows = _rows(source)
        rows = FeatureRows(rows.columns, rows.values[:max_features], rows.geometry[:max_features])
        out.append(_bytes_field(0x1A, _layer(name, rows, z, x, y)))
    return b"".join(out)
