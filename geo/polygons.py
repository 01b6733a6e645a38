"""From alert pixels to alert polygons: connected pixels, minimum mapping unit, area in hectares, attributes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import geopandas as gpd
import numpy as np
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.features import shapes
from scipy import ndimage
from shapely.geometry import MultiPolygon, shape
from shapely.ops import unary_union

from geo.detect import CONFIDENCE_NAMES, HIGH, HIGHEST, from_day_number

EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


def alert_polygons(state: dict[str, np.ndarray], transform: Affine, crs: CRS, *, min_area_ha: float = 0.1,
                   scene_id: Callable[[date], str] | None = None) -> gpd.GeoDataFrame:
    """One polygon per group of 8-connected alert pixels of at least ``min_area_ha``, in the grid CRS.

    The id derives from the group's earliest-flagged pixel (date and grid position), so it stays the same
    when the alert grows and when the same scenes are processed again.
    """
    status = state["status"]
    labels, count = ndimage.label(status > 0, structure=EIGHT_NEIGHBOURS)
    columns = ["id", "confidence", "first_detected", "confirmed", "last_update", "area_ha", "mean_drop",
               "scene_before", "scene_after", "geometry"]
    if count == 0:
        return gpd.GeoDataFrame(columns=columns, geometry="geometry", crs=crs)
    pixel_ha = abs(transform.a * transform.e) / 10000.0
    index = np.arange(1, count + 1)
    npix = ndimage.sum_labels(np.ones_like(status), labels, index)
    keep = index[npix * pixel_ha >= min_area_ha - 1e-9]
    if keep.size == 0:
        return gpd.GeoDataFrame(columns=columns, geometry="geometry", crs=crs)
    labels = np.where(np.isin(labels, keep), labels, 0)

    flag_day = np.where(status > 0, state["flag_day"], np.inf)
    first = ndimage.minimum(flag_day, labels, keep)
    # Seed: the earliest-flagged pixel, ties broken by scan order, so the choice depends on nothing else.
    order = flag_day.astype(np.float64) * status.size + np.arange(status.size).reshape(status.shape)
    seed = ndimage.minimum_position(order, labels, keep)
    confirm = np.where(state["status"] >= HIGH, state["confirm_day"], np.inf)
    confirmed = ndimage.minimum(confirm, labels, keep)
    last = ndimage.maximum(np.maximum(state["flag_day"], state["confirm_day"]), labels, keep)
    n = ndimage.sum_labels(np.ones_like(status), labels, keep)
    n_high = ndimage.sum_labels(status >= HIGH, labels, keep)
    n_highest = ndimage.sum_labels(status == HIGHEST, labels, keep)
    drop = ndimage.mean(state["flag_drop"] / np.maximum(state["flag_hits"], 1), labels, keep)

    geoms: dict[int, list] = {}
    # Rings traced 4-connected stay valid where pixels touch only at a corner; labels already group 8-connected.
    for geom, value in shapes(labels.astype(np.int32), mask=labels > 0, transform=transform, connectivity=4):
        geoms.setdefault(int(value), []).append(shape(geom))

    rows = []
    for k, label in enumerate(keep):
        level = HIGHEST if n_highest[k] * 2 >= n[k] else HIGH if n_high[k] * 2 >= n[k] else 1
        row, col = seed[k]
        x, y = transform @ (col + 0.5, row + 0.5)
        first_day = from_day_number(first[k])
        geom = unary_union(geoms[int(label)])
        before_day = state["before_day"][row, col]
        rows.append({
            "id": f"{first_day:%Y%m%d}-{int(x // 10):06d}-{int(y // 10):07d}",
            "confidence": CONFIDENCE_NAMES[level],
            "first_detected": first_day.isoformat(),
            "confirmed": from_day_number(confirmed[k]).isoformat() if np.isfinite(confirmed[k]) else None,
            "last_update": from_day_number(last[k]).isoformat(),
            "area_ha": float(geom.area) / 10000.0,
            "mean_drop": float(drop[k]),
            "scene_before": scene_id(from_day_number(before_day)) if scene_id and before_day > 0 else None,
            "scene_after": scene_id(first_day) if scene_id else None,
            "geometry": geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom]),
        })
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=crs)


def attach_admin(alerts: gpd.GeoDataFrame, units: gpd.GeoDataFrame, official_crs: CRS) -> gpd.GeoDataFrame:
    """Add the admin unit holding each centroid, and the centroid in WGS 84 and in the official VN-2000 CRS.

    Returns the alerts in EPSG:4326 (the storage CRS); areas must already have been computed.
    """
    out = alerts.copy()
    centroids = out.geometry.centroid  # in the projected grid CRS, where centroids are meaningful
    lonlat = gpd.GeoSeries(centroids, crs=out.crs).to_crs(4326)
    out["centroid_lon"] = lonlat.x.to_numpy()
    out["centroid_lat"] = lonlat.y.to_numpy()
    to_official = Transformer.from_crs(4326, official_crs, always_xy=True)
    vx, vy = to_official.transform(out["centroid_lon"].to_numpy(), out["centroid_lat"].to_numpy())
    out["vn2000_x"], out["vn2000_y"] = vx, vy
    out["vn2000_epsg"] = official_crs.to_epsg()
    points = gpd.GeoDataFrame({"row": np.arange(len(out))}, geometry=lonlat.to_numpy(), crs=4326)
    joined = gpd.sjoin(points, units.to_crs(4326)[["id", "name", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")].sort_index()
    out["district_id"] = joined["id"].to_numpy()
    out["district"] = joined["name"].to_numpy()
    out = out.to_crs(4326)
    out["status"] = "new"
    return out
