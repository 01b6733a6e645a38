"""The weekly report's figures: alerts made comparable (date, area, district, confidence), tallied per confidence
level, and shaped into the rows of the summary, district, alert and targets tables, as text in the report's
language."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.alerts import CONFIDENCE_LEVELS
from geo.errors import ConfigError
from geo.region import Region
from maps.report.text import count, day, number, plain, signed
from maps.styles import CONFIDENCE_COLOURS, OLDER_ALERT_COLOUR

MAX_ALERT_ROWS = 50


# --- alerts ---------------------------------------------------------------------------------------------


def prepare(alerts: gpd.GeoDataFrame | None, region: Region, units: gpd.GeoDataFrame,
            t: dict) -> tuple[gpd.GeoDataFrame, int]:
    """Alerts in EPSG:4326 with ``day``, ``area_ha``, ``district``, ``confidence``, ``dismissed`` filled in.

    Alerts without a valid first-detection date are dropped; returns the alerts and how many were dropped.
    """
    if alerts is None or len(alerts) == 0:
        empty = gpd.GeoDataFrame({"id": pd.Series(dtype=str), "day": pd.Series(dtype="datetime64[ns]"),
                                  "area_ha": pd.Series(dtype=float), "district": pd.Series(dtype=str),
                                  "confidence": pd.Series(dtype=str), "dismissed": pd.Series(dtype=bool)},
                                 geometry=[], crs=4326)
        return empty, 0
    gdf = alerts.copy()
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    elif gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)

    gdf["dismissed"] = gdf["status"].astype(str) == "dismissed" if "status" in gdf else False
    first = gdf["first_detected"] if "first_detected" in gdf else pd.Series(None, index=gdf.index)
    gdf["day"] = pd.to_datetime(first.astype(str).str[:10], format="%Y-%m-%d", errors="coerce")
    undated = int(gdf["day"].isna().sum())
    gdf = gdf[gdf["day"].notna()].copy()

    area = pd.Series(np.nan, gdf.index) if "area_ha" not in gdf else pd.to_numeric(gdf["area_ha"], "coerce")
    if area.isna().any():  # computed in the analysis grid's projected CRS, as the detector does
        area = area.fillna(gdf.geometry.to_crs(region.grid_crs).area / 10_000)
    gdf["area_ha"] = area.astype(float)

    district = gdf["district"] if "district" in gdf else pd.Series(None, index=gdf.index, dtype=object)
    district = district.where(district.notna() & (district.astype(str).str.strip() != ""), None)
    missing = district.isna() & gdf.geometry.notna() & ~gdf.geometry.is_empty
    if missing.any():  # no district recorded: take the unit holding the alert's representative point
        points = gpd.GeoDataFrame(geometry=gdf.geometry[missing].representative_point(), crs=4326)
        joined = gpd.sjoin(points, units[["name", "geometry"]], predicate="within", how="left")
        joined = joined[~joined.index.duplicated()]
        district.loc[missing] = joined["name"]
    gdf["district"] = district.fillna(t["unknown_district"]).astype(str)

    confidence = gdf["confidence"] if "confidence" in gdf else pd.Series("", index=gdf.index)
    gdf["confidence"] = confidence.fillna("").astype(str).str.strip().str.lower()
    return gdf, undated


def between(gdf: gpd.GeoDataFrame, start: date, end: date) -> gpd.GeoDataFrame:
    """The alerts first detected from ``start`` to ``end``, both included."""
    return gdf[(gdf["day"] >= pd.Timestamp(start)) & (gdf["day"] <= pd.Timestamp(end))]


def tally(gdf: gpd.GeoDataFrame) -> dict[str, tuple[int, float]]:
    """Count and hectares per confidence level, of other levels and in total."""
    masks = {level: gdf["confidence"] == level for level in CONFIDENCE_LEVELS}
    masks["other"] = ~gdf["confidence"].isin(CONFIDENCE_LEVELS)
    masks["total"] = pd.Series(True, index=gdf.index)
    return {key: (int(mask.sum()), float(gdf.loc[mask, "area_ha"].sum())) for key, mask in masks.items()}


# --- tables ---------------------------------------------------------------------------------------------


def summary_rows(week: dict, prev: dict, ytd: dict, t: dict, lang: str) -> list[dict]:
    """Rows per confidence level ('other' when present) and total: this week, previous, change, YTD."""
    keys = [*CONFIDENCE_LEVELS]
    if any(tallied["other"][0] for tallied in (week, prev, ytd)):
        keys.append("other")
    rows = []
    for key in [*keys, "total"]:
        (n, ha), (pn, pha), (yn, yha) = week[key], prev[key], ytd[key]
        cells = [str(n), number(ha, 2, lang), str(pn), number(pha, 2, lang),
                 signed(n - pn, 0, lang), signed(ha - pha, 2, lang), str(yn), number(yha, 2, lang)]
        label = t["total"] if key == "total" else t["levels"].get(key, t["other"])
        rows.append({"label": label, "colour": CONFIDENCE_COLOURS.get(key), "cells": cells,
                     "total": key == "total"})
    return rows


def district_rows(week: gpd.GeoDataFrame, units: gpd.GeoDataFrame, observed: Mapping[str, float] | None,
                  t: dict, lang: str) -> list[dict]:
    """Districts with alerts this week or an observed share, by hectares (largest first), then a total row."""
    order = {name: i for i, name in enumerate(units["name"])}
    names = set(week["district"]) | set(observed or {})
    rows = []
    for name in names:
        sub = week[week["district"] == name]
        share = (observed or {}).get(name)
        rows.append({
            "name": name, "n_": len(sub), "ha_": float(sub["area_ha"].sum()),
            "n": str(len(sub)), "ha": number(sub["area_ha"].sum(), 2, lang),
            "high": str(int(sub["confidence"].isin(("high", "highest")).sum())),
            "observed": "—" if share is None else number(100 * share, 0, lang) + "%",
            "total": False,
        })
    if not rows:
        return []
    rows.sort(key=lambda r: (-r["ha_"], -r["n_"], order.get(r["name"], len(order)), r["name"]))
    rows.append({"name": t["total"], "n": str(len(week)), "ha": number(week["area_ha"].sum(), 2, lang),
                 "high": str(int(week["confidence"].isin(("high", "highest")).sum())), "observed": "",
                 "total": True})
    return rows


def alert_table(week: gpd.GeoDataFrame, t: dict, lang: str) -> tuple[list[dict], list[dict], int]:
    """The week's alerts, largest first, at most MAX_ALERT_ROWS; the columns shown; how many were left off."""
    has_centroid = {"centroid_lat", "centroid_lon"} <= set(week.columns)
    keys = ["id", "date", "confidence", "area", "district"]
    keys += ["status"] if "status" in week else []
    keys += ["lat", "lon"] if has_centroid else []
    classes = {"area": "num", "lat": "num", "lon": "num", "id": "id"}
    columns = [{"key": k, "label": t[k], "cls": classes.get(k, "")} for k in keys]
    ordered = week.assign(_id=week["id"].astype(str) if "id" in week else "").sort_values(
        ["area_ha", "_id"], ascending=[False, True])
    rows = []
    for _, a in ordered.head(MAX_ALERT_ROWS).iterrows():
        row = {"id": a["_id"], "date": day(a["day"].date(), lang),
               "confidence": t["levels"].get(a["confidence"], a["confidence"]),
               "colour": CONFIDENCE_COLOURS.get(a["confidence"], OLDER_ALERT_COLOUR),
               "area": number(a["area_ha"], 2, lang), "district": a["district"]}
        if "status" in week:
            status = "" if pd.isna(a["status"]) else str(a["status"])
            row["status"] = t["statuses"].get(status, status)
        if has_centroid:
            for key, col in (("lat", "centroid_lat"), ("lon", "centroid_lon")):
                row[key] = "" if pd.isna(a[col]) else number(a[col], 5, lang)
        rows.append(row)
    return columns, rows, max(0, len(week) - MAX_ALERT_ROWS)


