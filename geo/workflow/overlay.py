"""Alerts over planning zones: which zones each alert falls in (ha and share), forest loss where the plan keeps
forest vs where it approves conversion, and per-zone statistics by month. Areas in a projected CRS (UTM 48N).
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import NotFoundError
from geo.query import Query
from geo.workflow.planning import layers_valid_on, query_zones

OVERLAP_COLUMNS = ["alert_id", "first_detected", "confidence", "status", "alert_ha", "layer_id", "feature_index",
                   "zone_type", "zone_class", "overlap_ha", "share"]


def alert_zone_overlaps(alerts: gpd.GeoDataFrame, zones: gpd.GeoDataFrame,
                        area_crs: str = "EPSG:32648") -> pd.DataFrame:
    """One row per (alert, zone) that overlap by a positive area: the overlap in ha and its share of the alert.

    Candidate pairs come from the spatial index; intersections are computed vectorised in ``area_crs``.
    """
    if len(alerts) == 0 or len(zones) == 0:
        return pd.DataFrame(columns=OVERLAP_COLUMNS)
    a = alerts.to_crs(area_crs).reset_index(drop=True)
    z = zones.to_crs(area_crs).reset_index(drop=True)
    ai, zi = z.sindex.query(a.geometry.values, predicate="intersects")
    if len(ai) == 0:
        return pd.DataFrame(columns=OVERLAP_COLUMNS)
    overlap = shapely.area(shapely.intersection(a.geometry.values[ai], z.geometry.values[zi])) / 10000.0
    alert_ha = shapely.area(a.geometry.values[ai]) / 10000.0
    out = pd.DataFrame({
        "alert_id": a["id"].values[ai], "first_detected": a["first_detected"].values[ai],
        "confidence": a["confidence"].values[ai], "status": a["status"].values[ai] if "status" in a else None,
        "alert_ha": alert_ha, "layer_id": z["layer_id"].values[zi], "feature_index": z["feature_index"].values[zi],
        "zone_type": z["zone_type"].values[zi], "zone_class": z["zone_class"].values[zi], "overlap_ha": overlap,
        "share": np.where(alert_ha > 0, overlap / np.where(alert_ha > 0, alert_ha, 1), 0.0),
    })
    out = out[out["overlap_ha"] > 1e-9]
    return out.sort_values(["alert_id", "layer_id", "feature_index"]).reset_index(drop=True)[OVERLAP_COLUMNS]


def loss_by_class(alerts: gpd.GeoDataFrame, overlaps: pd.DataFrame, layer_ids: list[str],
                  area_crs: str = "EPSG:32648") -> pd.DataFrame:
    """Per layer: alerts and hectares of loss inside keep-forest zones, conversion zones, other zones, and
    outside every zone of the layer (the alert area not covered by any of its zones)."""
    total_ha = float(shapely.area(alerts.to_crs(area_crs).geometry.values).sum() / 10000.0) if len(alerts) else 0.0
    rows = []
    for lid in layer_ids:
        mine = overlaps[overlaps["layer_id"] == lid]
        for cls in ("keep_forest", "conversion", "other"):
            part = mine[mine["zone_class"] == cls]
            rows.append({"layer_id": lid, "zone_class": cls, "alerts": int(part["alert_id"].nunique()),
                         "ha": float(part["overlap_ha"].sum())})
        inside = float(mine["overlap_ha"].sum())
        touched = set(mine["alert_id"])
        untouched = int(sum(1 for i in alerts["id"] if i not in touched)) if len(alerts) else 0
        partly = int((mine.groupby("alert_id")["share"].sum() < 1 - 1e-6).sum()) if len(mine) else 0
        rows.append({"layer_id": lid, "zone_class": "outside", "alerts": untouched + partly,
                     "ha": max(total_ha - inside, 0.0)})
    return pd.DataFrame(rows, columns=["layer_id", "zone_class", "alerts", "ha"])


def zone_stats_by_month(overlaps: pd.DataFrame) -> pd.DataFrame:
    """Per zone and month of first detection: number of alerts touching it and hectares of loss inside it."""
    columns = ["layer_id", "feature_index", "zone_type", "zone_class", "month", "alerts", "ha"]
    if len(overlaps) == 0:
        return pd.DataFrame(columns=columns)
    df = overlaps.assign(month=overlaps["first_detected"].astype(str).str[:7],
                         zone_type=overlaps["zone_type"].fillna(""))
    out = (df.groupby(["layer_id", "feature_index", "zone_type", "zone_class", "month"], as_index=False)
           .agg(alerts=("alert_id", "nunique"), ha=("overlap_ha", "sum")))
    return out.sort_values(["layer_id", "feature_index", "month"]).reset_index(drop=True)[columns]


def overlay_report(store, *, on=None, names: list[str] | None = None, start=None, end=None,
                   area_crs: str = "EPSG:32648") -> dict[str, pd.DataFrame | list[dict]]:
    """Alerts (first detected between ``start`` and ``end``) over the planning layers valid on ``on`` (default:
    the newest version of each layer; ``names`` picks layers by name). Returns the layers used, the per-alert
    overlaps, loss by zone class per layer, and per-zone statistics by month."""
    layers = layers_valid_on(store.planning_layers(), on)
    if names:
        unknown = sorted(set(names) - {rec["name"] for rec in layers})
        if unknown:
            known = ", ".join(sorted({rec["name"] for rec in layers})) or "none"
            raise NotFoundError(f"no planning layer named {', '.join(unknown)}"
                                + (f" valid on {on}" if on else "") + f"; the layers are: {known}")
        layers = [rec for rec in layers if rec["name"] in names]
    alerts = store.query_alerts(Query(start=start, end=end))
    zones = [query_zones(store, rec["id"]) for rec in layers]
    zones = gpd.GeoDataFrame(pd.concat(zones, ignore_index=True), crs=4326) if zones else gpd.GeoDataFrame()
    overlaps = alert_zone_overlaps(alerts, zones, area_crs)
    return {"layers": layers, "alerts": overlaps,
            "summary": loss_by_class(alerts, overlaps, [rec["id"] for rec in layers], area_crs),
            "zones": zone_stats_by_month(overlaps)}


def report_records(report: dict) -> dict:
    """The overlay report as plain JSON-able lists (for the API and ``forestmon layers overlay --format json``)."""
    return {"layers": [{k: v for k, v in rec.items() if k != "repairs"} for rec in report["layers"]],
            **{key: json.loads(report[key].to_json(orient="records")) for key in ("summary", "alerts", "zones")}}
