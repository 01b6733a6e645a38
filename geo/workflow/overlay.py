"""Alerts over planning zones: which zones each alert falls in (ha and share), forest loss where the plan keeps
forest vs where it approves conversion, and per-zone statistics by month, with confirmed and unreviewed alerts
counted apart. Dismissed alerts are not loss: they are left out, and listed apart on request (as the weekly
report does). Areas in a projected CRS (UTM 48N); zone types and classes named in Vietnamese or English.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.query import Query
from geo.workflow.exports import spreadsheet_safe
from geo.workflow.planning import find_layers, label, layers_valid_on, query_zones, zone_type_name

OVERLAP_COLUMNS = ["alert_id", "first_detected", "confidence", "status", "alert_ha", "layer_id", "feature_index",
                   "zone_name", "zone_type", "zone_class", "overlap_ha", "share"]
UNREVIEWED = ("new", "assigned", "in_field")  # review statuses of an alert nobody has yet confirmed or dismissed


def alert_zone_overlaps(alerts: gpd.GeoDataFrame, zones: gpd.GeoDataFrame,
                        area_crs: str = "EPSG:32648") -> gpd.GeoDataFrame:
    """One row per (alert, zone) that overlap by a positive area: the overlap in ha, its share of the alert, and
    the overlap's geometry (EPSG:4326).

    Candidate pairs come from the spatial index; intersections are computed vectorised in ``area_crs``.
    """
    empty = gpd.GeoDataFrame(columns=OVERLAP_COLUMNS, geometry=gpd.GeoSeries([], crs=4326))
    if len(alerts) == 0 or len(zones) == 0:
        return empty
    a = alerts.to_crs(area_crs).reset_index(drop=True)
    z = zones.to_crs(area_crs).reset_index(drop=True)
    ai, zi = z.sindex.query(a.geometry.values, predicate="intersects")
    if len(ai) == 0:
        return empty
    pieces = shapely.intersection(a.geometry.values[ai], z.geometry.values[zi])
    overlap = shapely.area(pieces) / 10000.0
    alert_ha = shapely.area(a.geometry.values[ai]) / 10000.0
    names = z["zone_name"].values[zi] if "zone_name" in z else [None] * len(zi)
    out = gpd.GeoDataFrame({
        "alert_id": a["id"].values[ai], "first_detected": a["first_detected"].values[ai],
        "confidence": a["confidence"].values[ai], "status": a["status"].values[ai] if "status" in a else None,
        "alert_ha": alert_ha, "layer_id": z["layer_id"].values[zi], "feature_index": z["feature_index"].values[zi],
        "zone_name": names, "zone_type": z["zone_type"].values[zi], "zone_class": z["zone_class"].values[zi],
        "overlap_ha": overlap,
        "share": np.where(alert_ha > 0, overlap / np.where(alert_ha > 0, alert_ha, 1), 0.0),
    }, geometry=gpd.GeoSeries(pieces, crs=area_crs).to_crs(4326).values, crs=4326)
    out = out[out["overlap_ha"] > 1e-9]
    return out.sort_values(["alert_id", "layer_id", "feature_index"]).reset_index(drop=True)[
        [*OVERLAP_COLUMNS, "geometry"]]


def _by_status(statuses: pd.Series) -> dict[str, int]:
    return {"confirmed": int((statuses == "confirmed").sum()), "unreviewed": int(statuses.isin(UNREVIEWED).sum())}


def loss_by_class(alerts: gpd.GeoDataFrame, overlaps: pd.DataFrame, layer_ids: list[str],
                  area_crs: str = "EPSG:32648") -> pd.DataFrame:
    """Per layer: alerts (of them confirmed, unreviewed) and hectares of loss inside keep-forest zones,
    conversion zones, other zones, and outside every zone of the layer (the alert area no zone covers)."""
    total_ha = float(shapely.area(alerts.to_crs(area_crs).geometry.values).sum() / 10000.0) if len(alerts) else 0.0
    status = alerts.set_index("id")["status"] if "status" in alerts and len(alerts) else pd.Series(dtype=object)
    rows = []
    for lid in layer_ids:
        mine = overlaps[overlaps["layer_id"] == lid]
        for cls in ("keep_forest", "conversion", "other"):
            part = mine[mine["zone_class"] == cls]
            ids = part["alert_id"].unique()
            rows.append({"layer_id": lid, "zone_class": cls, "alerts": len(ids),
                         **_by_status(status.reindex(ids)), "ha": float(part["overlap_ha"].sum())})
        inside = float(mine["overlap_ha"].sum())
        shares = mine.groupby("alert_id")["share"].sum() if len(mine) else pd.Series(dtype=float)
        outside = [i for i in alerts["id"] if shares.get(i, 0.0) < 1 - 1e-6] if len(alerts) else []
        rows.append({"layer_id": lid, "zone_class": "outside", "alerts": len(outside),
                     **_by_status(status.reindex(outside)), "ha": max(total_ha - inside, 0.0)})
    return pd.DataFrame(rows, columns=["layer_id", "zone_class", "alerts", "confirmed", "unreviewed", "ha"])


def zone_stats_by_month(overlaps: pd.DataFrame) -> pd.DataFrame:
    """Per zone and month of first detection: alerts touching it (of them confirmed, unreviewed) and hectares of
    loss inside it."""
    columns = ["layer_id", "feature_index", "zone_name", "zone_type", "zone_class", "month", "alerts",
               "confirmed", "unreviewed", "ha"]
    if len(overlaps) == 0:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame(overlaps.drop(columns="geometry", errors="ignore")).assign(
        month=overlaps["first_detected"].astype(str).str[:7], zone_type=overlaps["zone_type"].fillna(""),
        zone_name=overlaps["zone_name"].fillna(""),
        confirmed_id=overlaps["alert_id"].where(overlaps["status"] == "confirmed"),
        unreviewed_id=overlaps["alert_id"].where(overlaps["status"].isin(UNREVIEWED)))
    out = (df.groupby(["layer_id", "feature_index", "zone_name", "zone_type", "zone_class", "month"], as_index=False)
           .agg(alerts=("alert_id", "nunique"), confirmed=("confirmed_id", "nunique"),
                unreviewed=("unreviewed_id", "nunique"), ha=("overlap_ha", "sum")))
    return out.sort_values(["layer_id", "feature_index", "month"]).reset_index(drop=True)[columns]


def _named(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The frame with the zone type's and class's names in ``lang`` beside their codes."""
    out = frame.copy()
    if "zone_type" in out:
        out.insert(out.columns.get_loc("zone_type") + 1, "zone_type_name",
                   [zone_type_name(t or None, lang) for t in out["zone_type"]])
    out.insert(out.columns.get_loc("zone_class") + 1, "zone_class_name", [label(c, lang) for c in out["zone_class"]])
    return out


