"""Afforestation checked from space: for a planting lot, the NDVI of its pixels in every catalogued analysis-ready
scene since its planting date (cloud-masked with SCL; median, quartiles and the green share per observation),
and the lot's status from that trajectory.

Status rules (thresholds here, documented in the README):
- ``established``: the median of the last ``RECENT`` observations' medians is at least ``GREEN_NDVI`` and at
  least half the lot's observed pixels are green (NDVI ≥ ``GREEN_NDVI``) in the last observation;
- ``cleared``: the lot was established at some point, and the recent median has fallen below ``BARE_NDVI``;
- ``establishing``: not established, but the recent median has risen by ``RISE`` or more over the first
  observations after planting;
- ``not_yet_visible``: none of the above, within ``VISIBLE_AFTER_DAYS`` of planting: young acacia, pine or
  eucalyptus seedlings in the Central Highlands cover too little of a 10 m pixel to show for about 18 months
  (canopy closure takes 2–3 years);
- ``failed``: none of the above, ``VISIBLE_AFTER_DAYS`` or more after planting;
- ``no_data``: no clear observation of the lot since planting.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom
from rasterio.windows import Window, from_bounds

from geo.cloudmask import scl_clear_mask
from geo.errors import InvalidInputError, NotFoundError
from geo.indices import ndvi
from geo.scenes import open_scene
from geo.workflow.planting import list_lots

GREEN_NDVI = 0.6          # a 10 m pixel under closed tree canopy
BARE_NDVI = 0.35          # bare soil or sparse grass
RISE = 0.1                # greening that shows a lot is establishing
RECENT = 3                # observations the current state is read from
VISIBLE_AFTER_DAYS = 540  # about 18 months
MIN_CLEAR_SHARE = 0.5     # an observation counts when at least half the lot's pixels are clear
STATUSES = ("established", "establishing", "not_yet_visible", "failed", "cleared", "no_data")
TRAJECTORY_COLUMNS = ["acquired", "pixels", "clear_pixels", "median", "p25", "p75", "green_share"]


def lot_pixels(path: Path, lot_wgs84) -> tuple[np.ndarray, int] | None:
    """The NDVI of the lot's clear pixels in one scene file (pixel centres inside the lot) and the lot's pixel
    count there; None when the scene does not cover the lot."""
    scene = open_scene(Path(path), check=False)
    with rasterio.open(scene.path) as src:
        geom = transform_geom("EPSG:4326", src.crs, lot_wgs84.__geo_interface__)
        xs = [c[0] for ring in _rings(geom) for c in ring]
        ys = [c[1] for ring in _rings(geom) for c in ring]
        near = from_bounds(min(xs), min(ys), max(xs), max(ys), src.transform).round_offsets().round_lengths()
        window = Window(near.col_off - 1, near.row_off - 1, near.width + 2, near.height + 2)  # a pixel of margin
        data = src.read([scene.bands[b] for b in ("B04", "B08", "SCL")], window=window, boundless=True, fill_value=0)
        inside = geometry_mask([geom], out_shape=data.shape[1:], transform=src.window_transform(window), invert=True)
    red, nir, scl = data[0], data[1], data[2].astype(np.uint8)
    observed = inside & (red > 0) & (nir > 0)
    if not observed.any():
        return None
    clear = observed & scl_clear_mask(scl)
    values = ndvi(red[clear] * scene.scale + scene.offset, nir[clear] * scene.scale + scene.offset)
    return values[np.isfinite(values)], int(inside.sum())


def _rings(geom: dict):
    coords = geom["coordinates"]
    polys = coords if geom["type"] == "MultiPolygon" else [coords]
    return [ring for poly in polys for ring in poly]


def trajectory(scenes: list[dict], lot_wgs84, planted: date) -> pd.DataFrame:
    """Per acquisition since ``planted`` (every tile record of it pooled): the lot's pixel count, its clear
    pixels, their NDVI median and quartiles and the green share; observations under ``MIN_CLEAR_SHARE`` clear
    are left out."""
    pooled: dict[str, list] = defaultdict(list)
    days: dict[str, str] = {}
    for rec in scenes:
        if rec.get("status") != "ok" or not rec.get("path") or str(rec["acquired"]) < planted.isoformat():
            continue
        try:
            got = lot_pixels(Path(rec["path"]), lot_wgs84)
        except InvalidInputError:
            continue  # a scene gone from disk or unreadable: the others still tell the story
        if got is not None:
            key = rec.get("acquisition") or rec["id"]
            pooled[key].append(got)
            days[key] = str(rec["acquired"])
    rows = []
    for key, parts in pooled.items():
        values = np.concatenate([v for v, _ in parts])
        pixels = sum(n for _, n in parts)
        if pixels == 0 or len(values) < MIN_CLEAR_SHARE * pixels:
            continue
        p25, median, p75 = np.percentile(values, [25, 50, 75])
        rows.append({"acquired": days[key], "pixels": pixels, "clear_pixels": int(len(values)),
                     "median": float(median), "p25": float(p25), "p75": float(p75),
                     "green_share": float((values >= GREEN_NDVI).mean())})
    return pd.DataFrame(rows, columns=TRAJECTORY_COLUMNS).sort_values("acquired").reset_index(drop=True)


def status(traj: pd.DataFrame, planted: date, as_of: date) -> str:
    """The lot's status from its trajectory (rules in the module docstring)."""
    if not len(traj):
        return "no_data"
    medians = traj["median"].to_numpy()
    recent = float(np.median(medians[-RECENT:]))
    rolling = pd.Series(medians).rolling(RECENT, min_periods=1).median().to_numpy()
    ever_green = bool((rolling >= GREEN_NDVI).any())
    if recent >= GREEN_NDVI and traj["green_share"].iloc[-1] >= 0.5:
        return "established"
    if ever_green and recent < BARE_NDVI:
        return "cleared"
    if recent - float(np.median(medians[:RECENT])) >= RISE:
        return "establishing"
    return "not_yet_visible" if (as_of - planted).days < VISIBLE_AFTER_DAYS else "failed"


