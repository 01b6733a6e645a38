"""From alert pixels to alert polygons: connected pixels, minimum mapping unit, area in hectares, attributes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import geopandas as gpd
import numpy as np
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.features import shapes
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import MultiPolygon, shape
from shapely.ops import unary_union

from geo.detect.model import CONFIDENCE_NAMES, HIGH, HIGHEST, from_day_number

# Attributes each alert pixel carries from the detector state into polygon building.
PIXEL_FIELDS = ("status", "flag_day", "confirm_day", "flag_drop", "flag_hits", "before_day")
GROWTH_DAYS = 30
MIN_AREA_HA = 0.1  # minimum mapping unit: smaller groups of alert pixels make no alert
COLUMNS = ["id", "confidence", "first_detected", "confirmed", "last_update", "area_ha", "mean_drop",
           "scene_before", "scene_after", "forest_category", "geometry"]


def alert_pixels(state: dict[str, np.ndarray], row_off: int = 0, col_off: int = 0,
                 forest: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The alert pixels of one state window as flat arrays (global row/col plus their PIXEL_FIELDS).

    Only alert pixels are kept, so memory follows the alerted area, not the monitored one.
    """
    rows, cols = np.nonzero(state["status"] > 0)
    out = {name: state[name][rows, cols] for name in PIXEL_FIELDS}
    out["row"], out["col"] = rows.astype(np.int64) + row_off, cols.astype(np.int64) + col_off
    out["forest"] = forest[rows, cols].astype(np.int16) if forest is not None else np.zeros(rows.size, np.int16)
    return out