def _progress_text(key: str, progress: Mapping | None, base: int, t: dict, lang: str) -> str:
    """Progress of one target from ``geo.workflow.targets.progress`` figures, or 'no data yet' without them."""
    names = {"cases_change": "cases", "damaged_area_change": "damaged_area_ha",
             "damaged_timber_change": "damaged_timber_m3"}
    if progress is None:
        return t["no_data"]
    if key in names and names[key] in progress.get("violations", {}):
        row = progress["violations"][names[key]]
        return t["progress_violation"].format(current=plain(row["current"], lang),
                                              projected=number(row["projected"], 1, lang), base=base,
                                              baseline=plain(row["baseline"], lang))
    if key in progress.get("afforestation", {}):
        row = progress["afforestation"][key]
        return t["progress_planting"].format(current=plain(row["current"], lang),
                                             pct=number(100 * (row["fraction_done"] or 0), 1, lang))
    return t["no_data"]


def targets_table(region: Region, year: int, ytd: gpd.GeoDataFrame, ytd_range: tuple[date, date], t: dict,
                  lang: str, progress: Mapping | None = None) -> dict:
    """The year's targets, their progress (from the case and planting registers when given) and the
    satellite-detected loss as context."""
    confirmed = ""
    if "status" in ytd and (ytd["status"] == "confirmed").any():
        confirmed = t["detected_confirmed"].format(
            ha=number(ytd.loc[ytd["status"] == "confirmed", "area_ha"].sum(), 2, lang))
    out: dict[str, Any] = {
        "heading": t["targets"].format(year=year), "rows": [], "source": "", "missing": "",
        "detected": t["detected"].format(start=day(ytd_range[0], lang), end=day(ytd_range[1], lang),
                                         ha=number(ytd["area_ha"].sum(), 2, lang), n=count(len(ytd), t),
                                         confirmed=confirmed),
    }
    try:
        targets = region.targets(year)
    except ConfigError:
        out["missing"] = t["no_targets"].format(year=year)
        return out
    base = targets.get("baseline_year", year - 1)
    labels = {"cases_change": "cases", "damaged_area_change": "damaged_area",
              "damaged_timber_change": "damaged_timber", "new_plantation_ha": "new_plantation",
              "trees_planted": "trees"}
    for key, value in targets.get("violations", {}).items():
        p = plain(abs(value) * 100, lang)
        text = t["down" if value < 0 else "up"].format(p=p, base=base)
        out["rows"].append((t.get(labels.get(key, ""), key), text, _progress_text(key, progress, base, t, lang)))
    for key, value in targets.get("afforestation", {}).items():
        if key == "trees_planted":
            text = t["million_trees"].format(n=plain(value / 1e6, lang))
        elif key.endswith("_ha"):
            text = f"{plain(value, lang)} ha"
        else:
            text = plain(value, lang)
        out["rows"].append((t.get(labels.get(key, ""), key), text, _progress_text(key, progress, base, t, lang)))
    out["source"] = targets.get("source", "")
    return out