def overlay_report(store, *, on=None, names: list[str] | None = None, start=None, end=None,
                   area_crs: str = "EPSG:32648", dismissed: bool = False,
                   lang: str = "vi") -> dict[str, pd.DataFrame | list[dict]]:
    """Alerts (first detected between ``start`` and ``end``) over the planning layers valid on ``on`` (default:
    the newest version of each layer; ``names`` picks layers by id or name). Returns the layers used, the
    per-alert overlaps, loss by zone class per layer, per-zone statistics by month, and with ``dismissed`` the
    overlaps of dismissed alerts, which every other table leaves out."""
    layers = find_layers(store, names, on) if names else layers_valid_on(store.planning_layers(), on)
    alerts = store.query_alerts(Query(start=start, end=end))
    is_dismissed = (alerts["status"] == "dismissed").to_numpy() if "status" in alerts and len(alerts) else \
        np.zeros(len(alerts), bool)
    zones = [query_zones(store, rec["id"]) for rec in layers]
    zones = gpd.GeoDataFrame(pd.concat(zones, ignore_index=True), crs=4326) if zones else gpd.GeoDataFrame()
    kept = alerts[~is_dismissed]
    overlaps = alert_zone_overlaps(kept, zones, area_crs)
    apart = alert_zone_overlaps(alerts[is_dismissed], zones, area_crs) if dismissed else overlaps.iloc[:0]
    return {"layers": layers, "alerts": _named(overlaps, lang), "dismissed": _named(apart, lang),
            "summary": _named(loss_by_class(kept, overlaps, [rec["id"] for rec in layers], area_crs), lang),
            "zones": _named(zone_stats_by_month(overlaps), lang)}


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))


def report_records(report: dict) -> dict:
    """The overlay report as plain JSON-able lists (for the API and ``forestmon layers overlay --format json``)."""
    return {"layers": [{k: v for k, v in rec.items() if k != "repairs"} for rec in report["layers"]],
            **{key: json.loads(_plain(report[key]).to_json(orient="records"))
               for key in ("summary", "alerts", "zones", "dismissed")}}


def report_csv(report: dict) -> bytes:
    """The overlay's per-alert, per-zone rows as CSV (UTF-8 with a BOM so spreadsheets read the diacritics),
    dismissed alerts after the others when they were asked for."""
    rows = pd.concat([_plain(report["alerts"]), _plain(report["dismissed"])], ignore_index=True)
    return spreadsheet_safe(rows).to_csv(index=False).encode("utf-8-sig")


def report_gpkg(report: dict) -> bytes:
    """The overlay as a GeoPackage: ``overlaps`` (each alert's part inside each zone, a polygon layer with typed
    columns), ``summary`` and ``zones_by_month`` (attribute tables) and ``dismissed`` when asked for."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "overlay.gpkg"
        for name, key in (("overlaps", "alerts"), ("dismissed", "dismissed")):
            frame = report[key]
            if key == "dismissed" and not len(frame):
                continue
            frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)
            pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG", promote_to_multi=True,
                                    geometry_type="MultiPolygon", append=path.exists())
        for name, key in (("summary", "summary"), ("zones_by_month", "zones")):
            pyogrio.write_dataframe(_plain(report[key]), path, layer=name, driver="GPKG", append=path.exists())
        return path.read_bytes()
