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
    """Alerts in EPSG:4326 with ``day``, ``area_ha``, ``unit_id`` and ``district`` (the unit of ``units`` and its
    name), ``confidence``, ``dismissed`` filled in.

    Alerts without a valid first-detection date are dropped; returns the alerts and how many were dropped.
    """
    if alerts is None or len(alerts) == 0:
        empty = gpd.GeoDataFrame({"id": pd.Series(dtype=str), "unit_id": pd.Series(dtype=object),
                                  "day": pd.Series(dtype="datetime64[ns]"),
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

    unit_id, unit_name = assign_units(gdf, units)
    gdf["unit_id"] = unit_id
    gdf["district"] = unit_name.fillna(t["unknown_district"]).astype(str)

    confidence = gdf["confidence"] if "confidence" in gdf else pd.Series("", index=gdf.index)
    gdf["confidence"] = confidence.fillna("").astype(str).str.strip().str.lower()
    return gdf, undated


def assign_units(gdf: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> tuple[pd.Series, pd.Series]:
    """The admin unit of ``units`` holding each alert (id and name; None outside every unit).

    An alert keeps the unit detection recorded (``district_id``) when it is one of ``units``; otherwise (boundaries
    of another version, e.g. the 2025 communes for alerts recorded with 2024 districts) it is the unit holding the
    alert's recorded centroid (detection's rule), or its representative point when it has no centroid.
    """
    ids = units["id"].astype(str)
    names = dict(zip(ids, units["name"], strict=True))
    stored = gdf["district_id"].astype(str).where(gdf["district_id"].notna()) if "district_id" in gdf else \
        pd.Series(None, index=gdf.index, dtype=object)
    unit_id = stored.where(stored.isin(set(ids)), None).astype(object)
    missing = unit_id.isna() & gdf.geometry.notna() & ~gdf.geometry.is_empty
    if missing.any():
        points = gdf.geometry[missing].representative_point()
        if {"centroid_lon", "centroid_lat"} <= set(gdf.columns):
            lon, lat = (pd.to_numeric(gdf.loc[missing, c], errors="coerce") for c in ("centroid_lon", "centroid_lat"))
            has = lon.notna() & lat.notna()
            centroids = gpd.GeoSeries(gpd.points_from_xy(lon.fillna(0), lat.fillna(0)), index=lon.index, crs=4326)
            points = centroids.where(has, points)
        joined = gpd.sjoin(gpd.GeoDataFrame(geometry=points, crs=4326),
                           units.assign(_uid=ids)[["_uid", "geometry"]], predicate="within", how="left")
        joined = joined[~joined.index.duplicated()]
        unit_id.loc[missing] = joined["_uid"].where(joined["_uid"].notna(), None)
    return unit_id, unit_id.map(names)


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
        cells = [number(n, 0, lang), number(ha, 2, lang), number(pn, 0, lang), number(pha, 2, lang),
                 signed(n - pn, 0, lang), signed(ha - pha, 2, lang), number(yn, 0, lang), number(yha, 2, lang)]
        label = t["total"] if key == "total" else t["levels"].get(key, t["other"])
        rows.append({"label": label, "colour": CONFIDENCE_COLOURS.get(key), "cells": cells,
                     "total": key == "total"})
    return rows


def district_rows(week: gpd.GeoDataFrame, units: gpd.GeoDataFrame, observed: Mapping[str, float] | None,
                  t: dict, lang: str, links: Mapping[str, str] | None = None) -> list[dict]:
    """Every admin unit of the report's boundaries, by hectares this week (largest first, then in the boundaries'
    order), with its observed share and the link to its own report; alerts in no unit in a row of their own;
    then a total row."""
    rows = []
    for i, (uid, name) in enumerate(zip(units["id"].astype(str), units["name"], strict=True)):
        sub = week[week["unit_id"] == uid]
        share = (observed or {}).get(name)
        rows.append({
            "name": name, "link": (links or {}).get(uid), "order": i, "n_": len(sub),
            "ha_": float(sub["area_ha"].sum()), "n": number(len(sub), 0, lang),
            "ha": number(sub["area_ha"].sum(), 2, lang),
            "high": number(int(sub["confidence"].isin(("high", "highest")).sum()), 0, lang),
            "observed": "—" if share is None else number(100 * share, 0, lang) + "%", "total": False,
        })
    outside = week[week["unit_id"].isna()]
    if len(outside):
        rows.append({"name": t["unknown_district"], "link": None, "order": len(rows), "n_": len(outside),
                     "ha_": float(outside["area_ha"].sum()), "n": number(len(outside), 0, lang),
                     "ha": number(outside["area_ha"].sum(), 2, lang),
                     "high": number(int(outside["confidence"].isin(("high", "highest")).sum()), 0, lang),
                     "observed": "—", "total": False})
    rows.sort(key=lambda r: (-r["ha_"], -r["n_"], r["order"]))
    rows.append({"name": t["total"], "link": None, "n": number(len(week), 0, lang),
                 "ha": number(week["area_ha"].sum(), 2, lang),
                 "high": number(int(week["confidence"].isin(("high", "highest")).sum()), 0, lang), "observed": "",
                 "total": True})
    return rows


def category_rows(week: gpd.GeoDataFrame, t: dict, lang: str) -> list[dict]:
    """The week's alerts by forest category (from the forest layer given to detection), largest first; empty when
    no alert of the week has a category."""
    if "forest_category" not in week or not week["forest_category"].notna().any():
        return []
    category = week["forest_category"].fillna("").astype(str)
    rows = [{"name": t["categories"].get(key, key) if key else t["categories"]["none"], "n_": len(sub),
             "ha_": float(sub["area_ha"].sum()), "n": number(len(sub), 0, lang),
             "ha": number(sub["area_ha"].sum(), 2, lang), "total": False}
            for key, sub in week.groupby(category)]
    rows.sort(key=lambda r: (-r["ha_"], r["name"]))
    rows.append({"name": t["total"], "n": number(len(week), 0, lang), "ha": number(week["area_ha"].sum(), 2, lang),
                 "total": True})
    return rows


def comparison_text(freq, week_id: str, t: dict, lang: str) -> dict:
    """The sentence comparing the week with the same week of earlier years, and its label (``compare.LABELS``)."""
    if freq is None:
        return {"text": t["compare_none"], "label": None, "label_text": ""}
    years = ", ".join(f"{year}: {number(n, 0, lang)}" for year, n in sorted(freq.past.items()))
    text = t["compare"].format(n=number(freq.count, 0, lang), years=years, mean=number(freq.mean, 1, lang),
                               spread=number(freq.spread, 1, lang), label=t["frequency"][freq.label])
    return {"text": text, "label": freq.label, "label_text": t["frequency"][freq.label]}


def detected_text(ytd: gpd.GeoDataFrame, ytd_range: tuple[date, date], t: dict, lang: str) -> str:
    """Forest loss detected so far this year, as context for the violation figures."""
    confirmed = ""
    if "status" in ytd and (ytd["status"] == "confirmed").any():
        confirmed = t["detected_confirmed"].format(
            ha=number(ytd.loc[ytd["status"] == "confirmed", "area_ha"].sum(), 2, lang))
    return t["detected"].format(start=day(ytd_range[0], lang), end=day(ytd_range[1], lang),
                                ha=number(ytd["area_ha"].sum(), 2, lang), n=count(len(ytd), t),
                                confirmed=confirmed)


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


def _progress_text(key: str, progress: Mapping | None, base: int, t: dict, lang: str) -> tuple[str, str]:
    """Progress of one target from ``geo.workflow.targets.progress`` figures ('no data yet' without them), and a
    warning when the violation baseline year has no case in the register."""
    names = {"cases_change": "cases", "damaged_area_change": "damaged_area_ha",
             "damaged_timber_change": "damaged_timber_m3"}
    if progress is None:
        return t["no_data"], ""
    if key in names and names[key] in progress.get("violations", {}):
        row = progress["violations"][names[key]]
        if row.get("baseline_missing"):
            return t["progress_no_baseline"].format(current=plain(row["current"], lang), base=base), \
                t["no_baseline"].format(base=base)
        return t["progress_violation"].format(current=plain(row["current"], lang),
                                              projected=number(row["projected"], 1, lang), base=base,
                                              baseline=plain(row["baseline"], lang)), ""
    if key in progress.get("afforestation", {}):
        row = progress["afforestation"][key]
        current = number(row["current"], 0, lang) if key == "trees_planted" else number(row["current"], 2, lang)
        text = t["progress_planting"].format(current=current, pct=number(100 * (row["fraction_done"] or 0), 1, lang))
        if key == "trees_planted" and row.get("in_plantation_lots"):
            text += t["trees_in_lots"].format(n=number(row["in_plantation_lots"], 0, lang))
        space = progress.get("afforestation_status")
        if key == "new_plantation_ha" and space:  # registered beside confirmed from imagery, area by status
            statuses = ", ".join(f"{t['lot_' + k]} {number(v, 2, lang)} ha"
                                 for k, v in space["area_by_status"].items() if v)
            text += t["confirmed_from_space"].format(confirmed=number(space["confirmed_ha"], 2, lang),
                                                     pct=number(100 * (space["fraction_confirmed"] or 0), 1, lang),
                                                     statuses=statuses or "-")
        return text, ""
    return t["no_data"], ""


def targets_table(region: Region, year: int, ytd: gpd.GeoDataFrame, ytd_range: tuple[date, date], t: dict,
                  lang: str, progress: Mapping | None = None) -> dict:
    """The year's targets and their progress (from the case and planting registers when given), with a warning
    when the violation targets have no baseline to be measured against."""
    out: dict[str, Any] = {"heading": t["targets"].format(year=year), "rows": [], "source": "", "missing": "",
                           "warning": ""}
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
        progress_text, warning = _progress_text(key, progress, base, t, lang)
        out["warning"] = out["warning"] or warning
        out["rows"].append((t.get(labels.get(key, ""), key), text, progress_text))
    for key, value in targets.get("afforestation", {}).items():
        if key == "trees_planted":
            text = t["million_trees"].format(n=plain(value / 1e6, lang))
        elif key.endswith("_ha"):
            text = f"{plain(value, lang)} ha"
        else:
            text = plain(value, lang)
        out["rows"].append((t.get(labels.get(key, ""), key), text, _progress_text(key, progress, base, t, lang)[0]))
    out["source"] = targets.get("source", "")
    return out
