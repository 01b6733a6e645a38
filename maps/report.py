"""The weekly change report: one self-contained, printable HTML page per ISO week, with its map and targets.

Vietnamese by default (English with ``lang="en"``); no external URL of any kind, the figure is a data URI.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from jinja2 import Environment, StrictUndefined
from matplotlib import patheffects, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.path import Path as MplPath

from geo.alerts import CONFIDENCE_LEVELS
from geo.errors import ConfigError, InvalidInputError
from geo.region import Region
from maps.strings import page_strings
from maps.styles import (
    CONFIDENCE_COLOURS,
    DEMO_AREA_COLOUR,
    DISTRICT_COLOUR,
    OLDER_ALERT_COLOUR,
    PROVINCE_COLOUR,
    UNLEVELLED_ALERT_COLOUR,
)

Bounds = tuple[float, float, float, float]  # west, south, east, north (lon/lat)

VN_TZ = timezone(timedelta(hours=7), "GMT+7")  # Indochina Time, no daylight saving
MAX_ALERT_ROWS = 50
FONT = "DejaVu Sans"  # bundled with matplotlib, covers Vietnamese diacritics

_WEEK = re.compile(r"(\d{4})-[Ww](\d{2})")

STRINGS = page_strings("report")

_TEMPLATE = """<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<title>{{ t.title }} · {{ province }} · {{ week }}</title>
<link rel="icon" href="data:,">
<style>
  @page { size: A4; margin: 14mm; }
  body { font-family: "DejaVu Sans", "Noto Sans", Arial, sans-serif; font-size: 10.5pt; color: #111;
         max-width: 190mm; margin: 1.5em auto; padding: 0 1em; line-height: 1.4; }
  h1 { font-size: 17pt; margin: 0 0 .2em; color: #14532d; }
  h2 { font-size: 12.5pt; margin: 1.4em 0 .5em; padding-bottom: .15em; border-bottom: 2px solid #14532d;
       color: #14532d; break-after: avoid; }
  .meta { color: #374151; margin: 0; }
  .banner { background: #f97316; color: #000; font-weight: bold; padding: .5em .8em; margin: .8em 0;
            border: 2px solid #9a3412; }
  .lead { font-size: 11pt; }
  table { border-collapse: collapse; width: 100%; margin: .4em 0; font-size: 9.5pt; }
  th, td { border: 1px solid #d1d5db; padding: .25em .45em; text-align: left; vertical-align: top; }
  th { background: #ecfdf5; }
  td.num, th.num { text-align: right; }
  td.num, td.name, td.id { white-space: nowrap; }
  tr.total td { font-weight: bold; background: #f9fafb; }
  .swatch { display: inline-block; width: .8em; height: .8em; margin-right: .35em; vertical-align: -.05em;
            border: 1px solid #0003; }
  figure { margin: .5em 0; break-inside: avoid; }
  figure img { width: 100%; height: auto; border: 1px solid #d1d5db; }
  figcaption, .note { color: #374151; font-size: 9pt; }
  .context { background: #f3f4f6; border-left: 4px solid #6b7280; padding: .4em .7em; }
  ul.methods { font-size: 9pt; padding-left: 1.2em; }
  @media print {
    body { margin: 0; padding: 0; max-width: none; font-size: 9.5pt; }
    .banner { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
    tr { break-inside: avoid; }
  }
</style>
</head>
<body>
<header>
<h1>{{ t.title }} – {{ province }}</h1>
<p class="meta">{{ week_label }}: {{ start }} – {{ end }}</p>
<p class="meta">{{ t.generated }}: {{ generated }}</p>
{% if synthetic %}<p class="banner">{{ t.synthetic }}</p>{% endif %}
</header>

<h2>{{ t.summary }}</h2>
<p class="lead">{{ lead }}</p>
<table>
<thead>
<tr><th rowspan="2">{{ t.confidence }}</th><th colspan="2">{{ t.this_week }}</th>
<th colspan="2">{{ t.prev_week }}</th><th colspan="2">{{ t.change }}</th><th colspan="2">{{ t.ytd }}</th></tr>
<tr>{% for _ in range(4) %}<th class="num">{{ t.count_short }}</th><th class="num">ha</th>{% endfor %}</tr>
</thead>
<tbody>
{% for row in summary %}
<tr{% if row.total %} class="total"{% endif %}><td>{% if row.colour %}<span class="swatch" \
style="background:{{ row.colour }}"></span>{% endif %}{{ row.label }}</td>
{% for cell in row.cells %}<td class="num">{{ cell }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
<p class="note">{{ ytd_range }}</p>

<h2>{{ t.map }}</h2>
<figure>
<img src="{{ figure }}" alt="{{ t.map }}: {{ province }}, {{ week }}">
<figcaption>{{ t.map_caption }}</figcaption>
</figure>

<h2>{{ t.by_district }}</h2>
{% if districts %}
<table>
<thead><tr><th>{{ t.district }}</th><th class="num">{{ t.count }}</th><th class="num">{{ t.area }}</th>
<th class="num">{{ t.high_count }}</th>
{% if has_observed %}<th class="num">{{ t.observed }}</th>{% endif %}</tr>
</thead>
<tbody>
{% for row in districts %}
<tr{% if row.total %} class="total"{% endif %}><td class="name">{{ row.name }}</td>
<td class="num">{{ row.n }}</td><td class="num">{{ row.ha }}</td><td class="num">{{ row.high }}</td>
{% if has_observed %}<td class="num">{{ row.observed }}</td>{% endif %}</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>{{ t.no_alerts }}</p>
{% endif %}

<h2>{{ t.alerts }}</h2>
{% if alerts %}
<table>
<thead><tr><th class="num">#</th>{% for col in alert_columns %}<th class="{{ col.cls }}">{{ col.label }}</th>\
{% endfor %}</tr></thead>
<tbody>
{% for row in alerts %}
<tr><td class="num">{{ loop.index }}</td>{% for col in alert_columns %}<td class="{{ col.cls }}">\
{% if col.key == "confidence" %}<span class="swatch" style="background:{{ row.colour }}"></span>{% endif %}\
{{ row[col.key] }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
{% if more %}<p class="note">{{ more }}</p>{% endif %}
{% else %}
<p>{{ t.no_alerts }}</p>
{% endif %}

<h2>{{ targets.heading }}</h2>
{% if targets.rows %}
<table>
<thead><tr><th>{{ t.indicator }}</th><th>{{ t.target }}</th><th>{{ t.progress }}</th></tr></thead>
<tbody>
{% for row in targets.rows %}<tr><td>{{ row[0] }}</td><td>{{ row[1] }}</td><td>{{ row[2] }}</td></tr>
{% endfor %}
</tbody>
</table>
<p class="note">{{ t.cases_note }}</p>
{% if targets.source %}<p class="note">{{ t.source }}: {{ targets.source }}</p>{% endif %}
{% else %}
<p>{{ targets.missing }}</p>
{% endif %}
<p class="context">{{ targets.detected }}</p>

<h2>{{ t.methods }}</h2>
<ul class="methods">
{% for item in methods %}<li>{{ item }}</li>
{% endfor %}
</ul>
</body>
</html>
"""

_ENV = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_REPORT = _ENV.from_string(_TEMPLATE)


# --- weeks, numbers, dates ------------------------------------------------------------------------------


def parse_week(text: str) -> tuple[date, date]:
    """Monday and Sunday of an ISO week written ``YYYY-Www`` (e.g. ``2024-W11``)."""
    match = _WEEK.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidInputError(f"invalid week {text!r}: expected an ISO week as YYYY-Www, e.g. 2024-W11")
    year, week = int(match[1]), int(match[2])
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        weeks = date(year, 12, 28).isocalendar().week  # 28 December is always in the year's last week
        raise InvalidInputError(f"invalid week {text!r}: ISO year {year} has weeks 01 to {weeks}") from None
    return monday, monday + timedelta(days=6)


def _num(value: float, decimals: int, lang: str) -> str:
    """A number with thousands separators: 1.234,56 in Vietnamese, 1,234.56 in English."""
    value = float(value)
    if round(value, decimals) == 0:
        value = 0.0  # no "-0,00"
    text = f"{value:,.{decimals}f}"
    return text.translate(str.maketrans(",.", ".,")) if lang == "vi" else text


def _signed(value: float, decimals: int, lang: str) -> str:
    text = _num(abs(value), decimals, lang)
    if round(value, decimals) == 0:
        return text
    return ("+" if value > 0 else "\u2212") + text


def _plain(value: float, lang: str) -> str:
    """A target figure with as many decimals as it has (617.7 → 617,7; 20.0 → 20)."""
    decimals = next(d for d in range(4) if round(value, d) == round(value, 3))
    return _num(value, decimals, lang)


def _day(day: date, lang: str) -> str:
    return day.strftime("%d/%m/%Y") if lang == "vi" else day.isoformat()


def _count(n: int, t: dict, new: bool = False) -> str:
    """'3 alerts' / '1 new alert', in the report's language."""
    return t["new_alerts" if new else "n_alerts"][n != 1].format(n=n)


# --- alerts ---------------------------------------------------------------------------------------------


def _units(region: Region, day: date) -> gpd.GeoDataFrame:
    """Admin units valid on ``day``, or the newest ones when the profile has none for that day."""
    try:
        return region.units(day)
    except ConfigError:
        return region.units()


def _prepare(alerts: gpd.GeoDataFrame | None, region: Region, units: gpd.GeoDataFrame,
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


def _between(gdf: gpd.GeoDataFrame, start: date, end: date) -> gpd.GeoDataFrame:
    return gdf[(gdf["day"] >= pd.Timestamp(start)) & (gdf["day"] <= pd.Timestamp(end))]


def _tally(gdf: gpd.GeoDataFrame) -> dict[str, tuple[int, float]]:
    """Count and hectares per confidence level, of other levels and in total."""
    masks = {level: gdf["confidence"] == level for level in CONFIDENCE_LEVELS}
    masks["other"] = ~gdf["confidence"].isin(CONFIDENCE_LEVELS)
    masks["total"] = pd.Series(True, index=gdf.index)
    return {key: (int(mask.sum()), float(gdf.loc[mask, "area_ha"].sum())) for key, mask in masks.items()}


# --- tables ---------------------------------------------------------------------------------------------


def _summary_rows(week: dict, prev: dict, ytd: dict, t: dict, lang: str) -> list[dict]:
    """Rows per confidence level ('other' when present) and total: this week, previous, change, YTD."""
    keys = [*CONFIDENCE_LEVELS]
    if any(tally["other"][0] for tally in (week, prev, ytd)):
        keys.append("other")
    rows = []
    for key in [*keys, "total"]:
        (n, ha), (pn, pha), (yn, yha) = week[key], prev[key], ytd[key]
        cells = [str(n), _num(ha, 2, lang), str(pn), _num(pha, 2, lang),
                 _signed(n - pn, 0, lang), _signed(ha - pha, 2, lang), str(yn), _num(yha, 2, lang)]
        label = t["total"] if key == "total" else t["levels"].get(key, t["other"])
        rows.append({"label": label, "colour": CONFIDENCE_COLOURS.get(key), "cells": cells,
                     "total": key == "total"})
    return rows


def _district_rows(week: gpd.GeoDataFrame, units: gpd.GeoDataFrame, observed: Mapping[str, float] | None,
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
            "n": str(len(sub)), "ha": _num(sub["area_ha"].sum(), 2, lang),
            "high": str(int(sub["confidence"].isin(("high", "highest")).sum())),
            "observed": "—" if share is None else _num(100 * share, 0, lang) + "%",
            "total": False,
        })
    if not rows:
        return []
    rows.sort(key=lambda r: (-r["ha_"], -r["n_"], order.get(r["name"], len(order)), r["name"]))
    rows.append({"name": t["total"], "n": str(len(week)), "ha": _num(week["area_ha"].sum(), 2, lang),
                 "high": str(int(week["confidence"].isin(("high", "highest")).sum())), "observed": "",
                 "total": True})
    return rows


def _alert_table(week: gpd.GeoDataFrame, t: dict, lang: str) -> tuple[list[dict], list[dict], int]:
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
        row = {"id": a["_id"], "date": _day(a["day"].date(), lang),
               "confidence": t["levels"].get(a["confidence"], a["confidence"]),
               "colour": CONFIDENCE_COLOURS.get(a["confidence"], OLDER_ALERT_COLOUR),
               "area": _num(a["area_ha"], 2, lang), "district": a["district"]}
        if "status" in week:
            status = "" if pd.isna(a["status"]) else str(a["status"])
            row["status"] = t["statuses"].get(status, status)
        if has_centroid:
            for key, col in (("lat", "centroid_lat"), ("lon", "centroid_lon")):
                row[key] = "" if pd.isna(a[col]) else _num(a[col], 5, lang)
        rows.append(row)
    return columns, rows, max(0, len(week) - MAX_ALERT_ROWS)


def _progress_text(key: str, progress: Mapping | None, base: int, t: dict, lang: str) -> str:
    """Progress of one target from ``geo.targets.progress`` figures, or 'no data yet' without them."""
    names = {"cases_change": "cases", "damaged_area_change": "damaged_area_ha",
             "damaged_timber_change": "damaged_timber_m3"}
    if progress is None:
        return t["no_data"]
    if key in names and names[key] in progress.get("violations", {}):
        row = progress["violations"][names[key]]
        return t["progress_violation"].format(current=_plain(row["current"], lang),
                                              projected=_num(row["projected"], 1, lang), base=base,
                                              baseline=_plain(row["baseline"], lang))
    if key in progress.get("afforestation", {}):
        row = progress["afforestation"][key]
        return t["progress_planting"].format(current=_plain(row["current"], lang),
                                             pct=_num(100 * (row["fraction_done"] or 0), 1, lang))
    return t["no_data"]


def _targets(region: Region, year: int, ytd: gpd.GeoDataFrame, ytd_range: tuple[date, date], t: dict,
             lang: str, progress: Mapping | None = None) -> dict:
    """The year's targets, their progress (from the case and planting registers when given) and the
    satellite-detected loss as context."""
    confirmed = ""
    if "status" in ytd and (ytd["status"] == "confirmed").any():
        confirmed = t["detected_confirmed"].format(
            ha=_num(ytd.loc[ytd["status"] == "confirmed", "area_ha"].sum(), 2, lang))
    out: dict[str, Any] = {
        "heading": t["targets"].format(year=year), "rows": [], "source": "", "missing": "",
        "detected": t["detected"].format(start=_day(ytd_range[0], lang), end=_day(ytd_range[1], lang),
                                         ha=_num(ytd["area_ha"].sum(), 2, lang), n=_count(len(ytd), t),
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
        p = _plain(abs(value) * 100, lang)
        text = t["down" if value < 0 else "up"].format(p=p, base=base)
        out["rows"].append((t.get(labels.get(key, ""), key), text, _progress_text(key, progress, base, t, lang)))
    for key, value in targets.get("afforestation", {}).items():
        if key == "trees_planted":
            text = t["million_trees"].format(n=_plain(value / 1e6, lang))
        elif key.endswith("_ha"):
            text = f"{_plain(value, lang)} ha"
        else:
            text = _plain(value, lang)
        out["rows"].append((t.get(labels.get(key, ""), key), text, _progress_text(key, progress, base, t, lang)))
    out["source"] = targets.get("source", "")
    return out


# --- figure ---------------------------------------------------------------------------------------------


def _polygon_path(geoms: Any) -> list[MplPath]:
    """Matplotlib paths of (multi)polygons, holes included (exteriors counter-clockwise, holes clockwise)."""
    paths = []
    for poly in shapely.get_parts(shapely.orient_polygons(np.asarray(geoms, dtype=object))):
        if poly is None or poly.is_empty or poly.geom_type != "Polygon":
            continue
        rings = [poly.exterior, *poly.interiors]
        paths.append(MplPath.make_compound_path(*[MplPath(np.asarray(r.coords)[:, :2], closed=True)
                                                  for r in rings]))
    return paths


def _boundary_lines(geoms: Any) -> LineCollection:
    lines = [np.asarray(ring.coords)[:, :2] for ring in shapely.get_parts(shapely.boundary(np.asarray(
        geoms, dtype=object))) if ring is not None and not ring.is_empty]
    return LineCollection(lines, colors=DISTRICT_COLOUR, linewidths=0.6, zorder=2)


def _short(name: str) -> str:
    """District label for the map: without 'Huyện', with 'TP.' for cities."""
    return re.sub(r"^Thành phố ", "TP. ", re.sub(r"^Huyện ", "", name))


def _scale_bar(ax: Any, bounds: Bounds, lat: float) -> None:
    """A round-length scale bar in the lower-left corner of a lon/lat panel."""
    west, south, east, north = bounds
    km_per_deg = 111.32 * math.cos(math.radians(lat))
    width_km = (east - west) * km_per_deg
    length = max((x for x in (0.5, 1, 2, 5, 10, 20, 50, 100) if x <= width_km / 4), default=0.5)
    x0, y0 = west + 0.04 * (east - west), south + 0.03 * (north - south)
    x1 = x0 + length / km_per_deg
    ax.plot([x0, x1], [y0, y0], color="#111", linewidth=2, solid_capstyle="butt", zorder=6)
    ax.text(x1 + 0.01 * (east - west), y0, f"{length:g} km", ha="left", va="center", fontsize=7, zorder=6,
            path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])


def _panel(ax: Any, bounds: Bounds, title: str, units: gpd.GeoDataFrame, province: gpd.GeoDataFrame,
           week: gpd.GeoDataFrame, older: gpd.GeoDataFrame, demo_bounds: Bounds | None, polygons: bool,
           decimal: str) -> None:
    """One map panel: boundaries and names, monitored area, older alerts in grey, the week's by confidence."""
    west, south, east, north = bounds
    lat = (south + north) / 2
    frame = shapely.box(*bounds)
    ax.set_facecolor("#f8faf5")
    ax.add_collection(_boundary_lines(units.geometry.values))
    prov = _boundary_lines(province.geometry.values)
    prov.set(color=PROVINCE_COLOUR, linewidth=1.4)
    ax.add_collection(prov)
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    for name, geom in zip(units["name"], units.geometry, strict=True):
        part = geom.intersection(frame)
        if part.is_empty or part.area < 0.003 * frame.area:
            continue
        pt = part.representative_point()
        ax.text(pt.x, pt.y, _short(name), ha="center", va="center", fontsize=7, color="#1f2937", zorder=5,
                path_effects=halo, clip_on=True)
    if demo_bounds is not None:
        w, s, e, n = demo_bounds
        ax.add_patch(Rectangle((w, s), e - w, n - s, fill=False, edgecolor=DEMO_AREA_COLOUR, linewidth=1.5,
                               linestyle="--", zorder=3))
    layers = [(older, OLDER_ALERT_COLOUR, 3)] + [
        (week[week["confidence"] == level], CONFIDENCE_COLOURS[level], 4 + i)
        for i, level in enumerate(CONFIDENCE_LEVELS)]
    layers.append((week[~week["confidence"].isin(CONFIDENCE_LEVELS)], UNLEVELLED_ALERT_COLOUR, 4))
    for gdf, colour, z in layers:
        if gdf.empty:
            continue
        if polygons:
            coll = PathCollection(_polygon_path(gdf.geometry.values), facecolor=colour, edgecolor=colour,
                                  linewidths=1.0, alpha=0.75, zorder=z)
            ax.add_collection(coll)
        else:  # alerts of a few hectares vanish at province scale: a marker each
            pts = gdf.geometry.representative_point()
            ax.scatter(pts.x, pts.y, s=18, color=colour, edgecolors="white", linewidths=0.4, zorder=z)
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect(1 / math.cos(math.radians(lat)))
    ax.set_title(title, fontsize=9)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.2f}°E".replace(".", decimal))
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.2f}°N".replace(".", decimal))
    ax.tick_params(labelsize=6)
    ax.locator_params(nbins=4)
    _scale_bar(ax, bounds, lat)


def _figure_png(region: Region, day: date, week: gpd.GeoDataFrame, older: gpd.GeoDataFrame,
                demo_bounds: Bounds | None, synthetic: bool, t: dict) -> bytes:
    """The report's map as PNG: the province, and the monitored area zoomed in when given."""
    try:
        units, province = region.units(day), region.province(day)
    except ConfigError:
        units, province = region.units(), region.province()
    units = units.assign(geometry=units.geometry.simplify(0.0005, preserve_topology=True))
    province = province.assign(geometry=province.geometry.simplify(0.0005, preserve_topology=True))
    west, south, east, north = province.total_bounds
    pad = 0.02 * max(east - west, north - south)
    province_bounds = (west - pad, south - pad, east + pad, north + pad)

    with rc_context({"font.family": FONT, "svg.fonttype": "none"}):
        fig = Figure(figsize=(10, 5.4) if demo_bounds else (7, 6), layout="constrained")
        FigureCanvasAgg(fig)
        if demo_bounds is not None:
            ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.35, 1])
            w, s, e, n = demo_bounds
            pad = 0.06 * max(e - w, n - s)
            _panel(ax2, (w - pad, s - pad, e + pad, n + pad), t["demo_area"], units, province, week, older,
                   demo_bounds, True, t["decimal"])
        else:
            ax1 = fig.subplots()
        _panel(ax1, province_bounds, t["panel_province"], units, province, week, older, demo_bounds, False,
               t["decimal"])

        handles = [Line2D([], [], marker="s", linestyle="", markersize=8, color=CONFIDENCE_COLOURS[level],
                          label=t["legend_level"].format(level=t["levels"][level]))
                   for level in CONFIDENCE_LEVELS]
        handles.append(Line2D([], [], marker="s", linestyle="", markersize=8, color=OLDER_ALERT_COLOUR,
                              label=t["older"]))
        handles.append(Line2D([], [], color=DISTRICT_COLOUR, linewidth=0.8, label=t["districts"]))
        if demo_bounds is not None:
            handles.append(Patch(fill=False, edgecolor=DEMO_AREA_COLOUR, linestyle="--", label=t["demo_area"]))
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=7.5,
                   frameon=False)
        if synthetic:
            fig.suptitle(t["synthetic_short"], color="#c2410c", fontsize=10, fontweight="bold")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150, metadata={"Software": None})  # no URL in the PNG either
    return buf.getvalue()


# --- the report -----------------------------------------------------------------------------------------


def _check_observed(observed: Mapping[str, float] | None) -> dict[str, float] | None:
    if observed is None:
        return None
    out = {}
    for name, share in observed.items():
        if share is None or (isinstance(share, float) and math.isnan(share)):
            continue
        if not 0 <= float(share) <= 1:
            raise InvalidInputError(f"observed share for {name!r} is {share!r}: expected a fraction 0 to 1")
        out[str(name)] = float(share)
    return out


def _check_bounds(bounds: Bounds | None) -> Bounds | None:
    if bounds is None:
        return None
    try:
        west, south, east, north = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise InvalidInputError(f"demo_bounds {bounds!r}: expected (west, south, east, north)") from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidInputError(f"demo_bounds {bounds!r}: expected west < east, south < north in lon/lat")
    return west, south, east, north


def _methods(region: Region, day: date, n_dismissed: int, n_undated: int, has_observed: bool,
             t: dict) -> list[str]:
    """The footnotes: confidence levels, dates, areas, what was left out, boundaries' source."""
    crs = region.grid_crs
    out = [t["m_levels"], t["m_dates"], t["m_area"].format(crs=crs.name, epsg=crs.to_epsg())]
    if n_dismissed:
        out.append(t["m_dismissed"].format(n=n_dismissed))
    if n_undated:
        out.append(t["m_undated"].format(n=n_undated))
    if has_observed:
        out.append(t["m_observed"])
    try:
        source = region.admin_version(day).source
    except ConfigError:
        source = region.admin_version().source
    if source:
        out.append(t["m_boundaries"].format(source=source))
    return out


def build_report(
    region: Region,
    alerts: gpd.GeoDataFrame | None,
    week: str,
    *,
    lang: str = "vi",
    synthetic: bool = False,
    demo_bounds: Bounds | None = None,
    observed: Mapping[str, float] | None = None,
    generated_at: datetime | None = None,
    progress: Mapping | None = None,
) -> str:
    """The weekly change report of ``region`` for ISO ``week`` as one self-contained HTML document.

    ``progress``: the year's figures from ``geo.targets.progress`` (cases, planting lots) for the targets table.
    """
    if lang not in STRINGS:
        raise InvalidInputError(f"unknown language {lang!r}; choose from {', '.join(STRINGS)}")
    t = STRINGS[lang]
    monday, sunday = parse_week(week)
    iso_year, iso_week, _ = monday.isocalendar()
    week_id = f"{iso_year}-W{iso_week:02d}"
    observed = _check_observed(observed)
    demo_bounds = _check_bounds(demo_bounds)
    generated_at = generated_at or datetime.now(VN_TZ)
    if generated_at.tzinfo is not None:
        generated_at = generated_at.astimezone(VN_TZ)

    units = _units(region, monday)
    gdf, n_undated = _prepare(alerts, region, units, t)
    ytd_start = date.fromisocalendar(iso_year, 1, 1)  # year to date = ISO weeks 1..W: the weeks add up
    dismissed = gdf["dismissed"].astype(bool)
    n_dismissed = len(_between(gdf.loc[dismissed], ytd_start, sunday))
    gdf = gdf.loc[~dismissed]  # false alarms, by the rangers' review
    this = _between(gdf, monday, sunday)
    prev = _between(gdf, monday - timedelta(days=7), sunday - timedelta(days=7))
    ytd = _between(gdf, ytd_start, sunday)
    older = gdf[gdf["day"] < pd.Timestamp(monday)]
    tw, tp, ty = _tally(this), _tally(prev), _tally(ytd)

    lead = t["lead"].format(
        week=week_id, start=_day(monday, lang), end=_day(sunday, lang),
        n=_count(tw["total"][0], t, new=True), ha=_num(tw["total"][1], 2, lang),
        hh=tw["high"][0] + tw["highest"][0],
        pn=_count(tp["total"][0], t), pha=_num(tp["total"][1], 2, lang),
        yn=_count(ty["total"][0], t), yha=_num(ty["total"][1], 2, lang))
    columns, rows, more = _alert_table(this, t, lang)
    png = _figure_png(region, monday, this, older, demo_bounds, synthetic, t)
    return _REPORT.render(
        lang=lang, t=t, synthetic=synthetic, week=week_id, province=t["province"].format(name=region.title),
        week_label=t["week"].format(week=week_id), start=_day(monday, lang), end=_day(sunday, lang),
        generated=generated_at.strftime("%d/%m/%Y %H:%M" if lang == "vi" else "%Y-%m-%d %H:%M")
        + (" (GMT+7)" if generated_at.tzinfo is not None else ""),
        lead=lead, summary=_summary_rows(tw, tp, ty, t, lang),
        ytd_range=t["ytd_range"].format(w=iso_week, year=iso_year, start=_day(ytd_start, lang),
                                        end=_day(sunday, lang)),
        figure="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        districts=_district_rows(this, units, observed, t, lang), has_observed=observed is not None,
        alert_columns=columns, alerts=rows, more=t["more"].format(n=more) if more else "",
        targets=_targets(region, iso_year, ytd, (ytd_start, sunday), t, lang, progress),
        methods=_methods(region, monday, n_dismissed, n_undated, observed is not None, t),
    )