def flag_pixels(flags, width: int, row_off: int = 0, col_off: int = 0,
                forest: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``alert_pixels`` from a window's flag records (``geo.detect.WindowFlags``: the pixels in alert only)."""
    keep = flags.rec["status"] > 0
    pix, rec = flags.pix[keep], flags.rec[keep]
    rows, cols = pix // width, pix % width
    out = {name: rec[name] for name in PIXEL_FIELDS}
    out["row"], out["col"] = rows.astype(np.int64) + row_off, cols.astype(np.int64) + col_off
    out["forest"] = forest[rows, cols].astype(np.int16) if forest is not None else np.zeros(rows.size, np.int16)
    return out


def concat_pixels(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = (*PIXEL_FIELDS, "row", "col", "forest")
    if not parts:
        return {k: np.zeros(0) for k in keys}
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _components(row: np.ndarray, col: np.ndarray, day: np.ndarray, growth_days: int) -> np.ndarray:
    """Group 8-neighbouring pixels flagged within ``growth_days`` of each other (a clearing growing week by
    week stays one alert; a new clearing beside an old alert becomes its own)."""
    n = row.size
    width = int(col.max()) + 3
    key = row * width + col + 1
    order = np.argsort(key)
    skey = key[order]
    src, dst = [], []
    for dr, dc in ((0, 1), (1, -1), (1, 0), (1, 1)):
        target = key + dr * width + dc
        pos = np.clip(np.searchsorted(skey, target), 0, n - 1)
        found = skey[pos] == target
        a = np.flatnonzero(found)
        b = order[pos[found]]
        close = np.abs(day[a] - day[b]) <= growth_days
        src.append(a[close])
        dst.append(b[close])
    src, dst = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def alert_polygons(state: dict[str, np.ndarray] | None, transform: Affine, crs: CRS, *,
                   min_area_ha: float = MIN_AREA_HA, scene_id: Callable[[date], str] | None = None,
                   pixels: dict[str, np.ndarray] | None = None,
                   growth_days: int = GROWTH_DAYS, categories: dict[int, str] | None = None) -> gpd.GeoDataFrame:
    """One polygon per group of alert pixels (see ``_components``) of at least ``min_area_ha``, in the grid CRS.

    Give either a whole ``state`` or the sparse ``pixels`` gathered window by window with ``alert_pixels``.
    The id derives from the group's earliest-flagged pixel (date and grid position, ties broken by scan
    order), so it stays the same when the alert grows and when the same scenes are processed again.
    """
    px = pixels if pixels is not None else alert_pixels(state)
    n = px["row"].size
    if n == 0:
        return gpd.GeoDataFrame(columns=COLUMNS, geometry="geometry", crs=crs)
    label = _components(px["row"], px["col"], px["flag_day"].astype(np.int64), growth_days)
    count = np.bincount(label)
    pixel_ha = abs(transform.a * transform.e) / 10000.0
    keep = np.flatnonzero(count * pixel_ha >= min_area_ha - 1e-9)
    mmu_px = max(1, int(np.ceil(min_area_ha / pixel_ha - 1e-9)))

    status = px["status"]
    first = np.full(count.size, np.inf)
    np.minimum.at(first, label, px["flag_day"])
    confirm = np.full(count.size, np.inf)
    np.minimum.at(confirm, label, np.where(status >= HIGH, px["confirm_day"], np.inf))
    last = np.zeros(count.size)
    np.maximum.at(last, label, np.maximum(px["flag_day"], px["confirm_day"]))
    n_high = np.bincount(label, status >= HIGH, count.size)
    n_highest = np.bincount(label, status == HIGHEST, count.size)
    drop = np.bincount(label, px["flag_drop"] / np.maximum(px["flag_hits"], 1), count.size) / count
    # Seed pixel: earliest flag, then scan order (row, col).
    seed_order = np.lexsort((px["col"], px["row"], px["flag_day"], label))
    seed_of = np.full(count.size, -1)
    seed_of[label[seed_order[::-1]]] = seed_order[::-1]
    members = np.argsort(label, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(count)])

    rows = []
    for k in keep:
        idx = members[bounds[k]: bounds[k + 1]]
        geom = _outline(px["row"][idx], px["col"][idx], transform)
        # The highest level held by a minimum mapping unit's worth of pixels (or half the alert, if less):
        # a confirmed clearing of mappable size inside a growing alert makes the alert confirmed.
        enough = min(mmu_px, count[k] / 2)
        level = HIGHEST if n_highest[k] >= enough else HIGH if n_high[k] >= enough else 1
        seed = seed_of[k]
        x, y = transform @ (px["col"][seed] + 0.5, px["row"][seed] + 0.5)
        first_day = from_day_number(first[k])
        before_day = px["before_day"][seed]
        category = int(np.bincount(px["forest"][idx]).argmax()) if px["forest"][idx].any() else 0
        rows.append({
            "id": f"{first_day:%Y%m%d}-{int(x // 10):06d}-{int(y // 10):07d}",
            "confidence": CONFIDENCE_NAMES[level],
            "first_detected": first_day.isoformat(),
            "confirmed": from_day_number(confirm[k]).isoformat() if level >= HIGH else None,
            "last_update": from_day_number(last[k]).isoformat(),
            "area_ha": float(geom.area) / 10000.0,
            "mean_drop": float(drop[k]),
            "scene_before": scene_id(from_day_number(before_day)) if scene_id and before_day > 0 else None,
            "scene_after": scene_id(first_day) if scene_id else None,
            "forest_category": (categories or {}).get(category) if category else None,
            "geometry": geom,
        })
    return gpd.GeoDataFrame(rows, columns=COLUMNS, geometry="geometry", crs=crs)


def _outline(rows: np.ndarray, cols: np.ndarray, transform: Affine) -> MultiPolygon:
    """The outline of a set of pixels, traced on a raster of just their bounding box."""
    r0, c0 = rows.min(), cols.min()
    mask = np.zeros((rows.max() - r0 + 1, cols.max() - c0 + 1), dtype=np.uint8)
    mask[rows - r0, cols - c0] = 1
    local = transform @ Affine.translation(c0, r0)
    # Rings traced 4-connected stay valid where pixels touch only at a corner.
    parts = [shape(g) for g, v in shapes(mask, mask=mask > 0, transform=local, connectivity=4) if v]
    geom = unary_union(parts)
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def attach_admin(alerts: gpd.GeoDataFrame, units: gpd.GeoDataFrame, official_crs: CRS,
                 province: gpd.GeoDataFrame | None = None, alternate_crs: CRS | None = None) -> gpd.GeoDataFrame:
    """Add the admin unit holding each centroid, and the centroid in WGS 84 and in the official VN-2000 CRS.

    VN-2000 zones go by location: ``official_crs`` inside ``province`` (the former Lâm Đồng, TM-3 107°45'),
    ``alternate_crs`` outside it (the merged former Đắk Nông and Bình Thuận, TM-3 108°30'). Returns the
    alerts in EPSG:4326 (the storage CRS); areas must already have been computed.
    """
    out = alerts.copy()
    centroids = out.geometry.centroid  # in the projected grid CRS, where centroids are meaningful
    lonlat = gpd.GeoSeries(centroids, crs=out.crs).to_crs(4326)
    out["centroid_lon"] = lonlat.x.to_numpy()
    out["centroid_lat"] = lonlat.y.to_numpy()
    inside = np.ones(len(out), dtype=bool)
    if province is not None and alternate_crs is not None and len(out):
        inside = lonlat.within(province.to_crs(4326).union_all()).to_numpy()
    vx, vy = np.full(len(out), np.nan), np.full(len(out), np.nan)
    epsg = np.full(len(out), official_crs.to_epsg())
    for crs, where in ((official_crs, inside), (alternate_crs, ~inside)):
        if crs is None or not where.any():
            continue
        to_vn2000 = Transformer.from_crs(4326, crs, always_xy=True)
        vx[where], vy[where] = to_vn2000.transform(out["centroid_lon"].to_numpy()[where],
                                                   out["centroid_lat"].to_numpy()[where])
        epsg[where] = crs.to_epsg()
    out["vn2000_x"], out["vn2000_y"], out["vn2000_epsg"] = vx, vy, epsg
    points = gpd.GeoDataFrame({"row": np.arange(len(out))}, geometry=lonlat.to_numpy(), crs=4326)
    joined = gpd.sjoin(points, units.to_crs(4326)[["id", "name", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")].sort_index()
    out["district_id"] = joined["id"].to_numpy()
    out["district"] = joined["name"].to_numpy()
    out = out.to_crs(4326)
    out["status"] = "new"
    return out