def lot_status(scenes: list[dict], lot_wgs84, planted: date, as_of: date, area_ha: float) -> dict:
    """Status, trajectory and the green area of one lot (green share of its last observation × its area)."""
    traj = trajectory(scenes, lot_wgs84, planted)
    green = float(traj["green_share"].iloc[-1]) if len(traj) else 0.0
    return {"status": status(traj, planted, as_of), "green_share": round(green, 4),
            "green_ha": round(green * (area_ha or 0.0), 4), "observations": len(traj),
            "last_observed": traj["acquired"].iloc[-1] if len(traj) else None,
            "trajectory": traj.to_dict("records")}


def lots_growth(store, as_of: date, lot_id: str | None = None, year: int | None = None) -> dict:
    """Every registered lot (or the one ``lot_id``, or those planted in ``year``) with its status from the
    imagery, and the registered area beside the area confirmed from imagery (``established``), by status. Raises
    NotFoundError for an unknown lot."""
    lots = list_lots(store, year)
    if lot_id is not None:
        lots = lots[lots["lot_id"] == lot_id]
        if not len(lots):
            raise NotFoundError(f"no planting lot {lot_id!r}")
    scenes = [s for s in store.scenes("ok") if str(s["acquired"]) <= as_of.isoformat()]  # judged on what was seen
    out, by_status = [], dict.fromkeys(STATUSES, 0.0)
    for lot in lots.itertuples(index=False):
        planted = date.fromisoformat(str(lot.planted)[:10])
        grown = lot_status(scenes, lot.geometry, planted, as_of, float(lot.area_ha or 0))
        if lot_id is None:
            grown.pop("trajectory")
        by_status[grown["status"]] += float(lot.area_ha or 0)
        out.append({"lot_id": lot.lot_id, "planted": str(lot.planted), "programme": lot.programme,
                    "trees": None if pd.isna(lot.trees) else int(lot.trees), "area_ha": lot.area_ha, **grown})
    return {"as_of": as_of.isoformat(), "lots": out,
            "registered_ha": round(float(lots["area_ha"].fillna(0).sum()), 4) if len(lots) else 0.0,
            "confirmed_ha": round(by_status["established"], 4),
            "area_by_status": {k: round(v, 4) for k, v in by_status.items()},
            "rules": {"green_ndvi": GREEN_NDVI, "bare_ndvi": BARE_NDVI, "rise": RISE, "recent": RECENT,
                      "visible_after_days": VISIBLE_AFTER_DAYS}}
